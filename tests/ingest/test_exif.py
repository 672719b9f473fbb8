"""EXIF from real JPEG bytes written by Pillow: date, camera, GPS, orientation; bad EXIF is absent."""

from __future__ import annotations

import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from helpers import GPS_LAT, GPS_LAT_REF, GPS_LON, GPS_LON_REF, make_exif, quadrant_image, write_jpeg
from pipeline.ingest.exif import read_exif
from pipeline.ingest.places import place_of
from pipeline.manifest import EXIF_TEXT_MAX, FILE_MTIME, ExifInfo, Gps

TAKEN = "2016:06:13 09:17:42"


def test_full_exif(tmp_path):
    path = write_jpeg(tmp_path / "a.jpg", exif=make_exif(
        "Canon", "Canon EOS 5D", orientation=6, date_original=TAKEN, date_time="2020:01:01 00:00:00",
        gps=(50.0865, 14.4114)))
    info = read_exif(path)
    assert info.date == "2016-06-13T09:17:42"  # DateTimeOriginal wins over DateTime (edit time)
    assert info.camera == "Canon EOS 5D"
    assert info.orientation == 6
    assert isinstance(info.gps, Gps) and info.gps.alt is None
    assert (info.gps.lat, info.gps.lon) == (pytest.approx(50.0865, abs=1e-5), pytest.approx(14.4114, abs=1e-5))
    assert info.model_dump(mode="json")["camera"] == "Canon EOS 5D"  # as the manifest records it


@pytest.mark.parametrize("make, model, camera", [
    ("Canon", "Canon EOS 5D", "Canon EOS 5D"),             # no "Canon Canon EOS 5D"
    ("Apple", "iPhone 6s", "Apple iPhone 6s"),
    ("NIKON CORPORATION", "NIKON D750", "NIKON D750"),
    ("Apple", None, "Apple"),
    (None, "DMC-GX80", "DMC-GX80"),
    ("  ", "  ", None),
])
def test_camera_name(tmp_path, make, model, camera):
    path = write_jpeg(tmp_path / "a.jpg", exif=make_exif(make, model))
    assert read_exif(path).camera == camera


def test_a_megabyte_camera_name_is_cut_when_read(tmp_path):
    """A PNG's eXIf chunk may hold a 1 MB 'camera': the record keeps EXIF_TEXT_MAX characters."""
    path = tmp_path / "a.png"
    quadrant_image().save(path, exif=make_exif("Evil", "C" * 1_000_000 + "\n<script>"))
    camera = read_exif(path).camera
    assert len(camera) == EXIF_TEXT_MAX and camera == "Evil " + "C" * (EXIF_TEXT_MAX - 6) + "…"


def test_exif_text_is_one_line_and_an_old_manifests_long_name_is_cut_too():
    assert ExifInfo(camera="Canon\n\tEOS\x00 5D").camera == "Canon EOS 5D"
    long = ExifInfo.model_validate_json('{"camera": "%s", "warning": "%s"}' % ("x" * 5000, "y" * 5000))
    assert len(long.camera) == len(long.warning) == EXIF_TEXT_MAX


@pytest.mark.parametrize("lat, lon", [
    (50.0875, 14.4213),       # Prague: N, E
    (-33.8568, 151.2153),     # Sydney: S, E
    (40.6892, -74.0445),      # New York: N, W
    (-22.9519, -43.2105),     # Rio: S, W
])
def test_gps_signed_decimal_degrees(tmp_path, lat, lon):
    path = write_jpeg(tmp_path / "a.jpg", exif=make_exif(gps=(lat, lon)))
    gps = read_exif(path).gps
    assert gps.lat == pytest.approx(lat, abs=1e-5)
    assert gps.lon == pytest.approx(lon, abs=1e-5)


def test_gps_zero_denominator_is_absent_not_fatal(tmp_path):
    broken = {GPS_LAT_REF: "N", GPS_LAT: (IFDRational(50, 1), IFDRational(5, 1), IFDRational(0, 0)),
              GPS_LON_REF: "E", GPS_LON: (IFDRational(14, 1), IFDRational(25, 1), IFDRational(1, 1))}
    path = write_jpeg(tmp_path / "a.jpg", exif=make_exif("Apple", "iPhone 6s", date_original=TAKEN,
                                                          gps_raw=broken))
    info = read_exif(path)
    assert info.gps is None
    assert info.camera == "Apple iPhone 6s" and info.date == "2016-06-13T09:17:42"  # the rest survives


def test_gps_out_of_range_is_absent(tmp_path):
    path = write_jpeg(tmp_path / "a.jpg", exif=make_exif(gps=(50.0, 14.0)))
    ok = read_exif(path).gps
    assert ok is not None
    wild = {GPS_LAT_REF: "N", GPS_LAT: (IFDRational(95, 1), IFDRational(0, 1), IFDRational(0, 1)),
            GPS_LON_REF: "E", GPS_LON: (IFDRational(14, 1), IFDRational(0, 1), IFDRational(0, 1))}
    path = write_jpeg(tmp_path / "b.jpg", exif=make_exif(gps_raw=wild))
    assert read_exif(path).gps is None


def test_gps_without_longitude_is_absent(tmp_path):
    half = {GPS_LAT_REF: "N", GPS_LAT: (IFDRational(50, 1), IFDRational(5, 1), IFDRational(1, 1))}
    path = write_jpeg(tmp_path / "a.jpg", exif=make_exif(gps_raw=half))
    assert read_exif(path).gps is None


def test_garbage_original_date_falls_back_to_datetime(tmp_path):
    path = write_jpeg(tmp_path / "a.jpg", exif=make_exif(
        date_original="0000:00:00 00:00:00", date_time="2016:06:14 11:05:23"))
    assert read_exif(path).date == "2016-06-14T11:05:23"


@pytest.mark.parametrize("garbage", ["0000:00:00 00:00:00", "    :  :     :  :  ", "yesterday"])
def test_garbage_date_and_nothing_else_falls_back_to_file_mtime(tmp_path, garbage):
    path = write_jpeg(tmp_path / "a.jpg", exif=make_exif("Canon", "Canon EOS 5D", date_original=garbage))
    info = read_exif(path)
    assert info.date_source == FILE_MTIME  # no usable EXIF date
    assert info.camera == "Canon EOS 5D"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_values(tmp_path, orientation):
    path = write_jpeg(tmp_path / "a.jpg", exif=make_exif(orientation=orientation))
    assert read_exif(path).orientation == orientation


def test_orientation_out_of_range_means_upright(tmp_path):
    path = write_jpeg(tmp_path / "a.jpg", exif=make_exif(orientation=9))
    assert read_exif(path).orientation == 1


def test_no_exif_at_all(tmp_path):
    path = write_jpeg(tmp_path / "plain.jpg")
    png = tmp_path / "plain.png"
    quadrant_image().save(png)
    for photo in (path, png):
        info = read_exif(photo)
        assert info.date_source == FILE_MTIME == "file mtime"  # the only date there is
        assert info == ExifInfo(date=info.date, date_source=FILE_MTIME)


def test_not_an_image_gives_empty_exif(tmp_path):
    text = tmp_path / "notes.jpg"
    text.write_text("this is not a photo\n" * 50)
    assert read_exif(text) == ExifInfo()
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    assert read_exif(empty) == ExifInfo()


def test_truncated_exif_block_does_not_crash(tmp_path):
    path = write_jpeg(tmp_path / "a.jpg", exif=make_exif("Canon", "Canon EOS 5D", date_original=TAKEN,
                                                          gps=(50.0, 14.0)))
    data = path.read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[:120])  # ends inside the EXIF segment
    assert isinstance(read_exif(cut), ExifInfo)


def test_the_sample_album_photos_have_their_exif():
    from pathlib import Path

    sample = Path(__file__).resolve().parents[2] / "data" / "sample-album"
    rocket = read_exif(sample / "04-technical-museum-rocket.jpg")
    assert rocket.orientation == 6
    assert rocket.camera == "Canon EOS 5D Mark III"
    assert rocket.date == "2016-06-15T14:48:56"
    assert (rocket.gps.lat, rocket.gps.lon) == (pytest.approx(50.0975, abs=1e-5), pytest.approx(14.4253, abs=1e-5))
    espresso = read_exif(sample / "01-charles-bridge-espresso.jpg")
    assert espresso.camera == "Apple iPhone 6s" and espresso.orientation == 1
    with Image.open(sample / "04-technical-museum-rocket.jpg") as image:
        assert image.size == (427, 640)  # stored on its side: scikit-image's rocket.jpg is 640x427


@pytest.mark.parametrize("minutes, seconds, lat", [
    (IFDRational(5, 1), IFDRational(60, 1), 50.1),             # 50° 5' 60" = 50° 6'
    (IFDRational(59, 1), IFDRational(6000, 100), 51.0),        # 50° 59' 60.00" = 51°
    (IFDRational(60, 1), IFDRational(0, 1), 51.0),             # 50° 60' 0" = 51°
])
def test_gps_seconds_or_minutes_of_exactly_60_are_normalised_not_lost(tmp_path, minutes, seconds, lat):
    """Cameras that round (59.996" -> 60") write 60: the position, and so the place, is kept."""
    rounded = {GPS_LAT_REF: "N", GPS_LAT: (IFDRational(50, 1), minutes, seconds),
               GPS_LON_REF: "E", GPS_LON: (IFDRational(14, 1), IFDRational(25, 1), IFDRational(60, 1))}
    gps = read_exif(write_jpeg(tmp_path / "a.jpg", exif=make_exif(gps_raw=rounded))).gps
    assert gps is not None
    assert (gps.lat, gps.lon) == (pytest.approx(lat, abs=1e-6), pytest.approx(14 + 26 / 60, abs=1e-6))
    assert place_of(gps) is not None  # named offline, as any position is


@pytest.mark.parametrize("minutes, seconds", [(IFDRational(5, 1), IFDRational(6001, 100)),
                                              (IFDRational(61, 1), IFDRational(0, 1))])
def test_gps_minutes_or_seconds_beyond_60_are_absent(tmp_path, minutes, seconds):
    wild = {GPS_LAT_REF: "N", GPS_LAT: (IFDRational(50, 1), minutes, seconds),
            GPS_LON_REF: "E", GPS_LON: (IFDRational(14, 1), IFDRational(25, 1), IFDRational(1, 1))}
    assert read_exif(write_jpeg(tmp_path / "a.jpg", exif=make_exif(gps_raw=wild))).gps is None

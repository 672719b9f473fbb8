"""EXIF as cameras, phones and careless tools write it: dates with fallbacks, sub-seconds and
offsets; GPS with zero denominators, missing refs, altitude and nonsense; broken or huge blocks."""

from __future__ import annotations

import os
import struct
from datetime import datetime

import pytest
from PIL import Image

from helpers import MAX_PIXELS, quadrant_image
from photo_files import exif_block, jpeg_with_exif
from pipeline.ingest.exif import MAX_EXIF_BYTES, read_exif
from pipeline.imaging import open_photo
from pipeline.ingest.photos import ingest_photo
from pipeline.output.store import WebFormats
from pipeline.manifest import FILE_MTIME, Gps

MTIME = datetime(2019, 7, 4, 12, 30, 15).timestamp()


def exif_of(tmp_path, block: bytes | None = None, **fields):
    path = jpeg_with_exif(tmp_path / "photo.jpg", block if block is not None else exif_block(**fields))
    os.utime(path, (MTIME, MTIME))
    return read_exif(path)


# ---------------------------------------------------------------- date taken

def test_date_original_wins(tmp_path):
    info = exif_of(tmp_path, DateTimeOriginal="2016:06:13 10:22:05",
                   DateTimeDigitized="2016:06:14 00:00:00", DateTime="2020:01:01 00:00:00")
    assert (info.date, info.date_source) == ("2016-06-13T10:22:05", "DateTimeOriginal")


def test_garbage_dates_fall_through_to_the_next_tag(tmp_path):
    info = exif_of(tmp_path, DateTimeOriginal="0000:00:00 00:00:00",
                   DateTimeDigitized="    :  :     :  :  ", DateTime="2016:06:15 08:00:01")
    assert (info.date, info.date_source) == ("2016-06-15T08:00:01", "DateTime")


def test_digitized_when_original_is_missing(tmp_path):
    info = exif_of(tmp_path, DateTimeDigitized="2016:06:14 09:09:09")
    assert (info.date, info.date_source) == ("2016-06-14T09:09:09", "DateTimeDigitized")


@pytest.mark.parametrize("bad", ["", "   ", "0000:00:00 00:00:00", "2016:13:45 10:00:00",
                                 "not a date at all", "2016:06:13 25:61:00", "\x00\x00\x00"])
def test_no_usable_date_falls_back_to_file_mtime(tmp_path, bad):
    info = exif_of(tmp_path, DateTimeOriginal=bad, DateTime=bad, Make="Canon")
    assert (info.date, info.date_source) == ("2019-07-04T12:30:15", FILE_MTIME)
    assert info.camera == "Canon"  # the other fields still count


def test_sub_seconds_and_offset_are_kept(tmp_path):
    info = exif_of(tmp_path, DateTimeOriginal="2016:06:13 10:22:05", SubSecTimeOriginal="12",
                   OffsetTimeOriginal="+02:00")
    assert info.date == "2016-06-13T10:22:05.120+02:00"
    assert datetime.fromisoformat(info.date).utcoffset().total_seconds() == 7200


def test_sub_seconds_and_offset_follow_the_tag_the_date_came_from(tmp_path):
    info = exif_of(tmp_path, DateTime="2016:06:13 10:22:05", SubSecTime="123456",
                   OffsetTime="-05:30", SubSecTimeOriginal="999", OffsetTimeOriginal="+09:00")
    assert (info.date, info.date_source) == ("2016-06-13T10:22:05.123456-05:30", "DateTime")


@pytest.mark.parametrize("offset", ["+99:00", "garbage", "   ", "+02:75"])
def test_nonsense_offsets_are_ignored(tmp_path, offset):
    info = exif_of(tmp_path, DateTimeOriginal="2016:06:13 10:22:05", OffsetTimeOriginal=offset,
                   SubSecTimeOriginal="x")
    assert info.date == "2016-06-13T10:22:05"


def test_no_exif_at_all(tmp_path):
    path = tmp_path / "plain.png"
    quadrant_image().save(path)
    os.utime(path, (MTIME, MTIME))
    info = read_exif(path)
    assert (info.date, info.date_source, info.camera, info.gps, info.orientation,
            info.warning) == ("2019-07-04T12:30:15", FILE_MTIME, None, None, 1, None)


# ---------------------------------------------------------------- GPS

PRAGUE = {"GPSLatitudeRef": "N", "GPSLatitude": [(50, 1), (5, 1), (1500, 100)],
          "GPSLongitudeRef": "E", "GPSLongitude": [(14, 1), (25, 1), (1680, 100)]}


def gps_of(tmp_path, **changes):
    fields = {**PRAGUE, **changes}
    return exif_of(tmp_path, **{k: v for k, v in fields.items() if v is not None}).gps


def test_gps_to_decimal_degrees(tmp_path):
    assert gps_of(tmp_path) == Gps(lat=50.0875, lon=14.421333)


def test_south_and_west_are_negative(tmp_path):
    gps = gps_of(tmp_path, GPSLatitudeRef="S", GPSLongitudeRef="W")
    assert gps == Gps(lat=-50.0875, lon=-14.421333)


def test_missing_refs_count_as_north_and_east(tmp_path):
    gps = gps_of(tmp_path, GPSLatitudeRef=None, GPSLongitudeRef=None)
    assert gps == Gps(lat=50.0875, lon=14.421333)


@pytest.mark.parametrize("longitude", [[(14, 1), (25, 0), (0, 1)], [(14, 1), (25, 1), (0, 0)]])
def test_a_zero_denominator_makes_the_position_unusable(tmp_path, longitude):
    info = exif_of(tmp_path, **{**PRAGUE, "GPSLongitude": longitude}, Make="Canon")
    assert info.gps is None and info.camera == "Canon"  # the rest of the EXIF still counts


def test_degrees_and_decimal_minutes_only(tmp_path):
    assert gps_of(tmp_path, GPSLatitude=[(50, 1), (525, 100)]) == Gps(lat=50.0875, lon=14.421333)


def test_altitude_above_and_below_sea_level(tmp_path):
    assert gps_of(tmp_path, GPSAltitude=[(24050, 100)]).alt == 240.5
    assert gps_of(tmp_path, GPSAltitude=[(45, 1)], GPSAltitudeRef=1).alt == -45.0
    assert gps_of(tmp_path, GPSAltitude=[(45, 0)]) == Gps(lat=50.0875, lon=14.421333, alt=None)
    assert gps_of(tmp_path).alt is None


@pytest.mark.parametrize("changes", [
    {"GPSLatitude": [(91, 1), (0, 1), (0, 1)]},              # beyond the pole
    {"GPSLongitude": [(180, 1), (30, 1), (0, 1)]},           # beyond the date line
    {"GPSLatitude": [(50, 1), (75, 1), (0, 1)]},             # 75 minutes
    {"GPSLatitude": [(50, 1), (5, 1), (6100, 100)]},         # 61 seconds
    {"GPSLatitude": []},                                    # no values
    {"GPSLatitude": None},                                  # no latitude at all
    {"GPSLatitude": [(0, 1), (0, 1), (0, 1)], "GPSLongitude": [(0, 1), (0, 1), (0, 1)]},  # no fix
])
def test_unusable_positions_are_rejected(tmp_path, changes):
    assert gps_of(tmp_path, **changes) is None


# ---------------------------------------------------------------- camera, orientation

def test_camera_make_and_model(tmp_path):
    assert exif_of(tmp_path, Make="Apple", Model="iPhone 6s").camera == "Apple iPhone 6s"
    assert exif_of(tmp_path, Make="Canon", Model="Canon EOS 5D").camera == "Canon EOS 5D"


@pytest.mark.parametrize("value", [0, 9, 65535])
def test_orientation_out_of_range_means_upright(tmp_path, value):
    assert exif_of(tmp_path, Orientation=value).orientation == 1


# ---------------------------------------------------------------- broken and huge blocks

def _ifd0(*entries: bytes, next_ifd: int = 0) -> bytes:
    return struct.pack("<H", len(entries)) + b"".join(entries) + struct.pack("<I", next_ifd)


BROKEN_BLOCKS = {
    "first IFD beyond the end": b"Exif\0\0II*\0" + struct.pack("<I", 0xFFFFFF),
    "no TIFF header": b"Exif\0\0" + b"garbage!" * 10,
    "IFD claims 60000 entries": b"Exif\0\0II*\0" + struct.pack("<I", 8)
                                + struct.pack("<H", 60000) + b"\x01\x01" * 20,
    "EXIF sub-IFD beyond the end": b"Exif\0\0II*\0" + struct.pack("<I", 8)
                                   + _ifd0(struct.pack("<HHII", 0x8769, 4, 1, 99999)),
}


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")  # Pillow's, reading the header
@pytest.mark.parametrize("name", BROKEN_BLOCKS)
def test_broken_exif_counts_as_absent_with_a_warning(tmp_path, name, caplog):
    info = exif_of(tmp_path, BROKEN_BLOCKS[name])
    assert info.warning and "ignored" in info.warning
    assert (info.camera, info.gps, info.orientation) == (None, None, 1)
    assert info.date_source == FILE_MTIME
    assert any("EXIF" in r.message for r in caplog.records)


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")  # Pillow's, reading the header
def test_broken_exif_does_not_stop_the_photo(tmp_path):
    jpeg_with_exif(tmp_path / "photo.jpg", BROKEN_BLOCKS["IFD claims 60000 entries"])
    photo = ingest_photo(tmp_path, "photo.jpg", tmp_path / "out", (32,), WebFormats(90), MAX_PIXELS)
    assert photo.ok and photo.exif.warning


def test_an_ifd_loop_is_survived(tmp_path):
    loop = b"Exif\0\0II*\0" + struct.pack("<I", 8) + _ifd0(
        struct.pack("<HHIHH", 0x0112, 3, 1, 6, 0), next_ifd=8)  # the IFD points to itself
    assert exif_of(tmp_path, loop).orientation == 6


def test_huge_exif_counts_as_absent_with_a_warning(tmp_path):
    # JPEG caps EXIF at 64 KiB; PNG (like WebP and HEIF) does not.
    block = exif_block(Make="Canon", DateTimeOriginal="2016:06:13 10:22:05")
    huge = block + b"\0" * MAX_EXIF_BYTES
    quadrant_image().save(tmp_path / "huge.png", exif=huge)
    quadrant_image().save(tmp_path / "fine.png", exif=block)
    info = read_exif(tmp_path / "huge.png")
    assert info.warning == "EXIF block of 1.0 MiB is larger than any camera writes: ignored"
    assert info.camera is None and info.date_source == FILE_MTIME
    assert read_exif(tmp_path / "fine.png").camera == "Canon"
    photo = ingest_photo(tmp_path, "huge.png", tmp_path / "out", (32,), WebFormats(90), MAX_PIXELS)
    assert photo.ok and photo.exif.warning


def test_exif_is_read_without_decoding_pixels(tmp_path):
    """EXIF comes from the header: even a photo whose pixel data is cut off has it, and reading
    it leaves the pixels undecoded."""
    path = jpeg_with_exif(tmp_path / "photo.jpg", exif_block(Make="Canon", Orientation=8),
                          image=quadrant_image(400, 200))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with open_photo(path) as image:
        info = read_exif(path, image)
        assert image._im is None  # Pillow decodes lazily: still no pixel buffer
    assert (info.camera, info.orientation) == ("Canon", 8)
    with Image.open(path) as image:
        with pytest.raises(OSError):
            image.load()

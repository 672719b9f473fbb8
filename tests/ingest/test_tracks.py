"""GPS tracks (issue 31): read once, hostile ones one line each; photos without GPS placed from
the track by time, the camera's clock given or inferred; the route kept back where privacy says."""

from __future__ import annotations

import time
from datetime import timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

import pipeline.ingest.tracks as tracks_module
from pipeline.config import ConfigError, load_settings
from pipeline.ingest.album import find_photos, load_album_text
from pipeline.ingest.placing import clock_text, parse_clock, placed_from_tracks
from pipeline.ingest.tracks import Track, UnusableTrack, album_tracks, read_track
from pipeline.manifest import ExifInfo, Gps, PhotoEntry
from pipeline.privacy import distance_km
from track_files import BILLION_LAUGHS, hostile_tracks, kml_text, walk, write_gpx

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "tracks"


def _settings(**privacy):
    settings = load_settings(None)
    return settings.model_copy(update={"privacy": settings.privacy.model_copy(update=privacy)})


# ---------------------------------------------------------------- reading


def test_a_written_track_reads_back_in_time_order(tmp_path):
    points = walk(600)
    track = read_track("walk.gpx", write_gpx(tmp_path / "walk.gpx", points))
    assert isinstance(track, Track) and track.problem is None
    assert len(track.times) == 1200
    assert track.times[0] == points[0][0].timestamp()
    assert track.lats[5] == pytest.approx(points[5][1]) and track.lons[5] == pytest.approx(points[5][2])
    assert track.record().sha256 == __import__("hashlib").sha256((tmp_path / "walk.gpx").read_bytes()).hexdigest()


def test_a_kml_track_reads_as_its_gpx_does(tmp_path):
    points = walk(300)
    (tmp_path / "walk.kml").write_text(kml_text(points))
    kml = read_track("walk.kml", tmp_path / "walk.kml")
    gpx = read_track("walk.gpx", write_gpx(tmp_path / "walk.gpx", points))
    assert isinstance(kml, Track) and kml.problem is None
    assert (kml.times == gpx.times).all() and np.allclose(kml.lats, gpx.lats) and np.allclose(kml.lons, gpx.lons)


def test_a_real_gpx_file_reads():
    """A device's track from gpxpy's test data: https://github.com/tkrajina/gpxpy,
    test_files/cerknicko-jezero.gpx (Apache License 2.0; tests/fixtures/tracks/README.md):
    GPX 1.0 by GPSBabel, with waypoints, namespaces and a schema location."""
    track = read_track("cerknicko-jezero.gpx", FIXTURES / "cerknicko-jezero.gpx")
    assert isinstance(track, Track), track
    assert len(track.times) == 296 and track.problem is None
    assert 45.73 < track.lats.min() and track.lats.max() < 45.80
    assert 14.28 < track.lons.min() and track.lons.max() < 14.38


@pytest.mark.parametrize("name", ["laughs.gpx", "not-xml.gpx", "no-times.gpx", "nan.gpx", "svg.gpx", "huge.gpx"])
def test_hostile_tracks_are_one_line_each(tmp_path, name):
    said = hostile_tracks(tmp_path)
    track = read_track(name, tmp_path / name)
    assert isinstance(track, UnusableTrack)
    assert said[name] in track.problem and "\n" not in track.problem and len(track.problem) < 200


def test_billion_laughs_is_refused_at_once(tmp_path):
    path = tmp_path / "laughs.gpx"
    path.write_text(BILLION_LAUGHS)
    started = time.perf_counter()
    track = read_track("laughs.gpx", path)
    assert time.perf_counter() - started < 0.5
    assert "DOCTYPE" in track.problem


def test_more_points_than_a_trip_records_are_refused_without_parsing(tmp_path, monkeypatch):
    monkeypatch.setattr(tracks_module, "MAX_POINTS", 1000)
    track = read_track("long.gpx", write_gpx(tmp_path / "long.gpx", walk(600)))
    assert isinstance(track, UnusableTrack) and "more than 1,000 points" in track.problem


def test_points_out_of_order_are_sorted_and_bad_points_left_out(tmp_path):
    points = walk(100)[:100]
    shuffled = points[50:] + points[:50]
    text = write_gpx(tmp_path / "t.gpx", shuffled).read_text()
    text = text.replace("</trkseg>", '<trkpt lat="nan" lon="1"><time>2024-05-01T09:00:00Z</time></trkpt>'
                                     '<trkpt lat="50" lon="14"/></trkseg>')
    (tmp_path / "t.gpx").write_text(text)
    track = read_track("t.gpx", tmp_path / "t.gpx")
    assert isinstance(track, Track)
    assert (np.diff(track.times) > 0).all() and len(track.times) == 100
    assert "sorted by time" in track.problem and "1 points with an impossible position" in track.problem
    assert "1 points without a time" in track.problem


def test_album_finds_tracks_at_any_depth_and_album_yaml_names_more(tmp_path):
    album = tmp_path / "album"
    write_gpx(album / "day1" / "deep" / "a.GPX", walk(10))
    elsewhere = write_gpx(tmp_path / "elsewhere" / "b.gpx", walk(10))
    (album / "album.yaml").write_text(f"track: {elsewhere}\ncamera_clock: '+02:00'\n")
    files, text = find_photos(album), load_album_text(album)
    assert files.tracks == ["day1/deep/a.GPX"]
    assert not any(entry.source.endswith((".gpx", ".GPX")) for entry in files.skipped)
    assert text.tracks == (str(elsewhere),) and text.camera_clock == "+02:00"
    found = album_tracks(album, files.tracks, text.tracks, "album.yaml")
    assert [track.name for track in found] == ["day1/deep/a.GPX", "b.gpx"]   # outside: its name only


@pytest.mark.parametrize("yaml_text, key", [("track: missing.gpx\n", "track"), ("track: [1, 2]\n", "track"),
                                            ("camera_clock: '2 hours'\n", "camera_clock"),
                                            ("camera_clock: '+15:00'\n", "camera_clock")])
def test_album_yaml_mistakes_are_one_line(tmp_path, yaml_text, key):
    album = tmp_path / "album"
    album.mkdir()
    (album / "album.yaml").write_text(yaml_text)
    with pytest.raises(ConfigError) as err:
        text = load_album_text(album)
        album_tracks(album, [], text.tracks, "album.yaml")
    assert key in str(err.value) and "\n" not in str(err.value)


def test_clock_text_round_trips():
    for text in ("+02:00", "-05:00", "+01:58:30", "+00:00"):
        assert clock_text(parse_clock(text)) == text
    assert parse_clock("+1:58:30") == 7110


# ---------------------------------------------------------------- placing photos


def _photos(points, clock_s: int, every: int = 97, with_offset: bool = False, gps_every: int = 0,
            between: bool = False):
    """Photos taken on the walk every `every` seconds, their EXIF time the camera's clock
    (UTC + clock_s); every `gps_every`-th also has the camera's GPS. `between`: each taken half
    a second after a track point (its EXIF sub-seconds), half-way to the next."""
    photos, truth = [], {}
    for i, (when, lat, lon) in enumerate(points[::every]):
        if between:
            _next, lat2, lon2 = points[i * every + 1]
            when, lat, lon = when + timedelta(milliseconds=500), (lat + lat2) / 2, (lon + lon2) / 2
        local = when.astimezone(timezone(timedelta(seconds=clock_s))) if with_offset else \
            (when + timedelta(seconds=clock_s)).replace(tzinfo=None)
        gps = Gps(lat=lat, lon=lon) if gps_every and i % gps_every == 0 else None
        source = f"p{i:04d}.jpg"
        photos.append(PhotoEntry(source=source, status="ok", exif=ExifInfo(
            date=local.isoformat(timespec="milliseconds" if between else "seconds"), date_source="DateTimeOriginal",
            gps=gps)))
        truth[source] = (lat, lon)
    return photos, truth


def _placed_within(placement, photos, truth, metres: float) -> float:
    without = [p for p in photos if p.exif.gps is None]
    near = sum(1 for p in without if p.source in placement.positions and distance_km(
        placement.positions[p.source].lat, placement.positions[p.source].lon, *truth[p.source]) * 1000 <= metres)
    return near / len(without)


@pytest.fixture(scope="module")
def two_days(tmp_path_factory):
    points = walk()
    return points, [read_track("walk.gpx", write_gpx(tmp_path_factory.mktemp("t") / "walk.gpx", points))]


def test_photos_are_placed_with_the_clock_given(two_days):
    points, tracks = two_days
    photos, truth = _photos(points, 7200, between=True)
    placement = placed_from_tracks(tracks, photos, "+02:00", _settings(location="exact"))
    assert _placed_within(placement, photos, truth, 50) >= 0.95
    assert _placed_within(placement, photos, truth, 0.5) >= 0.95   # interpolated between the points around
    assert placement.info.clock_source == "album.yaml" and placement.info.placed == len(photos)
    entry = placement.photo(photos[3])
    assert entry.position == "track" and entry.exif.gps is not None


def test_photos_are_placed_with_the_clock_inferred(two_days):
    points, tracks = two_days
    clock = 2 * 3600 - 90   # a camera 1 min 30 s slow on summer time: "+01:58:30"
    photos, truth = _photos(points, clock, gps_every=10)
    placement = placed_from_tracks(tracks, photos, None, _settings(location="exact"))
    assert placement.info.camera_clock == "+01:58:30", placement.lines
    assert placement.info.clock_source.startswith("inferred from")
    assert _placed_within(placement, photos, truth, 50) >= 0.95
    with_gps = next(p for p in photos if p.exif.gps is not None)
    assert placement.photo(with_gps).position == "camera"


def test_the_exif_offset_places_photos(two_days):
    points, tracks = two_days
    photos, truth = _photos(points, 3 * 3600, with_offset=True)
    placement = placed_from_tracks(tracks, photos, None, _settings(location="exact"))
    assert _placed_within(placement, photos, truth, 50) >= 0.95


def test_without_a_clock_photos_are_not_placed_and_one_line_says_why(two_days):
    points, tracks = two_days
    photos, _truth = _photos(points, 7200)
    placement = placed_from_tracks(tracks, photos, None, _settings())
    assert not placement.positions
    [line] = placement.lines
    assert "not placed" in line and "camera_clock" in line


def test_a_photo_far_in_time_from_the_track_is_not_placed(two_days):
    points, tracks = two_days
    photos, _truth = _photos(points, 7200)
    late = photos[0].model_copy(update={"source": "late.jpg",
                                        "exif": ExifInfo(date="2024-05-01T20:00:00", date_source="DateTimeOriginal")})
    placement = placed_from_tracks(tracks, [*photos, late], "+02:00", _settings())
    assert "late.jpg" not in placement.positions
    assert any("more than 5 min" in line for line in placement.lines)


def test_track_positions_pass_through_the_same_privacy(two_days):
    from pipeline.ingest.album import AlbumText

    points, tracks = two_days
    photos, truth = _photos(points, 7200)
    placement = placed_from_tracks(tracks, photos, "+02:00", _settings())
    photo = placement.photo(photos[5])
    town = AlbumText(title="t").described(photo, [], _settings().privacy)
    assert town.exif.gps is None and town.place.name == "Prague" and town.position == "track"
    lat, lon = truth[photo.source]
    zone = {"lat": lat, "lon": lon, "radius_m": 300.0}
    from pipeline.config import HiddenZone
    hidden = AlbumText(title="t").described(photo, [], _settings(location="exact", hide_near=[HiddenZone(**zone)]).privacy)
    assert hidden.place_hidden and hidden.exif.gps is None and hidden.place is None


# ---------------------------------------------------------------- the route, privacy first


def test_each_day_is_trimmed_where_the_traveller_slept(two_days):
    points, tracks = two_days
    placement = placed_from_tracks(tracks, [], "+02:00", _settings())
    days = placement.info.days
    assert [day.date for day in days] == ["2024-05-01", "2024-05-02"]
    for day, (start, _lat, _lon) in zip(days, [points[0], points[len(points) // 2]], strict=True):
        mine = [p for p in points if p[0].date() == start.date()]
        first, last = mine[0][1:], mine[-1][1:]
        drawn = [point for line in day.lines for point in line]
        assert drawn and len(drawn) < len(mine) / 5   # simplified
        assert min(distance_km(*point, *first) for point in drawn) * 1000 > 500
        assert min(distance_km(*point, *last) for point in drawn) * 1000 > 500
        assert day.km == pytest.approx(2 * 3600 * 1.4 / 1000, rel=0.25)


def test_no_route_with_location_none(two_days):
    _points, tracks = two_days
    assert placed_from_tracks(tracks, [], "+02:00", _settings(location="none")).info.days == []

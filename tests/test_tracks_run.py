"""A run with GPS tracks in the album (issue 31), from the outside: photos without GPS placed
from the track, the route on the published map with privacy first (checked on map.svg's own
coordinates, projected back with the map's projection), hostile tracks one line each and the
run goes on, and no track file in the output folder."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from helpers import make_exif, write_jpeg
from pipeline.output.manifest_file import read_manifest
from pipeline.post.page import page_view
from pipeline.privacy import distance_km
from track_files import hostile_tracks, walk, write_gpx

REPO = Path(__file__).resolve().parent.parent
CLOCK_S = 2 * 3600   # the camera shows Prague's summer time
ZONE = None          # set below: a hide_near zone on day 1's walk


@pytest.fixture
def trip(tmp_path):
    album = tmp_path / "trip"
    points = walk()
    write_gpx(album / "tracks" / "walk.gpx", points)
    said = hostile_tracks(album / "tracks" / "bad")
    for i, (when, _lat, _lon) in enumerate(points[600::1800]):
        local = when + timedelta(seconds=CLOCK_S)
        write_jpeg(album / f"p{i}.jpg", exif=make_exif(date_original=local.strftime("%Y:%m:%d %H:%M:%S")))
    (album / "album.yaml").write_text('title: Walks\ncamera_clock: "+02:00"\n')
    return album, points, said


def _config(tmp_path, weights_cache, zone) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text("layers: [conv1_2]\n"
                    "dream: {octaves: 1, steps: 1, jitter: 0}\n"
                    "images: {dream_size: 48, web_sizes: [48], formats: [jpeg]}\n"
                    "tasks: {retries: 0, retry_delay_seconds: 0}\n"
                    f"weights: {{source: hed, cache_dir: '{weights_cache}'}}\n"
                    f"privacy: {{location: exact, hide_near: [{{lat: {zone[0]}, lon: {zone[1]}, radius_m: 300}}]}}\n")
    return path


def _cli(command: str, album: Path, config: Path, out: Path) -> subprocess.CompletedProcess:
    from prefect.settings import PREFECT_API_URL

    return subprocess.run([sys.executable, "-m", "flows.cli", command, str(album), "-c", str(config), "-o", str(out),
                           "--device", "cpu"], cwd=REPO,
                          env=dict(os.environ, PYTHONPATH=str(REPO), PREFECT_API_URL=PREFECT_API_URL.value()),
                          capture_output=True, text=True, timeout=600)


def test_a_run_with_tracks(prefect_harness, trip, tmp_path, weights_cache):
    album, points, said = trip
    zone = points[3000][1:]          # day 1, in the middle of the walk
    out, config = tmp_path / "out", _config(tmp_path, weights_cache, zone)
    result = _cli("run", album, config, out)
    assert result.returncode == 0, result.stderr[-3000:]
    # Each hostile track: one line naming it, said once; no traceback.
    for name, words in said.items():
        lines = [line for line in result.stderr.splitlines() if f"tracks/bad/{name}" in line]
        assert len(lines) == 1 and words in lines[0], (name, lines)
    assert "Traceback" not in result.stderr

    manifest = read_manifest(out)
    recorded = {track.name: track for track in manifest.tracks.files}
    assert set(recorded) == {"tracks/walk.gpx", *(f"tracks/bad/{name}" for name in said)}
    assert recorded["tracks/walk.gpx"].points == len(points) and len(recorded["tracks/walk.gpx"].sha256) == 64
    assert manifest.tracks.camera_clock == "+02:00" and manifest.tracks.clock_source == "album.yaml"
    placed = [photo for photo in manifest.photos if photo.position == "track"]
    assert len(placed) >= len(manifest.photos) - 1   # (one may fall inside the zone: placed, then hidden)
    # No track file (nor anything named like one) in the output folder.
    assert not [path for path in out.rglob("*") if path.suffix.lower() == ".gpx"]
    assert "trkpt" not in (out / "manifest.json").read_text()

    page = (out / "index.html").read_text()
    assert re.search(r"Day 1 — [^<]* · \d+\.\d km", page) and re.search(r"Day 2 — [^<]* · \d+\.\d km", page)
    svg = (out / "map.svg").read_text()
    assert 'class="track route"' in svg and "<title>Route travelled on" in svg

    _check_the_route(out, points, zone)

    # `retry` runs with the recorded settings, which hold no zones: it keeps the route as it was.
    next((out / "dreams").rglob("*.jpg")).unlink()
    retried = _cli("retry", album, config, out)
    assert retried.returncode == 0, retried.stderr[-3000:]
    assert read_manifest(out).tracks.days == manifest.tracks.days
    _check_the_route(out, points, zone)

    # `blog` rewrites the post from the manifest: the route and the distances stay.
    from prefect.settings import PREFECT_API_URL

    blog = subprocess.run([sys.executable, "-m", "flows.cli", "blog", str(album), "-o", str(out)], cwd=REPO,
                          env=dict(os.environ, PYTHONPATH=str(REPO), PREFECT_API_URL=PREFECT_API_URL.value()),
                          capture_output=True, text=True, timeout=300)
    assert blog.returncode == 0, blog.stderr[-2000:]
    assert re.search(r"Day 2 — [^<]* · \d+\.\d km", (out / "index.html").read_text())
    _check_the_route(out, points, zone)


def _check_the_route(out: Path, points, zone) -> None:
    """Every drawn route point of map.svg, projected back: none within track_trim_m of a day's
    first or last point, none inside the zone (give or take the SVG's 0.1-unit rounding)."""
    svg = (out / "map.svg").read_text()
    _view, trip_map = page_view(read_manifest(out))
    frame = trip_map.frame
    slack_m = 0.1 * 111_195 / frame.units_per_degree
    drawn = [frame.latlon(float(x), float(y))
             for group in re.findall(r'<g class="track route".*?</g>', svg, re.S)
             for x, y in re.findall(r"(-?[\d.]+),(-?[\d.]+)", " ".join(re.findall(r'points="([^"]*)"', group)))]
    assert len(drawn) > 50
    days = {}
    for when, lat, lon in points:
        days.setdefault((when + timedelta(seconds=CLOCK_S)).date(), []).append((lat, lon))
    ends = [end for day in days.values() for end in (day[0], day[-1])]
    for lat, lon in drawn:
        assert min(distance_km(lat, lon, *end) for end in ends) * 1000 > 500 - slack_m
        assert distance_km(lat, lon, *zone) * 1000 > 300 - slack_m
    assert json.loads((out / "manifest.json").read_text())["settings"]["privacy"]["hide_near"] == []

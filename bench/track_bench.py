"""What a GPS track adds to a run (issue 31: a 100,000-point track adds at most 2 s).

A run with a track in the album reads it once when the album is scanned (pipeline/ingest/
tracks.py), places the photos without GPS and makes the route (pipeline/ingest/placing.py)
when the manifest is built, and draws the route into the map when the page is written
(pipeline/post/map.py: the page's map and map.svg). This times each of those on a synthetic
track of `--points` points (two days' walks, one point a second) with `--photos` photos on it,
the camera's clock given and inferred, and reports map.svg's size. For comparison it times
gpxpy's parse of the same file (when gpxpy is installed) and the refusal of a file of 10 million
points (`--huge`: writes ~240 MB to a temporary folder).

    PYTHONPATH=. .venv/bin/python bench/track_bench.py [--points 100000] [--photos 300] [--shape walk|drive] [--huge]

Each step runs `--repeat` times; the best is reported (the machine is shared).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bench.machine import cpu_name
from pipeline.config import load_settings
from pipeline.ingest.placing import placed_from_tracks
from pipeline.ingest.tracks import read_track
from pipeline.manifest import ExifInfo, Gps, PhotoEntry
from pipeline.post.map import trip_map

CLOCK = timedelta(hours=2)


def walk(points: int) -> list[tuple[datetime, float, float]]:
    """Two days' walks (half the points each) around Prague, 1.4 m/s, one point a second."""
    found, per_day = [], points // 2
    for day, (lat0, lon0) in enumerate(((50.087, 14.42), (49.948, 15.268))):
        start, k = datetime(2024, 5, 1 + day, 5, 0, tzinfo=timezone.utc), math.cos(math.radians(lat0))
        for s in range(per_day if day == 0 else points - per_day):
            along = s * 1.4
            north = 900 * math.sin(along / 1500) + along * 0.05
            found.append((start + timedelta(seconds=s), lat0 + north / 111_195, lon0 + along * 0.3 / (111_195 * k)))
    return found


def drive(points: int) -> list[tuple[datetime, float, float]]:
    """A harder track: two days' driving (15 m/s), turning at random, criss-crossing the same
    region again and again, so its route enters new cells of the map at every turn."""
    import random

    rng, found, per_day = random.Random(0), [], points // 2
    for day in range(2):
        lat, lon, heading = 50.0, 14.5, 0.0
        start = datetime(2024, 5, 1 + day, 5, 0, tzinfo=timezone.utc)
        for s in range(per_day if day == 0 else points - per_day):
            heading += rng.gauss(0, 0.05)
            if abs(lat - 50.0) > 0.3 or abs(lon - 14.5) > 0.5:   # turn back into the region
                heading += math.pi
                lat, lon = 50.0 + max(-0.3, min(0.3, lat - 50.0)), 14.5 + max(-0.5, min(0.5, lon - 14.5))
            lat += 15 * math.cos(heading) / 111_195
            lon += 15 * math.sin(heading) / (111_195 * 0.643)
            found.append((start + timedelta(seconds=s), lat, lon))
    return found


def write_gpx(path: Path, points) -> None:
    with open(path, "w") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="bench" '
                'xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>\n')
        for when, lat, lon in points:
            f.write(f'<trkpt lat="{lat:.7f}" lon="{lon:.7f}"><ele>210.0</ele>'
                    f'<time>{when.strftime("%Y-%m-%dT%H:%M:%SZ")}</time></trkpt>\n')
        f.write("</trkseg></trk></gpx>\n")


def photos_on(points, count: int) -> list[PhotoEntry]:
    """`count` photos along the walk, every tenth with the camera's GPS (to infer the clock)."""
    step = max(1, len(points) // count)
    return [PhotoEntry(source=f"p{i}.jpg", status="ok", exif=ExifInfo(
        date=(when + CLOCK).replace(tzinfo=None).isoformat(), date_source="DateTimeOriginal",
        gps=Gps(lat=lat, lon=lon) if i % 10 == 0 else None))
        for i, (when, lat, lon) in enumerate(points[::step][:count])]


def best(repeat: int, work):
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--photos", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--shape", choices=("walk", "drive"), default="walk",
                        help="walk: two days' walks; drive: two days' driving criss-crossing a region")
    parser.add_argument("--huge", action="store_true", help="also time refusing a 10-million-point file")
    args = parser.parse_args()
    settings = load_settings(None)
    print(f"machine: {cpu_name()}; {args.shape}, {args.points:,} points, {args.photos} photos; "
          f"best of {args.repeat}")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "walk.gpx"
        points = (walk if args.shape == "walk" else drive)(args.points)
        write_gpx(path, points)
        print(f"track file: {path.stat().st_size / 2**20:.1f} MB")
        read_s, track = best(args.repeat, lambda: read_track("walk.gpx", path))
        photos = photos_on(points, args.photos)
        given_s, placement = best(args.repeat, lambda: placed_from_tracks([track], photos, "+02:00", settings))
        inferred_s, inferred = best(args.repeat, lambda: placed_from_tracks([track], photos, None, settings))
        # The page's days, with a mark for every tenth placed photo (the labels keep off the route).
        days = [{"date": (points[0][0] + CLOCK).date(), "photos": []},
                {"date": (points[-1][0] + CLOCK).date(), "photos": []}]
        for i, (source, gps) in enumerate(list(placement.positions.items())[::10]):
            day = days[0] if i < len(placement.positions) // 20 else days[1]
            day["photos"].append({"anchor": source, "where": {"lat": gps.lat, "lon": gps.lon, "name": f"Place {i}"}})

        def draw():
            trip = trip_map(days, "exact", placement.info.days)
            return trip.svg(links=True), trip.file()

        draw_s, (page_svg, map_file) = best(args.repeat, draw)
        route_points = sum(len(line) for day in placement.info.days for line in day.lines)
        print(f"read the track:             {read_s:6.3f} s  ({len(track.times):,} points)")
        print(f"place photos, clock given:  {given_s:6.3f} s  ({placement.info.placed} placed; route made too)")
        print(f"place photos, inferred:     {inferred_s:6.3f} s  (clock {inferred.info.camera_clock}, "
              f"{inferred.info.placed} placed)")
        print(f"draw the map (page + file): {draw_s:6.3f} s  (route in manifest: {route_points:,} points; "
              f"{sum(len(d['photos']) for d in days)} marks)")
        print(f"added to a run:             {read_s + inferred_s + draw_s:6.3f} s  (read + inferred + draw)")
        print(f"map.svg: {len(map_file.encode()) / 1024:.1f} KB; the page's map {len(page_svg.encode()) / 1024:.1f} KB")
        try:
            import gpxpy
        except ImportError:
            print("gpxpy: not installed")
        else:
            gpxpy_s, _gpx = best(1, lambda: gpxpy.parse(path.read_text()))
            print(f"gpxpy.parse, for comparison: {gpxpy_s:6.3f} s")
        if args.huge:
            huge = Path(folder) / "huge.gpx"
            with open(huge, "w") as f:
                f.write('<gpx version="1.1">')
                f.write('<trkpt lat="1" lon="1"/>' * 10_000_000)
                f.write("</gpx>")
            huge_s, refused = best(1, lambda: read_track("huge.gpx", huge))
            print(f"10 million points ({huge.stat().st_size / 2**20:.0f} MB): {huge_s:6.3f} s: {refused.problem}")


if __name__ == "__main__":
    main()

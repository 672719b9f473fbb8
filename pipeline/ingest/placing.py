"""What the album's tracks tell the manifest: where photos without GPS were taken, and the
route of each day as the map may draw it.

A photo is placed at the track's position at the time it was taken, interpolated between the
points around it, when a point lies within `track.max_gap` of that time. A camera's clock says
local time, often a little wrong: the camera's clock minus UTC comes from album.yaml's
`camera_clock` (`"+02:00"`, `"+01:58:30"`), else the photo's EXIF offset (OffsetTimeOriginal),
else is inferred from the photos that have both GPS and a time (the offset that brings them
nearest their track positions), else no photo is placed, and a line says why.

The route is made here, when the manifest is built, with privacy first: nothing of it with
`privacy.location: none`; each day without the points within `privacy.track_trim_m` of its
first and last point (where the traveller slept) and without any inside a `hide_near` zone;
simplified to what a map of the route can show. Only that is recorded and drawn.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from pipeline.config import PrivacySettings, Settings
from pipeline.ingest.tracks import Track
from pipeline.manifest import Gps, PhotoEntry, RouteDay, TracksInfo
from pipeline.privacy import EARTH_RADIUS_KM, coordinates

_CLOCK = re.compile(r"([+-])(\d{1,2}):([0-5]\d)(?::([0-5]\d))?")
CLOCK_EXPECTED = 'the camera\'s clock minus UTC, quoted, e.g. "+02:00" or "-04:58:30" (-14:00 to +14:00)'
# Inferring the clock: offsets tried (seconds), coarse then fine around the best.
_WIDEST_OFFSET = 14 * 3600
_COARSE_STEP = 60
# The inferred clock is taken when the photos with GPS lie, at the median, this close to where
# the track was at their time; otherwise the track is not the camera's trip (or the GPS is).
INFER_WITHIN_M = 250.0
# The route is simplified to this many steps across its widest extent (the map is 640 units wide).
_ROUTE_STEPS = 800
# ...and to at most this many points in all (~25 bytes each in manifest.json).
MAX_ROUTE_POINTS = 20_000
_DAY_S = 86400


def parse_clock(text: str) -> int:
    """'+02:00' -> 7200, '-04:58:30' -> -17910 (seconds); ValueError for anything else."""
    match = _CLOCK.fullmatch(text.strip())
    if not match:
        raise ValueError(CLOCK_EXPECTED)
    sign, hours, minutes, seconds = match.groups()
    total = int(hours) * 3600 + int(minutes) * 60 + int(seconds or 0)
    if total > _WIDEST_OFFSET:
        raise ValueError(CLOCK_EXPECTED)
    return -total if sign == "-" else total


def clock_text(seconds: float) -> str:
    """7200 -> '+02:00', -17910 -> '-04:58:30'."""
    sign, total = ("-" if seconds < 0 else "+"), round(abs(seconds))
    text = f"{sign}{total // 3600:02d}:{total % 3600 // 60:02d}"
    return text + (f":{total % 60:02d}" if total % 60 else "")


@dataclass
class Placement:
    """What the tracks did: each placed photo's position, the manifest's record, what to say."""

    positions: dict[str, Gps] = field(default_factory=dict)   # photo source -> the track's position
    info: TracksInfo | None = None
    lines: list[str] = field(default_factory=list)

    def photo(self, photo: PhotoEntry) -> PhotoEntry:
        """The photo's entry with its position and where it came from (before privacy)."""
        if photo.source in self.positions and photo.exif is not None:
            return photo.model_copy(update={"exif": photo.exif.model_copy(update={"gps": self.positions[photo.source]}),
                                            "position": "track"})
        if photo.exif is not None and coordinates(photo.exif.gps) is not None:
            return photo.model_copy(update={"position": "camera"})
        return photo


def placed_from_tracks(tracks: list, photos: list[PhotoEntry], camera_clock: str | None,
                       settings: Settings, route: list[RouteDay] | None = None) -> Placement:
    """Where the album's tracks (read by pipeline/ingest/tracks.py) place `photos`, and the route
    the map may draw; `camera_clock`: album.yaml's, as written (checked when it was read).
    `route`: the route as an earlier run made it, kept as it is (`retry` runs with the recorded
    settings, which hold no hide_near zones: a route made again would cross them)."""
    usable = [track for track in tracks if isinstance(track, Track)]
    placement = Placement()   # (what of a track was unusable was said when the album was read)
    if not tracks:
        return placement
    info = TracksInfo(files=[track.record() for track in tracks])
    placement.info = info
    if not usable:
        return placement
    times, lats, lons = _merged(usable)
    max_gap = settings.track.max_gap_s
    timed = [(photo, *when) for photo in photos if photo.ok and (when := _wall_clock(photo)) is not None]
    with_gps = [(photo, wall) for photo, wall, _offset in timed if coordinates(photo.exif.gps) is not None]
    to_place = [(photo, wall, offset) for photo, wall, offset in timed if coordinates(photo.exif.gps) is None]

    clock, source = _camera_clock(camera_clock, with_gps, timed, (times, lats, lons), max_gap)
    info.camera_clock, info.clock_source = (clock_text(clock) if clock is not None else None), source
    unplaced_clock = 0
    far = 0
    for photo, wall, offset in to_place:
        offset = clock if camera_clock is not None else offset if offset is not None else clock
        if offset is None:
            unplaced_clock += 1
            continue
        position = _position_at(wall - offset, times, lats, lons, max_gap)
        if position is None:
            far += 1
        else:
            placement.positions[photo.source] = Gps(lat=round(position[0], 6), lon=round(position[1], 6))
    info.placed, info.not_placed = len(placement.positions), unplaced_clock + far
    placement.lines += _said(info, unplaced_clock, far, settings.track.max_gap, len(with_gps))
    day_clock = clock if clock is not None else 0
    info.days = (route if route is not None
                 else route_days(times, lats, lons, day_clock, max_gap, settings.privacy))
    return placement


def _merged(tracks: list[Track]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every track's points in one time line (two devices at once: one position per moment)."""
    times = np.concatenate([t.times for t in tracks])
    order = np.argsort(times, kind="stable")
    times, lats, lons = times[order], np.concatenate([t.lats for t in tracks])[order], \
        np.concatenate([t.lons for t in tracks])[order]
    keep = np.concatenate(([True], np.diff(times) > 0))
    return times[keep], lats[keep], lons[keep]


def _wall_clock(photo: PhotoEntry) -> tuple[float, float | None] | None:
    """(the camera's clock reading as seconds, its EXIF offset from UTC in seconds or None)."""
    date = photo.exif.camera_date if photo.exif else None
    if not date:
        return None
    try:
        when = datetime.fromisoformat(date)
    except ValueError:
        return None
    offset = when.utcoffset()
    return when.replace(tzinfo=timezone.utc).timestamp(), (offset.total_seconds() if offset is not None else None)


def _camera_clock(given: str | None, with_gps: list, timed: list, track,
                  max_gap: float) -> tuple[float | None, str | None]:
    """The camera's clock minus UTC for photos without an EXIF offset, and where it came from."""
    if given is not None:
        return parse_clock(given), "album.yaml"
    inferred = infer_clock(with_gps, *track, max_gap)
    if inferred is not None:
        return inferred, f"inferred from {len(with_gps)} photo{'s' if len(with_gps) != 1 else ''} with GPS"
    offsets = Counter(offset for _photo, _wall, offset in timed if offset is not None)
    if offsets:
        return offsets.most_common(1)[0][0], "EXIF (OffsetTimeOriginal)"
    return None, None


def infer_clock(with_gps: list[tuple[PhotoEntry, float]], times: np.ndarray, lats: np.ndarray,
                lons: np.ndarray, max_gap: float) -> float | None:
    """The offset (seconds) that brings the photos with GPS nearest where the track was at
    their time: tried every minute from -14 to +14 hours, then every second around the best;
    None when no offset brings them within INFER_WITHIN_M (at the median)."""
    if not with_gps:
        return None
    walls = np.array([wall for _photo, wall in with_gps])
    spots = np.array([coordinates(photo.exif.gps) for photo, _wall in with_gps])
    best = _best_offset(np.arange(-_WIDEST_OFFSET, _WIDEST_OFFSET + 1, _COARSE_STEP, dtype=np.float64),
                        walls, spots, times, lats, lons, max_gap)
    if best is None:
        return None
    fine = _best_offset(np.arange(best[0] - _COARSE_STEP, best[0] + _COARSE_STEP + 1, 1, dtype=np.float64),
                        walls, spots, times, lats, lons, max_gap)
    offset, metres = fine or best
    return offset if metres <= INFER_WITHIN_M else None


def _best_offset(offsets, walls, spots, times, lats, lons, max_gap) -> tuple[float, float] | None:
    """(offset, median metres) of the offset whose photos lie nearest the track; at least half
    of the photos must fall within max_gap of a track point."""
    at = (walls[None, :] - offsets[:, None]).ravel()
    near = _gap_to_nearest(at, times) <= max_gap
    lat, lon = np.interp(at, times, lats), np.interp(at, times, lons)
    metres = _metres(lat, lon, np.tile(spots[:, 0], len(offsets)), np.tile(spots[:, 1], len(offsets)))
    metres = np.where(near, metres, np.nan).reshape(len(offsets), len(walls))
    enough = (~np.isnan(metres)).sum(axis=1) * 2 >= len(walls)
    if not enough.any():
        return None
    with np.errstate(all="ignore"):
        medians = np.where(enough, np.nanmedian(np.where(enough[:, None], metres, 0.0), axis=1), np.inf)
    i = int(np.argmin(medians))
    return float(offsets[i]), float(medians[i])


def _gap_to_nearest(at: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Seconds from each of `at` to the nearest track point."""
    if len(times) == 1:
        return np.abs(at - times[0])
    i = np.clip(np.searchsorted(times, at), 1, len(times) - 1)
    return np.minimum(np.abs(at - times[i - 1]), np.abs(times[i] - at))


def _position_at(utc: float, times, lats, lons, max_gap: float) -> tuple[float, float] | None:
    """The track's position at `utc`: between the points around it when they are close in
    time, else the nearest point; None when no point is within max_gap."""
    i = int(np.searchsorted(times, utc))
    before, after = (i - 1 if i > 0 else None), (i if i < len(times) else None)
    gaps = [(abs(utc - times[j]), j) for j in (before, after) if j is not None]
    nearest_gap, nearest = min(gaps)
    if nearest_gap > max_gap:
        return None
    if before is not None and after is not None and times[after] - times[before] <= 2 * max_gap:
        share = (utc - times[before]) / (times[after] - times[before])
        return (float(lats[before] + share * (lats[after] - lats[before])),
                float(lons[before] + share * (lons[after] - lons[before])))
    return float(lats[nearest]), float(lons[nearest])


def _said(info: TracksInfo, unplaced_clock: int, far: int, max_gap_min: float, with_gps: int) -> list[str]:
    lines = []
    if info.placed:
        clock = f" (camera clock {info.camera_clock}, {info.clock_source})" if info.camera_clock else ""
        lines.append(f"placed {info.placed} photo{'s' if info.placed != 1 else ''} without GPS from the track{clock}")
    if unplaced_clock:
        why = ("no photo has both GPS and a time to infer it from" if not with_gps
               else f"the {with_gps} photo{'s' if with_gps != 1 else ''} with GPS lie nowhere near the track "
                    "at any clock offset")
        lines.append(f"{unplaced_clock} photo{'s' if unplaced_clock != 1 else ''} without GPS not placed from the "
                     f"track: their camera's clock offset from UTC is unknown (no camera_clock in album.yaml, no "
                     f"offset in their EXIF, and {why}); set e.g. camera_clock: \"+02:00\"")
    if far:
        lines.append(f"{far} photo{'s' if far != 1 else ''} without GPS not placed: taken more than "
                     f"{max_gap_min:g} min from any track point (track.max_gap)")
    return lines


# ---------------------------------------------------------------- the route, privacy first


def route_days(times: np.ndarray, lats: np.ndarray, lons: np.ndarray, clock: float, max_gap: float,
               privacy: PrivacySettings) -> list[RouteDay]:
    """Each day's distance and what of its track the map may draw (see the module's note)."""
    if not privacy.places or not len(times):
        return []
    days = np.floor((times + clock) / _DAY_S).astype(np.int64)
    starts = np.flatnonzero(np.concatenate(([True], np.diff(days) != 0)))
    ends = np.append(starts[1:], len(times))
    route = []
    for start, end in zip(starts, ends, strict=True):
        la, lo, ti = lats[start:end], lons[start:end], times[start:end]
        km = float(_metres(la[:-1], lo[:-1], la[1:], lo[1:]).sum() / 1000) if end - start > 1 else 0.0
        day = datetime.fromtimestamp(int(days[start]) * _DAY_S, timezone.utc).date().isoformat()
        runs = [(la[a:b], lo[a:b]) for a, b in _runs(_shown(la, lo, privacy), ti, max_gap)]
        route.append((day, round(km, 1), runs))
    tolerance = _tolerance(lats, lons)
    while True:   # coarser where a winding route would swell manifest.json (and the map)
        lines = [[line for la, lo in runs if len(line := _simplified(la, lo, tolerance)) > 1]
                 for _day, _km, runs in route]
        if sum(len(line) for day in lines for line in day) <= MAX_ROUTE_POINTS:
            break
        tolerance *= 2
    return [RouteDay(date=day, km=km, lines=day_lines)
            for (day, km, _pieces), day_lines in zip(route, lines, strict=True)]


def _shown(lats: np.ndarray, lons: np.ndarray, privacy: PrivacySettings) -> np.ndarray:
    """Which of a day's points the map may draw: none within track_trim_m of the day's first or
    last point, none inside a hide_near zone."""
    trim = privacy.track_trim_m
    shown = np.ones(len(lats), dtype=bool)
    if trim > 0:
        shown &= _metres(lats, lons, lats[0], lons[0]) > trim
        shown &= _metres(lats, lons, lats[-1], lons[-1]) > trim
    for zone in privacy.hide_near:
        shown &= _metres(lats, lons, zone.lat, zone.lon) > zone.radius_m
    return shown


def _runs(shown: np.ndarray, times: np.ndarray, max_gap: float) -> list[tuple[int, int]]:
    """(start, end) of each stretch of shown points with no gap longer than max_gap in it."""
    breaks = np.concatenate(([True], ~shown[1:] | ~shown[:-1] | (np.diff(times) > max_gap), [True]))
    edges = np.flatnonzero(breaks)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True) if shown[a]]


def _tolerance(lats: np.ndarray, lons: np.ndarray) -> float:
    """The finest detail kept, in degrees: the route's widest extent over _ROUTE_STEPS."""
    k = np.cos(np.radians(np.clip(np.median(lats), -70, 70)))
    extent = max(float(np.ptp(lats)), float(np.ptp(lons)) * k)
    return max(extent / _ROUTE_STEPS, 1e-5)


def _simplified(lats: np.ndarray, lons: np.ndarray, tolerance: float) -> list[tuple[float, float]]:
    """The points where the line enters a new cell of a `tolerance` grid (and its last point):
    real positions of the track, never a cell's centre, so a point kept is a point shown."""
    if not len(lats):
        return []
    k = np.cos(np.radians(np.clip(lats[0], -70, 70)))
    cells = np.stack((np.floor(lats / tolerance), np.floor(lons * k / tolerance)), axis=1)
    keep = np.concatenate(([True], (np.diff(cells, axis=0) != 0).any(axis=1)))
    keep[-1] = True
    return [(round(float(a), 5), round(float(b), 5)) for a, b in zip(lats[keep], lons[keep], strict=True)]


def _metres(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distances (haversine), in metres, element by element."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(np.subtract(lon2, lon1)) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * 1000 * np.arcsin(np.sqrt(np.minimum(1.0, a)))

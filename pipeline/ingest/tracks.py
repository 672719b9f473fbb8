"""GPS tracks of the trip: every .gpx or .kml file in the album (and those album.yaml's `track:`
names), read once when the album is scanned, never published or copied into the output folder.

Only what dreamtrip uses is read: each track point's position and time (GPX 1.0 and 1.1 `trkpt`
and `rtept`; KML's `gx:Track`, its `when` and `gx:coord` paired in order, as Google Earth and
Google's location history write them), streamed by expat with no tree built, so a long track costs ~2 µs a point and
its arrays, not a document in memory (gpxpy builds an object of twenty fields per point: 1.7 s
for 100,000 points, most of the run's budget; BENCHMARKS.md, "GPS tracks").

A track is the traveller's file but may come from anywhere: nothing in it can make the reader
expand entities (a DOCTYPE or ENTITY declaration is refused: GPX and KML never need one), read more
than MAX_TRACK_BYTES or keep more than MAX_POINTS points. A file that cannot be used is a
TrackError, one line; points with impossible coordinates or no time are left out and said.
"""

from __future__ import annotations

import hashlib
import math
from array import array
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING
from xml.parsers import expat

from pipeline.manifest import TrackFile

if TYPE_CHECKING:
    import numpy as np

TRACK_EXTENSIONS = {".gpx", ".kml"}
# A day of one point a second is 86,400 points: this is 23 days of it. A longer file is no
# trip's track (or is meant to exhaust the machine): it is not read.
MAX_POINTS = 2_000_000
# A point of a GPX file as devices write it takes 60-150 bytes.
MAX_TRACK_BYTES = 256 * 1024 * 1024
_CHUNK = 1 << 20
_POINT_TAGS = {"trkpt", "rtept"}
_COUNTED = (b"trkpt", b"rtept", b"when>")   # a point's tags, counted before parsing
_ROOTS = {"gpx", "kml"}


class TrackError(Exception):
    """A track that cannot be used, and why, in one line."""


@dataclass(frozen=True)
class Track:
    """A track's points with a position and a time, in time order (UTC seconds)."""

    name: str
    sha256: str
    times: "np.ndarray"
    lats: "np.ndarray"
    lons: "np.ndarray"
    problem: str | None = None   # what of the file was left out, when something was

    def record(self) -> TrackFile:
        return TrackFile(name=self.name, sha256=self.sha256, points=len(self.times), problem=self.problem)


@dataclass(frozen=True)
class UnusableTrack:
    """A track file that was found but cannot be used: listed, by name and hash, with why."""

    name: str
    sha256: str
    problem: str

    def record(self) -> TrackFile:
        return TrackFile(name=self.name, sha256=self.sha256, problem=self.problem)


def is_track(name: str) -> bool:
    return Path(name).suffix.lower() in TRACK_EXTENSIONS


def album_tracks(album_dir: Path, found: list[str], named: tuple[str, ...], source: str) -> list[Track | UnusableTrack]:
    """The album's tracks: the .gpx and .kml files `found` in it (by path in the album) and those
    album.yaml names (`named`, from the album folder or absolute); one album.yaml names that
    is not there is a ConfigError (one line, before any work)."""
    from pipeline.config import ConfigError

    album_root = Path(album_dir).resolve()
    files = [(name, Path(album_dir) / name) for name in found]
    for name in named:
        path = (Path(album_dir) / Path(name).expanduser()).resolve()
        if not path.is_file():
            raise ConfigError(source, "track", name,
                              "a GPS track's file (.gpx, .kml) that exists, from the album folder")
        inside = path.is_relative_to(album_root)
        files.append((path.relative_to(album_root).as_posix() if inside else path.name, path))
    return read_tracks(files)


def read_tracks(named: list[tuple[str, Path]]) -> list[Track | UnusableTrack]:
    """Each (name, path) read; a file named twice is read once."""
    found, seen = [], set()
    for name, path in named:
        key = str(Path(path).resolve())
        if key in seen:
            continue
        seen.add(key)
        found.append(read_track(name, path))
    return found


def read_track(name: str, path: Path) -> Track | UnusableTrack:
    """The track at `path` (called `name` in what is said and recorded); never raises for what
    the file holds: an unusable one is an UnusableTrack with the reason."""
    digest = ""
    try:
        digest = _checked_digest(path)
        return _parsed(name, digest, path)
    except TrackError as err:
        return UnusableTrack(name, digest, str(err))
    except OSError as err:
        return UnusableTrack(name, digest, f"cannot be read ({(err.strerror or str(err)).lower()})")


def _checked_digest(path: Path) -> str:
    """The file's sha256, after checking that it is not too large and does not hold more
    points than a trip records (counted without parsing: a 10-million-point file is refused
    in a fraction of a second)."""
    size = Path(path).stat().st_size
    if size > MAX_TRACK_BYTES:
        raise TrackError(f"{size / 2**20:.0f} MB, larger than any trip's track (at most "
                         f"{MAX_TRACK_BYTES // 2**20} MB): not read")
    digest, mentions, tail = hashlib.sha256(), 0, b""
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            window = tail + chunk
            mentions += sum(window.count(tag) - tail.count(tag) for tag in _COUNTED)
            tail = window[-8:]
    if mentions > 2 * MAX_POINTS:   # an opening and a closing tag each
        raise TrackError(f"holds more than {MAX_POINTS:,} points (23 days of one a second): not read")
    return digest.hexdigest()


class _Reader:
    """expat handlers that keep each point's (time, lat, lon), nothing else."""

    def __init__(self):
        self.times, self.lats, self.lons = array("d"), array("d"), array("d")
        self.bad_positions = self.untimed = self.points = 0
        self.root: str | None = None
        self.position: tuple | None = None   # the point being read: (lat, lon) or None (impossible)
        self.in_point = self.in_time = False
        self.time_text: list[str] = []
        self.time: float | None = None
        # KML's gx:Track: its times and positions, paired in order when the track ends
        self.in_track, self.kml_text = False, None
        self.whens, self.coords = array("d"), []

    def _count(self) -> None:
        self.points += 1
        if self.points > MAX_POINTS:
            raise TrackError(f"holds more than {MAX_POINTS:,} points (23 days of one a second): not read")

    def start(self, name: str, attrs: dict) -> None:
        local = name.rpartition(" ")[2]
        if self.root is None:
            self.root = local
            if local not in _ROOTS:
                raise TrackError(f"not a GPX or KML file (its root element is <{local[:40]}>)")
        if local in _POINT_TAGS:
            self._count()
            self.in_point, self.time = True, None
            self.position = _position(attrs.get("lat"), attrs.get("lon"))
        elif local == "time" and self.in_point:
            self.in_time, self.time_text = True, []
        elif local == "Track" and self.root == "kml":
            self.in_track, self.whens, self.coords = True, array("d"), []
        elif local in ("when", "coord") and self.in_track:
            self.kml_text = []

    def text(self, data: str) -> None:
        if self.in_time and len(self.time_text) < 64:
            self.time_text.append(data)
        elif self.kml_text is not None and len(self.kml_text) < 64:
            self.kml_text.append(data)

    def end(self, name: str) -> None:
        local = name.rpartition(" ")[2]
        if self.in_track:
            self._kml_end(local)
        elif local == "time" and self.in_time:
            self.in_time, self.time = False, _utc_seconds("".join(self.time_text))
        elif local in _POINT_TAGS and self.in_point:
            self.in_point = False
            if self.position is None:
                self.bad_positions += 1
            elif self.time is None:
                self.untimed += 1
            else:
                self._keep(self.time, self.position)

    def _keep(self, time: float, position: tuple[float, float]) -> None:
        self.times.append(time)
        self.lats.append(position[0])
        self.lons.append(position[1])

    def _kml_end(self, local: str) -> None:
        text, self.kml_text = "".join(self.kml_text or ()), None
        if local == "when":
            when = _utc_seconds(text)
            self.whens.append(math.nan if when is None else when)
        elif local == "coord":
            self._count()
            parts = text.split()
            self.coords.append(_position(parts[1], parts[0]) if len(parts) >= 2 else None)
        elif local == "Track":
            self.in_track = False
            for i, position in enumerate(self.coords):
                when = self.whens[i] if i < len(self.whens) else math.nan
                if position is None:
                    self.bad_positions += 1
                elif math.isnan(when):
                    self.untimed += 1
                else:
                    self._keep(when, position)


def _refuse_declarations(*_args) -> None:
    # Entities are how a few hundred bytes of XML expand to gigabytes ("billion laughs"), or
    # read files of the machine (external entities). GPX and KML need none.
    raise TrackError("holds a DOCTYPE or ENTITY declaration, which no GPX or KML file needs: not read")


def _parsed(name: str, digest: str, path: Path) -> Track:
    reader = _Reader()
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.StartDoctypeDeclHandler = _refuse_declarations
    parser.EntityDeclHandler = _refuse_declarations
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.text
    parser.buffer_text = True
    try:
        with open(path, "rb") as f:
            parser.ParseFile(f)
    except expat.ExpatError as err:
        raise TrackError(f"not a GPX or KML file (XML error: {expat.ErrorString(err.code)}, "
                         f"line {err.lineno})") from None
    import numpy as np  # here: finding the album's files needs no numpy

    times, lats, lons = (np.frombuffer(values, dtype=np.float64) for values in (reader.times, reader.lats, reader.lons))
    if not len(times):
        raise TrackError(_nothing_usable(reader))
    problems = _left_out(reader)
    order = np.argsort(times, kind="stable")
    if (np.diff(times) < 0).any():
        problems.append("its points were out of time order: sorted by time")
    times, lats, lons = times[order], lats[order], lons[order]
    keep = np.concatenate(([True], np.diff(times) > 0))   # one position per moment
    return Track(name, digest, times[keep], lats[keep], lons[keep], "; ".join(problems) or None)


def _nothing_usable(reader: _Reader) -> str:
    if not reader.points:
        return "holds no track points"
    if reader.bad_positions == reader.points:
        return f"none of its {reader.points:,} points has a possible position (latitude -90..90, longitude -180..180)"
    return "its points carry no times: it can place no photo, and has no days to draw"


def _left_out(reader: _Reader) -> list[str]:
    parts = []
    if reader.bad_positions:
        parts.append(f"{reader.bad_positions:,} points with an impossible position left out")
    if reader.untimed:
        parts.append(f"{reader.untimed:,} points without a time left out")
    return parts


def _position(lat: str | None, lon: str | None) -> tuple[float, float] | None:
    try:
        la, lo = float(lat), float(lon)
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(la) and math.isfinite(lo) and -90 <= la <= 90 and -180 <= lo <= 180):
        return None
    return la, lo


def _utc_seconds(text: str) -> float | None:
    """A GPX or KML time (ISO 8601, UTC when it names no zone) as seconds since 1970; None if it is none."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()

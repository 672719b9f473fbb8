"""GPS tracks made in the tests: a synthetic two-day walk, one point a second, written as GPX,
and the hostile files a track reader must survive."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

# Day 1 in Prague's old town, day 2 around Kutná Hora (~65 km east): 08:00-10:00 UTC each day.
STARTS = ((datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc), 50.0870, 14.4200),
          (datetime(2024, 5, 2, 8, 0, tzinfo=timezone.utc), 49.9480, 15.2680))
SECONDS_A_DAY = 2 * 3600
METRES_PER_DEGREE = 111_195.0


def walk(seconds: int = SECONDS_A_DAY, starts=STARTS) -> list[tuple[datetime, float, float]]:
    """(UTC time, lat, lon) of each second of two days' walks: ~1.4 m/s along a wide meander."""
    points = []
    for start, lat0, lon0 in starts:
        k = math.cos(math.radians(lat0))
        for s in range(seconds):
            along = s * 1.4                                # metres walked
            east = along * 0.8
            north = 900 * math.sin(along / 1500) + along * 0.2
            points.append((start + timedelta(seconds=s), lat0 + north / METRES_PER_DEGREE,
                           lon0 + east / (METRES_PER_DEGREE * k)))
    return points


def gpx_text(points, time_format: str = "%Y-%m-%dT%H:%M:%SZ") -> str:
    rows = "".join(f'<trkpt lat="{lat:.7f}" lon="{lon:.7f}"><ele>210</ele>'
                   f'<time>{when.strftime(time_format)}</time></trkpt>\n' for when, lat, lon in points)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<gpx version="1.1" creator="dreamtrip tests" xmlns="http://www.topografix.com/GPX/1/1">'
            f"<trk><name>walk</name><trkseg>\n{rows}</trkseg></trk></gpx>\n")


def write_gpx(path: Path, points) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(gpx_text(points))
    return path


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><trk><name>&lol9;</name><trkseg>
<trkpt lat="50" lon="14"><time>2024-05-01T08:00:00Z</time></trkpt></trkseg></trk></gpx>
"""

NO_TIMES = ('<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>'
            '<trkpt lat="50.1" lon="14.4"/><trkpt lat="50.2" lon="14.5"/></trkseg></trk></gpx>')

NAN_POSITIONS = ('<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>'
                 '<trkpt lat="nan" lon="14.4"><time>2024-05-01T08:00:00Z</time></trkpt>'
                 '<trkpt lat="95" lon="14.4"><time>2024-05-01T08:00:01Z</time></trkpt>'
                 '<trkpt lat="50" lon="inf"><time>2024-05-01T08:00:02Z</time></trkpt>'
                 '<trkpt lat="50" lon="-181"><time>2024-05-01T08:00:03Z</time></trkpt>'
                 '</trkseg></trk></gpx>')


def kml_text(points) -> str:
    """The points as KML's gx:Track, as Google Earth writes it: every time, then every position."""
    whens = "".join(f"<when>{when.strftime('%Y-%m-%dT%H:%M:%SZ')}</when>" for when, _lat, _lon in points)
    coords = "".join(f"<gx:coord>{lon:.7f} {lat:.7f} 210</gx:coord>" for _when, lat, lon in points)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<kml xmlns="http://www.opengis.net/kml/2.2" '
            'xmlns:gx="http://www.google.com/kml/ext/2.2"><Document><Placemark><name>walk</name>'
            f"<gx:Track>{whens}{coords}</gx:Track></Placemark></Document></kml>\n")


def hostile_tracks(folder: Path) -> dict[str, str]:
    """Hostile track files written into `folder`: name -> a word its one line must say."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "laughs.gpx").write_text(BILLION_LAUGHS)
    (folder / "not-xml.gpx").write_bytes(b"\x89PNG\r\n\x1a\n this is no XML at all")
    (folder / "no-times.gpx").write_text(NO_TIMES)
    (folder / "nan.gpx").write_text(NAN_POSITIONS)
    (folder / "svg.gpx").write_text('<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>')
    huge = folder / "huge.gpx"   # 10 million points' worth of bytes: a sparse file, refused by its size
    with open(huge, "wb") as f:
        f.write(b'<gpx version="1.1">')
        f.truncate(10_000_000 * 30)
    return {"laughs.gpx": "DOCTYPE", "not-xml.gpx": "not a GPX or KML file", "no-times.gpx": "no times",
            "nan.gpx": "possible position", "svg.gpx": "not a GPX or KML file", "huge.gpx": "larger than"}

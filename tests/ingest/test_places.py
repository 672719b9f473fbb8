"""GPS positions become place names offline, as a traveller would say them."""

import pytest

from pipeline.manifest import Gps
from pipeline.ingest.places import coordinates, distance_km, place_of, town_radius_km


@pytest.mark.parametrize("lat, lon, name, country", [
    (50.0865, 14.4114, "Prague", "Czechia"),      # Charles Bridge: Prague, not "Malá Strana"
    (50.0975, 14.4253, "Prague", "Czechia"),      # the sample album's museum, Letná
    (51.5081, -0.0759, "London", "United Kingdom"),  # the Tower: not "Whitechapel"
    (48.8049, 2.1204, "Versailles", "France"),    # a town of its own beside Paris
    (45.4340, 12.3388, "Venice", "Italy"),
    (46.5580, 7.8955, "Lauterbrunnen", "Switzerland"),  # a village far from any town
    (-33.8568, 151.2153, "Sydney", "Australia"),  # southern and eastern hemispheres
    (37.5665, 126.9780, "Seoul", "South Korea"),  # the common name, not "Korea, Republic of"
])
def test_place_names(lat, lon, name, country):
    place = place_of(Gps(lat=lat, lon=lon))
    assert (place.name, place.country) == (name, country)
    assert len(place.country_code) == 2


def test_far_from_any_place_has_no_name():
    assert place_of(Gps(lat=0.0, lon=-140.0)) is None   # the middle of the Pacific


@pytest.mark.parametrize("gps", [None, Gps(lat=float("nan"), lon=1), Gps(lat=1, lon=float("inf")),
                                 Gps(lat=91, lon=0), Gps(lat=0, lon=181)])
def test_no_or_bad_gps_has_no_place(gps):
    assert coordinates(gps) is None
    assert place_of(gps) is None


def test_results_are_copies():
    place_of(Gps(lat=50.0865, lon=14.4114)).name = "edited"
    assert place_of(Gps(lat=50.0865, lon=14.4114)).name == "Prague"


def test_distance_and_town_size():
    prague = {"latitude": 50.08804, "longitude": 14.42076}
    assert distance_km(50.0865, 14.4114, prague) == pytest.approx(0.69, abs=0.02)
    assert town_radius_km(1_165_581) == pytest.approx(11.1, abs=0.1)
    assert town_radius_km(1_000) == 2.0


def _described(photo, **privacy):
    from pipeline.config import load_settings
    from pipeline.ingest.album import AlbumText

    settings = load_settings(overrides={f"privacy.{key}": value for key, value in privacy.items()})
    return AlbumText(title="Trip").described(photo, [], settings.privacy)


BRIDGE = Gps(lat=50.0865, lon=14.4114, alt=190.5)


def test_the_manifest_names_each_photos_town_and_keeps_only_the_towns_position():
    from pipeline.manifest import ExifInfo, PhotoEntry

    photos = [PhotoEntry(source="bridge.jpg", status="ok", exif=ExifInfo(gps=BRIDGE)),
              PhotoEntry(source="no-gps.jpg", status="ok", exif=ExifInfo()),
              PhotoEntry(source="broken.jpg", status="failed", error="empty file")]
    entries = [_described(photo) for photo in photos]
    places = {entry.source: entry.place and entry.place.model_dump() for entry in entries}
    # Prague's own centre (GeoNames 50.08804, 14.42076) to 2 decimals, never the bridge's.
    assert places == {"bridge.jpg": {"name": "Prague", "country": "Czechia", "country_code": "CZ",
                                     "lat": 50.09, "lon": 14.42},
                      "no-gps.jpg": None, "broken.jpg": None}
    assert entries[0].exif.gps is None


def test_exact_keeps_the_cameras_position():
    from pipeline.manifest import ExifInfo, PhotoEntry

    entry = _described(PhotoEntry(source="bridge.jpg", status="ok", exif=ExifInfo(gps=BRIDGE)),
                       location="exact")
    assert entry.exif.gps == BRIDGE and entry.place.name == "Prague"


def test_none_keeps_no_place_and_no_position():
    from pipeline.manifest import ExifInfo, PhotoEntry

    entry = _described(PhotoEntry(source="bridge.jpg", status="ok", exif=ExifInfo(gps=BRIDGE)),
                       location="none")
    assert entry.place is None and entry.exif.gps is None


@pytest.mark.parametrize("location", ["town", "exact"])
def test_a_photo_inside_a_hidden_zone_has_no_place_and_no_position(location):
    from pipeline.manifest import ExifInfo, PhotoEntry

    home = {"lat": 50.0870, "lon": 14.4120, "radius_m": 200}   # ~75 m from the bridge
    inside = _described(PhotoEntry(source="bridge.jpg", status="ok", exif=ExifInfo(gps=BRIDGE)),
                        location=location, hide_near=[home])
    assert inside.place is None and inside.exif.gps is None
    castle = PhotoEntry(source="castle.jpg", status="ok", exif=ExifInfo(gps=Gps(lat=50.0911, lon=14.4016)))
    outside = _described(castle, location=location, hide_near=[home])   # ~850 m away
    assert outside.place.name == "Prague"

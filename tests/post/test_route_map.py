"""The route on the trip's map (issue 31): drawn per day in the day's colour, named for screen
readers, light whatever the track's length, and not at all with `privacy.location: none`."""

from __future__ import annotations

import math
import random
import re
from datetime import date

import numpy as np

from pipeline.config import load_settings
from pipeline.ingest.placing import route_days
from pipeline.manifest import RouteDay
from pipeline.post.map import _PALETTE, trip_map


def _privacy(**changes):
    privacy = load_settings(None).privacy
    return privacy.model_copy(update=changes)


def _drive(points: int = 100_000, seed: int = 0):
    """Two days' driving at 15 m/s, one point a second, criss-crossing the same region: the
    hardest kind of track to draw light."""
    rng, lat, lon, heading = random.Random(seed), 50.0, 14.5, 0.0
    times, lats, lons = np.arange(points, dtype=float) + 1714543200.0, np.empty(points), np.empty(points)
    times[points // 2:] += 86400 - points // 2   # the second half the next day
    for i in range(points):
        heading += rng.gauss(0, 0.05)
        if abs(lat - 50.0) > 0.3 or abs(lon - 14.5) > 0.5:
            heading += math.pi
            lat, lon = 50.0 + max(-0.3, min(0.3, lat - 50.0)), 14.5 + max(-0.5, min(0.5, lon - 14.5))
        lat += 15 * math.cos(heading) / 111_195
        lon += 15 * math.sin(heading) / (111_195 * 0.643)
        lats[i], lons[i] = lat, lon
    return times, lats, lons


def _day(when: date, *places):
    return {"date": when, "photos": [{"anchor": f"p{i}", "where": {"lat": lat, "lon": lon, "name": f"P{i}"}}
                                     for i, (lat, lon) in enumerate(places)]}


def test_a_100000_point_track_makes_a_light_map():
    route = route_days(*_drive(), clock=7200, max_gap=300, privacy=_privacy())
    assert [day.date for day in route] == ["2024-05-01", "2024-05-02"]
    trip = trip_map([_day(date(2024, 5, 1), (50.0, 14.5), (50.1, 14.6))], "town", route)
    svg = trip.file()
    assert len(svg.encode()) <= 200 * 1024
    groups = re.findall(r'<g class="track route" stroke="([^"]+)"><title>([^<]+)</title>', svg)
    assert [colour for colour, _title in groups] == list(_PALETTE[:2])
    assert all(title.startswith("Route travelled on") and title.endswith(" km") for _colour, title in groups)


def test_a_route_alone_makes_a_map_and_replaces_the_day_line():
    line = [(50.08 + i * 0.001, 14.42 + i * 0.001) for i in range(30)]
    route = [RouteDay(date="2024-05-01", km=3.2, lines=[line])]
    one_place = _day(date(2024, 5, 1), (50.09, 14.43))
    trip = trip_map([one_place], "exact", route)
    assert trip is not None and 'class="track route"' in trip.svg()
    two_places = _day(date(2024, 5, 1), (50.09, 14.43), (50.1, 14.44))
    assert 'class="day"' not in trip_map([two_places], "exact", route).svg()   # the route shows the way
    assert 'class="day"' in trip_map([two_places], "exact", []).svg()


def test_no_route_with_location_none():
    line = [(50.08 + i * 0.001, 14.42 + i * 0.001) for i in range(30)]
    assert trip_map([_day(date(2024, 5, 1), (50.09, 14.43), (50.2, 14.5))], "none",
                    [RouteDay(date="2024-05-01", km=3.2, lines=[line])]) is None
    times, lats, lons = _drive(2000)
    assert route_days(times, lats, lons, 0, 300, _privacy(location="none")) == []


def test_the_map_projects_back():
    trip = trip_map([_day(date(2024, 5, 1), (50.09, 14.43), (50.2, 14.5))], "exact")
    x, y = trip.frame.xy(50.15, 14.47)
    lat, lon = trip.frame.latlon(x, y)
    assert abs(lat - 50.15) < 1e-9 and abs(lon - 14.47) < 1e-9

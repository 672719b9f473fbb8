"""The trip's map: an SVG of the land with a mark per place, in the order visited, and a line
through each day's places. Drawn offline from the positions the manifest publishes (the town's by
default, see pipeline/privacy.py): no tiles, no network, no script.

Land outlines: Natural Earth's countries (public domain), simplified at a few levels into
land.json.gz beside this file by data/land/make_land.py; the level drawn is the coarsest whose
detail is finer than a pixel of the frame, and it is clipped to the frame, so a map stays a few
tens of KB whether it shows a city or the world.

The route: with GPS tracks in the album, each day's route as the manifest records it (privacy
already applied: pipeline/ingest/placing.py), in the day's colour, simplified again to what a
pixel of the frame shows, so a 100,000-point track is a few thousand points of SVG.

Projection: equirectangular, east-west distances scaled by the cosine of the frame's middle
latitude, so a city or a country keeps its shape and the whole world still fits. Longitudes are
unwrapped at the widest gap between the trip's places, so a trip across the Pacific (Tokyo,
Honolulu, Los Angeles) is framed across the 180th meridian, not around the rest of the world.
"""

from __future__ import annotations

import gzip
import json
import math
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from html import escape
from pathlib import Path

LAND = Path(__file__).with_name("land.json.gz")
WIDTH = 640                     # the map's width in SVG units; the page scales it to the column
PADDING = 0.14                  # of the trip's extent, on each side, so no mark sits on the edge
RATIO = (1.5, 2.1)              # width / height: a landscape that a column shows whole
MAX_LATITUDE = 84.0             # nothing to see of a trip beyond
# The smallest frame, in degrees of latitude: a town's position is ~1 km to the nearest town
# centre, so `town` maps frame at least the ~100 km around two towns; `exact` spots show a
# city walk. (One place makes no map: a dot in an empty country says less than its name.)
MIN_SPAN = {"town": 1.0, "exact": 0.01}
SIGNATURE = "<!-- dreamtrip: the trip map -->"   # how page.py knows a map.svg is its own
_PALETTE = ("#c0392b", "#1f6f8b", "#7d5ba6", "#2e8b57", "#b8860b")   # a colour per day, in turn


@dataclass
class Place:
    """A mark: a position, the photos taken there, the first of them linked."""

    number: int
    lat: float
    lon: float
    name: str
    anchor: str
    photos: int = 1
    x: float = 0.0                  # where its mark is drawn (moved off a neighbour's: _spread)
    y: float = 0.0
    at: tuple[float, float] = (0.0, 0.0)   # where the place is on the map


@dataclass
class Route:
    """A day's route as drawn: runs of points in SVG units, in the day's colour."""

    day: date
    km: float
    colour: str
    lines: list[list[tuple[float, float]]]


@dataclass
class TripMap:
    places: list[Place]
    days: list[list[int]]           # each day's places (indexes), in the order visited
    width: int
    height: int
    land: str                       # SVG path data
    scale: tuple[float, str]        # (length in SVG units, its label)
    journey: list[int] = field(default_factory=list)   # every place in the order visited
    dates: list = field(default_factory=list)          # each of `days`' date (None: undated)
    colours: list[str] = field(default_factory=list)   # each of `days`' colour
    routes: list["Route"] = field(default_factory=list)
    frame: "Frame | None" = None                       # the projection: where a position is drawn

    @property
    def description(self) -> str:
        names = list(dict.fromkeys(place.name for place in self.places))
        return "Map of the trip: " + ", ".join(names)

    def svg(self, links: bool = True) -> str:
        """The map as SVG: with `links`, each mark links to its photo's section of the page."""
        return _svg(self, links)

    def file(self) -> str:
        """The map as a file of its own (post.md shows it as an image: no links)."""
        return f"{SIGNATURE}\n{_svg(self, links=False)}"

    def names(self) -> list[dict]:
        """Each place name once, in the order first visited, with the mark it is on."""
        seen: dict[str, Place] = {}
        for place in self.places:
            seen.setdefault(place.name, place)
        return [{"number": p.number, "name": name, "anchor": p.anchor} for name, p in seen.items()]


# ---------------------------------------------------------------- places from the post


def trip_map(days: list[dict], location: str, route: list | tuple = ()) -> TripMap | None:
    """The map of the photos (the view's days of photos, in the order taken) that have a
    position, and of `route` (the manifest's RouteDay list); None when fewer than two places
    have and there is no route to draw (or `privacy.location: none`): the post names a single
    place in its day list and captions."""
    if location == "none":
        return None
    places, index_of = [], {}
    visits_by_day: list[list[int]] = []
    for day in days:
        visits: list[int] = []
        for photo in day["photos"]:
            where = photo.get("where")
            if not where or where.get("lat") is None or where.get("lon") is None:
                continue
            key = (round(where["lat"], 5), round(where["lon"], 5))
            if key in index_of:
                places[index_of[key]].photos += 1
            else:
                index_of[key] = len(places)
                places.append(Place(len(places) + 1, where["lat"], where["lon"], where["name"], photo["anchor"]))
            if not visits or visits[-1] != index_of[key]:
                visits.append(index_of[key])
        visits_by_day.append(visits if day["date"] is not None else [])
    route = [day for day in route if day.lines]
    if len(places) < 2 and not route:
        return None
    dates = [day["date"] for day in days]
    colour_of = _colours([when for when, visits in zip(dates, visits_by_day, strict=True) if visits]
                         + [date.fromisoformat(day.date) for day in route])
    trip = _drawn(places, visits_by_day, MIN_SPAN.get(location, MIN_SPAN["exact"]), route, colour_of)
    trip.dates, trip.colours = dates, [colour_of.get(when, _PALETTE[0]) for when in dates]
    return trip


def _colours(days: list[date]) -> dict[date, str]:
    """A colour per day of the trip, in turn, in the order of the days."""
    return {day: _PALETTE[i % len(_PALETTE)] for i, day in enumerate(sorted(set(days)))}


# ---------------------------------------------------------------- the frame


@dataclass(frozen=True)
class Frame:
    west: float                     # degrees, unwrapped (may pass 180)
    north: float
    k: float                        # cos(middle latitude): east-west degrees to north-south ones
    units_per_degree: float         # SVG units per degree of latitude
    height: int

    def xy(self, lat: float, lon: float) -> tuple[float, float]:
        return ((lon - self.west) * self.k * self.units_per_degree, (self.north - lat) * self.units_per_degree)

    def latlon(self, x: float, y: float) -> tuple[float, float]:
        """The position drawn at (x, y): xy's inverse (longitude in -180..180)."""
        lon = self.west + x / (self.k * self.units_per_degree)
        return self.north - y / self.units_per_degree, (lon + 180) % 360 - 180

    @property
    def east(self) -> float:
        return self.west + WIDTH / (self.k * self.units_per_degree)

    @property
    def south(self) -> float:
        return self.north - self.height / self.units_per_degree


def unwrapped(longitudes: list[float]) -> list[float]:
    """The longitudes, shifted by 360° where needed so the trip spans the shortest range: the
    widest gap between places (around the circle) is left out of the frame."""
    ordered = sorted(set(longitudes))
    gaps = [(ordered[(i + 1) % len(ordered)] - lon) % 360 for i, lon in enumerate(ordered)]
    widest = max(range(len(ordered)), key=lambda i: gaps[i])
    start = ordered[(widest + 1) % len(ordered)]
    return [lon if lon >= start else lon + 360 for lon in longitudes]


def frame(points: list[tuple[float, float]], min_span: float) -> Frame:
    """The frame around (lat, lon) points, longitudes unwrapped: padded, at least `min_span`
    degrees, of a ratio a page column shows well."""
    lats, lons = [p[0] for p in points], [p[1] for p in points]
    middle = (min(lats) + max(lats)) / 2
    k = math.cos(math.radians(max(-70.0, min(70.0, middle))))
    width = max((max(lons) - min(lons)) * k, min_span) * (1 + 2 * PADDING)
    height = max(max(lats) - min(lats), min_span / RATIO[1]) * (1 + 2 * PADDING)
    width, height = max(width, height * RATIO[0]), max(height, width / RATIO[1])
    width = min(width, 360 * k)
    # The frame stops at MAX_LATITUDE, unless a place lies beyond (an expedition's photo at the
    # pole, with `exact` positions): then it reaches past that place by the usual padding.
    top = max(MAX_LATITUDE, max(abs(lat) for lat in lats) + height * PADDING / (1 + 2 * PADDING))
    height = min(height, 2 * top)
    centre_lon = (min(lons) + max(lons)) / 2
    north = min(top, max(middle + height / 2, -top + height))
    units = WIDTH / width
    return Frame(west=centre_lon - width / (2 * k), north=north, k=k, units_per_degree=units,
                 height=max(1, round(height * units)))


def _drawn(places: list[Place], days: list[list[int]], min_span: float, route: list = (),
           colour_of: dict | None = None) -> TripMap:
    route_points = [point for day in route for line in day.lines for point in line]
    every = unwrapped([place.lon for place in places] + [lon for _lat, lon in route_points])
    lons, route_lons = every[:len(places)], every[len(places):]
    box = frame([(place.lat, lon) for place, lon in zip(places, lons, strict=True)]
                + [(lat, lon) for (lat, _lon), lon in zip(route_points, route_lons, strict=True)], min_span)
    unwrapped_lon = iter(route_lons)
    projected = [[[box.xy(lat, next(unwrapped_lon)) for lat, _lon in line] for line in day.lines] for day in route]
    detail = _ROUTE_DETAIL
    while True:   # coarser where a winding route would make the map heavy (a drive criss-crossing a region)
        drawn = [[_on_map(line, detail) for line in lines] for lines in projected]
        if sum(len(line) for lines in drawn for line in lines) <= MAX_ROUTE_POINTS:
            break
        detail *= 2
    routes = [Route(date.fromisoformat(day.date), day.km, (colour_of or {}).get(date.fromisoformat(day.date),
                                                                                 _PALETTE[0]), lines)
              for day, lines in zip(route, drawn, strict=True)]
    for place, lon in zip(places, lons, strict=False):
        place.x, place.y = place.at = box.xy(place.lat, lon)
    _spread(places, WIDTH, box.height)
    journey = [index for day in days for index in day] or list(range(len(places)))
    return TripMap(places, days, WIDTH, box.height, _land_path(box), _scale_bar(box), journey, routes=routes,
                   frame=box)


# A route is drawn to this detail (SVG units): finer than a pixel where the page shows the map;
# coarser only where it would take more than MAX_ROUTE_POINTS points (~12 bytes each in SVG).
_ROUTE_DETAIL = 0.75
MAX_ROUTE_POINTS = 8000


def _on_map(points: list[tuple[float, float]], detail: float = _ROUTE_DETAIL) -> list[tuple[float, float]]:
    """The points (SVG units) where the line enters a new cell of a `detail` grid, and its
    last: real points of the route, so nothing is drawn where the route was not."""
    kept, last_cell = [], None
    for x, y in points:
        cell = (math.floor(x / detail), math.floor(y / detail))
        if cell != last_cell:
            kept.append((x, y))
            last_cell = cell
    if points and kept[-1] != points[-1]:
        kept.append(points[-1])
    return kept


# Marks closer than this (SVG units) would cover each other's numbers where the page draws its
# map at half size (`_HALF_SIZE`: a mark's radius is 13 there): Florence and Arezzo on a map of
# Europe. Such marks are moved apart, each with a line to where its place is.
_MARKS_APART = 2 * 13 + 2


def _spread(places: list[Place], width: float, height: float, rounds: int = 60) -> None:
    """Move marks that would overlap apart, each pair half the missing distance at a time,
    within the frame; a place's own position (`at`) stays where it is."""
    for _ in range(rounds):
        moved = False
        for i, a in enumerate(places):
            for b in places[i + 1:]:
                dx, dy = b.x - a.x, b.y - a.y
                distance = math.hypot(dx, dy)
                if distance >= _MARKS_APART:
                    continue
                if distance < 1e-6:   # the same spot: side by side, in the order visited
                    dx, dy, distance = 1.0, 0.0, 1.0
                push = (_MARKS_APART - distance) / 2 + 0.01
                ux, uy = dx / distance, dy / distance
                a.x, a.y = _inside(a.x - ux * push, a.y - uy * push, width, height)
                b.x, b.y = _inside(b.x + ux * push, b.y + uy * push, width, height)
                moved = True
        if not moved:
            return


def _inside(x: float, y: float, width: float, height: float) -> tuple[float, float]:
    margin = _MARKS_APART / 2
    return min(max(x, margin), width - margin), min(max(y, margin), height - margin)


# ---------------------------------------------------------------- land


# The most a drawn outline may stray from the data, in SVG units (~10 px on a desktop): a frame
# smaller than that lets the finest level be (a city walk) is drawn without outlines, on land.
_MOST_ERROR = 8


@lru_cache(maxsize=1)
def _document() -> dict:
    return json.loads(gzip.decompress(LAND.read_bytes()))


def _tolerances() -> list[float]:
    """Each level's detail, in degrees, coarse to fine."""
    return [level["tolerance"] for level in _document()["levels"]]


@lru_cache(maxsize=None)
def _rings(level: int) -> list[tuple[list[float], list[float], tuple]]:
    """One level's rings as (lons, lats, bounding box), decoded when a map first needs them."""
    quantum = _document()["quantum"]
    rings = []
    for flat in _document()["levels"][level]["rings"]:
        lons, lats, x, y = [], [], 0, 0
        for i in range(0, len(flat), 2):
            x, y = x + flat[i], y + flat[i + 1]
            lons.append(x / quantum)
            lats.append(y / quantum)
        rings.append((lons, lats, (min(lons), min(lats), max(lons), max(lats))))
    return rings


def _land_path(box: Frame) -> str:
    degrees_per_unit = 1 / box.units_per_degree
    tolerances = _tolerances()
    if tolerances[-1] > _MOST_ERROR * degrees_per_unit:
        return ""   # a city: the coast would be drawn kilometres off, through the walk
    # The coarsest level whose detail a pixel can show; the finest when none is fine enough.
    rings = _rings(next((i for i, tolerance in enumerate(tolerances) if tolerance <= 1.5 * degrees_per_unit),
                        len(tolerances) - 1))
    margin = 4.0                    # clipped just outside the frame: the cut edges never show
    clip = (-margin, -margin, WIDTH + margin, box.height + margin)
    parts = []
    for shift in (-360.0, 0.0, 360.0):
        west, east = box.west - shift, box.east - shift
        for lons, lats, (x0, y0, x1, y1) in rings:
            if x1 < west or x0 > east or y1 < box.south or y0 > box.north:
                continue
            points = [box.xy(lat, lon + shift) for lon, lat in zip(lons, lats, strict=False)]
            parts.append(_path_data(_clipped(points, clip)))
    return "".join(parts)


def _clipped(points: list[tuple[float, float]], box: tuple[float, float, float, float]) -> list:
    """Sutherland-Hodgman: the polygon cut to the rectangle (edges along it are off-screen)."""
    x0, y0, x1, y1 = box
    edges = ((lambda p: p[0] >= x0, lambda a, b: _at_x(a, b, x0)),
             (lambda p: p[0] <= x1, lambda a, b: _at_x(a, b, x1)),
             (lambda p: p[1] >= y0, lambda a, b: _at_y(a, b, y0)),
             (lambda p: p[1] <= y1, lambda a, b: _at_y(a, b, y1)))
    for inside, cross in edges:
        if not points:
            break
        kept, previous = [], points[-1]
        for point in points:
            if inside(point):
                if not inside(previous):
                    kept.append(cross(previous, point))
                kept.append(point)
            elif inside(previous):
                kept.append(cross(previous, point))
            previous = point
        points = kept
    return points


def _at_x(a, b, x):
    t = (x - a[0]) / (b[0] - a[0])
    return x, a[1] + t * (b[1] - a[1])


def _at_y(a, b, y):
    t = (y - a[1]) / (b[1] - a[1])
    return a[0] + t * (b[0] - a[0]), y


def _path_data(points: list[tuple[float, float]]) -> str:
    """'M x y l dx dy ... z' in whole units, dropping points that round onto the one before."""
    rounded = []
    for x, y in points:
        point = (round(x), round(y))
        if not rounded or point != rounded[-1]:
            rounded.append(point)
    if len(rounded) < 3:
        return ""
    (x, y), steps = rounded[0], []
    for px, py in rounded[1:]:
        steps.append(f"{px - x} {py - y}")
        x, y = px, py
    return f"M{rounded[0][0]} {rounded[0][1]}l" + " ".join(steps) + "z"


# ---------------------------------------------------------------- scale


def _scale_bar(box: Frame) -> tuple[float, str]:
    """A round distance (1, 2 or 5 times a power of ten) about a fifth of the map's width, at the
    frame's middle latitude; (its length in SVG units, its label)."""
    km_per_unit = 111.195 / box.units_per_degree
    target = WIDTH / 5 * km_per_unit
    power = 10 ** math.floor(math.log10(target))
    km = max((step * power for step in (1, 2, 5) if step * power <= target), default=power)
    label = f"{km:g} km" if km >= 1 else f"{km * 1000:g} m"
    return km / km_per_unit, label


# ---------------------------------------------------------------- SVG

# Drawn at about half size (on the page, beside the days or on a phone; map.svg in a narrow
# column) the marks and their numbers grow, and the names give way to the numbered list under
# the map (the page's figcaption).

_STYLE = """
.trip-map-svg{display:block;width:100%;height:auto;background:#dbe7ee;font-family:system-ui,sans-serif}
.trip-map-svg .land{fill:#efe9dc;stroke:#c9bfae;stroke-width:.6;stroke-linejoin:round}
.trip-map-svg .ground{fill:#efe9dc}
.trip-map-svg .day{fill:none;stroke-width:2.6;stroke-linecap:round;stroke-linejoin:round}
.trip-map-svg .route{fill:none;stroke-width:2.2;stroke-linecap:round;stroke-linejoin:round;opacity:.9}
.trip-map-svg .between{fill:none;stroke:#6c655c;stroke-width:1.2;stroke-dasharray:2 4;stroke-linecap:round}
.trip-map-svg .mark circle{fill:#24211d;stroke:#fff;stroke-width:1.6}
.trip-map-svg .mark text{fill:#fff;font-size:9px;font-weight:700;text-anchor:middle;dominant-baseline:central}
.trip-map-svg a.mark:hover circle,.trip-map-svg a.mark:focus circle{fill:#d9730d}
.trip-map-svg .label{font-size:12px;fill:#24211d;paint-order:stroke;stroke:#fbf9f5;stroke-width:3px}
.trip-map-svg .leader line{stroke:#24211d;stroke-width:1.2}.trip-map-svg .leader circle{fill:#24211d}
.trip-map-svg .scale{stroke:#24211d;stroke-width:1.4;fill:none}
.trip-map-svg .scale-label{font-size:10px;fill:#24211d}
"""
_HALF_SIZE = """.trip-map-svg .mark circle{r:13px}.trip-map-svg .mark text{font-size:15px}
.trip-map-svg .label{display:none}.trip-map-svg .day{stroke-width:4px}
.trip-map-svg .route{stroke-width:3.4px}.trip-map-svg .scale-label{font-size:18px}"""
_MARK_RADIUS = 7.5


def _svg(trip: TripMap, links: bool) -> str:
    title = escape(trip.description)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="trip-map-svg" viewBox="0 0 {trip.width} {trip.height}" '
           f'width="{trip.width}" height="{trip.height}" role="{"group" if links else "img"}" aria-label="{title}">',
           f"<title>{title}</title>", f"<style>{_STYLE}{_half_size(links)}</style>"]
    if trip.land:
        out.append(f'<path class="land" fill-rule="evenodd" d="{trip.land}"/>')
    else:   # closer than the outlines are known: no coast, no border, just the ground
        out.append(f'<rect class="ground" width="{trip.width}" height="{trip.height}"/>')
    out += _routes(trip)
    out += _lines(trip)
    out += _leaders(trip)
    out += _labels(trip)
    out += [_mark(place, links) for place in reversed(trip.places)]   # the first on top
    out.append(_scale(trip))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _half_size(links: bool) -> str:
    """The page draws its map (the one with links) at about half size, beside the days or on a
    phone; map.svg, an image in post.md, is at half size when the image is under 600 px wide
    (a media query in an SVG image asks about the image's own width)."""
    return _HALF_SIZE if links else f"@media (max-width:600px){{{_HALF_SIZE}}}"


def _points(places: list[Place]) -> str:
    return " ".join(f"{place.x:.1f},{place.y:.1f}" for place in places)


def _lines(trip: TripMap) -> list[str]:
    """A line through each day's places, a dotted one from day to day; not where a day's route
    is drawn (it shows the way itself)."""
    routed = {route.day for route in trip.routes}
    lines, previous_end, previous_routed = [], None, False
    for number, day in enumerate(trip.days):
        if not day:
            continue
        has_route = bool(trip.dates) and trip.dates[number] in routed
        colour = trip.colours[number] if trip.colours else _PALETTE[0]
        if previous_end is not None and previous_end != day[0] and not (has_route or previous_routed):
            between = _points([trip.places[previous_end], trip.places[day[0]]])
            lines.append(f'<polyline class="between" points="{between}"/>')
        if len(day) > 1 and not has_route:
            lines.append(f'<polyline class="day" stroke="{colour}" points="{_points([trip.places[i] for i in day])}"/>')
        previous_end, previous_routed = day[-1], has_route
    return lines


def _routes(trip: TripMap) -> list[str]:
    """Each day's route, in its colour, named for screen readers (and styles: class "route")."""
    drawn = []
    for route in trip.routes:
        runs = "".join(f'<polyline points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in line)}"/>'
                       for line in route.lines if len(line) > 1)
        if runs:
            title = escape(f"Route travelled on {route.day.day} {route.day.strftime('%B %Y')}: {route.km:g} km")
            drawn.append(f'<g class="track route" stroke="{route.colour}"><title>{title}</title>{runs}</g>')
    return drawn


def _leaders(trip: TripMap) -> list[str]:
    """A mark moved off its neighbour points at its place: a thin line to a dot there."""
    leaders = []
    for place in trip.places:
        (x, y), moved = place.at, math.hypot(place.x - place.at[0], place.y - place.at[1])
        if moved > 1:
            leaders.append(f'<g class="leader"><line x1="{x:.1f}" y1="{y:.1f}" x2="{place.x:.1f}" '
                           f'y2="{place.y:.1f}"/><circle cx="{x:.1f}" cy="{y:.1f}" r="2.5"/></g>')
    return leaders


def _mark(place: Place, links: bool) -> str:
    photos = f"{place.photos} photos" if place.photos > 1 else "1 photo"
    title = escape(f"{place.number}. {place.name} ({photos})")
    body = (f'<title>{title}</title><circle cx="{place.x:.1f}" cy="{place.y:.1f}" r="{_MARK_RADIUS}"/>'
            f'<text x="{place.x:.1f}" y="{place.y:.1f}">{place.number}</text>')
    if links:
        return f'<a class="mark" href="#{escape(place.anchor)}" aria-label="{title}">{body}</a>'
    return f'<g class="mark">{body}</g>'


def _labels(trip: TripMap) -> list[str]:
    """Each place's name once, beside its first mark, where it overlaps no label, mark or route."""
    taken = [(p.x - _MARK_RADIUS, p.y - _MARK_RADIUS, p.x + _MARK_RADIUS, p.y + _MARK_RADIUS) for p in trip.places]
    route = {(math.floor(x / _CELL), math.floor(y / _CELL))   # nor over the route: the cells it passes
             for drawn in trip.routes for line in drawn.lines for x, y in line}
    labels, named = [], set()
    for place in trip.places:
        name = place.name.split(",")[0]
        if name in named:
            continue
        width, height = 6.6 * len(name) + 4, 14
        gap = _MARK_RADIUS + 3
        # Right of the mark, left of it, above, below: the first place that is free.
        for x0, y0, x, y, anchor in ((place.x + gap, place.y - 7, place.x + gap, place.y + 4, "start"),
                                     (place.x - gap - width, place.y - 7, place.x - gap, place.y + 4, "end"),
                                     (place.x - width / 2, place.y - gap - height, place.x, place.y - gap - 3,
                                      "middle"),
                                     (place.x - width / 2, place.y + gap, place.x, place.y + gap + 11, "middle")):
            box = (x0, y0, x0 + width, y0 + height)
            if 0 <= box[0] and box[2] <= trip.width and 0 <= box[1] and box[3] <= trip.height \
                    and not any(_overlap(box, other) for other in taken) and not _crosses(box, route):
                labels.append(f'<text class="label" x="{x:.1f}" y="{y:.1f}" '
                              f'text-anchor="{anchor}">{escape(name)}</text>')
                taken.append(box)
                named.add(name)
                break
    return labels


_CELL = 4.0   # SVG units: how finely a label's box is checked against the route


def _crosses(box, cells: set) -> bool:
    """Whether the box covers a cell the route passes through."""
    if not cells:
        return False
    return any((cx, cy) in cells for cx in range(math.floor(box[0] / _CELL), math.floor(box[2] / _CELL) + 1)
               for cy in range(math.floor(box[1] / _CELL), math.floor(box[3] / _CELL) + 1))


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _scale(trip: TripMap) -> str:
    length, label = trip.scale
    x, y = 12, trip.height - 12
    return (f'<g aria-hidden="true"><path class="scale" d="M{x} {y - 5}v5h{length:.1f}v-5"/>'
            f'<text class="scale-label" x="{x}" y="{y - 8}">{escape(label)}</text></g>')

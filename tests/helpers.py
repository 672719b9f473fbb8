"""Shared test helpers: tiny images and EXIF made with Pillow (no fixtures, plain functions).

Imported as `from helpers import ...`: tests/ has no __init__.py, so pytest's default
("prepend") import mode puts tests/ on sys.path for every test module in it.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import numpy as np
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

# EXIF tag numbers (as in data/make_sample_album.py)
MAKE, MODEL, ORIENTATION, DATETIME = 0x010F, 0x0110, 0x0112, 0x0132
EXIF_IFD, GPS_IFD = 0x8769, 0x8825
DATETIME_ORIGINAL = 0x9003
GPS_VERSION, GPS_LAT_REF, GPS_LAT, GPS_LON_REF, GPS_LON = 0x0000, 0x0001, 0x0002, 0x0003, 0x0004

# images.max_megapixels of pipeline/default.yaml (100), in pixels, as the flow passes it to ingest.
MAX_PIXELS = 100_000_000

# An upright test picture: four coloured quadrants, so every rotation and flip looks different.
TOP_LEFT, TOP_RIGHT = (255, 0, 0), (0, 255, 0)          # red, green
BOTTOM_LEFT, BOTTOM_RIGHT = (0, 0, 255), (255, 255, 0)  # blue, yellow


def quadrant_array(width: int = 64, height: int = 48) -> np.ndarray:
    """HxWx3 uint8: red top-left, green top-right, blue bottom-left, yellow bottom-right."""
    array = np.zeros((height, width, 3), dtype=np.uint8)
    h2, w2 = height // 2, width // 2
    array[:h2, :w2], array[:h2, w2:] = TOP_LEFT, TOP_RIGHT
    array[h2:, :w2], array[h2:, w2:] = BOTTOM_LEFT, BOTTOM_RIGHT
    return array


def quadrant_image(width: int = 64, height: int = 48) -> Image.Image:
    return Image.fromarray(quadrant_array(width, height))


def stored_as_camera(upright: np.ndarray, orientation: int) -> np.ndarray:
    """The pixels a camera stores for an `upright` scene with EXIF `orientation`.

    Written from the EXIF 2.3 definition of each value (where the stored 0th row and 0th
    column lie in the upright picture), independently of pipeline.imaging's table:
      1 row0=top col0=left     2 row0=top col0=right    3 row0=bottom col0=right
      4 row0=bottom col0=left  5 row0=left col0=top     6 row0=right col0=top
      7 row0=right col0=bottom 8 row0=left col0=bottom
    """
    transposed = upright.transpose(1, 0, 2)  # stored[r, c] = upright[c, r]: row0=left, col0=top
    stored = {
        1: upright,
        2: upright[:, ::-1],
        3: upright[::-1, ::-1],
        4: upright[::-1, :],
        5: transposed,
        6: transposed[::-1, :],
        7: transposed[::-1, ::-1],
        8: transposed[:, ::-1],
    }[orientation]
    return np.ascontiguousarray(stored)


def dms(degrees: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    """Decimal degrees -> (degrees, minutes, seconds) EXIF rationals, seconds to 1/100."""
    centiseconds = round(abs(degrees) * 360000)
    d, rest = divmod(centiseconds, 360000)
    m, cs = divmod(rest, 6000)
    return IFDRational(d, 1), IFDRational(m, 1), IFDRational(cs, 100)


def make_exif(make: str | None = None, model: str | None = None, orientation: int | None = None,
              date_original: str | None = None, date_time: str | None = None,
              gps: tuple[float, float] | None = None, gps_raw: dict | None = None) -> Image.Exif:
    """An Image.Exif with only the fields given. `gps` is (lat, lon) in signed decimal degrees;
    `gps_raw` is a GPS IFD dict written as it is (for broken values)."""
    exif = Image.Exif()
    if make is not None:
        exif[MAKE] = make
    if model is not None:
        exif[MODEL] = model
    if orientation is not None:
        exif[ORIENTATION] = orientation
    if date_time is not None:
        exif[DATETIME] = date_time
    if date_original is not None:
        exif[EXIF_IFD] = {DATETIME_ORIGINAL: date_original}
    if gps is not None:
        lat, lon = gps
        exif[GPS_IFD] = {
            GPS_VERSION: b"\x02\x02\x00\x00",
            GPS_LAT_REF: "N" if lat >= 0 else "S",
            GPS_LAT: dms(lat),
            GPS_LON_REF: "E" if lon >= 0 else "W",
            GPS_LON: dms(lon),
        }
    if gps_raw is not None:
        exif[GPS_IFD] = gps_raw
    return exif


def write_jpeg(path: Path, image: Image.Image | None = None, exif: Image.Exif | None = None,
               quality: int = 92) -> Path:
    """Save `image` (default: a 64x48 quadrant picture) as a JPEG, with `exif` if given."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = quadrant_image() if image is None else image
    options = {"quality": quality}
    if exif is not None:
        options["exif"] = exif
    image.save(path, "JPEG", **options)
    return path


def noisy_image(width: int = 96, height: int = 64, seed: int = 0) -> Image.Image:
    """Random pixels: a JPEG of it is mostly scan data, so cutting it short truncates pixels."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def close_to(pixel, colour, tolerance: int = 40) -> bool:
    """A JPEG-decoded pixel is near `colour` (JPEG shifts solid colours a little)."""
    return all(abs(int(a) - int(b)) <= tolerance for a, b in zip(pixel, colour))


@contextlib.contextmanager
def locked_by_another_run(out_dir: Path):
    """The output folder's lock held for the block by another thread, as another run's process
    would hold it (within one thread the lock is reentrant)."""
    from pipeline.output.lock import output_lock

    held, release = threading.Event(), threading.Event()

    def another_run():
        with output_lock(out_dir):
            held.set()
            release.wait(60)

    holder = threading.Thread(target=another_run)
    holder.start()
    held.wait(60)
    try:
        yield
    finally:
        release.set()
        holder.join()


def open_upright_rgb(path: Path, orientation: int = 1, max_pixels: int | None = None) -> Image.Image:
    """The photo at `path` decoded at full size, upright, as 8-bit sRGB: what ingest does, in one call."""
    from pipeline.imaging import decode_upright_rgb, open_photo

    with open_photo(path, max_pixels) as image:
        return decode_upright_rgb(image, orientation)

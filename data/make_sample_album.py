"""Regenerate data/sample-album/*.jpg from photos shipped inside the scikit-image wheel.

The photos are real (see data/README.md for their sources and licences), but the EXIF
written here -- camera, dates, GPS positions and orientation -- is invented, so that the
pipeline has a believable "three days in Prague" album to sort, place and rotate.

Run it with any Python that has scikit-image and Pillow installed:

    python3 -m venv /tmp/albumtool
    /tmp/albumtool/bin/pip install scikit-image pillow
    /tmp/albumtool/bin/python data/make_sample_album.py

It only writes the four JPEGs; album.yaml next to them is written by hand.
The output is deterministic: rerunning it reproduces the same bytes.
"""

from pathlib import Path

import skimage
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"
ALBUM = Path(__file__).resolve().parent / "sample-album"

CANON = ("Canon", "Canon EOS 5D Mark III")
PHONE = ("Apple", "iPhone 6s")

# EXIF tag numbers
MAKE, MODEL, ORIENTATION, DATETIME = 0x010F, 0x0110, 0x0112, 0x0132
EXIF_IFD, GPS_IFD = 0x8769, 0x8825
DATETIME_ORIGINAL = 0x9003
GPS_VERSION, GPS_LAT_REF, GPS_LAT, GPS_LON_REF, GPS_LON = 0x0000, 0x0001, 0x0002, 0x0003, 0x0004

# (album file name, scikit-image file, camera, "YYYY:MM:DD HH:MM:SS", (lat, lon), rotate?)
# rotate=True stores the pixels turned 90 degrees counter-clockwise and sets
# Orientation=6, so a viewer must turn the picture 90 degrees clockwise to show it upright.
PHOTOS = [
    ("01-charles-bridge-espresso.jpg", "coffee.png", PHONE,
     "2016:06:13 09:17:42", (50.0865, 14.4114), False),   # Charles Bridge
    ("02-old-town-cat-cafe.jpg", "chelsea.png", CANON,
     "2016:06:13 16:31:08", (50.0875, 14.4213), False),   # Old Town Square
    ("03-castle-astronaut-exhibition.jpg", "astronaut.png", CANON,
     "2016:06:14 11:05:23", (50.0911, 14.4016), False),   # Prague Castle
    ("04-technical-museum-rocket.jpg", "rocket.jpg", CANON,
     "2016:06:15 14:48:56", (50.0975, 14.4253), True),    # National Technical Museum, Letna
]


def dms(degrees: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    """Decimal degrees -> (degrees, minutes, seconds) as EXIF rationals, seconds to 1/100."""
    centiseconds = round(abs(degrees) * 360000)          # 1 degree = 3600 s = 360000 cs
    d, rest = divmod(centiseconds, 360000)
    m, cs = divmod(rest, 6000)
    return IFDRational(d, 1), IFDRational(m, 1), IFDRational(cs, 100)


def make_exif(camera, taken, lat, lon, orientation) -> Image.Exif:
    exif = Image.Exif()
    exif[MAKE], exif[MODEL] = camera
    exif[ORIENTATION] = orientation
    exif[DATETIME] = taken
    exif[EXIF_IFD] = {DATETIME_ORIGINAL: taken}
    exif[GPS_IFD] = {
        GPS_VERSION: b"\x02\x02\x00\x00",
        GPS_LAT_REF: "N" if lat >= 0 else "S",
        GPS_LAT: dms(lat),
        GPS_LON_REF: "E" if lon >= 0 else "W",
        GPS_LON: dms(lon),
    }
    return exif


def main() -> None:
    ALBUM.mkdir(parents=True, exist_ok=True)
    for name, source, camera, taken, (lat, lon), rotate in PHOTOS:
        img = Image.open(SKIMAGE_DATA / source).convert("RGB")
        if rotate:
            img = img.transpose(Image.Transpose.ROTATE_90)  # counter-clockwise
        exif = make_exif(camera, taken, lat, lon, orientation=6 if rotate else 1)
        out = ALBUM / name
        img.save(out, "JPEG", quality=90, exif=exif)
        print(f"{out.relative_to(ALBUM.parent.parent)}  {img.size[0]}x{img.size[1]}  "
              f"{out.stat().st_size // 1024} KiB  {camera[1]}  {taken}")


if __name__ == "__main__":
    main()

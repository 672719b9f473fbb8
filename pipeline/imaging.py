"""Pixels: open a photo with Pillow, turn it upright, make it RGB, resize it.

Errors that come from the file itself (empty, truncated, not an image) are raised as
PhotoError, which means "this photo is bad; retrying will not help".
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, UnidentifiedImageError

# EXIF orientation -> the Pillow operation that shows the stored pixels upright.
_ORIENTATION_OPS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class PhotoError(Exception):
    """The photo file itself is unusable (the message says why). Not worth retrying."""


def open_upright_rgb(path: Path, orientation: int = 1) -> Image.Image:
    """Decode the photo at `path`, apply its EXIF orientation and return it as 8-bit RGB."""
    if Path(path).stat().st_size == 0:
        raise PhotoError("empty file (0 bytes)")
    try:
        with Image.open(path) as image:
            image.load()
            upright = apply_orientation(image, orientation)
            return to_rgb(upright)
    except UnidentifiedImageError:
        raise PhotoError("not an image Pillow can read (unknown or corrupt format)") from None
    except Image.DecompressionBombError as err:
        raise PhotoError(f"refused: too many pixels ({err})") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise PhotoError(f"corrupt or truncated image data ({err})") from None


def apply_orientation(image: Image.Image, orientation: int) -> Image.Image:
    op = _ORIENTATION_OPS.get(orientation)
    return image.transpose(op) if op is not None else image


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB, with any transparency composited on white (a transparent PNG is not black)."""
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        image = image.point(lambda v: v / 256).convert("L")  # 16-bit -> 8-bit grey
    return image.convert("RGB")


def fit_long_side(image: Image.Image, long_side: int) -> Image.Image:
    """A copy whose longer side is at most `long_side` px (never enlarged)."""
    scale = long_side / max(image.size)
    if scale >= 1:
        return image.copy()
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file, from its header: the pixels are not decoded."""
    with Image.open(path) as image:
        return image.size

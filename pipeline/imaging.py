"""Pixels: open a photo safely, decode it upright as 8-bit sRGB, resize it.

Errors that come from the file itself (empty, truncated, not an image, too many pixels) are raised
as PhotoError, which means "this photo is bad; retrying will not help".
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

from pipeline.formats import HEAD_BYTES, PHOTO, sniff, sniff_file

if TYPE_CHECKING:  # not at run time: records and store build on this module's neighbours
    from pipeline.output.records import FileRecord
    from pipeline.output.store import WebFormats

log = logging.getLogger(__name__)

try:  # HEIC/HEIF, as phones write them; a bare GPU machine may lack it (then HEIC is refused)
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:
    pillow_heif = None

# The formats Pillow may open as a photo. It knows many more (EPS even runs Ghostscript); an
# album needs these, and every format left out is attack surface left out. (A camera's
# multi-picture JPEG opens through "JPEG" and reports itself as "MPO".)
PHOTO_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "TIFF", "HEIF", "BMP")

# open_photo checks each photo against images.max_megapixels itself, before decoding. Pillow's own
# global limit (a warning at 89 MP, an error at 179 MP) would overrule that setting, so it is off.
Image.MAX_IMAGE_PIXELS = None

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

_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


class PhotoError(Exception):
    """The photo file itself is unusable (the message says why). Not worth retrying."""


# ---- opening: header only, with every refusal made before a pixel is decoded ----

@contextlib.contextmanager
def open_photo(path: Path, max_pixels: int | None = None, data: bytes | None = None) -> Iterator[Image.Image]:
    """Open the photo at `path` lazily: format, size and metadata are read, pixels are not.
    With `data` (the file's bytes, read once and hashed), those are opened and the file is not
    read again.

    Refuses (PhotoError) an empty file, a file that is not in one of PHOTO_FORMATS, and one that
    claims more than `max_pixels` pixels (a decompression bomb is a few KB claiming gigapixels).
    Whoever decodes a user's photo passes `images.max_pixels`; None (no limit) is for headers.
    """
    path = Path(path)
    if (len(data) if data is not None else path.stat().st_size) == 0:
        raise PhotoError("empty file (0 bytes)")
    try:
        image = Image.open(io.BytesIO(data) if data is not None else path, formats=PHOTO_FORMATS)
    except UnidentifiedImageError:
        raise PhotoError(_unidentified_reason(_sniffed(path, data))) from None
    except MemoryError:
        raise
    except Exception as err:  # a plugin choking on a hostile header: the file's fault
        raise PhotoError(_broken(_sniffed(path, data).name, "header", err)) from None
    with image:
        _check_pixel_count(image, max_pixels)
        yield image


def _sniffed(path: Path, data: bytes | None):
    """What the file is by its first bytes (for saying why it cannot be opened)."""
    return sniff(data[:HEAD_BYTES]) if data is not None else sniff_file(path)


def _unidentified_reason(sniffed) -> str:
    if sniffed.kind == PHOTO:
        return (f"corrupt or truncated {sniffed.name} header: the file starts like {sniffed.name} "
                f"but cannot be read")
    return f"not an image: its content is {sniffed.name}, whatever its name says"


def _check_pixel_count(image: Image.Image, max_pixels: int | None) -> None:
    width, height = image.size
    if max_pixels is not None and width * height > max_pixels:
        raise PhotoError(
            f"refused: {width} x {height} px ({width * height / 1e6:,.0f} MP) is over the limit of "
            f"{max_pixels / 1e6:,.0f} MP (images.max_megapixels); not decoded")


# ---- decoding ----

def decode_upright_rgb(image: Image.Image, orientation: int = 1,
                       long_side: int | None = None) -> Image.Image:
    """The opened photo's first frame, upright, as 8-bit sRGB.

    With `long_side`, the result is at most that long (never enlarged), and a JPEG is decoded at
    1/2, 1/4 or 1/8 scale when that still gives at least `long_side` px: much less work and memory
    than decoding 12 MP to throw most of it away.
    """
    if long_side is not None:
        _request_reduced_decode(image, long_side)
    _load(image)
    pixels = to_8bit(image)
    if long_side is not None:
        pixels = fit_long_side(pixels, long_side)  # before orienting and colour work: fewer pixels
    rgb = to_srgb(pixels, image.info.get("icc_profile"))
    return rgb if _oriented_by_decoder(image) else apply_orientation(rgb, orientation)


def _oriented_by_decoder(image: Image.Image) -> bool:
    """Whether decoding has already turned the pixels upright, so that the EXIF orientation must
    not be applied again. HEIF keeps rotation and mirror in its own boxes (irot, imir), which
    libheif applies. Pillow's TIFF loader applies the orientation tag, then deletes it."""
    if image.format == "HEIF":
        return True
    return image.format == "TIFF" and 0x0112 not in getattr(image, "tag_v2", {})


def _request_reduced_decode(image: Image.Image, long_side: int) -> None:
    """JPEG draft mode: libjpeg scales while decoding. Asks for the photo's own aspect ratio so
    that the decoded long side stays at least `long_side`."""
    longest = max(image.size)
    if image.format in ("JPEG", "MPO") and long_side < longest:
        # rounded up, so that libjpeg never picks a scale that leaves a side short
        image.draft(None, tuple(-(-side * long_side // longest) for side in image.size))


def _load(image: Image.Image) -> None:
    try:
        image.load()
    except MemoryError:
        raise  # not the file's fault: may pass, so it must stay retryable
    except Exception as err:  # decoders raise many kinds on hostile data; all mean a bad file
        raise PhotoError(_broken(image.format, "image data", err)) from None


def _broken(fmt: str, part: str, err: Exception) -> str:
    message = str(err) or type(err).__name__
    if "truncated" in message.lower():
        return f"truncated {fmt}: the file ends before its {part} does ({message})"
    return f"corrupt {fmt} {part} ({message})"


# ---- modes and colour ----

def to_8bit(image: Image.Image) -> Image.Image:
    """One of RGB, RGBA, L, LA or CMYK, 8 bits per channel; alpha and colour are dealt with later."""
    mode = image.mode
    if mode in ("RGB", "L") and "transparency" in image.info:  # one colour marked transparent
        return image.convert("RGBA" if mode == "RGB" else "LA")
    if mode in ("RGB", "RGBA", "L", "LA", "CMYK"):
        return image
    if mode.startswith("I;16") or mode == "I":
        # 16-bit grey: keep the high byte (Pillow's own convert("L") clips at 255 instead).
        values = np.asarray(image).astype(np.uint32) >> 8
        return Image.fromarray(np.clip(values, 0, 255).astype(np.uint8), "L")
    if mode == "F":
        values = np.nan_to_num(np.asarray(image, dtype=np.float32))
        top = 1.0 if values.size and values.max() <= 1.0 else 255.0  # 0..1 floats or 0..255
        return Image.fromarray(np.clip(values * (255.0 / top), 0, 255).astype(np.uint8), "L")
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info
        return image.convert("RGBA" if has_alpha else "RGB")
    if mode in ("RGBa", "RGBX"):
        return image.convert("RGBA" if mode == "RGBa" else "RGB")
    if mode == "La":
        return image.convert("LA")
    return image.convert("RGB")  # 1, YCbCr, LAB, HSV


def to_srgb(image: Image.Image, icc_profile: bytes | None = None) -> Image.Image:
    """RGB in sRGB from an image that to_8bit made: alpha composited on white (a transparent PNG
    is not black), then colours converted from `icc_profile` when it is not sRGB already."""
    if image.mode in ("RGBA", "LA"):
        base = "RGB" if image.mode == "RGBA" else "L"  # keep grey grey for its colour profile
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image.convert("RGBA")).convert(base)
    if icc_profile and _needs_conversion(image, icc_profile):
        converted = _convert_profile(image, icc_profile)
        if converted is not None:
            return converted
    return image if image.mode == "RGB" else image.convert("RGB")


def _needs_conversion(image: Image.Image, icc_profile: bytes) -> bool:
    if image.mode == "CMYK":
        return True  # ink values: the profile is the only way to the right colours
    if image.mode == "L":
        return False  # a grey profile shifts only the tone curve, hardly visible
    return "srgb" not in _profile_name(icc_profile).lower()


def _profile_name(icc_profile: bytes) -> str:
    try:
        return ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc_profile)))
    except (ImageCms.PyCMSError, OSError, TypeError, ValueError):
        return ""


def _convert_profile(image: Image.Image, icc_profile: bytes) -> Image.Image | None:
    """`image` converted to sRGB through its embedded profile; None if the profile is unusable."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        return ImageCms.profileToProfile(image, source, _SRGB, outputMode="RGB",
                                         renderingIntent=ImageCms.Intent.PERCEPTUAL)
    except (ImageCms.PyCMSError, OSError, TypeError, ValueError) as err:
        log.warning("embedded colour profile unusable, colours converted without it (%s)", err)
        return None


# ---- geometry ----

def apply_orientation(image: Image.Image, orientation: int) -> Image.Image:
    op = _ORIENTATION_OPS.get(orientation)
    return image.transpose(op) if op is not None else image


def fitted_size(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """(width, height) of `size` shrunk to a long side of at most `long_side` (never enlarged)."""
    width, height = size
    scale = long_side / max(width, height)
    if scale >= 1:
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))


def fit_long_side(image: Image.Image, long_side: int) -> Image.Image:
    """A copy whose longer side is at most `long_side` px (never enlarged)."""
    size = fitted_size(image.size, long_side)
    if size == image.size:
        return image.copy()
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def upright_size(image: Image.Image, orientation: int) -> tuple[int, int]:
    """(width, height) of the opened photo once upright, from its header alone. HEIF and TIFF
    already report the upright size (Pillow's TIFF loader swaps it on open, then turns the
    pixels when they load)."""
    turned = orientation in (5, 6, 7, 8) and image.format not in ("HEIF", "TIFF")
    return image.size[::-1] if turned else image.size


def write_copies(image: Image.Image, files: dict[int, list[str]], folder: "FileRecord", formats: "WebFormats") -> None:
    """Save `image` at each long side in `files` as each of that side's files in `folder`, in
    the format its name says. Largest first, each size resized from the one before: less work,
    and a size's JPEG and its twins hold the same pixels, whichever of them is missing."""
    sides = sorted(files, reverse=True)
    while sides and not files[sides[-1]]:
        sides.pop()  # nothing to write at the smallest sizes: no need to make them
    for side in sides:
        image = fit_long_side(image, side)
        for name in files[side]:
            folder.save_image(image, name, **formats.save_options(name))

"""Pixels: photos come out upright and RGB whatever the camera stored; bad files say why."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from helpers import (BOTTOM_LEFT, BOTTOM_RIGHT, TOP_LEFT, TOP_RIGHT, close_to, make_exif, noisy_image,
                     open_upright_rgb, quadrant_array, quadrant_image, stored_as_camera, write_jpeg)
from pipeline.ingest.exif import read_exif
from photo_files import exif_block
from pipeline.imaging import PhotoError, decode_upright_rgb, fit_long_side, fitted_size, open_photo, upright_size


def _corners(image: Image.Image) -> tuple:
    w, h = image.size
    return tuple(image.getpixel(xy) for xy in [(2, 2), (w - 3, 2), (2, h - 3), (w - 3, h - 3)])


UPRIGHT_CORNERS = (TOP_LEFT, TOP_RIGHT, BOTTOM_LEFT, BOTTOM_RIGHT)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_comes_out_upright(tmp_path, orientation):
    upright = quadrant_array(64, 48)
    stored = stored_as_camera(upright, orientation)
    if orientation >= 5:
        assert stored.shape[:2] == (64, 48)  # the camera stored it on its side
    path = tmp_path / f"o{orientation}.png"  # PNG: lossless, so pixels compare exactly
    Image.fromarray(stored).save(path)

    result = open_upright_rgb(path, orientation)

    assert result.mode == "RGB"
    assert result.size == (64, 48)
    assert _corners(result) == UPRIGHT_CORNERS
    assert np.array_equal(np.asarray(result), upright)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_jpeg_with_exif_orientation_end_to_end(tmp_path, orientation):
    """What a phone writes: turned pixels plus the tag; read_exif + open_upright_rgb undo it."""
    stored = Image.fromarray(stored_as_camera(quadrant_array(96, 64), orientation))
    path = write_jpeg(tmp_path / "phone.jpg", stored, make_exif("Apple", "iPhone 6s", orientation=orientation))

    result = open_upright_rgb(path, read_exif(path).orientation)

    assert result.size == (96, 64)
    for pixel, colour in zip(_corners(result), UPRIGHT_CORNERS):
        assert close_to(pixel, colour), (pixel, colour)


def test_orientation_1_or_unknown_leaves_pixels_alone(tmp_path):
    path = tmp_path / "a.png"
    quadrant_image(64, 48).save(path)
    for orientation in (1, 0, 9):
        assert np.array_equal(np.asarray(open_upright_rgb(path, orientation)), quadrant_array(64, 48))


def test_greyscale_becomes_rgb(tmp_path):
    grey = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (48, 1))  # 64 wide ramp
    path = tmp_path / "grey.jpg"
    Image.fromarray(grey, "L").save(path, quality=95)
    result = open_upright_rgb(path)
    assert result.mode == "RGB" and result.size == (64, 48)
    array = np.asarray(result).astype(int)
    assert np.array_equal(array[..., 0], array[..., 1]) and np.array_equal(array[..., 1], array[..., 2])
    assert abs(array[10, 60, 0] - 240) <= 6 and array[10, 2, 0] <= 12


def test_16_bit_greyscale_becomes_8_bit_rgb(tmp_path):
    ramp = (np.arange(64, dtype=np.uint16) * 1024)[None, :].repeat(48, axis=0)  # 0 .. 64512
    path = tmp_path / "scan.png"
    Image.fromarray(ramp).save(path)
    result = open_upright_rgb(path)
    assert result.mode == "RGB"
    assert result.getpixel((0, 0)) == (0, 0, 0)
    assert result.getpixel((63, 0))[0] >= 250  # bright stays bright, not clipped to white everywhere
    assert result.getpixel((32, 0))[0] in range(126, 131)


def test_transparent_png_is_composited_on_white(tmp_path):
    rgba = np.zeros((48, 64, 4), dtype=np.uint8)
    rgba[:, :32] = (200, 30, 30, 255)   # opaque red on the left
    rgba[:, 32:] = (0, 0, 0, 0)         # fully transparent (black underneath) on the right
    path = tmp_path / "logo.png"
    Image.fromarray(rgba, "RGBA").save(path)
    result = open_upright_rgb(path)
    assert result.mode == "RGB"
    assert result.getpixel((5, 5)) == (200, 30, 30)
    assert result.getpixel((60, 40)) == (255, 255, 255)


def test_palette_png_with_transparency_is_composited_on_white(tmp_path):
    image = Image.new("P", (64, 48), 0)
    image.putpalette([0, 0, 0, 10, 120, 10] + [0] * 762)
    image.paste(1, (0, 0, 32, 48))
    path = tmp_path / "gif-like.png"
    image.save(path, transparency=0)
    result = open_upright_rgb(path)
    assert result.getpixel((5, 5)) == (10, 120, 10)
    assert result.getpixel((60, 5)) == (255, 255, 255)


def test_empty_file_is_a_photo_error(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(PhotoError, match="empty"):
        open_upright_rgb(path)


def test_text_file_named_jpg_is_a_photo_error(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("Day 2: remember to buy postcards.\n")
    with pytest.raises(PhotoError, match="not an image"):
        open_upright_rgb(path)


@pytest.mark.parametrize("keep", [0.6, 0.2])
def test_truncated_jpeg_is_a_photo_error(tmp_path, keep):
    whole = write_jpeg(tmp_path / "whole.jpg", noisy_image(96, 64))
    data = whole.read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(PhotoError, match="(?i)truncated|corrupt"):
        open_upright_rgb(cut)


@pytest.mark.parametrize("size, long_side, expected", [
    ((64, 48), 32, (32, 24)),
    ((48, 64), 32, (24, 32)),
    ((64, 48), 64, (64, 48)),
    ((64, 48), 1000, (64, 48)),   # never enlarged
    ((100, 3), 10, (10, 1)),      # never zero px
])
def test_fit_long_side(size, long_side, expected):
    image = Image.new("RGB", size, (10, 20, 30))
    result = fit_long_side(image, long_side)
    assert result.size == expected
    assert result is not image  # a copy: changing it never changes the original
    assert result.getpixel((0, 0)) == (10, 20, 30)


@pytest.mark.parametrize("size, long_side, expected", [
    ((4000, 3000), 1024, (1024, 768)),
    ((3000, 4000), 1024, (768, 1024)),
    ((100, 68), 480, (100, 68)),   # never enlarged
    ((100, 68), 100, (100, 68)),
    ((100, 3), 10, (10, 1)),       # never zero px
])
def test_fitted_size_is_fit_long_side_without_pixels(size, long_side, expected):
    assert fitted_size(size, long_side) == expected
    assert fit_long_side(Image.new("RGB", size), long_side).size == expected


# ---------------------------------------------------------------- upright size from the header

def _stored_photo(tmp_path, orientation: int, fmt: str = "JPEG", name: str = "phone.jpg"):
    """A 96x64 (upright) quadrant picture stored as a camera holding it that way stores it."""
    stored = Image.fromarray(stored_as_camera(quadrant_array(96, 64), orientation))
    path = tmp_path / name
    stored.save(path, fmt, exif=exif_block(Orientation=orientation), quality=95)
    return path


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_upright_size_turns_a_sideways_header(tmp_path, orientation):
    path = _stored_photo(tmp_path, orientation)
    with open_photo(path) as image:
        assert image.size == ((64, 96) if orientation in (6, 8) else (96, 64))  # as stored
        assert upright_size(image, orientation) == (96, 64)
        assert image._im is None  # from the header: nothing decoded
    assert open_upright_rgb(path, orientation).size == (96, 64)  # what decoding gives agrees


@pytest.mark.parametrize("orientation", [5, 6, 7, 8])
def test_upright_size_with_a_decoder_that_turns_the_pixels_itself(tmp_path, orientation):
    """HEIF: libheif applies the rotation while decoding and pillow-heif reports the upright size
    already, so the EXIF orientation must not turn it a second time."""
    path = _stored_photo(tmp_path, orientation, "HEIF", "phone.heic")
    with open_photo(path) as image:
        assert image.size == (96, 64)  # upright already
        assert upright_size(image, orientation) == (96, 64)
        assert decode_upright_rgb(image, orientation).size == (96, 64)


@pytest.mark.parametrize("orientation", [1, 6, 8])
def test_upright_size_of_a_tiff(tmp_path, orientation):
    """Pillow turns a TIFF upright itself: its size is upright from the header on, and so must
    the photo's recorded size be (the manifest's width/height and its web copies' sizes)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "scan.tif"
    Image.fromarray(stored_as_camera(quadrant_array(96, 64), orientation)).save(path, "TIFF", exif=exif)
    with open_photo(path) as image:
        assert upright_size(image, orientation) == (96, 64)
        assert decode_upright_rgb(image, orientation).size == (96, 64)


def test_no_pixel_limit_for_header_reads(tmp_path):
    path = write_jpeg(tmp_path / "a.jpg", quadrant_image(400, 300))
    with open_photo(path) as image:  # max_pixels None: no limit
        assert image.size == (400, 300)
    with pytest.raises(PhotoError, match="over the limit"):
        with open_photo(path, 100_000):
            pass

"""Pixels: photos come out upright and RGB whatever the camera stored; bad files say why."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from helpers import (BOTTOM_LEFT, BOTTOM_RIGHT, TOP_LEFT, TOP_RIGHT, close_to, make_exif, noisy_image,
                     quadrant_array, quadrant_image, stored_as_camera, write_jpeg)
from pipeline.exif import read_exif
from pipeline.imaging import PhotoError, fit_long_side, open_upright_rgb


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

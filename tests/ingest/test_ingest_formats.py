"""Every format and pixel mode a traveller's album holds decodes to correct, upright 8-bit sRGB
pixels (what the dream task decodes, and the web copies); files are judged by content, not name;
videos and RAW files are skipped."""

from __future__ import annotations

import io

import pillow_heif
import pytest
from PIL import Image

from helpers import MAX_PIXELS, close_to, quadrant_array, quadrant_image, stored_as_camera
from photo_files import (BLUE, GREEN, RED, adobe_rgb_profile, cmyk_profile, corner_colours,
                         exif_block, jpeg_with_exif, png16_rgb, tiff16_rgb)
from pipeline.ingest.album import find_photos
from pipeline.imaging import decode_upright_rgb, open_photo, to_8bit, to_srgb
from pipeline.ingest.photos import ingest_photo
from pipeline.output.store import WebFormats
from pipeline.manifest import Gps

WEB = (32, 48)


def ingest(album, name, out):
    return ingest_photo(album, name, out, WEB, WebFormats(90), MAX_PIXELS)


def decoded_image(photo, out, album=None) -> Image.Image:
    """The photo's pixels as the dream task decodes them (pipeline/dream/spec.py: the original,
    upright by the orientation ingest recorded, 8-bit sRGB); checked against ingest's record:
    the same size, and a largest web copy of that shape."""
    assert photo.ok, photo.error
    album = album or out.parent / "album"  # conftest: tmp_path/album and tmp_path/out
    with open_photo(album / photo.source, MAX_PIXELS) as opened:
        image = decode_upright_rgb(opened, photo.exif.orientation)
    assert image.mode == "RGB"
    assert image.size == (photo.width, photo.height)
    with Image.open(out / photo.web[-1].path) as web:
        assert web.mode == "RGB"
        assert web.size == (photo.web[-1].width, photo.web[-1].height)  # the manifest says true
        assert (web.width >= web.height) == (photo.width >= photo.height)
    return image


def assert_web_upright(photo, out, what=""):
    with Image.open(out / photo.web[-1].path) as web:
        assert_upright(web.resize((64, 48)), what)


# ---------------------------------------------------------------- formats

def _save(image, path, fmt, **options):
    image.save(path, fmt, **options)
    return path


FORMATS = {  # file name -> how to write the four-colour test image
    "photo.jpg": lambda img, p: _save(img, p, "JPEG", quality=95),
    "photo.png": lambda img, p: _save(img, p, "PNG"),
    "photo.webp": lambda img, p: _save(img, p, "WEBP", lossless=True),
    "photo.tif": lambda img, p: _save(img, p, "TIFF", compression="tiff_lzw"),
    "photo.heic": lambda img, p: _save(img, p, "HEIF", quality=95),
    "photo.gif": lambda img, p: _save(img, p, "GIF"),
    "photo.bmp": lambda img, p: _save(img, p, "BMP"),
}


UPRIGHT = corner_colours(quadrant_image())  # red, green / blue, yellow


def assert_upright(image: Image.Image, what=""):
    assert image.size == (64, 48), what
    for got, expected in zip(corner_colours(image), UPRIGHT):
        assert close_to(got, expected), (what, corner_colours(image))


@pytest.mark.parametrize("name", FORMATS)
def test_each_format_ingests_with_the_right_pixels(album, out, name):
    FORMATS[name](quadrant_image(), album / name)
    photo = ingest(album, name, out)
    assert_upright(decoded_image(photo, out), name)
    assert [w.width for w in photo.web] == [32, 48]
    with Image.open(out / photo.web[0].path) as web:
        assert web.format == "JPEG" and web.mode == "RGB" and web.size == (32, 24)


def test_heic_keeps_its_exif(album, out):
    exif = exif_block(Make="Apple", Model="iPhone 13", DateTimeOriginal="2023:05:01 18:30:00",
                      GPSLatitudeRef="N", GPSLatitude=[(48, 1), (51, 1), (30, 1)],
                      GPSLongitudeRef="E", GPSLongitude=[(2, 1), (17, 1), (40, 1)])
    quadrant_image().save(album / "IMG_0001.HEIC", "HEIF", exif=exif)
    photo = ingest(album, "IMG_0001.HEIC", out)
    assert photo.ok, photo.error
    assert photo.exif.camera == "Apple iPhone 13"
    assert photo.exif.date == "2023-05-01T18:30:00"
    assert photo.exif.gps == Gps(lat=48.858333, lon=2.294444)


# ---------------------------------------------------------------- orientation

def stored(orientation: int) -> Image.Image:
    """The quadrant picture as a camera holding it that way stores it (see helpers)."""
    return Image.fromarray(stored_as_camera(quadrant_array(), orientation))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_jpeg_orientation_applied(album, out, orientation):
    jpeg_with_exif(album / "photo.jpg", exif_block(Orientation=orientation), image=stored(orientation))
    photo = ingest(album, "photo.jpg", out)
    assert photo.exif.orientation == orientation
    assert_upright(decoded_image(photo, out), orientation)
    assert_web_upright(photo, out, orientation)  # the web copies too


@pytest.mark.parametrize("orientation", range(1, 9))
def test_heic_orientation_applied_once(album, out, orientation):
    # pillow-heif stores the EXIF orientation as HEIF's own rotation/mirror boxes, as phones do;
    # libheif applies those, so the EXIF tag must not be applied a second time.
    stored(orientation).save(album / "photo.heic", "HEIF", quality=95,
                             exif=exif_block(Orientation=orientation))
    photo = ingest(album, "photo.heic", out)
    assert photo.exif.orientation == orientation
    assert_upright(decoded_image(photo, out), orientation)
    assert_web_upright(photo, out, orientation)


@pytest.mark.parametrize("fmt, name", [("PNG", "photo.png"), ("WEBP", "photo.webp"),
                                       ("TIFF", "photo.tif")])
@pytest.mark.parametrize("orientation", [2, 6, 7])
def test_orientation_from_png_webp_and_tiff(album, out, fmt, name, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored(orientation).save(album / name, fmt, exif=exif,
                             **({"lossless": True} if fmt == "WEBP" else {}))
    photo = ingest(album, name, out)
    assert photo.exif.orientation == orientation
    assert_upright(decoded_image(photo, out), (name, orientation))
    assert_web_upright(photo, out, (name, orientation))


def test_reduced_jpeg_decode_keeps_orientation_and_size(tmp_path):
    """Draft mode decodes a big JPEG at a fraction of its size; the result must still be at least
    as long as asked, then resized exactly, and upright."""
    big = Image.fromarray(stored_as_camera(quadrant_array(1600, 1200), 6))
    path = jpeg_with_exif(tmp_path / "big.jpg", exif_block(Orientation=6), image=big)
    with open_photo(path) as image:
        upright = decode_upright_rgb(image, 6, long_side=300)
        assert image.size == (300, 400)  # decoded at 1/4: 400 >= 300, where 1/8 would be < 300
    assert upright.size == (300, 225)
    assert_upright(upright.resize((64, 48)))


# ---------------------------------------------------------------- pixel modes

def _rgb(image: Image.Image, **info) -> tuple:
    image.info.update(info)
    return to_srgb(to_8bit(image), image.info.get("icc_profile")).getpixel((0, 0))  # as decoding does


def test_greyscale_and_palette_become_rgb(album, out):
    Image.new("L", (8, 8), 100).save(album / "grey.png")
    Image.new("RGB", (8, 8), (10, 120, 200)).convert("P", palette=Image.Palette.ADAPTIVE).save(
        album / "palette.png")
    assert decoded_image(ingest(album, "grey.png", out), out).getpixel((4, 4)) == (100, 100, 100)
    assert close_to(decoded_image(ingest(album, "palette.png", out), out).getpixel((4, 4)),
                 (10, 120, 200), 4)


def test_transparency_is_composited_on_white(album, out):
    Image.new("RGBA", (8, 8), (255, 0, 0, 0)).save(album / "clear.png")        # fully transparent
    Image.new("RGBA", (8, 8), (0, 0, 255, 128)).save(album / "half.png")       # half blue
    Image.new("LA", (8, 8), (0, 0)).save(album / "grey-clear.png")
    palette = Image.new("P", (8, 8), 0)
    palette.putpalette([0, 0, 0, 255, 0, 0])
    palette.save(album / "palette-clear.png", transparency=0)                  # index 0 clear
    assert decoded_image(ingest(album, "clear.png", out), out).getpixel((1, 1)) == (255, 255, 255)
    assert close_to(decoded_image(ingest(album, "half.png", out), out).getpixel((1, 1)),
                 (127, 127, 255), 2)
    assert decoded_image(ingest(album, "grey-clear.png", out), out).getpixel((1, 1)) == (255,) * 3
    assert decoded_image(ingest(album, "palette-clear.png", out), out).getpixel((1, 1)) == (255,) * 3


def test_cmyk_with_its_icc_profile_is_converted_through_it(album, out):
    Image.new("CMYK", (16, 16), (255, 0, 0, 0)).save(album / "cyan-profiled.jpg", "JPEG",
                                                     quality=95, icc_profile=cmyk_profile())
    Image.new("CMYK", (16, 16), (255, 0, 0, 0)).save(album / "cyan-plain.jpg", "JPEG", quality=95)
    profiled = decoded_image(ingest(album, "cyan-profiled.jpg", out), out).getpixel((8, 8))
    plain = decoded_image(ingest(album, "cyan-plain.jpg", out), out).getpixel((8, 8))
    assert close_to(profiled, (0, 158, 224), 12)  # the profile's printed cyan
    assert close_to(plain, (0, 255, 255), 12)     # no profile: the plain formula


def test_cmyk_tiff(album, out):
    Image.new("CMYK", (8, 8), (0, 0, 0, 255)).save(album / "black.tif", "TIFF")
    assert decoded_image(ingest(album, "black.tif", out), out).getpixel((4, 4)) == (0, 0, 0)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_wide_gamut_profile_is_converted_to_srgb(album, out, fmt):
    # The same numbers mean a more saturated green in Adobe RGB than in sRGB.
    image = Image.new("RGB", (16, 16), (60, 160, 60))
    image.paste((128, 128, 128), (0, 0, 8, 16))
    image.save(album / f"wide.{fmt.lower()}", fmt, icc_profile=adobe_rgb_profile(), quality=95)
    decoded = decoded_image(ingest(album, f"wide.{fmt.lower()}", out), out)
    assert close_to(decoded.getpixel((12, 8)), (0, 161, 47), 6)  # not (60, 160, 60)
    assert close_to(decoded.getpixel((3, 8)), (129, 129, 129), 3)  # grey stays grey


def test_srgb_profile_leaves_colours_alone():
    from PIL import ImageCms
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    assert _rgb(Image.new("RGB", (2, 2), (10, 120, 200)), icc_profile=srgb) == (10, 120, 200)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16_bit_grey_keeps_its_tones(album, out, fmt):
    import numpy as np
    values = np.full((8, 8), 40000, dtype=np.uint16)
    values[:, 4:] = 65535
    Image.fromarray(values).save(album / f"grey16.{fmt.lower()}", fmt)
    image = decoded_image(ingest(album, f"grey16.{fmt.lower()}", out), out)
    assert image.getpixel((1, 1)) == (156, 156, 156)   # 40000 / 256, not clipped to 255
    assert image.getpixel((6, 1)) == (255, 255, 255)


@pytest.mark.parametrize("name, data", [("rgb16.png", png16_rgb(8, 8, (65535, 32768, 0))),
                                        ("rgb16.tif", tiff16_rgb(8, 8, (65535, 32768, 0)))])
def test_16_bit_rgb(album, out, name, data):
    (album / name).write_bytes(data)
    assert close_to(decoded_image(ingest(album, name, out), out).getpixel((4, 4)), (255, 128, 0), 1)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animation_gives_its_first_frame(album, out, fmt):
    frames = [Image.new("RGB", (16, 16), colour) for colour in (RED, BLUE, GREEN)]
    name = f"animated.{fmt.lower()}"
    frames[0].save(album / name, fmt, save_all=True, append_images=frames[1:], duration=100,
                   loop=0, **({"lossless": True} if fmt == "WEBP" else {}))
    with Image.open(album / name) as check:
        assert getattr(check, "n_frames", 1) == 3
    assert close_to(decoded_image(ingest(album, name, out), out).getpixel((8, 8)), RED, 8)


# ---------------------------------------------------------------- content, not names

def test_a_png_named_jpg_is_a_photo(album, out):
    quadrant_image().save(album / "really-a-png.jpg", "PNG")
    assert find_photos(album).photos == ["really-a-png.jpg"]
    assert ingest(album, "really-a-png.jpg", out).ok


def test_a_photo_without_a_photo_name_is_found_by_content(album):
    quadrant_image().save(album / "IMG_0001", "JPEG")
    quadrant_image().save(album / "scan.dat", "PNG")
    buffer = io.BytesIO()
    quadrant_image().save(buffer, "HEIF")
    (album / "from-phone.bin").write_bytes(buffer.getvalue())
    assert find_photos(album).photos == ["IMG_0001", "from-phone.bin", "scan.dat"]


def test_text_named_jpg_is_rejected_with_the_reason(album, out):
    (album / "notes.jpg").write_text("Remember: the tram ticket is valid for 90 minutes.\n")
    assert find_photos(album).photos == ["notes.jpg"]  # named as a photo: reported, not hidden
    photo = ingest(album, "notes.jpg", out)
    assert photo.status == "failed"
    assert photo.error == "not an image: its content is text, whatever its name says"


def test_video_named_jpg_is_rejected_with_the_reason(album, out):
    (album / "clip.jpg").write_bytes(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\0" * 64)
    photo = ingest(album, "clip.jpg", out)
    assert photo.error == "not an image: its content is MP4/QuickTime video, whatever its name says"


MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 40
MOV = b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  " + b"\x00" * 40
CR3 = b"\x00\x00\x00\x18ftypcrx \x00\x00\x00\x01crx isom" + b"\x00" * 40


def test_videos_raw_files_and_other_files_are_skipped_with_reasons(album):
    quadrant_image().save(album / "a.jpg")
    (album / "b-clip.mp4").write_bytes(MP4)
    (album / "c-live-photo.MOV").write_bytes(MOV)
    (album / "d.webm").write_bytes(b"\x1a\x45\xdf\xa3" + b"\x00" * 40)
    (album / "e.NEF").write_bytes(b"II*\x00\x08\x00\x00\x00" + b"\x00" * 40)  # TIFF inside
    (album / "f.cr2").write_bytes(b"II*\x00\x10\x00\x00\x00CR\x02\x00" + b"\x00" * 40)
    (album / "g.cr3").write_bytes(CR3)
    (album / "h-movie").write_bytes(MP4)                                      # no extension
    (album / "i.pdf").write_bytes(b"%PDF-1.7\n")
    (album / "j.txt").write_text("notes")
    (album / "k.xmp").write_text("<x:xmpmeta/>")
    files = find_photos(album)
    assert files.photos == ["a.jpg"]
    assert {s.source: s.reason for s in files.skipped} == {
        "b-clip.mp4": "video (.mp4): not ingested",
        "c-live-photo.MOV": "video (.mov): not ingested",
        "d.webm": "video (.webm): not ingested",
        "e.NEF": "RAW camera file (.nef): not ingested; add a JPEG export of it",
        "f.cr2": "RAW camera file (.cr2): not ingested; add a JPEG export of it",
        "g.cr3": "RAW camera file (.cr3): not ingested; add a JPEG export of it",
        "h-movie": "video (MP4/QuickTime video): not ingested",
        "i.pdf": "not a photo (.pdf)",
        "j.txt": "not a photo (.txt)",
        "k.xmp": "not a photo (.xmp)",
    }


def test_pillow_heif_is_registered():
    assert "HEIF" in Image.registered_extensions().values()
    assert pillow_heif.__version__

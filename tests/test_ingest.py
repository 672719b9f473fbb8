"""Ingest: hashes, EXIF, upright working copies and web sizes; bad files fail alone; reruns are free."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest
from PIL import Image

from helpers import (BOTTOM_LEFT, TOP_LEFT, TOP_RIGHT, close_to, make_exif, quadrant_array, quadrant_image,
                     stored_as_camera, write_jpeg)
from pipeline.album import find_photos
from pipeline.ingest import ingest_photo

WORKING, WEB = 64, (48, 96)


@pytest.fixture
def album(tmp_path):
    """A tiny album: a landscape photo, a sideways phone photo in a sub-folder, a broken file, notes."""
    root = tmp_path / "album"
    write_jpeg(root / "bridge.jpg", quadrant_image(128, 96),
               make_exif("Canon", "Canon EOS 5D", orientation=1, date_original="2016:06:13 09:17:42",
                         gps=(50.0865, 14.4114)))
    sideways = Image.fromarray(stored_as_camera(quadrant_array(64, 128), 6))  # upright is portrait
    write_jpeg(root / "day2" / "rocket.jpg", sideways, make_exif("Apple", "iPhone 6s", orientation=6))
    (root / "broken.jpg").write_text("not a jpeg at all")
    (root / "empty.jpg").write_bytes(b"")
    (root / "notes.txt").write_text("buy postcards")
    return root


def _ingest(album, source, out):
    return ingest_photo(album, source, out, WORKING, WEB, 85)


def test_ok_photo_gets_hash_exif_working_and_web_copies(album, tmp_path):
    out = tmp_path / "out"
    photo = _ingest(album, "bridge.jpg", out)

    assert photo.ok and photo.status == "ok" and photo.error is None
    assert photo.source == "bridge.jpg"
    assert photo.sha256 == hashlib.sha256((album / "bridge.jpg").read_bytes()).hexdigest()
    assert photo.exif.date == "2016-06-13T09:17:42" and photo.exif.camera == "Canon EOS 5D"
    assert photo.exif.gps is not None

    with Image.open(out / photo.working) as working:
        assert working.size == (64, 48)  # long side = working size
        assert working.format == "PNG"   # lossless: the dream starts from the exact pixels
        assert close_to(working.convert("RGB").getpixel((2, 2)), TOP_LEFT)
    assert [(w["width"], w["height"]) for w in photo.web] == [(48, 36), (96, 72)]  # small to large
    for web in photo.web:
        with Image.open(out / web["path"]) as image:
            assert image.format == "JPEG"
            assert image.size == (web["width"], web["height"])
        assert "bridge" in web["path"]
    assert (album / "bridge.jpg").read_bytes()[:2] == b"\xff\xd8"  # the original is never touched


def test_sideways_phone_photo_is_stored_upright(album, tmp_path):
    out = tmp_path / "out"
    photo = _ingest(album, "day2/rocket.jpg", out)

    assert photo.ok and photo.exif.orientation == 6
    with Image.open(out / photo.working) as working:
        working = working.convert("RGB")
        assert working.size == (32, 64)  # portrait, as it was taken
        w, h = working.size
        assert close_to(working.getpixel((2, 2)), TOP_LEFT)
        assert close_to(working.getpixel((w - 3, 2)), TOP_RIGHT)
        assert close_to(working.getpixel((2, h - 3)), BOTTOM_LEFT)
    for web in photo.web:
        assert web["height"] > web["width"]
        with Image.open(out / web["path"]) as image:
            assert close_to(image.convert("RGB").getpixel((2, 2)), TOP_LEFT)


@pytest.mark.parametrize("source, reason", [("broken.jpg", "not an image"), ("empty.jpg", "empty"),
                                            ("missing.jpg", "cannot read")])
def test_bad_file_is_a_failed_record_not_an_exception(album, tmp_path, source, reason):
    out = tmp_path / "out"
    photo = _ingest(album, source, out)
    assert photo.status == "failed" and not photo.ok
    assert reason in photo.error
    assert photo.working is None and photo.web == []
    assert not (out / "photos").exists() or not any((out / "photos").iterdir())


def test_truncated_photo_fails_with_a_reason(album, tmp_path):
    data = (album / "bridge.jpg").read_bytes()
    (album / "cut.jpg").write_bytes(data[: len(data) // 2])
    photo = _ingest(album, "cut.jpg", tmp_path / "out")
    assert photo.status == "failed" and "truncated" in photo.error


def test_second_ingest_rewrites_nothing(album, tmp_path):
    out = tmp_path / "out"
    first = _ingest(album, "bridge.jpg", out)
    written = [out / first.working] + [out / web["path"] for web in first.web]
    past = 1_000_000_000  # 2001: any rewrite would show as a new mtime
    for path in written:
        os.utime(path, (past, past))

    second = _ingest(album, "bridge.jpg", out)

    assert second == first
    assert [path.stat().st_mtime for path in written] == [past] * len(written)
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == sorted(p.name for p in written)


def test_a_changed_photo_gets_new_copies(album, tmp_path):
    out = tmp_path / "out"
    first = _ingest(album, "bridge.jpg", out)
    write_jpeg(album / "bridge.jpg", quadrant_image(96, 128))  # edited: now portrait
    second = _ingest(album, "bridge.jpg", out)
    assert second.sha256 != first.sha256 and second.working != first.working
    with Image.open(out / second.working) as working:
        assert working.size == (48, 64)


def test_small_photo_is_never_enlarged_and_sizes_do_not_repeat(tmp_path):
    album = tmp_path / "album"
    write_jpeg(album / "tiny.jpg", quadrant_image(40, 30))
    photo = ingest_photo(album, "tiny.jpg", tmp_path / "out", 600, (48, 96, 1024), 85)
    assert photo.ok
    assert [(w["width"], w["height"]) for w in photo.web] == [(40, 30)]
    with Image.open(tmp_path / "out" / photo.working) as working:
        assert working.size == (40, 30)


def test_transparent_png_ingests_as_rgb(tmp_path):
    album = tmp_path / "album"
    album.mkdir()
    rgba = np.zeros((48, 64, 4), dtype=np.uint8)
    rgba[:, :32] = (200, 30, 30, 255)
    Image.fromarray(rgba, "RGBA").save(album / "logo.png")
    photo = ingest_photo(album, "logo.png", tmp_path / "out", 64, (48,), 85)
    assert photo.ok
    with Image.open(tmp_path / "out" / photo.web[0]["path"]) as web:
        assert web.mode == "RGB"
        assert close_to(web.getpixel((45, 20)), (255, 255, 255), 8)


def test_find_photos_walks_sub_folders_in_order(tmp_path):
    root = tmp_path / "album"
    for name in ["b.jpg", "a.JPG", "day2/c.png", "day1/z.jpeg", "day1/m.webp", "day1/sub/q.tif",
                 ".hidden.jpg", ".thumbs/x.jpg"]:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    (root / "notes.txt").write_text("hi")
    (root / "README").write_text("hi")
    (root / "album.yaml").write_text("title: x\n")

    found = find_photos(root)

    assert found.photos == ["a.JPG", "b.jpg", "day1/m.webp", "day1/z.jpeg", "day1/sub/q.tif", "day2/c.png"]
    skipped = {entry["source"]: entry["reason"] for entry in found.skipped}
    assert set(skipped) == {"notes.txt", "README"}  # album.yaml and hidden files are not listed
    assert "not a photo" in skipped["notes.txt"] and ".txt" in skipped["notes.txt"]
    assert "no extension" in skipped["README"]


def test_find_photos_on_the_fixture_album(album):
    found = find_photos(album)
    assert found.photos == ["bridge.jpg", "broken.jpg", "empty.jpg", "day2/rocket.jpg"]
    assert [entry["source"] for entry in found.skipped] == ["notes.txt"]

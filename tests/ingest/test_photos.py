"""Ingest: hashes, EXIF, upright sizes and web copies; bad files fail alone; reruns are free."""

from __future__ import annotations

import hashlib
import os
from pathlib import PurePosixPath

import numpy as np
import pytest
from PIL import Image

from helpers import (BOTTOM_LEFT, MAX_PIXELS, TOP_LEFT, TOP_RIGHT, close_to, make_exif, quadrant_array,
                     quadrant_image, stored_as_camera, write_jpeg)
from pipeline.ingest import photos as ingest
from pipeline.ingest.album import find_photos
from pipeline.ingest.photos import ingest_photo, ingest_photos
from pipeline.manifest import PhotoEntry
from pipeline.output.records import RECORD
from pipeline.output.store import WebFormats, web_copy_name

WEB = (48, 96)
JPEG_85 = WebFormats(85)                      # JPEG alone
WITH_AVIF = WebFormats(85, avif_quality=50)   # and an AVIF twin of each copy


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
    return ingest_photo(album, source, out, WEB, JPEG_85, MAX_PIXELS)


def _files(folder):
    """Every file under `folder`, relative to it, '/'-separated (temp files included), but
    dreamtrip's record of the files it wrote (tests/test_records.py)."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != RECORD)


def test_ok_photo_gets_hash_exif_size_and_web_copies(album, tmp_path):
    out = tmp_path / "out"
    photo = _ingest(album, "bridge.jpg", out)

    assert isinstance(photo, PhotoEntry)
    assert photo.ok and photo.status == "ok" and photo.error is None
    assert photo.source == "bridge.jpg"
    assert photo.sha256 == hashlib.sha256((album / "bridge.jpg").read_bytes()).hexdigest()
    assert photo.exif.date == "2016-06-13T09:17:42" and photo.exif.camera == "Canon EOS 5D"
    assert photo.exif.gps is not None
    assert (photo.width, photo.height) == (128, 96)  # the original's size, read from its header

    assert [(w.width, w.height) for w in photo.web] == [(48, 36), (96, 72)]  # small to large
    for web in photo.web:
        with Image.open(out / web.path) as image:
            assert image.format == "JPEG"
            assert image.size == (web.width, web.height)
        assert web.path == web_copy_name("bridge.jpg", photo.sha256, web.long_side)
        assert web.path.startswith("photos/bridge-" + photo.sha256[:8])
    with Image.open(out / photo.web[-1].path) as largest:
        assert close_to(largest.convert("RGB").getpixel((2, 2)), TOP_LEFT)
    assert _files(out) == sorted(w.path for w in photo.web)  # no working copy, nothing else
    assert (album / "bridge.jpg").read_bytes()[:2] == b"\xff\xd8"  # the original is never touched


def test_sideways_phone_photo_is_stored_upright(album, tmp_path):
    out = tmp_path / "out"
    photo = _ingest(album, "day2/rocket.jpg", out)

    assert photo.ok and photo.exif.orientation == 6
    assert (photo.width, photo.height) == (64, 128)  # portrait, as it was taken (stored 128x64)
    assert [(w.width, w.height) for w in photo.web] == [(24, 48), (48, 96)]
    for web in photo.web:
        assert web.height > web.width
        with Image.open(out / web.path) as image:
            image = image.convert("RGB")
            w, h = image.size
            assert close_to(image.getpixel((2, 2)), TOP_LEFT)
            if w >= 32:  # big enough for JPEG to keep the quadrants' corners apart
                assert close_to(image.getpixel((w - 3, 2)), TOP_RIGHT)
                assert close_to(image.getpixel((2, h - 3)), BOTTOM_LEFT)


@pytest.mark.parametrize("source, reason", [("broken.jpg", "not an image"), ("empty.jpg", "empty"),
                                            ("missing.jpg", "cannot read")])
def test_bad_file_is_a_failed_record_not_an_exception(album, tmp_path, source, reason):
    out = tmp_path / "out"
    photo = _ingest(album, source, out)
    assert photo.status == "failed" and not photo.ok
    assert reason in photo.error
    assert photo.web == [] and photo.width is None and photo.height is None
    assert not out.exists() or _files(out) == []  # nothing half-made is left behind


def test_truncated_photo_fails_with_a_reason(album, tmp_path):
    data = (album / "bridge.jpg").read_bytes()
    (album / "cut.jpg").write_bytes(data[: len(data) // 2])
    photo = _ingest(album, "cut.jpg", tmp_path / "out")
    assert photo.status == "failed" and "truncated" in photo.error


def test_second_ingest_rewrites_nothing(album, tmp_path):
    out = tmp_path / "out"
    first = _ingest(album, "bridge.jpg", out)
    written = [out / web.path for web in first.web]
    past = 1_000_000_000  # 2001: any rewrite would show as a new mtime
    for path in written:
        os.utime(path, (past, past))

    second = _ingest(album, "bridge.jpg", out)

    assert second == first
    assert [path.stat().st_mtime for path in written] == [past] * len(written)
    assert _files(out) == sorted(web.path for web in first.web)


def test_a_changed_photo_gets_new_copies(album, tmp_path):
    out = tmp_path / "out"
    first = _ingest(album, "bridge.jpg", out)
    write_jpeg(album / "bridge.jpg", quadrant_image(96, 128))  # edited: now portrait
    second = _ingest(album, "bridge.jpg", out)
    assert second.sha256 != first.sha256
    assert not {w.path for w in second.web} & {w.path for w in first.web}
    assert (second.width, second.height) == (96, 128)
    with Image.open(out / second.web[-1].path) as largest:
        assert largest.size == (72, 96)


def test_small_photo_is_never_enlarged_and_sizes_do_not_repeat(tmp_path):
    album = tmp_path / "album"
    write_jpeg(album / "tiny.jpg", quadrant_image(40, 30))
    photo = ingest_photo(album, "tiny.jpg", tmp_path / "out", (48, 96, 1024), JPEG_85, MAX_PIXELS)
    assert photo.ok
    assert [(w.width, w.height) for w in photo.web] == [(40, 30)]
    with Image.open(tmp_path / "out" / photo.web[0].path) as copy:
        assert copy.size == (40, 30)


@pytest.mark.parametrize("size, web_sizes, copies", [
    ((100, 68), (480, 960), [(100, 68)]),                # issue 11 item 6: the sample cat
    ((68, 100), (480, 960), [(68, 100)]),
    ((100, 68), (48, 100, 960), [(48, 33), (100, 68)]),  # a web size equal to the photo's: once
    ((600, 400), (480, 960), [(480, 320), (600, 400)]),  # between two web sizes
    ((1200, 800), (480, 960), [(480, 320), (960, 640)]),  # larger than every web size
])
def test_one_copy_per_size_the_page_uses_none_larger_than_the_photo(tmp_path, size, web_sizes, copies):
    """Issue 11 item 6: a photo smaller than a web size gets one copy at its own size, not one
    per web size; every copy written is in the manifest (so `clean` right after a run finds
    nothing) and every copy in the manifest is written."""
    album, out = tmp_path / "album", tmp_path / "out"
    write_jpeg(album / "Cat photo.jpg", quadrant_image(*size))
    photo = ingest_photo(album, "Cat photo.jpg", out, web_sizes, JPEG_85, MAX_PIXELS)

    assert photo.ok and (photo.width, photo.height) == size
    assert [(w.width, w.height) for w in photo.web] == copies
    assert _files(out) == sorted(w.path for w in photo.web) == sorted(photo.files())
    for web in photo.web:
        assert web.path == f"photos/cat-photo-{photo.sha256[:8]}-{web.long_side}.jpg"
        with Image.open(out / web.path) as image:
            assert image.size == (web.width, web.height)
            assert image.width <= size[0] and image.height <= size[1]
    assert len({w.long_side for w in photo.web}) == len(photo.web)
    # a rerun finds every copy and writes no other
    assert ingest_photo(album, "Cat photo.jpg", out, web_sizes, JPEG_85, MAX_PIXELS) == photo
    assert _files(out) == sorted(w.path for w in photo.web)


def test_clean_finds_nothing_right_after_ingest(tmp_path):
    """What `dreamtrip clean` would delete is decided from the manifest: after ingest of a tiny
    photo it must find no web copy the post does not use (issue 11 item 6)."""
    from pipeline.output.folder import unused_files
    from pipeline.config import load_settings
    from pipeline.manifest import AlbumInfo, Manifest, WeightsInfo, now

    album, out = tmp_path / "album", tmp_path / "out"
    write_jpeg(album / "cat.jpg", quadrant_image(100, 68))
    write_jpeg(album / "bridge.jpg", quadrant_image(640, 480))
    settings = load_settings(overrides={"images.web_sizes": [480, 960]})
    photos = [ingest_photo(album, source, out, settings.images.web_sizes, JPEG_85, MAX_PIXELS)
              for source in ("cat.jpg", "bridge.jpg")]
    manifest = Manifest(created=now(), album=AlbumInfo(name="album", title="Album"),
                        weights=WeightsInfo(source="hed", identity="hed", description="", note="",
                                            reason=""),
                        device="cpu", settings=settings, photos=photos)
    assert [len(p.web) for p in photos] == [1, 2]
    assert unused_files(manifest, out) == []


def test_transparent_png_ingests_as_rgb(tmp_path):
    album = tmp_path / "album"
    album.mkdir()
    rgba = np.zeros((48, 64, 4), dtype=np.uint8)
    rgba[:, :32] = (200, 30, 30, 255)
    Image.fromarray(rgba, "RGBA").save(album / "logo.png")
    photo = ingest_photo(album, "logo.png", tmp_path / "out", (48,), JPEG_85, MAX_PIXELS)
    assert photo.ok
    with Image.open(tmp_path / "out" / photo.web[0].path) as web:
        assert web.mode == "RGB"
        assert close_to(web.getpixel((45, 20)), (255, 255, 255), 8)


def test_ingest_photos_runs_in_parallel_and_keeps_album_order(album, tmp_path):
    out = tmp_path / "out"
    sources = ["day2/rocket.jpg", "broken.jpg", "bridge.jpg", "empty.jpg", "missing.jpg"]
    photos = ingest_photos(album, sources, out, WEB, JPEG_85, MAX_PIXELS, workers=3)
    assert [p.source for p in photos] == sources
    assert [p.ok for p in photos] == [True, False, True, False, False]
    assert photos == [_ingest(album, source, out) for source in sources]  # same as one at a time
    assert _files(out) == sorted(w.path for p in photos for w in p.web)


def test_a_crash_in_one_photo_fails_that_photo_only(album, tmp_path, monkeypatch):
    real = ingest.read_exif

    def crash_on_rocket(path, image=None, data=None):
        if path.name == "rocket.jpg":
            raise RuntimeError("bug")
        return real(path, image, data)
    monkeypatch.setattr(ingest, "read_exif", crash_on_rocket)
    photos = ingest_photos(album, ["bridge.jpg", "day2/rocket.jpg"], tmp_path / "out", WEB, JPEG_85,
                           MAX_PIXELS, workers=2)
    assert [p.status for p in photos] == ["ok", "failed"]
    assert photos[1].error == "ingest crashed: RuntimeError: bug"


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
    skipped = {entry.source: entry.reason for entry in found.skipped}
    assert set(skipped) == {"notes.txt", "README"}  # album.yaml and hidden files are not listed
    assert "not a photo" in skipped["notes.txt"] and ".txt" in skipped["notes.txt"]
    assert "no extension" in skipped["README"]


def test_find_photos_on_the_fixture_album(album):
    found = find_photos(album)
    assert found.photos == ["bridge.jpg", "broken.jpg", "empty.jpg", "day2/rocket.jpg"]
    assert [entry.source for entry in found.skipped] == ["notes.txt"]


# ---- AVIF twins ----

def test_every_web_copy_gets_an_avif_twin_that_decodes_at_its_size(album, tmp_path):
    out = tmp_path / "out"
    photo = ingest_photo(album, "bridge.jpg", out, WEB, WITH_AVIF, MAX_PIXELS)
    assert [w.long_side for w in photo.web] == [48, 96]
    for web in photo.web:
        twin = web.alternates["avif"]
        assert twin == web.path.removesuffix(".jpg") + ".q50.avif"  # named after its JPEG, with its quality
        with Image.open(out / twin) as avif:
            assert avif.format == "AVIF" and avif.size == (web.width, web.height)
            with Image.open(out / web.path) as jpeg:  # the same picture, in another format
                difference = np.abs(np.asarray(avif.convert("RGB"), int) - np.asarray(jpeg.convert("RGB"), int))
        assert difference.mean() < 6
    assert photo.files() == [path for web in photo.web for path in (web.path, web.alternates["avif"])]


def test_turning_avif_on_writes_the_twins_alone_and_a_new_quality_new_twins(album, tmp_path):
    out = tmp_path / "out"
    jpeg_only = ingest_photo(album, "bridge.jpg", out, WEB, JPEG_85, MAX_PIXELS)
    assert all(web.alternates == {} for web in jpeg_only.web) and not list(out.rglob("*.avif"))
    jpegs = {path: (out / path).stat().st_mtime_ns for path in jpeg_only.files()}

    with_avif = ingest_photo(album, "bridge.jpg", out, WEB, WITH_AVIF, MAX_PIXELS)
    assert {path: (out / path).stat().st_mtime_ns for path in jpegs} == jpegs  # the JPEGs were not rewritten
    assert sorted(p.name for p in out.rglob("*.avif")) == sorted(
        PurePosixPath(w.alternates["avif"]).name for w in with_avif.web)

    better = ingest_photo(album, "bridge.jpg", out, WEB, WebFormats(85, avif_quality=70), MAX_PIXELS)
    assert all(w.alternates["avif"].endswith(".q70.avif") and (out / w.alternates["avif"]).is_file()
               for w in better.web)

"""Broken and hostile files: none stops the album, each gets a precise reason; nothing outside
the album is read; a decompression bomb is refused before a pixel is allocated."""

from __future__ import annotations

import io
import json
import os
import re
from html import unescape

import pytest
from PIL import ImageFile

from helpers import MAX_PIXELS, noisy_image, quadrant_image
from photo_files import jpeg_claiming, png_bomb
from pipeline.ingest.album import find_photos, load_album_text
from pipeline.config import ConfigError, load_settings
from pipeline.ingest.photos import ingest_photo, set_aside_duplicates
from pipeline.output.store import WebFormats
from pipeline.manifest import PhotoEntry, Skipped


def ingest(album, name, out, max_pixels=MAX_PIXELS):
    return ingest_photo(album, name, out, (32, 48), WebFormats(90), max_pixels)


def _files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _jpeg_bytes(size=(64, 48)) -> bytes:
    buffer = io.BytesIO()
    noisy_image(*size).save(buffer, "JPEG", quality=90)  # mostly scan data, little header
    return buffer.getvalue()


# ---------------------------------------------------------------- broken files

def test_zero_bytes(album, out):
    (album / "empty.jpg").write_bytes(b"")
    photo = ingest(album, "empty.jpg", out)
    assert (photo.status, photo.error) == ("failed", "empty file (0 bytes)")


@pytest.mark.parametrize("keep, reason", [
    (0.9, "truncated JPEG: the file ends before its image data does"),
    (0.002, "corrupt or truncated JPEG header: the file starts like JPEG but cannot be read"),
])
def test_truncated_jpeg(album, out, keep, reason):
    data = _jpeg_bytes((256, 192))
    assert len(data) * 0.002 < data.index(b"\xff\xda")  # 0.2% of it ends before the scan starts
    (album / "cut.jpg").write_bytes(data[: int(len(data) * keep)])
    photo = ingest(album, "cut.jpg", out)
    assert photo.status == "failed"
    assert photo.error.startswith(reason), photo.error
    assert photo.sha256  # what could be learnt is kept
    assert photo.web == [] and photo.width is None
    assert not out.exists() or _files(out) == []  # nothing half-made (or temporary) is left behind


def test_truncated_png(album, out):
    quadrant_image(64, 48).save(album / "full.png")
    data = (album / "full.png").read_bytes()
    (album / "cut.png").write_bytes(data[: len(data) // 2])
    photo = ingest(album, "cut.png", out)
    assert photo.status == "failed" and photo.error.startswith("truncated PNG"), photo.error


def test_corrupt_jpeg_header(album, out):
    data = bytearray(_jpeg_bytes())
    data[2:40] = b"\x00" * 38  # the markers after SOI are gone
    (album / "corrupt.jpg").write_bytes(bytes(data))
    photo = ingest(album, "corrupt.jpg", out)
    assert photo.error == ("corrupt or truncated JPEG header: the file starts like JPEG but "
                           "cannot be read")


def test_corrupt_png_header(album, out):
    quadrant_image().save(album / "ok.png")
    data = bytearray((album / "ok.png").read_bytes())
    data[16:24] = b"\xff" * 8  # width and height in IHDR: its checksum no longer matches
    (album / "corrupt.png").write_bytes(bytes(data))
    photo = ingest(album, "corrupt.png", out)
    assert photo.error.startswith("corrupt or truncated PNG header"), photo.error


def test_corrupt_pixel_data(album, out):
    data = bytearray(_jpeg_bytes((256, 256)))
    start = data.index(b"\xff\xda") + 20  # inside the entropy-coded data
    data[start:start + 400] = b"\xff\xd9" * 200  # end-of-image markers all over it
    (album / "scrambled.jpg").write_bytes(bytes(data))
    photo = ingest(album, "scrambled.jpg", out)
    # libjpeg may fill the rest with grey (then the photo is ok) or give up: never a crash
    assert photo.ok or photo.error.startswith(("truncated JPEG", "corrupt JPEG"))


# ---------------------------------------------------------------- decompression bombs

@pytest.mark.parametrize("name", ["bomb.png", "bomb.jpg"])
def test_decompression_bomb_is_refused_before_decoding(album, out, name, monkeypatch):
    if name.endswith(".png"):
        (album / name).write_bytes(png_bomb(50_000, 50_000))
    else:
        jpeg_claiming(album / name, 50_000, 50_000)
    assert (album / name).stat().st_size < 2000

    def no_decoding(image):
        raise AssertionError("pixels decoded: 7.5 GB would have been allocated")
    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    photo = ingest(album, name, out)
    assert photo.status == "failed"
    assert photo.error == ("refused: 50000 x 50000 px (2,500 MP) is over the limit of 100 MP "
                           "(images.max_megapixels); not decoded")


def test_the_pixel_limit_is_the_configured_one(album, out):
    quadrant_image(400, 300).save(album / "small.jpg")  # 0.12 MP
    assert ingest(album, "small.jpg", out, max_pixels=200_000).ok
    refused = ingest(album, "small.jpg", out, max_pixels=100_000)
    assert refused.error.startswith("refused: 400 x 300 px")


def test_pixel_limit_setting(tmp_path):
    assert load_settings().images.max_pixels == MAX_PIXELS == 100_000_000
    config = tmp_path / "c.yaml"
    config.write_text("images: {max_megapixels: 24.5}\n")
    assert load_settings(config).images.max_pixels == 24_500_000
    for bad in ["0", "-5", "lots", "20000"]:
        config.write_text(f"images: {{max_megapixels: {bad}}}\n")
        with pytest.raises(ConfigError, match="images.max_megapixels"):
            load_settings(config)


# ---------------------------------------------------------------- links, special files, names

def test_a_link_out_of_the_album_is_not_followed(tmp_path, album):
    secret = tmp_path / "outside" / "secret.jpg"
    secret.parent.mkdir()
    quadrant_image().save(secret)
    (album / "link.jpg").symlink_to(secret)
    (album / "relative.jpg").symlink_to("../outside/secret.jpg")
    files = find_photos(album)
    assert files.photos == []
    assert files.skipped == [
        Skipped(source="link.jpg", reason="link to a file outside the album (not followed)"),
        Skipped(source="relative.jpg", reason="link to a file outside the album (not followed)"),
    ]


def test_a_story_sidecar_linked_out_of_the_album_is_not_read(tmp_path, album):
    secret = tmp_path / "secret.md"
    secret.write_text("the contents of someone's private notes")
    quadrant_image().save(album / "a.jpg")
    (album / "a.md").symlink_to(secret)
    assert load_album_text(album).story_for("a.jpg") is None
    assert find_photos(album).skipped == [
        Skipped(source="a.md", reason="link to a file outside the album (not followed)")]


def test_links_inside_the_album(tmp_path, album):
    quadrant_image().save(album / "a.jpg")
    (album / "b-same.jpg").symlink_to("a.jpg")
    (album / "c-gone.jpg").symlink_to("nowhere.jpg")
    (album / "d-loop.jpg").symlink_to("d-loop.jpg")
    (album / "sub").mkdir()
    (album / "z-folder").symlink_to(album / "sub", target_is_directory=True)
    files = find_photos(album)
    assert files.photos == ["a.jpg", "b-same.jpg"]  # the same content: a duplicate, see below
    assert {s.source: s.reason for s in files.skipped} == {
        "c-gone.jpg": "broken link (its target does not exist)",
        "d-loop.jpg": "broken link (it leads in a loop)",
        "z-folder": "link to a folder (not followed)",
    }


def test_a_pipe_is_skipped_without_waiting_for_it(album):
    os.mkfifo(album / "pipe.jpg")  # opening it for reading would block forever
    files = find_photos(album)
    assert files.skipped == [Skipped(source="pipe.jpg",
                                     reason="not a regular file (a device, socket or pipe)")]


ODD_NAMES = ['day 1/"Old" town #2 100%.jpg', "Škoda 'Octavia' — Praha.jpg",
             "日本/東京 タワー.jpg", "it's a photo?.png"]


def test_names_with_spaces_quotes_and_other_scripts(album, out):
    for name in ODD_NAMES:
        (album / name).parent.mkdir(parents=True, exist_ok=True)
        quadrant_image().save(album / name)
    files = find_photos(album)
    assert sorted(files.photos) == sorted(ODD_NAMES)
    for name in ODD_NAMES:
        photo = ingest(album, name, out)
        assert photo.ok, (name, photo.error)
        for web in photo.web:
            stem = web.path.split("/", 1)[1]
            assert all(c.isascii() and (c.isalnum() or c in "._-") for c in stem), stem  # any URL, shell
            assert stem == stem.lower()


def test_a_name_that_is_not_utf8_is_skipped_and_still_printable(album):
    raw = os.fsencode(album) + b"/caf\xe9.jpg"  # Latin-1 bytes from an old camera or zip
    with open(raw, "wb") as f:
        f.write(_jpeg_bytes())
    files = find_photos(album)
    assert files.photos == []
    assert files.skipped == [Skipped(source="caf\ufffd.jpg",
                                     reason="file or folder name is not valid UTF-8 text (rename it)")]
    files.skipped[0].model_dump_json().encode("utf-8")  # writable into the manifest


def test_nested_folders_are_walked_in_order(album):
    for name in ["b.jpg", "a/z.jpg", "a/b/c.jpg", "c.jpg", "a/a.jpg", ".hidden/x.jpg",
                 "day 2/a.jpg", "Day 1/a.jpg"]:
        (album / name).parent.mkdir(parents=True, exist_ok=True)
        quadrant_image().save(album / name, "JPEG")
    # a folder's own photos first, then its sub-folders, each in name order; hidden ones left out
    assert find_photos(album).photos == ["b.jpg", "c.jpg", "Day 1/a.jpg", "a/a.jpg", "a/z.jpg",
                                         "a/b/c.jpg", "day 2/a.jpg"]


# ---------------------------------------------------------------- duplicates

def test_duplicates_are_set_aside_after_the_first(album, out):
    quadrant_image().save(album / "a.jpg")
    (album / "copy").mkdir()
    (album / "copy" / "a (1).jpg").write_bytes((album / "a.jpg").read_bytes())
    (album / "empty1.jpg").write_bytes(b"")
    (album / "empty2.jpg").write_bytes(b"")
    photos = [ingest(album, s, out) for s in find_photos(album).photos]
    kept, duplicates = set_aside_duplicates(photos)
    assert [p.source for p in kept] == ["a.jpg", "empty1.jpg", "empty2.jpg"]  # failures stay
    assert duplicates == [Skipped(source="copy/a (1).jpg", duplicate_of="a.jpg",
                                  reason="duplicate of a.jpg (same content): shown once")]


def test_no_duplicates_no_change():
    photos = [PhotoEntry(source="a.jpg", sha256="1" * 64, status="ok"),
              PhotoEntry(source="b.jpg", sha256="2" * 64, status="ok")]
    assert set_aside_duplicates(photos) == (photos, [])


# ---------------------------------------------------------------- the whole run

@pytest.fixture
def hostile_album(tmp_path):
    root = tmp_path / "hostile"
    (root / "day 1").mkdir(parents=True)
    quadrant_image(96, 64).save(root / "day 1" / "Škoda \"Octavia\".jpg", quality=90)
    (root / "day 1" / "Škoda copy.jpg").write_bytes((root / "day 1" / "Škoda \"Octavia\".jpg").read_bytes())
    quadrant_image(96, 64).save(root / "png-named.jpg", "PNG")
    (root / "bomb.png").write_bytes(png_bomb())
    (root / "empty.jpg").write_bytes(b"")
    (root / "notes.jpg").write_text("not a photo\n")
    (root / "clip.mov").write_bytes(b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  " + b"\0" * 32)
    (root / "outside.jpg").symlink_to(tmp_path / "elsewhere.jpg")
    quadrant_image().save(tmp_path / "elsewhere.jpg")
    return root


def test_a_hostile_album_runs_to_the_end(prefect_harness, hostile_album, tmp_path, weights_cache):
    from flows.cli import main

    config = tmp_path / "tiny.yaml"
    config.write_text("layers: [conv1_1]\ndream: {octaves: 1, steps: 1, jitter: 0}\n"
                      "images: {dream_size: 48, web_sizes: [48]}\ntasks: {retries: 0}\n"
                      f"weights: {{source: hed, cache_dir: '{weights_cache}'}}\n")
    out = tmp_path / "out"
    assert main(["run", str(hostile_album), "-c", str(config), "-o", str(out),
                 "--device", "cpu"]) == 1  # some photos failed; the page is still written

    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    photos = {p["source"]: p for p in manifest["photos"]}
    assert {s: p["status"] for s, p in photos.items()} == {
        "png-named.jpg": "ok", "day 1/Škoda \"Octavia\".jpg": "ok",
        "bomb.png": "failed", "empty.jpg": "failed", "notes.jpg": "failed"}
    assert photos["bomb.png"]["error"].startswith("refused: 50000 x 50000 px")
    assert photos["empty.jpg"]["error"] == "empty file (0 bytes)"
    assert photos["notes.jpg"]["error"].startswith("not an image: its content is text")
    assert {s["source"]: (s["reason"], s["duplicate_of"]) for s in manifest["skipped"]} == {
        "clip.mov": ("video (.mov): not ingested", None),
        "outside.jpg": ("link to a file outside the album (not followed)", None),
        "day 1/Škoda copy.jpg": ("duplicate of day 1/Škoda \"Octavia\".jpg (same content): shown once",
                                 "day 1/Škoda \"Octavia\".jpg"),
    }
    for photo in photos.values():  # ok photos: their upright size and copies that exist
        assert (photo["width"] is not None) == (photo["status"] == "ok") == bool(photo["web"])
        for web in photo["web"]:
            assert (out / web["path"]).is_file()
            assert web["width"] <= photo["width"] and web["height"] <= photo["height"]
    dreamed = [(p["source"], d["layer"]) for p in manifest["photos"] for d in p["dreams"]]
    assert sorted(dreamed) == [("day 1/Škoda \"Octavia\".jpg", "conv1_1"),
                               ("png-named.jpg", "conv1_1")]  # the copy is not dreamed again

    html = (out / "index.html").read_text(encoding="utf-8")
    text = unescape(re.sub(r"<[^>]+>", "", html))  # what a reader sees
    sheet = (out / "contact-sheet.html").read_text(encoding="utf-8")
    sheet_text = unescape(re.sub(r"<[^>]+>", "", sheet))  # what the author sees
    for photo in photos.values():  # the failed ones too, each with its reason, for the author
        assert photo["source"] in sheet_text and (photo["error"] or "") in sheet_text
        assert not photo["error"] or photo["error"] not in text   # the post: no reasons
    for skipped in manifest["skipped"]:  # a second copy is said from its typed field, not the prose
        said = f"the same photo as {skipped['duplicate_of']}" if skipped["duplicate_of"] else skipped["reason"]
        assert f"{skipped['source']}: {said}" in sheet_text and skipped["source"] not in text
    assert text.count("Škoda copy.jpg") == 0 and sheet_text.count("Škoda copy.jpg") == 1  # the photo is shown once

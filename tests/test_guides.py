"""Guide-image dreams as a traveller uses them: album.yaml `guide:`, for the album or one photo,
naming a photo of the album or an image file beside it; a bad guide is one line before any
work; the page and the manifest name the guide (never a folder of this machine); a changed
guide or mode dreams again, an unchanged one reuses."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

import pytest
from PIL import Image

from flows.cli import main
from helpers import noisy_image
from pipeline.config import load_settings
from pipeline.dream.spec import DreamSpec
from pipeline.guides import GuideFile, guide_path, resolve_guides
from pipeline.ingest.album import load_album_text
from pipeline.manifest import GuideEntry, PhotoEntry
from pipeline.output.manifest_file import read_manifest
from pipeline.dream.spec import DreamRecipe

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def trip(tmp_path):
    """An album of two photos, and a guide outside it, in a folder beside it."""
    album, guides = tmp_path / "trip", tmp_path / "guides"
    album.mkdir(), guides.mkdir()
    noisy_image(96, 64, seed=1).save(album / "a-hill.jpg")
    noisy_image(80, 64, seed=2).save(album / "b-lake.png")
    noisy_image(64, 64, seed=3).resize((120, 90)).save(guides / "falls.jpg")
    return album


def _config(tmp_path, weights_cache, extra="") -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text("layers: [conv2_1]\n"
                    "dream: {octaves: 1, steps: 2, jitter: 4}\n"
                    "images: {dream_size: 64, web_sizes: [48, 96], formats: [jpeg]}\n"
                    "tasks: {retries: 0}\n"
                    f"weights: {{source: hed, cache_dir: '{weights_cache}'}}\n" + extra)
    return path


def _run(album, config, out) -> int:
    return main(["run", str(album), "-c", str(config), "-o", str(out), "--device", "cpu"])


def _dreams(out: Path) -> dict[str, str]:
    return {p.source: [d.image.path for d in p.dreams] for p in read_manifest(out).photos}


def test_a_guided_album_names_its_guide_and_dreams_again_only_when_the_guide_changes(
        prefect_harness, trip, tmp_path, weights_cache):
    (trip / "album.yaml").write_text("guide: ../guides/falls.jpg\n"
                                     "photos:\n  b-lake.png:\n    guide: a-hill.jpg\n")
    config, out = _config(tmp_path, weights_cache), tmp_path / "out"
    assert _run(trip, config, out) == 0
    photos = {p.source: p for p in read_manifest(out).photos}
    hill, lake = photos["a-hill.jpg"], photos["b-lake.png"]
    assert hill.guide.name == "falls.jpg" and lake.guide.name == "a-hill.jpg"  # no folders of this machine
    assert lake.guide.sha256 == hill.sha256 and lake.guide.web == hill.web     # an album photo: its own copies
    for web in hill.guide.web:  # the outside guide is published as a photo is
        with Image.open(out / web.path) as copy:
            assert copy.size == (web.width, web.height) and web.path.startswith("photos/falls-")
    page = (out / "index.html").read_text()
    assert page.count("Dreamed toward") == 2 and hill.guide.web[0].path in page and hill.guide.web[-1].path in page
    assert "Dreamed toward [another picture](photos/falls-" in (out / "post.md").read_text()   # no file name
    manifest_text = (out / "manifest.json").read_text()
    assert str(tmp_path) not in manifest_text and "../guides" not in manifest_text + page

    assert main(["clean", str(trip), "-o", str(out)]) == 0 and all(  # the guide's copies are in use
        (out / web.path).is_file() for web in hill.guide.web)
    first = _dreams(out)
    assert _run(trip, config, out) == 0
    assert _dreams(out) == first and all(d.reused for p in read_manifest(out).photos for d in p.dreams)

    noisy_image(64, 64, seed=4).resize((120, 90)).save(tmp_path / "guides" / "falls.jpg")  # another guide
    assert _run(trip, config, out) == 0
    again = _dreams(out)
    assert again["a-hill.jpg"] != first["a-hill.jpg"] and again["b-lake.png"] == first["b-lake.png"]

    other_mode = _config(tmp_path, weights_cache, "dream: {octaves: 1, steps: 2, jitter: 4, guide_mode: channels}\n")
    assert _run(trip, other_mode, out) == 0
    assert all(_dreams(out)[name] != again[name] for name in again)


def test_the_guided_dream_differs_from_the_plain_one_and_the_plain_keeps_its_key():
    settings = load_settings(None, {"images.dream_size": 64, "device": "cpu"})
    spec = DreamSpec.decide(settings, "hed:test")
    photo = PhotoEntry(source="a.jpg", sha256="ab" * 32, status="ok", width=96, height=64)
    plain = spec.files(photo, "conv4_3").image
    recipe = DreamRecipe(photo.sha256, "conv4_3", spec.params, 64, spec.precision, spec.size_step, spec.weights,
                         spec.formats.jpeg_quality)
    before_guides = {key: value for key, value in asdict(recipe).items() if key != "guide"}
    assert recipe.key() == hashlib.sha256(json.dumps(before_guides, sort_keys=True).encode()).hexdigest()[:16]
    assert recipe.key()[:8] in plain  # no dream made before guides existed is dreamed again
    guided = photo.model_copy(update={"guide": GuideEntry(name="g.jpg", sha256="cd" * 32)})
    names = {spec.files(guided, "conv4_3").image,
             spec.files(guided.model_copy(update={"guide": GuideEntry(name="g.jpg", sha256="ef" * 32)}),
                        "conv4_3").image,
             replace(spec, guide_mode="channels").files(guided, "conv4_3").image}
    assert len(names) == 3 and plain not in names


def test_a_photo_is_never_its_own_guide_and_its_own_guide_wins(trip):
    (trip / "album.yaml").write_text("guide: a-hill.jpg\nphotos:\n  b-lake.png:\n    guide: ../guides/falls.jpg\n")
    text = load_album_text(trip)
    assert text.guide_for("a-hill.jpg") is None and text.guide_for("b-lake.png") == "../guides/falls.jpg"
    assert text.guide_for("c-new.jpg") == "a-hill.jpg"


@pytest.mark.parametrize("written", ["./b-lake.png", "x/../b-lake.png", ".\\b-lake.png", "../trip/b-lake.png",
                                     "{trip}/b-lake.png", "./././b-lake.png"])
def test_a_photo_is_never_its_own_guide_however_the_path_is_written(trip, written):
    """The guide is resolved to the photo of the album it names (no copy of it ingested as an
    outside image), and that photo is dreamed as if it named no guide."""
    written = written.format(trip=trip)
    (trip / "album.yaml").write_text(f"photos:\n  b-lake.png:\n    guide: '{written}'\n"
                                     f"  a-hill.jpg:\n    guide: '{written}'\n")
    text = load_album_text(trip)
    assert text.guide_for("b-lake.png") is None and text.guide_for("a-hill.jpg") == written
    files = resolve_guides(trip, text.guides(), ["a-hill.jpg", "b-lake.png"], "album.yaml")
    assert files[written] == GuideFile(name="b-lake.png", relative="b-lake.png", in_album=True)


def test_a_guide_outside_the_album_keeps_its_path(trip):
    assert guide_path(trip, "../guides/./falls.jpg") == "../guides/falls.jpg"
    assert guide_path(trip, "../trip2/x.jpg") == "../trip2/x.jpg"   # a sibling whose name starts alike


def _cli(*args) -> subprocess.CompletedProcess:
    script = ("import sys\nfrom flows.cli import main\nrc = main(sys.argv[1:])\n"
              "print('prefect imported' if 'prefect' in sys.modules else 'prefect not imported')\nsys.exit(rc)\n")
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)


@pytest.mark.parametrize("yaml_text, said", [
    ("guide: a-hil.jpg\n", "guide: got 'a-hil.jpg'; expected a photo of the album, or an image file by its path "
                           "relative to album.yaml: there is no such file (did you mean a-hill.jpg?)"),
    ("photos:\n  a-hill.jpg:\n    guide: notes.txt\n", "photos.a-hill.jpg.guide: got 'notes.txt'; expected a photo "
                                                        "of the album, or an image file by its path relative to "
                                                        "album.yaml: this file is not an image (text)"),
    ("guide: ../guides/broken.jpg\n", "guide: got '../guides/broken.jpg'; expected a photo of the album, or an "
                                      "image file by its path relative to album.yaml: it cannot be used"),
], ids=["unknown-photo", "not-an-image", "broken-image"])
def test_a_bad_guide_is_one_line_before_any_work(trip, tmp_path, yaml_text, said):
    (trip / "notes.txt").write_text("remember the tram tickets")
    (tmp_path / "guides" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 20)
    (trip / "album.yaml").write_text(yaml_text)
    done = _cli("run", str(trip), "-o", str(tmp_path / "out"))
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and said in done.stderr and "album.yaml" in done.stderr
    assert "prefect not imported" in done.stdout and not (tmp_path / "out").exists()

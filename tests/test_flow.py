"""The whole product, as a user meets it: `dreamtrip run` on a small album with bad files in it."""

import json
from pathlib import Path

import pytest
from PIL import Image

from flows.cli import main

GOOD = ["a-red.jpg", "b-green.png"]


def _photo(path: Path, colour, size=(96, 64), exif=None, mode="RGB"):
    image = Image.new(mode, size, colour)
    for x in range(0, size[0], 8):  # some structure for the network to find
        for y in range(size[1] // 2):
            image.putpixel((x, y), (255, 255, 255) if mode == "RGB" else (255, 255, 255, 255))
    image.save(path, exif=exif) if exif is not None else image.save(path)


@pytest.fixture
def album(tmp_path):
    root = tmp_path / "trip"
    root.mkdir()
    _photo(root / "a-red.jpg", (200, 30, 30))
    _photo(root / "b-green.png", (30, 160, 60, 128), mode="RGBA")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored on its side: must come out portrait
    exif[0x0110] = "<script>alert(1)</script>"
    _photo(root / "c-rotated.jpg", (30, 30, 200), size=(96, 64), exif=exif)
    good = (root / "a-red.jpg").read_bytes()
    (root / "d-truncated.jpg").write_bytes(good[: len(good) // 2])
    (root / "e-empty.jpg").write_bytes(b"")
    (root / "f-text.jpg").write_text("this is not a photo")
    (root / "notes.txt").write_text("remember the tram tickets")
    (root / "album.yaml").write_text(
        "title: Test trip\n"
        "intro: <script>alert(1)</script> went to the sea\n"
        "photos:\n"
        "  a-red.jpg:\n"
        "    story: A red wall.\n"
        "    layers: [conv2_1]\n"
    )
    return root


@pytest.fixture
def tiny_config(tmp_path, weights_cache):
    path = tmp_path / "tiny.yaml"
    path.write_text(
        "layers: [conv1_2, conv2_1]\n"
        "dream: {octaves: 2, steps: 2, jitter: 4}\n"
        "images: {working_size: 64, web_sizes: [48, 96]}\n"
        "tasks: {retries: 0}\n"
        f"weights: {{source: hed, cache_dir: '{weights_cache}'}}\n"
    )
    return path


def _run(album, config, out, *extra):
    return main(["run", str(album), "-c", str(config), "-o", str(out), "--device", "cpu", *extra])


def test_run_writes_page_with_every_photo_and_reports_bad_files(prefect_harness, album, tiny_config, tmp_path):
    out = tmp_path / "out"
    assert _run(album, tiny_config, out) == 1  # some photos failed

    manifest = json.loads((out / "manifest.json").read_text())
    photos = {p["source"]: p for p in manifest["photos"]}
    assert set(photos) == {"a-red.jpg", "b-green.png", "c-rotated.jpg", "d-truncated.jpg",
                           "e-empty.jpg", "f-text.jpg"}
    assert manifest["skipped"] == [{"source": "notes.txt", "reason": "not a photo (.txt)"}]
    assert manifest["weights"]["source"] == "hed" and manifest["weights"]["reason"]

    for name in ["d-truncated.jpg", "e-empty.jpg", "f-text.jpg"]:
        assert photos[name]["status"] == "failed" and photos[name]["error"], name
        assert photos[name]["dreams"] == []
    assert "empty" in photos["e-empty.jpg"]["error"]

    # per-photo layer override from album.yaml, default layers elsewhere, shallow to deep
    assert [d["layer"] for d in photos["a-red.jpg"]["dreams"]] == ["conv2_1"]
    assert [d["layer"] for d in photos["b-green.png"]["dreams"]] == ["conv1_2", "conv2_1"]
    for name in ["a-red.jpg", "b-green.png", "c-rotated.jpg"]:
        photo = photos[name]
        assert photo["status"] == "ok" and len(photo["sha256"]) == 64
        for dream in photo["dreams"]:
            assert dream["status"] == "ok" and dream["seconds"] > 0
            assert Image.open(out / dream["path"]).size == (dream["width"], dream["height"])
    rotated = photos["c-rotated.jpg"]
    assert rotated["exif"]["orientation"] == 6
    assert rotated["image"]["height"] > rotated["image"]["width"]  # upright: portrait
    for dream in rotated["dreams"]:  # full resolution: the upright original's size
        assert Image.open(out / dream["full_path"]).size == (64, 96)

    html = (out / "index.html").read_text()
    for name in photos:
        assert name in html, name
    for photo in photos.values():
        for dream in photo["dreams"]:
            assert dream["path"] in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html
    assert (out / "post.md").read_text().startswith("---\n")


def test_rerun_dreams_nothing(prefect_harness, album, tiny_config, tmp_path):
    out = tmp_path / "out"
    _run(album, tiny_config, out)
    dreams = sorted((out / "dreams").iterdir())
    stamps = {p: p.stat().st_mtime_ns for p in dreams}

    assert _run(album, tiny_config, out) == 1
    assert sorted((out / "dreams").iterdir()) == dreams
    assert {p: p.stat().st_mtime_ns for p in dreams} == stamps
    # A reused dream still has its size in the manifest: the page sets every image's size.
    manifest = json.loads((out / "manifest.json").read_text())
    reused = [d for p in manifest["photos"] for d in p["dreams"]]
    assert reused and all(d["width"] and d["height"] for d in reused)


def test_adding_a_layer_dreams_only_the_new_one(prefect_harness, album, tiny_config, tmp_path):
    out = tmp_path / "out"
    _run(album, tiny_config, out)
    before = set((out / "dreams").iterdir())
    _run(album, tiny_config, out, "--layers", "conv1_2", "conv2_1", "conv3_1")
    new = set((out / "dreams").iterdir()) - before
    # a-red.jpg keeps its album.yaml override; the other two good photos gain conv3_1,
    # each at working size and at full resolution
    assert sorted(p.name.split("-")[1] for p in new) == ["conv3_1"] * 4
    assert sum(p.name.endswith("-full.jpg") for p in new) == 2


def test_bad_album_yaml_exits_2_before_any_work(album, tiny_config, tmp_path, capsys):
    (album / "album.yaml").write_text("photos:\n  a-red.jpg:\n    layers: [conv9_9]\n")
    assert _run(album, tiny_config, tmp_path / "out") == 2
    assert "photos.a-red.jpg.layers" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cuda_without_a_gpu_is_a_clear_usage_error(prefect_harness, album, tiny_config, tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    out = tmp_path / "out"
    assert main(["run", str(album), "-c", str(tiny_config), "-o", str(out), "--device", "cuda"]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err


def test_batched_layers_give_the_same_dreams_as_one_at_a_time(prefect_harness, album, tiny_config, tmp_path):
    import numpy as np

    batched_config = tmp_path / "batched.yaml"
    batched_config.write_text(tiny_config.read_text() + "engine: {batch_layers: 'yes'}\n")
    one, many = tmp_path / "one", tmp_path / "many"
    _run(album, tiny_config, one)
    _run(album, batched_config, many)
    first, second = (json.loads((out / "manifest.json").read_text()) for out in (one, many))
    paths = [d["path"] for p in first["photos"] for d in p["dreams"]]
    assert paths == [d["path"] for p in second["photos"] for d in p["dreams"]] and paths
    for path in paths:
        a = np.asarray(Image.open(one / path), dtype=np.float32)
        b = np.asarray(Image.open(many / path), dtype=np.float32)
        assert np.abs(a - b).mean() < 1.0, path  # the same dream, up to float rounding

"""Issue 17, findings 1, 2 and 4, tried from the outside (the CLI in a subprocess): dreamtrip
deletes and overwrites only what it wrote, its output never comes back in as photos, and a
damaged stored file is made again rather than published.

Each test failed on main ab1a6ad: `run trip -o trip` then `clean --yes` deleted photos; a
pre-filled output folder lost its index.html, photos/ and dreams/ files; `run .` twice dreamed
its own output; truncated, emptied and overwritten files were published as finished."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from pipeline.output.manifest_file import read_manifest
from pipeline.output.records import RECORD

REPO = Path(__file__).resolve().parent.parent
PHOTOS = {"a.jpg": (200, 30, 30), "b.png": (30, 160, 60), "day2/c.jpg": (30, 30, 200)}


@pytest.fixture
def trip(tmp_path):
    """An album of three photos, a story, and a note of the traveller's."""
    root = tmp_path / "trip"
    for name, colour in PHOTOS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        image = Image.new("RGB", (80, 56), colour)
        for x in range(0, 80, 8):
            image.putpixel((x, 10), (255, 255, 255))
        image.save(root / name)
    (root / "album.yaml").write_text("title: Safe trip\nphotos:\n  a.jpg:\n    story: Red.\n")
    (root / "notes.txt").write_text("tram tickets in the blue bag\n")
    return root


@pytest.fixture
def config(tmp_path, weights_cache):
    path = tmp_path / "tiny.yaml"
    path.write_text("layers: [conv1_2]\n"
                    "dream: {octaves: 2, steps: 2, jitter: 4}\n"
                    "images: {dream_size: 64, web_sizes: [48, 96]}\n"
                    f"weights: {{source: hed, cache_dir: '{weights_cache}'}}\n")
    return path


@pytest.fixture
def cli(prefect_harness):
    """dreamtrip in a fresh process (on the session's Prefect server, to save its start-up)."""
    from prefect.settings import PREFECT_API_URL

    env = dict(os.environ, PYTHONPATH=str(REPO), PREFECT_API_URL=PREFECT_API_URL.value())

    def run(*args, cwd=REPO) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "flows.cli", *map(str, args)], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=600)
    return run


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def _one_line(done: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


# ---------------------------------------------------------------- finding 1


def test_the_album_as_its_output_folder_loses_no_byte(cli, trip, config):
    before = _snapshot(trip)
    done = cli("run", trip, "-c", config, "-o", trip, "--device", "cpu")
    assert done.returncode == 2
    line = _one_line(done)
    assert "is the album folder" in line and "-o " in line
    done = cli("clean", trip, "-o", trip, "--yes")
    assert done.returncode == 2 and "is the album folder" in _one_line(done)
    assert _snapshot(trip) == before  # not even a lock file


def test_a_pre_filled_output_folder_loses_no_byte(cli, trip, config, tmp_path):
    site = tmp_path / "site"
    mine = {"index.html": b"<h1>My own home page</h1>", "photos/family.jpg": b"\xff\xd8 my family",
            "dreams/notes.txt": b"dreams I wrote down", "about/index.html": b"<p>me</p>",
            ".tmp-keep.txt": b"not a temp file of dreamtrip's", "about/.tmp-draft.html": b"<p>draft"}
    for name, data in mine.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_bytes(data)

    done = cli("run", trip, "-c", config, "-o", site, "--device", "cpu")
    assert done.returncode == 2
    line = _one_line(done)
    assert f"{site / 'dreams/notes.txt'} (and 2 more) was not written by dreamtrip" in line
    assert cli("clean", trip, "-o", site, "--yes").returncode == 2  # no post there to clean
    assert _snapshot(site) == mine  # not even a lock file

    # Moved out of the way, the run goes ahead; files the traveller adds later stay through clean.
    (site / "index.html").rename(tmp_path / "my-index.html")
    for name in ("photos/family.jpg", "dreams/notes.txt"):
        (site / name).unlink()
    assert cli("run", trip, "-c", config, "-o", site, "--device", "cpu").returncode == 0
    later = {"photos/family.jpg": b"\xff\xd8 my family", "dreams/notes.txt": b"dreams I wrote down"}
    for name, data in later.items():
        (site / name).write_bytes(data)
    (trip / "b.png").unlink()  # so that clean has something of dreamtrip's to delete
    done = cli("clean", trip, "-o", site, "--yes")
    assert done.returncode == 0 and "Deleted" in done.stdout, done.stderr
    assert {k: v for k, v in _snapshot(site).items() if k in later} == later
    for name in ("about/index.html", ".tmp-keep.txt", "about/.tmp-draft.html"):
        assert (site / name).read_bytes() == mine[name]
    done = cli("run", trip, "-c", config, "-o", site, "--device", "cpu")  # they are in its way now
    assert done.returncode == 2 and "dreams/notes.txt (and 1 more) was not written by dreamtrip" in done.stderr


# ---------------------------------------------------------------- finding 2


def test_run_dot_twice_lists_exactly_the_albums_photos(cli, trip, config):
    old = trip / "out" / "old-release"  # an output folder an earlier release left in the album
    (old / "photos").mkdir(parents=True)
    (old / "manifest.json").write_text('{\n  "dreamtrip_version": "0.1.0",\n  "photos": []\n}\n')
    Image.new("RGB", (80, 56), "white").save(old / "photos" / "a-0123abcd-80.jpg")

    for attempt in (1, 2):
        done = cli("run", ".", "-c", config, "--device", "cpu", cwd=trip)
        assert done.returncode == 0, done.stderr
        manifest = _manifest(trip / "out" / "trip")
        assert sorted(photo["source"] for photo in manifest["photos"]) == sorted(PHOTOS)
        assert [entry["source"] for entry in manifest["skipped"]] == ["notes.txt"]
        assert len(manifest["photos"]) * 1 == sum(len(p["dreams"]) for p in manifest["photos"])
        left_out = [line for line in done.stderr.splitlines() if "left out" in line]
        expected = ["out/old-release/"] + (["out/trip/"] if attempt == 2 else [])
        assert left_out == [f"dreamtrip: warning: left out {', '.join(expected)}: dreamtrip output, not photos"]
    assert manifest["run"] == {"dreamed": 0, "reused": 3, "dream_seconds": None}
    page = (trip / "out" / "trip" / "index.html").read_text()
    assert "manifest.json" not in page and "old-release" not in page and "dreams/" not in page.split("<footer", 1)[-1]


# ---------------------------------------------------------------- finding 4


def _all_decode(out: Path, manifest: dict) -> None:
    for photo in manifest["photos"]:
        paths = [w["path"] for w in photo["web"]]
        paths += [f["path"] for d in photo["dreams"] for f in [d["image"], *d["web"]]]
        for path in paths:
            with Image.open(out / path) as image:
                image.load()


def test_damaged_stored_files_are_made_again_and_retry_counts_them_missing(cli, trip, config, tmp_path):
    out = tmp_path / "out"
    assert cli("run", trip, "-c", config, "-o", out, "--device", "cpu").returncode == 0
    manifest = _manifest(out)
    a, b, c = sorted(manifest["photos"], key=lambda p: p["source"])

    # Truncated, emptied, overwritten with junk: `run` makes them again (the old code published them).
    truncated, emptied, junk = a["dreams"][0]["image"]["path"], b["web"][0]["path"], c["dreams"][0]["web"][0]["path"]
    good = {path: (out / path).read_bytes() for path in (truncated, emptied, junk)}
    (out / truncated).write_bytes(good[truncated][:len(good[truncated]) // 2])
    (out / emptied).write_bytes(b"")
    (out / junk).write_bytes(b"<html>not a picture</html>")
    done = cli("run", trip, "-c", config, "-o", out, "--device", "cpu")
    assert done.returncode == 0, done.stderr
    assert "3 of 3 dreams ok (1 dreamed now, 2 from earlier runs)" in done.stdout
    assert (out / emptied).read_bytes() == good[emptied]  # the photo's web copy: the same bytes again
    assert (out / junk).read_bytes()[:2] == b"\xff\xd8"    # the dream's: cut again from the stored dream
    _all_decode(out, _manifest(out))

    # Junk of the same size: only its hash tells. `retry` checks hashes: it counts as missing.
    (out / truncated).write_bytes(b"j" * (out / truncated).stat().st_size)
    done = cli("retry", trip, "-o", out, "--device", "cpu")
    assert done.returncode == 0, done.stderr
    assert "Retrying 1:" in done.stdout and "damaged" in done.stdout
    assert "Retried 1: 1 now ok, 0 still failing" in done.stdout
    _all_decode(out, _manifest(out))

    # After a run that did not finish (killed after it started), `run` checks hashes too.
    with open(out / RECORD, "a") as record:
        record.write('\n{"run": "started"}\n')
    (out / emptied).write_bytes(b"j" * len(good[emptied]))
    assert cli("run", trip, "-c", config, "-o", out, "--device", "cpu").returncode == 0
    assert (out / emptied).read_bytes() == good[emptied]


# ---------------------------------------------------------------- an earlier release's folder


def test_run_on_a_0_2_0_folder_refuses_nothing_and_loses_nothing(cli, tmp_path, weights_cache):
    release = Path(__file__).parent / "fixtures" / "release-0.2.0"
    shutil.copytree(release / "trip", tmp_path / "trip")
    shutil.copytree(release / "out", tmp_path / "out")
    album, out = tmp_path / "trip", tmp_path / "out"
    config = tmp_path / "tiny.yaml"
    config.write_text((release / "tiny.yaml").read_text().replace(
        "weights: {source: hed}", f"weights: {{source: hed, cache_dir: '{weights_cache}'}}"))
    stale = "dreams/77959f911ded-conv5_2-0123abcd.jpg"  # a dream of settings since changed
    shutil.copyfile(out / "dreams" / "77959f911ded-conv1_2-afff3030.jpg", out / stale)
    before = _snapshot(out)

    old_dreams = {path for photo in read_manifest(out).photos for dream in photo.dreams for path in dream.files()}
    done = cli("run", album, "-c", config, "-o", out)
    assert done.returncode == 0, done.stderr
    # The engine's revision 2 (no edge bands) dreams other pixels: 0.2.0's dreams stay in use
    # (an older recipe) until `run --renew` makes them again, under new names, beside 0.2.0's,
    # which stay as they were until `clean`.
    assert "4 of 4 dreams ok (0 dreamed now, 4 from earlier runs)" in done.stdout
    assert "4 dreams are of an older recipe" in done.stdout
    done = cli("run", album, "-c", config, "-o", out, "--renew")
    assert "4 of 4 dreams ok (4 dreamed now, 0 from earlier runs)" in done.stdout, done.stderr
    after = _snapshot(out)
    rewritten = {"manifest.json", "index.html", "post.md", "contact-sheet.html", "style.css", "dreamtrip.js",
                 ".dreamtrip.lock"}
    assert {k: v for k, v in after.items() if k in before and k not in rewritten} == \
        {k: v for k, v in before.items() if k not in rewritten}

    # The AVIF twins this release cut from 0.2.0's dreams while they were in use go with them.
    twins = {path for path in after if path.endswith(".avif")
             and any(path.startswith(old.removesuffix(".jpg")) for old in old_dreams)}
    done = cli("clean", album, "-o", out, "--yes")  # dreamtrip's own leftovers go, nothing else
    assert done.returncode == 0 and f"Deleted {len(old_dreams) + len(twins) + 1} files" in done.stdout, done.stderr
    assert set(before) - set(_snapshot(out)) - {".dreamtrip.lock"} == {stale} | old_dreams  # (the lock goes with its run)

"""Issue 21: one owner of the output folder (pipeline/output/), tried from the outside (the CLI in
a subprocess). Each test reproduces a finding that lost or damaged data on main c42381f:

1. a lost record (or a 0.2.0 folder) made `clean --yes` delete a traveller's photo named like a
   web copy: every file named the way dreamtrip names files was adopted;
2. links were followed when writing: a lock or a record linked to an album's file was written
   through (a symbolic link by `run`, a hard link by a plain `clean`);
3. a record line through a linked folder (`photos/sub` -> the album) made `clean --yes` delete
   the album's photo;
4. `clean --yes` with the wrong album deleted every dream; moving photos into a sub-folder of the
   album deleted theirs;
5. `.dreamtrip-tmp-*` files that dreamtrip never wrote were deleted;
6. a copy overwritten with junk of the same size was published as ok by `run`; `retry` and `blog`
   did not check the AVIF twins of photo copies;
7. `-o` among the album's photos, an album inside an output folder, and the store in the album
   were not refused;
8. a photo with a 255-byte name failed: its web copy's name was longer.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from pipeline.output.files import sha256_of
from pipeline.output.records import RECORD

REPO = Path(__file__).resolve().parent.parent
LONG_NAME = "l" * 251 + ".jpg"   # 255 bytes, the most a file name may hold
PHOTOS = {"a.jpg": (200, 30, 30), "b.jpg": (30, 160, 60), LONG_NAME: (30, 30, 200)}


def _photo(path: Path, colour, size=(80, 56)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size, colour)
    for x in range(0, size[0], 8):
        image.putpixel((x, 10), (255, 255, 255))
    image.save(path, quality=90)


@pytest.fixture(scope="module")
def cli(prefect_harness):
    from prefect.settings import PREFECT_API_URL

    env = dict(os.environ, PYTHONPATH=str(REPO), PREFECT_API_URL=PREFECT_API_URL.value())

    def run(*args) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "flows.cli", *map(str, args)], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=600)
    return run


@pytest.fixture(scope="module")
def made(cli, tmp_path_factory, weights_cache):
    """An album of three photos (one with a 255-byte name) and the output folder `run` made of it
    (web copies at 48 and 96 px, JPEG and AVIF; one dream each). Made once; tests copy it."""
    root = tmp_path_factory.mktemp("made")
    album, out, config = root / "trip", root / "out", root / "tiny.yaml"
    for name, colour in PHOTOS.items():
        _photo(album / name, colour)
    (album / "album.yaml").write_text("title: Owner trip\n")
    config.write_text("layers: [conv1_2]\n"
                      "dream: {octaves: 2, steps: 2, jitter: 4, precision: fp32}\n"
                      "images: {dream_size: 64, web_sizes: [48, 96], formats: [avif, jpeg]}\n"
                      f"weights: {{source: hed, cache_dir: '{weights_cache}'}}\n")
    done = cli("run", album, "-c", config, "-o", out, "--device", "cpu")
    assert done.returncode == 0, done.stderr
    return root


@pytest.fixture
def trip(made, tmp_path):
    """A copy of the made album and output folder: (album, out, config)."""
    shutil.copytree(made, tmp_path / "t", symlinks=True)
    return tmp_path / "t" / "trip", tmp_path / "t" / "out", tmp_path / "t" / "tiny.yaml"


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


def _one_line(done: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def _recorded(out: Path) -> dict[str, dict]:
    found = {}
    for line in (out / RECORD).read_text().splitlines():
        entry = json.loads(line) if line.strip() else {}
        if "path" in entry:
            found[entry["path"]] = entry
            if entry.get("gone"):
                del found[entry["path"]]
    return found


# ---------------------------------------------------------------- finding 1


def test_a_lost_record_adopts_only_what_its_content_proves(cli, trip):
    album, out, _ = trip
    (out / RECORD).unlink()
    mine = out / "photos" / "img-20240501-1.jpg"   # named the way dreamtrip names web copies
    _photo(mine, (1, 2, 3), (48, 34))
    ours = _manifest(out)["photos"][0]["dreams"][0]["web"][0]["path"]
    removed = sha256_of(album / "b.jpg")
    (album / "b.jpg").unlink()  # so that clean has files of dreamtrip's to delete

    done = cli("clean", album, "-o", out, "--yes")
    assert done.returncode == 0, done.stderr
    assert "Deleted" in done.stdout
    assert mine.is_file()                                    # the traveller's photo stays
    assert ours in _recorded(out) and (out / ours).is_file()  # what the manifest proves is adopted
    assert not [p for p in (out / "dreams").iterdir() if p.name.startswith(removed[:12])]


def test_a_0_2_0_folder_adopts_what_its_manifest_names_and_nothing_named_alike(cli, tmp_path):
    fixture = REPO / "tests" / "fixtures" / "release-0.2.0"
    shutil.copytree(fixture / "trip", tmp_path / "trip")
    shutil.copytree(fixture / "out", tmp_path / "out")
    out = tmp_path / "out"
    mine = out / "photos" / "beach-20240501-2.jpg"
    _photo(mine, (9, 9, 9), (48, 34))
    (tmp_path / "trip" / "market.jpg").unlink()

    done = cli("clean", tmp_path / "trip", "-o", out, "--yes")
    assert done.returncode == 0, done.stderr
    assert mine.is_file()
    # The market photo's files were proven (named by the manifest, of the size it says) and deleted.
    assert not list(out.rglob("*c9f41fdc*")) and list(out.rglob("*77959f91*"))


# ---------------------------------------------------------------- findings 2 and 3


def test_a_lock_linked_to_a_photo_is_never_written_through(cli, trip):
    album, out, config = trip
    photo = (album / "a.jpg").read_bytes()
    (out / ".dreamtrip.lock").symlink_to(album / "a.jpg")
    done = cli("run", album, "-c", config, "-o", out, "--device", "cpu")
    assert done.returncode == 2
    assert f"{out / '.dreamtrip.lock'} is a link" in _one_line(done)
    assert (album / "a.jpg").read_bytes() == photo

    (out / ".dreamtrip.lock").unlink()
    os.link(album / "a.jpg", out / ".dreamtrip.lock")   # a hard link: replaced, never written through
    done = cli("clean", album, "-o", out)
    assert done.returncode == 0, done.stderr
    assert (album / "a.jpg").read_bytes() == photo


def test_a_record_linked_to_a_file_is_never_written_through(cli, trip, tmp_path):
    album, out, config = trip
    story = (album / "album.yaml").read_bytes()
    fresh = tmp_path / "fresh"   # a new output folder, with only the link in it
    fresh.mkdir()
    (fresh / RECORD).symlink_to(album / "album.yaml")
    done = cli("run", album, "-c", config, "-o", fresh, "--device", "cpu")
    assert done.returncode == 2
    assert f"{fresh / RECORD} is a link" in _one_line(done)
    assert (album / "album.yaml").read_bytes() == story

    kept = tmp_path / "record-backup.jsonl"
    os.link(out / RECORD, kept)   # the traveller's backup shares the record's file
    backup = kept.read_bytes()
    (album / "b.jpg").unlink()
    done = cli("clean", album, "-o", out, "--yes")
    assert done.returncode == 0 and "Deleted" in done.stdout, done.stderr
    assert kept.read_bytes() == backup
    assert (out / RECORD).read_bytes() != backup


def test_a_record_line_through_a_linked_folder_is_not_followed(cli, trip):
    album, out, _ = trip
    photo = (album / "a.jpg").read_bytes()
    (out / "photos" / "sub").symlink_to(album)
    with open(out / RECORD, "a") as record:
        record.write("\n" + json.dumps({"path": "photos/sub/a.jpg", "size": len(photo),
                                        "sha256": sha256_of(album / "a.jpg")}) + "\n")
    done = cli("clean", album, "-o", out, "--yes")
    assert done.returncode == 0, done.stderr
    assert (album / "a.jpg").read_bytes() == photo


# ---------------------------------------------------------------- finding 4


def test_clean_with_the_wrong_album_stops_and_deletes_nothing(cli, trip, tmp_path):
    album, out, _ = trip
    vienna = tmp_path / "vienna"
    _photo(vienna / "opera.jpg", (90, 90, 10))
    before = _snapshot(out)
    for yes in ([], ["--yes"]):
        done = cli("clean", vienna, "-o", out, *yes)
        assert done.returncode == 2
        line = _one_line(done)
        assert "holds 0 of the 3 photos of the post" in line and "Nothing was changed" in line
    assert _snapshot(out) == before


def test_photos_moved_within_the_album_keep_their_dreams(cli, trip):
    album, out, _ = trip
    (album / "day1").mkdir()
    (album / "a.jpg").rename(album / "day1" / "a.jpg")
    kept = {k: v for k, v in _snapshot(out).items() if k.startswith(("photos/", "dreams/"))}
    done = cli("clean", album, "-o", out, "--yes")
    assert done.returncode == 0, done.stderr
    assert {k: v for k, v in _snapshot(out).items() if k.startswith(("photos/", "dreams/"))} == kept
    done = cli("blog", album, "-o", out)
    assert done.returncode == 0, done.stderr
    assert "a.jpg -> day1/a.jpg" in done.stdout
    assert "day1/a.jpg" in {photo["source"] for photo in _manifest(out)["photos"]}


# ---------------------------------------------------------------- finding 5


def test_only_dreamtrips_own_temp_files_are_swept(cli, trip):
    album, out, _ = trip
    theirs = [out / ".dreamtrip-tmp-notes.txt", out / "dreams" / ".dreamtrip-tmp-mine.jpg"]
    for path in theirs:
        path.write_bytes(b"a file of the traveller's")
    killed = out / "dreams" / ".dreamtrip-tmp-1a2b3c4d-x8k2p9q1.jpg"   # as a killed run leaves one
    killed.write_bytes(b"\xff\xd8 half a jpeg")
    with open(out / RECORD, "a") as record:
        record.write('\n{"temps": "1a2b3c4d"}\n')   # its writer's token, noted before it was made
    done = cli("clean", album, "-o", out, "--yes")
    assert done.returncode == 0, done.stderr
    assert all(path.read_bytes() == b"a file of the traveller's" for path in theirs)
    assert not killed.exists()


def test_a_killed_runs_temp_file_in_the_kept_folder_is_swept_by_the_next_run(cli, trip):
    """A hidden photo's files are written outside the output folder (pipeline/output/kept.py):
    a run killed while writing one leaves its temp file there, and the next run sweeps it."""
    from pipeline.output.kept import kept_dir

    album, out, config = trip
    kept = kept_dir(out)
    (kept / "dreams").mkdir(parents=True, exist_ok=True)
    killed = kept / "dreams" / ".dreamtrip-tmp-5e6f7a8b-x8k2p9q1.jpg"
    killed.write_bytes(b"\xff\xd8 half a jpeg")
    with open(kept / RECORD, "a") as record:
        record.write('\n{"temps": "5e6f7a8b"}\n')
    done = cli("run", album, "-c", config, "-o", out, "--device", "cpu")
    assert done.returncode == 0, done.stderr
    assert not killed.exists()


# ---------------------------------------------------------------- finding 6


def _junk_of_the_same_size(path: Path) -> None:
    path.write_bytes(os.urandom(path.stat().st_size))


def _as_recorded(out: Path, relative: str) -> bool:
    return sha256_of(out / relative) == _recorded(out)[relative]["sha256"]


def test_same_size_damage_is_made_again_by_run(cli, trip):
    album, out, config = trip
    copy = _manifest(out)["photos"][0]["dreams"][0]["web"][0]["path"]
    _junk_of_the_same_size(out / copy)
    done = cli("run", album, "-c", config, "-o", out, "--device", "cpu")
    assert done.returncode == 0, done.stderr
    assert _as_recorded(out, copy)
    with Image.open(out / copy) as image:
        image.load()


def test_blog_and_retry_check_every_format_of_every_photo_copy(cli, trip):
    album, out, config = trip
    photo = _manifest(out)["photos"][0]
    twin = photo["web"][0]["alternates"]["avif"]
    _junk_of_the_same_size(out / twin)

    done = cli("blog", album, "-o", out)
    assert done.returncode == 0, done.stderr
    assert photo["source"] in done.stdout
    assert _manifest(out)["photos"][0]["status"] == "failed"   # the page shows no damaged copy

    done = cli("retry", album, "-c", config, "-o", out, "--device", "cpu")
    assert done.returncode == 0, done.stderr
    assert "Nothing to retry" not in done.stdout
    assert _as_recorded(out, twin)
    assert _manifest(out)["photos"][0]["status"] == "ok"


# ---------------------------------------------------------------- finding 7


def test_overlapping_album_output_and_store_are_refused_before_any_work(cli, trip, tmp_path):
    album, out, config = trip
    _photo(album / "day1" / "c.jpg", (10, 200, 200))
    store_in_album = tmp_path / "store.yaml"
    store_in_album.write_text(config.read_text() + f"output: {{store_dir: '{album}'}}\n")
    before_album, before_out = _snapshot(album), _snapshot(out)
    cases = {("run", album, "-c", config, "-o", album / "day1"): "holds photos",
             ("run", out / "photos", "-c", config, "-o", out): "is inside the output folder",
             ("run", album, "-c", store_in_album, "-o", out): "output.store_dir"}
    for args, said in cases.items():
        done = cli(*args, "--device", "cpu")
        assert done.returncode == 2, done.stderr
        assert said in _one_line(done)
    assert _snapshot(album) == before_album and _snapshot(out) == before_out


# ---------------------------------------------------------------- finding 8


def test_a_255_byte_photo_name_gets_web_copies_whose_names_fit(made):
    out = made / "out"
    photo = next(p for p in _manifest(out)["photos"] if p["source"] == LONG_NAME)
    assert photo["status"] == "ok" and photo["web"]
    names = [Path(path).name for web in photo["web"] for path in [web["path"], *web["alternates"].values()]]
    assert all(len(name.encode()) <= 255 and (out / "photos" / name).is_file() for name in names)

"""Operations that need no dreaming and no Prefect: `blog`, `clean`, the output lock, the store.

The output folders here are made by bench/blog_bench.py's builder (real ingest, stand-in
dream files under their real names), so no test waits for a network."""

import getpass
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

import pytest
from PIL import Image

from bench.blog_bench import make_album, make_dreamed_output
from helpers import locked_by_another_run
from flows.cli import EXIT_BUSY, main
from pipeline.output.lock import LOCK_FILE, OutputBusy, output_lock
from pipeline.output.manifest_file import read_manifest
from pipeline.output.files import TEMP_PREFIX
from pipeline.config import DreamParams
from pipeline.dream.spec import ENGINE_REVISION, DreamRecipe
from pipeline.output.records import record_of
from flows.upkeep import unfinished
from pipeline.output.store import DreamFiles, DreamStore, stale_temp_files, web_long_sides

REPO = Path(__file__).resolve().parent.parent
LAYERS = ["conv1_2", "conv3_1"]


@pytest.fixture
def dreamed(tmp_path):
    """(album, out): three photos with stories, dreamed on two layers."""
    album, out = tmp_path / "album", tmp_path / "out"
    make_album(album, 3)
    make_dreamed_output(album, out, LAYERS)
    return album, out


def _blog(album, out):
    return main(["blog", str(album), "-o", str(out)])


# ---------------------------------------------------------------- blog


def test_blog_imports_neither_torch_nor_prefect(dreamed):
    album, out = dreamed
    code = ("import sys, json\n"
            "from flows.cli import main\n"
            f"code = main(['blog', {str(album)!r}, '-o', {str(out)!r}])\n"
            "print(json.dumps({'code': code, 'torch': 'torch' in sys.modules,\n"
            "                  'prefect': 'prefect' in sys.modules}))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"code": 0, "torch": False,
                                                                 "prefect": False}


def test_blog_shows_caption_edits_and_drops_removed_photos(dreamed, capsys):
    album, out = dreamed
    before = read_manifest(out)
    gone = before.photos[1]
    gone_files = [out / path for path in gone.files()]
    yaml_text = (album / "album.yaml").read_text()
    (album / "album.yaml").write_text(yaml_text.replace("Day 1, stop 1. A short caption.",
                                                        "'Edited: the <best> espresso'")
                                               .replace("title: A long trip", "title: Renamed"))
    (album / gone.source).unlink()
    dreams_mtime = {p: p.stat().st_mtime_ns for p in (out / "dreams").iterdir()}

    assert _blog(album, out) == 0

    html = (out / "index.html").read_text()
    md = (out / "post.md").read_text()
    assert "Edited: the &lt;best&gt; espresso" in html and "Renamed" in html
    assert "Edited: the &lt;best&gt; espresso" in md
    assert gone.source not in html and gone.source not in md
    assert all(d.image.path not in html for d in gone.dreams)
    after = read_manifest(out)
    assert [p.source for p in after.photos] == [p.source for p in before.photos if p is not gone]
    assert all(path.is_file() for path in gone_files)  # stored results stay until `clean`
    assert {p: p.stat().st_mtime_ns for p in (out / "dreams").iterdir()} == dreams_mtime
    printed = capsys.readouterr().out
    assert "nothing dreamed" in printed and gone.source in printed
    assert f"Page: {(out / 'index.html').resolve()}" in printed  # absolute, as `run` prints it


def test_blog_marks_a_vanished_dream_missing_and_retry_would_redo_it(dreamed, capsys):
    album, out = dreamed
    lost = read_manifest(out).photos[0].dreams[1]
    (out / lost.image.path).unlink()
    assert _blog(album, out) == 0
    dream = read_manifest(out).photos[0].dreams[1]
    assert dream.status == "missing" and "retry" in dream.error
    assert lost.image.path not in (out / "index.html").read_text()
    assert "1 dream is not shown here." in (out / "index.html").read_text()
    assert "Not dreamed" in (out / "contact-sheet.html").read_text()
    assert [(item.layer, item.reason) for item in unfinished(read_manifest(out), out)] == \
        [(lost.layer, dream.error)]
    assert "photo copies or dreams missing or damaged" in capsys.readouterr().out


def test_blog_needs_a_manifest(tmp_path, capsys):
    (tmp_path / "album").mkdir()
    assert main(["blog", str(tmp_path / "album"), "-o", str(tmp_path / "out")]) == 2
    assert "run `dreamtrip run" in capsys.readouterr().err


# ---------------------------------------------------------------- clean


def test_clean_lists_then_deletes_only_what_the_post_no_longer_uses(dreamed, capsys):
    album, out = dreamed
    gone = read_manifest(out).photos[2]
    (album / gone.source).unlink()
    killed = f"dreams/{record_of(out).temp_prefix()}killed-run.jpg"  # named as this process's writers name theirs
    (out / killed).write_bytes(b"\xff\xd8 half a jpeg")
    record_of(out).write_bytes("dreams/0123456789ab-conv5_2-deadbeef.jpg", b"old settings")
    expected = set(gone.files()) | {killed, "dreams/0123456789ab-conv5_2-deadbeef.jpg"}
    # Not dreamtrip's, or no longer as it wrote them: never listed, never deleted.
    theirs = {"photos/family.jpg": b"a photo of mine", "dreams/notes.txt": b"my notes",
              "dreams/.tmp-abcdefgh.jpg": b"someone else's temp file", "notes/index.html": b"<p>mine",
              f"dreams/{TEMP_PREFIX}mine.jpg": b"named like dreamtrip's temp files, not one",
              "dreams/fedcba987654-conv5_2-deadbeef.jpg": b"named like a dream, not written by dreamtrip"}
    for name, data in theirs.items():
        (out / name).parent.mkdir(exist_ok=True)
        (out / name).write_bytes(data)
    record_of(out).write_bytes("dreams/aaaaaaaaaaaa-conv5_2-deadbeef.jpg", b"written, then edited")
    (out / "dreams/aaaaaaaaaaaa-conv5_2-deadbeef.jpg").write_bytes(b"written, then edited by me")
    theirs["dreams/aaaaaaaaaaaa-conv5_2-deadbeef.jpg"] = b"written, then edited by me"

    assert main(["clean", str(album), "-o", str(out)]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in expected) and "--yes" in listed
    assert all((out / name).exists() for name in expected)  # only listed

    assert not any(name in listed for name in theirs)

    assert main(["clean", str(album), "-o", str(out), "--yes"]) == 0
    assert not any((out / name).exists() for name in expected)
    assert all((out / name).read_bytes() == data for name, data in theirs.items())
    html = (out / "index.html").read_text()
    assert gone.source not in html  # the page was rewritten before its files went
    for photo in read_manifest(out).photos:  # everything the post uses is still there
        assert all((out / path).is_file() for path in photo.files())

    assert main(["clean", str(album), "-o", str(out)]) == 0
    assert "Nothing to clean" in capsys.readouterr().out


def test_clean_refuses_a_missing_album_folder(dreamed, tmp_path):
    _, out = dreamed
    assert main(["clean", str(tmp_path / "no-such-album"), "-o", str(out), "--yes"]) == 2
    assert (out / "dreams").is_dir() and any((out / "dreams").iterdir())


# ---------------------------------------------------------------- the lock


def test_lock_refuses_a_second_holder_and_says_who_holds_it(tmp_path):
    refused = []

    def second_holder():
        try:
            with output_lock(tmp_path / "out"):
                pass
        except OutputBusy as busy:
            refused.append(str(busy))

    with output_lock(tmp_path / "out"):
        with output_lock(tmp_path / "out"):  # the same thread holds it already: the flow inside the CLI
            worker = threading.Thread(target=second_holder)
            worker.start()
            worker.join()
    assert len(refused) == 1 and f"pid {os.getpid()}" in refused[0] and "--wait" in refused[0]
    with output_lock(tmp_path / "out"):  # released on exit
        pass


def test_lock_waits_when_asked(tmp_path):
    release = threading.Event()

    def hold():
        with output_lock(tmp_path / "out"):
            release.wait()

    holder = threading.Thread(target=hold)
    holder.start()
    time.sleep(0.3)
    threading.Timer(0.5, release.set).start()
    started = time.monotonic()
    with output_lock(tmp_path / "out", wait_s=30, poll_s=0.05):
        waited = time.monotonic() - started
    holder.join()
    assert 0.2 < waited < 10


def test_lock_dies_with_a_killed_holder(tmp_path):
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom pipeline.output.lock import output_lock\n"
         f"with output_lock({str(out)!r}):\n    print('held', flush=True)\n    time.sleep(600)\n"],
        cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(OutputBusy):
            with output_lock(out):
                pass
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    with output_lock(out, wait_s=5):  # no stale lock after kill -9
        pass


def test_the_lock_names_the_run_but_nothing_of_the_machine_and_leaves_no_file(tmp_path):
    out = tmp_path / "out"
    with output_lock(out):
        said = (out / LOCK_FILE).read_text()
    assert said.startswith(f"pid {os.getpid()}, `") and " since " in said
    for private in (socket.gethostname(), getpass.getuser(), str(Path.home()), str(tmp_path), os.getcwd()):
        assert f" {private}" not in said and f"{private}/" not in said, private
    assert not (out / LOCK_FILE).exists()  # a finished run leaves nothing of itself in the folder


def test_one_holder_at_a_time_while_holders_come_and_go(tmp_path):
    """Each holder removes the lock file when done: one that had opened the old file must not
    hold "the lock" beside one that made a new file."""
    out, inside, overlaps = tmp_path / "out", [], []

    def take_turns():
        for _ in range(40):
            with output_lock(out, wait_s=None, poll_s=0.001):
                inside.append(1)
                if len(inside) > 1:
                    overlaps.append(len(inside))
                time.sleep(0.0005)
                inside.pop()

    workers = [threading.Thread(target=take_turns) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert overlaps == [] and not (out / LOCK_FILE).exists()


def test_blog_refuses_while_a_run_holds_the_folder(dreamed, capsys):
    album, out = dreamed
    with locked_by_another_run(out):
        assert _blog(album, out) == EXIT_BUSY
    assert "in use by another dreamtrip run" in capsys.readouterr().err


# ---------------------------------------------------------------- the store


PARAMS = DreamParams(octaves=None, octave_scale=1.4, steps=10, step_size=0.005, momentum=0.6, jitter=32,
                     smoothing=0.5, seed=0, precision="auto")


def test_dream_key_changes_with_everything_that_changes_pixels_and_nothing_else():
    base = DreamRecipe(photo_sha256="ab" * 32, layer="conv3_1", params=PARAMS, long_side=2048,
                       precision="bf16", size_step=64, weights="hed-4502df9d", jpeg_quality=88)
    key = base.key()
    assert DreamRecipe(**vars(base)).key() == key
    changes = [{"photo_sha256": "cd" * 32}, {"layer": "conv4_2"}, {"long_side": 2047},
               {"precision": "fp32"}, {"size_step": None}, {"jpeg_quality": 90},
               {"weights": "imagenet-397923af"}, {"engine": 1}]
    changes += [{"params": DreamParams(**{**PARAMS.as_dict(), field: value})} for field, value in
                [("octaves", 3), ("octave_scale", 1.5), ("steps", 11), ("step_size", 0.02), ("momentum", 0.0),
                 ("jitter", 8), ("seed", 1), ("smoothing", 1.0)]]
    keys = {DreamRecipe(**{**vars(base), **change}).key() for change in changes}
    assert key not in keys and len(keys) == len(changes)


def test_dreams_of_the_engine_before_the_edge_fix_are_not_reused():
    """Revision 1 keyed a recipe without its engine field: those stored dreams (with the edge
    bands) must not be found under the keys of today's engine."""
    recipe = DreamRecipe("ab" * 32, "conv3_1", PARAMS, 2048, "bf16", None, "hed", 88)
    before = {field: value for field, value in asdict(recipe).items() if field != "engine"}
    old_key = hashlib.sha256(json.dumps(before, sort_keys=True).encode()).hexdigest()[:16]
    assert recipe.engine == ENGINE_REVISION >= 2 and recipe.key() != old_key


def test_a_dream_has_web_copies_smaller_than_itself_never_larger():
    recipe = DreamRecipe("ab" * 32, "conv3_1", PARAMS, 2048, "bf16", None, "hed", 88)
    files = DreamFiles.of(recipe, (480, 1024, 2048))
    assert sorted(files.copies) == [480, 1024]  # the 2048 one is the dream itself
    small = DreamFiles.of(DreamRecipe("ab" * 32, "conv3_1", PARAMS, 300, "bf16", None, "hed", 88), (480, 1024))
    assert small.copies == {}
    assert web_long_sides(100, (480, 960)) == [100]  # a thumbnail: one copy, its own size
    assert web_long_sides(4000, (480, 1024, 2048)) == [480, 1024, 2048]
    assert web_long_sides(700, (480, 1024)) == [480, 700]


def test_shared_store_links_finished_dreams_into_each_output_folder(tmp_path):
    shared = tmp_path / "shared"
    first, second = DreamStore(tmp_path / "a", shared), DreamStore(tmp_path / "b", shared)
    relative = "dreams/abc-conv3_1-12345678.jpg"
    assert not first.fetch(relative)
    first.writer().save_image(Image.new("RGB", (8, 8), "red"), relative)
    first.publish(relative)
    assert (tmp_path / "a" / relative).is_file()
    assert second.fetch(relative)  # the other album finds it: not dreamed again
    assert os.path.samefile(tmp_path / "b" / relative, shared / relative)
    assert record_of(tmp_path / "b").get(relative) == record_of(shared).get(relative)
    assert not stale_temp_files(tmp_path / "a") and not stale_temp_files(shared)


def test_a_damaged_file_in_the_shared_store_is_not_linked(tmp_path):
    shared = tmp_path / "shared"
    store = DreamStore(tmp_path / "a", shared)
    relative = "dreams/abc-conv3_1-12345678.jpg"
    store.writer().save_image(Image.new("RGB", (8, 8), "red"), relative)
    (shared / relative).write_bytes(b"")
    assert not store.fetch(relative) and not (tmp_path / "a" / relative).exists()


def test_stale_temp_files_spares_young_ones_others_and_looks_only_where_dreamtrip_writes(tmp_path):
    ours = record_of(tmp_path).temp_prefix()  # noted in the record, as every writer does first
    old, young = tmp_path / f"{ours}old.jpg", tmp_path / "dreams" / f"{ours}young.jpg"
    elsewhere = [tmp_path / "notes" / f"{ours}x.jpg", tmp_path / "dreams" / "sub" / f"{ours}y",
                 tmp_path / ".tmp-abcdefgh.jpg", tmp_path / f"{TEMP_PREFIX}0badc0de-not-noted.jpg",
                 tmp_path / "photos" / f"{TEMP_PREFIX}mine.jpg"]
    for path in [old, young, *elsewhere]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert stale_temp_files(tmp_path) == [old, young]
    assert stale_temp_files(tmp_path, older_than_s=3600) == [old]

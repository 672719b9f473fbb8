"""Whole files only: a full disk ends a run with one line and exit 2, leaves nothing half-written
under a final name, and the same command finishes the album once there is space. And a photo
replaced during a run is never dreamed under its old content's key.

The full disk is made from the outside, in a subprocess: a `sitecustomize` module (Python loads
it at start-up from PYTHONPATH) makes `os.write` to files under one folder fail with ENOSPC once
a byte budget is spent, as a disk does, writing what fits first. Where this machine lets us
mount a tmpfs, a real small file system fills up instead.
"""

import errno
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

import flows.dream_album as flow_module
import pipeline.output.files as files
from flows.cli import main
from helpers import noisy_image
from pipeline.output.files import DiskFull, IncompleteFile, check_image_decodes, save_image_atomic, write_bytes_atomic

REPO = Path(__file__).resolve().parent.parent
LAYERS = ["conv1_2", "conv2_1"]

FULL_DISK = textwrap.dedent("""
    import errno, os, threading
    _folder = os.environ.get("FAULT_FOLDER")
    if _folder:
        _left, _lock, _write = [int(os.environ["FAULT_BYTES"])], threading.Lock(), os.write

        def write(fd, data):
            try:
                where = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                where = ""
            if not where.startswith(_folder):
                return _write(fd, data)
            with _lock:
                if _left[0] <= 0:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                part = bytes(data[:_left[0]])
                _left[0] -= len(part)
            return _write(fd, part)

        os.write = write
""")


# A folder that turns read-only during the run (a disk remounted read-only after an error): every
# file created under FAULT_RO_FOLDER fails with EROFS.
READ_ONLY_LATER = textwrap.dedent("""
    import errno, os
    _ro_folder = os.environ.get("FAULT_RO_FOLDER")  # (FULL_DISK's hook, in the same file, has _folder)
    if _ro_folder:
        _open = os.open

        def refusing_open(path, flags, *args, **kwargs):
            if flags & os.O_CREAT and os.path.abspath(path).startswith(_ro_folder):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)
            return _open(path, flags, *args, **kwargs)

        os.open = refusing_open
""")


def _photo(path: Path, colour, size=(80, 56)):
    image = Image.new("RGB", size, colour)
    for x in range(0, size[0], 8):
        for y in range(size[1] // 2):
            image.putpixel((x, y), (255, 255, 255))
    image.save(path)


@pytest.fixture
def trip(tmp_path):
    root = tmp_path / "trip"
    root.mkdir()
    for name, colour in zip(["a.jpg", "b.png", "c.jpg"], [(200, 30, 30), (30, 160, 60), (30, 30, 200)]):
        _photo(root / name, colour)
    return root


@pytest.fixture
def config(tmp_path, weights_cache):
    path = tmp_path / "tiny.yaml"
    path.write_text(f"layers: {LAYERS}\n"
                    "dream: {octaves: 2, steps: 2, jitter: 4}\n"
                    "images: {dream_size: 64, web_sizes: [48, 96]}\n"
                    "tasks: {retries: 0, retry_delay_seconds: 0}\n"
                    f"weights: {{source: hed, cache_dir: '{weights_cache}'}}\n")
    return path


def _cli(trip, config, out, tmp_path, **env):
    from prefect.settings import PREFECT_API_URL

    hooks = tmp_path / "hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / "sitecustomize.py").write_text(FULL_DISK + READ_ONLY_LATER)
    env = dict(os.environ, PYTHONPATH=f"{hooks}{os.pathsep}{REPO}", PREFECT_API_URL=PREFECT_API_URL.value(),
               **env)
    return subprocess.run([sys.executable, "-m", "flows.cli", "run", str(trip), "-c", str(config), "-o", str(out),
                           "--device", "cpu"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def _every_image_whole(out: Path) -> list[str]:
    """The images under their final names; each must decode to its end."""
    names = []
    for path in sorted(out.rglob("*.jpg")):
        assert not path.name.startswith(files.TEMP_PREFIX), f"temporary file left: {path}"
        with Image.open(path) as image:
            image.load()
        names.append(path.relative_to(out).as_posix())
    return names


PROGRESS = ("photos [", "dreaming [", "loops [", "dreams: ")  # flows/progress.py's lines, not messages


def _said_in_one_line(stderr: str) -> str:
    """The one line a full disk ends with (progress lines before it are the run's own)."""
    assert "Traceback" not in stderr
    lines = [line for line in stderr.strip().splitlines() if not line.startswith(PROGRESS)]
    assert len(lines) == 1, stderr
    assert "the disk is full (" in lines[0] and " free)" in lines[0]
    return lines[0]


def _finishes_after_space_is_freed(trip, config, out, tmp_path):
    done = _cli(trip, config, out, tmp_path)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    listed = {path for photo in manifest["photos"] for path in
              [w["path"] for w in photo["web"]] + [f for d in photo["dreams"] for f in
                                                     [d["image"]["path"]] + [w["path"] for w in d["web"]]]}
    assert all(d["status"] == "ok" for p in manifest["photos"] for d in p["dreams"])
    assert len(manifest["photos"]) == 3 and listed <= set(_every_image_whole(out))


@pytest.mark.parametrize("where, budget", [("dreams", 3000), ("", 5000)], ids=["while dreaming", "while ingesting"])
def test_a_full_disk_stops_with_one_line_and_the_same_command_finishes_the_album(
        prefect_harness, trip, config, tmp_path, where, budget):
    out = tmp_path / "out"
    full = _cli(trip, config, out, tmp_path, FAULT_FOLDER=str(out / where), FAULT_BYTES=str(budget))
    assert full.returncode == 2, full.stderr
    assert _said_in_one_line(full.stderr).startswith(f"dreamtrip: {(out / where).resolve()}")
    assert "Traceback" not in full.stdout
    assert not (out / "manifest.json").exists() and not (out / "index.html").exists()
    _every_image_whole(out)  # what was written before the disk filled is whole

    _finishes_after_space_is_freed(trip, config, out, tmp_path)


def test_a_folder_turning_read_only_mid_run_stops_it_with_one_line(prefect_harness, trip, config, tmp_path):
    """dreams/ does not exist when the run checks its folders; once made, it refuses every file
    (EROFS): the first dream stops the run in one line (exit 2), as a full disk does, rather
    than failing every dream with a traceback each."""
    out = tmp_path / "out"
    stopped = _cli(trip, config, out, tmp_path, FAULT_RO_FOLDER=str((out / "dreams").resolve()))
    assert stopped.returncode == 2, stopped.stderr
    assert "Traceback" not in stopped.stderr + stopped.stdout
    lines = [line for line in stopped.stderr.strip().splitlines() if not line.startswith(PROGRESS)]
    assert lines == [f"dreamtrip: {(out / 'dreams').resolve()}: cannot write here (read-only file system): "
                     "make it writable, then run the same command again (finished files are kept)"], stopped.stderr
    assert not (out / "manifest.json").exists()
    _every_image_whole(out)
    _finishes_after_space_is_freed(trip, config, out, tmp_path)


@pytest.fixture
def small_disk(tmp_path):
    """A 96 KB tmpfs: fills up in the middle of the tiny album. Skipped where mounting is not allowed."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root): the fault-injecting test covers a full disk")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_real_full_file_system_too(prefect_harness, trip, config, tmp_path, small_disk):
    out = small_disk / "out"
    full = _cli(trip, config, out, tmp_path)
    assert full.returncode == 2, full.stderr
    assert _said_in_one_line(full.stderr).startswith(f"dreamtrip: {out.resolve()}")
    _every_image_whole(out)

    subprocess.run(["mount", "-o", "remount,size=4m", str(small_disk)], check=True)  # space freed
    _finishes_after_space_is_freed(trip, config, out, tmp_path)


# ---------------------------------------------------------------- the writers themselves


def test_a_failed_write_leaves_neither_the_file_nor_a_temporary_one(tmp_path, monkeypatch):
    target = tmp_path / "page.html"
    target.write_text("the old page")
    real = os.write

    def full(fd, data):
        real(fd, bytes(data[:10]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "write", full)
    with pytest.raises(DiskFull, match=rf"^{tmp_path.resolve()}: the disk is full \(.* free\)"):
        write_bytes_atomic(target, b"the new page, longer than ten bytes")
    assert target.read_text() == "the old page"
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]


def test_a_short_write_is_not_renamed_into_place(tmp_path, monkeypatch):
    real = os.write  # a writer that loses half of what it says it wrote
    monkeypatch.setattr(files.os, "write", lambda fd, data: real(fd, bytes(data[: len(data) // 2])) and len(data))
    with pytest.raises(IncompleteFile, match="bytes on disk"):
        save_image_atomic(Image.new("RGB", (64, 48), (9, 99, 199)), tmp_path / "dream.jpg", quality=90)
    assert list(tmp_path.iterdir()) == []


def test_an_image_that_does_not_decode_to_its_end_is_not_renamed_into_place(tmp_path):
    whole = tmp_path / "whole.jpg"
    save_image_atomic(noisy_image(), whole, quality=90)
    with pytest.raises(IncompleteFile, match="does not decode"):
        write_bytes_atomic(tmp_path / "dream.jpg", whole.read_bytes()[:-400], check=check_image_decodes)
    assert [p.name for p in tmp_path.iterdir()] == ["whole.jpg"]


def test_written_files_are_synced_before_the_rename(tmp_path, monkeypatch):
    order = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(files.os, "fsync", lambda fd: order.append("fsync") or real_fsync(fd))
    monkeypatch.setattr(files.os, "replace", lambda a, b: order.append("rename") or real_replace(a, b))
    save_image_atomic(Image.new("RGB", (8, 8)), tmp_path / "a.jpg")
    assert order[:2] == ["fsync", "rename"]
    assert (tmp_path / "a.jpg").stat().st_mode & 0o777 == 0o644


# ---------------------------------------------------------------- read once


def test_a_photo_replaced_mid_run_is_not_dreamed_under_its_old_key(
        prefect_harness, trip, config, tmp_path, monkeypatch):
    out = tmp_path / "out"
    real_ingest = flow_module.ingest_photos
    original = (trip / "a.jpg").read_bytes()

    def ingest_then_replace(*args, **kwargs):
        photos = real_ingest(*args, **kwargs)
        _photo(trip / "a.jpg", (250, 250, 0))  # a second writer: another picture, same name
        return photos

    monkeypatch.setattr(flow_module, "ingest_photos", ingest_then_replace)
    assert main(["run", str(trip), "-c", str(config), "-o", str(out), "--device", "cpu"]) == 1
    manifest = json.loads((out / "manifest.json").read_text())
    photo = next(p for p in manifest["photos"] if p["source"] == "a.jpg")
    assert photo["sha256"] == hashlib.sha256(original).hexdigest()
    assert [d["status"] for d in photo["dreams"]] == ["failed", "failed"]
    assert all("changed after this run read it" in d["error"] for d in photo["dreams"])
    assert not list((out / "dreams").glob(f"{photo['sha256'][:12]}-*"))  # nothing under the old key

    monkeypatch.setattr(flow_module, "ingest_photos", real_ingest)
    assert main(["run", str(trip), "-c", str(config), "-o", str(out), "--device", "cpu"]) == 0
    again = json.loads((out / "manifest.json").read_text())
    photo = next(p for p in again["photos"] if p["source"] == "a.jpg")
    assert photo["sha256"] == hashlib.sha256((trip / "a.jpg").read_bytes()).hexdigest()
    assert all(d["status"] == "ok" for d in photo["dreams"])

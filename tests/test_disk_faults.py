"""A full disk, a read-only folder, an unusable PREFECT_HOME: every command says so in one line
(exit 2), with no traceback and nothing half-written; `clean --yes`, the command a user runs to
free space, works on a full disk.

From the outside: each command runs as a subprocess on a real small file system (a tmpfs,
mounted here: root only) or a read-only bind mount (root), or a folder without write permission
(anyone else). Where neither can be made the test is skipped and says why.
"""

import contextlib
import errno
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
RELEASE_0_2_0 = REPO / "tests" / "fixtures" / "release-0.2.0"
TINY = RELEASE_0_2_0 / "tiny.yaml"  # fp32, HED weights, 64 px: nothing here gets as far as dreaming


def _mount(*args) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@contextlib.contextmanager
def _small_disk(where: Path, size: str = "1m"):
    where.mkdir(parents=True)
    if not _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)):
        pytest.skip("cannot mount a tmpfs here (needs root): a full disk cannot be made")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@contextlib.contextmanager
def _read_only(folder: Path):
    """`folder` cannot be written for the block: a read-only bind mount (root, whom permissions
    do not stop), else its write permission taken away."""
    if os.geteuid() == 0:
        if not (_mount("--bind", str(folder), str(folder))
                and _mount("-o", "remount,ro,bind", str(folder))):
            subprocess.run(["umount", "-l", str(folder)], check=False)
            pytest.skip("cannot make a read-only bind mount here")
        try:
            yield folder
        finally:
            subprocess.run(["umount", "-l", str(folder)], check=False)
        return
    mode = folder.stat().st_mode
    folder.chmod(0o555)
    try:
        yield folder
    finally:
        folder.chmod(mode)


def _fill(disk: Path) -> None:
    """Write a file until the disk refuses another byte."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for block in (1 << 16, 4096, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, bytes(block))
    finally:
        os.close(fd)
    with pytest.raises(OSError) as refused:
        with open(disk / "one-more", "wb", buffering=0) as more:
            more.write(bytes(4096))
    assert refused.value.errno == errno.ENOSPC
    (disk / "one-more").unlink(missing_ok=True)


def _env(tmp_path: Path, **more) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_API")}
    env.update({"PYTHONPATH": str(REPO), "PREFECT_HOME": str(tmp_path / "prefect-home"), **more})
    return env


def _cli(tmp_path: Path, *args, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flows.cli", *map(str, args)], cwd=REPO, env=_env(tmp_path, **env),
                          capture_output=True, text=True, timeout=300)


def _one_line(done: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dreamtrip: "), done.stderr
    return lines[0]


def _files(out: Path) -> dict[str, bytes]:
    """Every file in the output folder and its bytes: what a failed command must leave as it was."""
    return {path.relative_to(out).as_posix(): path.read_bytes() for path in sorted(out.rglob("*")) if path.is_file()}


def _a_current_folder(tmp_path: Path, disk: Path) -> tuple[Path, Path]:
    """The 0.2.0 album and its output folder on `disk`, brought to this release by `blog`."""
    album, out = disk / "trip", disk / "out"
    shutil.copytree(RELEASE_0_2_0 / "trip", album)
    shutil.copytree(RELEASE_0_2_0 / "out", out)
    upgraded = _cli(tmp_path, "blog", album, "-o", out)
    assert upgraded.returncode == 0, upgraded.stderr
    return album, out


def _dream_file(out: Path) -> Path:
    manifest = json.loads((out / "manifest.json").read_text())
    return out / manifest["photos"][0]["dreams"][0]["image"]["path"]


# ---------------------------------------------------------------- a full disk

@pytest.mark.parametrize("command", ["run", "retry", "blog"])
def test_on_a_full_disk_a_command_says_so_in_one_line_and_changes_nothing(tmp_path, command):
    with _small_disk(tmp_path / "disk") as disk:
        album, out = _a_current_folder(tmp_path, disk)
        _dream_file(out).unlink()  # something for retry to do
        extra = ["-c", TINY] if command in ("run", "retry") else []
        _fill(disk)
        before = _files(out)
        done = _cli(tmp_path, command, album, "-o", out, *extra)
        assert done.returncode == 2, done.stderr
        line = _one_line(done)
        assert "the disk is full (" in line and str(out.resolve()) in line
        assert _files(out) == before  # nothing written, nothing half-written, no lock left


def test_clean_lists_on_a_full_disk_and_clean_yes_frees_it(tmp_path):
    with _small_disk(tmp_path / "disk") as disk:
        album, out = _a_current_folder(tmp_path, disk)
        (album / "market.jpg").unlink()  # the traveller drops a photo: its 6 files are unused
        _fill(disk)
        before = _files(out)
        listed = _cli(tmp_path, "clean", album, "-o", out)
        assert listed.returncode == 0, listed.stderr
        assert "6 files" in listed.stdout and _files(out) == before

        cleaned = _cli(tmp_path, "clean", album, "-o", out, "--yes")
        assert cleaned.returncode == 0, cleaned.stderr
        assert "Traceback" not in cleaned.stderr and "Deleted 6 files" in cleaned.stdout
        after = _files(out)
        assert not [name for name in after if "market" in name or "c9f41fdc" in name]
        assert [p["source"] for p in json.loads(after["manifest.json"])["photos"]] == ["harbour.jpg"]
        assert b"market" not in after["index.html"]
        record = after[".dreamtrip-files.jsonl"].decode()
        assert "c9f41fdc" not in record  # the record forgot the deleted files, after deleting them
        assert not [name for name in after if ".dreamtrip-tmp-" in name]


@pytest.mark.parametrize("room", [0, 8192])
def test_export_to_a_site_on_a_full_disk_names_the_site_and_leaves_no_half_post(tmp_path, room):
    """The site on a full disk (the album and output folder elsewhere): one line naming the
    site's folder, no empty record left in it, and no post without its pictures."""
    album, out = tmp_path / "trip", tmp_path / "out"
    shutil.copytree(RELEASE_0_2_0 / "trip", album)
    shutil.copytree(RELEASE_0_2_0 / "out", out)
    assert _cli(tmp_path, "blog", album, "-o", out).returncode == 0
    with _small_disk(tmp_path / "disk") as disk:
        site = disk / "blog"
        site.mkdir()
        (site / "hugo.toml").write_text('title = "My travels"\n')
        _fill(disk)
        os.truncate(disk / "filler", (disk / "filler").stat().st_size - room)
        done = _cli(tmp_path, "export", album, "-o", out, "--hugo", site)
        assert done.returncode == 2, done.stderr
        line = _one_line(done)
        assert "the disk is full (" in line and str(site.resolve()) in line and str(Path.cwd()) + ":" not in line
        left = _files(site)
        assert "content/posts/trip/index.md" not in left     # the post comes last, with all it links
        assert left.get(".dreamtrip-files.jsonl", b"x") != b""   # no record, or one that says something
def _links_a_missing_file(out: Path) -> list[str]:
    """The pictures index.html, post.md and the contact sheet link that are not in the folder."""
    linked = set()
    for page in ("index.html", "post.md", "contact-sheet.html"):
        text = (out / page).read_text()
        linked |= set(re.findall(r"(?:photos|dreams)/[^\"'()\s,]+\.(?:jpg|avif|webp)", text))
    return sorted(name for name in linked if not (out / name).is_file())


@pytest.mark.parametrize("intro_kb", [2, 60])
def test_clean_yes_on_a_full_disk_does_everything_or_nothing(tmp_path, intro_kb):
    """The removed photo's 6 small files free less than a long post needs (60 KB of intro): then
    nothing the post shows is deleted and the post is as it was; a short post fits: all is done.
    Never a page that links a deleted file, nor a manifest that forgot the photo (a second clean
    would find nothing to clean)."""
    with _small_disk(tmp_path / "disk") as disk:
        album, out = _a_current_folder(tmp_path, disk)
        intro = " ".join(["A long day by the sea."] * (intro_kb * 1024 // 23))
        (album / "album.yaml").write_text(f"title: Fixture trip\nintro: {intro}\n")
        assert _cli(tmp_path, "blog", album, "-o", out).returncode == 0
        (album / "market.jpg").unlink()
        _fill(disk)
        before = _files(out)
        cleaned = _cli(tmp_path, "clean", album, "-o", out, "--yes")
        after = _files(out)
        assert _links_a_missing_file(out) == []
        if cleaned.returncode == 0:
            assert intro_kb == 2 and "Deleted 6 files" in cleaned.stdout
            assert [p["source"] for p in json.loads(after["manifest.json"])["photos"]] == ["harbour.jpg"]
            assert not [name for name in after if "market" in name or "c9f41fdc" in name]
            assert b"market" not in after["index.html"] + after["post.md"] + after["contact-sheet.html"]
        else:
            assert intro_kb == 60 and "the disk is full" in _one_line(cleaned)
            kept = {name: data for name, data in after.items() if name != ".dreamtrip-files.jsonl"}
            assert kept == {name: data for name, data in before.items() if name != ".dreamtrip-files.jsonl"}
            (disk / "filler").unlink()   # space again: the same command finishes the job
            again = _cli(tmp_path, "clean", album, "-o", out, "--yes")
            assert again.returncode == 0 and "Deleted 6 files" in again.stdout, again.stderr
            assert _links_a_missing_file(out) == [] and b"market" not in (out / "index.html").read_bytes()


# ---------------------------------------------------------------- a read-only folder

@pytest.mark.parametrize("command", ["run", "retry"])
def test_a_read_only_dreams_folder_stops_run_and_retry_before_any_work(tmp_path, command):
    album, out = _a_current_folder(tmp_path, tmp_path)
    _dream_file(out).unlink()
    before = _files(out)
    with _read_only(out / "dreams"):
        done = _cli(tmp_path, command, album, "-o", out, "-c", TINY)
    assert done.returncode == 2, done.stderr
    assert f"cannot write in dreams/ of the output folder {out / 'dreams'}" in _one_line(done)
    assert _files(out) == before


def test_clean_yes_with_a_read_only_folder_deletes_nothing(tmp_path):
    album, out = _a_current_folder(tmp_path, tmp_path)
    (album / "market.jpg").unlink()
    before = _files(out)
    with _read_only(out / "dreams"):
        done = _cli(tmp_path, "clean", album, "-o", out, "--yes")
        assert done.returncode == 2, done.stderr
        assert "read-only" in _one_line(done) and "nothing was deleted" in done.stderr
        assert _files(out) == before
        rebuilt = _cli(tmp_path, "blog", album, "-o", out)  # writes nothing in dreams/: works
    assert rebuilt.returncode == 0, rebuilt.stderr


# ---------------------------------------------------------------- PREFECT_HOME

@pytest.mark.parametrize("how", ["full", "read-only"])
@pytest.mark.parametrize("command", ["run", "retry", "serve"])
def test_an_unusable_prefect_home_is_one_line_before_any_work(tmp_path, how, command):
    album, out = _a_current_folder(tmp_path, tmp_path)
    _dream_file(out).unlink()
    home = tmp_path / "home"
    with contextlib.ExitStack() as stack:
        if how == "full":
            _fill(stack.enter_context(_small_disk(home)))
        else:
            home.mkdir()
            stack.enter_context(_read_only(home))
        args = {"run": ["-c", TINY], "retry": ["-c", TINY], "serve": ["-c", TINY, "--cron", "0 3 * * *"]}[command]
        if command == "serve":  # its own Prefect server keeps its database under XDG_DATA_HOME (issue 33)
            named, env = f"dreamtrip's Prefect folder {home / 'dreamtrip' / 'prefect'}", {"XDG_DATA_HOME": str(home)}
        else:
            named, env = f"PREFECT_HOME {home / 'prefect'}", {"PREFECT_HOME": str(home / "prefect")}
        done = _cli(tmp_path, command, album, "-o", out, *args, **env)
    assert done.returncode == 2, done.stderr
    line = _one_line(done)
    assert line.startswith(f"dreamtrip: {named}: ")
    assert ("the disk is full" if how == "full" else "cannot write there") in line


# Prefect's answer when its database's disk fills during a run: a 500 from its API, as the flow's
# client raises it. (The run itself, dreaming until the disk fills at the right moment, is too slow
# and too timing-bound for a test: the command's handler raises what the client raised then.)
_PREFECT_500 = """
import sys
import httpx
from prefect.exceptions import PrefectHTTPStatusError
from flows import cli

def run_that_fails(args):
    request = httpx.Request("POST", "http://127.0.0.1:8001/api/flow_runs/1/set_state")
    response = httpx.Response(500, request=request, json={"exception_message": "Internal Server Error"})
    raise PrefectHTTPStatusError.from_httpx_error(httpx.HTTPStatusError(
        "Server error '500 Internal Server Error'", request=request, response=response))

cli.COMMANDS["run"] = run_that_fails
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.parametrize("full", [True, False])
def test_prefect_home_filling_during_a_run_is_one_line(tmp_path, full):
    with contextlib.ExitStack() as stack:
        home = tmp_path / "home"
        if full:
            _fill(stack.enter_context(_small_disk(home)))
        done = subprocess.run([sys.executable, "-c", _PREFECT_500, "run", tmp_path / "album"], cwd=REPO,
                              env=_env(tmp_path, PREFECT_HOME=str(home / "prefect")), capture_output=True,
                              text=True, timeout=120)
    if full:
        assert done.returncode == 2
        line = _one_line(done)
        assert f"PREFECT_HOME {home / 'prefect'}: the disk filled up during the run" in line
    else:  # not the disk: Prefect's error as it is (a bug to report, not the user's to fix)
        assert done.returncode == 1 and "PrefectHTTPStatusError" in done.stderr

"""What a command checks before any work (flows/launch.py), tried from the outside: an output
folder in use by a running run, and output folders that cannot be written."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.blog_bench import make_album, make_dreamed_output
from flows.cli import EXIT_BUSY, main

REPO = Path(__file__).resolve().parent.parent
LAYERS = ["conv1_2", "conv3_1"]
UPKEEP = [["blog"], ["clean"], ["clean", "--yes"], ["retry"]]


@pytest.fixture
def album(tmp_path):
    root = tmp_path / "album"
    make_album(root, 2)
    return root


@pytest.fixture
def running(tmp_path):
    """Start a process that holds an output folder's lock, as a run does from its first moment."""
    holders = []

    def hold(out: Path) -> subprocess.Popen:
        holder = subprocess.Popen(
            [sys.executable, "-c", "import time\nfrom pipeline.output.lock import output_lock\n"
             f"with output_lock({str(out)!r}):\n    print('held', flush=True)\n    time.sleep(600)\n"],
            cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), stdout=subprocess.PIPE, text=True)
        holders.append(holder)
        assert holder.stdout.readline().strip() == "held"
        return holder

    yield hold
    for holder in holders:
        holder.kill()
        holder.wait()


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], capture_output=True, text=True,
                          cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=120)


def _contents(folder: Path) -> dict:
    return {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}


# ---------------------------------------------------------------- in use is in use

@pytest.mark.parametrize("command", UPKEEP)
def test_upkeep_during_a_first_run_is_in_use_not_missing(album, tmp_path, running, command):
    """The run has only just started: no manifest yet. The answer is "in use", naming the run."""
    out = tmp_path / "out"
    run = running(out)
    done = _cli(*command, str(album), "-o", str(out))
    assert done.returncode == EXIT_BUSY, done.stderr
    assert f"pid {run.pid}" in done.stderr and "in use by another dreamtrip run" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and done.stdout == ""


@pytest.mark.parametrize("command", UPKEEP)
def test_upkeep_during_a_rerun_reads_nothing_and_says_in_use(album, tmp_path, running, capsys, command):
    """A finished album being run again: retry would say "Nothing to retry", clean would list."""
    out = tmp_path / "out"
    make_dreamed_output(album, out, LAYERS)
    run = running(out)
    before = _contents(out)
    assert main([*command, str(album), "-o", str(out)]) == EXIT_BUSY
    captured = capsys.readouterr()
    assert f"pid {run.pid}" in captured.err and captured.out == ""
    assert _contents(out) == before


@pytest.mark.parametrize("command", UPKEEP)
def test_upkeep_where_no_run_has_been_makes_nothing(album, tmp_path, capsys, command):
    """No manifest and no run: one line, exit 2, and no lock file left in the user's folder."""
    elsewhere = tmp_path / "my-documents"
    elsewhere.mkdir()
    (elsewhere / "letter.txt").write_text("dear")
    for out in (elsewhere, tmp_path / "nowhere"):
        assert main([*command, str(album), "-o", str(out)]) == 2
        assert "no manifest.json" in capsys.readouterr().err
    assert [p.name for p in elsewhere.iterdir()] == ["letter.txt"]
    assert not (tmp_path / "nowhere").exists()


# ---------------------------------------------------------------- output folders that cannot be used

def _unprivileged() -> list[str]:
    """A prefix that runs a command without root's right to write anywhere (chmod then counts)."""
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.skip("root ignores file modes, and setpriv (util-linux) is not here to drop that")
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--"]


def _run_cli(*args, prefix=()) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, sys.executable, "-m", "flows.cli", *args], capture_output=True,
                          text=True, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=120)


def _one_line(done: subprocess.CompletedProcess, *words: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert all(word in done.stderr for word in words), done.stderr


@pytest.mark.parametrize("command", [["run"], ["serve", "--cron", "0 3 * * *"]])
def test_output_naming_a_file_is_one_line(album, tmp_path, command):
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    _one_line(_run_cli(*command, str(album), "-o", str(notes)), str(notes), "is a file, not a folder")
    _one_line(_run_cli(*command, str(album), "-o", str(notes / "site")), "cannot make the output folder",
              "not a directory")
    assert notes.read_text() == "mine"


def test_read_only_output_folder_is_one_line(album, tmp_path):
    out = tmp_path / "out"
    make_dreamed_output(album, out, LAYERS)
    before = _contents(out)
    out.chmod(0o555)
    try:
        prefix = _unprivileged()
        for command in (["run"], ["retry"], ["blog"], ["clean", "--yes"]):
            _one_line(_run_cli(*command, str(album), "-o", str(out), prefix=prefix),
                      f"cannot write in the output folder {out}", "permission denied")
    finally:
        out.chmod(0o755)
    assert _contents(out) == before


def test_unwritable_parent_is_one_line(album, tmp_path):
    parent = tmp_path / "locked"
    parent.mkdir(mode=0o555)
    try:
        done = _run_cli("run", str(album), "-o", str(parent / "site"), prefix=_unprivileged())
    finally:
        parent.chmod(0o755)
    _one_line(done, f"cannot make the output folder {parent / 'site'}", "permission denied")
    assert list(parent.iterdir()) == []


@pytest.mark.parametrize("outside", ["/etc/hostname", "../../../etc/hostname", "photos/../../x.jpg"])
def test_a_manifest_path_outside_the_folder_is_one_line(album, tmp_path, outside):
    """An edited manifest.json may not make blog, clean or retry link, read or judge other files."""
    out = tmp_path / "out"
    make_dreamed_output(album, out, LAYERS)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["photos"][0]["dreams"][0]["image"]["path"] = outside
    (out / "manifest.json").write_text(json.dumps(manifest))
    for command in (["blog"], ["retry"], ["clean", "--yes"]):
        _one_line(_run_cli(*command, str(album), "-o", str(out)), "manifest.json",
                  f"{outside!r} is not a path inside the output folder")


# ---------------------------------------------------------------- Prefect's private internals

TETHER_PROBE = """
import sys, urllib.request
import prefect
prefect.__version__ = sys.argv[1] or prefect.__version__  # a release the tether was not tested with
from flows import hosting as launch
launch.start_prefect_server()
tethered = launch._server._run_uvicorn_command.__name__ == "start_uvicorn_tethered"
with urllib.request.urlopen(launch._server.api_url + "/health", timeout=30) as answer:
    healthy = answer.status == 200
launch._server.stop()
print(tethered, healthy)
"""


@pytest.mark.parametrize("version, tethered", [("", True), ("3.10.0", False)],
                         ids=["tested", "untested"])
def test_the_temporary_server_is_tethered_only_on_the_prefect_releases_tested(tmp_path, version, tethered):
    """The tether replaces Prefect internals (a private method and its module's subprocess): on a
    release it was not tested with, Prefect starts its server its own way, and runs work."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_API")}
    env.update(PYTHONPATH=str(REPO), PREFECT_HOME=str(tmp_path / "prefect-home"))
    done = subprocess.run([sys.executable, "-c", TETHER_PROBE, version], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == [str(tethered), "True"]


def test_prefect_is_pinned_to_the_releases_tested():
    import tomllib

    import prefect
    from packaging.specifiers import SpecifierSet

    from flows.hosting import PREFECT_TESTED

    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    [pin] = [d.replace(" ", "") for d in dependencies if re.fullmatch(r"prefect[<>=!~].*", d.replace(" ", ""))]
    assert SpecifierSet(pin.removeprefix("prefect")) == SpecifierSet(PREFECT_TESTED)
    assert prefect.__version__ in SpecifierSet(PREFECT_TESTED)  # this suite tests the pinned range

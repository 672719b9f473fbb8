"""Stopping a run from outside, as systemd, Docker, cron wrappers and CI do: SIGTERM stops it at
once with one line and exit code 143, keeping the finished dreams; after SIGTERM or kill -9
nothing the run started is left running (Prefect's temporary server included).

Each test runs `dreamtrip run` in a subprocess without PREFECT_API_URL, so the run starts its
own temporary Prefect server, as it does for a user."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
STOPPED = "dreamtrip: stopped (SIGTERM); finished dreams are kept, rerun to continue"

# The first dream is made; every later one takes "minutes" on the device: a run that is stopped
# once the first is stored can only end within seconds if it stops at once.
STUCK_RUN = """
import sys, time
import flows.dream_album as flow_module
real, calls = flow_module.dream_on_device, []
def first_then_stuck(*args, **kwargs):
    calls.append(1)
    if len(calls) > 1:
        time.sleep(600)
    return real(*args, **kwargs)
flow_module.dream_on_device = first_then_stuck
from flows.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def prefect_home(tmp_path_factory):
    """One Prefect home for the module: its database is made once (~15 s), not per test."""
    return tmp_path_factory.mktemp("prefect-home")


@pytest.fixture
def trip(tmp_path):
    root = tmp_path / "trip"
    root.mkdir()
    for name, colour in [("a.jpg", (200, 30, 30)), ("b.jpg", (30, 160, 60))]:
        image = Image.new("RGB", (80, 56), colour)
        for x in range(0, 80, 8):
            image.putpixel((x, 10), (255, 255, 255))
        image.save(root / name)
    return root


@pytest.fixture
def config(tmp_path, weights_cache):
    path = tmp_path / "tiny.yaml"
    path.write_text("layers: [conv1_2, conv2_1]\n"
                    "dream: {octaves: 2, steps: 2, jitter: 4}\n"
                    "images: {dream_size: 64, web_sizes: [48]}\n"
                    f"weights: {{source: hed, cache_dir: '{weights_cache}'}}\n")
    return path


def _start(trip, config, out, prefect_home, *options) -> subprocess.Popen:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_API")}
    # As quiet as the CLI makes Prefect, which STUCK_RUN imports before the CLI can.
    env.update(PYTHONPATH=str(REPO), PREFECT_HOME=str(prefect_home), PREFECT_LOGGING_LEVEL="WARNING")
    # stderr to a file, not a pipe: a pipe would also wait for every child that inherited it.
    with open(out.parent / "stderr.txt", "w") as stderr:
        return subprocess.Popen([sys.executable, "-c", STUCK_RUN, "run", str(trip), "-c", str(config),
                                 "-o", str(out), "--device", "cpu", *options], cwd=REPO, env=env,
                                stdout=subprocess.DEVNULL, stderr=stderr)


def _dreaming(run: subprocess.Popen, out: Path) -> list[psutil.Process]:
    """Wait until the run has stored its first dream; the processes it started by then."""
    deadline = time.monotonic() + 240
    while not _stored_dreams(out):
        if run.poll() is not None:
            pytest.fail(f"the run ended early: {(out.parent / 'stderr.txt').read_text()}")
        assert time.monotonic() < deadline, "the run never dreamed"
        time.sleep(0.1)
    return psutil.Process(run.pid).children(recursive=True)


def _stored_dreams(out: Path) -> list[Path]:
    return list((out / "dreams").glob("*.jpg"))


def _server_port(run: subprocess.Popen) -> int:
    """The port of the run's temporary Prefect server (uvicorn), one of the run's own children."""
    [server] = [child for child in psutil.Process(run.pid).children() if "uvicorn" in child.cmdline()]
    command = server.cmdline()
    return int(command[command.index("--port") + 1])


def _assert_all_gone(children: list[psutil.Process], port: int) -> None:
    _, alive = psutil.wait_procs(children, timeout=5)
    assert not alive, f"still running after the run: {[p.cmdline() for p in alive]}"
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.connect(("127.0.0.1", port))


@pytest.mark.parametrize("options", [[], ["--dask", "local", "--dask-workers", "1"]], ids=["threads", "dask"])
def test_sigterm_stops_a_run_at_once_and_leaves_nothing_running(trip, config, tmp_path, prefect_home, options):
    out = tmp_path / "out"
    run = _start(trip, config, out, prefect_home, *options)
    try:
        children = _dreaming(run, out)
        port = _server_port(run)
        stopped = time.monotonic()
        run.send_signal(signal.SIGTERM)  # what `kill PID`, systemd and Docker send
        run.wait(timeout=10)
        assert time.monotonic() - stopped < 10
    finally:
        run.kill()
    assert run.returncode == 143
    err = (out.parent / "stderr.txt").read_text()
    *before, last = err.strip().splitlines()
    assert last == STOPPED and "Traceback" not in err, err
    if not options:  # (Dask may warn while it starts, e.g. of a port in use)
        assert all(line.startswith(("photos [", "dreaming [")) for line in before), err  # progress only
    _assert_all_gone(children, port)
    assert _stored_dreams(out)  # the finished dream is kept
    assert not (out / ".dreamtrip.lock").exists()  # the lock goes with the run, as the README says


def test_ctrl_c_stops_a_run_at_once_and_removes_its_lock(trip, config, tmp_path, prefect_home):
    out = tmp_path / "out"
    run = _start(trip, config, out, prefect_home)
    try:
        children = _dreaming(run, out)
        port = _server_port(run)
        run.send_signal(signal.SIGINT)
        run.wait(timeout=10)
    finally:
        run.kill()
    assert run.returncode == 130
    assert "Traceback" not in (out.parent / "stderr.txt").read_text()
    _assert_all_gone(children, port)
    assert not (out / ".dreamtrip.lock").exists()


def test_kill_9_leaves_no_server_behind(trip, config, tmp_path, prefect_home):
    out = tmp_path / "out"
    run = _start(trip, config, out, prefect_home)
    try:
        children = _dreaming(run, out)
        port = _server_port(run)
        run.kill()
        run.wait(timeout=10)
    finally:
        run.kill()
    _assert_all_gone(children, port)

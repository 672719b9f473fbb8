"""`dreamtrip serve` on a fresh machine (issue 33): with no Prefect server configured it starts
its own, with the scheduler Prefect's temporary server lacks, makes the scheduled runs, says
what each did in one line, and leaves no process behind when stopped or killed. One run at a
time, missed runs made once: checked against a real Prefect API (the test harness's)."""

from __future__ import annotations

import asyncio
import datetime
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from PIL import Image

from flows.cli import main

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def trip(tmp_path):
    root = tmp_path / "trip"
    root.mkdir()
    for name, colour in (("a.jpg", (200, 30, 30)), ("b.png", (30, 160, 60))):
        image = Image.new("RGB", (80, 56), colour)
        for x in range(0, 80, 8):  # some structure for the network to find
            for y in range(28):
                image.putpixel((x, y), (255, 255, 255))
        image.save(root / name)
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
def fresh_machine(tmp_path, monkeypatch):
    """An environment with no Prefect server configured and fresh user folders."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env.update(PYTHONPATH=str(REPO), PREFECT_HOME=str(tmp_path / "prefect-home"),
               XDG_DATA_HOME=str(tmp_path / "data"), XDG_STATE_HOME=str(tmp_path / "state"))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    return env


class Served:
    """`dreamtrip serve` as a subprocess, its output in a file read as it grows."""

    def __init__(self, args: list[str], env: dict, log: Path):
        self.log = log
        with open(log, "w") as output:
            self.process = subprocess.Popen([sys.executable, "-m", "flows.cli", "serve", *args], cwd=REPO, env=env,
                                            stdout=output, stderr=subprocess.STDOUT)

    def text(self) -> str:
        return self.log.read_text()

    def wait_for(self, pattern: str, timeout_s: float) -> re.Match:
        deadline = time.monotonic() + timeout_s
        while not (found := re.search(pattern, self.text(), re.MULTILINE)):
            assert self.process.poll() is None, self.text()
            assert time.monotonic() < deadline, f"no {pattern!r} within {timeout_s} s:\n{self.text()}"
            time.sleep(0.5)
        return found

    def processes(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)

    def end(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_serve_on_a_fresh_machine_makes_the_scheduled_run_and_leaves_nothing_behind(
        trip, config, tmp_path, fresh_machine):
    out = tmp_path / "out"
    served = Served([str(trip), "-c", str(config), "-o", str(out), "--every", "5"], fresh_machine,
                    tmp_path / "serve.log")
    try:
        url = served.wait_for(r"The schedule lives in dreamtrip's Prefect server at http://127\.0\.0\.1:(\d+)", 150)
        port = int(url.group(1))
        served.wait_for(r"^next run: today at \d\d:\d\d(:\d\d)?$", 30)
        # The scheduled run's own line, on serve's output: photos and dreams, new or kept.
        served.wait_for(r"^\[\d\d:\d\d(:\d\d)?\ run] 2 photos on the page, 2 of 2 dreams ok \(2 dreamed now, 0 from earlier "
                        r"runs\); page: .*index\.html$", 150)
        assert (out / "index.html").is_file()
        assert (Path(fresh_machine["XDG_DATA_HOME"]) / "dreamtrip" / "prefect" / "prefect.db").is_file()
        children = served.processes()
        assert any("prefect" in " ".join(child.cmdline()) for child in children)
        served.process.send_signal(signal.SIGTERM)
        assert served.process.wait(timeout=60) == 128 + signal.SIGTERM, served.text()
        gone, alive = psutil.wait_procs(children, timeout=15)
        assert not alive, [child.cmdline() for child in alive]
        assert not _port_open(port)
    finally:
        served.end()
    text = served.text()
    assert "Traceback" not in text, text
    assert "serve stopped (SIGTERM)" in text


def test_serve_killed_with_9_takes_its_prefect_server_with_it(trip, tmp_path, fresh_machine):
    served = Served([str(trip), "-o", str(tmp_path / "out"), "--cron", "0 3 * * *"], fresh_machine,
                    tmp_path / "serve.log")
    try:
        port = int(served.wait_for(r"Prefect server at http://127\.0\.0\.1:(\d+)", 150).group(1))
        # 03:00 in this machine's time: today's, or tomorrow's once it has passed.
        served.wait_for(r"^next run: (today|tomorrow) at 03:00$", 30)
        children = served.processes()
        assert children
        served.process.kill()
        served.process.wait()
        gone, alive = psutil.wait_procs(children, timeout=15)
        assert not alive, [child.cmdline() for child in alive]
        assert not _port_open(port)
    finally:
        served.end()


@pytest.mark.parametrize("args, said", [
    (["--cron", "every night"], "--cron 'every night': not a cron schedule Prefect accepts"),
    (["--cron", "61 * * * *"], "--cron '61 * * * *': not a cron schedule Prefect accepts"),
    (["--every", "0"], "--every 0: give a number of seconds above 0"),
])
def test_a_bad_schedule_is_one_line_before_any_server_starts(trip, tmp_path, fresh_machine, capsys, args, said):
    assert main(["serve", str(trip), "-o", str(tmp_path / "out"), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"dreamtrip: {said}") and err.count("\n") == 1, err
    assert not (tmp_path / "data").exists()  # no server, no database


def test_a_missing_album_is_one_line_before_any_server_starts(tmp_path, fresh_machine, capsys):
    assert main(["serve", str(tmp_path / "nowhere"), "--cron", "0 3 * * *"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert not (tmp_path / "data").exists()


def test_next_run_is_said_in_local_days():
    from flows.serving import when_due

    now = datetime.datetime(2026, 5, 11, 22, 0).astimezone()
    assert when_due(now.replace(hour=23, minute=30), now) == "today at 23:30"
    assert when_due(now.replace(hour=3) + datetime.timedelta(days=1), now) == "tomorrow at 03:00"
    assert when_due(now.replace(hour=3) + datetime.timedelta(days=3), now) == "on Thu 14 May at 03:00"


def test_cron_is_this_machines_time(trip, tmp_path, monkeypatch):
    from flows.serving import build_deployment

    monkeypatch.setenv("TZ", "Europe/Prague")
    deployment = build_deployment(trip, "0 3 * * *", None, {"output.dir": str(tmp_path / "out")})
    assert deployment.schedules[0].schedule.timezone == "Europe/Prague"


# ---- one run at a time, missed runs once: the serve's watch against a real Prefect API ----

def _deployment_with_runs(trip, tmp_path, minutes_ago: list[int]):
    from prefect import get_client
    from prefect.states import Scheduled

    from flows.serving import build_deployment

    album = tmp_path / tmp_path.name  # a deployment of its own (the harness's server is the session's)
    deployment_id = build_deployment(album, "0 3 * * *", None, {"output.dir": str(tmp_path / "out")}).apply()
    now = datetime.datetime.now(datetime.timezone.utc)
    with get_client(sync_client=True) as client:
        runs = [client.create_flow_run_from_deployment(
                    deployment_id, state=Scheduled(scheduled_time=now - datetime.timedelta(minutes=ago)))
                for ago in minutes_ago]
    return deployment_id, runs


def test_runs_missed_together_are_made_once(prefect_harness, trip, tmp_path):
    from prefect import get_client

    from flows.serving import MISSED, one_run_at_a_time

    deployment_id, runs = _deployment_with_runs(trip, tmp_path, [30, 20, 10])
    said: list[str] = []
    asyncio.run(one_run_at_a_time(deployment_id, said.append))
    with get_client(sync_client=True) as client:
        states = [client.read_flow_run(run.id).state for run in runs]
    assert [state.type.value for state in states] == ["SCHEDULED", "CANCELLED", "CANCELLED"]
    assert all(state.message == MISSED for state in states[1:])
    assert len(said) == 1 and said[0].startswith("3 runs were due at once") and said[0].endswith(
        "making one, skipping 2"), said
    asyncio.run(one_run_at_a_time(deployment_id, said.append))  # one left due: nothing to do
    assert len(said) == 1


def test_while_a_run_is_busy_the_next_waits_and_later_ones_are_skipped(prefect_harness, trip, tmp_path):
    from prefect import get_client
    from prefect.states import Pending

    from flows.serving import STILL_BUSY, one_run_at_a_time

    deployment_id, (busy, *due) = _deployment_with_runs(trip, tmp_path, [40, 30, 20, 10])
    with get_client(sync_client=True) as client:
        assert client.set_flow_run_state(busy.id, Pending()).state.is_pending()  # as the Runner does
        said: list[str] = []
        told: set = set()
        asyncio.run(one_run_at_a_time(deployment_id, said.append, told))
        asyncio.run(one_run_at_a_time(deployment_id, said.append, told))  # the waiting one is said once
        states = [client.read_flow_run(run.id).state for run in due]
    assert [state.type.value for state in states] == ["SCHEDULED", "CANCELLED", "CANCELLED"]
    assert all(state.message == STILL_BUSY for state in states[1:])
    assert [line.split("] ", 1)[1] for line in said] == ["waits: the run before is still busy"] + [
        "skipped: the run before is still busy"] * 2, said


def test_a_run_the_server_refuses_as_busy_is_said_once(prefect_harness, trip, tmp_path):
    """The deployment's concurrency limit (another serve of the album): the server cancels the
    second run as a Runner asks to start it, and serve's watch says so once."""
    from prefect import get_client
    from prefect.states import Pending

    from flows.serving import BUSY, tell_skipped

    since = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    deployment_id, (busy, next_one) = _deployment_with_runs(trip, tmp_path, [2, 1])
    with get_client(sync_client=True) as client:
        assert client.set_flow_run_state(busy.id, Pending()).state.is_pending()
        refused = client.set_flow_run_state(next_one.id, Pending())
        assert refused.state.is_cancelled() and refused.state.message == BUSY
    said: list[str] = []
    seen: set = set()
    asyncio.run(tell_skipped(deployment_id, seen, since, said.append))
    asyncio.run(tell_skipped(deployment_id, seen, since, said.append))
    assert len(said) == 1 and said[0].endswith("run] skipped: the run before is still busy"), said


def test_runs_left_running_by_a_killed_serve_are_ended(prefect_harness, trip, tmp_path):
    """kill -9 of serve leaves its run RUNNING for Prefect, holding the deployment's one slot:
    the next serve marks it crashed (no run holds the output folder), and runs go on."""
    from prefect import get_client
    from prefect.states import Pending

    from flows.serving import end_the_orphans

    deployment_id, (orphan, after) = _deployment_with_runs(trip, tmp_path, [2, 1])
    with get_client(sync_client=True) as client:
        assert client.set_flow_run_state(orphan.id, Pending()).state.is_pending()
        said: list[str] = []
        asyncio.run(end_the_orphans(deployment_id, tmp_path / "out", said.append))
        assert client.read_flow_run(orphan.id).state.is_crashed()
        assert client.set_flow_run_state(after.id, Pending()).state.is_pending()  # the slot is free again
    assert len(said) == 1 and "ended with a serve that was killed: marked crashed" in said[0], said

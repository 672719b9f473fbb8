"""`serve`'s own Prefect server: a real one, with its scheduler, for as long as `serve` runs.

Prefect's temporary server runs no services: a schedule registered there never makes a run
(Prefect: "Cannot schedule flows on an ephemeral server"). Where no PREFECT_API_URL names a
server, `serve` starts `prefect server start` (services on: the scheduler, late runs...) as
its child, its database in dreamtrip's data folder so that the schedule and its history
outlive one `serve`, and stops it with itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from flows.hosting import die_with_this_thread
from flows.preflight import UsageError
from pipeline.output.kept import state_dir

OWN_SERVER_STARTUP_S = 180  # a fresh database is migrated first: ~20 s on a busy 2-core machine
# How often the own server's scheduler makes the runs due (Prefect's default: 60 s). Its query
# is cheap; a first run due within the minute `serve` started is then not missed.
OWN_SCHEDULER_LOOP_S = 5
_own_server: subprocess.Popen | None = None


def own_server_folder() -> Path:
    """$XDG_DATA_HOME/dreamtrip/prefect, by default ~/.local/share/dreamtrip/prefect: the
    database of `serve`'s own Prefect server (the schedules and the runs' history)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "dreamtrip" / "prefect"


def start_own_server() -> str:
    """Start a Prefect server with its services on a free port of 127.0.0.1, wait until it
    answers, and point this process (and what it starts) at it; its API URL. What it prints
    goes to prefect-server.log in the user's state folder (beside the runs' logs).

    Its own session (process group), so that stopping it stops whatever it starts; on Linux
    the kernel kills it when this process dies in any way (kill -9 too).
    """
    import time
    import urllib.request

    global _own_server
    folder = own_server_folder()
    folder.mkdir(parents=True, exist_ok=True)
    env = {key: value for key, value in os.environ.items()
           if key not in ("PREFECT_API_URL", "PREFECT__SERVER_EPHEMERAL", "PREFECT__SERVER_WEBSERVER_ONLY")}
    env.update(PREFECT_HOME=str(folder),
               PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{folder / 'prefect.db'}",
               PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="true",
               PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS=str(OWN_SCHEDULER_LOOP_S),
               PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_UI_ENABLED="false")
    log_to = state_dir() / "logs" / "prefect-server.log"
    try:
        log_to.parent.mkdir(parents=True, exist_ok=True)
        output = open(log_to, "ab")
    except OSError:
        log_to, output = None, subprocess.DEVNULL
    deadline = time.monotonic() + OWN_SERVER_STARTUP_S
    try:
        while True:
            port = _free_port()
            url = f"http://127.0.0.1:{port}/api"
            _own_server = subprocess.Popen(
                [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port),
                 "--no-ui", "--analytics-off"],
                env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=output,
                start_new_session=True, preexec_fn=die_with_this_thread())
            while _own_server.poll() is None and not _answers(url + "/health", urllib.request):
                if time.monotonic() > deadline:
                    stop_own_server(grace_s=0)
                    raise UsageError(f"dreamtrip's Prefect server did not answer within {OWN_SERVER_STARTUP_S} s "
                                     f"(a busy machine?){_see(log_to)}")
                time.sleep(0.5)
            if _own_server.poll() is None:
                break
            if time.monotonic() > deadline or b"address already in use" not in _tail(log_to):
                code, _own_server = _own_server.returncode, None
                raise UsageError(f"dreamtrip's Prefect server stopped as it started (exit {code}){_see(log_to)}")
            # another program took the port between our look and the server's: another one
    finally:
        if output is not subprocess.DEVNULL:
            output.close()
    os.environ["PREFECT_API_URL"] = url  # the scheduled runs (the Runner's subprocesses) use it too
    return url


def stop_own_server(grace_s: float = 10) -> None:
    """Stop `serve`'s own server and its process group: SIGTERM, SIGKILL after `grace_s`."""
    global _own_server
    process, _own_server = _own_server, None
    if process is None or process.poll() is not None:
        return
    for signum in (signal.SIGTERM, signal.SIGKILL) if grace_s else (signal.SIGKILL,):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signum)
        try:
            process.wait(timeout=grace_s or 5)
            return
        except subprocess.TimeoutExpired:
            continue


def _free_port() -> int:

    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str, request) -> bool:
    try:
        with request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _tail(log: Path | None) -> bytes:
    try:
        return log.read_bytes()[-4000:].lower() if log else b""
    except OSError:
        return b""


def _see(log: Path | None) -> str:
    return f"; its log: {log}" if log else ""

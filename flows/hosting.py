"""Hosting Prefect for a command: its logs in a file of the user's, its temporary API server tied
to this process (so that nothing of a run outlives it), and the flow in a thread of its own.

A long-lived server (PREFECT_API_URL) is used as it is and never started or stopped here.
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import functools
import os
import shutil
import signal
import sys
import tempfile
import threading
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Iterator

from flows.preflight import UsageError, reason_of
from pipeline.output.files import disk_full
from pipeline.output.kept import state_dir
from pipeline.text import human_size


@contextlib.contextmanager
def slow_server_explained() -> Iterator[None]:
    """Prefect's temporary server not starting in time is a busy machine, not a bug: one line."""
    try:
        yield
    except RuntimeError as err:
        if "ephemeral Prefect API server" not in str(err):
            raise
        if full := filled_folder(prefect_folders(), ROOM_FOR_PREFECT):   # its database did not fit
            raise UsageError(full) from None
        raise UsageError("Prefect's temporary server did not start in time (a busy machine?): run "
                         "the command again, or keep a Prefect server running (README: \"A "
                         "long-lived Prefect server\")") from None


def quiet_logs(verbose: bool) -> None:
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        # Prefect's console says nothing: a failure is one line of the run's summary, and its
        # traceback goes to the log file (route_prefect_logs). Local Dask workers inherit this.
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
        # Dask's scheduler, nannies and workers (which inherit this) chat at INFO by default.
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "error")



# ---- Prefect's log: a file of the user's, named by the summary (never in the output folder) ----

LOGS_KEPT = 20
_log_file: Path | None = None


def route_prefect_logs(verbose: bool) -> None:
    """Send what Prefect logs (warnings, tracebacks of failed tasks) to a file of this run under
    the user's state folder, not the terminal (`-v`: the terminal, as Prefect does). The file is
    made at its first line only; `log_file()` names it then."""
    import logging
    import time

    global _log_file
    if verbose or _log_file is not None:
        return
    folder = state_dir() / "logs"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for old in sorted(folder.glob("run-*.log"))[:-LOGS_KEPT]:
            old.unlink(missing_ok=True)
    except OSError:
        folder = Path(tempfile.gettempdir())
    _log_file = folder / f"run-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    handler = logging.FileHandler(_log_file, delay=True, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s | %(levelname)-7s | %(name)s - %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    from prefect.logging.handlers import PrefectConsoleHandler

    for console in (h for h in root.handlers if isinstance(h, PrefectConsoleHandler)):
        console.setLevel(logging.CRITICAL)  # as quiet_logs asks, where Prefect was set up before it


def log_file_path() -> Path | None:
    """Where this run's Prefect log goes (made at its first line), or None: to the terminal."""
    return _log_file


def log_file() -> Path | None:
    """This run's Prefect log, once something was written to it."""
    if _log_file is not None and _log_file.is_file() and _log_file.stat().st_size:
        return _log_file
    return None


def in_a_thread_of_its_own(fn, *args, **kwargs):
    """fn(*args, **kwargs) in another thread, in a copy of this context; its result or error.

    The flow runs there so that this (the main) thread only waits, and handles Ctrl-C and
    SIGTERM at once: in the main thread Prefect's flow engine would put its own SIGTERM handler
    in place of `stopping_at_once`'s, one that waits for the running dreams first (minutes).
    The copied context carries Prefect's settings and the output folder's lock (pipeline/lock).
    """
    outcome: dict = {}
    context = contextvars.copy_context()

    def work() -> None:
        try:
            outcome["result"] = context.run(fn, *args, **kwargs)
        except BaseException as error:  # re-raised below, in the caller's thread
            outcome["error"] = error

    worker = threading.Thread(target=work, name="dreamtrip-flow", daemon=True)
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]



# ---- Prefect's temporary API server, tied to this process ----

_server = None  # the temporary server this process started, if any
PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent thread dies


# The Prefect releases whose private server internals `tether` was tested with; pyproject.toml
# pins the same range (tests/test_launch.py holds the two together). Outside it, the server
# starts as Prefect starts it, untethered.
PREFECT_TESTED = ">=3.9.1,<3.10"


def start_prefect_server(log_to: Path | None = None) -> None:
    """Start Prefect's temporary API server now, from this thread, so that it dies with us.

    Without PREFECT_API_URL, Prefect starts a server (uvicorn, ~220 MB) for the command on
    first use and stops it at exit, but not when the process is killed: then it runs on under
    PID 1. Started here, from the thread that lives as long as the command, it is the one
    Prefect finds (one per process) and, on Linux, gets SIGKILL from the kernel when the
    process ends in any way (`tether`, on the Prefect releases it was tested with). A
    long-lived server (PREFECT_API_URL) is left alone. `log_to`: a file for what the server
    prints (its errors when it is stopped), else the terminal.
    """
    global _server
    from prefect.server.api import server as prefect_server
    from prefect.settings import PREFECT_API_URL

    if _server is not None or PREFECT_API_URL.value():
        return
    server = prefect_server.SubprocessASGIServer()  # Prefect's own, one per process
    if tethering_tested(prefect_server, server):
        tether(prefect_server, server, log_to)
    server.start()
    _server = server
    # Processes the run starts (local Dask workers) use this server rather than each starting
    # one of their own, which nothing would stop when the run is killed.
    os.environ["PREFECT_API_URL"] = server.api_url


def tethering_tested(prefect_server, server) -> bool:
    """Whether this Prefect is one `tether` was tested with, and still has what it replaces."""
    import prefect
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    try:
        tested = Version(prefect.__version__) in SpecifierSet(PREFECT_TESTED)
    except InvalidVersion:
        return False
    return (tested and callable(getattr(server, "_run_uvicorn_command", None))
            and callable(getattr(getattr(prefect_server, "subprocess", None), "Popen", None)))


def tether(prefect_server, server, log_to: Path | None = None) -> None:
    """Make the server's uvicorn process a child that the kernel kills when this thread ends,
    printing to `log_to` if given. Prefect's private internals (its command's starter, its
    module's `subprocess`): only for the releases in PREFECT_TESTED."""
    start_uvicorn = server._run_uvicorn_command

    def start_uvicorn_tethered():
        # Prefect's command and environment; only the child's set-up is added, for this call.
        real = prefect_server.subprocess
        with contextlib.ExitStack() as files:
            output = {}
            if log_to is not None:
                with contextlib.suppress(OSError):
                    log = files.enter_context(open(log_to, "ab"))
                    output = {"stdout": log, "stderr": log}
            prefect_server.subprocess = SimpleNamespace(
                Popen=functools.partial(real.Popen, preexec_fn=die_with_this_thread(), **output))
            try:
                return start_uvicorn()
            finally:
                prefect_server.subprocess = real

    server._run_uvicorn_command = start_uvicorn_tethered


# Room the temporary server needs: a fresh SQLite database and its write-ahead log take ~6 MB
# (measured with Prefect 3.9.1), and each run adds to them.
ROOM_FOR_PREFECT = 16 * 1024 * 1024


def check_prefect_home(folders: list[Path] | None = None, name: str = "PREFECT_HOME",
                       needs: str | None = None) -> None:
    """The temporary server keeps its database in PREFECT_HOME: a folder there that cannot be
    written, or a full disk, is one line before any work, not Prefect's tracebacks for two
    minutes. Nothing to check with a long-lived server (PREFECT_API_URL). `folders`: others to
    check in the same way (`serve`'s own server: `own_server_folder`), called `name` in the line."""
    needs = needs or _PREFECT_NEEDS
    for folder in prefect_folders() if folders is None else folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder, prefix=".dreamtrip-probe-") as probe:
                probe.write(bytes(4096))
                probe.flush()
                os.fsync(probe.fileno())
            room = shutil.disk_usage(folder).free >= ROOM_FOR_PREFECT
        except OSError as err:
            if disk_full(err, folder) is None:
                raise UsageError(f"{name} {folder}: cannot write there ({reason_of(err)}): {needs}") from None
            room = False
        if not room:
            free = shutil.disk_usage(next(f for f in (folder, *folder.parents) if f.exists())).free
            raise UsageError(f"{name} {folder}: the disk is full ({human_size(free)} free; Prefect's "
                             f"database needs about {human_size(ROOM_FOR_PREFECT)}): {needs}")


_PREFECT_NEEDS = ("Prefect's temporary server keeps its database there; set PREFECT_HOME to a folder with room, "
                  "or PREFECT_API_URL to a running Prefect server")


def prefect_folders() -> list[Path]:
    """PREFECT_HOME, and the folder of the temporary server's SQLite database (in it by default);
    none when the runs go to a long-lived server."""
    with warnings.catch_warnings():  # said by check_prefect_home, in one line
        warnings.filterwarnings("ignore", "Failed to create the Prefect home directory")
        from prefect.settings import get_current_settings

    settings = get_current_settings()
    if settings.api.url:
        return []
    folders = [Path(settings.home).expanduser()]
    url = settings.server.database.connection_url.get_secret_value()
    database = url.partition(":///")[2] if url.startswith("sqlite") else ""
    if database and not database.startswith(":memory:"):
        folders.append(Path(database).expanduser().parent)
    return list(dict.fromkeys(folders))


def die_with_this_thread():
    """A preexec_fn: the child gets SIGKILL when the thread that starts it ends (the process
    exits, is killed), or None where the kernel offers no such thing (not Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before fork, not in the child
    parent = os.getpid()

    def in_the_child() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the line above: follow it now
            os._exit(1)

    return in_the_child


def die_with_parent() -> None:
    """Ask the kernel to kill this process when the thread that started it ends (on Linux): a
    scheduled run must not outlive the `serve` that started it, even one killed with -9."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def prefect_server_configured() -> bool:
    """Whether PREFECT_API_URL names a long-lived server, in the environment or in the active
    profile of Prefect's profiles file (read here as Prefect reads it: importing Prefect to ask
    would cost a no-op rerun its seconds)."""
    import tomllib

    if os.environ.get("PREFECT_API_URL"):
        return True
    home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()
    path = Path(os.environ.get("PREFECT_PROFILES_PATH") or home / "profiles.toml").expanduser()
    try:
        profiles = tomllib.loads(path.read_text())
    except (OSError, ValueError):
        return False
    active = os.environ.get("PREFECT_PROFILE") or profiles.get("active") or "ephemeral"
    profile = profiles.get("profiles", {}).get(active, {})
    return isinstance(profile, dict) and bool(profile.get("PREFECT_API_URL"))


def kill_server_now() -> None:
    """Stop the Prefect server this process started (temporary, or `serve`'s own), at once: the
    command is being stopped."""
    process = getattr(_server, "server_process", None)
    if process is not None:
        process.kill()


# ---- PREFECT_HOME filling up during a run ----
# The temporary server keeps its SQLite database in PREFECT_HOME; when that disk fills, the
# server answers the flow's API calls with a 500 ("database or disk is full" stays in the
# server's log) and the command would end in a 60-line PrefectHTTPStatusError, although every
# dream was finished and kept. This names the cause in one line; it reads the error's type by
# name, so nothing of Prefect is imported for it.

def prefect_home_filled(err: BaseException) -> str | None:
    """One line for `err` when it is a Prefect API server error (5xx, anywhere in its chain) and
    PREFECT_HOME or its database's folder (prefect_folders) has less than ROOM_FOR_PREFECT
    free; else None (not that)."""
    return filled_folder(prefect_folders(), ROOM_FOR_PREFECT) if _server_error(err) else None


def filled_folder(folders: list[Path], room: int) -> str | None:
    """One line naming the first of `folders` whose disk has less than `room` bytes free, else
    None. Also for a temporary server that did not start: its database may not have fit."""
    for folder in folders:
        free = shutil.disk_usage(next(f for f in (folder, *folder.parents) if f.exists())).free
        if free < room:
            return (f"PREFECT_HOME {folder}: the disk filled up during the run ({human_size(free)} free), and "
                    "Prefect's temporary server keeps its database there: free some space (or set PREFECT_HOME to "
                    "a folder with room), then run the same command again (finished dreams are kept)")
    return None


def _server_error(err: BaseException | None) -> bool:
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        named = {kind.__name__ for kind in type(err).__mro__}
        response = getattr(err, "response", None)
        if named & {"PrefectHTTPStatusError", "HTTPStatusError"} and getattr(response, "status_code", 0) >= 500:
            return True
        err = err.__cause__ or err.__context__
    return False

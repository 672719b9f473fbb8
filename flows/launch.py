"""Starting a run from the command line: checks before any work, the output folder's lock, the
Prefect and Dask plumbing, stopping at once on Ctrl-C or SIGTERM, and Prefect's temporary
server tied to the process so that nothing of a run outlives it.

The CLI (flows/cli.py) parses and prints; everything a command must set up before the flow
runs, and what it reads back afterwards, lives here. A user's mistake found on the way is a
`UsageError`: one line, exit code 2, nothing done.
"""

from __future__ import annotations

import asyncio
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
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Callable, Iterator

from pipeline.config import load_settings
from pipeline.guides import resolve_guides
from pipeline.ingest.album import ALBUM_FILE, find_photos, load_album_text
from pipeline.output.files import disk_full, human_size
from pipeline.output.folder import check_folders, claim_output_folder
from pipeline.output.layout import MANIFEST
from pipeline.output.lock import LOCK_FILE, output_lock
from pipeline.output.store import DREAMS_DIR, PHOTOS_DIR, default_output_dir
from pipeline.post.view import counted

INTERRUPTED = "dreamtrip: interrupted; finished dreams are kept, rerun to continue"
EXIT_INTERRUPTED = 128 + signal.SIGINT

if TYPE_CHECKING:
    from pipeline.ingest.album import AlbumFiles, AlbumText
    from pipeline.manifest import Manifest
    from pipeline.output.records import FileRecord

Warn = Callable[[str], None]


class UsageError(Exception):
    """A mistake in how dreamtrip was called: one line, exit code 2, nothing done."""


@dataclass(frozen=True)
class Execution:
    """How a run executes, from the command line: where the tasks go and what it waits for."""

    verbose: bool = False            # Prefect's (and Dask's) logs at their usual level
    wait: bool = False               # another run writes OUT: wait for it (else OutputBusy)
    dask: str | None = None          # a scheduler's address, `local`, or None: threads here
    dask_workers: int | None = None  # workers of the local Dask cluster

    def __post_init__(self):
        if self.dask_workers and self.dask != "local":
            raise UsageError("--dask-workers only applies with --dask local")

    @property
    def lock_wait_s(self) -> float | None:
        return None if self.wait else 0.0


# ---- checks before any work ----

def album_folder(album: Path) -> Path:
    if not album.is_dir():
        raise UsageError(f"{album}: no such album folder")
    return album


def check_album(album: Path, warn: Warn) -> "AlbumScan":
    """Mistakes in the album stop the run before any work: album.yaml, or no photo at all.
    album.yaml entries that match no photo are warned about (their stories would be lost).
    The album as read: the run works from it (the flow does not read it again)."""
    scan = scan_album(album)
    if scan.files.left_out:
        warn(f"left out {', '.join(f'{name}/' for name in scan.files.left_out)}: dreamtrip output, not photos")
    if not scan.files.photos:
        skipped = "".join(f"\n  skipped {entry.source}: {entry.reason}" for entry in scan.files.skipped)
        raise UsageError(f"no photos found in {album}{skipped}")
    scan.text.check_cover(scan.files.photos)
    warn_unmatched(scan.text.unmatched(scan.files.photos), warn)
    return scan


@dataclass(frozen=True)
class AlbumScan:
    """The album as read: its text, its photos, and the files of the guides its text names."""

    text: "AlbumText"
    files: "AlbumFiles"
    guides: dict   # name in album.yaml -> GuideFile (pipeline/guides.py)


def scan_album(album: Path) -> AlbumScan:
    """Read album.yaml and find the photos; a guide album.yaml names that is no image is a
    ConfigError (one line) here, before any work."""
    text, files = load_album_text(album_folder(album)), find_photos(album)
    return AlbumScan(text, files, resolve_guides(album, text.guides(), files.photos, str(album / ALBUM_FILE)))


@dataclass(frozen=True)
class Preflight:
    """What a run checked and read before any work, holding OUT's lock: done once per run (the
    command does it before Prefect starts, and the flow it starts takes it from here)."""

    album_dir: Path                    # resolved
    out_dir: Path                      # resolved
    text: "AlbumText"
    files: "AlbumFiles"
    guides: dict                       # name in album.yaml -> GuideFile
    record: "FileRecord"               # OUT's record, the folder claimed
    earlier: "Manifest | None"         # OUT's manifest before this run, where there is one
    stamps: dict                       # each photo's (size, mtime, ctime) when the album was read


_preflight: contextvars.ContextVar[Preflight | None] = contextvars.ContextVar("dreamtrip_preflight", default=None)


def preflight(album_dir: Path, out_dir: Path, scan: AlbumScan | None = None,
              earlier: Manifest | None = None) -> Preflight:
    """Claim OUT (the caller holds its lock) and read the album (unless `scan` has) and OUT's
    manifest (unless the caller has: `earlier`, as `retry` has; an unreadable one counts as
    none: the run writes it anew)."""
    from flows.rerun import photo_stamps
    from pipeline.output.manifest_file import ManifestError, read_manifest

    album_dir, out_dir = Path(album_dir).resolve(), Path(out_dir).resolve()
    record = claim_output_folder(out_dir)
    scan = scan or scan_album(album_dir)
    if earlier is None and (out_dir / MANIFEST).is_file():
        with contextlib.suppress(ManifestError, OSError):
            earlier = read_manifest(out_dir)
    return Preflight(album_dir, out_dir, scan.text, scan.files, scan.guides, record, earlier,
                     photo_stamps(album_dir, scan.files.photos))


def preflight_of(album_dir: Path, out_dir: Path) -> Preflight | None:
    """The pre-flight this command made for that album and output folder, if it made one."""
    checked = _preflight.get()
    if checked is not None and (checked.album_dir, checked.out_dir) == (Path(album_dir), Path(out_dir)):
        return checked
    return None


@contextlib.contextmanager
def preflight_done(checked: Preflight) -> Iterator[Preflight]:
    token = _preflight.set(checked)
    try:
        yield checked
    finally:
        _preflight.reset(token)


def warn_unmatched(unmatched, warn: Warn) -> None:
    for entry in unmatched:
        warn(entry.message)


def check_image_formats(settings) -> None:
    """An image format this Pillow cannot write (images.formats) is a set-up error: every web
    copy would fail. Say so before any work."""
    from PIL import __version__ as pillow_version

    from pipeline.output.store import unwritable_formats

    missing = unwritable_formats(settings.images.formats)
    if missing:
        raise UsageError(f"images.formats: this Pillow ({pillow_version}) cannot write {', '.join(missing)}: "
                         "install Pillow 11.3 or later (its wheels write AVIF), or set images.formats: [jpeg]")


def check_blogs(settings) -> None:
    """The blogs `export:` names are sites of their engines, before any work (the rest of what
    an export checks, a file in its way, is checked when it exports)."""
    from pipeline.post.export import ExportError, check_site

    for engine, site in settings.export.sites():
        try:
            check_site(engine, site)
        except ExportError as err:
            raise UsageError(f"export.{engine}: {err}") from None


def check_device_and_weights(settings, how: Execution, warn: Warn | None = None) -> None:
    """A missing GPU or weights file (or image encoder: check_image_formats, which `run` asks
    first) is a set-up error: say so before Prefect starts. The device where the dreams run:
    here, or on a worker of the Dask cluster at `how.dask`. The ImageNet weights are fetched
    here where the settings want them (weights.download), before Prefect's seconds of start-up;
    `warn` gets the one line when that fails and the run goes on with HED."""
    from flows.scale import device_on_cluster
    from pipeline.dream.download import weights_for_run
    from pipeline.dream.spec import DeviceError, device_kind
    from pipeline.dream.weights import WeightsError

    check_image_formats(settings)
    try:
        if how.dask in (None, "local"):
            device_kind(settings.device)
        else:
            device_on_cluster(how.dask, settings.device)
        weights_for_run(settings.weights, say=print, warn=warn or print)
    except (DeviceError, WeightsError) as err:
        raise UsageError(str(err)) from None
    except OSError as err:  # no scheduler at that address (distributed raises OSError or TimeoutError)
        raise UsageError(f"--dask {how.dask}: no Dask scheduler answers there ({err})") from None


def check_output_folder(out: Path, pictures: bool = False, room: bool | None = None) -> None:
    """OUT is a folder this user can write in (made if need be); else one line saying why.
    With `pictures` (run, retry) its photos/ and dreams/ too, and the disk has room to start
    (`room`: whether to check that, for a command that writes no pictures: `blog`).

    Before any work: a run would fail on its first file, after minutes of loading. Not `clean`:
    it must work on a full disk, to free it.
    """
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} is a file, not a folder: give the output folder with -o")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot make the output folder {out}: {_reason(err)}") from None
    _check_writable(out, "the output folder", ROOM_TO_START if (pictures if room is None else room) else 0)
    if pictures:
        for folder in (out / PHOTOS_DIR, out / DREAMS_DIR):
            if folder.is_dir():  # else made in OUT, which was just checked
                _check_writable(folder, f"{folder.name}/ of the output folder")


def check_store_folder(store: Path | None) -> None:
    """A shared store (output.store_dir) where dreams are written: writable, or one line."""
    if store is not None and (store / DREAMS_DIR).is_dir():
        _check_writable(store / DREAMS_DIR, "the shared store's dreams/")


# What a run must be able to write before it starts: a full disk is said before any work (run
# and retry), not after the first dream. A dream or a web copy is a few KB to a few MB.
ROOM_TO_START = 64 * 1024


def _check_writable(folder: Path, what: str, room: int = 0) -> None:
    """A file of `room` bytes can be made in `folder` (and is gone again); else one line: the
    disk is full (DiskFull, naming its free space) or why the folder cannot be written."""
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".dreamtrip-probe-") as probe:
            if room:
                probe.write(bytes(room))
                probe.flush()
                os.fsync(probe.fileno())  # some file systems say "full" only here
    except OSError as err:
        if full := disk_full(err, folder):
            raise full from None
        raise UsageError(f"cannot write in {what} {folder}: {_reason(err)}") from None


def _reason(err: OSError) -> str:
    return (err.strerror or str(err)).lower()


@contextlib.contextmanager
def stored_run(album: Path, output: Path | None, wait_s: float | None = 0.0,
               missing: str | None = None, writes_pictures: bool = False,
               writes_post: bool = False) -> Iterator[tuple[Path, "Manifest"]]:
    """(OUT, its manifest) for the commands that work on a run's results, with OUT's lock held
    for the block. OUT is `output`, else out/<album name>. The lock is taken before anything is
    read (OutputBusy while a run writes there, `wait_s` as in output_lock). A usage error when
    the album is not there (every photo would count as removed from it) or OUT has no manifest
    (saying `missing`: by default, to run first), or the disk has no room to start
    (`writes_post` or `writes_pictures`: not for `clean`, which must work on a full disk). The
    folder is claimed by the command: `blog` and `clean` claim its top files (flows/upkeep.py),
    `run` and `retry` all of it (`preflight`)."""
    from pipeline.output.manifest_file import ManifestError, read_manifest

    album_folder(album)
    out = default_output_dir(album, output)
    check_folders(album, out)
    missing = f"{out}: no manifest.json: {missing or f'run `dreamtrip run {album}` first'}"
    if not (out / MANIFEST).is_file() and not (out / LOCK_FILE).exists():
        raise UsageError(missing)  # no run has been here: nothing to lock or to read
    check_output_folder(out, pictures=writes_pictures, room=writes_pictures or writes_post)
    with output_lock(out, wait_s):
        if not (out / MANIFEST).is_file():
            raise UsageError(missing)
        try:
            manifest = read_manifest(out)
        except ManifestError as err:
            raise UsageError(str(err)) from None
        yield out, manifest


# ---- run: the Prefect flow ----

def run(album: Path, config: Path | None, overrides: dict, how: Execution, warn: Warn, say: Warn = print,
        renew: bool = False, preview: bool = False):
    """Check, lock OUT, and run the flow on `album`; its manifest. When there is nothing to
    dream and no Prefect server to report to, the post is written without Prefect
    (flows/rerun.py); `say` tells the user which, and why. `preview`: the flow publishes the
    post with small dreams first (flows/dream_album.py)."""
    from flows import rerun

    settings = load_settings(config, overrides)
    check_image_formats(settings)
    check_blogs(settings)
    out = default_output_dir(album, settings.output.dir_path)
    check_folders(album_folder(album), out, settings.output.store_path)
    scan = check_album(album, warn)
    check_output_folder(out, pictures=True)
    check_store_folder(settings.output.store_path)
    # The lock first, before torch and Prefect load (seconds): a second command stops at once.
    with stopping_at_once(), output_lock(out, how.lock_wait_s):
        say(f"Dreaming {counted(len(scan.files.photos), 'photo')} of {album} into {out}: "
            "checking what is done already")
        checked = preflight(album, out, scan)
        check_device_and_weights(settings, how, warn)
        spec, why = _quick_or_why(checked, settings, how, renew)
        if why is None:
            say("Nothing new to dream: writing the post (no need to start Prefect)")
            return rerun.write_quick_post(checked, settings, rerun.fingerprint(settings, spec, checked))
        say(f"To do: {why}; starting Prefect")
        quiet_logs(how.verbose)  # before Prefect's settings load (check_prefect_home reads them)
        check_prefect_home()     # after the device: a missing GPU is said before Prefect loads
        rerun.forget(checked.out_dir)
        with preflight_done(checked):
            manifest = run_flow(album, str(config) if config else None, overrides, how, renew=renew,
                                preview=preview)
        if spec is not None:
            rerun.remember(checked, rerun.fingerprint(settings, spec, checked), manifest)
        return manifest


def _quick_or_why(checked: Preflight, settings, how: Execution, renew: bool):
    """(the run's dream spec, decided here, or None; why the flow must run, or None)."""
    from flows import rerun
    from pipeline.dream.spec import DreamSpec
    from pipeline.dream.weights import choose_weights

    if how.dask:
        return None, "--dask runs it on the cluster"
    spec = DreamSpec.decide(settings, choose_weights(settings.weights.source).identity)
    if renew:
        return spec, "--renew (earlier releases' dreams made again with this one)"
    if prefect_server_configured():
        return spec, "every run is recorded by the Prefect server at PREFECT_API_URL"
    why = rerun.why_not(checked, rerun.fingerprint(settings, spec, checked),
                        lambda source: checked.text.layers_for(source, settings.layers))
    return spec, why


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


def run_flow(album: Path, config: str | None, overrides: dict, how: Execution,
             only_photos: list[str] | None = None, hidden_photos: list[str] | None = None,
             renew: bool = False, preview: bool = False):
    """Run the flow (on Dask if asked) and return its manifest. The caller holds OUT's lock and
    has made Ctrl-C and SIGTERM stop the command (`stopping_at_once`)."""
    quiet_logs(how.verbose)
    from flows.dream_album import dream_album  # Prefect loads only for a real run

    route_prefect_logs(how.verbose)

    flow_fn = dream_album
    if how.dask:
        from flows.scale import dask_task_runner

        address = None if how.dask == "local" else how.dask
        flow_fn = dream_album.with_options(task_runner=dask_task_runner(address, how.dask_workers))
        # A stopped run leaves the local cluster's semaphores to multiprocessing's tracker, which
        # frees them and would add a warning after the run's last line.
        os.environ.setdefault("PYTHONWARNINGS", "ignore:resource_tracker:UserWarning")
    with slow_server_explained():
        start_prefect_server(_log_file)
        return in_a_thread_of_its_own(flow_fn, str(album), config, overrides, only_photos=only_photos,
                                      hidden_photos=hidden_photos, renew=renew, preview=preview)


@contextlib.contextmanager
def slow_server_explained() -> Iterator[None]:
    """Prefect's temporary server not starting in time is a busy machine, not a bug: one line."""
    try:
        yield
    except RuntimeError as err:
        if "ephemeral Prefect API server" not in str(err):
            raise
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

    from flows.rerun import state_dir

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


# ---- stopping: Ctrl-C and SIGTERM ----

STOPPED = {
    signal.SIGINT: INTERRUPTED,
    signal.SIGTERM: "dreamtrip: stopped (SIGTERM); finished dreams are kept, rerun to continue",
}


@contextlib.contextmanager
def stopping_at_once() -> Iterator[None]:
    """Ctrl-C or SIGTERM (systemd, Docker, `kill PID`) during the block stop the command at once
    with one line, exit code 128 + the signal's number (130, 143).

    Nothing is lost: every file is written under a temporary name and renamed when complete,
    the output folder's lock dies with the process, and the next run finishes the album.
    Unwinding instead would wait for the dreams running on the device. The children go too:
    Dask's local workers watch a pipe from this process, and Prefect's temporary server is
    stopped here (and on Linux the kernel stops it when this process dies, even by kill -9).
    """
    previous = {signum: signal.signal(signum, _stop_now) for signum in STOPPED}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _stop_now(signum, frame) -> None:
    # In a terminal the line may hold ^C or the progress bar: the message goes on its own.
    print("\n" * sys.stderr.isatty() + STOPPED[signum], file=sys.stderr, flush=True)
    process = getattr(_server, "server_process", None)
    if process is not None:
        process.kill()
    os._exit(128 + signum)


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


def check_prefect_home() -> None:
    """The temporary server keeps its database in PREFECT_HOME: a folder there that cannot be
    written, or a full disk, is one line before any work, not Prefect's tracebacks for two
    minutes. Nothing to check with a long-lived server (PREFECT_API_URL)."""
    for folder in prefect_folders():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder, prefix=".dreamtrip-probe-") as probe:
                probe.write(bytes(4096))
                probe.flush()
                os.fsync(probe.fileno())
            room = shutil.disk_usage(folder).free >= ROOM_FOR_PREFECT
        except OSError as err:
            if disk_full(err, folder) is None:
                raise UsageError(f"PREFECT_HOME {folder}: cannot write there ({_reason(err)}): "
                                 f"{_PREFECT_NEEDS}") from None
            room = False
        if not room:
            free = shutil.disk_usage(next(f for f in (folder, *folder.parents) if f.exists())).free
            raise UsageError(f"PREFECT_HOME {folder}: the disk is full ({human_size(free)} free; Prefect's "
                             f"database needs about {human_size(ROOM_FOR_PREFECT)}): {_PREFECT_NEEDS}")


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


# ---- serve: a scheduled deployment ----

def scheduled(album: Path, cron: str, config: Path | None, overrides: dict, verbose: bool, say: Warn = print):
    """The deployment that runs `dreamtrip run ALBUM` on `cron` (not served yet)."""
    settings = load_settings(config, overrides)
    check_image_formats(settings)
    check_blogs(settings)
    album_folder(album)
    out = default_output_dir(album, settings.output.dir_path).resolve()
    check_folders(album, out, settings.output.store_path)
    check_output_folder(out)
    if not verbose:  # before Prefect's settings load (check_prefect_home reads them)
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    check_prefect_home()
    # Scheduled runs may start elsewhere: pin the output folder to an absolute path now.
    overrides = {**overrides, "output.dir": str(out)}
    say(f"Scheduling runs of {album} into {out}: starting Prefect")
    from flows.deploy import build_deployment

    try:
        return build_deployment(album, cron, config, overrides)
    except ValueError as err:  # pydantic's ValidationError is one: a bad cron string
        raise UsageError(f"--cron {cron!r}: {err}") from None


def serve(deployment) -> int | None:
    """Register the deployment and run each scheduled run until stopped; the signal that
    stopped it (SIGTERM, or SIGINT for Ctrl-C), for the exit code 128 + its number.

    Prefect's own Runner, as `prefect.serve` makes it (the schedule paused on shutdown), with
    its public SIGTERM handler noted on the way: Prefect stops gracefully (cancels the run in
    progress, pauses the schedule) and returns as if nothing happened, and `systemctl stop` or
    a CI must see that the service was stopped, not that it finished (exit 0).
    """
    from prefect.exceptions import TerminationSignal
    from prefect.runner import Runner

    class NotingRunner(Runner):
        stopped_by: int | None = None

        def handle_sigterm(self, *args, **kwargs) -> None:
            self.stopped_by = signal.SIGTERM
            super().handle_sigterm(*args, **kwargs)

    # Until the runner puts its own handler in place, SIGTERM stops the command at once (143).
    signal.signal(signal.SIGTERM, _stop_now)
    with slow_server_explained():
        start_prefect_server()  # dies with this process; the scheduled runs use it too
    runner = NotingRunner(pause_on_shutdown=True)
    runner.add_deployment(deployment)
    try:
        asyncio.run(runner.start())
    except KeyboardInterrupt:
        return signal.SIGINT
    except TerminationSignal as stop:
        return stop.signal
    except SystemExit:  # Prefect's handler when SIGTERM comes before the runner has started
        if runner.stopped_by is None:
            raise
    return runner.stopped_by

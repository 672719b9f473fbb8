"""Starting a run from the command line: checks before any work, the output folder's lock, the
Prefect and Dask plumbing, and stopping at once on Ctrl-C.

The CLI (flows/cli.py) parses and prints; everything a command must set up before the flow
runs, and what it reads back afterwards, lives here. A user's mistake found on the way is a
`UsageError`: one line, exit code 2, nothing done.
"""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pipeline.config import load_settings
from pipeline.ingest.album import find_photos, load_album_text
from pipeline.lock import output_lock
from pipeline.manifest import MANIFEST
from pipeline.store import default_output_dir

INTERRUPTED = "dreamtrip: interrupted; finished dreams are kept, rerun to continue"
EXIT_INTERRUPTED = 130

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


def check_album(album: Path, warn: Warn) -> None:
    """Mistakes in the album stop the run before any work: album.yaml, or no photo at all.
    album.yaml entries that match no photo are warned about (their stories would be lost)."""
    text, files = load_album_text(album_folder(album)), find_photos(album)
    if not files.photos:
        skipped = "".join(f"\n  skipped {entry.source}: {entry.reason}" for entry in files.skipped)
        raise UsageError(f"no photos found in {album}{skipped}")
    warn_unmatched(text.unmatched(files.photos), warn)


def warn_unmatched(unmatched, warn: Warn) -> None:
    for entry in unmatched:
        warn(entry.message)


def check_device_and_weights(settings) -> None:
    """A missing GPU or weights file is a set-up error: say so before Prefect starts."""
    from pipeline.dream.engine import DeviceError, pick_device
    from pipeline.dream.weights import WeightsError, choose_weights

    try:
        pick_device(settings.device)
        choose_weights(settings.weights.source)
    except (DeviceError, WeightsError) as err:
        raise UsageError(str(err)) from None


def stored_run(album: Path, output: Path | None, missing: str | None = None):
    """(OUT, its manifest) for the commands that read a run's results: OUT is `output`, else
    out/<album name>. A usage error when the album is not there (every photo would count as
    removed from it) or OUT has no manifest (saying `missing`: by default, to run first)."""
    from pipeline.manifest import ManifestError, read_manifest

    album_folder(album)
    out = default_output_dir(album, output)
    if not (out / MANIFEST).is_file():
        missing = missing or f"run `dreamtrip run {album}` first"
        raise UsageError(f"{out}: no manifest.json: {missing}")
    try:
        return out, read_manifest(out)
    except ManifestError as err:
        raise UsageError(str(err)) from None


# ---- run: the Prefect flow ----

def run(album: Path, config: Path | None, overrides: dict, how: Execution, warn: Warn):
    """Check, lock OUT, and run the flow on `album`; its manifest."""
    settings = load_settings(config, overrides)
    check_album(album, warn)
    # The lock first, before torch and Prefect load (seconds): a second command stops at once.
    with output_lock(default_output_dir(album, settings.output.dir_path), how.lock_wait_s):
        check_device_and_weights(settings)
        return run_flow(album, str(config) if config else None, overrides, how)


def run_flow(album: Path, config: str | None, overrides: dict, how: Execution,
             only_photos: list[str] | None = None):
    """Run the flow (on Dask if asked) and return its manifest. The caller holds OUT's lock."""
    quiet_logs(how.verbose)
    from flows.dream_album import dream_album  # Prefect and torch load only for a real run

    flow_fn = dream_album
    if how.dask:
        from flows.scale import dask_task_runner

        address = None if how.dask == "local" else how.dask
        flow_fn = dream_album.with_options(task_runner=dask_task_runner(address, how.dask_workers))
    previous = signal.signal(signal.SIGINT, stop_now)
    try:
        return flow_fn(str(album), config, overrides, only_photos=only_photos)
    except RuntimeError as err:
        if "ephemeral Prefect API server" not in str(err):
            raise
        raise UsageError("Prefect's temporary server did not start in time (a busy machine?): run "
                         "the command again, or keep a Prefect server running (README: \"A "
                         "long-lived Prefect server\")") from None
    finally:
        signal.signal(signal.SIGINT, previous)


def quiet_logs(verbose: bool) -> None:
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        # Dask's scheduler, nannies and workers (which inherit this) chat at INFO by default.
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "error")


def stop_now(signum, frame) -> None:
    """Ctrl-C during a run: stop at once. Nothing is lost: every file is written under a temporary
    name and renamed when complete, the output folder's lock dies with the process, and the next
    run finishes the album. (Unwinding instead would wait for the dream on the device and for
    Prefect's temporary server, which the same Ctrl-C has already stopped.)"""
    print(f"\n{INTERRUPTED}", file=sys.stderr, flush=True)
    os._exit(EXIT_INTERRUPTED)


# ---- serve: a scheduled deployment ----

def scheduled(album: Path, cron: str, config: Path | None, overrides: dict, verbose: bool):
    """The deployment that runs `dreamtrip run ALBUM` on `cron` (not served yet)."""
    settings = load_settings(config, overrides)
    album_folder(album)
    # Scheduled runs may start elsewhere: pin the output folder to an absolute path now.
    overrides = {**overrides,
                 "output.dir": str(default_output_dir(album, settings.output.dir_path).resolve())}
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from flows.deploy import build_deployment

    try:
        return build_deployment(album, cron, config, overrides)
    except ValueError as err:  # pydantic's ValidationError is one: a bad cron string
        raise UsageError(f"--cron {cron!r}: {err}") from None


def serve(deployment) -> None:
    """Register the deployment and run each scheduled run until stopped (Ctrl-C)."""
    from prefect import serve as prefect_serve

    prefect_serve(deployment)

"""The flow a scheduled run starts (flows/serving.py serves it): `dreamtrip run` as the command
does it, and what it did in one line on serve's output."""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow

from flows import hosting, launch
from flows.preflight import Execution, UsageError
from flows.report import clock, counts_line, os_error_line, tell


@flow(name="dream-album")
def scheduled_run(album: str, config: str | None = None, overrides: dict | None = None):
    """One scheduled run: `dreamtrip run ALBUM` with these settings, as the command does it;
    what it did (or why it did nothing) in one line on serve's output. A failure ends the run
    Failed, with its reason, and the schedule goes on."""
    from prefect.logging import get_run_logger
    from prefect.runtime import flow_run
    from prefect.states import Cancelled, Completed, Failed

    from pipeline.config import ConfigError
    from pipeline.output.files import DiskFull
    from pipeline.output.lock import OutputBusy

    hosting.die_with_parent()  # not one moment longer than the `serve` that started it
    logger = get_run_logger()
    head = f"[{clock(flow_run.scheduled_start_time)} run]"
    try:
        manifest = launch.run(Path(album), Path(config) if config else None, overrides or {}, Execution(),
                              warn=lambda line: print(f"{head} warning: {line}", file=sys.stderr, flush=True),
                              say=logger.info)
    except OutputBusy as busy:  # another `dreamtrip run` (not this schedule's) writes the post
        tell(f"{head} skipped: {busy}")
        return Cancelled(message=str(busy))
    except (ConfigError, UsageError, DiskFull, OSError) as err:
        why = os_error_line(err) if isinstance(err, OSError) and not isinstance(err, DiskFull) else str(err)
        tell(f"{head} failed: {why}")
        return Failed(message=why)
    except Exception as err:  # a bug: its traceback is in Prefect's log of the run
        tell(f"{head} failed: {type(err).__name__}: {err}")
        raise
    failures = manifest.failures()
    tell(f"{head} {counts_line(manifest)}"
         + (f", {len(failures)} failed ({failures[0]}{', ...' if len(failures) > 1 else ''})" if failures else "")
         + f"; page: {manifest.page}")
    return Failed(message=f"{len(failures)} failed") if failures else Completed()

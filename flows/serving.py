"""`dreamtrip serve`: the run as a Prefect deployment on a cron schedule, served by this process.

`flow.to_deployment` describes it (album, settings, schedule) and Prefect's Runner registers it
with the Prefect API and runs each scheduled run in a subprocess until stopped. Each run is an
ordinary `dreamtrip run` (flows/launch.py): it dreams only the photos added since the last one.
"""

from __future__ import annotations

import asyncio
import os
import signal
import warnings
from pathlib import Path

from flows.hosting import check_prefect_home, slow_server_explained, start_prefect_server
from flows.preflight import (
    Warn,
    album_folder,
    check_blogs,
    check_image_formats,
    check_output_folder,
)
from flows.stopping import _stop_now
from pipeline.config import load_settings, quoted
from pipeline.output.folder import check_folders
from pipeline.output.store import default_output_dir

CRON_FORMAT = 'five fields: minute hour day-of-month month day-of-week, e.g. "0 3 * * *" (3:00 daily)'


class ScheduleError(ValueError):
    """`--cron` is no schedule Prefect accepts: one line, exit 2, before anything starts."""


def check_cron(expr: str) -> None:
    """Refuse a cron expression that Prefect's CronSchedule would refuse (after its server had
    started, as four lines of pydantic): the same check, made first."""
    with warnings.catch_warnings():  # an unusable PREFECT_HOME is said later, in one line
        warnings.filterwarnings("ignore", "Failed to create the Prefect home directory")
        from prefect.client.schemas.schedules import CronSchedule  # its module only: no server starts
    from pydantic import ValidationError

    try:
        CronSchedule(cron=expr)
    except ValidationError:
        raise ScheduleError(f"--cron {quoted(expr)}: not a cron schedule Prefect accepts: {CRON_FORMAT}") from None


def build_deployment(album: Path, cron: str, config: Path | None = None, overrides: dict | None = None):
    """The deployment (not yet registered): the run with these parameters on `cron`.

    Paths are made absolute: scheduled runs may start in another working directory.
    """
    from flows.scheduled import scheduled_run  # Prefect loads once the checks are made

    album = Path(album).resolve()
    parameters = {"album": str(album), "config": str(Path(config).resolve()) if config else None,
                  "overrides": overrides or {}}
    return scheduled_run.to_deployment(
        name=album.name,
        cron=cron,
        parameters=parameters,
        description=f"Dream the new photos of {album} and rewrite its post.",
        tags=["dreamtrip"],
    )


def scheduled(album: Path, cron: str, config: Path | None, overrides: dict, verbose: bool, say: Warn = print):
    """The deployment that runs `dreamtrip run ALBUM` on `cron` (not served yet)."""
    settings = load_settings(config, overrides)
    check_image_formats(settings)
    album_folder(album)
    out = default_output_dir(album, settings.output.dir_path).resolve()
    check_folders(album, out, settings.output.store_path)
    check_blogs(settings, album.resolve(), out, say)
    check_output_folder(out)
    if not verbose:  # before Prefect's settings load (check_prefect_home reads them)
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    check_prefect_home()
    # Scheduled runs may start elsewhere: pin the output folder to an absolute path now.
    overrides = {**overrides, "output.dir": str(out)}
    say(f"Scheduling runs of {album} into {out}: starting Prefect")
    return build_deployment(album, cron, config, overrides)   # (the cron was checked first: check_cron)


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

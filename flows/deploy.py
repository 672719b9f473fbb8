"""`dreamtrip serve`: the flow as a Prefect deployment on a cron schedule, served by this process.

`flow.to_deployment` describes it (album, settings, schedule) and `prefect.serve` registers it
with the Prefect API and runs each scheduled run in a subprocess until stopped. Each run is an
ordinary `dreamtrip run`: it dreams only the photos added since the last one.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from pipeline.config import quoted

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
    """The deployment (not yet registered): the flow with these parameters on `cron`.

    Paths are made absolute: scheduled runs may start in another working directory.
    """
    from flows.dream_album import dream_album

    album = Path(album).resolve()
    parameters = {"album": str(album), "config": str(Path(config).resolve()) if config else None,
                  "overrides": overrides or {}}
    return dream_album.to_deployment(
        name=album.name,
        cron=cron,
        parameters=parameters,
        description=f"Dream the new photos of {album} and rewrite its post.",
        tags=["dreamtrip"],
    )

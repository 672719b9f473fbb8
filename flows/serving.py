"""`dreamtrip serve`: the run as a Prefect deployment on a schedule, served by this process.

`flow.to_deployment` describes it (album, settings, schedule) and Prefect's Runner registers it
with the Prefect API and runs each scheduled run in a subprocess until stopped. Each run is an
ordinary `dreamtrip run` (flows/launch.py): it dreams only the photos added since the last one,
and says what it did in one line on serve's output.

The schedule needs a Prefect server with its scheduler: the one at PREFECT_API_URL, else
dreamtrip's own, started here and stopped with this process (flows/hosting.py). At most one
run writes the album's post at a time: while a run is busy the next one due waits and later
ones are skipped, and runs missed while the machine slept or serve was away are made once,
not once each (`one_run_at_a_time`); the deployment's concurrency limit backs this up on the
server.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import signal
import warnings
from pathlib import Path

from flows import hosting
from flows.own_server import own_server_folder, start_own_server, stop_own_server
from flows.preflight import (
    UsageError,
    Warn,
    album_folder,
    check_blogs,
    check_image_formats,
    check_output_folder,
)
from flows.report import clock
from flows.stopping import _stop_now
from pipeline.config import load_settings, quoted
from pipeline.output.folder import check_folders
from pipeline.output.store import default_output_dir

BUSY = "Deployment concurrency limit reached."  # the server's message when it cancels a run for one in progress
MISSED = "dreamtrip serve: missed with others (the machine slept, or serve was away); one of them was made"
STILL_BUSY = "dreamtrip serve: the run before was still busy"
UNFINISHED = ("PENDING", "RUNNING", "CANCELLING")  # a run's state types while it holds the album's post
ORPHAN = "dreamtrip serve: the serve running it was killed; the next run goes on from its finished dreams"
WATCH_S = 2.0  # how often serve looks for runs to skip: more often than the Runner's poll (10 s)


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


def build_deployment(album: Path, cron: str | None = None, config: Path | None = None,
                     overrides: dict | None = None, every: float | None = None):
    """The deployment (not yet registered): the run with these parameters on `cron` (in this
    machine's time zone), or every `every` seconds. One run at a time, on the server too: a run
    due to start while another is busy is cancelled, not started.

    Paths are made absolute: scheduled runs may start in another working directory.
    """
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.client.schemas.schedules import construct_schedule

    from flows.scheduled import scheduled_run  # Prefect loads once the checks are made

    album = Path(album).resolve()
    parameters = {"album": str(album), "config": str(Path(config).resolve()) if config else None,
                  "overrides": overrides or {}}
    if every is not None:
        schedule = construct_schedule(interval=datetime.timedelta(seconds=every))
    else:
        schedule = construct_schedule(cron=cron, timezone=local_timezone())
    return scheduled_run.to_deployment(
        name=album.name,
        schedule=schedule,
        parameters=parameters,
        description=f"Dream the new photos of {album} and rewrite its post.",
        tags=["dreamtrip"],
        concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW),
    )


def local_timezone() -> str:
    """This machine's time zone as an IANA name (TZ, else /etc/localtime's), for the cron
    schedule: "0 3 * * *" is 03:00 here, not in UTC (Prefect's default)."""
    import zoneinfo

    known = zoneinfo.available_timezones()
    name = os.environ.get("TZ", "").lstrip(":")
    if name in known:
        return name
    target = os.path.realpath("/etc/localtime")
    name = target.partition("zoneinfo/")[2]
    return name if name in known else "UTC"


def scheduled(album: Path, cron: str | None, config: Path | None, overrides: dict, say: Warn = print,
              every: float | None = None):
    """The deployment that runs `dreamtrip run ALBUM` on `cron` (or every `every` seconds),
    not served yet. Every check that can fail on what the user wrote is made here, before any
    server starts."""
    settings = load_settings(config, overrides)
    check_image_formats(settings)
    album_folder(album)
    out = default_output_dir(album, settings.output.dir_path).resolve()
    check_folders(album, out, settings.output.store_path)
    check_blogs(settings, album.resolve(), out, say)
    check_output_folder(out)
    if every is not None and not every > 0:
        raise UsageError(f"--every {every:g}: give a number of seconds above 0")
    # Scheduled runs may start elsewhere: pin the output folder to an absolute path now.
    overrides = {**overrides, "output.dir": str(out)}
    deployment = build_deployment(album, cron, config, overrides, every)   # (the cron: check_cron, first)
    if not hosting.prefect_server_configured():
        hosting.check_prefect_home([own_server_folder()], "dreamtrip's Prefect folder", _OWN_NEEDS)
    return deployment


_OWN_NEEDS = ("`serve` keeps its schedule in a Prefect database there (XDG_DATA_HOME); free some room, "
              "or set PREFECT_API_URL to a running Prefect server")


def serve(deployment, say: Warn = print) -> int | None:
    """Start dreamtrip's own Prefect server where none is configured, register the deployment
    and run each scheduled run until stopped; the signal that stopped it (SIGTERM, or SIGINT for
    Ctrl-C), for the exit code 128 + its number. The own server stops with this process.

    Prefect's own Runner, as `prefect.serve` makes it (the schedule paused on shutdown), with
    its public SIGTERM handler noted on the way: Prefect stops gracefully (cancels the run in
    progress, pauses the schedule) and returns as if nothing happened, and `systemctl stop` or
    a CI must see that the service was stopped, not that it finished (exit 0).
    """
    # Until the runner puts its own handler in place, SIGTERM stops the command at once (143).
    signal.signal(signal.SIGTERM, _stop_now)
    try:
        url, where = where_the_schedule_lives(say)
        return _serve(deployment, url, where, say)
    finally:
        stop_own_server()


def where_the_schedule_lives(say: Warn) -> tuple[str | None, str]:
    """(The API URL to use, None: the configured one; where the schedule lives, in words)."""
    if hosting.prefect_server_configured():
        from prefect.settings import PREFECT_API_URL

        return None, f"the Prefect server at {PREFECT_API_URL.value() or os.environ.get('PREFECT_API_URL')}"
    folder = own_server_folder()
    say(f"Starting dreamtrip's Prefect server (its scheduler keeps the schedule; database in {folder})")
    url = start_own_server()
    return url, f"dreamtrip's Prefect server at {url.removesuffix('/api')} (stops with this command)"


def _serve(deployment, url: str | None, where: str, say: Warn) -> int | None:
    from prefect.exceptions import TerminationSignal
    from prefect.runner import Runner
    from prefect.settings import PREFECT_API_URL, temporary_settings

    class NotingRunner(Runner):
        stopped_by: int | None = None

        def handle_sigterm(self, *args, **kwargs) -> None:
            self.stopped_by = signal.SIGTERM
            super().handle_sigterm(*args, **kwargs)

    with temporary_settings(updates={PREFECT_API_URL: url} if url else {}):
        # prefetch 0: a run is started when due, not before, so that one due just after the run in
        # progress ends is not cancelled as busy (the deployment's concurrency limit) meanwhile.
        # limit 1: the Runner starts the earliest run due and no other while it is busy.
        runner = NotingRunner(pause_on_shutdown=True, query_seconds=poll_seconds(deployment), prefetch_seconds=0,
                              limit=1)
        deployment_id = runner.add_deployment(deployment)
        say(f"The schedule lives in {where}.")
        try:
            asyncio.run(_run_with_watch(runner, deployment, deployment_id, say))
        except KeyboardInterrupt:
            return signal.SIGINT
        except TerminationSignal as stop:
            return stop.signal
        except SystemExit:  # Prefect's handler when SIGTERM comes before the runner has started
            if runner.stopped_by is None:
                raise
    return runner.stopped_by


def poll_seconds(deployment) -> float:
    """How often the Runner asks for runs due: Prefect's 10 s, or more often for a short
    interval (`--every`)."""
    interval = getattr(deployment.schedules[0].schedule, "interval", None)
    return 10.0 if interval is None else max(1.0, min(10.0, interval.total_seconds() / 2))


async def _run_with_watch(runner, deployment, deployment_id, say: Warn) -> None:
    """The Runner, and beside it the watch on this deployment's runs (`watch_runs`): when the
    Runner returns (stopped), the watch ends too. First, the runs missed while serve was away
    are made one, and the next run is made now and said (the scheduler would make it within
    its loop, after a run due meanwhile)."""
    await end_the_orphans(deployment_id, Path(deployment.parameters["overrides"]["output.dir"]), say)
    await one_run_at_a_time(deployment_id, say)  # before the Runner's first look
    say(f"next run: {when_due(await scheduled_now(deployment_id) or await next_run(deployment))}")
    watch = asyncio.ensure_future(watch_runs(deployment_id, say))
    try:
        await runner.start()
    finally:
        watch.cancel()


async def watch_runs(deployment_id, say: Warn) -> None:
    """Say, in one line each, which runs the server skipped because the one before was busy;
    make one run of the runs missed together. Never stops serving: a failed look is tried again."""
    seen: set = set()
    told: set = set()
    started = datetime.datetime.now(datetime.timezone.utc)
    while True:
        await asyncio.sleep(WATCH_S)
        try:
            await one_run_at_a_time(deployment_id, say, told)
            await tell_skipped(deployment_id, seen, started, say)
        except Exception:  # the server busy or restarting: look again next time
            continue


async def end_the_orphans(deployment_id, out: Path, say: Warn) -> None:
    """Runs an earlier serve left unfinished (killed with -9, the machine lost power) stay
    running for Prefect and hold the deployment's one slot: every run would be skipped as busy.
    Where no run holds the output folder's lock, none of them is running: each is marked
    crashed (its finished dreams are kept, and the next run goes on from them)."""
    from prefect import get_client
    from prefect.states import Crashed

    from pipeline.output.lock import OutputBusy, output_lock

    async with get_client() as client:
        runs = await _runs(client, deployment_id, list(UNFINISHED))
        if not runs:
            return
        try:
            with output_lock(out, wait_s=0):  # free: no run is writing the post
                pass
        except OutputBusy:
            return
        for run in runs:
            await client.set_flow_run_state(run.id, Crashed(message=ORPHAN))
    say(f"{len(runs)} earlier run{'s' if len(runs) > 1 else ''} of this schedule "
        f"({', '.join(clock(run.expected_start_time) for run in runs)}) ended with a serve that was killed: "
        "marked crashed (finished dreams are kept)")


async def one_run_at_a_time(deployment_id, say: Warn, told: set | None = None) -> None:
    """One run at a time, and runs due together made once. While a run is busy, the earliest
    run due waits for it (the Runner starts one at a time) and the later ones are skipped;
    with none busy, of runs due together (the machine slept, serve was away) the earliest is
    made and the rest skipped. Each said in one line (`told`: the waiting runs said already).
    The Runner starts the earliest first, so it is the one kept even where it looked first."""
    from prefect import get_client
    from prefect.client.schemas.objects import StateType
    from prefect.states import Cancelled

    told = set() if told is None else told
    now = datetime.datetime.now(datetime.timezone.utc)
    async with get_client() as client:
        due = await _runs(client, deployment_id, [StateType.SCHEDULED], before=now)
        busy = due and await _runs(client, deployment_id, list(UNFINISHED), limit=1)
        if not busy and len(due) < 2:
            return
        waiting, skipped = due[:1], due[1:]
        busy = busy or due[0].id in told  # the one waiting for a busy run is about to start
        for run in skipped:
            await client.set_flow_run_state(run.id, Cancelled(message=STILL_BUSY if busy else MISSED))
    if not busy:
        say(f"{len(due)} runs were due at once ({clock(due[0].expected_start_time)} to "
            f"{clock(due[-1].expected_start_time)}: the machine slept, or serve was away): "
            f"making one, skipping {len(skipped)}")
        return
    for run in waiting:
        if run.id not in told:
            say(f"[{clock(run.expected_start_time)} run] waits: the run before is still busy")
            told.add(run.id)
    for run in skipped:
        say(f"[{clock(run.expected_start_time)} run] skipped: the run before is still busy")


async def _runs(client, deployment_id, states: list, before=None, after=None, limit: int | None = None) -> list:
    """The deployment's runs in these states, expected before/after these times, earliest first."""
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.sorting import FlowRunSort

    return await client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
        flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=states)),
                                      expected_start_time=FlowRunFilterExpectedStartTime(before_=before, after_=after)),
        sort=FlowRunSort.EXPECTED_START_TIME_ASC, limit=limit)


async def tell_skipped(deployment_id, seen: set, since: datetime.datetime, say: Warn) -> None:
    """Runs the server cancelled, since serve started, because the one before was still busy
    (the deployment's concurrency limit: another serve of the same album, say)."""
    from prefect import get_client
    from prefect.client.schemas.objects import StateType

    async with get_client() as client:
        cancelled = await _runs(client, deployment_id, [StateType.CANCELLED], after=since)
    for run in cancelled:
        if run.id not in seen and run.state is not None and run.state.message == BUSY:
            say(f"[{clock(run.expected_start_time)} run] skipped: the run before is still busy")
        seen.add(run.id)


async def scheduled_now(deployment_id) -> datetime.datetime | None:
    """Ask the server to make the deployment's next runs now (as its scheduler does in its
    loop); when the first of them is due, or None where the server did not say."""
    from prefect import get_client
    from prefect.client.schemas.objects import StateType

    now = datetime.datetime.now(datetime.timezone.utc)
    try:
        async with get_client() as client:
            made = await client.request("POST", "/deployments/{id}/schedule", path_params={"id": deployment_id},
                                        json={})
            made.raise_for_status()
            ahead = await _runs(client, deployment_id, [StateType.SCHEDULED], after=now, limit=1)
    except Exception:  # an older or busy server: the schedule says it instead (`next_run`)
        return None
    return ahead[0].expected_start_time if ahead else None


async def next_run(deployment) -> datetime.datetime | None:
    """When the schedule's next run is due, from now, by the schedule itself."""
    from prefect.server.schemas import schedules as server_schedules

    schedule = deployment.schedules[0].schedule
    kind = server_schedules.IntervalSchedule if hasattr(schedule, "interval") else server_schedules.CronSchedule
    dates = await kind.model_validate(schedule.model_dump()).get_dates(n=1)
    return dates[0] if dates else None


def when_due(when: datetime.datetime | None, now: datetime.datetime | None = None) -> str:
    """"today at 03:00", "tomorrow at 03:00", "on Mon 12 May at 03:00", in local time."""
    if when is None:
        return "none (the schedule has no date ahead)"
    local = when.astimezone()
    today = (now or datetime.datetime.now().astimezone()).date()
    day = {today: "today", today + datetime.timedelta(days=1): "tomorrow"}.get(
        local.date(), f"on {local.strftime('%a')} {local.day} {local.strftime('%b')}")
    return f"{day} at {clock(local)}"


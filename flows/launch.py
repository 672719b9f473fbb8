"""Starting a run: `run` and `retry` as the command line does them.

Each makes the run's plan once (flows/preflight.py), holding the output folder's lock, and
hands it to what runs: the quick rerun when there is nothing to dream (flows/rerun.py), else
the Prefect flow (flows/dream_album.py), on a temporary Prefect server tied to this process
(flows/hosting.py), stopped at once by Ctrl-C or SIGTERM (flows/stopping.py).
"""

from __future__ import annotations

import os
from pathlib import Path

from flows import budget, hosting, rerun
from flows.preflight import (
    Execution,
    RunPlan,
    Warn,
    check_album,
    check_blogs,
    check_image_formats,
    check_store_folder,
    look_before_run,
    make_plan,
)
from flows.stopping import stopping_at_once
from pipeline.config import load_settings
from pipeline.manifest import Manifest
from pipeline.output.folder import claim_output_folder
from pipeline.output.lock import output_lock
from pipeline.post.view import counted


def run(album: Path, config: Path | None, overrides: dict, how: Execution, warn: Warn, say: Warn = print,
        renew: bool = False, preview: bool = False) -> Manifest:
    """Check, lock OUT, plan, and dream `album`; its manifest. When there is nothing to dream
    and no Prefect server to report to, the post is written without Prefect; `say` tells the
    user which, and why. `preview`: the flow publishes the post with small dreams first."""
    settings = load_settings(config, overrides)
    out, scan, blogs = look_before_run(album, settings, warn)
    # The lock first, before torch and Prefect load (seconds): a second command stops at once.
    with stopping_at_once(), output_lock(out, how.lock_wait_s):
        say(f"Dreaming {counted(len(scan.files.photos), 'photo')} of {album} into {out}: "
            "checking what is done already")
        plan = make_plan(album, out, scan, settings, how, warn, blogs=blogs, renew=renew, preview=preview)
        why = why_the_flow(plan, how)
        if why is None:
            say("Nothing new to dream: writing the post (no need to start Prefect)")
            return rerun.write_quick_post(plan)
        plan = budget.fitted_and_timed(plan, say)  # issue 30: fit to the memory there is; say how long
        say(f"To do: {why}; starting Prefect")
        rerun.forget(plan.out_dir)
        manifest = run_flow(plan, how)
        if plan.spec is not None:
            rerun.remember(plan, manifest)
        return manifest


def why_the_flow(plan: RunPlan, how: Execution) -> str | None:
    """Why the flow must run (in words), or None: the quick rerun writes the post."""
    if how.dask:
        return "--dask runs it on the cluster"
    if plan.renew:
        return "--renew (earlier releases' dreams made again with this one)"
    if hosting.prefect_server_configured():
        return "every run is recorded by the Prefect server at PREFECT_API_URL"
    return rerun.why_not(plan)


def retry(album: Path, out: Path, manifest: Manifest, device: str | None, config: Path | None, how: Execution,
          warn: Warn, say: Warn = print) -> tuple[list, Manifest | None]:
    """Dream again what the run in OUT left unfinished (flows/upkeep.py `unfinished`), with the
    settings of the run that made the rest; the caller holds OUT's lock. (what was unfinished,
    the manifest after: None when nothing was)."""
    from flows.upkeep import retry_settings, unfinished

    # album.yaml checked as `run` checks it (a bad cover or guide), OUT claimed before anything
    # in it is hashed.
    settings = load_settings(None, retry_settings(manifest, out, device, load_settings(config) if config else None))
    check_image_formats(settings)
    scan, record = check_album(album, warn, settings.images.max_pixels), claim_output_folder(out)
    todo = unfinished(manifest, out)  # files checked by hash: a damaged one counts as missing
    if not todo:
        return todo, None
    say(f"Retrying {len(todo)}:")
    for item in todo:
        say(f"  {item}: {item.reason}")
    check_store_folder(settings.output.store_path)
    plan = make_plan(album, out, scan, settings, how, warn, earlier=manifest, record=record,
                     blogs=check_blogs(settings, Path(album).resolve(), Path(out).resolve(), warn),
                     only_photos=tuple(photo.source for photo in manifest.photos),
                     hidden_places=frozenset(photo.source for photo in manifest.photos if photo.place_hidden))
    return todo, run_flow(plan, how)


def run_flow(plan: RunPlan, how: Execution) -> Manifest:
    """Run the flow on the plan (on Dask if asked) and return its manifest. The caller holds
    OUT's lock and has made Ctrl-C and SIGTERM stop the command (`stopping_at_once`)."""
    hosting.quiet_logs(how.verbose)  # before Prefect's settings load (check_prefect_home reads them)
    hosting.check_prefect_home()
    from prefect.utilities.annotations import quote

    from flows.dream_album import dream_album  # Prefect loads only for a real run

    hosting.route_prefect_logs(how.verbose)
    flow_fn = dream_album
    if how.dask:
        from flows.scale import dask_task_runner

        address = None if how.dask == "local" else how.dask
        flow_fn = dream_album.with_options(task_runner=dask_task_runner(address, how.dask_workers))
        # A stopped run leaves the local cluster's semaphores to multiprocessing's tracker, which
        # frees them and would add a warning after the run's last line.
        os.environ.setdefault("PYTHONWARNINGS", "ignore:resource_tracker:UserWarning")
    with hosting.slow_server_explained():
        hosting.start_prefect_server(hosting.log_file_path())
        # quote: Prefect takes the plan as it is, without walking into it
        return hosting.in_a_thread_of_its_own(flow_fn, quote(plan))

"""Dream loops in the flow (album.yaml `loop:`): a loop task per photo that asks for one, once
the run's dreams are made (a loop starts from its photo's finished dream on the loop's layer);
the frames are made in the device's slot as dreams are (flows/turns.py: Slots), encoded and
written after it (pipeline/dream/loop.py).

A loop is looked up in the store before its task is submitted, as a dream is: a rerun submits
none for a stored loop, and makes no frame of it again.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.progress import ProgressBar, note
from flows.scale import dream_resources, requiring, worker_device
from flows.turns import Slots, retry_if_transient
from pipeline.dream.loop import closed_loop, save_loop, start_frame
from pipeline.manifest import DreamEntry, LoopEntry, PhotoEntry, Skipped, label
from pipeline.output.files import DiskFull
from pipeline.post.view import counted

if TYPE_CHECKING:
    from flows.dream_album import DreamJob


def make_loops(photos: list[PhotoEntry], loop_of: dict[str, str], dreams: dict[str, list[DreamEntry]],
               job: DreamJob) -> dict[str, LoopEntry]:
    """Each photo's dream loop (`loop_of`: the layer of each photo that has one), by photo: a
    stored one as it is, the others made, each from the photo's finished dream on its layer (a
    photo whose dream failed has no loop). A failed loop becomes a failed entry; a full disk
    stops the run."""
    found, to_make = {}, []
    for photo in (p for p in photos if p.ok and p.source in loop_of):
        dream = next((d for d in dreams.get(photo.source, []) if d.layer == loop_of[photo.source] and d.ok
                      and d.image is not None and not d.preview), None)
        if dream is None:   # its failure is listed: say why there is no loop, once
            note(f"Loops: none of {label(photo.source, loop_of[photo.source])}: its dream on that layer failed")
            continue
        stored = job.loops.stored(job.stores_for(photo), photo, dream)
        if stored is not None:
            found[photo.source] = stored
        else:
            to_make.append((photo, dream))
    if not to_make:
        return found
    loop = job.settings.loop
    note(f"Loops: making {counted(len(to_make), 'loop')} of {loop.frames} frames, at most {loop.size} px")
    loop_task = dream_loop.with_options(retries=job.settings.tasks.retries,
                                        retry_delay_seconds=job.settings.tasks.retry_delay_seconds)
    submitted = []
    for photo, dream in to_make:
        with requiring(dream_resources()):
            submitted.append((photo.source, dream.layer, loop_task.submit(photo, dream, job),
                              job.expected_loop_seconds(dream)))
    bar = ProgressBar(len(to_make), "loops", "loops", expected_s=sum(s for *_rest, s in submitted))
    try:
        for source, layer, future, expected_s in submitted:
            outcome = future.result(raise_on_failure=False)
            if isinstance(outcome, DiskFull):
                raise outcome
            if isinstance(outcome, BaseException):
                get_run_logger().warning("loop failed: %s %s: %s", source, layer, outcome)
                outcome = LoopEntry(layer=layer, status="failed", error=f"{type(outcome).__name__}: {outcome}")
            found[source] = outcome
            bar.advance(expected_s=expected_s)
    finally:
        bar.close()
    return found


def unmade_for_copies(duplicates: list[Skipped], loop_for) -> list[str]:
    """A line for each photo album.yaml asks a loop of that the run set aside as a copy of
    another (shown once, as that one) which asks none: its `loop:` would vanish unsaid."""
    return [f"Loops: none of {entry.source}: it is a copy of {entry.duplicate_of}, shown once as that photo; "
            f"put its `loop:` on {entry.duplicate_of}" for entry in duplicates
            if entry.duplicate_of and loop_for(entry.source) and not loop_for(entry.duplicate_of)]


@task(name="loop", cache_policy=NO_CACHE, retry_condition_fn=retry_if_transient,
      task_run_name="loop {photo.source} {dream.layer}")
def dream_loop(photo: PhotoEntry, dream: DreamEntry, job: DreamJob) -> LoopEntry:
    """Make the photo's dream loop, from its stored `dream` on the loop's layer: its frames
    dreamed in the device's slot, encoded and written after it (pipeline/dream/loop.py)."""
    loops, stores = job.loops, job.stores_for(photo)
    if done := loops.stored(stores, photo, dream):  # another run may have made it
        return done
    device = worker_device(job.spec.device)
    slots = Slots.of(device, job.settings.tasks.dreams_at_once)
    with slots.prepared:
        start = start_frame(stores, dream, loops.size(dream))
        with slots.device:
            frames, seconds = loop_on_device(start, dream.layer, job, device)
        settings = job.settings.loop
        save_loop(closed_loop(frames, settings.frames, settings.fade), loops.files(photo, dream), stores[0], settings)
    return loops.entry(photo, dream, seconds)


def loop_on_device(start, layer: str, job: DreamJob, device: str):
    """A loop's frames as made (closed_loop closes them), and the engine's seconds."""
    from pipeline.dream.engine import load_dreamer
    from pipeline.dream.loop import dream_frames

    engine = job.settings.engine
    dreamer = load_dreamer(job.weights, job.settings.weights.cache_path, job.deepest_layer, device,
                           job.spec.size_step, engine.memory_mb, engine.graphs_on(device))
    started = time.perf_counter()
    frames = dream_frames(dreamer, start, layer, job.loops.params, job.settings.loop)
    return frames, round(time.perf_counter() - started, 3)

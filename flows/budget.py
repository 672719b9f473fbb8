"""Before a run dreams: fit it to this machine's memory, and say how long it will take.

`run` calls `fitted_and_timed` once, with the plan made, before Prefect starts:
- how many dreams run at once and how much memory each takes (tasks.dreams_at_once,
  engine.memory_mb) are lowered where the memory available (pipeline/dream/memory.py) would not
  hold them; when not even one dream fits, one line says so (exit 2) before any work;
- one line says how many dreams are to do and how long they will take here
  ("36 dreams to do, estimated 41 min on this CPU"), from the cost model and this machine's
  calibration (pipeline/dream/cost.py, kept in the state folder); with --preview, also when the
  first page will be ready.

What is done already is counted from the earlier manifest (a dream of that photo and layer at
this dream size, not a preview) without hashing a photo: the flow checks each one, so the count
is an estimate, as the time is.
"""

from __future__ import annotations

from pathlib import Path

from flows.preflight import RunPlan, UsageError, Warn
from pipeline.dream import memory
from pipeline.imaging import PhotoError, fitted_size, open_photo
from pipeline.layers import deepest
from pipeline.output.kept import state_dir
from pipeline.post.view import counted

DEVICE_WORDS = {"cpu": "on this CPU", "cuda": "on this GPU", "mps": "on this Apple GPU"}


def fitted_and_timed(plan: RunPlan, say: Warn) -> RunPlan:
    """The plan with its settings fitted to the memory there is (said when lowered), after
    saying how long its dreams will take. On Dask (no spec here: a worker decides it) as it is."""
    memory.return_freed_memory()  # before the run's threads start (see there)
    spec = plan.spec
    if spec is None:
        return plan
    dreams, loops = dreams_to_do(plan), loops_to_do(plan)
    plan = fitted_to_memory(plan, dreams, say)
    if dreams or loops:
        from pipeline.dream import cost

        calibration = cost.calibration_for(spec.device, spec.precision, state_dir())
        say(estimate_line(plan, dreams, calibration, loops))
        plan = plan.model_copy(update={"calibration": calibration})
    return plan


def fitted_to_memory(plan: RunPlan, dreams: list[tuple[tuple[int, int], str]], say: Warn) -> RunPlan:
    settings, spec = plan.settings, plan.spec
    long_side = max((max(size) for size, _layer in dreams), default=0)
    layers = [layer for _size, layer in dreams] or ["conv1_1"]
    value_bytes = 4 if spec.precision == "fp32" else 2
    need = memory.dream_need_mb(long_side, memory.pass_bytes_per_pixel(deepest(layers).name, value_bytes),
                                memory.CPU_SAFETY) if spec.device == "cpu" else 0
    try:
        fit = memory.fit_to_memory(settings.tasks.dreams_at_once, settings.engine.memory_mb, need,
                                   memory.available_mb())
    except memory.TooLittleMemory as err:
        raise UsageError(str(err)) from None
    if fit.note:
        say(fit.note)
    if (fit.dreams_at_once, fit.memory_mb) == (settings.tasks.dreams_at_once, settings.engine.memory_mb):
        return plan
    fitted = settings.model_copy(update={
        "tasks": settings.tasks.model_copy(update={"dreams_at_once": fit.dreams_at_once}),
        "engine": settings.engine.model_copy(update={"memory_mb": fit.memory_mb})})
    return plan.model_copy(update={"settings": fitted})


def dreams_to_do(plan: RunPlan) -> list[tuple[tuple[int, int], str]]:
    """((width, height) dreamed at, layer) of every dream the run is to make, as far as the
    earlier manifest tells without hashing (see the module's doc)."""
    spec, earlier = plan.spec, plan.earlier
    known = {photo.source: photo for photo in (earlier.photos if earlier else []) if photo.ok}
    same_size = earlier is not None and earlier.dream_size == spec.dream_size and not plan.renew
    dreams = []
    for source in plan.photos:
        photo = known.get(source)
        size = (photo.width, photo.height) if photo and photo.width else header_size(plan.album_dir / source)
        if size is None:
            continue  # not a photo it can open: the run lists it as failed, nothing to dream
        done = {d.layer for d in photo.dreams if d.ok and not d.preview} if photo and same_size else set()
        at = fitted_size(size, spec.dream_size or max(size))
        dreams += [(at, layer) for layer in plan.layers_for(source) if layer not in done]
    return dreams


def loops_to_do(plan: RunPlan) -> list[tuple[tuple[int, int], str]]:
    """((width, height), layer) of every dream loop the run is to make (album.yaml `loop:`): all
    but those the earlier manifest has, ok, of the same layer and loop settings."""
    from pipeline.dream.loop import loop_size

    spec, earlier, settings = plan.spec, plan.earlier, plan.settings.loop
    same = earlier is not None and earlier.settings.loop == settings and not plan.renew
    known = {photo.source: photo for photo in (earlier.photos if same else []) if photo.ok}
    loops = []
    for source in plan.photos:
        layer, photo = plan.loop_for(source), known.get(source)
        if layer is None or (photo and photo.loop and photo.loop.ok and photo.loop.layer == layer):
            continue
        size = (photo.width, photo.height) if photo and photo.width else header_size(plan.album_dir / source)
        if size is not None:
            loops.append((loop_size(fitted_size(size, spec.dream_size or max(size)), settings.size), layer))
    return loops


def header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the photo's header (no pixel decoded), or None."""
    try:
        with open_photo(path) as image:
            return image.size
    except (PhotoError, OSError):
        return None


def estimate_line(plan: RunPlan, dreams: list[tuple[tuple[int, int], str]], calibration,
                  loops: list[tuple[tuple[int, int], str]] = ()) -> str:
    """'36 dreams to do, estimated 41 min on this CPU' (with --preview: and when the first
    page is ready), at `calibration`'s speed (cost.Calibration)."""
    from pipeline.dream import cost

    spec = plan.spec
    params = spec.engine_params
    photos = len(plan.photos)
    full = cost.run_seconds(dreams, params, calibration, photos)
    full += sum(cost.loop_seconds(size, layer, params, plan.settings.loop, calibration) for size, layer in loops)
    small = spec.previewing(plan.settings.images.preview_size) if plan.preview else None
    first = None
    if small is not None:
        first = cost.run_seconds([(fitted_size(size, small.preview_size), layer) for size, layer in dreams],
                                 params, calibration, photos)
        full += first - cost.START_S
    where = DEVICE_WORDS.get(spec.device, f"on {spec.device}")
    work = " and ".join(counted(len(things), noun) for things, noun in ((dreams, "dream"), (loops, "loop")) if things)
    line = f"{work} to do, estimated {cost.in_words(full)} {where}"
    if first is not None:
        line += f" (the first page, with previews, in {cost.in_words(first)})"
    return line

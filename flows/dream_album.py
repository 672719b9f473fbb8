"""The Prefect flow: settings -> lock -> ingest -> dream -> write the post.

Only orchestration lives here: the output folder's lock, fan-out, retries, who may use the
device when, progress and artifacts. Each task is a thin wrapper over plain functions in pipeline/.

Never dreaming twice rests on the store (pipeline/store.py), not on Prefect's result cache: a
dream's files are named by the key of its recipe and written atomically, so a file under that
name is a finished dream. The flow looks each dream up before it submits a task for it, so a
rerun with nothing new submits no dream tasks at all.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed

from flows.progress import DreamProgress
from flows.scale import dream_resources, requiring, running_on_dask, worker_device
from pipeline.ingest.album import find_photos, load_album_text
from pipeline.config import Settings, load_settings
from pipeline.dream.engine import engine_recipe, load_dreamer
from pipeline.dream.spec import DreamSpec, dream_input, resolve_dream_size, save_dream
from pipeline.files import slug
from pipeline.imaging import PhotoError
from pipeline.ingest.photos import ingest_photos, set_aside_duplicates
from pipeline.layers import depth
from pipeline.lock import output_lock
from pipeline.manifest import DreamEntry, Manifest, PhotoEntry, RunInfo, WeightsInfo, now, write_manifest
from pipeline.post.page import write_page
from pipeline.store import DreamStore, default_output_dir, stale_temp_files
from pipeline.dream.weights import WeightsChoice, choose_weights

# A shared store's temp files may belong to another album's run that is writing right now.
_SHARED_TEMP_AGE_S = 24 * 3600


@dataclass(frozen=True)
class DreamJob:
    """What every dream task of a run shares (pickled as it is to Dask workers)."""

    album_dir: Path
    store: DreamStore
    spec: DreamSpec
    settings: Settings
    weights: WeightsChoice
    deepest_layer: str

    def stored(self, photo: PhotoEntry, layer: str) -> DreamEntry | None:
        return self.spec.stored(self.store, photo, layer)


# ---- retries: only for failures that can pass (GPU memory, a lost worker), not for bad photos ----

_TRANSIENT = (MemoryError, ConnectionError, TimeoutError)


def is_transient(error: BaseException) -> bool:
    if isinstance(error, (PhotoError, ValueError, FileNotFoundError)):
        return False
    return isinstance(error, _TRANSIENT) or "out of memory" in str(error).lower()


def retry_if_transient(task, task_run, state) -> bool:
    try:
        state.result()
    except Exception as error:  # the task's own exception, re-raised by the failed state
        return is_transient(error)
    return False


# ---- who may use the device when ----

class Slots:
    """Per process and device: `device` admits `dreams_at_once` dreams at a time (more would only
    fight for the same cores or GPU); `prepared` admits that many more photos decoded and waiting
    for it, or being encoded after it, so the CPU work overlaps the device's and queued tasks hold
    no decoded photo."""

    _registry: dict[tuple[str, int], "Slots"] = {}
    _registry_lock = threading.Lock()

    def __init__(self, size: int):
        self.device = threading.BoundedSemaphore(size)
        self.prepared = threading.BoundedSemaphore(size + 2)  # one decoding, one encoding

    @classmethod
    def of(cls, device: str, size: int) -> "Slots":
        # Keyed by size too: a later run in this process (`serve`) may set another dreams_at_once.
        with cls._registry_lock:
            return cls._registry.setdefault((device, size), cls(size))


# ---- tasks ----

@task(name="ingest", cache_policy=NO_CACHE)
def ingest(album_dir: Path, sources: list[str], out_dir: Path, settings: Settings) -> list[PhotoEntry]:
    # One task for the whole album, photos in parallel threads inside it: a Prefect task per
    # photo was slower and took 400 MB more memory (BENCHMARKS.md, "Ingest").
    images = settings.images
    return ingest_photos(album_dir, sources, out_dir, images.web_sizes, images.web_formats(), images.max_pixels)


@task(name="dream", cache_policy=NO_CACHE, retry_condition_fn=retry_if_transient,
      task_run_name="dream {photo.source} {layers}")
def dream(photo: PhotoEntry, layers: tuple[str, ...], job: DreamJob) -> list[DreamEntry]:
    """Dream one photo on `layers` (one layer per task, or a batch: engine.batch_layers).

    Decoding before the device's turn and encoding after it run outside the device slot, so
    they overlap the next dream.
    """
    done = {layer: job.stored(photo, layer) for layer in layers}  # another run may have made some
    todo = [layer for layer in layers if done[layer] is None]
    if not todo:
        return list(done.values())
    device = worker_device(job.settings.device)
    slots = Slots.of(device, job.settings.tasks.dreams_at_once)
    with slots.prepared:
        image = dream_input(job.album_dir, photo, job.spec, job.settings.images.max_pixels)
        with slots.device:
            dreams, seconds = dream_on_device(photo, image, todo, job, device)
        for layer, dreamed in zip(todo, dreams):
            save_dream(dreamed, job.spec.files(photo, layer), job.store, job.spec.formats)
    made = {layer: job.spec.entry(photo, layer, seconds) for layer in todo}
    return [done[layer] or made[layer] for layer in layers]


def dream_on_device(photo: PhotoEntry, image, layers: list[str], job: DreamJob, device: str):
    """The photo's dreams on `layers`, and the engine's seconds per layer (a batch shares its time)."""
    dreamer = load_dreamer(job.weights, job.settings.weights.cache_path, job.deepest_layer, device,
                           job.settings.engine.memory_mb, job.settings.engine.graphs_on(device))
    started = time.perf_counter()
    dreams = dreamer.dream(image, list(layers), job.spec.params, batch=job.settings.engine.batching)
    return dreams, round((time.perf_counter() - started) / len(layers), 3)


@task(name="write post", cache_policy=NO_CACHE)
def write_post(manifest: Manifest, out_dir: Path) -> Path:
    write_manifest(manifest, out_dir)
    return write_page(manifest, out_dir)


# ---- the flow ----

@flow(name="dream-album")
def dream_album(album: str, config: str | None = None, overrides: dict | None = None,
                only_photos: list[str] | None = None, lock_wait_s: float | None = 0.0) -> Manifest:
    """Dream every photo of `album` on its layers and write index.html, post.md, manifest.json.

    `config` is a YAML file over the default settings; `overrides` are dotted settings
    (e.g. {"layers": ["conv5_2"], "output.dir": "out/x"}) that win over both.
    `only_photos` limits the run to those photos of the album (`dreamtrip retry`).
    `lock_wait_s` is how long to wait while another run writes the same output folder
    (0: stop at once with OutputBusy; None: as long as it takes). Returns the manifest.
    """
    settings = load_settings(Path(config) if config else None, overrides)
    album_dir = Path(album).resolve()
    out_dir = default_output_dir(album_dir, settings.output.dir_path).resolve()

    with output_lock(out_dir, lock_wait_s):
        remove_leftovers(out_dir, settings)
        text, files = load_album_text(album_dir), find_photos(album_dir)
        sources = [s for s in files.photos if only_photos is None or s in set(only_photos)]
        photos, duplicates = set_aside_duplicates(ingest(album_dir, sources, out_dir, settings))

        layers_of = {p.source: text.layers_for(p.source, settings.layers) for p in photos if p.ok}
        device = dreaming_device(settings)
        job = dream_job(settings, album_dir, out_dir, layers_of, device)
        dreams, run = dream_photos(photos, layers_of, job)

        manifest = Manifest(
            created=now(), album=text.info(album_dir.name),
            weights=WeightsInfo(**job.weights.as_dict()),
            device=f"{device} on Dask workers" if running_on_dask() else device,
            dream_size=job.spec.dream_size, precision=job.spec.precision, settings=settings,
            photos=[text.described(photo, dreams.get(photo.source, [])) for photo in photos],
            skipped=files.skipped + duplicates, unmatched=text.unmatched(files.photos), run=run)
        manifest.page = str(write_post(manifest, out_dir))
    publish_table(album_dir.name, manifest)
    return manifest


def remove_leftovers(out_dir: Path, settings: Settings) -> None:
    """Temp files of a killed run: never trusted (they have no final name), but clutter."""
    leftovers = stale_temp_files(out_dir)  # we hold the lock: no one else writes here
    if settings.output.store_path is not None:
        leftovers += stale_temp_files(settings.output.store_path, older_than_s=_SHARED_TEMP_AGE_S)
    for path in leftovers:
        path.unlink(missing_ok=True)
    if leftovers:
        get_run_logger().info("Removed %d temporary files left by an interrupted run", len(leftovers))


def dream_job(settings: Settings, album_dir: Path, out_dir: Path,
              layers_of: dict[str, tuple[str, ...]], device: str) -> DreamJob:
    weights = choose_weights(settings.weights.source)
    get_run_logger().info("Weights: %s (%s)", weights.description, weights.reason)
    device_type = device.split(":")[0]
    spec = DreamSpec(params=settings.dream.params(),
                     dream_size=resolve_dream_size(settings.images.dream_size, device_type),
                     weights=weights.identity, web_sizes=tuple(settings.images.web_sizes),
                     formats=settings.images.web_formats(),
                     **engine_recipe(settings.dream.precision, device_type))
    deepest = max((layer for layers in layers_of.values() for layer in layers), key=depth, default="conv1_1")
    return DreamJob(album_dir, DreamStore(out_dir, settings.output.store_path), spec, settings, weights, deepest)


def dreaming_device(settings: Settings) -> str:
    """Where the dreams run: this machine's device, or the Dask workers' kind."""
    if running_on_dask():  # the workers dream, not this machine: do they have GPUs?
        return "cuda" if settings.device != "cpu" and dream_resources() else settings.device
    return worker_device(settings.device)


def dream_photos(photos: list[PhotoEntry], layers_of: dict[str, tuple[str, ...]],
                 job: DreamJob) -> tuple[dict[str, list[DreamEntry]], RunInfo]:
    """Dream every (photo, layer) of `layers_of` not stored yet; the dreams by photo, and what
    this run did."""
    progress = DreamProgress(total=sum(len(layers) for layers in layers_of.values()),
                             artifact_key=f"{artifact_key(job.album_dir.name)}-progress")
    dream_task = dream.with_options(retries=job.settings.tasks.retries,
                                    retry_delay_seconds=job.settings.tasks.retry_delay_seconds)
    started, resources = time.perf_counter(), dream_resources()
    results, running = {}, {}
    for photo in (p for p in photos if p.ok):
        for layer in layers_of[photo.source]:
            results[photo.source, layer] = job.stored(photo, layer)  # an earlier run's, or None
            if results[photo.source, layer]:
                progress.advance(reused=True)
        todo = tuple(layer for layer in layers_of[photo.source] if not results[photo.source, layer])
        for group in ([todo] if job.settings.engine.batching and todo else [(layer,) for layer in todo]):
            with requiring(resources):
                running[dream_task.submit(photo, group, job)] = (photo.source, group)
    for (source, layers), entries in collect(running, progress):
        results.update({(source, entry.layer): entry for entry in entries})
    progress.close()
    dreamed = [entry for entry in results.values() if not entry.reused]
    run = RunInfo(dreamed=sum(entry.ok for entry in dreamed), reused=len(results) - len(dreamed),
                  dream_seconds=round(time.perf_counter() - started, 2) if running else None)
    by_photo: dict[str, list[DreamEntry]] = {}
    for (source, _layer), entry in results.items():
        by_photo.setdefault(source, []).append(entry)
    return by_photo, run


def collect(futures: dict, progress: DreamProgress):
    """Each dream task's entries as it finishes; a failed task becomes failed entries."""
    for future in as_completed(list(futures)):
        source, layers = futures[future]
        outcome = future.result(raise_on_failure=False)
        if isinstance(outcome, BaseException):
            get_run_logger().warning("dream failed: %s %s: %s", source, ", ".join(layers), outcome)
            outcome = [DreamEntry(layer=layer, status="failed", error=f"{type(outcome).__name__}: {outcome}")
                       for layer in layers]
        for entry in outcome:
            progress.advance(reused=entry.reused)
        yield (source, layers), outcome


def publish_table(album_name: str, manifest: Manifest) -> None:
    """The run at a glance in Prefect's UI: one row per (photo, layer), failed photos too."""
    rows = [{"photo": p.source, "layer": "-", "status": p.status, "seconds": None, "note": p.error}
            for p in manifest.photos if not p.ok]
    rows += [{"photo": p.source, "layer": d.layer, "status": d.status, "seconds": d.seconds,
              "note": "reused" if d.reused else d.error} for p in manifest.photos for d in p.dreams]
    create_table_artifact(rows, key=f"{artifact_key(album_name)}-dreams",
                          description=f"Dreams of {album_name}: status and seconds per photo and layer")


def artifact_key(album_name: str) -> str:
    # Artifact keys allow lowercase letters, digits and dashes only.
    return "dreamtrip-" + slug(album_name, fallback="album")

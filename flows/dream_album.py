"""The Prefect flow: ingest every photo, dream each (photo, layer) not dreamed before, write the post.

Only orchestration lives here: the output folder's lock, fan-out, retries, concurrency on the
device, progress and artifacts. Each task is a thin wrapper over a plain function in pipeline/.

Never dreaming twice rests on the store (pipeline/store.py), not on Prefect's result cache: a
dream's file is named by a key of everything that changes its pixels and is written atomically,
so a file under that name is a finished dream, whatever happened to the run, the process or
Prefect's database since. The flow looks a dream up before it submits a task for it, so a rerun
with nothing new submits no dream tasks at all.
"""

from __future__ import annotations

import re
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
from pipeline.album import find_photos, load_album_text
from pipeline.config import Settings, load_settings
from pipeline.dream import dream_to_files, load_dreamer
from pipeline.imaging import PhotoError, image_size, open_upright_rgb
from pipeline.ingest import Photo, ingest_photos, set_aside_duplicates
from pipeline.layers import depth
from pipeline.lock import output_lock
from pipeline.manifest import DreamResult, build_manifest, write_manifest
from pipeline.page import write_page
from pipeline.params import DreamParams
from pipeline.store import DreamStore, default_output_dir, dream_file, dream_key, full_size_file, stale_temp_files
from pipeline.weights import WeightsChoice, choose_weights

# A shared store's temp files may belong to another album's run that is writing right now.
_SHARED_TEMP_AGE_S = 24 * 3600


@dataclass(frozen=True)
class DreamJob:
    """What every dream task of a run shares (pickled as it is to Dask workers)."""

    album_dir: Path
    out_dir: Path
    store: DreamStore
    weights: WeightsChoice
    weights_cache_dir: Path
    deepest_layer: str
    device: str            # the setting (auto | cpu | cuda), resolved where the dream runs
    dreams_at_once: int
    params: DreamParams
    working_size: int
    jpeg_quality: int
    batch_layers: bool     # dream a photo's layers as one batch
    full_resolution: bool  # also write each dream at the photo's camera resolution
    memory_mb: int
    max_pixels: int        # the photo size limit, for opening the original at full size

    def dream_file(self, photo: Photo, layer: str) -> str:
        key = dream_key(photo.sha256, layer, self.params, self.working_size, self.jpeg_quality,
                        self.weights.identity)
        return dream_file(photo.sha256, layer, key)

    def files_of(self, photo: Photo, layer: str) -> list[str]:
        """The dream's files: the working-size one the page shows, then the full-size one."""
        relative = self.dream_file(photo, layer)
        return [relative, full_size_file(relative)] if self.full_resolution else [relative]

    def stored(self, photo: Photo, layer: str) -> bool:
        return all(self.store.fetch(relative) for relative in self.files_of(photo, layer))


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


# ---- one dream at a time per device (configurable): more would only fight for the same cores/GPU ----

_device_slots: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()


def device_slot(device: str, size: int) -> threading.BoundedSemaphore:
    # Keyed by size too: a later run in this process (`serve`) may set another dreams_at_once.
    with _slots_lock:
        return _device_slots.setdefault((device, size), threading.BoundedSemaphore(size))


# ---- tasks ----

@task(name="ingest", cache_policy=NO_CACHE)
def ingest(album_dir: Path, sources: list[str], out_dir: Path, settings: Settings) -> list[Photo]:
    # One task for the whole album, photos in parallel threads inside it: a Prefect task per
    # photo was slower and took 400 MB more memory (BENCHMARKS.md, "Ingest").
    return ingest_photos(album_dir, sources, out_dir, settings.working_size, settings.web_sizes,
                         settings.jpeg_quality, settings.max_pixels)


@task(name="dream", cache_policy=NO_CACHE, retry_condition_fn=retry_if_transient,
      task_run_name="dream {photo.source} {layers}")
def dream(photo: Photo, layers: tuple[str, ...], job: DreamJob) -> list[DreamResult]:
    """Dream one photo on `layers`: one layer per task on the CPU, all of a photo's new layers
    as one batch where that is faster (a GPU; see engine.batch_layers)."""
    todo = [layer for layer in layers if not job.stored(photo, layer)]  # another run may have
    done = [stored_dream(photo, layer, job) for layer in layers if layer not in todo]
    if not todo:
        return done
    files = [job.files_of(photo, layer) for layer in todo]
    device = worker_device(job.device)
    with device_slot(device, job.dreams_at_once):  # queued tasks hold no decoded photo
        full = (open_upright_rgb(job.album_dir / photo.source, photo.exif.orientation, job.max_pixels)
                if job.full_resolution else None)
        dreamer = load_dreamer(job.weights, job.weights_cache_dir, job.deepest_layer, device,
                               job.memory_mb)
        started = time.perf_counter()
        sizes = dream_to_files(dreamer, job.out_dir / photo.working, todo,
                               [job.store.target(f[0]) for f in files], job.params, job.jpeg_quality,
                               full, [job.store.target(f[1]) for f in files] if full else None,
                               batch=job.batch_layers)
    seconds = round((time.perf_counter() - started) / len(todo), 2)  # a batch shares its time
    for relative in (path for pair in files for path in pair):
        job.store.publish(relative)
    return done + [DreamResult(photo.source, layer, "ok", None, f[0], seconds, width, height,
                               full_path=f[1] if len(f) > 1 else None)
                   for layer, f, (width, height) in zip(todo, files, sizes)]


def stored_dream(photo: Photo, layer: str, job: DreamJob) -> DreamResult:
    files = job.files_of(photo, layer)
    width, height = image_size(job.out_dir / files[0])
    return DreamResult(photo.source, layer, "ok", path=files[0], width=width, height=height,
                       full_path=files[1] if len(files) > 1 else None, reused=True)


@task(name="write post", cache_policy=NO_CACHE)
def write_post(manifest: dict, out_dir: Path) -> Path:
    write_manifest(manifest, out_dir)
    return write_page(manifest, out_dir)


# ---- the flow ----

@flow(name="dream-album")
def dream_album(album: str, config: str | None = None, overrides: dict | None = None,
                only_photos: list[str] | None = None, lock_wait_s: float | None = 0.0) -> dict:
    """Dream every photo of `album` on its layers and write index.html, post.md, manifest.json.

    `config` is a YAML file over config/default.yaml; `overrides` are dotted settings
    (e.g. {"layers": ["conv5_2"], "output.dir": "out/x"}) that win over both.
    `only_photos` limits the run to those photos of the album (`dreamtrip retry`).
    `lock_wait_s` is how long to wait while another run writes the same output folder
    (0: stop at once with OutputBusy; None: as long as it takes). Returns the manifest.
    """
    logger = get_run_logger()
    settings = load_settings(Path(config) if config else None, overrides)
    album_dir = Path(album).resolve()
    out_dir = default_output_dir(album_dir, settings.output_dir).resolve()

    with output_lock(out_dir, lock_wait_s):
        _remove_leftovers(out_dir, settings.store_dir, logger)
        text = load_album_text(album_dir)
        files = find_photos(album_dir)
        wanted = None if only_photos is None else set(only_photos)
        sources = [s for s in files.photos if wanted is None or s in wanted]
        layers_of = {s: (text.photos[s].layers if s in text.photos and text.photos[s].layers
                         else settings.layers) for s in sources}
        job = _dream_job(settings, album_dir, out_dir, layers_of, logger)

        photos, duplicates, dreams = _ingest_and_dream(album_dir, sources, layers_of, settings, job, logger)

        device = f"{settings.device} on Dask workers" if running_on_dask() else worker_device(settings.device)
        manifest = build_manifest(album_dir.name, text, photos, dreams, files.skipped + duplicates,
                                  job.weights.as_dict(), device, settings.raw)
        manifest["run"] = {"dreamed": sum(d.status == "ok" and not d.reused for d in dreams),
                           "reused": sum(d.reused for d in dreams)}
        manifest["page"] = str(write_post(manifest, out_dir))
    _publish_table(album_dir.name, photos, dreams)
    return manifest


def _remove_leftovers(out_dir: Path, store_dir: Path | None, logger) -> None:
    """Temp files of a killed run: never trusted (they have no final name), but clutter."""
    leftovers = stale_temp_files(out_dir)  # we hold the lock: no one else writes here
    if store_dir is not None:
        leftovers += stale_temp_files(store_dir.resolve(), older_than_s=_SHARED_TEMP_AGE_S)
    for path in leftovers:
        path.unlink(missing_ok=True)
    if leftovers:
        logger.info("Removed %d temporary files left by an interrupted run", len(leftovers))


def _dream_job(settings: Settings, album_dir: Path, out_dir: Path, layers_of: dict, logger) -> DreamJob:
    weights = choose_weights(settings.weights_source)
    logger.info("Weights: %s (%s)", weights.description, weights.reason)
    store = DreamStore(out_dir, settings.store_dir.resolve() if settings.store_dir else None)
    deepest = max((layer for ls in layers_of.values() for layer in ls), key=depth, default="conv1_1")
    return DreamJob(album_dir, out_dir, store, weights, settings.weights_cache_dir, deepest,
                    settings.device, settings.dreams_at_once, settings.dream, settings.working_size,
                    settings.jpeg_quality, _batching(settings), settings.full_resolution,
                    settings.memory_mb, settings.max_pixels)


def _batching(settings: Settings) -> bool:
    """Batching layers pays on a GPU (more work per kernel launch); on a CPU it only delays the
    first finished dream (bench/dream_bench.py measures both)."""
    if settings.batch_layers != "auto":
        return settings.batch_layers == "yes"
    if running_on_dask():  # the workers dream, not this machine: do they have GPUs?
        return settings.device != "cpu" and dream_resources() is not None
    return worker_device(settings.device) == "cuda"



def _ingest_and_dream(album_dir: Path, sources: list[str], layers_of: dict, settings: Settings,
                      job: DreamJob, logger) -> tuple[list[Photo], list[dict], list[DreamResult]]:
    """Ingest every photo, then submit the dreams not stored yet; returns the photos, the
    duplicates set aside and the dreams.

    Every photo is ingested before any is dreamed: only then are copies of one photo known,
    and each is dreamed once.
    """
    photos, duplicates = set_aside_duplicates(ingest(album_dir, sources, job.out_dir, settings))
    kept = {p.source for p in photos}
    progress = DreamProgress(total=sum(len(layers_of[s]) for s in kept),
                             artifact_key=f"{_artifact_key(album_dir.name)}-progress")
    dream_task = dream.with_options(retries=settings.retries,
                                    retry_delay_seconds=settings.retry_delay_seconds)
    resources = dream_resources()
    results: list[DreamResult] = []
    running: dict = {}
    for photo in photos:
        if not photo.ok:
            progress.drop(len(layers_of[photo.source]))  # the photo's failure says why
            continue
        todo = []
        for layer in layers_of[photo.source]:
            if job.stored(photo, layer):  # dreamed by an earlier run
                results.append(stored_dream(photo, layer, job))
                progress.advance(reused=True)
            else:
                todo.append(layer)
        for group in ([tuple(todo)] if job.batch_layers and todo else [(layer,) for layer in todo]):
            with requiring(resources):
                running[dream_task.submit(photo, group, job)] = (photo.source, group)
    results += _collect_dreams(running, progress, logger)
    progress.close()
    return photos, duplicates, results


def _collect_dreams(futures: dict, progress: DreamProgress, logger) -> list[DreamResult]:
    """Wait for every dream, advancing the progress; a failed task becomes a failed result."""
    results = []
    for future in as_completed(list(futures)):
        source, layers = futures[future]
        outcome = future.result(raise_on_failure=False)
        if isinstance(outcome, BaseException):
            logger.warning("dream failed: %s %s: %s", source, ", ".join(layers), outcome)
            error = f"{type(outcome).__name__}: {outcome}"
            outcome = [DreamResult(source, layer, "failed", error) for layer in layers]
        for result in outcome:
            results.append(result)
            progress.advance(reused=result.reused)
    return results


def _publish_table(album_name: str, photos: list[Photo], dreams: list[DreamResult]) -> None:
    """The run at a glance in Prefect's UI: one row per (photo, layer), failed photos too."""
    rows = [{"photo": p.source, "layer": "-", "status": p.status, "seconds": None,
             "note": p.error} for p in photos if not p.ok]
    rows += [{"photo": d.source, "layer": d.layer, "status": d.status, "seconds": d.seconds,
              "note": "reused" if d.reused else d.error}
             for d in sorted(dreams, key=lambda d: (d.source, depth(d.layer)))]
    create_table_artifact(rows, key=f"{_artifact_key(album_name)}-dreams",
                          description=f"Dreams of {album_name}: status and seconds per photo and layer")


def _artifact_key(album_name: str) -> str:
    # Artifact keys allow lowercase letters, digits and dashes only.
    return "dreamtrip-" + (re.sub(r"[^a-z0-9]+", "-", album_name.lower()).strip("-") or "album")

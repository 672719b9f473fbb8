"""The Prefect flow: ingest every photo, dream each (photo, layer), write the post.

Only orchestration lives here: fan-out, retries, concurrency on the device and progress. Each
task is a thin wrapper over a plain function in pipeline/.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed

from flows.progress import ProgressBar
from pipeline.album import find_photos, load_album_text
from pipeline.config import Settings, load_settings
from pipeline.dream import dream_to_files, load_dreamer, pick_device
from pipeline.imaging import PhotoError, image_size, open_upright_rgb
from pipeline.ingest import Photo, ingest_photos, set_aside_duplicates
from pipeline.layers import depth
from pipeline.manifest import DreamResult, build_manifest, write_manifest
from pipeline.page import write_page
from pipeline.params import DreamParams
from pipeline.store import dream_file, dream_key, full_size_file
from pipeline.weights import WeightsChoice, choose_weights


@dataclass(frozen=True)
class DreamJob:
    """What every dream task of a run shares."""

    album_dir: Path
    out_dir: Path
    weights: WeightsChoice
    weights_cache_dir: Path
    deepest_layer: str
    device: str
    params: DreamParams
    working_size: int
    jpeg_quality: int
    full_resolution: bool
    memory_mb: int


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

_device_slots: dict[str, threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()


def device_slot(device: str, size: int) -> threading.BoundedSemaphore:
    with _slots_lock:
        return _device_slots.setdefault(device, threading.BoundedSemaphore(size))


# ---- tasks ----

@task(name="ingest", cache_policy=NO_CACHE)
def ingest(album_dir: Path, sources: list[str], out_dir: Path, settings: Settings) -> list[Photo]:
    # One task for the whole album, photos in parallel threads inside it: a Prefect task per
    # photo was slower and took 400 MB more memory (BENCHMARKS.md, "Ingest").
    return ingest_photos(album_dir, sources, out_dir, settings.working_size, settings.web_sizes,
                         settings.jpeg_quality, settings.max_pixels)


@task(name="dream", cache_policy=NO_CACHE, retry_condition_fn=retry_if_transient,
      task_run_name="dream {layer}")
def dream(photo: Photo, layer: str, job: DreamJob, slots: int) -> DreamResult | None:
    if not photo.ok:
        return None  # the photo itself failed; its ingest result says why
    key = dream_key(photo.sha256, layer, job.params, job.working_size, job.weights.identity)
    relative = dream_file(photo.sha256, layer, key)
    full_relative = full_size_file(relative) if job.full_resolution else None
    wanted = [job.out_dir / rel for rel in (relative, full_relative) if rel]
    if all(path.is_file() for path in wanted):  # written atomically: existing = finished
        width, height = image_size(wanted[0])
        return DreamResult(photo.source, layer, "ok", None, relative, None, width, height,
                           full_path=full_relative, reused=True)
    full = open_upright_rgb(job.album_dir / photo.source, photo.exif.orientation) if full_relative else None
    with device_slot(job.device, slots):
        dreamer = load_dreamer(job.weights, job.weights_cache_dir, job.deepest_layer, job.device,
                               job.memory_mb)
        started = time.perf_counter()
        [(width, height)] = dream_to_files(
            dreamer, job.out_dir / photo.working, [layer], [job.out_dir / relative], job.params,
            job.jpeg_quality, full, [job.out_dir / full_relative] if full_relative else None)
    seconds = round(time.perf_counter() - started, 2)
    return DreamResult(photo.source, layer, "ok", None, relative, seconds, width, height,
                       full_path=full_relative)


@task(name="write post", cache_policy=NO_CACHE)
def write_post(manifest: dict, out_dir: Path) -> Path:
    write_manifest(manifest, out_dir)
    return write_page(manifest, out_dir)


# ---- the flow ----

@flow(name="dream-album")
def dream_album(album: str, config: str | None = None, overrides: dict | None = None) -> dict:
    """Dream every photo of `album` on its layers and write index.html, post.md, manifest.json.

    `config` is a YAML file over config/default.yaml; `overrides` are dotted settings
    (e.g. {"layers": ["conv5_2"], "output.dir": "out/x"}) that win over both.
    Returns the manifest.
    """
    logger = get_run_logger()
    settings = load_settings(Path(config) if config else None, overrides)
    album_dir = Path(album).resolve()
    out_dir = (settings.output_dir or Path("out") / album_dir.name).resolve()
    text = load_album_text(album_dir)
    files = find_photos(album_dir)
    layers_of = {s: (text.photos[s].layers if s in text.photos and text.photos[s].layers
                     else settings.layers) for s in files.photos}

    weights = choose_weights(settings.weights_source)
    logger.info("Weights: %s (%s)", weights.description, weights.reason)
    device = str(pick_device(settings.device))
    job = DreamJob(album_dir, out_dir, weights, settings.weights_cache_dir,
                   max((layer for ls in layers_of.values() for layer in ls), key=depth, default="conv1_1"),
                   device, settings.dream, settings.working_size, settings.jpeg_quality,
                   settings.full_resolution, settings.memory_mb)

    # Every photo is ingested before any is dreamed: only then are copies of one photo known,
    # and each is dreamed once.
    photos, duplicates = set_aside_duplicates(ingest(album_dir, files.photos, out_dir, settings))
    dream_task = dream.with_options(retries=settings.retries,
                                    retry_delay_seconds=settings.retry_delay_seconds)
    dream_futures = {
        dream_task.submit(photo, layer, job, settings.dreams_at_once): (photo.source, layer)
        for photo in photos if photo.ok for layer in layers_of[photo.source]
    }
    dreams = _collect_dreams(dream_futures, logger)

    manifest = build_manifest(album_dir.name, text, photos, dreams, files.skipped + duplicates,
                              weights.as_dict(), device, settings.raw)
    manifest["page"] = str(write_post(manifest, out_dir))
    return manifest


def _collect_dreams(futures: dict, logger) -> list[DreamResult]:
    """Wait for every dream, advancing the progress bar; a failed task becomes a failed result."""
    results = []
    progress = ProgressBar(total=len(futures), label="dreaming")
    for future in as_completed(list(futures)):
        source, layer = futures[future]
        result = future.result(raise_on_failure=False)
        if isinstance(result, BaseException):
            logger.warning("dream failed: %s %s: %s", source, layer, result)
            result = DreamResult(source, layer, "failed", f"{type(result).__name__}: {result}")
        if result is not None:
            results.append(result)
        progress.advance(reused=bool(result and result.reused))
    progress.close()
    return results

"""The Prefect flow: settings -> lock -> decide -> ingest -> dream -> write the post.

Only orchestration lives here: the output folder's lock, fan-out, retries, who may use the
device when, progress and artifacts. Each task is a thin wrapper over plain functions in pipeline/.

Never dreaming twice rests on the store (pipeline/output/store.py), not on Prefect's result cache: a
dream's files are named by the key of its recipe, written atomically and recorded, so a file
under that name, as it was recorded, is a finished dream. The flow looks each dream up before
it submits a task for it, so a rerun with nothing new submits no dream tasks at all. After a
run that did not finish (or for `retry`) stored files are checked by hash, not by size only.
"""

from __future__ import annotations

import itertools
import logging
import queue
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.loops import make_loops, unmade_for_copies
from flows.preflight import RunPlan
from flows.progress import DreamProgress, ProgressBar, note
from flows.scale import dream_resources, dreams_in_flight, requiring, running_on_dask, worker_device
from flows.turns import Slots, is_transient, retry_if_transient  # noqa: F401  (is_transient: tests ask it here)
from pipeline.config import Settings
from pipeline.dream.cost import Calibration, dream_seconds, loop_seconds
from pipeline.dream.loop import LoopSpec
from pipeline.dream.spec import DreamSpec, dream_input, guide_input, save_dream
from pipeline.dream.weights import WeightsChoice
from pipeline.imaging import PhotoError
from pipeline.ingest.guides import GuideSource, attach_guides
from pipeline.ingest.photos import ingest_photos, set_aside_duplicates
from pipeline.ingest.placing import placed_from_tracks
from pipeline.layers import deepest
from pipeline.manifest import DreamEntry, LoopEntry, Manifest, PhotoEntry, RunInfo, WeightsInfo, now
from pipeline.output.files import DiskFull, FolderNotWritable
from pipeline.output.folder import sweep_unused, tidy_before_run
from pipeline.output.kept import kept_dir
from pipeline.output.manifest_file import write_manifest
from pipeline.output.store import DreamStore
from pipeline.post.export import ExportError, export_post
from pipeline.post.page import write_page
from pipeline.post.view import counted
from pipeline.text import slug


class _DiskFullSaidOnce(logging.Filter):
    """A full disk ends the run with one line that names the folder and its free space (the
    CLI's), and so does an export the blog refuses: Prefect's own reports of them, a traceback
    per task and one for the flow, would only bury that line. The run's state still says
    Failed, with the reason."""

    SAID_BY_THE_CLI = (DiskFull, FolderNotWritable, ExportError)  # FolderNotWritable: a DiskFull, named apart

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not (isinstance(error, self.SAID_BY_THE_CLI)
                    or any(kind.__name__ in record.getMessage() for kind in self.SAID_BY_THE_CLI))


for _logger in ("prefect.task_runs", "prefect.flow_runs"):
    logging.getLogger(_logger).addFilter(_DiskFullSaidOnce())


@dataclass(frozen=True)
class DreamJob:
    """What every dream task of a run shares (pickled as it is to Dask workers)."""

    album_dir: Path
    store: DreamStore
    spec: DreamSpec
    settings: Settings
    weights: WeightsChoice
    deepest_layer: str
    guides: dict[str, GuideSource] = field(default_factory=dict)  # by sha256: where each guide is read
    hidden: frozenset[str] = frozenset()   # photos album.yaml hides: their dreams go to `kept_store`
    kept_store: DreamStore | None = None   # outside the output folder (pipeline/output/kept.py)
    loops: LoopSpec | None = None          # how the run's dream loops are made (album.yaml `loop:`)
    calibration: Calibration | None = None  # this machine's speed, as the estimate line used it

    def expected_seconds(self, photo: PhotoEntry, layer: str) -> float:
        """What the cost model gives the dream (0 when the machine was not measured: on Dask)."""
        if self.calibration is None:
            return 0.0
        return dream_seconds(self.spec.size(photo), layer, self.spec.engine_params, self.calibration)

    def expected_loop_seconds(self, dream: DreamEntry) -> float:
        """What the cost model gives the loop made from `dream` (0 when the machine was not measured)."""
        if self.calibration is None:
            return 0.0
        return loop_seconds(self.loops.size(dream), dream.layer, self.spec.engine_params, self.settings.loop,
                            self.calibration)

    def stores_for(self, photo: PhotoEntry) -> tuple[DreamStore, ...]:
        """Where the photo's dreams are, the first where new ones go: a hidden photo's never pass
        through the output folder, which may be uploaded as it is while the run goes on (or
        after it was killed). Those published before it was hidden are still found there
        (writing the post moves them out)."""
        if photo.source in self.hidden and self.kept_store is not None:
            return self.kept_store, self.store
        return (self.store,)

    def stored(self, photo: PhotoEntry, layer: str) -> DreamEntry | None:
        return next((entry for store in self.stores_for(photo) if (entry := self.spec.stored(store, photo, layer))),
                    None)

    def guide(self, photo: PhotoEntry):
        """The photo's guide image at its dream size and how to dream toward it, or None."""
        if photo.guide is None:
            return None
        from pipeline.dream.engine import Guide  # torch loads where the dreams run

        source = self.guides[photo.guide.sha256]
        try:
            image = guide_input(self.album_dir, source.relative, photo.guide.sha256, source.orientation, photo,
                                self.spec, self.settings.images.max_pixels)
        except PhotoError as err:  # say whose file it was: the guide's, not the photo's
            raise PhotoError(f"its guide {photo.guide.name}: {err}") from None
        return Guide(image, photo.guide.sha256, self.spec.guide_mode)


# ---- tasks ----

@task(name="ingest", cache_policy=NO_CACHE)
def ingest(album_dir: Path, sources: list[str], out_dir: Path, settings: Settings,
           hidden: frozenset[str] = frozenset()) -> list[PhotoEntry]:
    """Every photo's entry, in album order; web copies made where missing: a `hidden` photo's in
    the output folder's kept folder, never in the output folder (pipeline/output/kept.py)."""
    # One task for the whole album, photos in parallel threads inside it: a Prefect task per
    # photo was slower and took 400 MB more memory (BENCHMARKS.md, "Ingest").
    images = settings.images
    bar = ProgressBar(len(sources), "photos", "hashed and copied")
    found: dict[str, PhotoEntry] = {}
    try:
        for folder, group in ((out_dir, [s for s in sources if s not in hidden]),
                              (kept_dir(out_dir), [s for s in sources if s in hidden])):
            if group:
                found.update((photo.source, photo) for photo in ingest_photos(
                    album_dir, group, folder, images.web_sizes, images.web_formats(), images.max_pixels,
                    each_done=bar.advance))
    finally:
        bar.close()
    return [found[source] for source in sources]


@task(name="decide", cache_policy=NO_CACHE)
def decide(settings: Settings, weights: str) -> DreamSpec:
    """What the run's dreams are, decided where they run (on a Dask cluster: on a worker)."""
    return DreamSpec.decide(settings, weights)


@task(name="dream", cache_policy=NO_CACHE, retry_condition_fn=retry_if_transient,
      task_run_name="dream {photo.source} {layer}")
def dream(photo: PhotoEntry, layer: str, job: DreamJob) -> DreamEntry:
    """Dream one photo on one layer. Decoding before the device's turn and encoding after it
    run outside the device slot, so they overlap the next dream."""
    if done := job.stored(photo, layer):  # another run may have made it
        return done
    device = worker_device(job.spec.device)
    slots = Slots.of(device, job.settings.tasks.dreams_at_once)
    with slots.prepared:
        image = dream_input(job.album_dir, photo, job.spec, job.settings.images.max_pixels)
        guide = job.guide(photo)
        with slots.device:
            dreamed, seconds = dream_on_device(photo, image, layer, job, device, guide)
        save_dream(dreamed, job.spec.files(photo, layer), job.stores_for(photo)[0], job.spec.formats)
    return job.spec.entry(photo, layer, seconds)


def dream_on_device(photo: PhotoEntry, image, layer: str, job: DreamJob, device: str, guide=None):
    """The photo's dream on `layer` (toward `guide`, an engine.Guide, if any), and the engine's seconds."""
    from pipeline.dream.engine import load_dreamer  # torch loads where the dreams run, not on import

    engine = job.settings.engine
    dreamer = load_dreamer(job.weights, job.settings.weights.cache_path, job.deepest_layer, device,
                           job.spec.size_step, engine.memory_mb, engine.graphs_on(device))
    started = time.perf_counter()
    [dreamed] = dreamer.dream(image, [layer], job.spec.engine_params, guide)
    return dreamed, round(time.perf_counter() - started, 3)


@task(name="write post", cache_policy=NO_CACHE)
def write_post(manifest: Manifest, out_dir: Path) -> Path:
    write_manifest(manifest, out_dir)
    return write_page(manifest, out_dir)


@task(name="export to blog", cache_policy=NO_CACHE)
def export_to_blog(manifest: Manifest, out_dir: Path, blog) -> None:
    exported = export_post(manifest, out_dir, blog)
    get_run_logger().info("Exported to %s: %s", blog.engine.name.title(), exported.post)


# ---- the flow ----

@flow(name="dream-album", validate_parameters=False)
def dream_album(plan: RunPlan) -> Manifest:
    """Dream every photo of the plan's album on its layers and write index.html, post.md,
    manifest.json; the manifest. The caller holds the output folder's lock and made the plan
    (flows/preflight.py): the album read, OUT claimed, the weights and dream spec chosen, once.

    Every stored file is checked by its sha256 before it is reused (same-size damage is caught;
    bench/reuse_bench.py: it costs far less than decoding). With `plan.preview`, every photo is
    dreamed at images.preview_size first and the post written with those previews, then at
    the dream size and written again.
    """
    settings, album_dir, out_dir, weights = plan.settings, plan.album_dir, plan.out_dir, plan.weights
    remove_leftovers(out_dir, settings)
    plan.record.begin_run()
    get_run_logger().info("Weights: %s (%s)", weights.description, weights.reason)
    spec = plan.spec or decided_on_a_worker(settings, weights.identity)
    text, files = plan.text, plan.files
    hidden = frozenset(source for source in plan.photos if text.hidden(source))
    photos, duplicates = set_aside_duplicates(ingest(album_dir, plan.photos, out_dir, settings, hidden))
    photos, guides = guided(album_dir, text, plan.scan.guides, photos, out_dir, settings)
    placement = placed_from_tracks(list(plan.scan.tracks), photos, text.camera_clock, settings,
                                   route=retried_route(plan))
    for line in placement.lines:
        note(line)

    layers_of = {p.source: plan.layers_for(p.source) for p in photos if p.ok}
    deepest_layer = deepest([layer for layers in layers_of.values() for layer in layers] or ["conv1_1"]).name
    store = DreamStore(out_dir, settings.output.store_path)
    kept = DreamStore(kept_dir(out_dir), settings.output.store_path) if hidden else None
    job = DreamJob(album_dir, store, spec, settings, weights, deepest_layer, guides, hidden, kept,
                   LoopSpec.of(spec, settings.loop), plan.calibration)
    earlier = None if plan.renew else plan.earlier

    def manifest_of(dreams: dict[str, list[DreamEntry]], run: RunInfo,
                    loops: dict[str, LoopEntry] | None = None) -> Manifest:
        return Manifest(
            created=now(), weights=WeightsInfo(**weights.as_dict()),
            device=f"{spec.device} on Dask workers" if running_on_dask() else spec.device,
            dream_size=spec.dream_size, octaves=spec.octaves, precision=spec.precision, settings=settings,
            photos=[text.described(placement.photo(photo), dreams.get(photo.source, []), settings.privacy,
                                   hide=photo.source in plan.hidden_places).model_copy(
                                       update={"loop": (loops or {}).get(photo.source)}) for photo in photos],
            **text.told(files, duplicates, album_dir), run=run,
            tracks=placement.info).without_machine_paths(album_dir, out_dir)

    previews = plan.earlier.preview_files() if plan.earlier else set()
    first = preview_pass(photos, layers_of, job, earlier) if plan.preview else None
    if first is not None and first[1].dreamed:   # (else the page before shows the same)
        shown = manifest_of(*first)
        note(f"Preview published: {write_post(shown, out_dir)} (full-size dreams follow)")
        previews |= shown.preview_files()
    dreams, run = dream_photos(photos, layers_of, job, earlier,
                               pass_name="Full size" if first is not None else None)
    loops = make_loops(photos, {p.source: layer for p in photos if (layer := plan.loop_for(p.source))}, dreams, job)
    for line in unmade_for_copies(duplicates, plan.loop_for):
        note(line)
    manifest = manifest_of(dreams, run if first is None else both_passes(first[1], run, first[0], dreams), loops)
    manifest.page = str(write_post(manifest, out_dir))
    sweep_unused(manifest, out_dir, previews)   # the previews the post has replaced
    plan.record.end_run()
    for blog in plan.blogs:  # `export:` in the settings; off by default, places decided in the plan
        export_to_blog(manifest, out_dir, blog)
    publish_table(album_dir.name, manifest)
    return manifest


def retried_route(plan: RunPlan) -> list | None:
    """`retry` keeps the route the run before it drew (none if it drew none): its settings are
    the recorded ones, which hold no hide_near zones, so a route made again would cross them.
    None for a run: it makes the route with the zones it has."""
    if plan.only_photos is None:
        return None
    earlier = plan.earlier.tracks if plan.earlier else None
    return list(earlier.days) if earlier else []


def decided_on_a_worker(settings: Settings, weights: str) -> DreamSpec:
    """On a Dask cluster the dreams' device is a worker's: one that dreams decides the spec."""
    with requiring(dream_resources()):
        return decide.submit(settings, weights).result()


def guided(album_dir: Path, text, files: dict, photos: list[PhotoEntry], out_dir: Path,
           settings: Settings) -> tuple[list[PhotoEntry], dict[str, GuideSource]]:
    """The photos with the guides album.yaml gives them (`files`: resolved in the pre-flight),
    their stored web copies checked by sha256 as the photos' are."""
    guide_of = {photo.source: files[name] for photo in photos if (name := text.guide_for(photo.source))}
    return attach_guides(album_dir, photos, guide_of, out_dir, settings.images)


def remove_leftovers(out_dir: Path, settings: Settings) -> None:
    """tidy_before_run, saying in the run's log what it swept."""
    removed = tidy_before_run(out_dir, settings.output.store_path)
    if removed:
        get_run_logger().info("Removed %d temporary files left by an interrupted run", removed)


def preview_pass(photos: list[PhotoEntry], layers_of: dict[str, tuple[str, ...]], job: DreamJob,
                 earlier: Manifest | None) -> tuple[dict[str, list[DreamEntry]], RunInfo] | None:
    """`run --preview`'s first pass: every dream not finished yet, at images.preview_size; the
    dreams by photo (finished ones as they are), and what it did. None when the dream size is
    no larger than a preview's (said in one line): the run dreams at full size at once."""
    size = job.settings.images.preview_size
    small = job.spec.previewing(size)
    if small is None:
        note(f"--preview: dreams are {job.spec.dream_size} px, no larger than a preview ({size} px): "
             "dreaming them at full size at once")
        return None
    return dream_photos(photos, layers_of, replace(job, spec=small), earlier, finished=job, pass_name="Preview")


def both_passes(first: RunInfo, second: RunInfo, previewed: dict[str, list[DreamEntry]],
                dreams: dict[str, list[DreamEntry]]) -> RunInfo:
    """What a --preview run did: the full pass's dreams, and those of the preview pass that were
    final at once (a photo no larger than a preview), which the full pass found stored."""
    final = {dream.image.path for entries in previewed.values() for dream in entries
             if dream.ok and not dream.reused and not dream.preview}
    at_once = sum(dream.reused and dream.image is not None and dream.image.path in final
                  for entries in dreams.values() for dream in entries)
    seconds = [s for s in (first.dream_seconds, second.dream_seconds) if s is not None]
    return RunInfo(dreamed=second.dreamed + at_once, reused=second.reused - at_once,
                   dream_seconds=round(sum(seconds), 2) if seconds else None)


def dream_photos(photos: list[PhotoEntry], layers_of: dict[str, tuple[str, ...]], job: DreamJob,
                 earlier: Manifest | None = None, finished: DreamJob | None = None,
                 pass_name: str | None = None) -> tuple[dict[str, list[DreamEntry]], RunInfo]:
    """Dream every (photo, layer) of `layers_of` not stored yet, nor made by an earlier recipe
    of its look that `earlier` (the manifest before this run) lists; the dreams by photo, and
    what this run did. `finished`: the run's own job when `job` makes previews (a dream it
    has stored needs no preview). `pass_name` (Preview, Full size): which pass of a --preview
    run this is, said before it starts."""
    results, to_dream = {}, []
    for photo in (p for p in photos if p.ok):
        for layer in layers_of[photo.source]:
            found = done_already(finished or job, photo, layer, earlier) or (
                job.stored(photo, layer) if finished else None)   # a preview made before
            results[photo.source, layer] = found
            if found is None:
                to_dream.append((photo, layer))
    if pass_name:
        note(pass_line(pass_name, to_dream, job.spec))
    progress = DreamProgress(to_dream=len(to_dream), reused=len(results) - len(to_dream),
                             artifact_key=f"{artifact_key(job.album_dir.name)}-progress",
                             label=pass_name.lower() if pass_name else "dreaming",
                             expected_s=sum(job.expected_seconds(photo, layer) for photo, layer in to_dream))
    started = time.perf_counter()
    for (source, layer), entry in dreamed_in_turn(to_dream, job, progress):
        results[source, layer] = entry
    progress.close()
    dreamed = [entry for entry in results.values() if not entry.reused]
    run = RunInfo(dreamed=sum(entry.ok for entry in dreamed), reused=len(results) - len(dreamed),
                  dream_seconds=round(time.perf_counter() - started, 2) if to_dream else None)
    by_photo: dict[str, list[DreamEntry]] = {}
    for (source, _layer), entry in results.items():
        by_photo.setdefault(source, []).append(entry)
    return by_photo, run


def done_already(job: DreamJob, photo: PhotoEntry, layer: str, earlier: Manifest | None) -> DreamEntry | None:
    """The dream stored by an earlier run, or one an earlier recipe of its look made, or None."""
    return job.stored(photo, layer) or next(
        (entry for store in job.stores_for(photo) if (entry := job.spec.earlier_recipe(store, photo, layer, earlier))),
        None)


def pass_line(name: str, to_dream: list[tuple[PhotoEntry, str]], spec: DreamSpec) -> str:
    """'Preview: dreaming 12 photos at 512 px', the first line of a pass of a --preview run."""
    if not to_dream:
        return f"{name}: nothing to dream"
    photos = len({photo.source for photo, _layer in to_dream})
    size = spec.preview_size or spec.dream_size
    dreams = f" ({counted(len(to_dream), 'dream')})" if len(to_dream) != photos else ""
    return (f"{name}: dreaming {counted(photos, 'photo')}{dreams} at "
            + (f"{size} px" if size else "each photo's own size"))


def dreamed_in_turn(to_dream: list[tuple[PhotoEntry, str]], job: DreamJob, progress: DreamProgress):
    """Each (photo, layer) of `to_dream` dreamed by a dream task, as ((source, layer), entry)
    when its task ends; a failed task becomes a failed entry, a full disk stops the run.

    At most `dreams_in_flight` tasks are submitted at once, the next as one ends, and a task's
    future is let go once its entry is out: what a run holds stays the same however large the
    album (BENCHMARKS.md, "Memory as the album grows"). Submitting them all at once cost ~0.6 MB
    a dream: Prefect's thread pool has no limit, so each waited in threads of its own with its
    task run started, all of them for the whole dream phase."""
    dream_task = dream.with_options(retries=job.settings.tasks.retries,
                                    retry_delay_seconds=job.settings.tasks.retry_delay_seconds)
    resources, waiting = dream_resources(), iter(to_dream)
    in_flight = dreams_in_flight(job.settings.tasks.dreams_at_once)
    running: dict = {}              # future -> (photo, layer), only those not ended yet
    ended = queue.SimpleQueue()     # futures as their tasks end, put there by the task's thread

    def submit_more() -> None:
        for photo, layer in itertools.islice(waiting, in_flight - len(running)):
            with requiring(resources):
                future = dream_task.submit(photo, layer, job)
            running[future] = (photo, layer)
            future.add_done_callback(ended.put)

    submit_more()
    while running:
        future = ended.get()
        photo, layer = running.pop(future)
        source = photo.source
        outcome = future.result(raise_on_failure=False)
        del future                  # its state and result go with it
        submit_more()               # before the entry is handled: the device never waits on it
        if isinstance(outcome, DiskFull):  # every other write would fail too: stop the run
            raise outcome
        if isinstance(outcome, BaseException):
            get_run_logger().warning("dream failed: %s %s: %s", source, layer, outcome)
            outcome = DreamEntry(layer=layer, status="failed", error=f"{type(outcome).__name__}: {outcome}")
        progress.advance(job.expected_seconds(photo, layer))
        yield (source, layer), outcome


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

"""A rerun with nothing to dream, done without Prefect: as fast as reading the manifest.

Most reruns of an album find nothing new: a cron job, a traveller who runs the same command
again after editing a story. The flow would start Prefect's temporary server (seconds), hash
every photo and look up every dream only to write the same manifest and page again. So after
each run that did the work, the command notes (outside the output folder, in the user's state
folder: nothing private is published) every photo's size, modification and change times and
the settings the run had. The next run writes the post straight away, as `blog` does, when:

- the settings, dreamtrip's release and the device's kind are those the notes were made with;
- the last run finished (the output folder's record says so);
- every photo of the album is noted, unchanged (size, mtime, ctime), and the manifest's entry
  for it is the one noted (same content hash), ok, with every layer it should have and the
  dream loop album.yaml asks for (none it no longer asks for), none of them a preview
  (`run --preview`'s small dreams are dreamed at full size by the next run);
- every file the post shows is in the output folder as dreamtrip wrote it (the record's size).

Anything else is work for the flow, and the command says what (`why_not`). Prefect runs and
records every run that does work; with a long-lived server (PREFECT_API_URL), `--dask` or
`--renew` the flow always runs, as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from flows.preflight import RunPlan
from flows.state import Stamp, photo_stamps, stamp_of
from pipeline import __version__
from pipeline.ingest.photos import CRASHED
from pipeline.manifest import Manifest, RunInfo, now
from pipeline.output.files import write_bytes_atomic
from pipeline.output.kept import state_dir, stored_intact
from pipeline.output.manifest_file import write_manifest
from pipeline.post.view import counted

NOTES_DIR = "reruns"
def fingerprint(plan: RunPlan) -> str:
    """Everything besides the photos that decides what a run writes: the settings (all of them,
    privacy zones included: this never leaves the machine; not the device as set nor the task
    and engine knobs, which change no file), the device's kind and precision as decided, the weights and
    the release and its recipe, and the guides album.yaml names (which image each is, as a
    file: a guide outside the album changes no photo's stamp), and the GPS tracks (by content)
    with the camera's clock, which place photos and draw the route."""
    from pipeline.dream.spec import ENGINE_REVISION  # torch-free

    spec = plan.spec
    data = plan.settings.as_dict()
    for how_not_what in ("device", "tasks", "engine"):   # (engine: tiles and graphs, fitted to the memory there is)
        data.pop(how_not_what, None)
    guides = {key: [name, stamp_of(plan.album_dir / name)] for key, name in plan.text.guides().items()}
    data = {"settings": data, "release": __version__, "album": str(plan.album_dir), "guides": guides,
            "tracks": [[track.name, track.sha256] for track in plan.scan.tracks], "clock": plan.text.camera_clock,
            "recipe": [spec.params.as_dict(), ENGINE_REVISION],  # a strength's schedule, the engine
            "spec": [spec.device, spec.precision, spec.dream_size, spec.size_step, spec.weights]}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _notes_path(out_dir: Path) -> Path:
    return state_dir() / NOTES_DIR / f"{hashlib.sha256(str(out_dir).encode()).hexdigest()[:24]}.json"


@dataclass(frozen=True)
class Notes:
    fingerprint: str
    photos: dict[str, tuple[Stamp, str]]  # source -> (stamp, sha256 of its content)


def read_notes(out_dir: Path) -> Notes | None:
    try:
        data = json.loads(_notes_path(out_dir).read_bytes())
        if data.get("out") != str(out_dir):
            return None
        photos = {source: (tuple(stamp), sha) for source, (stamp, sha) in data["photos"].items()}
        return Notes(data["fingerprint"], photos)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # no notes (or unreadable ones): the flow does the work, and notes anew


def forget(out_dir: Path) -> None:
    """Before a run that works: its outcome is noted only if it ends well."""
    with contextlib.suppress(OSError):
        _notes_path(out_dir).unlink()


def remember(plan: RunPlan, manifest: Manifest) -> None:
    """Note the photos as this run found them (those unchanged since it read them, whose entry
    is ok) and the settings' fingerprint. Never fails a run: without notes, the next run works."""
    # A photo that failed is noted too (its content hash, if it was read): unchanged, it fails
    # again the same way, unless the failure was the machine's (CRASHED), which may pass.
    sha_of = {photo.source: photo.sha256 or "" for photo in manifest.photos
              if photo.ok or not (photo.error or "").startswith(CRASHED)}
    sha_of.update({entry.source: sha_of.get(entry.duplicate_of) for entry in manifest.skipped if entry.duplicate_of})
    now_stamps = photo_stamps(plan.album_dir, list(plan.stamps))
    photos = {source: (stamp, sha_of[source]) for source, stamp in plan.stamps.items()
              if stamp is not None and now_stamps[source] == stamp and sha_of.get(source) is not None}
    data = {"out": str(plan.out_dir), "fingerprint": fingerprint(plan), "photos": photos}
    with contextlib.suppress(OSError):
        path = _notes_path(plan.out_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, json.dumps(data).encode())


def why_not(plan: RunPlan) -> str | None:
    """Why the flow must run (what there is to do, in words), or None when nothing is to be
    done but writing the post."""
    notes, earlier = read_notes(plan.out_dir), plan.earlier
    if earlier is None:
        return "a first run here"
    if notes is None or notes.fingerprint != fingerprint(plan):
        return ("the settings, the album's GPS tracks or dreamtrip changed since the last run" if notes
                else "no notes of the last run")
    if not plan.record.last_run_finished():
        return "the last run did not finish"
    entries = {photo.source: photo for photo in earlier.photos}
    duplicates = {entry.source for entry in earlier.skipped if entry.duplicate_of}
    new = changed = failed = dreams = layers = loops = 0
    for source, stamp in plan.stamps.items():
        noted = notes.photos.get(source)
        photo = entries.get(source)
        if noted is None or (photo is None and source not in duplicates):
            new += 1
        elif stamp is None or tuple(stamp) != noted[0] or (photo is not None and photo.sha256 != noted[1]):
            changed += 1
        elif photo is not None and not photo.ok:
            failed += (photo.error or "").startswith(CRASHED)  # else it fails again as it did
        elif photo is not None:
            # a preview (`run --preview`) is still to be dreamed at full size
            wanted = set(plan.layers_for(source))
            done = {dream.layer for dream in photo.dreams if dream.ok and not dream.preview}
            dreams += len(wanted - done)
            layers += bool({dream.layer for dream in photo.dreams} - wanted)  # album.yaml took one off
            loops += (photo.loop.layer if photo.loop and photo.loop.ok else None) != plan.loop_for(source)
    reasons = [text for count, text in ((new, counted(new, "new photo")), (changed, counted(changed, "changed photo")),
                                        (failed, counted(failed, "photo that failed") + " to try again"),
                                        (dreams, counted(dreams, "dream") + " to make"),
                                        (layers, counted(layers, "photo") + " with other layers now"),
                                        (loops, counted(loops, "loop") + " to make or take off")) if count]
    if reasons:
        return ", ".join(reasons)
    files = [path for photo in earlier.photos if photo.source in plan.stamps for path in photo.files()]
    # by content: a copy overwritten with junk of the same size is not published as ok
    # (a hidden photo's are kept outside the output folder: pipeline/output/kept.py)
    damaged = sum(not stored_intact(plan.out_dir, path) for path in files)
    if damaged:
        return f"{counted(damaged, 'file')} of the post missing or damaged"
    return None


def quick_manifest(plan: RunPlan) -> Manifest:
    """The manifest the flow would write when nothing changed but the album's text: the one
    before, with the album's text, the run and the time of now."""
    earlier, text, files = plan.earlier, plan.text, plan.files
    in_album = set(files.photos)
    photos = [text.told_photo(photo.model_copy(update={
        "dreams": [dream.model_copy(update={"reused": True, "seconds": None}) for dream in photo.dreams],
        "loop": photo.loop and photo.loop.model_copy(update={"reused": True, "seconds": None})}))
        for photo in earlier.photos if photo.source in in_album]
    duplicates = [entry for entry in earlier.skipped if entry.duplicate_of and entry.source in in_album]
    dreams = sum(len(photo.dreams) for photo in photos)
    return earlier.model_copy(update={
        "created": now(), "photos": photos, **text.told(files, duplicates, plan.album_dir),
        "run": RunInfo(dreamed=0, reused=dreams)}).without_machine_paths(plan.album_dir, plan.out_dir)


def write_quick_post(plan: RunPlan) -> Manifest:
    """Write manifest.json and the post as the flow would with nothing to dream; the manifest.
    The caller holds the output folder's lock."""
    from pipeline.output.folder import tidy_before_run
    from pipeline.post.export import export_post
    from pipeline.post.page import write_page

    record, out_dir = plan.record, plan.out_dir
    tidy_before_run(out_dir, plan.settings.output.store_path)   # as the flow does first
    record.begin_run()
    manifest = quick_manifest(plan)
    write_manifest(manifest, out_dir)
    manifest.page = str(write_page(manifest, out_dir))
    record.end_run()
    for blog in plan.blogs:  # `export:` in the settings, as the flow does
        export_post(manifest, out_dir, blog)
    remember(plan, manifest)
    return manifest

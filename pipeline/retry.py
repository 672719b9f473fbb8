"""`dreamtrip retry`: what a run left unfinished, the settings to redo it with, and what it fixed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.manifest import MISSING_FILE, Manifest, label


@dataclass(frozen=True)
class Unfinished:
    source: str
    layer: str | None      # None: the whole photo
    reason: str

    def __str__(self) -> str:
        return label(self.source, self.layer)


def unfinished(manifest: Manifest, out_dir: Path) -> list[Unfinished]:
    """Failed photos, failed dreams, and dreams marked ok whose file is no longer there."""
    todo = []
    for photo in manifest.photos:
        if not photo.ok:
            todo.append(Unfinished(photo.source, None, photo.error or photo.status))
            continue
        for dream in photo.dreams:
            if not dream.ok:
                todo.append(Unfinished(photo.source, dream.layer, dream.error or dream.status))
            elif not dream.on_disk(out_dir):
                todo.append(Unfinished(photo.source, dream.layer, MISSING_FILE))
    return todo


def retry_settings(manifest: Manifest, out_dir: Path, device: str | None = None) -> dict:
    """The settings that made the rest of the album, so the retried dreams match them: the
    same weights (not `auto` again), into the same folder; on another device if asked."""
    settings = manifest.settings.as_dict()
    settings["output"]["dir"] = str(out_dir)
    settings["weights"]["source"] = manifest.weights.source
    if device:
        settings["device"] = device
    return settings


def retry_outcome(todo: list[Unfinished], after: Manifest) -> tuple[list[str], list[str]]:
    """(fixed, still failing), a line each, comparing what was unfinished with the new manifest."""
    photos = {photo.source: photo for photo in after.photos}
    fixed, failing = [], []
    for item in todo:
        photo = photos.get(item.source)
        if photo is None:
            failing.append(f"{item.source}: no longer in the album")
        elif not photo.ok:
            failing.append(f"{item.source}: {photo.error}")
        elif item.layer is None:  # a whole photo: it and all its dreams
            bad = [d for d in photo.dreams if not d.ok]
            (failing if bad else fixed).append(
                f"{item.source}: " + ("; ".join(f"[{d.layer}] {d.error}" for d in bad) if bad
                                      else f"ingested, {len(photo.dreams)} dreams ok"))
        else:
            dream = next((d for d in photo.dreams if d.layer == item.layer), None)
            if dream is not None and dream.ok:
                fixed.append(str(item))
            else:
                failing.append(f"{item}: {dream.error if dream else 'no longer one of its layers'}")
    return fixed, failing

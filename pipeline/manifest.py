"""manifest.json: the record of a run that the page is rendered from.

Per photo: where it came from, its hash, whether it worked and why not, its story, its EXIF,
the place its GPS position names, its web copies and each dream with its layer, status, file
and time. At the top: the album's text, the weights, the dream parameters, the files that were
skipped as not photos, and every setting of the run (so `dreamtrip retry` can redo failures with
exactly the settings that made the rest). The page writer reads nothing else.

A dream's status is `ok`, `failed` (with the reason) or `missing` (its file has gone from the
output folder since; `dreamtrip blog` notices that, `dreamtrip retry` dreams it again).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from pipeline.album import AlbumText
from pipeline.files import write_text_atomic
from pipeline.ingest import Photo
from pipeline.layers import depth
from pipeline.places import place_of

MANIFEST = "manifest.json"
VERSION = "0.1.0"


@dataclass(frozen=True)
class DreamResult:
    source: str                  # the photo's path in the album
    layer: str
    status: str                  # ok | failed | missing
    error: str | None = None
    path: str | None = None      # relative to the output dir
    seconds: float | None = None
    width: int | None = None
    height: int | None = None
    full_path: str | None = None  # the dream at the photo's full resolution, when made
    reused: bool = False         # found from an earlier run, not dreamed now

    def as_dict(self) -> dict:
        return {"layer": self.layer, "status": self.status, "error": self.error, "path": self.path,
                "full_path": self.full_path, "seconds": self.seconds, "width": self.width,
                "height": self.height}


def build_manifest(album_name: str, text: AlbumText, photos: list[Photo], dreams: list[DreamResult],
                   skipped: list[dict], weights: dict, device: str, settings_raw: dict) -> dict:
    by_photo: dict[str, list[DreamResult]] = {}
    for result in dreams:
        by_photo.setdefault(result.source, []).append(result)
    dream_params = dict(settings_raw["dream"], working_size=settings_raw["images"]["working_size"])
    return {
        "dreamtrip_version": VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "album": {"name": album_name, "title": text.title, "intro": text.intro, "outro": text.outro},
        "weights": weights,
        "device": device,
        "dream_params": dream_params,
        "layers": list(settings_raw["layers"]),
        "settings": settings_raw,
        "photos": [_photo_entry(p, text, by_photo.get(p.source, [])) for p in photos],
        "skipped": skipped,
    }


def _photo_entry(photo: Photo, text: AlbumText, dreams: list[DreamResult]) -> dict:
    web = photo.web
    exif = photo.exif.as_dict() if photo.exif else None
    return {
        "source": photo.source,
        "sha256": photo.sha256,
        "status": photo.status,
        "error": photo.error,
        "story": text.story_for(photo.source),   # Markdown, from a sidecar or album.yaml
        "exif": exif,
        # Named here, offline, so the page writer stays a pure renderer of this file.
        "place": place_of(exif["gps"]) if exif else None,   # {"name", "country", "country_code"}
        "image": web[-1] if web else None,
        "web": web,
        "dreams": [d.as_dict() for d in sorted(dreams, key=lambda d: depth(d.layer))],
    }


def failures(manifest: dict) -> list[str]:
    """One line per failed photo or dream, for the CLI's summary."""
    lines = []
    for photo in manifest["photos"]:
        if photo["status"] != "ok":
            lines.append(f"{photo['source']}: {photo['error']}")
        for dream in photo["dreams"]:
            if dream["status"] != "ok":
                lines.append(f"{photo['source']} [{dream['layer']}]: {dream['error']}")
    return lines


def dream_files(dream: dict) -> list[str]:
    """A manifest dream's files: the one the page shows and, if made, the full-resolution one."""
    return [dream[key] for key in ("path", "full_path") if dream.get(key)]


def unfinished(manifest: dict, out_dir: Path) -> list[tuple[str, str | None, str]]:
    """What a retry has to redo: (photo, layer or None for the whole photo, why).

    Failed photos, failed dreams, and dreams marked ok whose file is no longer there.
    """
    todo = []
    for photo in manifest["photos"]:
        if photo["status"] != "ok":
            todo.append((photo["source"], None, photo["error"] or photo["status"]))
            continue
        for dream in photo["dreams"]:
            if dream["status"] != "ok":
                todo.append((photo["source"], dream["layer"], dream["error"] or dream["status"]))
            elif not all((out_dir / path).is_file() for path in dream_files(dream)):
                todo.append((photo["source"], dream["layer"], "its file is missing"))
    return todo


def write_manifest(manifest: dict, out_dir: Path) -> Path:
    path = out_dir / MANIFEST
    write_text_atomic(path, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return path


def read_manifest(out_dir: Path) -> dict:
    return json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))

"""Regenerate the post without dreaming: manifest.json + album.yaml + the files on disk -> page.

For the traveller who edits a caption, or drops a photo from the album, after the dreaming is
done. It reads the album's text and file list again (no hashing, no images decoded), drops the
photos that are no longer in the album, marks dreams whose file has gone as missing, and
rewrites manifest.json, index.html and post.md. It loads neither torch nor Prefect, so it takes
a moment even for a large album. Stored results of dropped photos stay on disk until
`dreamtrip clean`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.album import find_photos, load_album_text
from pipeline.manifest import dream_files, read_manifest, write_manifest
from pipeline.page import write_page


_MISSING = "the dream file is missing from the output folder; `dreamtrip retry` dreams it again"


@dataclass
class Refresh:
    """What changed between the manifest and the album as it is now."""

    manifest: dict
    removed: list[str] = field(default_factory=list)   # photos gone from the album: off the page
    new: list[str] = field(default_factory=list)       # photos not dreamed yet: `dreamtrip run`
    missing: list[str] = field(default_factory=list)   # "photo [layer]" whose dream file is gone


def refresh_manifest(manifest: dict, album_dir: Path, out_dir: Path) -> Refresh:
    """The manifest with the album's current text and photo list; the input is not changed."""
    manifest = copy.deepcopy(manifest)
    text = load_album_text(album_dir)
    files = find_photos(album_dir)
    in_album = set(files.photos)
    # Copies of a photo were set aside by the run (shown once): known, not new.
    duplicates = [entry for entry in manifest.get("skipped") or []
                  if entry["reason"].startswith("duplicate of") and entry["source"] in in_album]
    known = {photo["source"] for photo in manifest["photos"]} | {d["source"] for d in duplicates}
    result = Refresh(manifest,
                     removed=[s for s in known if s not in in_album],
                     new=[s for s in files.photos if s not in known])

    manifest["album"].update(title=text.title, intro=text.intro, outro=text.outro)
    manifest["skipped"] = files.skipped + duplicates
    manifest["photos"] = [p for p in manifest["photos"] if p["source"] in in_album]
    for photo in manifest["photos"]:
        photo["story"] = text.story_for(photo["source"])
        for dream in photo["dreams"]:
            if dream["status"] not in ("ok", "missing") or not dream.get("path"):
                continue  # failed: nothing was stored
            if all((out_dir / path).is_file() for path in dream_files(dream)):
                dream.update(status="ok", error=None)
            else:
                dream.update(status="missing", error=_MISSING)
                result.missing.append(f"{photo['source']} [{dream['layer']}]")
    result.removed.sort()
    return result


def rebuild_post(album_dir: Path, out_dir: Path) -> tuple[Refresh, Path]:
    """Rewrite manifest.json, index.html and post.md from what is stored; the page's path.

    The caller holds the output folder's lock.
    """
    refreshed = refresh_manifest(read_manifest(out_dir), album_dir, out_dir)
    write_manifest(refreshed.manifest, out_dir)
    return refreshed, write_page(refreshed.manifest, out_dir)

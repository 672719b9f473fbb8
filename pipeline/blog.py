"""Regenerate the post without dreaming: manifest.json + album.yaml + the files on disk -> page.

For the traveller who edits a caption, or drops a photo from the album, after the dreaming is
done. It reads the album's text and file list again (no hashing, no images decoded), drops the
photos that are no longer in the album, marks dreams whose file has gone as missing, and
rewrites manifest.json, index.html and post.md. It loads neither torch nor Prefect, so it takes
a moment even for a large album. Stored results of dropped photos stay on disk until
`dreamtrip clean`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline.album import AlbumText, find_photos, load_album_text
from pipeline.manifest import (MISSING_FILE, DreamEntry, Manifest, PhotoEntry, label, read_manifest,
                               write_manifest)
from pipeline.page import write_page


@dataclass
class Refresh:
    """What changed between the manifest and the album as it is now."""

    manifest: Manifest
    removed: list[str] = field(default_factory=list)   # photos gone from the album: off the page
    new: list[str] = field(default_factory=list)       # photos not dreamed yet: `dreamtrip run`
    missing: list[str] = field(default_factory=list)   # "photo [layer]" whose dream file is gone


def refresh_manifest(manifest: Manifest, album_dir: Path, out_dir: Path) -> Refresh:
    """The manifest with the album's current text and photo list; the input is not changed."""
    text, files = load_album_text(album_dir), find_photos(album_dir)
    in_album = set(files.photos)
    # Copies of a photo were set aside by the run (shown once): known, not new.
    duplicates = [entry for entry in manifest.skipped if entry.duplicate_of and entry.source in in_album]
    known = {photo.source for photo in manifest.photos} | {entry.source for entry in duplicates}
    photos = [_refreshed(photo, text, out_dir) for photo in manifest.photos if photo.source in in_album]
    refreshed = manifest.model_copy(update={
        "album": text.info(manifest.album.name),
        "skipped": files.skipped + duplicates, "photos": photos, "unmatched": text.unmatched(files.photos)})
    return Refresh(refreshed, removed=sorted(s for s in known if s not in in_album),
                   new=[s for s in files.photos if s not in known],
                   missing=[label(p.source, d.layer) for p in photos for d in p.dreams if d.status == "missing"])


def _refreshed(photo: PhotoEntry, text: AlbumText, out_dir: Path) -> PhotoEntry:
    return photo.model_copy(update={"story": text.story_for(photo.source),
                                    "dreams": [_checked(dream, out_dir) for dream in photo.dreams]})


def _checked(dream: DreamEntry, out_dir: Path) -> DreamEntry:
    """ok when all its files are there, missing when one has gone; a failed dream stays failed."""
    if dream.status == "failed" or dream.image is None:
        return dream
    if dream.on_disk(out_dir):
        return dream.model_copy(update={"status": "ok", "error": None})
    return dream.model_copy(update={"status": "missing", "error": MISSING_FILE})


def rebuild_post(album_dir: Path, out_dir: Path) -> tuple[Refresh, Path]:
    """Rewrite manifest.json, index.html and post.md from what is stored; the page's path.

    The caller holds the output folder's lock.
    """
    refreshed = refresh_manifest(read_manifest(out_dir), album_dir, out_dir)
    write_manifest(refreshed.manifest, out_dir)
    return refreshed, write_page(refreshed.manifest, out_dir)

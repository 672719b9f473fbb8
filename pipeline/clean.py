"""Find, and on request delete, what the output folder holds that the post no longer uses.

Web copies and dreams of photos removed from the album, dreams made with settings since
changed, and temporary files that a killed run left behind. Files the manifest refers to are
never listed. A shared store (`output.store_dir`) is not looked at: other albums may use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.blog import refresh_manifest, rebuild_post
from pipeline.manifest import Manifest, read_manifest
from pipeline.store import DREAMS_DIR, PHOTOS_DIR, stale_temp_files


@dataclass(frozen=True)
class Cleaning:
    unused: list[Path]           # files the post does not use, sorted
    size: int                    # their bytes
    removed_photos: list[str]    # photos gone from the album (the post was rewritten without them)
    deleted: bool


def unreferenced_files(manifest: Manifest, out_dir: Path) -> list[Path]:
    """Files `dreamtrip clean` would delete, sorted."""
    used = {path for photo in manifest.photos for path in photo.files()}
    found = set(stale_temp_files(out_dir))
    for folder in (PHOTOS_DIR, DREAMS_DIR):
        for path in (out_dir / folder).rglob("*"):
            if path.is_file() and path.relative_to(out_dir).as_posix() not in used:
                found.add(path)
    return sorted(found)


def clean_output(album_dir: Path, out_dir: Path, delete: bool) -> Cleaning:
    """List (and with `delete`, delete) what the post no longer uses. The caller holds the lock."""
    refreshed = refresh_manifest(read_manifest(out_dir), album_dir, out_dir)
    unused = unreferenced_files(refreshed.manifest, out_dir)
    size = sum(path.stat().st_size for path in unused)
    if delete and unused:
        if refreshed.removed:  # the page must not point at files about to go
            rebuild_post(album_dir, out_dir)
        for path in unused:
            path.unlink(missing_ok=True)
    return Cleaning(unused, size, refreshed.removed if delete else [], delete and bool(unused))

"""Find what the output folder holds that the post no longer uses.

Web copies, working copies and dreams of photos removed from the album, dreams made with
settings since changed, and temporary files that a killed run left behind. Files the manifest
refers to are never listed. A shared store (`output.store_dir`) is not looked at: other albums
may use what is in it.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.manifest import dream_files
from pipeline.store import DREAMS_DIR, PHOTOS_DIR, WORK_DIR, stale_temp_files, working_file


def referenced_files(manifest: dict) -> set[str]:
    """Every file under the output folder that the manifest uses, relative, '/'-separated."""
    working_size = (manifest.get("dream_params") or {}).get("working_size")
    used = set()
    for photo in manifest["photos"]:
        used.update(web["path"] for web in photo.get("web") or [])
        if photo.get("image"):
            used.add(photo["image"]["path"])
        if photo.get("sha256") and working_size:
            used.add(working_file(photo["sha256"], working_size))  # new layers dream from it
        used.update(path for dream in photo["dreams"] for path in dream_files(dream))
    return used


def unreferenced_files(manifest: dict, out_dir: Path) -> list[Path]:
    """Files `dreamtrip clean` would delete, sorted."""
    used = referenced_files(manifest)
    found = set(stale_temp_files(out_dir))
    for folder in (PHOTOS_DIR, DREAMS_DIR, WORK_DIR):
        for path in (out_dir / folder).rglob("*"):
            if path.is_file() and path.relative_to(out_dir).as_posix() not in used:
                found.add(path)
    return sorted(found)

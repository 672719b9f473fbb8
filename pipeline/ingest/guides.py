"""Ingest the guides album.yaml names (pipeline/guides.py): each is hashed and published with
web copies like a photo (a photo of the album already is), and every photo's manifest entry
names its guide, whose content hash then enters the photo's dream keys (DreamSpec.files)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.guides import GuideFile
from pipeline.ingest.photos import ingest_photo
from pipeline.manifest import GuideEntry, PhotoEntry


@dataclass(frozen=True)
class GuideSource:
    """Where the dream task reads a guide (never published: `relative` may lead out of the album)."""

    relative: str      # from the album folder
    orientation: int   # EXIF orientation: guides are laid upright as photos are


def attach_guides(album_dir: Path, photos: list[PhotoEntry], guide_of: dict[str, GuideFile], out_dir: Path,
                  images) -> tuple[list[PhotoEntry], dict[str, GuideSource]]:
    """`photos` (ingested), each with its guide (`guide_of`: photo source -> guide file); and the
    guides' sources by sha256. A photo whose guide cannot be used (changed since the check before
    the run, damaged) fails with that reason, and `retry` dreams it once the guide is fixed."""
    ingested = {photo.source: photo for photo in photos if photo.ok}
    entries: dict[GuideFile, PhotoEntry] = {}
    for guide in dict.fromkeys(guide_of.values()):
        entries[guide] = ingested.get(guide.relative) if guide.in_album else None
        entries[guide] = entries[guide] or ingest_photo(album_dir, guide.relative, out_dir, images.web_sizes,
                                                        images.web_formats(), images.max_pixels)
    attached, sources = [], {}
    for photo in photos:
        guide = guide_of.get(photo.source)
        if guide is None or not photo.ok:
            attached.append(photo)
            continue
        entry = entries[guide]
        if not entry.ok:
            attached.append(photo.model_copy(update={
                "status": "failed", "error": f"its guide {guide.name} cannot be used: {entry.error}"}))
            continue
        sources[entry.sha256] = GuideSource(guide.relative, entry.exif.orientation if entry.exif else 1)
        attached.append(photo.model_copy(update={"guide": GuideEntry(name=guide.name, sha256=entry.sha256,
                                                                     web=entry.web)}))
    return attached, sources

"""What is published: the one list of what readers of an output folder get, worked out once
from the manifest (with album.yaml's text merged into it: PhotoEntry.hidden).

index.html, contact-sheet.html, post.md and the export are rendered from `Published.manifest`;
the output folder holds `Published.files` and nothing else of the album's (pipeline/output/kept.py
moves the rest out); `clean` counts `files` and `kept` as belonging. A photo album.yaml hides
(`hide: true`), and whatever only it feeds (its web copies, its dreams, the thumbnail of a guide
that is a hidden photo, a duplicate of it), is in none of the published files: not its pixels,
not its name. Its files are `kept`: stored outside the output folder, so that unhiding it costs
no dream.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.manifest import Manifest, PhotoEntry
from pipeline.output.layout import MANIFEST, PAGE_FILES
from pipeline.output.store import PHOTOS_DIR, readable_name


@dataclass(frozen=True)
class Published:
    manifest: Manifest       # what the pages, post.md, the export and manifest.json say
    files: frozenset[str]    # every file of the output folder readers get (the top files, the pictures)
    pictures: frozenset[str]  # those of `files` in photos/ and dreams/
    kept: frozenset[str]     # the pictures only hidden photos use: kept outside the output folder
    hidden: tuple[PhotoEntry, ...]  # the photos album.yaml hides, as the manifest has them
    duplicates: frozenset[str]  # web copies the run made of photos it set aside as duplicates: no one's


def published(manifest: Manifest) -> Published:
    """What of `manifest` readers get."""
    hidden = [photo for photo in manifest.photos if photo.hidden]
    hidden_names = {photo.source for photo in hidden}
    hidden_content = {photo.sha256 for photo in hidden if photo.sha256}
    shown = [_without_hidden_guide(photo, hidden_names, hidden_content)
             for photo in manifest.photos if not photo.hidden]
    skipped = [entry for entry in manifest.skipped
               if entry.source not in hidden_names and entry.duplicate_of not in hidden_names]
    album = manifest.album
    if album.cover in hidden_names:   # (album.yaml refuses it; an edited manifest need not)
        album = album.model_copy(update={"cover": None})
    shown_manifest = manifest.model_copy(update={"photos": shown, "skipped": skipped, "album": album})
    pictures = {path for photo in shown for path in photo.files()}
    every = {path for photo in manifest.photos for path in photo.files()}
    return Published(manifest=shown_manifest, files=frozenset({MANIFEST, *PAGE_FILES} | pictures),
                     pictures=frozenset(pictures), kept=frozenset(every - pictures), hidden=tuple(hidden),
                     duplicates=frozenset(duplicate_copies(manifest) - every))


def on_the_page(photo: PhotoEntry) -> bool:
    """Whether the post shows `photo`: published, and its web copies made (a photo that could
    not be read has none). What every count of the post's photos counts: the post's footer,
    the contact sheet, `dreamtrip blog`'s line."""
    return not photo.hidden and photo.ok and bool(photo.web)


def duplicate_copies(manifest: Manifest) -> set[str]:
    """The web copies a run made of the photos it then set aside as duplicates (the same content
    as a photo of the album: shown once, with that photo's files). Named as the original's
    (pipeline/output/store.py web_copy_name), with the duplicate's own name in front."""
    by_source = {photo.source: photo for photo in manifest.photos}
    found = set()
    for entry in manifest.skipped:
        original = by_source.get(entry.duplicate_of or "")
        if original is None:
            continue
        theirs, mine = readable_name(original.source), readable_name(entry.source)
        for name in (path.removeprefix(f"{PHOTOS_DIR}/") for web in original.web for path in web.files()):
            if name.startswith(f"{theirs}-"):
                found.add(f"{PHOTOS_DIR}/{mine}{name[len(theirs):]}")
    return found


def _without_hidden_guide(photo: PhotoEntry, names: set[str], contents: set[str]) -> PhotoEntry:
    """The photo, without its guide when the guide is a hidden photo (by name or by content):
    "Dreamed toward" would show it."""
    guide = photo.guide
    if guide is not None and (guide.name in names or guide.sha256 in contents):
        return photo.model_copy(update={"guide": None})
    return photo

"""Upkeep of an output folder after a run: `blog`, `clean` and `retry`, without dreaming.

blog: regenerate the post from manifest.json + album.yaml + the files on disk. For the traveller
who edits a caption, or drops a photo from the album, after the dreaming is done. It reads the
album's text and file list again (no images decoded), follows photos moved within the album by
their content (only files new to the manifest are hashed), drops the photos that are no longer
in the album, checks every file it publishes against its record by sha256 (every format of
every copy: a photo whose copy is damaged is marked failed, a dream missing), and rewrites
manifest.json, index.html and post.md. It loads neither torch nor Prefect, so it takes a moment even for a
large album. Stored results of dropped photos stay on disk until `dreamtrip clean`.

clean: find, and on request delete, what the output folder holds that the post no longer uses:
web copies and dreams of photos removed from the album, dreams made with settings since
changed, and temporary files that a killed run of dreamtrip left behind. Only files dreamtrip
recorded writing, and still as it wrote them, are ever listed (pipeline/output/folder.py): a file
of the traveller's is never touched, wherever it lies. What is used is judged by content: a
photo moved within the album keeps its files, and an album that holds few of the post's photos
(the wrong album, say) stops `clean` before anything is listed or deleted. A shared store (`output.store_dir`) is not
looked at: other albums may use it.

retry: what a run left unfinished, the settings to redo it with, and what it fixed.
"""

from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import PrivacySettings, Settings
from pipeline.ingest.album import AlbumText, find_photos, load_album_text
from pipeline.manifest import MISSING_FILE, MISSING_LOOP_FILE, DreamEntry, LoopEntry, Manifest, PhotoEntry, label
from pipeline.output.files import DiskFull, disk_full, sha256_of
from pipeline.output.folder import claim_output_folder, unused_files
from pipeline.output.kept import stored_intact
from pipeline.output.manifest_file import read_manifest, write_manifest
from pipeline.output.records import record_of
from pipeline.post.page import write_page
from pipeline.privacy import within_privacy

MISSING_WEB_COPY = ("a web copy of this photo is missing from the output folder, or damaged; "
                    "`dreamtrip retry` makes it again")
A_PREVIEW = "a preview (`run --preview` stopped before its full-size dream)"

# --- blog -----------------------------------------------------------------------------------------

@dataclass
class Refresh:
    """What changed between the manifest and the album as it is now."""

    manifest: Manifest
    removed: list[str] = field(default_factory=list)   # photos gone from the album: off the page
    new: list[str] = field(default_factory=list)       # photos not dreamed yet: `dreamtrip run`
    missing: list[str] = field(default_factory=list)   # "photo [layer]" whose file is gone or damaged
    moved: dict[str, str] = field(default_factory=dict)  # photos found elsewhere in the album: old -> new


def refresh_manifest(manifest: Manifest, album_dir: Path, out_dir: Path) -> Refresh:
    """The manifest with the album's current text and photo list; the input is not changed."""
    text, files = load_album_text(album_dir), find_photos(album_dir)
    text.check_cover(files.photos)
    in_album = set(files.photos)
    # Copies of a photo were set aside by the run (shown once): known, not new.
    duplicates = [entry for entry in manifest.skipped if entry.duplicate_of and entry.source in in_album]
    known = {photo.source for photo in manifest.photos} | {entry.source for entry in duplicates}
    moved = moved_photos(manifest, album_dir, [s for s in files.photos if s not in known])
    privacy = manifest.settings.privacy
    photos = [_refreshed(photo.model_copy(update={"source": moved.get(photo.source, photo.source)}), text, out_dir,
                         privacy)
              for photo in manifest.photos if photo.source in in_album or photo.source in moved]
    refreshed = manifest.model_copy(update={"photos": photos, **text.told(files, duplicates, album_dir)})
    return Refresh(refreshed, removed=sorted(s for s in known if s not in in_album and s not in moved),
                   new=[s for s in files.photos if s not in known and s not in moved.values()],
                   missing=[p.source for p in photos if p.error == MISSING_WEB_COPY] +
                           [label(p.source, d.layer) for p in photos for d in p.dreams if d.status == "missing"] +
                           [label(p.source, f"{p.loop.layer} loop") for p in photos
                            if p.loop and p.loop.status == "missing"],
                   moved=moved)


def moved_photos(manifest: Manifest, album_dir: Path, unknown: list[str]) -> dict[str, str]:
    """Photos of the manifest no longer at their place in the album but elsewhere in it, found
    by their content among the `unknown` files (those only are hashed): old source -> new."""
    lost = {photo.sha256: photo.source for photo in manifest.photos
            if photo.sha256 and not (Path(album_dir) / photo.source).is_file()}
    moved: dict[str, str] = {}
    for source in unknown if lost else []:
        try:
            old = lost.pop(sha256_of(Path(album_dir) / source), None)
        except OSError:
            continue
        if old is not None:
            moved[old] = source
    return moved


def _refreshed(photo: PhotoEntry, text: AlbumText, out_dir: Path, privacy: PrivacySettings) -> PhotoEntry:
    # Published again: a manifest of an older release may hold positions the settings forbid.
    checked = text.told_photo(photo.model_copy(update={"dreams": [_checked(dream, out_dir)
                                                                   for dream in photo.dreams],
                                                        "loop": _loop_checked(photo.loop, out_dir)}))
    return within_privacy(_copies_checked(checked, out_dir), privacy)


def _copies_checked(photo: PhotoEntry, out_dir: Path) -> PhotoEntry:
    """A photo whose web copies (every format) are not all as written is failed: the page must
    not show a damaged copy, and `dreamtrip retry` makes them again."""
    if photo.ok and not intact([path for web in photo.web for path in web.files()], out_dir):
        return photo.model_copy(update={"status": "failed", "error": MISSING_WEB_COPY})
    return photo


def intact(paths: list[str], out_dir: Path) -> bool:
    """Every one of these files is stored as dreamtrip wrote it (its size and sha256): in the
    output folder, or kept for it (a hidden photo's: pipeline/output/kept.py)."""
    return all(stored_intact(out_dir, path) for path in paths)


def _checked(dream: DreamEntry, out_dir: Path) -> DreamEntry:
    """ok when all its files (every format) are there as written (sha256), missing when one has
    gone or is damaged; a failed dream stays failed."""
    if dream.status == "failed" or dream.image is None:
        return dream
    if intact(dream.files(), out_dir):
        return dream.model_copy(update={"status": "ok", "error": None})
    return dream.model_copy(update={"status": "missing", "error": MISSING_FILE})


def _loop_checked(loop: LoopEntry | None, out_dir: Path) -> LoopEntry | None:
    """As _checked, for a dream loop: the page must not play a truncated or replaced MP4."""
    if loop is None or loop.status == "failed" or loop.video is None:
        return loop
    if intact(loop.files(), out_dir):
        return loop.model_copy(update={"status": "ok", "error": None})
    return loop.model_copy(update={"status": "missing", "error": MISSING_LOOP_FILE})


def rebuild_post(album_dir: Path, out_dir: Path, manifest: Manifest | None = None) -> tuple[Refresh, Path]:
    """Rewrite manifest.json, index.html and post.md from what is stored; the page's path.

    The caller holds the output folder's lock. `manifest`: OUT's, where the caller has read it
    under that lock (`blog`: one copy of a large album's manifest in memory, not two).
    """
    claim_output_folder(out_dir, top_only=True)
    refreshed = refresh_manifest(read_manifest(out_dir) if manifest is None else manifest, album_dir, out_dir)
    # A manifest of an older release may hold paths of the machine: not once it is rewritten.
    refreshed.manifest = refreshed.manifest.without_machine_paths(album_dir, out_dir)
    # The page first, the manifest last: a write that fails between them (a full disk) leaves
    # the earlier manifest, so the same command does it all again (clean_output relies on it).
    page = write_page(refreshed.manifest, out_dir)
    write_manifest(refreshed.manifest, out_dir)
    return refreshed, page


# --- clean ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cleaning:
    unused: list[Path]           # files the post does not use, sorted
    size: int                    # their bytes
    removed_photos: list[str]    # photos gone from the album (the post was rewritten without them)
    deleted: bool


def clean_output(album_dir: Path, out_dir: Path, delete: bool) -> Cleaning:
    """List (and with `delete`, delete) what the post no longer uses: a file is unused when no
    photo of the manifest still in the album (by place or content) needs it. The caller holds
    the lock."""
    claim_output_folder(out_dir, top_only=True)
    manifest = read_manifest(out_dir)
    refreshed = refresh_manifest(manifest, album_dir, out_dir)
    unused = unused_files(refreshed.manifest, out_dir)
    size = sum(path.stat().st_size for path in unused)
    if delete and unused:
        _check_deletable(unused)
        # The owner deletes each file that is still as written, and records it. What the post
        # links (the removed photos' files) goes only with the post rewritten without them.
        relatives = [path.relative_to(out_dir).as_posix() for path in unused]
        shown = {path for photo in manifest.photos for path in photo.files()}
        record_of(out_dir).delete([relative for relative in relatives if relative not in shown])
        if refreshed.removed:
            _rewrite_then_delete(album_dir, out_dir, [relative for relative in relatives if relative in shown])
        record_of(out_dir).compact()
    return Cleaning(unused, size, refreshed.removed if delete else [], delete and bool(unused))


# What `clean --yes` holds in memory of the files the post shows, to put them back should the post
# not fit on a full disk even once they are gone. More than this frees more than any post needs.
HELD_FOR_CLEAN = 256 << 20


def _rewrite_then_delete(album_dir: Path, out_dir: Path, shown: list[str]) -> None:
    """Rewrite the post without the removed photos, then delete their files (`shown`): all of it,
    or, on a full disk, the folder as it was. `clean --yes` is what a user runs on a full disk, so
    when the post does not fit, the space comes from those files: they go, the post is written
    again, and should it still not fit they are put back, as they were."""
    record = record_of(out_dir)
    try:
        rebuild_post(album_dir, out_dir)
    except (DiskFull, OSError) as err:
        if isinstance(err, OSError) and disk_full(err, out_dir) is None:
            raise
        sizes = sum((out_dir / relative).stat().st_size for relative in shown)
        held = {relative: (out_dir / relative).read_bytes() for relative in shown} if sizes <= HELD_FOR_CLEAN else {}
        gone = record.delete(shown)   # only files still as dreamtrip wrote them: only those come back
        _compact_if_it_fits(record)  # the record's appends take space too: a page of it can decide
        try:
            rebuild_post(album_dir, out_dir)
        except BaseException:
            _compact_if_it_fits(record)
            for relative in (relative for relative in gone if relative in held):
                record.write_bytes(relative, held[relative])
            raise
        return
    record.delete(shown)


def _compact_if_it_fits(record) -> None:
    with contextlib.suppress(DiskFull, OSError):
        record.compact()
def _check_deletable(paths: list[Path]) -> None:
    """Every file can go (its folder is writable) before the first goes: a read-only folder
    stops `clean --yes` with nothing deleted, rather than with the post pointing at gaps."""
    for folder in sorted({path.parent for path in paths}):
        if not os.access(folder, os.W_OK):
            raise PermissionError(errno.EACCES, "cannot delete files here (a read-only folder): "
                                  "nothing was deleted", str(folder))


# --- retry ----------------------------------------------------------------------------------------



@dataclass(frozen=True)
class Unfinished:
    source: str
    layer: str | None      # None: the whole photo
    reason: str
    loop: bool = False     # the photo's dream loop on `layer`, not its dream

    def __str__(self) -> str:
        return label(self.source, f"{self.layer} loop" if self.loop else self.layer)


def unfinished(manifest: Manifest, out_dir: Path) -> list[Unfinished]:
    """Failed photos, failed dreams and loops, previews (to dream at full size), and photos,
    dreams or loops marked ok with a file that is no longer there or no longer as it was
    written (by its sha256)."""
    todo = []
    for photo in manifest.photos:
        if not photo.ok:
            todo.append(Unfinished(photo.source, None, photo.error or photo.status))
            continue
        if not intact([path for web in photo.web for path in web.files()], out_dir):
            todo.append(Unfinished(photo.source, None, MISSING_WEB_COPY))
            continue
        for dream in photo.dreams:
            if not dream.ok:
                todo.append(Unfinished(photo.source, dream.layer, dream.error or dream.status))
            elif dream.preview:
                todo.append(Unfinished(photo.source, dream.layer, A_PREVIEW))
            elif not intact(dream.files(), out_dir):
                todo.append(Unfinished(photo.source, dream.layer, MISSING_FILE))
        loop = photo.loop
        if loop is not None and (not loop.ok or not intact(loop.files(), out_dir)):
            reason = loop.error or loop.status if not loop.ok else MISSING_LOOP_FILE
            todo.append(Unfinished(photo.source, loop.layer, reason, loop=True))
    return todo


def retry_settings(manifest: Manifest, out_dir: Path, device: str | None = None,
                   local: Settings | None = None) -> dict:
    """The settings that made the rest of the album, so the retried dreams match them: the
    same weights (not `auto` again), into the same folder; on another device if asked. The
    record holds no path of the machine: a shared store and the weights cache come from
    `local` (the user's -c file), else the defaults apply."""
    settings = manifest.settings.with_machine_paths_of(local).as_dict()
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
        elif item.loop:
            loop = photo.loop
            if loop is not None and loop.ok:
                fixed.append(str(item))
            else:
                failing.append(f"{item}: {loop.error if loop else 'no longer asked for'}")
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

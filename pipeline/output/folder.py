"""The output folder: which files in it are dreamtrip's, and the checks made before any work.

dreamtrip writes a fixed set of files at the top of the output folder (manifest.json and the
post's files) and everything in photos/ and dreams/. It overwrites and deletes only files it
recorded writing (pipeline/output/records.py): a file of someone else's in one of those places
stops a run before any work, with its name, and so does a link where dreamtrip writes.

An output folder without a record (made by an earlier release, or whose hidden record was lost,
e.g. by `cp -r OUT/* elsewhere/`) is adopted only as far as its content proves: a file of
photos/ and dreams/ counts as dreamtrip's when manifest.json names it and it is what dreamtrip
wrote there (its sha256, where the manifest records it; else, for a manifest of 0.2.0 which
records none, it decodes as a picture of the size the manifest says), and a page file when it
carries dreamtrip's mark; a picture the manifest does not name (an older settings' dream) only
when its name carries the content hash of one of the manifest's photos and it decodes at the
size its name says. A file merely named the way dreamtrip names files (`img-20240501-1.jpg`) is
never taken for one of dreamtrip's.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from pathlib import Path

from pipeline.formats import sniff_file
from pipeline.manifest import Manifest
from pipeline.output.files import LinkInTheWay, link_on_the_way, sha256_of
from pipeline.output.kept import kept_dir
from pipeline.output.layout import ASSETS, CONTACT_SHEET, INDEX, MANIFEST, MAP, PAGE_FILES, POST
from pipeline.output.lock import LOCK_FILE
from pipeline.output.manifest_file import is_output_folder
from pipeline.output.records import RECORD, FileRecord, Written, record_of
from pipeline.output.store import (
    DREAMS_DIR,
    PHOTOS_DIR,
    default_output_dir,
    made_name_parts,
    named_by_dreamtrip,
    stale_temp_files,
)
from pipeline.published import published

TOP_FILES = (MANIFEST, *PAGE_FILES)     # what dreamtrip writes at the top of an output folder
OWN_FOLDERS = (PHOTOS_DIR, DREAMS_DIR)  # and everything in these
# What dreamtrip's page files start with or hold (every release's): proof enough that a page
# file of a folder without a record is dreamtrip's.
_PAGE_MARKS = {INDEX: b'<meta name="generator" content="dreamtrip ',
               CONTACT_SHEET: b'<meta name="generator" content="dreamtrip ',
               **{asset: b"/* dreamtrip:" for asset in ASSETS}}


class OutputFolderError(Exception):
    """The output folder cannot be used as it is: one line saying why and what to do (exit 2)."""


def check_folders(album_dir: Path, out_dir: Path, store_dir: Path | None = None) -> None:
    """Before the output folder is touched (or even locked): the album, the output folder and
    the store do not overlap in ways that lose photos or feed dreamtrip its own output, and a
    folder that is not dreamtrip's holds nothing where dreamtrip writes (so not even a lock
    file is left in it)."""
    album, out = Path(album_dir).resolve(), Path(out_dir).resolve()
    if album == out:
        instead = default_output_dir(album)
        instead = instead if instead.resolve() != album else album.parent / f"{album.name}-post"
        raise OutputFolderError(
            f"{album_dir} is the album folder: dreamtrip does not write its post among your photos; "
            f"write it to another folder, e.g. -o {instead}")
    if is_output_folder(album):
        raise OutputFolderError(
            f"{album_dir} is a dreamtrip output folder (it holds dreamtrip's {MANIFEST}), not an album: "
            "give the album folder it was made from")
    _refuse_overlaps(album_dir, album, out_dir, out, store_dir)
    if out.is_dir() and not is_output_folder(out):  # (a file there is said by the caller's check)
        _refuse_strangers(out_dir, foreign_files(out, record_of(out)))


def _refuse_overlaps(album_dir: Path, album: Path, out_dir: Path, out: Path, store_dir: Path | None) -> None:
    """The album inside an output folder (dreamtrip would dream its own copies), the output
    folder inside the album among its photos (they would drop out of the album), the store in
    the album (its dreams and record would land among the photos) or in the output folder (the
    folder one publishes would hold the store, whose files its own record does not know: the
    next run stops at them)."""
    holder = next((folder for folder in album.parents if is_output_folder(folder)), None)
    if album.is_relative_to(out) or holder is not None:
        raise OutputFolderError(
            f"{album_dir} is inside the output folder {holder or out_dir}: dreamtrip would dream its own "
            "copies; give the album folder the post was made from, or write to a folder outside it with -o")
    if out.is_relative_to(album) and out.is_dir() and not is_output_folder(out) and _holds_photos(out):
        raise OutputFolderError(
            f"-o {out_dir} is a folder of the album {album_dir} that holds photos: they would drop out of "
            "the post; write it to a folder outside the album, or to a new one")
    if store_dir is not None:
        store = Path(store_dir).resolve()
        if store.is_relative_to(album):
            raise OutputFolderError(
                f"output.store_dir {store_dir} is {'the album' if store == album else 'inside the album'} "
                f"{album_dir}: dreamtrip does not keep its dreams among your photos; choose a folder "
                "outside the album")
        if store.is_relative_to(out):
            where = "the output folder" if store == out else "inside the output folder"
            raise OutputFolderError(
                f"output.store_dir {store_dir} is {where} {out_dir}: the store keeps every dream of "
                "every run, the output folder only what the post shows; choose a store outside it")


def _holds_photos(folder: Path) -> bool:
    """Whether a file under `folder` is a photo by its content (pipeline/formats.py)."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            with contextlib.suppress(OSError):
                if not name.startswith(".") and sniff_file(Path(root) / name).is_photo:
                    return True
    return False


def claim_output_folder(out_dir: Path, top_only: bool = False) -> FileRecord:
    """Before any work, holding the folder's lock: stop at a link where dreamtrip writes, adopt
    what a folder without a record proves to be dreamtrip's, and stop if a file dreamtrip did
    not write stands where it writes (`top_only`: only the top files, for the commands that
    write nothing else). Returns the folder's record."""
    refuse_links_where_written(Path(out_dir))
    record = record_of(out_dir)
    adopt_earlier_release(Path(out_dir), record)
    _refuse_strangers(out_dir, foreign_files(Path(out_dir), record, top_only))
    return record


def refuse_links_where_written(out_dir: Path) -> None:
    """LinkInTheWay for a symbolic link in the place of a file or folder dreamtrip writes at
    the top of `out_dir` (its record, its lock, the post's files, photos/ and dreams/)."""
    for name in (RECORD, LOCK_FILE, *TOP_FILES, *OWN_FOLDERS):
        if link_on_the_way(out_dir, name) is not None:
            raise LinkInTheWay(out_dir / name)


def _refuse_strangers(out_dir: Path, strangers: list[str]) -> None:
    if strangers:
        more = f" (and {len(strangers) - 1} more)" if len(strangers) > 1 else ""
        raise OutputFolderError(
            f"{Path(out_dir) / strangers[0]}{more} was not written by dreamtrip, and dreamtrip writes "
            f"there: move it out of {out_dir}, or write to another folder with -o")


def foreign_files(out_dir: Path, record: FileRecord, top_only: bool = False) -> list[str]:
    """Files where dreamtrip writes that it did not write, relative to `out_dir`, sorted. Hidden
    files in photos/ and dreams/ (a desktop's .DS_Store) are not in the way and are left alone."""
    found = [name for name in TOP_FILES if os.path.lexists(out_dir / name)]
    if not top_only:
        found += _files_in(out_dir, OWN_FOLDERS)
    recorded = record.files()
    return sorted(name for name in found if name not in recorded)


def _files_in(out_dir: Path, folders) -> list[str]:
    found = []
    for folder in folders:
        for root, dirs, files in os.walk(out_dir / folder):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            found += [(Path(root) / name).relative_to(out_dir).as_posix()
                      for name in files + [d for d in dirs if (Path(root) / d).is_symlink()]
                      if not name.startswith(".")]
    return found


def adopt_earlier_release(out_dir: Path, record: FileRecord) -> None:
    """An output folder with a manifest but no record (an earlier release's, or one whose record
    was lost): record what its content proves dreamtrip wrote (see the module's docstring) as it
    is now. Nothing to do otherwise."""
    if record.exists() or not is_output_folder(out_dir):
        return
    manifest = _read_loosely(out_dir / MANIFEST)
    names = {MANIFEST} | {name for name in PAGE_FILES if _page_file_proven(out_dir, name, manifest)}
    named = _pictures_in_manifest(manifest)
    names |= {name for name, proof in named.items() if _picture_proven(out_dir, name, proof)}
    names |= _named_for_its_photos(out_dir, manifest, set(named))
    record.note_many({name: Written.of(out_dir / name) for name in sorted(names) if _plain_file(out_dir, name)})


def _plain_file(out_dir: Path, name: str) -> bool:
    try:
        return stat.S_ISREG(os.lstat(out_dir / name).st_mode) and link_on_the_way(out_dir, name) is None
    except OSError:
        return False


def _read_loosely(path: Path) -> dict:
    """A manifest of any release as plain data (an earlier release's need not validate as this
    one's); {} when it cannot be read."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _pictures_in_manifest(manifest: dict) -> dict[str, str | tuple[int, int]]:
    """Every photos/ or dreams/ file the manifest names, with its proof: the sha256 the manifest
    records for it, else the (width, height) a picture there must have."""
    hashes = manifest.get("written") if isinstance(manifest.get("written"), dict) else {}
    found: dict[str, str | tuple[int, int]] = {}

    def visit(value) -> None:
        if isinstance(value, dict):
            path, width, height = value.get("path"), value.get("width"), value.get("height")
            if isinstance(path, str) and path.partition("/")[0] in OWN_FOLDERS and ".." not in path.split("/"):
                if isinstance(hashes.get(path), str):
                    found[path] = hashes[path]
                elif isinstance(width, int) and isinstance(height, int):
                    found[path] = (width, height)
                for twin in (value.get("alternates") or {}).values():
                    if isinstance(twin, str) and isinstance(hashes.get(twin), str):
                        found[twin] = hashes[twin]
            for item in value.values():
                visit(item)
        elif isinstance(value, list):
            for item in value:
                visit(item)

    visit(manifest.get("photos", []))
    return found


def _picture_proven(out_dir: Path, name: str, proof: str | tuple[int, int]) -> bool:
    """The file is what dreamtrip wrote: its sha256 is the one recorded, or (a manifest that
    records none) it decodes whole as a picture of the size the manifest says."""
    if not _plain_file(out_dir, name):
        return False
    if isinstance(proof, str):
        return sha256_of(out_dir / name, follow=False) == proof
    from PIL import Image  # only for a folder without a record, once

    try:
        with Image.open(out_dir / name) as image:
            image.load()
            return image.size == proof
    except Exception:  # a decoder raises many kinds on what is not a picture
        return False


def _named_for_its_photos(out_dir: Path, manifest: dict, named: set[str]) -> set[str]:
    """Pictures the manifest does not name (`named`: those it does, proven otherwise) whose name
    carries the content hash of one of its photos, as dreamtrip names them, and that decode whole
    at the size the name says (an older settings' dreams): a traveller's `img-20240501-1.jpg`
    names no photo's hash."""
    photos = manifest.get("photos") if isinstance(manifest.get("photos"), list) else []
    hashes = [p["sha256"] for p in photos if isinstance(p, dict) and isinstance(p.get("sha256"), str)]
    found = set()
    for name in _files_in(out_dir, OWN_FOLDERS):
        parts = made_name_parts(name) if name not in named else None
        if parts is not None and any(h.startswith(parts[0]) for h in hashes) and _decodes(out_dir / name, parts[1]):
            found.add(name)
    return found


def _decodes(path: Path, long_side: int | None) -> bool:
    """The file decodes whole as a picture (of `long_side` when given)."""
    from PIL import Image  # only for a folder without a record, once

    try:
        with Image.open(path) as image:
            image.load()
            return long_side is None or max(image.size) == long_side
    except Exception:  # a decoder raises many kinds on what is not a picture
        return False


def _page_file_proven(out_dir: Path, name: str, manifest: dict) -> bool:
    """A page file carries dreamtrip's mark; post.md and map.svg, which have none, name the
    manifest's album title, and its pictures or places."""
    if not _plain_file(out_dir, name):
        return False
    try:
        with open(out_dir / name, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return False
    if name in _PAGE_MARKS:
        return _PAGE_MARKS[name] in head
    album = manifest.get("album") if isinstance(manifest.get("album"), dict) else {}
    title = album.get("title")
    if name == POST:
        pictures = _pictures_in_manifest(manifest)
        return isinstance(title, str) and title.encode() in head and any(p.encode() in head for p in pictures)
    return name == MAP and head.startswith(b"<!-- dreamtrip: ")


def adopt_store(store_dir: Path) -> None:
    """A shared store filled by an earlier release has no record: its dreams, under the names
    dreamtrip makes, count as dreamtrip's (other albums' runs may be adding to it)."""
    record = record_of(store_dir)
    if record.exists():
        return
    names = [name for name in _files_in(Path(store_dir), (DREAMS_DIR,)) if named_by_dreamtrip(name)]
    record.note_many({name: Written.of(Path(store_dir) / name) for name in names if _plain_file(Path(store_dir), name)})


def sweep_temp_files(out_dir: Path, store_dir: Path | None = None, store_age_s: float = 24 * 3600) -> int:
    """Delete the temp files killed runs of dreamtrip left in the folders it writes (the output
    folder, its kept folder, the shared store); how many. A shared store's young ones may belong
    to another album's run that is writing right now."""
    leftovers = stale_temp_files(Path(out_dir))  # the caller holds the lock: no one else writes here
    if (kept := kept_dir(out_dir)).is_dir():     # nor in its kept folder (a hidden photo's files)
        leftovers += stale_temp_files(kept)
    if store_dir is not None:
        leftovers += stale_temp_files(Path(store_dir), older_than_s=store_age_s)
    for path in leftovers:
        path.unlink(missing_ok=True)
    return len(leftovers)


def tidy_before_run(out_dir: Path, store_dir: Path | None) -> int:
    """What a run (the flow, or a rerun with nothing to dream) does first, holding the output
    folder's lock: adopt a shared store of an earlier release, then sweep the temp files killed
    runs left (never trusted: they have no final name, but clutter); how many it swept."""
    if store_dir is not None:
        adopt_store(store_dir)
    return sweep_temp_files(out_dir, store_dir)


def used_files(manifest: Manifest) -> set[str]:
    """What belongs in the output folder of `manifest`: what it publishes (pipeline/published.py),
    and the files kept for its hidden photos (pipeline/output/kept.py moves them out when the post
    is written; until then they are not unused)."""
    shown = published(manifest)
    return set(TOP_FILES) | shown.files | shown.kept


def sweep_unused(manifest: Manifest, out_dir: Path, among: set[str]) -> list[str]:
    """Delete those of `among` (an earlier page's previews, `run --preview`) that the post of
    `manifest` no longer uses, as `clean --yes` deletes them: only files dreamtrip recorded
    writing and that are still as it wrote them. Those deleted, relative to `out_dir`."""
    unused = sorted(name for name in among - used_files(manifest) if name not in (RECORD, LOCK_FILE))
    return record_of(out_dir).delete(unused)


def unused_files(manifest: Manifest, out_dir: Path) -> list[Path]:
    """What `dreamtrip clean` deletes, sorted: files dreamtrip recorded writing that are still as
    it wrote them (sha256, and not reached through a link) and that no photo of `manifest`
    needs, and the temp files of dreamtrip's killed runs. Never anything else: a file of the
    traveller's, or one changed since, stays."""
    record, used = record_of(out_dir), used_files(manifest)
    unused = [Path(out_dir) / name for name in record.files()
              if name not in used and name not in (RECORD, LOCK_FILE) and record.intact(name)]
    return sorted(unused + stale_temp_files(Path(out_dir)))

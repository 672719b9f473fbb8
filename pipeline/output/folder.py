"""The output folder: which files in it are dreamtrip's, and the checks made before any work.

dreamtrip writes a fixed set of files at the top of the output folder (manifest.json and the
post's files) and everything in photos/ and dreams/. It overwrites and deletes only files it
recorded writing (pipeline/output/records.py): a file of someone else's in one of those places stops a
run before any work, with its name. An output folder made by an earlier release, which kept no
record, is adopted once: the files its manifest names, and the files in photos/ and dreams/
under the names dreamtrip makes (no one else makes them: they carry content hashes), count as
written by dreamtrip, so upgrading refuses nothing and loses nothing.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from pipeline.manifest import MANIFEST, Manifest, is_output_folder
from pipeline.output.layout import PAGE_FILES
from pipeline.output.records import FileRecord, Written, record_of
from pipeline.output.store import DREAMS_DIR, PHOTOS_DIR, default_output_dir, named_by_dreamtrip, stale_temp_files

TOP_FILES = (MANIFEST, *PAGE_FILES)     # what dreamtrip writes at the top of an output folder
OWN_FOLDERS = (PHOTOS_DIR, DREAMS_DIR)  # and everything in these
# Temp files of releases before the record (tempfile.mkstemp with prefix ".tmp-").
_OLD_TEMP = re.compile(r"\.tmp-[a-z0-9_]{8}(\.[a-z]+)?")


class OutputFolderError(Exception):
    """The output folder cannot be used as it is: one line saying why and what to do (exit 2)."""


def check_folders(album_dir: Path, out_dir: Path) -> None:
    """Before the output folder is touched (or even locked): the album and the output folder
    are different folders, the album is not itself an output folder, and a folder that is not
    dreamtrip's holds nothing where dreamtrip writes (so not even a lock file is left in it)."""
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
    if out.is_dir() and not is_output_folder(out):  # (a file there is said by the caller's check)
        _refuse_strangers(out_dir, foreign_files(out, record_of(out)))


def claim_output_folder(out_dir: Path, top_only: bool = False) -> FileRecord:
    """Before any work, holding the folder's lock: adopt an earlier release's output folder, and
    stop if a file dreamtrip did not write stands where it writes (`top_only`: only the top
    files, for the commands that write nothing else). Returns the folder's record."""
    record = record_of(out_dir)
    adopt_earlier_release(Path(out_dir), record)
    _refuse_strangers(out_dir, foreign_files(Path(out_dir), record, top_only))
    return record


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
    """An output folder with a manifest but no record was made by an earlier release: record
    what it wrote (see the module's docstring) as it is now. Nothing to do otherwise."""
    if record.exists() or not is_output_folder(out_dir):
        return
    names = set(TOP_FILES) | _named_in_manifest(out_dir / MANIFEST)
    names |= {name for name in _files_in(out_dir, OWN_FOLDERS) if named_by_dreamtrip(name)}
    names |= {entry.name if where == "" else f"{where}/{entry.name}"
              for where in ("", *OWN_FOLDERS) for entry in _entries(out_dir / where)
              if _OLD_TEMP.fullmatch(entry.name)}
    record.note_many({name: Written.of(out_dir / name) for name in sorted(names)
                      if (out_dir / name).is_file() and not (out_dir / name).is_symlink()})


def _entries(folder: Path) -> list[os.DirEntry]:
    try:
        return [entry for entry in os.scandir(folder) if entry.is_file(follow_symlinks=False)]
    except OSError:
        return []


def _named_in_manifest(path: Path) -> set[str]:
    """Every photos/ or dreams/ file a manifest of any release names (read loosely: the
    manifest of an earlier release need not validate as this one's)."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return set()
    found: set[str] = set()

    def visit(value) -> None:
        if isinstance(value, dict):
            path_value = value.get("path")
            if isinstance(path_value, str) and path_value.partition("/")[0] in OWN_FOLDERS:
                found.add(path_value)
            for item in value.values():
                visit(item)
        elif isinstance(value, list):
            for item in value:
                visit(item)

    visit(data.get("photos", []) if isinstance(data, dict) else [])
    return {name for name in found if ".." not in name.split("/")}


def adopt_store(store_dir: Path) -> None:
    """A shared store filled by an earlier release has no record: its dreams, under the names
    dreamtrip makes, count as dreamtrip's (other albums' runs may be adding to it)."""
    record = record_of(store_dir)
    if record.exists():
        return
    names = [name for name in _files_in(Path(store_dir), (DREAMS_DIR,)) if named_by_dreamtrip(name)]
    record.note_many({name: Written.of(Path(store_dir) / name) for name in names})


def sweep_temp_files(out_dir: Path, store_dir: Path | None = None, store_age_s: float = 24 * 3600) -> int:
    """Delete the temp files killed runs left in the folders dreamtrip writes; how many. A shared
    store's young ones may belong to another album's run that is writing right now."""
    leftovers = stale_temp_files(Path(out_dir))  # the caller holds the lock: no one else writes here
    if store_dir is not None:
        leftovers += stale_temp_files(Path(store_dir), older_than_s=store_age_s)
    for path in leftovers:
        path.unlink(missing_ok=True)
    return len(leftovers)


def used_files(manifest: Manifest) -> set[str]:
    """What the post of `manifest` uses: its top files and every photo's web copies and dreams."""
    return set(TOP_FILES) | {path for photo in manifest.photos for path in photo.files()}


def unused_files(manifest: Manifest, out_dir: Path) -> list[Path]:
    """What `dreamtrip clean` deletes, sorted: files dreamtrip recorded writing that are still as
    it wrote them (sha256) and that the post does not use, and the temp files of killed runs.
    Never anything else: a file of the traveller's, or one changed since, stays."""
    record, used = record_of(out_dir), used_files(manifest)
    unused = [Path(out_dir) / name for name in record.files()
              if name not in used and record.intact(name, by_hash=True)]
    return sorted(unused + stale_temp_files(Path(out_dir)))

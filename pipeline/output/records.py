"""The record of every file dreamtrip wrote in a folder: what it may overwrite, delete and trust.

An output folder (and a shared store) keeps `.dreamtrip-files.jsonl` beside its files: a line
per file written (its path relative to the folder, size and sha256), appended by the writer
after the file is complete and before it is renamed into place. So a file under a final name is
always recorded, whatever stops the run (kill -9 or a power cut included); a line that names a
file that never got its name only makes that file look damaged, and it is made again. Further
lines say a file was deleted, and when a run started and finished (a run that started and did
not finish leaves its files to be checked by hash, not by size only).

Each line is one append (a single write), so threads and processes that write the same folder
never lose each other's lines; a line cut short is ignored. What the record decides:
- a file that is not in it is not dreamtrip's: never overwritten, never deleted;
- a recorded file whose size (or sha256, when asked) differs from its record is damaged: a run
  makes it again rather than publish it.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable

from pipeline.output.files import (check_image_decodes, copy_atomic, encode_image, sha256_of,
                            write_bytes_atomic)

RECORD = ".dreamtrip-files.jsonl"
_STARTED, _FINISHED = "started", "finished"


@dataclass(frozen=True)
class Written:
    """What a file held when dreamtrip wrote it."""

    size: int
    sha256: str

    @classmethod
    def of(cls, path: Path) -> "Written":
        return cls(path.stat().st_size, sha256_of(path))


class FileRecord:
    """The record of one folder. Use `record_of(folder)`: one per folder and process, kept in
    step with the file on disk (other processes append to it too)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._lock = threading.RLock()
        self._files: dict[str, Written] = {}
        self._run: str | None = None
        self._read_to: tuple[int, int] | None = None  # (inode, bytes read) of the record file

    @property
    def path(self) -> Path:
        return self.root / RECORD

    def exists(self) -> bool:
        return self.path.is_file()

    # ---- reading

    def files(self) -> dict[str, Written]:
        """Every recorded file, by path relative to the folder."""
        with self._lock:
            self._catch_up()
            return dict(self._files)

    def get(self, relative: str) -> Written | None:
        with self._lock:
            self._catch_up()
            return self._files.get(relative)

    def intact(self, relative: str, by_hash: bool = False) -> bool:
        """The file is there, recorded, and as it was written: the same size, and with
        `by_hash` the same sha256 (reads the whole file)."""
        path = self.root / relative
        try:
            info = path.stat()
        except OSError:
            return False
        written = self.get(relative)
        if written is None or not stat.S_ISREG(info.st_mode) or info.st_size != written.size:
            return False
        return not by_hash or sha256_of(path) == written.sha256

    def last_run_finished(self) -> bool:
        """False when a run started here and never finished (killed, crashed)."""
        with self._lock:
            self._catch_up()
            return self._run != _STARTED

    def _catch_up(self) -> None:
        """Read what was appended since the last look (or all of it, after a compaction)."""
        try:
            f = open(self.path, "rb")
        except (FileNotFoundError, NotADirectoryError):
            self._files, self._run, self._read_to = {}, None, None
            return
        with f:
            info = os.fstat(f.fileno())
            start = 0
            if self._read_to and self._read_to[0] == info.st_ino and self._read_to[1] <= info.st_size:
                start = self._read_to[1]
            else:
                self._files, self._run = {}, None
            f.seek(start)
            data = f.read(info.st_size - start)
        complete = data[:data.rfind(b"\n") + 1]  # a line still being written is read next time
        for line in complete.splitlines():
            self._apply(line)
        self._read_to = (info.st_ino, start + len(complete))

    def _apply(self, line: bytes) -> None:
        try:
            entry = json.loads(line)
        except ValueError:  # blank, or cut short by a crash
            return
        if not isinstance(entry, dict):
            return
        if entry.get("run") in (_STARTED, _FINISHED):
            self._run = entry["run"]
            return
        relative = entry.get("path")
        if not _inside(relative):
            return
        if entry.get("gone"):
            self._files.pop(relative, None)
        elif isinstance(entry.get("size"), int) and isinstance(entry.get("sha256"), str):
            self._files[relative] = Written(entry["size"], entry["sha256"])

    # ---- writing

    def note(self, relative: str, written: Written) -> None:
        self.note_many({relative: written})

    def note_many(self, files: dict[str, Written]) -> None:
        self._append([{"path": relative, "size": w.size, "sha256": w.sha256} for relative, w in files.items()])

    def forget(self, relatives: list[str]) -> None:
        """These files were deleted by dreamtrip."""
        self._append([{"path": relative, "gone": True} for relative in relatives])

    def begin_run(self) -> bool:
        """Mark a run as started; whether the one before it finished."""
        finished = self.last_run_finished()
        self._append([{"run": _STARTED}])
        return finished

    def end_run(self) -> None:
        self.compact(run=_FINISHED)

    def _append(self, entries: list[dict]) -> None:
        if not entries:
            return
        # Each line starts with a newline too: a line cut short by a crash is ended by the next one.
        data = b"".join(b"\n" + json.dumps(entry, ensure_ascii=False).encode() + b"\n" for entry in entries)
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            # One write, so that appends of other writers never land inside it; a short one (a
            # full disk) must stop the file it records from getting its name.
            if os.write(fd, data) != len(data):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))
        finally:
            os.close(fd)

    def compact(self, run: str | None = None) -> None:
        """Rewrite the record as its current state: one line per file that is still there.
        Only while no one else writes the folder (the output folder's lock is held)."""
        with self._lock:
            self._catch_up()
            run = run or self._run
            lines = [{"run": run}] if run else []
            lines += [{"path": relative, "size": w.size, "sha256": w.sha256}
                      for relative, w in sorted(self._files.items()) if os.path.lexists(self.root / relative)]
            write_bytes_atomic(self.path, b"".join(json.dumps(line, ensure_ascii=False).encode() + b"\n"
                                                   for line in lines))
            self._read_to = None

    def write_bytes(self, relative: str, data: bytes, check: Callable[[Path], None] | None = None) -> None:
        """Write `data` as `relative`, whole (pipeline/output/files.py), and recorded before it gets its name."""
        written = Written(len(data), hashlib.sha256(data).hexdigest())
        write_bytes_atomic(self.root / relative, data, check=self._recorded(relative, written, check))

    def save_image(self, image, relative: str, **save_options) -> None:
        """Save a Pillow image as `relative`; the format comes from its extension."""
        self.write_bytes(relative, encode_image(image, relative, **save_options), check=check_image_decodes)

    def copy(self, source: Path, relative: str, link: bool = False, written: Written | None = None) -> None:
        """`source` (hard-linked when `link` and possible) as `relative`; `written` is its record
        where the caller has it (else the file is hashed)."""
        copy_atomic(source, self.root / relative, link,
                    check=self._recorded(relative, written or Written.of(Path(source))))

    def _recorded(self, relative: str, written: Written, check=None) -> Callable[[Path], None]:
        """The last step before a temp file is renamed to `relative`: checked, then recorded."""
        def check_and_record(tmp: Path) -> None:
            if check is not None:
                check(tmp)
            self.note(relative, written)
        return check_and_record


def _inside(relative) -> bool:
    """A relative, '/'-separated path that stays inside the folder (a record names nothing else)."""
    if not isinstance(relative, str) or not relative or "\\" in relative or "\0" in relative:
        return False
    parts = PurePosixPath(relative).parts
    return not PurePosixPath(relative).is_absolute() and ".." not in parts and "." not in parts


_records: dict[str, FileRecord] = {}
_records_lock = threading.Lock()


def record_of(folder: Path) -> FileRecord:
    """This process's record of `folder` (one per folder, so each reads the file once)."""
    key = os.path.abspath(folder)
    with _records_lock:
        if key not in _records:
            _records[key] = FileRecord(Path(key))
        return _records[key]

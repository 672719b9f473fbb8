"""The record of every file dreamtrip wrote in a folder: what it may overwrite, delete and trust.

An output folder (and a shared store) keeps `.dreamtrip-files.jsonl` beside its files: a line
per file written (its path relative to the folder, size and sha256), appended by the writer
after the file is complete and before it is renamed into place. So a file under a final name is
always recorded, whatever stops the run (kill -9 or a power cut included); a line that names a
file that never got its name only makes that file look damaged, and it is made again. Further
lines say a file was deleted, when a run started and finished, which processes wrote temp
files here (their tokens), and who holds a name here (a claim: in a blog's site, which album's
export owns a post; the first claim of a name holds it).

Each line is one append (a single write), so threads and processes that write the same folder
never lose each other's lines; a line cut short is ignored. The record is never written through
a link: a symbolic link in its place is refused (LinkInTheWay), a hard link is replaced by a
file of its own. Each process that writes here notes its temp-file token first, so that only
dreamtrip's own temp files are ever swept (a `.dreamtrip-tmp-` file of anyone else's stays).
What the record decides:
- a file that is not in it is not dreamtrip's: never overwritten, never deleted;
- a recorded file whose size (or sha256, when asked) differs from its record is damaged: a run
  makes it again rather than publish it;
- a recorded path reached through a symbolic link (a planted `photos/sub` -> the album) is not
  intact, and is never deleted.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import secrets
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable

from pipeline.output.files import (
    TEMP_PREFIX,
    LinkInTheWay,
    atomic_path,
    check_image_decodes,
    copy_atomic,
    encode_image,
    link_on_the_way,
    open_own,
    refuse_links,
    sha256_of,
    write_bytes_atomic,
)

RECORD = ".dreamtrip-files.jsonl"
_STARTED, _FINISHED = "started", "finished"
# This process's token in the names of its temp files (`.dreamtrip-tmp-<token>-…`): noted in a
# folder's record before its first temp file there, so a sweep knows the file for dreamtrip's.
_TEMP_TOKEN = secrets.token_hex(4)
# The folders dreamtrip writes temp files in, relative to an output folder or store.
TEMP_FOLDERS = ("", "photos", "dreams")
# A file's sha256 by what its lstat says of it, (path, device, inode, size, mtime_ns, ctime_ns):
# one command checks the same files more than once (retry's look at what is unfinished, then
# the flow; a rerun's check, then export's), and reads each once. Any write changes the key
# (mtime, ctime; a replaced file has another inode). A file changed within a tick of the
# filesystem's clock could keep its key, so only a file untouched for _SETTLED_NS is memoised.
_hashes: dict[tuple, str] = {}
_hashes_lock = threading.Lock()
_SETTLED_NS = 2_000_000_000   # FAT keeps mtime to 2 s; other clocks are finer


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
        self._temps: set[str] = set()       # tokens of processes that wrote temp files here
        self._claims: dict[str, str] = {}   # a claimed name -> its owner
        self._noted_token = False
        self._run: str | None = None
        self._read_to: tuple[int, int] | None = None  # (inode, bytes read) of the record file

    @property
    def path(self) -> Path:
        return self.root / RECORD

    def exists(self) -> bool:
        """Whether the folder has a record (a link in its place counts: it is refused, never
        taken for a lost record)."""
        return os.path.lexists(self.path)

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

    def holds(self, relative: str, data: bytes) -> bool:
        """The file is there as written, and what was written is `data`: writing it again would
        change nothing (and on a full disk, fail for want of room for its temp copy)."""
        written = self.get(relative)
        return (written is not None and written.size == len(data)
                and written.sha256 == hashlib.sha256(data).hexdigest() and self.intact(relative))

    def intact(self, relative: str) -> bool:
        """The file is there, recorded, and as it was written: the same size and the same sha256
        (read once per process while its stat stays the same: _sha256_memoised). Never through a
        symbolic link. The one test of a stored file that every command trusts."""
        path = self.root / relative
        try:
            info = path.lstat()
        except OSError:
            return False
        written = self.get(relative)
        if written is None or not stat.S_ISREG(info.st_mode) or info.st_size != written.size:
            return False
        if link_on_the_way(self.root, relative) is not None:
            return False
        try:
            return _sha256_memoised(path, info) == written.sha256
        except OSError:
            return False

    def claims(self) -> dict[str, str]:
        """Every claimed name and its owner (see `claim`)."""
        with self._lock:
            self._catch_up()
            return dict(self._claims)

    def temp_tokens(self) -> set[str]:
        """The tokens of the processes that noted writing temp files here."""
        with self._lock:
            self._catch_up()
            return set(self._temps)

    def own_temp_files(self, older_than_s: float = 0.0) -> list[Path]:
        """Temp files that dreamtrip's writers left here (a killed run's), in the folders it
        writes (the folder itself, photos/ and dreams/; nothing deeper): those named with a
        token this record noted, older than `older_than_s` seconds. Only call this with 0
        while holding the folder's lock: a running writer's temp file is young."""
        tokens, cutoff, found = self.temp_tokens(), time.time() - older_than_s, []
        for where in TEMP_FOLDERS:
            if where and link_on_the_way(self.root, where) is not None:
                continue
            with contextlib.suppress(OSError):  # a folder that is not there holds none
                for entry in os.scandir(self.root / where):
                    if _temp_token(entry.name) in tokens and entry.is_file(follow_symlinks=False):
                        with contextlib.suppress(FileNotFoundError):  # renamed into place meanwhile
                            if entry.stat(follow_symlinks=False).st_mtime <= cutoff:
                                found.append(Path(entry.path))
        return sorted(found)

    def last_run_finished(self) -> bool:
        """False when a run started here and never finished (killed, crashed)."""
        with self._lock:
            self._catch_up()
            return self._run != _STARTED

    def _catch_up(self) -> None:
        """Read what was appended since the last look (or all of it, after a compaction)."""
        try:
            f = open(open_own(self.path, os.O_RDONLY), "rb")
        except (FileNotFoundError, NotADirectoryError, LinkInTheWay):  # a link: claiming refuses it
            self._files, self._run, self._read_to = {}, None, None
            self._temps, self._claims = set(), {}
            return
        with f:
            info = os.fstat(f.fileno())
            start = 0
            if self._read_to and self._read_to[0] == info.st_ino and self._read_to[1] <= info.st_size:
                start = self._read_to[1]
            else:
                self._files, self._run, self._temps, self._claims = {}, None, set(), {}
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
        if isinstance(entry.get("temps"), str):
            self._temps.add(entry["temps"])
            return
        if isinstance(entry.get("claim"), str) and isinstance(entry.get("owner"), str):
            self._claims.setdefault(entry["claim"], entry["owner"])   # the first claim holds
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

    def claim(self, name: str, owner: str) -> bool:
        """Claim `name` for `owner`, unless someone holds it; whether `owner` holds it now (two
        writers claiming at once: the first line appended wins, and the other is told)."""
        if self.claims().get(name) is None:
            self._append([{"claim": name, "owner": owner}])
        return self.claims().get(name) == owner

    def forget(self, relatives: list[str]) -> None:
        """These files were deleted by dreamtrip."""
        self._append([{"path": relative, "gone": True} for relative in relatives])

    def delete(self, relatives: list[str]) -> list[str]:
        """Delete those of these files that dreamtrip wrote and that are still as it wrote them
        (sha256; never through a symbolic link), and the temp files its killed writers left
        here; record that they are gone. Returns those deleted: anything else is left alone."""
        temps = {path.relative_to(self.root).as_posix() for path in self.own_temp_files()}
        gone = [relative for relative in relatives if relative in temps or self.intact(relative)]
        for relative in gone:
            (self.root / relative).unlink(missing_ok=True)
        self.forget([relative for relative in gone if relative not in temps])
        return gone

    def temp_prefix(self) -> str:
        """The start of this process's temp files' names here, noted in the record first."""
        with self._lock:
            if not self._noted_token:
                self._append([{"temps": _TEMP_TOKEN}])
                self._noted_token = True
        return f"{TEMP_PREFIX}{_TEMP_TOKEN}-"

    def begin_run(self) -> None:
        """Mark a run as started (until end_run, last_run_finished says it did not finish)."""
        self._append([{"run": _STARTED}])

    def end_run(self) -> None:
        self.compact(run=_FINISHED)

    def _append(self, entries: list[dict]) -> None:
        if not entries:
            return
        # Each line starts with a newline too: a line cut short by a crash is ended by the next one.
        data = b"".join(b"\n" + json.dumps(entry, ensure_ascii=False).encode() + b"\n" for entry in entries)
        self.root.mkdir(parents=True, exist_ok=True)
        new = not os.path.lexists(self.path)
        fd = open_own(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        if os.fstat(fd).st_nlink > 1:  # a hard link: another name shares it; write a file of our own
            os.close(fd)
            self._replace_with(data)
            return
        try:
            # One write, so that appends of other writers never land inside it; a short one (a
            # full disk) must stop the file it records from getting its name.
            if os.write(fd, data) != len(data):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))
        except OSError as err:
            self._unmake_if_empty(fd, new)
            # os.write names no file: the message names the record's (else the current folder)
            raise OSError(err.errno, err.strerror, str(self.path)) from None
        finally:
            os.close(fd)

    def _unmake_if_empty(self, fd: int, new: bool) -> None:
        """A record this append created and could not write a byte to (a full disk) is removed:
        an empty record would make its folder look like dreamtrip's."""
        with contextlib.suppress(OSError):
            if new and os.fstat(fd).st_size == 0:
                self.path.unlink()

    def _replace_with(self, appended: bytes) -> None:
        """The record as it is plus `appended`, written as a new file under the record's name:
        the other names of a hard-linked record keep what they held."""
        with self._lock:
            fd = open_own(self.path, os.O_RDONLY)
            with open(fd, "rb") as f:
                held = f.read()
            write_bytes_atomic(self.path, held + appended)
            self._read_to = None

    def compact(self, run: str | None = None) -> None:
        """Rewrite the record as its current state: one line per file that is still there.
        Only while no one else writes the folder (the output folder's lock is held)."""
        with self._lock:
            self._catch_up()
            run = run or self._run
            lines = [{"run": run}] if run else []
            lines += [{"path": relative, "size": w.size, "sha256": w.sha256}
                      for relative, w in sorted(self._files.items()) if os.path.lexists(self.root / relative)]
            # Tokens whose temp files are still here, for the next sweep; this process notes its
            # own again before its next write.
            lines += [{"temps": token} for token in sorted({_temp_token(p.name) for p in self.own_temp_files()})]
            lines += [{"claim": name, "owner": owner} for name, owner in sorted(self._claims.items())]
            self._noted_token = False
            write_bytes_atomic(self.path, b"".join(json.dumps(line, ensure_ascii=False).encode() + b"\n"
                                                   for line in lines))
            self._read_to = None

    def write_bytes(self, relative: str, data: bytes, check: Callable[[Path], None] | None = None) -> None:
        """Write `data` as `relative`, whole (pipeline/output/files.py), and recorded before it gets its name."""
        written = Written(len(data), hashlib.sha256(data).hexdigest())
        refuse_links(self.root, relative)
        write_bytes_atomic(self.root / relative, data, check=self._recorded(relative, written, check),
                           prefix=self.temp_prefix())

    def write_with(self, relative: str, make: Callable[[Path], None]) -> None:
        """`relative` written by `make(path)`, for a writer that needs a file rather than bytes
        (ffmpeg rewrites its MP4 for fast start): whole, and recorded before it gets its name.
        A stop meanwhile leaves only a temp file of this run's, which the next run sweeps."""
        refuse_links(self.root, relative)
        with atomic_path(self.root / relative, check=lambda tmp: self.note(relative, Written.of(tmp)),
                         prefix=self.temp_prefix()) as tmp:
            make(tmp)

    def save_image(self, image, relative: str, **save_options) -> None:
        """Save a Pillow image as `relative`; the format comes from its extension."""
        self.write_bytes(relative, encode_image(image, relative, **save_options), check=check_image_decodes)

    def copy(self, source: Path, relative: str, link: bool = False, written: Written | None = None) -> None:
        """`source` (hard-linked when `link` and possible) as `relative`; `written` is its record
        where the caller has it (else the file is hashed)."""
        refuse_links(self.root, relative)
        copy_atomic(source, self.root / relative, link,
                    check=self._recorded(relative, written or Written.of(Path(source))), prefix=self.temp_prefix())

    def _recorded(self, relative: str, written: Written, check=None) -> Callable[[Path], None]:
        """The last step before a temp file is renamed to `relative`: checked, then recorded."""
        def check_and_record(tmp: Path) -> None:
            if check is not None:
                check(tmp)
            self.note(relative, written)
        return check_and_record


def _sha256_memoised(path: Path, info: os.stat_result) -> str:
    """sha256_of the file at `path` (never through a link), whose lstat was `info`: read once
    per process while the file stays as it was (see _hashes)."""
    key = _hash_key(path, info)
    with _hashes_lock:
        known = _hashes.get(key)
    if known is not None:
        return known
    started = time.time_ns()
    digest = sha256_of(path, follow=False)
    settled = max(info.st_mtime_ns, info.st_ctime_ns) < started - _SETTLED_NS
    if settled and _hash_key(path, path.lstat()) == key:   # and not changed while it was read
        with _hashes_lock:
            _hashes[key] = digest
    return digest


def _hash_key(path: Path, info: os.stat_result) -> tuple:
    return (os.path.abspath(path), info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def _temp_token(name: str) -> str | None:
    """The writer's token in a temp file's name ('.dreamtrip-tmp-1a2b3c4d-x8k2.jpg': '1a2b3c4d')."""
    if not name.startswith(TEMP_PREFIX):
        return None
    return name[len(TEMP_PREFIX):].partition("-")[0] or None


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

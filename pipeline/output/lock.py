"""One run at a time per output folder: a lock file that the operating system releases.

`flock` on `.dreamtrip.lock` in the output folder. The kernel drops the lock when its holder
exits in any way (kill -9 included), so a crashed run never leaves a stale lock behind. The
holder writes who it is into the file (its pid, the command and since when: never a path, the
host or the user, since the folder is published), so a second run can say what it is waiting
for; and removes the file when it is done, so a finished run leaves nothing of it behind.
The file is never written through a link: a symbolic link in its place is refused
(LinkInTheWay), and a hard link (another name of the same file: a photo, perhaps) is replaced by
a file of its own before a word is written.

The lock is reentrant within a context (contextvars): the CLI takes it before Prefect starts (so
a second command stops at once), and the flow, which takes it itself for scheduled runs and runs
in a copy of the CLI's context (in a thread of its own), then holds it already. Another thread
started without that context, like another process, waits for it.
"""

from __future__ import annotations

import contextlib
import contextvars
import fcntl
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Iterator

from pipeline.output.files import open_own

LOCK_FILE = ".dreamtrip.lock"

# The output folders this context holds.
_held: contextvars.ContextVar[frozenset[Path]] = contextvars.ContextVar("dreamtrip_held_outputs",
                                                                        default=frozenset())
# Every lock file this process holds, by descriptor: a command stopped at once (os._exit on
# SIGTERM or Ctrl-C) removes them first, as a run that ends well does.
_process_holds: dict[int, Path] = {}


class OutputBusy(Exception):
    """Another dreamtrip process is writing to the same output folder."""

    def __init__(self, out_dir: Path, holder: str):
        self.out_dir, self.holder = out_dir, holder
        super().__init__(f"{out_dir} is in use by another dreamtrip run ({holder or 'unknown'}); "
                         "wait for it to finish (`run` and `retry` can --wait), or write to another folder with -o")


@contextlib.contextmanager
def output_lock(out_dir: Path, wait_s: float | None = 0.0, poll_s: float = 0.2) -> Iterator[None]:
    """Hold the output folder's lock for the block; raise OutputBusy after `wait_s` seconds.

    `wait_s` 0 fails at once; None waits as long as it takes.
    """
    out_dir = Path(out_dir).resolve()
    if out_dir in _held.get():  # an enclosing block of this context holds it, and releases it
        yield
        return
    with _locked(out_dir, wait_s, poll_s):
        token = _held.set(_held.get() | {out_dir})
        try:
            yield
        finally:
            _held.reset(token)


@contextlib.contextmanager
def _locked(out_dir: Path, wait_s: float | None, poll_s: float) -> Iterator[None]:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / LOCK_FILE
    fd = _take(path, out_dir, None if wait_s is None else time.monotonic() + wait_s, poll_s)
    _process_holds[fd] = path
    try:
        _say_who(fd)
        yield
    finally:
        _process_holds.pop(fd, None)
        _let_go(fd, path)


def let_go_of_every_lock() -> None:
    """Remove every lock file this process holds, now: for a command about to stop at once
    (os._exit), which skips the blocks that would. The kernel releases the locks themselves."""
    for fd, path in list(_process_holds.items()):
        _process_holds.pop(fd, None)
        _let_go(fd, path)


def _say_who(fd: int) -> None:
    """Write who holds the lock into its file. A full disk (or a quota) may refuse the few
    bytes: the lock holds all the same, unnamed, and the command goes on (`clean` frees space)."""
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, _who_am_i().encode(), 0)
    except OSError:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # never a part of a name


def _take(path: Path, out_dir: Path, deadline: float | None, poll_s: float) -> int:
    """The locked descriptor of the lock file now at `path`. A run that finishes removes the
    file, so a lock taken on a file no longer at `path` is let go and taken anew."""
    while True:
        fd = open_own(path, os.O_RDWR | os.O_CREAT)
        if _try_lock(fd):
            if _is_at(fd, path) and os.fstat(fd).st_nlink == 1:
                return fd
            if _is_at(fd, path):  # a hard link: no run of ours holds it; a file of its own instead
                path.unlink()
            os.close(fd)
            continue
        holder = _holder(fd)
        os.close(fd)
        if deadline is not None and time.monotonic() >= deadline:
            raise OutputBusy(out_dir, holder)
        time.sleep(poll_s)


def _let_go(fd: int, path: Path) -> None:
    """Remove the lock file while still holding it (no one can take it in between); where it
    cannot be removed, empty it, so who ran here never stays in the published folder."""
    try:
        path.unlink()
    except OSError:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _is_at(fd: int, path: Path) -> bool:
    try:
        here = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (here.st_dev, here.st_ino)


def _who_am_i() -> str:
    """Who holds the lock, in words that name the run and nothing of the machine: the command
    without its arguments (they hold paths)."""
    command = " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:2]) if sys.argv else "python"
    since = datetime.now().isoformat(timespec="seconds")
    return f"pid {os.getpid()}, `{command}`, since {since}"


def _holder(fd: int) -> str:
    return os.pread(fd, 500, 0).decode(errors="replace").strip()

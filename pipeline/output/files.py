"""Whole files only: a crash, Ctrl-C or a full disk never leaves a part of a file under a
trusted name.

Every writer writes to a temporary file in the target's folder; the file is flushed to the disk
(fsync), checked (its size, and an image must decode to its end), and only then renamed into
place, and the folder is synced so the rename lasts too. Rename within one filesystem is atomic:
a reader sees the old file or the new one, never a part. Any error removes the temporary file;
a full disk (or quota) becomes DiskFull, which names the folder and its free space.
(Text helpers, slugs and messages without this machine's paths, are in pipeline/text.py.)
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import shutil
import stat
import tempfile
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator

from pipeline.text import human_size

# Temp files beside their targets, named so that no other program's file is taken for one (a
# killed run may leave some behind; only files with this prefix are ever swept).
TEMP_PREFIX = ".dreamtrip-tmp-"
_FULL = (errno.ENOSPC, errno.EDQUOT)


class DiskFull(Exception):
    """A write failed because the disk or the user's quota is full. The message is one line
    naming the folder and its free space; the CLI exits with code 2. Nothing half-written was
    left under a final name, so the same command finishes the job once there is space."""


class LinkInTheWay(Exception):
    """A link stands where dreamtrip writes, truncates, appends or deletes in its output folder
    or store: dreamtrip never writes through one (it could lead to a traveller's photo). One
    line naming the link; the CLI exits with code 2."""

    def __init__(self, link: Path):
        self.link = Path(link)
        super().__init__(f"{link} is a link: dreamtrip never writes through links in its output "
                         "folder or store; remove the link (the file it leads to is not touched), "
                         "or write to another folder with -o")


def link_on_the_way(root: Path, relative: str) -> Path | None:
    """The first symbolic link on the way from `root` to `root/relative` (the last part
    included), or None. `root` itself is the user's choice and may be one."""
    path = Path(root)
    for part in PurePosixPath(relative).parts:
        path = path / part
        try:
            if stat.S_ISLNK(os.lstat(path).st_mode):
                return path
        except (FileNotFoundError, NotADirectoryError):
            return None
    return None


def refuse_links(root: Path, relative: str) -> None:
    """Raise LinkInTheWay when reaching `relative` from `root` would follow a symbolic link."""
    link = link_on_the_way(root, relative)
    if link is not None:
        raise LinkInTheWay(link)


def open_own(path: Path, flags: int, mode: int = 0o644) -> int:
    """os.open of a file of dreamtrip's that must not be reached through a symbolic link at
    its own name (O_NOFOLLOW); LinkInTheWay if it is one."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW, mode)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise LinkInTheWay(path) from None
        raise
class FolderNotWritable(DiskFull):
    """A folder being written turned read-only (or lost its write permission) during a command:
    like a full disk, every further write there would fail too, so it is said in one line and
    the command stops (exit 2); nothing half-written is left under a final name."""


class IncompleteFile(OSError):
    """A file just written is not what was meant to be written (short, or does not decode)."""


def disk_full(err: OSError, folder: Path) -> DiskFull | None:
    """DiskFull for `err` when it means the disk or quota is full, else None."""
    if err.errno not in _FULL:
        return None
    try:
        free = human_size(shutil.disk_usage(folder).free)
    except OSError:
        free = "unknown"
    return DiskFull(f"{Path(folder).resolve()}: the disk is full ({free} free): free some space, "
                    "then run the same command again (finished files are kept)")


def not_writable(err: OSError, folder: Path) -> FolderNotWritable | None:
    """FolderNotWritable for `err` when it means `folder` cannot be written (read-only, no
    permission), else None."""
    if err.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
        return None
    return FolderNotWritable(f"{Path(folder).resolve()}: cannot write here ({(err.strerror or str(err)).lower()}): "
                             "make it writable, then run the same command again (finished files are kept)")


@contextlib.contextmanager
def atomic_path(target: Path, check: Callable[[Path], None] | None = None,
                prefix: str = TEMP_PREFIX) -> Iterator[Path]:
    """Yield a temporary path beside `target` to write (its name starts with `prefix`); on
    success it is synced, passed to `check` (which raises when the file is not whole) and
    renamed to `target`. The rename replaces whatever had that name, a link included: nothing
    is ever written through a link at `target`."""
    target = Path(target)
    tmp = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=prefix, suffix=target.suffix)
        os.close(fd)
        tmp = Path(name)
        yield tmp
        _sync(tmp)
        if check is not None:
            check(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a published page must be readable by a web server
        os.replace(tmp, target)
        _sync_folder(target.parent)
    except OSError as err:
        stop = disk_full(err, target.parent) or not_writable(err, target.parent)
        if stop is None:
            raise
        raise stop from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_folder(folder: Path) -> None:
    """Make a rename in `folder` survive a power cut (where the file system allows it)."""
    with contextlib.suppress(OSError):
        _sync(folder)


def write_bytes_atomic(target: Path, data: bytes, check: Callable[[Path], None] | None = None,
                       prefix: str = TEMP_PREFIX) -> None:
    """Write `data` as `target`, whole or not at all."""
    with atomic_path(target, check, prefix) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_TRUNC)
        try:
            view = memoryview(data)
            while view:  # os.write may write less than asked
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        _check_size(tmp, len(data))


def save_image_atomic(image, target: Path, **save_options) -> None:
    """Save a Pillow image; the format comes from `target`'s extension. Encoded in memory, written
    whole, and renamed into place only when the file on disk decodes to its end."""
    write_bytes_atomic(target, encode_image(image, target, **save_options), check=check_image_decodes)


def encode_image(image, name, **save_options) -> bytes:
    """A Pillow image encoded in memory, in the format of `name`'s extension ('a.jpg': JPEG)."""
    encoded = io.BytesIO()
    image.save(encoded, format=_FORMATS[Path(name).suffix.lower()], **save_options)
    return encoded.getvalue()


_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".avif": "AVIF"}


def copy_atomic(source: Path, target: Path, link: bool = False,
                check: Callable[[Path], None] | None = None, prefix: str = TEMP_PREFIX) -> None:
    """`source` as `target`: hard-linked when `link` and the file system allows, else copied;
    either is renamed into place only when it is as long as the source (and passes `check`)."""
    with atomic_path(target, check, prefix) as tmp:
        if not (link and _linked(source, tmp)):
            shutil.copyfile(source, tmp)
        _check_size(tmp, Path(source).stat().st_size)


def _linked(source: Path, tmp: Path) -> bool:
    """Replace `tmp` by a hard link to `source`; False where links cannot be made (another file
    system, or a file system without them)."""
    tmp.unlink()
    try:
        os.link(source, tmp)
    except OSError as err:
        if err.errno in _FULL:
            raise
        return False
    return True


def _check_size(path: Path, expected: int) -> None:
    size = path.stat().st_size
    if size != expected:
        raise IncompleteFile(f"{path.name}: {size} bytes on disk, {expected} written")


def check_image_decodes(path: Path) -> None:
    """Raise IncompleteFile unless the image at `path` decodes to its end."""
    from PIL import Image  # only writers of images pay for Pillow

    try:
        with Image.open(path) as image:
            image.load()
    except Exception as err:  # decoders raise many kinds on a broken file
        raise IncompleteFile(f"{path.name}: the image written does not decode ({err})") from None


def read_hashed(path: Path) -> tuple[bytes, str]:
    """A file's bytes and their hex sha256, from one read: whoever uses the bytes uses exactly
    what was hashed, even if the file is replaced meanwhile."""
    data = Path(path).read_bytes()
    return data, hashlib.sha256(data).hexdigest()


def sha256_of(path: Path, follow: bool = True) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks; with `follow` False, of the file at
    `path` itself, never of one a symbolic link there leads to (LinkInTheWay)."""
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY) if follow else open_own(path, os.O_RDONLY)
    with open(fd, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

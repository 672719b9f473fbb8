"""Atomic file writes: a crash or Ctrl-C never leaves a half-written file under a trusted name.

Writers write to a temporary file in the target's folder and rename it into place; rename
within one filesystem is atomic, so a reader sees the old file or the new one, never a part.
Also the one slug helper: names made from user text for files, anchors and keys.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import unicodedata
from pathlib import Path
from typing import Iterator

TEMP_PREFIX = ".tmp-"  # temp files beside their targets; a killed run may leave some behind


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success it replaces `target`."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=TEMP_PREFIX, suffix=target.suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a published page must be readable by a web server
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_bytes_atomic(target: Path, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(target: Path, text: str) -> None:
    write_bytes_atomic(target, text.encode("utf-8"))


def save_image_atomic(image, target: Path, **save_options) -> None:
    """Save a Pillow image; the format comes from `target`'s extension."""
    with atomic_path(target) as tmp:
        image.save(tmp, format=_FORMATS[target.suffix.lower()], **save_options)


_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".avif": "AVIF"}


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def slug(text: str, fallback: str = "photo") -> str:
    """'day 1/Škoda #2.jpg' -> 'day-1-skoda-2-jpg': ASCII, lowercase, [a-z0-9-], never empty.

    Accents are dropped rather than the letters (Š -> s); runs of anything else become one
    '-', so a slug never holds two dashes in a row and callers may join slugs with '--'.
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or fallback

"""Where each output file lives in the output folder, and the content-addressed dream keys.

A dream's file name carries a key made of everything that changes its pixels (the photo's
content hash, the layer, the dream parameters, the working size, the JPEG quality, the
weights), so a rerun finds finished dreams by name and never dreams the same thing twice.
Dreams are kept in the output folder, or in a store folder shared between albums
(`output.store_dir`) and linked from there into each output folder that shows them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath


from pipeline.files import TEMP_PREFIX, atomic_path
from pipeline.params import DreamParams

WORK_DIR = ".work"      # working copies: inputs to dreaming, not published
PHOTOS_DIR = "photos"   # web sizes of the originals
DREAMS_DIR = "dreams"


def default_output_dir(album_dir: Path, configured: Path | None = None) -> Path:
    """The output folder: the configured one, else out/<album folder name> here."""
    return configured or Path("out") / Path(album_dir).resolve().name


def dream_key(photo_sha256: str, layer: str, params: DreamParams, working_size: int,
              jpeg_quality: int, weights_identity: str) -> str:
    recipe = {"photo": photo_sha256, "layer": layer, "params": params.as_dict(),
              "working_size": working_size, "jpeg_quality": jpeg_quality,
              "weights": weights_identity}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def dream_file(photo_sha256: str, layer: str, key: str) -> str:
    """Path of a dream, relative to the output dir."""
    return f"{DREAMS_DIR}/{photo_sha256[:12]}-{layer}-{key[:8]}.jpg"


def full_size_file(dream_relative: str) -> str:
    """The full-camera-resolution version of a dream, beside it."""
    return dream_relative.removesuffix(".jpg") + "-full.jpg"


def working_file(photo_sha256: str, working_size: int) -> str:
    # PNG: lossless, so the dream starts from exactly the resized original.
    return f"{WORK_DIR}/{photo_sha256[:16]}-{working_size}.png"


def web_file(source: str, photo_sha256: str, long_side: int) -> str:
    return f"{PHOTOS_DIR}/{safe_stem(source)}-{photo_sha256[:8]}-{long_side}.jpg"


def safe_stem(source: str) -> str:
    """The photo's name without folders or extension, with only letters, digits, '.', '-', '_'."""
    return re.sub(r"[^\w.-]+", "-", PurePosixPath(source).stem).strip("-.") or "photo"


@dataclass(frozen=True)
class DreamStore:
    """Finished dreams, by their relative path (`dream_file`).

    Without a shared folder a dream is written straight into the output folder. With one, it
    is written there and then hard-linked (or, across file systems, copied) into the output
    folder, so a photo in two albums, or an album dreamed into a second output folder, is
    dreamed once. Every write is atomic, so a file under its final name is a finished dream.
    """

    out_dir: Path
    shared_dir: Path | None = None

    def target(self, relative: str) -> Path:
        """Where a new dream is written."""
        return (self.shared_dir or self.out_dir) / relative

    def fetch(self, relative: str) -> bool:
        """True when the dream is finished: in the output folder, or linked there now."""
        if (self.out_dir / relative).is_file():
            return True
        if self.shared_dir is not None and (self.shared_dir / relative).is_file():
            self.publish(relative)
            return True
        return False

    def publish(self, relative: str) -> None:
        """Make a dream written to `target` visible in the output folder."""
        if self.shared_dir is None:
            return
        source, published = self.shared_dir / relative, self.out_dir / relative
        with atomic_path(published) as tmp:
            tmp.unlink()
            try:
                os.link(source, tmp)
            except OSError:  # another file system, or links not allowed: a copy will do
                shutil.copyfile(source, tmp)


def stale_temp_files(folder: Path, older_than_s: float = 0.0) -> list[Path]:
    """Temporary files that an interrupted write left behind (killed runs leave them).

    Only call this with 0 while holding the folder's lock: a running writer's temp file
    is young. For a store shared with other albums' runs, ask for old ones only.
    """
    if not folder.is_dir():
        return []
    cutoff = time.time() - older_than_s
    found = []
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(root) / name
            if not name.startswith(TEMP_PREFIX):
                continue
            try:
                if path.stat().st_mtime <= cutoff:
                    found.append(path)
            except FileNotFoundError:  # renamed into place meanwhile by another run's writer
                continue
    return sorted(found)

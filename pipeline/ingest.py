"""Ingest one photo: hash it, read its EXIF, and write its upright working copy and web sizes.

A bad file (empty, truncated, not an image, too many pixels) becomes a `failed` record with the
reason; it never raises, so one broken photo cannot stop an album. Outputs are named by content
hash, so a rerun over unchanged photos only hashes them and reads their headers.
"""

from __future__ import annotations

import os
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from pipeline.exif import ExifInfo, read_exif
from pipeline.files import save_image_atomic, sha256_of
from pipeline.imaging import (DEFAULT_MAX_PIXELS, PhotoError, decode_upright_rgb, fit_long_side,
                              image_size, open_photo)
from pipeline.store import web_file, working_file

# The working copy is an input to dreaming, never published, so speed beats size: after PNG's
# filters a photo is close to noise, where deflate's string matching finds little. Huffman-only at
# level 1 writes a 600 px copy ~5x faster than Pillow's default (level 6), 5-15% larger.
_WORKING_PNG_OPTIONS = {"compress_level": 1, "compress_type": zlib.Z_HUFFMAN_ONLY}


@dataclass(frozen=True)
class Photo:
    source: str                      # path relative to the album, '/'-separated
    sha256: str | None
    status: str                      # ok | failed
    error: str | None = None
    exif: ExifInfo | None = None
    working: str | None = None       # working copy, relative to the output dir
    web: list[dict] = field(default_factory=list)  # [{"path", "width", "height"}], small to large

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def ingest_photo(album_dir: Path, source: str, out_dir: Path, working_size: int,
                 web_sizes: tuple[int, ...], jpeg_quality: int,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> Photo:
    path = album_dir / source
    try:
        sha256 = sha256_of(path)
    except OSError as err:
        return Photo(source, None, "failed", f"cannot read the file ({err.strerror or err})")
    exif = None
    try:
        with open_photo(path, max_pixels) as image:  # header only; pixels only if copies are missing
            exif = read_exif(path, image)
            web = _write_copies(image, source, sha256, exif.orientation, out_dir, working_size,
                                web_sizes, jpeg_quality)
    except PhotoError as err:
        return Photo(source, sha256, "failed", str(err), exif)
    return Photo(source, sha256, "ok", None, exif, working_file(sha256, working_size), web)


def ingest_photos(album_dir: Path, sources: list[str], out_dir: Path, working_size: int,
                  web_sizes: tuple[int, ...], jpeg_quality: int,
                  max_pixels: int = DEFAULT_MAX_PIXELS, workers: int | None = None) -> list[Photo]:
    """ingest_photo for every source, `workers` photos at a time (default: one per usable core),
    returned in album order.

    Threads, not processes: Pillow decodes, resizes and encodes without holding the GIL, so
    threads keep every core busy with nothing to pickle and one copy of the libraries in memory
    (bench/ingest_bench.py measures both). More photos at once than cores would only add memory.
    """
    workers = workers or usable_cores()
    args = (out_dir, working_size, web_sizes, jpeg_quality, max_pixels)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest") as pool:
        futures = [pool.submit(ingest_photo, album_dir, source, *args) for source in sources]
        return [_photo_or_crash(source, future) for source, future in zip(sources, futures)]


def _photo_or_crash(source: str, future: Future) -> Photo:
    try:
        return future.result()
    except Exception as err:  # a bug or an exhausted machine, not the photo: say so, go on
        return Photo(source, None, "failed", f"ingest crashed: {type(err).__name__}: {err}")


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # what this process may use (containers, taskset)
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _write_copies(image, source, sha256, orientation, out_dir, working_size, web_sizes,
                  quality) -> list[dict]:
    """Working copy and web copies; each written only if a previous run has not already."""
    working = working_file(sha256, working_size)
    targets = {size: web_file(source, sha256, size) for size in web_sizes}
    missing = {rel for rel in [working, *targets.values()] if not (out_dir / rel).is_file()}
    sizes = {}
    if missing:
        # One decode, at the largest size needed; each smaller copy is made from the next larger.
        largest = decode_upright_rgb(image, orientation, max(working_size, *web_sizes))
        copies = _downscaled(largest, {working_size, *web_sizes})
        for size, rel in [(working_size, working), *targets.items()]:
            if rel in missing:
                options = _WORKING_PNG_OPTIONS if rel == working else {"quality": quality}
                save_image_atomic(copies[size], out_dir / rel, **options)
                sizes[rel] = copies[size].size
    web = []
    for rel in targets.values():
        width, height = sizes.get(rel) or image_size(out_dir / rel)
        if not web or (width, height) != (web[-1]["width"], web[-1]["height"]):
            web.append({"path": rel, "width": width, "height": height})  # a small photo: no repeats
    return web


def _downscaled(image: Image.Image, long_sides: set[int]) -> dict[int, Image.Image]:
    """{long side: copy}, largest first, each resized from the one before (less work)."""
    copies = {}
    for side in sorted(long_sides, reverse=True):
        image = copies[side] = fit_long_side(image, side)
    return copies


def set_aside_duplicates(photos: list[Photo]) -> tuple[list[Photo], list[dict]]:
    """Photos whose content (sha256) an earlier photo already has are dreamed and shown once:
    returns the photos without the later copies, and a skipped entry for each copy."""
    first_with: dict[str, str] = {}
    kept, duplicates = [], []
    for photo in photos:
        original = first_with.get(photo.sha256) if photo.ok else None
        if original is None:
            kept.append(photo)
            if photo.ok:
                first_with[photo.sha256] = photo.source
        else:
            duplicates.append({"source": photo.source,
                               "reason": f"duplicate of {original} (same content): shown once"})
    return kept, duplicates

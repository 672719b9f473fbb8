"""Ingest one photo: hash it, read its EXIF and size, and write its upright web copies (a JPEG
of each size, and its twins in the other images.formats).

A bad file (empty, truncated, not an image, too many pixels) becomes a `failed` entry with the
reason; it never raises, so one broken photo cannot stop an album. Copies are named by content
hash, so a rerun over unchanged photos only hashes them and reads their headers. The dream's
own input is decoded later, at dream size, by the dream task (pipeline/dream/spec.py).
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from pipeline.imaging import PhotoError, decode_upright_rgb, open_photo, upright_size, write_copies
from pipeline.ingest.exif import read_exif
from pipeline.manifest import PhotoEntry, Skipped, web_images
from pipeline.output.files import DiskFull, read_hashed
from pipeline.output.records import record_of
from pipeline.output.store import WebFormats, web_copy_name, web_long_sides

# A failure of the machine (a bug, no memory), not of the photo: trying it again may pass.
CRASHED = "ingest crashed"


def ingest_photo(album_dir: Path, source: str, out_dir: Path, web_sizes, formats: WebFormats,
                 max_pixels: int) -> PhotoEntry:
    """The photo's entry, its web copies made where they are missing or not as written."""
    path = album_dir / source
    try:
        data, sha256 = read_hashed(path)  # read once: the copies are of the bytes hashed
    except OSError as err:
        return PhotoEntry(source=source, status="failed", error=f"cannot read the file ({err.strerror or err})")
    exif = None
    try:
        with open_photo(path, max_pixels, data) as image:  # header only; pixels only if copies are missing
            exif = read_exif(path, image, data)
            size = upright_size(image, exif.orientation)
            copies = {side: web_copy_name(source, sha256, side) for side in web_long_sides(max(size), web_sizes)}
            output = record_of(out_dir)
            missing = {side: [name for name in formats.files(jpeg) if not output.intact(name)]
                       for side, jpeg in copies.items()}  # or damaged since: made again
            if any(missing.values()):  # decoded at the largest size, each smaller one cut from it as before
                write_copies(decode_upright_rgb(image, exif.orientation, max(missing)), missing,
                             output, formats)
    except PhotoError as err:
        return PhotoEntry(source=source, sha256=sha256, status="failed", error=str(err), exif=exif)
    return PhotoEntry(source=source, status="ok", sha256=sha256, width=size[0], height=size[1],
                      exif=exif, web=web_images(size, copies, formats))


def ingest_photos(album_dir: Path, sources: list[str], out_dir: Path, web_sizes, formats: WebFormats,
                  max_pixels: int, workers: int | None = None,
                  each_done: Callable[[], None] | None = None) -> list[PhotoEntry]:
    """ingest_photo for every source, `workers` photos at a time (default: one per usable core),
    returned in album order. `each_done` is called as each photo is done (a progress bar).

    Threads, not processes: Pillow decodes, resizes and encodes without holding the GIL, so
    threads keep every core busy with nothing to pickle and one copy of the libraries in memory
    (bench/ingest_bench.py measures both). More photos at once than cores would only add memory.
    """
    workers = workers or usable_cores()
    args = (out_dir, web_sizes, formats, max_pixels)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest") as pool:
        futures = [pool.submit(ingest_photo, album_dir, source, *args) for source in sources]
        for future in futures if each_done else ():
            future.add_done_callback(lambda _: each_done())
        return [_photo_or_crash(source, future) for source, future in zip(sources, futures, strict=False)]


def _photo_or_crash(source: str, future: Future) -> PhotoEntry:
    try:
        return future.result()
    except DiskFull:
        raise  # not this photo's fault, and every other write fails too: stop the run
    except Exception as err:  # a bug or an exhausted machine, not the photo: say so, go on
        return PhotoEntry(source=source, status="failed", error=f"{CRASHED}: {type(err).__name__}: {err}")


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # what this process may use (containers, taskset)
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def set_aside_duplicates(photos: list[PhotoEntry]) -> tuple[list[PhotoEntry], list[Skipped]]:
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
            duplicates.append(Skipped(source=photo.source, duplicate_of=original,
                                      reason=f"duplicate of {original} (same content): shown once"))
    return kept, duplicates

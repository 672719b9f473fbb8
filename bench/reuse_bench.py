"""What it costs to verify every reused web copy before it is published again (issue 21, finding 6).

A rerun reuses the web copies and dreams an earlier run wrote. Checking only each file's size
lets same-size damage through (a copy overwritten with junk of the same length); checking its
sha256 against the record, or decoding it, catches that. This times the three over the files of
`--photos` photos' web copies at the default web sizes (480, 1024, 2048 px) in both default formats
(JPEG at quality 88 and its AVIF twin at 70), made from a sample album photo brought to a camera's
size (3072 px, with grain), as the record checks them (pipeline/output/records.py: FileRecord.intact).

    PYTHONPATH=. .venv/bin/python bench/reuse_bench.py [--photos 500]

Each check runs twice over every file (the first run warms the page cache, as a rerun finds it:
the files were just written or read); the second is reported.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from bench.machine import cpu_name
from pipeline.output.files import encode_image
from pipeline.output.records import Written, record_of
from pipeline.output.store import AVIF_OPTIONS

REPO = Path(__file__).resolve().parent.parent
WEB_SIZES, JPEG_QUALITY, AVIF_QUALITY = (480, 1024, 2048), 88, 76


def camera_sized(photo: Image.Image, long_side: int = 3072) -> Image.Image:
    """The sample photo (600 px) at a camera's size, with a camera's fine grain (noise of 4
    levels), so that each web copy is as large, and as costly to hash and decode, as a real one's."""
    big = np.asarray(photo.resize((long_side, long_side * photo.height // photo.width), Image.LANCZOS), np.int16)
    grain = np.random.default_rng(0).normal(0, 4, big.shape)
    return Image.fromarray(np.clip(big + grain, 0, 255).astype(np.uint8))


def encoded_copies() -> dict[str, bytes]:
    """One photo's web copies, by name ('480.jpg', '480.avif', ...), from a sample photo."""
    with Image.open(sorted((REPO / "data/sample-album").glob("*.jpg"))[0]) as photo:
        photo = camera_sized(photo.convert("RGB"))
        copies = {}
        for side in WEB_SIZES:
            image = photo.copy()
            image.thumbnail((side, side))
            copies[f"{side}.jpg"] = encode_image(image, "a.jpg", quality=JPEG_QUALITY)
            copies[f"{side}.avif"] = encode_image(image, "a.avif", quality=AVIF_QUALITY, **AVIF_OPTIONS)
    return copies


def make_folder(out: Path, photos: int) -> list[str]:
    """`photos` photos' copies, recorded as dreamtrip records them; their relative paths."""
    copies, names = encoded_copies(), []
    (out / "photos").mkdir(parents=True)
    record = record_of(out)
    for i in range(photos):
        written = {}
        for name, data in copies.items():
            relative = f"photos/p{i:04d}-{name}"
            (out / relative).write_bytes(data)
            written[relative] = Written.of(out / relative)
        record.note_many(written)
        names += written
    return names


def decodes(path: Path) -> bool:
    try:
        with Image.open(path) as image:
            image.load()
        return True
    except Exception:
        return False


def timed(check, names: list[str]) -> float:
    for _ in range(2):
        started = time.perf_counter()
        assert all(check(name) for name in names)
        seconds = time.perf_counter() - started
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=500)
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="reuse-bench-"))
    try:
        names = make_folder(out, args.photos)
        record = record_of(out)
        size = sum((out / name).stat().st_size for name in names)
        print(f"CPU: {cpu_name()}")
        print(f"{args.photos} photos' web copies: {len(names)} files, {size / 2**20:.0f} MiB "
              f"({', '.join(map(str, WEB_SIZES))} px; JPEG q{JPEG_QUALITY} + AVIF q{AVIF_QUALITY})")
        size_only = timed(lambda name: (out / name).stat().st_size == record.get(name).size, names)
        hashed = timed(lambda name: record.intact(name), names)
        decoded = timed(lambda name: record.intact(name) and decodes(out / name), names)
        for label, seconds in (("size only (no content check)", size_only), ("sha256 against the record", hashed),
                               ("decode every file", decoded)):
            print(f"  {label:32s} {seconds:7.2f} s  {1000 * seconds / args.photos:6.2f} ms a photo  "
                  f"{seconds / size_only:6.1f}x size only")
        print(f"  decoding / hashing: {decoded / hashed:.1f}x")
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()

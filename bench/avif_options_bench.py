"""AVIF encoder options against JPEG on any pictures: SSIM, bytes and CPU time, in one run.

    PYTHONPATH=. .venv/bin/python bench/avif_options_bench.py PHOTO_OR_DREAM... [--sides 1024 480]

Each file is cut to each of --sides (long side, never enlarged; as the pipeline cuts web copies)
and kept lossless in memory; each picture is encoded as JPEG at images.jpeg_quality, as AVIF the
way the pipeline writes it now (images.avif_quality, pipeline/output/store.py's AVIF_OPTIONS) and as
AVIF before issue 23 (quality 70, speed 6, aom's own threads), decoded again and compared with
the lossless picture (formats_bench.py's SSIM). The three alternate, --repeat times; CPU time
(every thread) is the fastest pass. bench/formats_bench.py does the same scan on the sample
post's pictures (its dreams included), which takes dreaming them first.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.formats_bench import ssim  # noqa: E402
from bench.machine import cpu_name  # noqa: E402
from pipeline.config import load_settings  # noqa: E402
from pipeline.imaging import fit_long_side  # noqa: E402
from pipeline.output.store import AVIF_OPTIONS  # noqa: E402

BEFORE = {"quality": 70, "speed": 6}  # issue 23's starting point: Pillow's default threads


def main() -> None:
    args = parse_args()
    images = load_settings().images
    pictures = []
    for path in args.files:
        with Image.open(path) as opened:
            image = opened.convert("RGB")
        pictures += [fit_long_side(image, side) for side in args.sides if max(image.size) >= side]
    print(f"{cpu_name()}; Pillow {Image.__version__}; {len(args.files)} files -> {len(pictures)} pictures, "
          f"{sum(p.width * p.height for p in pictures) / 1e6:.2f} MP")
    ways = {f"JPEG q{images.jpeg_quality}": ("JPEG", {"quality": images.jpeg_quality}),
            f"AVIF now q{images.avif_quality} {AVIF_OPTIONS}": ("AVIF", {**AVIF_OPTIONS, "quality": images.avif_quality}),
            f"AVIF before {BEFORE}": ("AVIF", BEFORE)}
    runs = {name: [] for name in ways}
    for _ in range(args.repeat):
        for name, (fmt, options) in ways.items():
            runs[name].append(encoded(pictures, fmt, options))
    jpeg_bytes = runs[next(iter(ways))][0][2]
    for name, passes in runs.items():
        _, score, size = passes[0]
        print(f"{name:70s} SSIM {score:.4f}  {size / 1024:6.0f} KB ({size / jpeg_bytes:4.0%} of JPEG)  "
              f"CPU {min(p[0] for p in passes) * 1000:6.0f} ms")


def encoded(pictures, fmt: str, options: dict) -> tuple[float, float, int]:
    """(CPU seconds, mean SSIM, bytes) of encoding every picture."""
    started, files = time.process_time(), []
    for picture in pictures:
        buffer = io.BytesIO()
        picture.save(buffer, format=fmt, **options)
        files.append(buffer.getvalue())
    cpu = time.process_time() - started
    scores = [ssim(np.asarray(p), np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))) for p, data in zip(pictures, files)]
    return cpu, statistics.mean(scores), sum(map(len, files))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--sides", type=int, nargs="+", default=[1024, 480])
    parser.add_argument("--repeat", type=int, default=2)
    return parser.parse_args()


if __name__ == "__main__":
    main()

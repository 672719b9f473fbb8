"""Peak memory of dreaming a camera-size photo: 24 MP in, 2048 px working size, full-resolution out.

    .venv/bin/python bench/memory_bench.py            # CPU, 6000x4000, conv5_2, memory budget 3000 MB

Runs the real path (open, orient, resize, dream with tiling, apply the detail at full size, save)
with one octave and one step: peak memory is reached within one step, so more steps would only
take longer. Prints the peak RSS of the whole process, torch included, and the tile size used.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import RssSampler, rss_mb  # noqa: E402
from pipeline.config import load_settings  # noqa: E402
from pipeline.dream import dream_to_files, load_dreamer, pick_dtype  # noqa: E402
from pipeline.imaging import fit_long_side, open_upright_rgb  # noqa: E402
from pipeline.files import save_image_atomic  # noqa: E402
from pipeline.params import DreamParams  # noqa: E402
from pipeline.tiling import TilePlan  # noqa: E402
from pipeline.weights import choose_weights  # noqa: E402


def main() -> None:
    args = parse_args()
    folder = Path(tempfile.mkdtemp(prefix="dreamtrip-membench-"))
    photo = folder / "camera.jpg"
    make_camera_photo(photo, args.width, args.height)
    dreamer = load_dreamer(choose_weights("auto"), load_settings().weights_cache_dir, args.layer, "cpu",
                           args.budget_mb)
    params = DreamParams(octaves=1, steps=1, precision="auto")
    plan = TilePlan.for_device(dreamer.device, args.budget_mb, pick_dtype("auto", dreamer.device), [args.layer])
    print(f"photo {args.width}x{args.height} ({args.width * args.height / 1e6:.0f} MP), working size "
          f"{args.working}, layer {args.layer}, budget {args.budget_mb} MB, tile plan {plan.max_pixels} px")
    print(f"RSS before: {rss_mb():.0f} MB (torch and the model loaded)")
    started = time.perf_counter()
    with RssSampler() as sampler:
        full = open_upright_rgb(photo, 1)
        working = folder / "working.png"
        save_image_atomic(fit_long_side(full, args.working), working)
        [size] = dream_to_files(dreamer, working, [args.layer], [folder / "dream.jpg"], params, 88,
                                full, [folder / "dream-full.jpg"])
    full_size = Image.open(folder / "dream-full.jpg").size
    print(f"dream {size}, full-resolution dream {full_size}, {time.perf_counter() - started:.1f} s")
    print(f"peak RSS: {sampler.peak_mb:.0f} MB")


def make_camera_photo(path: Path, width: int, height: int) -> None:
    """A photo-like JPEG: smooth gradients plus noise (compresses like a real one)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([x / width, y / height, 0.5 + 0.5 * np.sin(x / 97 + y / 131)], axis=-1) * 200
    pixels = (base + rng.normal(0, 12, base.shape)).clip(0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, quality=90)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=6000)
    parser.add_argument("--height", type=int, default=4000)
    parser.add_argument("--working", type=int, default=2048)
    parser.add_argument("--layer", default="conv5_2")
    parser.add_argument("--budget-mb", type=int, default=3000)
    return parser.parse_args()


if __name__ == "__main__":
    main()

"""Peak memory of dreaming a camera-size photo on the CPU: 24 MP in, dreamed at a dream size.

    .venv/bin/python bench/memory_bench.py                     # 6000x4000, dream size 2048, conv5_2, 3000 MB
    .venv/bin/python bench/memory_bench.py --dream-size full   # the whole 24 MP, in tiles

Runs the real path (open, orient, resize to the dream size, dream with tiling, save) with one
octave and one step: peak memory is reached within one step, so more steps would only take
longer. Prints the peak RSS of the whole process, torch included, and the tile plan used.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dream_bench import synthetic_photo  # noqa: E402
from bench.machine import RssSampler, rss_mb  # noqa: E402
from pipeline.dream.engine import DTYPES, load_dreamer  # noqa: E402
from pipeline.dream.spec import precision_on  # noqa: E402
from pipeline.output.files import save_image_atomic  # noqa: E402
from pipeline.imaging import decode_upright_rgb, open_photo  # noqa: E402
from pipeline.config import DreamParams  # noqa: E402
from pipeline.dream.tiling import TilePlan, tile_side  # noqa: E402
from pipeline.dream.weights import choose_weights  # noqa: E402


def main() -> None:
    args = parse_args()
    folder = Path(tempfile.mkdtemp(prefix="dreamtrip-membench-"))
    photo = folder / "camera.jpg"
    synthetic_photo(args.width, args.height).save(photo, quality=90)  # compresses like a real photo
    dreamer = load_dreamer(choose_weights("auto"), Path(args.cache_dir).expanduser(), args.layer, "cpu",
                           memory_budget_mb=args.budget_mb)
    params = DreamParams(octaves=1, octave_scale=1.8, steps=1, step_size=0.016, momentum=0.0, jitter=32, smoothing=0.5,
                         seed=0, precision=precision_on("auto", "cpu"))
    dtype = DTYPES[params.precision]
    long_side = max(args.width, args.height) if args.dream_size == "full" else int(args.dream_size)
    dream_shape = (1, 3, round(args.height * long_side / max(args.width, args.height)), long_side)
    plan = TilePlan.for_device(dreamer.device, args.budget_mb, dtype, [args.layer])
    print(f"photo {args.width}x{args.height} ({args.width * args.height / 1e6:.0f} MP), dream size "
          f"{args.dream_size}, layer {args.layer}, {dtype}, budget {args.budget_mb} MB, tile plan {plan.max_pixels} "
          f"px per pass, tiles of {tile_side(plan, args.layer, dream_shape) or 'none (one pass)'}")
    print(f"RSS before: {rss_mb():.0f} MB (torch and the model loaded)")
    started = time.perf_counter()
    with RssSampler() as sampler:
        with open_photo(photo) as opened:  # as the dream task does: decoded straight to dream size
            at_size = decode_upright_rgb(opened, 1, long_side)
        [dreamed] = dreamer.dream(at_size, [args.layer], params)
        save_image_atomic(dreamed, folder / "dream.jpg", quality=88)
    print(f"dream {dreamed.size[0]}x{dreamed.size[1]}, {time.perf_counter() - started:.1f} s")
    print(f"peak RSS: {sampler.peak_mb:.0f} MB")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=6000)
    parser.add_argument("--height", type=int, default=4000)
    parser.add_argument("--dream-size", default="2048", help="long side in px, or full")
    parser.add_argument("--layer", default="conv5_2")
    parser.add_argument("--budget-mb", type=int, default=3000)
    parser.add_argument("--cache-dir", default="~/.cache/dreamtrip", help="dreamtrip's weights cache")
    return parser.parse_args()


if __name__ == "__main__":
    main()

"""Look at a dream at 100%: dream a photo at its own size (or a dream size) and save a crop of
the original beside the same crop of the dream, pixel for pixel, as one JPEG.

    .venv/bin/python bench/dream_crop.py PHOTO --layer conv5_2 --crop 300,150,512,384 -o docs/dream-crop.jpg

Defaults are the `classic` strength with octaves auto: what a run dreams. Needs torch and
Pillow, and the weights (`make weights`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.config import STRENGTHS, steps_in_words  # noqa: E402
from pipeline.dream.engine import load_dreamer, octave_count  # noqa: E402
from pipeline.imaging import fit_long_side  # noqa: E402
from pipeline.dream.spec import device_kind, precision_on, size_step_on  # noqa: E402
from pipeline.config import DreamParams  # noqa: E402
from pipeline.dream.weights import choose_weights  # noqa: E402


CLASSIC = STRENGTHS["classic"]  # what a run dreams by default


def main() -> None:
    args = parse_args()
    photo = Image.open(args.photo).convert("RGB")
    if args.dream_size != "full":
        photo = fit_long_side(photo, int(args.dream_size))
    device = device_kind(args.device)  # as a run decides it (pipeline/dream/spec.py)
    params = DreamParams(octaves=None, octave_scale=args.scale, steps=args.steps, step_size=args.step_size,
                         momentum=args.momentum, jitter=32, smoothing=CLASSIC["smoothing"], seed=0, precision=precision_on("auto", device))
    dreamer = load_dreamer(choose_weights(args.weights), Path(args.cache_dir).expanduser(), args.layer, device,
                           size_step_on(device))
    started = time.perf_counter()
    [dream] = dreamer.dream(photo, [args.layer], params)
    left, top, width, height = map(int, args.crop.split(","))
    box = (left, top, left + width, top + height)
    pair = Image.new("RGB", (2 * width, height))
    pair.paste(photo.crop(box), (0, 0))
    pair.paste(dream.crop(box), (width, 0))
    pair.save(args.output, quality=args.quality)
    print(f"{args.photo}: dreamed at {photo.width}x{photo.height} on {args.layer} ({octave_count(params, photo.size)} "
          f"octaves x {args.scale}, steps {steps_in_words(args.steps)}, step {args.step_size}, momentum {args.momentum}) in {time.perf_counter() - started:.0f} s "
          f"on {dreamer.device}; crop {box} -> {args.output}")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photo")
    parser.add_argument("--layer", default="conv5_2")
    parser.add_argument("--dream-size", default="full", help="long side in px, or full")
    parser.add_argument("--crop", default="0,0,512,384", help="left,top,width,height in the dream's pixels")
    parser.add_argument("--scale", type=float, default=CLASSIC["octave_scale"])
    parser.add_argument("--steps", type=int, nargs="+", default=CLASSIC["steps"],
                        help="one number for every octave, or from the full-size octave down")
    parser.add_argument("--step-size", type=float, default=CLASSIC["step_size"])
    parser.add_argument("--momentum", type=float, default=CLASSIC["momentum"])
    parser.add_argument("--weights", default="auto", choices=["auto", "imagenet", "hed"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--cache-dir", default="~/.cache/dreamtrip", help="dreamtrip's weights cache")
    parser.add_argument("--quality", type=int, default=85)
    parser.add_argument("-o", "--output", default="dream-crop.jpg")
    return parser.parse_args()


if __name__ == "__main__":
    main()

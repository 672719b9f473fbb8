"""Edge bands: a photo dreamed with the jitter rolling it round onto itself (revision 1 of the
engine, EDGE_MARGIN 0) and inside a mirrored margin (today's engine), in one run.

    PYTHONPATH=. .venv/bin/python bench/edges_bench.py [PHOTO] [--size 1024x439] [--layer conv3_1]
        [--margins 0 8 16 32] [--crops docs/edges.jpg]

The photo is resized to --size (default 1024x439: a 4608x1976 phone photo at the CPU's dream
size; odd on purpose) and dreamed with the `classic` strength, octaves auto, in fp32 on the CPU.
For each side it prints the step between the mean of the outer 4 px and the mean of the next 8 px,
in levels of 255, for the photo and for each dream, and how far each dream's step strays from the
photo's (a band the dream made). It also prints the CPU seconds of each dream (the margin adds
pixels to every pass) and, with --crops, saves the bottom-left and top-right corners at 100%
(scaled 3x, nearest neighbour): photo, then each dream, top to bottom.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pipeline.dream.engine as engine  # noqa: E402
from bench.machine import cpu_name  # noqa: E402
from pipeline.config import STRENGTHS  # noqa: E402
from pipeline.dream.engine import dream_tensor, pil_to_tensor, tensor_to_pil  # noqa: E402
from pipeline.dream.model import InputNorm, build_dream_net  # noqa: E402
from pipeline.dream.weights import choose_weights, load_features_state  # noqa: E402
from pipeline.config import DreamParams  # noqa: E402

SAMPLE = ROOT / "data" / "sample-album" / "03-castle-astronaut-exhibition.jpg"  # sky-bright top, dark bottom
SIDES = ("top", "bottom", "left", "right")


def edge_steps(image: Image.Image) -> dict[str, float]:
    """Per side: mean of the outer 4 px minus the mean of the next 8 px (grey levels)."""
    grey = np.asarray(image, dtype=np.float64).mean(axis=2)
    rows = {"top": grey, "bottom": grey[::-1], "left": grey.T, "right": grey.T[::-1]}
    return {side: rows[side][:4].mean() - rows[side][4:12].mean() for side in SIDES}


def dream_with_margin(net, photo: Image.Image, layer: str, params: DreamParams, margin: int) -> tuple[Image.Image, float]:
    engine.EDGE_MARGIN = margin  # 0: the roll wraps the photo round, as revision 1 did
    started = time.process_time()
    dreamed = tensor_to_pil(dream_tensor(net, pil_to_tensor(photo), layer, params))
    return dreamed, time.process_time() - started


def corners(images: list[Image.Image], zoom: int = 3, box: tuple[int, int] = (160, 80)) -> Image.Image:
    width, height = images[0].size
    bw, bh = box
    crops = [(0, height - bh, bw, height), (width - bw, 0, width, bh)]
    gap = 8
    sheet = Image.new("RGB", (len(crops) * (bw * zoom + gap) - gap, len(images) * (bh * zoom + gap) - gap), "white")
    for row, image in enumerate(images):
        for column, crop in enumerate(crops):
            tile = image.crop(crop).resize((bw * zoom, bh * zoom), Image.Resampling.NEAREST)
            sheet.paste(tile, (column * (bw * zoom + gap), row * (bh * zoom + gap)))
    return sheet


def main() -> None:
    args = parse_args()
    width, height = map(int, args.size.split("x"))
    torch.set_num_threads(args.threads)
    with Image.open(args.photo) as stored:
        photo = stored.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
    choice = choose_weights(args.weights)
    net = build_dream_net(load_features_state(choice, Path(args.cache_dir).expanduser()),
                          InputNorm(*choice.norm), args.layer)
    params = DreamParams(octaves=None, jitter=32, seed=0, precision="fp32", **STRENGTHS[args.strength])
    print(f"{cpu_name()}, {args.threads} thread(s), torch {torch.__version__}; {Path(args.photo).name} at "
          f"{width}x{height}, {args.layer}, {args.strength}, {choice.source} weights, jitter {params.jitter}")
    before = edge_steps(photo)
    print(f"{'':24s}" + "".join(f"{side:>9s}" for side in SIDES) + "   worst stray   CPU s")
    print(f"{'photo':24s}" + "".join(f"{before[side]:+9.1f}" for side in SIDES))
    dreams = []
    for margin in args.margins:
        dreamed, seconds = dream_with_margin(net, photo, args.layer, params, margin)
        after = edge_steps(dreamed)
        stray = max(abs(after[side] - before[side]) for side in SIDES)
        label = "roll round (revision 1)" if margin == 0 else f"mirrored margin {margin} px"
        print(f"{label:24s}" + "".join(f"{after[side]:+9.1f}" for side in SIDES) + f"   {stray:8.1f}   {seconds:7.1f}")
        dreams.append(dreamed)
    if args.crops:
        corners([photo, *dreams]).save(args.crops, quality=90)
        print(f"corners at 100% (x3): photo, then margins {' '.join(map(str, args.margins))} -> {args.crops}")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photo", nargs="?", default=str(SAMPLE))
    parser.add_argument("--size", default="1024x439", help="WIDTHxHEIGHT the photo is dreamed at")
    parser.add_argument("--layer", default="conv3_1")
    parser.add_argument("--strength", default="classic", choices=sorted(STRENGTHS))
    parser.add_argument("--margins", type=int, nargs="+", default=[0, engine.EDGE_MARGIN])
    parser.add_argument("--weights", default="hed", choices=["auto", "imagenet", "hed"])
    parser.add_argument("--cache-dir", default="~/.cache/dreamtrip", help="weights.cache_dir")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--crops", help="save the corners at 100%% here")
    return parser.parse_args()


if __name__ == "__main__":
    main()

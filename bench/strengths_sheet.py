"""The README's strength sheet: a photo and its dream at each strength preset, labelled.

    .venv/bin/python bench/strengths_sheet.py data/sample-album/02-old-town-cat-cafe.jpg -o docs/strengths.jpg
    .venv/bin/python bench/strengths_sheet.py PHOTO --before -o /tmp/strengths-before-now.jpg

--before adds a row of each preset's schedule before issue 23 (bench/dream_bench.py BEFORE), so
the looks can be compared by eye; the strengths themselves are measured by dream_bench --strength.
Dreams at the photo's own size, octaves auto, jitter 32, seed 0, fp32, with the weights a run
would use here (HED offline). Needs torch and Pillow only.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import torch
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dream_bench import BEFORE  # noqa: E402
from pipeline.config import STRENGTHS, load_settings  # noqa: E402
from pipeline.dream.engine import dream_tensor, pil_to_tensor, tensor_to_pil  # noqa: E402
from pipeline.dream.model import InputNorm, build_dream_net  # noqa: E402
from pipeline.dream.weights import choose_weights, load_features_state  # noqa: E402

LABEL_HEIGHT = 24


def main() -> None:
    args = parse_args()
    choice = choose_weights("auto")
    state = load_features_state(choice, Path(args.cache_dir).expanduser())
    net = build_dream_net(state, InputNorm(*choice.norm), args.layer).to(memory_format=torch.channels_last)
    photo = Image.open(args.photo).convert("RGB")
    x = pil_to_tensor(photo).contiguous(memory_format=torch.channels_last)
    cells = [("original", photo)] + [(f"{preset} ({args.layer})", dream(net, x, args.layer, params))
                                     for preset, params in presets(before=False).items()]
    if args.before:  # under each preset, its dream before issue 23
        cells += [("", None)] + [(f"{preset} before ({args.layer})", dream(net, x, args.layer, params))
                                 for preset, params in presets(before=True).items()]
    sheet(cells, photo.size, 4 if args.before else 2).save(args.output, quality=88)
    print(f"{args.output}: {args.photo} on {args.layer}, weights {choice.source}")


def presets(before: bool) -> dict:
    """Each strength's DreamParams as a run resolves them (or as they were before issue 23)."""
    made = {}
    for preset in STRENGTHS:
        params = replace(load_settings(None, {"dream.strength": preset}).dream.params(), precision="fp32")
        made[preset] = replace(params, **BEFORE[preset]) if before else params
    return made


def dream(net, x, layer, params) -> Image.Image:
    return tensor_to_pil(dream_tensor(net, x, layer, params))


def sheet(cells, size, columns) -> Image.Image:
    """The pictures in a grid of `columns`, each under its label; an empty cell stays white."""
    width, height = size
    grid_rows = -(-len(cells) // columns)
    out = Image.new("RGB", (columns * width + (columns - 1) * 6, grid_rows * (height + LABEL_HEIGHT)), "white")
    draw = ImageDraw.Draw(out)
    for index, (label, picture) in enumerate(cells):
        left, top = (index % columns) * (width + 6), (index // columns) * (height + LABEL_HEIGHT)
        draw.text((left + 4, top + 6), label, fill="black")
        if picture is not None:
            out.paste(picture, (left, top + LABEL_HEIGHT))
    return out


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photo")
    parser.add_argument("--layer", default="conv4_2")
    parser.add_argument("--before", action="store_true", help="add a row of the presets before issue 23")
    parser.add_argument("--cache-dir", default="~/.cache/dreamtrip", help="dreamtrip's weights cache")
    parser.add_argument("-o", "--output", default="strengths.jpg")
    return parser.parse_args()


if __name__ == "__main__":
    main()

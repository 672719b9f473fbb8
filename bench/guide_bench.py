"""Guide-image dreams: how far each dream.guide_mode pulls a photo toward its guide, whether the
guided dream still dreams, and what the guide costs in time, against the plain dream of the same
photo, layer and settings in the same process.

    .venv/bin/python bench/guide_bench.py --photos-dir DIR            # skimage's photos in DIR
    .venv/bin/python bench/guide_bench.py --pairs a.jpg:b.jpg c.png:d.png --layers conv5_2

For each (photo, guide) pair and layer it dreams the photo plainly and once per guide mode, at
--size px with the --strength preset (config.STRENGTHS) and auto octaves, as the flow does, and
then asks the independent ruler /work/shared/tools/dream_metrics.py (--metrics; run with this
python) for `guide LAYER PHOTO GUIDE GUIDED PLAIN` (the pull: >0 = toward the guide) and
`strength LAYER PHOTO DREAM`. Time: each mode's seconds over the plain dream's, the guide's
features computed afresh for every dream (a run computes them once per guide, layer and size).
The dreams are kept as PNG in --out for looking at.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import torch
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import cpu_name  # noqa: E402
from pipeline.config import STRENGTHS, load_settings  # noqa: E402
from pipeline.dream.engine import Dreamer, Guide  # noqa: E402
from pipeline.dream.model import InputNorm, build_dream_net  # noqa: E402
from pipeline.dream.objective import GUIDE_MODES  # noqa: E402
from pipeline.dream.spec import precision_on  # noqa: E402
from pipeline.dream.weights import choose_weights, load_features_state  # noqa: E402
from pipeline.output.files import read_hashed  # noqa: E402
from pipeline.imaging import fit_long_side  # noqa: E402
from pipeline.layers import deepest  # noqa: E402
from pipeline.config import DreamParams  # noqa: E402

METRICS = "/work/shared/tools/dream_metrics.py"
# skimage's photos with free licences (DESIGN.md): photo -> guide
DEFAULT_PAIRS = ("rocket.jpg:hubble_deep_field.jpg", "chelsea.png:coffee.png", "astronaut.png:rocket.jpg")


def main() -> None:
    args = parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    choice = choose_weights(args.weights)
    net = build_dream_net(load_features_state(choice, Path(args.cache_dir).expanduser()), InputNorm(*choice.norm),
                          deepest([*args.layers, *args.step_layers]).name)
    precision = precision_on(args.precision, "cpu")
    params = DreamParams(octaves=None, jitter=32, seed=0, precision=precision, **STRENGTHS[args.strength])
    print(f"machine: {platform.machine()}, {cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads; "
          f"torch {torch.__version__}; load average {os.getloadavg()[0]:.1f}")
    print(f"weights: {choice.source} ({choice.description}); precision {precision}; {args.size} px, "
          f"strength {args.strength}, octaves auto\n")
    print(f"{'photo -> guide':36} {'layer':8} {'mode':9} {'pull':>7} {'strength':>8} {'x plain':>7} {'seconds':>7} "
          f"{'x plain':>7}")
    totals: dict[str, list[float]] = {}
    for pair in args.pairs:
        photo_path, guide_path = (resolve(name, args.photos_dir) for name in pair.split(":"))
        photo, guide = upright(photo_path, args.size), upright(guide_path, None)
        photo_file = out / f"{photo_path.stem}.png"
        photo.save(photo_file)
        guide_sha = read_hashed(guide_path)[1]
        for layer in args.layers:
            row = dream_all(net, photo, guide, guide_sha, layer, params, args.repeat)
            files = {mode: out / f"{photo_path.stem}-{layer}-{mode}-{guide_path.stem}.png" for mode in row}
            for mode, (image, _) in row.items():
                image.save(files[mode])
            plain_strength = strength(layer, photo_file, files["plain"])
            plain_seconds = row["plain"][1]
            print(f"{photo_path.name + ' -> ' + guide_path.name:36} {layer:8} {'plain':9} {'':>7} "
                  f"{plain_strength:8.3f} {'':>7} {plain_seconds:7.2f}", flush=True)
            for mode in GUIDE_MODES:
                pull = guide_pull(layer, photo_file, guide_path, files[mode], files["plain"])
                mode_strength = strength(layer, photo_file, files[mode])
                ratio = row[mode][1] / plain_seconds
                totals.setdefault(f"{layer} {mode}", []).append(pull)
                print(f"{'':36} {layer:8} {mode:9} {pull:+7.3f} {mode_strength:8.3f} "
                      f"{mode_strength / plain_strength:7.2f} {row[mode][1]:7.2f} {ratio:7.2f}", flush=True)
    if totals:
        print("\nmean pull: " + ", ".join(f"{key} {sum(v) / len(v):+.3f}" for key, v in totals.items()))
    if args.step_layers:
        photo_path, guide_path = (resolve(name, args.photos_dir) for name in args.pairs[0].split(":"))
        print_step_costs(net, upright(photo_path, args.size), upright(guide_path, None), args.step_layers, params,
                         precision, args.step_repeat)
    if args.sheet and args.layers:
        photo_path, guide_path = (resolve(name, args.photos_dir) for name in args.pairs[0].split(":"))
        layer, mode = args.layers[-1], load_settings().dream.guide_mode
        pictures = [out / f"{photo_path.stem}.png", guide_path,
                    *(out / f"{photo_path.stem}-{layer}-{kind}-{guide_path.stem}.png" for kind in ("plain", mode))]
        sheet(pictures, ["photo", "guide", f"plain dream, {layer}", f"dreamed toward the guide ({mode})"],
              args.size).save(args.sheet, quality=88)
        print(f"sheet: {args.sheet}")


def sheet(pictures: list[Path], labels: list[str], height: int) -> Image.Image:
    """The pictures side by side at one height, each labelled under it."""
    from PIL import ImageDraw

    height = round(height * 2 / 3)
    images = [upright(path, None) for path in pictures]
    images = [image.resize((round(image.width * height / image.height), height), Image.Resampling.LANCZOS)
              for image in images]
    gap, band = 12, 28
    canvas = Image.new("RGB", (sum(image.width for image in images) + gap * (len(images) + 1), height + band + gap),
                       (250, 248, 244))
    draw, x = ImageDraw.Draw(canvas), gap
    for image, label in zip(images, labels):
        canvas.paste(image, (x, gap))
        draw.text((x, gap + height + 8), label, fill=(36, 33, 29), font_size=15)
        x += image.width + gap
    return canvas


def dream_all(net, photo, guide, guide_sha, layer, params, repeat):
    """{mode: (dream, best seconds)} for plain and each guide mode, run alternately."""
    results: dict[str, tuple[Image.Image, float]] = {}
    for _ in range(repeat):
        for mode in ("plain", *GUIDE_MODES):
            dreamer = Dreamer(net, torch.device("cpu"))  # fresh: the guide's features are computed in the time
            started = time.perf_counter()
            [image] = dreamer.dream(photo, [layer], params, None if mode == "plain" else Guide(guide, guide_sha, mode))
            seconds = time.perf_counter() - started
            if mode not in results or seconds < results[mode][1]:
                results[mode] = (image, seconds)
    return results


def print_step_costs(net, photo, guide, layers, params, precision, repeat) -> None:
    """What the guide adds to a dream, from the least CPU time of `repeat` interleaved runs of each
    part on one thread (steadier than wall-clock whole dreams on a loaded machine, where other
    processes' time slices land anywhere): per ascent step at the full-size octave, and the
    guide's features (once per dream at most), as a share of the plain dream's steps."""
    from pipeline.dream.engine import DTYPES, Passes, octave_count, pil_to_tensor
    from pipeline.dream.objective import guided_objective

    torch.set_num_threads(1)
    passes = Passes(net, DTYPES[precision])
    x, g = pil_to_tensor(photo), pil_to_tensor(fit_long_side(guide, max(photo.size)))
    steps = sum(params.steps_by_octave(octave_count(params, x.shape[-2:])))
    print(f"\nCPU seconds per step at {photo.width}x{photo.height}, one thread (least of {repeat}), {steps} steps a dream:")
    print(f"{'layer':8} {'plain s':>8} {'mode':9} {'step s':>8} {'x plain':>7} {'features s':>10} "
          f"{'guide adds':>10}")
    for layer in layers:
        features = passes.guide_features(g, layer)
        objectives = {"plain": None, **{mode: guided_objective(mode, features) for mode in GUIDE_MODES}}
        best = {name: float("inf") for name in [*objectives, "features"]}
        for _ in range(repeat):
            for name, objective in objectives.items():
                started = time.process_time()
                passes.gradient(x, layer, tuple(x.shape[-2:]), random.Random(0),
                                *([objective] if objective else []))
                best[name] = min(best[name], time.process_time() - started)
            started = time.process_time()
            passes.guide_features(g, layer)
            best["features"] = min(best["features"], time.process_time() - started)
        for mode in GUIDE_MODES:
            adds = (steps * (best[mode] - best["plain"]) + best["features"]) / (steps * best["plain"])
            print(f"{layer:8} {best['plain']:8.3f} {mode:9} {best[mode]:8.3f} {best[mode] / best['plain']:7.3f} "
                  f"{best['features']:10.3f} {adds:+10.1%}", flush=True)


def guide_pull(layer, photo, guide, guided, plain) -> float:
    said = run_metrics("guide", layer, photo, guide, guided, plain)
    return float(re.search(r"pull ([+-][0-9.]+)", said).group(1))


def strength(layer, photo, dream) -> float:
    return float(re.search(r"strength \S+: ([0-9.]+)", run_metrics("strength", layer, photo, dream)).group(1))


def run_metrics(*args) -> str:
    return subprocess.run([sys.executable, METRICS, *map(str, args)], check=True, capture_output=True,
                          text=True).stdout


def resolve(name: str, folder: str | None) -> Path:
    path = Path(name)
    return path if path.is_file() or folder is None else Path(folder) / name


def upright(path: Path, long_side: int | None) -> Image.Image:
    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image).convert("RGB")
        return fit_long_side(image, long_side) if long_side else image


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", nargs="+", default=list(DEFAULT_PAIRS), help="PHOTO:GUIDE, files or names in --photos-dir")
    parser.add_argument("--photos-dir", help="where the pairs' names are (e.g. skimage/data of the scikit-image wheel)")
    parser.add_argument("--layers", nargs="*", default=["conv4_3", "conv5_2"], help="none: time the steps only")
    parser.add_argument("--size", type=int, default=512, help="long side of the dreams in px")
    parser.add_argument("--strength", default="classic", choices=list(STRENGTHS))
    parser.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    parser.add_argument("--weights", default="auto", choices=["auto", "imagenet", "hed"])
    parser.add_argument("--cache-dir", default="~/.cache/dreamtrip", help="dreamtrip's weights cache")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each dream; the fastest counts")
    parser.add_argument("--out", default="/tmp/guide-bench", help="where the dreams are saved (PNG)")
    parser.add_argument("--step-layers", nargs="*", default=["conv3_1", "conv4_3", "conv5_2"],
                        help="layers whose per-step cost of the guide is timed (first pair); none: skip")
    parser.add_argument("--step-repeat", type=int, default=7, help="interleaved runs of each timed part")
    parser.add_argument("--sheet", help="also write the first pair's photo, guide, plain and guided dream (last "
                                        "layer, the default dream.guide_mode) side by side to this JPEG")
    return parser.parse_args()


if __name__ == "__main__":
    main()

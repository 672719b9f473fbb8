"""Dream engine benchmark: seconds per (photo, layer), peak memory and dream strength, against
the classic implementation (bench/classic_reference.py) run in the same process, same settings;
or (--strength) a strength preset's schedule now against the same preset before issue 23.

    .venv/bin/python bench/dream_bench.py                  # CPU, 600 px, conv4_3 and conv5_2, 4 x 1.8
    .venv/bin/python bench/dream_bench.py --strength classic --dream-size 1024 --layers conv3_1 conv5_2 \\
        --photo a.jpg b.jpg --repeat 2 --save /tmp/schedule   # before, now, before, now: medians, ratios
    python bench/dream_bench.py --device cuda --dream-size 1024 --layers conv5_2 --modes eager graphs compile
    python bench/dream_bench.py --device cuda --photo synthetic:8000x6000 --dream-size full --octaves auto \\
        --layers conv5_2 --no-classic                    # a 48 MP photo: tiles, out-of-memory retry

--strength PRESET...: the preset as pipeline/config.py sets it now against BEFORE (the same
preset's numbers at engine revision 2), both with octaves auto, jitter 32, seed 0, as a run
dreams; the runs alternate (before, now, before, now...) so a neighbour's load falls on both.
Strength is the layer's mean square on the dream over that on the photo (what
shared/tools/dream_metrics.py `strength` measures, here with the engine's network); --save
writes the photo and every dream as PNG for that tool and for looking at 100%.

Modes: `eager` (the engine as it runs by default), `graphs` (small passes replayed from CUDA
graphs), `compile` (the network under torch.compile(mode="reduce-overhead"), for comparison
only). `--bound` adds a bare bf16/fp32 channels-last forward+backward per step at each octave's
size: what no engine can beat. Needs torch and Pillow only (plus the weights: the HED conversion
that `make weights` caches, or --weights-file). Ratios are what to compare across machines;
seconds are this machine's, and the first run of each mode on a GPU includes cuDNN autotuning
and graph capture (use --repeat).
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import platform
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.classic_reference import ClassicDreamer  # noqa: E402
from bench.machine import RssSampler, cpu_name  # noqa: E402
from pipeline.config import load_settings, steps_in_words  # noqa: E402
from pipeline.dream.engine import (DTYPES, Passes, dream_tensor, layer_activation, octave_count,  # noqa: E402
                                   octave_sizes, pil_to_tensor, tensor_to_pil)
from pipeline.dream.graphs import GraphCache  # noqa: E402
from pipeline.imaging import fit_long_side  # noqa: E402
from pipeline.layers import LAYERS, deepest  # noqa: E402
from pipeline.dream.model import InputNorm, build_dream_net  # noqa: E402
from pipeline.dream.spec import precision_on, size_step_on  # noqa: E402
from pipeline.config import DreamParams  # noqa: E402
from pipeline.dream.tiling import TilePlan, tile_side, whole_gradient  # noqa: E402
from pipeline.dream.weights import choose_weights, load_features_state  # noqa: E402
from pipeline.layers import WEIGHTS  # noqa: E402

PHOTO = Path(__file__).resolve().parent.parent / "data/sample-album/01-charles-bridge-espresso.jpg"
MODES = ("eager", "graphs", "compile")
# The strength presets as issue 23 found them (engine revision 2, main c42381f): what --strength
# measures the presets in pipeline/config.py against, so that a new schedule is judged against
# the old one in the same run. A record of the past, not a default: the same numbers today, and
# the same pixels under engine revision 3 (which changed only what momentum carries: these have none).
BEFORE = {
    "subtle": {"octave_scale": 1.4, "steps": 6, "step_size": 0.0025, "momentum": 0.0, "smoothing": 1.0},
    "classic": {"octave_scale": 1.4, "steps": 10, "step_size": 0.005, "momentum": 0.0, "smoothing": 0.5},
    "wild": {"octave_scale": 1.5, "steps": 16, "step_size": 0.009, "momentum": 0.0, "smoothing": 0.25},
}


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    device = torch.device(args.device)
    if args.gpu_memory_fraction:  # the plan still reads free memory: the real OOM retry path runs
        torch.cuda.set_per_process_memory_fraction(args.gpu_memory_fraction, device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as load_dreamer sets it
    if args.strength:
        schedules(args, device)
        return
    bench = Bench(args, device)
    for photo in args.photo:  # one process: later photos find cuDNN's choices and the graphs made
        image, origin = dream_photo(photo, args.dream_size)
        x = pil_to_tensor(image, device).contiguous(memory_format=torch.channels_last)
        print_photo(image.size, origin, bench.params, args)
        print(f"\n{'layer':8} {'run':>3} {'engine':>8} {'seconds':>8} {'classic s':>9} {'speed-up':>8} "
              f"{'peak MB':>8} {'classic MB':>10} {'strength':>8} {'classic':>7} {'ratio':>6}")
        for layer in args.layers:
            bench.layer(x, layer)


class Bench:
    """The networks, the classic reference and the engines' modes, made once for all photos."""

    def __init__(self, args, device):
        self.args, self.device = args, device
        state, norm, weights_name = load_weights(args)
        self.params = DreamParams(octaves=args.octaves, octave_scale=args.scale, steps=args.steps,
                                  step_size=args.step_size, momentum=0.0, jitter=32, smoothing=0.5, seed=0,
                                  precision=args.precision)
        self.dtype = DTYPES[precision_on(args.precision, device.type)]
        self.size_step = size_step_on(device.type) if args.size_step == "auto" else (int(args.size_step) or None)
        print_machine(device, weights_name, self.dtype, self.size_step)
        self.net = build_dream_net(state, InputNorm(*norm), deepest(args.layers).name)
        self.net = self.net.to(device, memory_format=torch.channels_last)
        self.measure_net = build_dream_net(state, InputNorm(*norm), "conv5_3").to(device)
        self.classic = None if args.no_classic else ClassicDreamer(state, InputNorm(*norm), device)
        self.engines = make_engines(args.modes, self.net, device)

    def layer(self, x, layer) -> None:
        args, params = self.args, self.params
        plan = TilePlan.for_device(self.device, args.memory_mb, self.dtype, [layer])  # as a dream plans
        print_plan(plan, x, layer)
        strength = dream_strength(self.measure_net, x, layer)
        for run in range(args.repeat):
            reference = None
            if self.classic:
                ref_s, ref_mb, ref_out = timed(self.device, lambda: self.classic.dream(
                    x, layer, octave_count(params, x.shape[-2:]), args.scale, args.steps, args.classic_lr, 32))
                reference = (ref_s, ref_mb, strength(ref_out))
            for mode, (engine_net, graphs) in self.engines.items():
                # a plan learns within a dream (out of memory): each dream starts from the estimate
                passes = Passes(engine_net, self.dtype, copy.copy(plan), self.size_step, graphs)
                seconds, mb, out = timed(self.device, lambda: dream_tensor(passes, x, layer, params))
                print_row(layer, run, mode, seconds, mb, strength(out), reference)
        if args.bound:
            print_bound(self.net, x, layer, params, self.dtype, self.device)


def schedules(args, device) -> None:
    """Each preset now against BEFORE, alternating, on every photo and layer: medians, ratios."""
    state, norm, weights_name = load_weights(args)
    precision = precision_on(args.precision, device.type)  # as a run decides it
    dtype, size_step = DTYPES[precision], size_step_on(device.type)
    print_machine(device, weights_name, dtype, size_step)
    net = build_dream_net(state, InputNorm(*norm), deepest(args.layers).name).to(device, memory_format=torch.channels_last)
    measure_net = build_dream_net(state, InputNorm(*norm), "conv5_3").to(device)
    save = Path(args.save) if args.save else None
    if save:
        save.mkdir(parents=True, exist_ok=True)
    summary = []
    for preset in args.strength:
        now = replace(load_settings(None, {"dream.strength": preset}).dream.params(), precision=precision)
        both = {"before": replace(now, **BEFORE[preset]), "now": now}
        for name, params in both.items():
            print(f"\n{preset} {name}: octaves {params.octaves or 'auto'} x {params.octave_scale}, steps {steps_in_words(params.steps)}; "
                  f"step size {params.step_size}, momentum {params.momentum}, smoothing {params.smoothing}")
        for photo in args.photo:
            image, origin = dream_photo(photo, args.dream_size)
            x = pil_to_tensor(image, device).contiguous(memory_format=torch.channels_last)
            stem = Path(photo).stem
            if save:
                image.save(save / f"{stem}-{image.width}-photo.png")
            print(f"\nphoto: {origin}, dreamed at {image.width}x{image.height}; "
                  f"octaves: {octave_count(both['now'], image.size[::-1])} now, "
                  f"{octave_count(both['before'], image.size[::-1])} before")
            for layer in args.layers:
                strength = dream_strength(measure_net, x, layer)
                runs = {"before": [], "now": []}
                for run in range(args.repeat):
                    for name, params in both.items():
                        plan = TilePlan.for_device(device, args.memory_mb, dtype, [layer])
                        passes = Passes(net, dtype, plan, size_step)
                        seconds, _, out = timed(device, lambda: dream_tensor(passes, x, layer, params))
                        runs[name].append((seconds, strength(out)))
                        print(f"{preset:8} {stem[:24]:24} {layer:8} {run:3} {name:>6} {seconds:8.1f} s  "
                              f"strength {runs[name][-1][1]:7.2f}", flush=True)
                        if save and run == 0:
                            tensor_to_pil(out).save(save / f"{stem}-{image.width}-{layer}-{preset}-{name}.png")
                summary.append((preset, stem, layer, runs))
    print_schedules(summary)


def print_schedules(summary) -> None:
    print(f"\n{'preset':8} {'photo':24} {'layer':8} {'before s':>9} {'now s':>8} {'time':>6} "
          f"{'before str':>10} {'now str':>8} {'strength':>8}   (medians; ratios now/before)")
    for preset, stem, layer, runs in summary:
        (s0, k0), (s1, k1) = (medians(runs["before"]), medians(runs["now"]))
        print(f"{preset:8} {stem[:24]:24} {layer:8} {s0:9.1f} {s1:8.1f} {s1 / s0:5.2f}x {k0:10.2f} {k1:8.2f} "
              f"{k1 / k0:7.2f}x")


def medians(runs: list[tuple[float, float]]) -> tuple[float, float]:
    """(seconds, strength) of several runs -> the median of each."""
    return statistics.median(run[0] for run in runs), statistics.median(run[1] for run in runs)


def make_engines(modes, net, device) -> dict:
    """mode -> (the network to run, the graph cache or None), made once for all photos."""
    if device.type != "cuda" and "graphs" in modes:
        print("mode graphs: CUDA only, left out")
    made = {"eager": (net, None), "compile": (net, None), "graphs": (net, None)}
    for mode in modes:
        if mode == "graphs" and device.type == "cuda":
            made[mode] = (net, GraphCache(net))
        if mode == "compile":
            made[mode] = (torch.compile(net, mode="reduce-overhead"), None)
    return {mode: made[mode] for mode in modes if mode != "graphs" or device.type == "cuda"}


def dream_strength(measure_net, x, layer):
    """out -> the layer's mean square on `out` over that on the photo; None for photos too big
    for one plain forward pass (a 48 MP one would need ~25 GB in fp32)."""
    if x[0, 0].numel() > 16_000_000:
        return lambda out: None
    base = layer_activation(measure_net, x, layer)
    return lambda out: layer_activation(measure_net, out.contiguous(), layer) / base


def print_row(layer, run, mode, seconds, mb, strength, reference) -> None:
    line = f"{layer:8} {run:3} {mode:>8} {seconds:8.3f}"
    shown = f"{strength:8.2f}" if strength is not None else f"{'-':>8}"
    if reference is None:
        print(f"{line} {'-':>9} {'-':>8} {mb:8.0f} {'-':>10} {shown}", flush=True)
        return
    ref_s, ref_mb, ref_strength = reference
    print(f"{line} {ref_s:9.3f} {ref_s / seconds:7.2f}x {mb:8.0f} {ref_mb:10.0f} {shown} "
          f"{ref_strength:7.2f} {strength / ref_strength:6.2f}", flush=True)


def print_bound(net, x, layer, params, dtype, device) -> None:
    """A bare forward+backward to `layer` at each octave's size, times the steps: the floor."""
    octaves = octave_sizes(x.shape[-2:], octave_count(params, x.shape[-2:]), params.octave_scale,
                           LAYERS[layer].min_side)
    total = 0.0
    for size, steps in zip(octaves, params.steps_by_octave(len(octaves))[::-1]):  # largest first
        image = torch.nn.functional.interpolate(x, size=size, mode="bilinear").contiguous(
            memory_format=torch.channels_last)
        whole_gradient(net, image, layer, dtype)  # warm-up (autotuning on CUDA)
        total += steps * min(timed(device, lambda: whole_gradient(net, image, layer, dtype))[0]
                                    for _ in range(2))
    print(f"{layer:8} bound: bare {str(dtype).removeprefix('torch.')} channels-last forward+backward, "
          f"{len(octaves)} octaves, steps {steps_in_words(params.steps)}: {total:.3f} s", flush=True)


def timed(device, work):
    """Seconds, peak memory in MB (RSS on the CPU, max allocated on CUDA) and the result."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        result = work()
        torch.cuda.synchronize()
        return time.perf_counter() - started, torch.cuda.max_memory_allocated() / 2**20, result
    sampler = RssSampler()
    started = time.perf_counter()
    with sampler:
        result = work()
    return time.perf_counter() - started, sampler.peak_mb, result


def dream_photo(photo: str, dream_size: str) -> tuple[Image.Image, str]:
    """The photo at dream size (long side in px, or `full`), and where it came from. A photo
    smaller than the dream size is enlarged: timing only, its dreams say nothing of quality."""
    image = synthetic_photo(*map(int, photo.split(":", 1)[1].split("x"))) if photo.startswith("synthetic:") \
        else Image.open(photo).convert("RGB")
    origin = f"{Path(photo).name} ({image.width}x{image.height})"
    if dream_size == "full" or int(dream_size) == max(image.size):
        return image, origin
    if int(dream_size) > max(image.size):
        scale = int(dream_size) / max(image.size)
        size = (round(image.width * scale), round(image.height * scale))
        return image.resize(size, Image.Resampling.BICUBIC), origin + ", enlarged: timing only"
    return fit_long_side(image, int(dream_size)), origin


def synthetic_photo(width: int, height: int) -> Image.Image:
    """A photo-like image (smooth gradients plus noise) of any size, made in strips of rows."""
    rng = np.random.default_rng(0)
    pixels = np.empty((height, width, 3), dtype=np.uint8)
    x = np.arange(width, dtype=np.float32)
    for top in range(0, height, 512):
        y = np.arange(top, min(top + 512, height), dtype=np.float32)[:, None]
        base = np.stack([np.broadcast_to(x / width, (len(y), width)), np.broadcast_to(y / height, (len(y), width)),
                         0.5 + 0.5 * np.sin(x / 97 + y / 131)], axis=-1) * 200
        pixels[top:top + len(y)] = (base + rng.normal(0, 12, base.shape)).clip(0, 255).astype(np.uint8)
    return Image.fromarray(pixels)


def load_weights(args):
    if args.weights_file:
        return torch.load(args.weights_file, map_location="cpu", weights_only=True), WEIGHTS["hed"].norm, "hed (file)"
    choice = choose_weights("auto")
    return load_features_state(choice, Path(args.cache_dir).expanduser()), choice.norm, choice.source


def print_machine(device, weights, dtype, size_step) -> None:
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "-"
    print(f"machine: {platform.machine()}, {cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} "
          f"threads; GPU: {gpu}; torch {torch.__version__}")
    print(f"device: {device}; engine dtype: {dtype}; size classes: {size_step or 'off'}; weights: {weights}")


def print_photo(size, origin, params, args) -> None:
    octaves = octave_count(params, size[::-1])
    print(f"\nphoto: {origin}, dreamed at {size[0]}x{size[1]}; octaves {params.octaves or 'auto'} = {octaves} "
          f"x {params.octave_scale}, {params.steps} steps; engine step {params.step_size}, "
          f"classic lr {args.classic_lr}")


def print_plan(plan, x, layer) -> None:
    tile = tile_side(plan, layer, x.shape)
    print(f"{layer:8} tile plan: {plan.max_pixels} px per pass ({plan.device_type}), the full-size octave "
          + (f"in tiles of {tile} px + halo" if tile else "in one pass"), flush=True)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--photo", nargs="+", default=[str(PHOTO)],
                        help="files, or synthetic:WIDTHxHEIGHT; several are dreamed in one process")
    parser.add_argument("--dream-size", "--size", default="600",
                        help="long side of the dream in px, or full (the photo's own size)")
    parser.add_argument("--layers", nargs="+", default=["conv4_3", "conv5_2"])
    parser.add_argument("--octaves", type=lambda v: None if v == "auto" else int(v), default=4,
                        help="a number, or auto (smallest octave >= 400 px)")
    parser.add_argument("--scale", type=float, default=1.8)
    parser.add_argument("--steps", type=int, default=10)
    # The classic recipe's lr 0.09 is in ImageNet-normalised units (std ~0.226): ~0.02 in 0..1
    # pixels, std-normalised; the engine's step is mean-|g|-normalised, ~0.8 of that per step.
    parser.add_argument("--classic-lr", type=float, default=0.02)
    parser.add_argument("--step-size", type=float, default=0.016)
    parser.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    parser.add_argument("--strength", nargs="+", choices=sorted(BEFORE),
                        help="compare these presets now against BEFORE (their numbers at engine revision 2)")
    parser.add_argument("--save", help="with --strength: a folder for the photo and the dreams (PNG)")
    parser.add_argument("--modes", nargs="+", default=["eager"], choices=MODES)
    parser.add_argument("--size-step", default="auto", help="size classes in px; 0 = off; auto = the engine's")
    parser.add_argument("--memory-mb", type=int, default=3000, help="CPU memory budget (engine.memory_mb)")
    parser.add_argument("--gpu-memory-fraction", type=float, help="cap the GPU memory torch may use")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--no-classic", action="store_true", help="skip the classic reference")
    parser.add_argument("--bound", action="store_true", help="also time a bare forward+backward per step")
    parser.add_argument("--weights-file", help="a converted features state dict (.pt)")
    parser.add_argument("--cache-dir", default="~/.cache/dreamtrip", help="dreamtrip's weights cache")
    return parser.parse_args()


if __name__ == "__main__":
    main()

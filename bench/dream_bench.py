"""Dream engine benchmark: seconds per (photo, layer), peak memory and dream strength, against
the classic implementation (bench/classic_reference.py) run in the same process, same settings.

    .venv/bin/python bench/dream_bench.py                         # CPU, 600 px, conv4_3 and conv5_2
    python bench/dream_bench.py --device cuda --size 1024 --layers conv3_1 conv4_2 conv5_2

Needs torch and Pillow only (plus the weights: the HED conversion that `make weights` caches, or
--weights-file). Ratios are what to compare across machines; seconds are this machine's.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.classic_reference import ClassicDreamer  # noqa: E402
from bench.machine import RssSampler, cpu_name  # noqa: E402
from pipeline.config import load_settings  # noqa: E402
from pipeline.dream import dream_batch, layer_activation, pick_dtype, pil_to_tensor  # noqa: E402
from pipeline.imaging import fit_long_side  # noqa: E402
from pipeline.layers import depth  # noqa: E402
from pipeline.model import InputNorm, build_dream_net  # noqa: E402
from pipeline.params import DreamParams  # noqa: E402
from pipeline.tiling import TilePlan  # noqa: E402
from pipeline.weights import HED_NORM, choose_weights, load_features_state  # noqa: E402

PHOTO = Path(__file__).resolve().parent.parent / "data/sample-album/01-charles-bridge-espresso.jpg"


def main() -> None:
    args = parse_args()
    device = torch.device(args.device)
    state, norm, weights_name = load_weights(args)
    image = fit_long_side(Image.open(PHOTO).convert("RGB"), args.size)
    x = pil_to_tensor(image).to(device)
    params = DreamParams(octaves=args.octaves, octave_scale=args.scale, steps=args.steps,
                         step_size=args.step_size, jitter=32, smoothing=0.5, precision=args.precision)
    print_machine(device, weights_name, image.size, params, args)

    engine_net = build_dream_net(state, InputNorm(*norm), max(args.layers, key=depth))
    engine_net = engine_net.to(device, memory_format=torch.channels_last)
    classic = ClassicDreamer(state, InputNorm(*norm), device)
    dtype = pick_dtype(args.precision, device)
    plan = TilePlan.for_device(device, 3000, dtype, args.layers)
    measure_net = build_dream_net(state, InputNorm(*norm), "conv5_3").to(device)

    print(f"\n{'layer':8} {'classic s':>10} {'engine s':>9} {'speed-up':>9} "
          f"{'classic MB':>11} {'engine MB':>10} {'strength classic':>17} {'engine':>7} {'ratio':>6}")
    for layer in args.layers:
        for _ in range(args.repeat):
            ref_s, ref_mb, ref_out = timed(device, lambda: classic.dream(
                x, layer, args.octaves, args.scale, args.steps, args.classic_lr, 32))
            eng_s, eng_mb, eng_out = timed(device, lambda: dream_batch(
                engine_net, x.contiguous(memory_format=torch.channels_last), [layer], params, dtype, plan))
            base = layer_activation(measure_net, x, layer)
            ref_strength = layer_activation(measure_net, ref_out, layer) / base
            eng_strength = layer_activation(measure_net, eng_out.contiguous(), layer) / base
            print(f"{layer:8} {ref_s:10.2f} {eng_s:9.2f} {ref_s / eng_s:8.2f}x "
                  f"{ref_mb:11.0f} {eng_mb:10.0f} {ref_strength:17.2f} {eng_strength:7.2f} "
                  f"{eng_strength / ref_strength:6.2f}", flush=True)

    if len(args.layers) > 1:
        compare_batching(engine_net, x, args.layers, params, dtype, plan, device)


def compare_batching(net, x, layers, params, dtype, plan, device) -> None:
    x = x.contiguous(memory_format=torch.channels_last)
    one_by_one, _, _ = timed(device, lambda: [dream_batch(net, x, [layer], params, dtype, plan) for layer in layers])
    batched, _, _ = timed(device, lambda: dream_batch(net, x, list(layers), params, dtype, plan))
    print(f"\n{len(layers)} layers of one photo: one at a time {one_by_one:.2f} s, as one batch "
          f"{batched:.2f} s ({one_by_one / batched:.2f}x)")


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


def load_weights(args):
    if args.weights_file:
        return torch.load(args.weights_file, map_location="cpu", weights_only=True), HED_NORM, "hed (file)"
    choice = choose_weights("auto")
    return load_features_state(choice, load_settings().weights_cache_dir), choice.norm, choice.source


def print_machine(device, weights, size, params, args) -> None:
    cpu = cpu_name()
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "-"
    print(f"machine: {platform.machine()}, {cpu}, {os.cpu_count()} cores; GPU: {gpu}; torch {torch.__version__}")
    print(f"device: {device}; engine dtype: {pick_dtype(args.precision, device)}; weights: {weights}")
    print(f"photo: {PHOTO.name} at {size[0]}x{size[1]}; octaves {params.octaves} x {params.octave_scale}, "
          f"{params.steps} steps; engine step {params.step_size}, classic lr {args.classic_lr}")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", type=int, default=600, help="working size (long side, px)")
    parser.add_argument("--layers", nargs="+", default=["conv4_3", "conv5_2"])
    parser.add_argument("--octaves", type=int, default=4)
    parser.add_argument("--scale", type=float, default=1.8)
    parser.add_argument("--steps", type=int, default=10)
    # The classic recipe's lr 0.09 is in ImageNet-normalised units (std ~0.226): ~0.02 in 0..1
    # pixels, std-normalised; the engine's step is mean-|g|-normalised, ~0.8 of that per step.
    parser.add_argument("--classic-lr", type=float, default=0.02)
    parser.add_argument("--step-size", type=float, default=0.016)
    parser.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--weights-file", help="a converted features state dict (.pt)")
    return parser.parse_args()


if __name__ == "__main__":
    main()

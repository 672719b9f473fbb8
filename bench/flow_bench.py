"""The whole flow against the engine alone: how much of a run's dream phase is the engine's.

Makes an album of N camera-size JPEGs (12 MP by default: real photos from data/sample-album
enlarged with grain, and EXIF), runs the real Prefect flow on it, and prints the device, the
seconds per (photo, layer) of the dream phase (its wall time / dreams), the engine's own seconds
per (photo, layer) (what the manifest records), and last `flow/engine: R`, their ratio: 1.00
means the device never waits for decoding, encoding or Prefect.

    PYTHONPATH=. .venv/bin/python bench/flow_bench.py --photos 3 --dream-size 512 --layers conv3_1 --device cpu
    python bench/flow_bench.py --photos 12 --dream-size 2048 --layers conv3_1 conv4_2 conv5_2 --device cuda

The Prefect server's start-up and the ingest are not part of the dream phase.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import cpu_name  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SAMPLES = sorted((REPO / "data" / "sample-album").glob("*.jpg"))


def make_album(folder: Path, photos: int, size: tuple[int, int]) -> None:
    """`photos` JPEGs of `size`, each a sample photo enlarged, with film grain so that no two
    are alike (and the JPEG decoder has real work), and a camera's EXIF."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(photos):
        with Image.open(SAMPLES[i % len(SAMPLES)]) as sample:
            big = sample.convert("RGB").resize(size, Image.Resampling.BICUBIC)
        grain = rng.normal(0, 6, (size[1], size[0], 1)).astype(np.float32)
        pixels = np.clip(np.asarray(big, dtype=np.float32) + grain, 0, 255).astype(np.uint8)
        exif = Image.Exif()
        exif[0x0110] = "Bench Camera"
        exif[0x0132] = f"2026:06:{i % 28 + 1:02d} 10:00:00"
        Image.fromarray(pixels).save(folder / f"IMG_{i:04d}.jpg", quality=92, exif=exif)


def run_flow(album: Path, out: Path, args) -> object:
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from flows import launch
    from flows.preflight import Execution

    overrides = {"layers": args.layers, "device": args.device, "output.dir": str(out),
                 "images.dream_size": args.dream_size, "weights.source": args.weights}
    if args.octaves:
        overrides["dream.octaves"] = args.octaves
    # As `dreamtrip run` does it: the plan made once, then the flow (a first run: no quick rerun).
    return launch.run(album, Path(args.config) if args.config else None, overrides, Execution(),
                      warn=print, say=print)


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="flow-bench-") as tmp:
        album, out = Path(tmp) / "album", Path(tmp) / "out"
        started = time.perf_counter()
        make_album(album, args.photos, tuple(args.photo_size))
        print(f"album: {args.photos} photos of {args.photo_size[0]}x{args.photo_size[1]} px "
              f"({args.photo_size[0] * args.photo_size[1] / 1e6:.0f} MP), made in "
              f"{time.perf_counter() - started:.1f} s")
        manifest = run_flow(album, out, args)
    dreams = [d for d in manifest.dreams() if d.ok and not d.reused]
    if not dreams or not manifest.run.dream_seconds:
        sys.exit(f"no dream was made: {manifest.failures()}")
    flow_s = manifest.run.dream_seconds / len(dreams)
    engine_s = sum(d.seconds for d in dreams) / len(dreams)
    print(f"machine: {machine(manifest.device)}")
    print(f"device: {manifest.device}, precision {manifest.precision}, dream size "
          f"{manifest.dream_size or 'full'} px, layers {' '.join(args.layers)}, weights "
          f"{manifest.weights.source}, {len(dreams)} dreams")
    print(f"dream phase: {manifest.run.dream_seconds:.2f} s wall, {flow_s:.3f} s per (photo, layer)")
    print(f"engine: {engine_s:.3f} s per (photo, layer)")
    print(f"flow/engine: {flow_s / engine_s:.2f}")


def machine(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(0)
    return f"{cpu_name()}, {os.cpu_count()} cores"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=3)
    parser.add_argument("--photo-size", type=int, nargs=2, default=[4000, 3000], metavar=("W", "H"),
                        help="camera size of each photo (default 4000 3000: 12 MP)")
    parser.add_argument("--dream-size", default="512", help="images.dream_size: px, full or auto")
    parser.add_argument("--layers", nargs="+", default=["conv3_1"])
    parser.add_argument("--device", choices=["cpu", "cuda", "auto"], default="cpu")
    parser.add_argument("--octaves", type=int, help="dream.octaves (default: auto)")
    parser.add_argument("--weights", choices=["auto", "hed", "imagenet"], default="auto")
    parser.add_argument("-c", "--config", help="a settings file under the flags above")
    args = parser.parse_args()
    if args.dream_size not in ("full", "auto"):
        args.dream_size = int(args.dream_size)
    return args


if __name__ == "__main__":
    main()

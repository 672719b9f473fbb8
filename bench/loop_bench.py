"""What a dream loop costs: its CPU time (or, on a GPU, its seconds) as a multiple of one still
dream of the same photo and layer at the still's size, measured in the same process, one after
the other, so a neighbour's load falls on both. Also the seam, and the files' bytes.

    .venv/bin/python bench/loop_bench.py                      # CPU: 1024 px still, 4 s loop at 512 px
    .venv/bin/python bench/loop_bench.py --save /tmp/loop     # + the MP4, the WebP and a few frames as PNG
    python bench/loop_bench.py --device cuda --still-size 2048 --loop-size 1024 --repeat 2

The photo is resized to the still's size (enlarged if need be: a dream's cost is its pixels'),
and the still dreamed as a run dreams it (default settings: strength classic, octaves auto,
the precision `auto` decides here); the loop starts from that still, fitted to the loop's size,
as flows/loops.py starts it from the stored dream. "CPU" is the process's CPU time, every
thread and ffmpeg's too; "wall" is seconds on the clock.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import cpu_name  # noqa: E402
from pipeline.config import load_settings  # noqa: E402
from pipeline.dream.engine import load_dreamer  # noqa: E402
from pipeline.dream.loop import (  # noqa: E402
    closed_loop,
    dream_frames,
    encode_animation,
    loop_size,
    seam_ratio,
    write_video,
)
from pipeline.dream.spec import precision_on  # noqa: E402
from pipeline.dream.weights import choose_weights  # noqa: E402

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample-album" / "01-charles-bridge-espresso.jpg"


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class Clock:
    """CPU and wall seconds of a block (on CUDA, the GPU's work finished before each reading)."""

    def __init__(self, device: str):
        self.device = device

    def _sync(self):
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()

    def __enter__(self):
        self._sync()
        self.cpu, self.wall = cpu_seconds(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        self._sync()
        self.cpu, self.wall = cpu_seconds() - self.cpu, time.perf_counter() - self.wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photo", type=Path, default=SAMPLE)
    parser.add_argument("--layer", default="conv5_2", help="the default settings' deepest layer (loop: true)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--weights", default="auto", help="auto | imagenet | hed")
    parser.add_argument("--still-size", type=int, default=1024)
    parser.add_argument("--loop-size", type=int, default=None, help="default: loop.size")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--save", type=Path, help="write the MP4, the WebP and a few frames as PNG here")
    args = parser.parse_args()

    settings = load_settings()
    loop = settings.loop if args.loop_size is None else settings.loop.model_copy(update={"size": args.loop_size})
    choice = choose_weights(args.weights)
    params = replace(settings.dream.params(), precision=precision_on(settings.dream.precision, args.device))
    dreamer = load_dreamer(choice, settings.weights.cache_path, args.layer, args.device)
    with Image.open(args.photo) as stored:
        photo = stored.convert("RGB")
    # At the still's size, enlarged if need be (the sample photos are 427-640 px): what a dream
    # costs depends on its pixels, not on where they came from.
    scale = args.still_size / max(photo.size)
    photo = photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.Resampling.LANCZOS)

    print(f"machine: {cpu_name()}, {os.cpu_count()} cores seen, torch threads "
          f"{__import__('torch').get_num_threads()}, {platform.python_version()}, device {args.device}"
          + (f" ({__import__('torch').cuda.get_device_name()})" if args.device.startswith("cuda") else ""))
    print(f"photo: {args.photo.name} at {photo.size[0]}x{photo.size[1]}, layer {args.layer}, weights "
          f"{choice.source}, precision {params.precision}, strength {settings.dream.strength}")
    print(f"loop: {loop.frames} frames at {loop.fps} fps ({loop.frames / loop.fps:g} s), {loop.size} px, "
          f"zoom {loop.zoom}, {loop.steps} steps a frame, fade {loop.fade}")
    dreamer.dream(photo.resize((64, 64)), [args.layer], params)   # warm up: first-call costs out of both
    for run in range(args.repeat):
        with Clock(args.device) as still_clock:
            [still] = dreamer.dream(photo, [args.layer], params)
        start = still.resize(loop_size(still.size, loop.size), Image.Resampling.LANCZOS)
        with Clock(args.device) as frames_clock:
            made = dream_frames(dreamer, start, args.layer, params, loop)
        with Clock(args.device) as encode_clock:
            frames = closed_loop(made, loop.frames, loop.fade)
            with tempfile.TemporaryDirectory(prefix="dreamtrip-loop-") as folder:
                write_video(frames, loop.fps, loop.video_quality, Path(folder) / "loop.mp4")
                video = (Path(folder) / "loop.mp4").read_bytes()
            animation = encode_animation(frames, loop.fps, loop.webp_quality)
        loop_cpu, loop_wall = frames_clock.cpu + encode_clock.cpu, frames_clock.wall + encode_clock.wall
        print(f"run {run + 1}: still {still_clock.cpu:.1f} s CPU ({still_clock.wall:.1f} s wall); loop "
              f"{loop_cpu:.1f} s CPU ({loop_wall:.1f} s wall: frames {frames_clock.wall:.1f}, encoding "
              f"{encode_clock.wall:.1f}) = {loop_cpu / still_clock.cpu:.2f}x the still's CPU, "
              f"{loop_wall / still_clock.wall:.2f}x its wall time")
        print(f"        seam {seam_ratio(frames):.2f}x the median step (without the fade "
              f"{seam_ratio(made[:loop.frames]):.2f}x); MP4 {len(video) / 1e6:.2f} MB, WebP "
              f"{len(animation) / 1e6:.2f} MB, {frames[0].shape[1]}x{frames[0].shape[0]}")
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
        (args.save / "loop.mp4").write_bytes(video)
        (args.save / "loop.webp").write_bytes(animation)
        still.save(args.save / "still.jpg", quality=90)
        for number in sorted({0, len(frames) // 4, len(frames) // 2, len(frames) - loop.fade, len(frames) - 1}):
            Image.fromarray(frames[number]).save(args.save / f"frame-{number:03d}.png")
        print(f"saved in {args.save}")


if __name__ == "__main__":
    main()

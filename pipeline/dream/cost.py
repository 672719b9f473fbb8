"""How long a run's dreams take on this machine, said before it starts.

The model: a dream's time is the sum, over its octaves, of steps x the seconds of one step at
that octave's size, plus a fixed share per dream (its photo decoded, the dream and its web copies
encoded). One step is one forward+backward pass to the layer plus some work per pixel (the
mirror, the roll, the blur, the ReLUs and pools), so at P pixels (the octave with its mirrored
margins) on a layer whose forward pass does M multiply-adds per input pixel:

    step seconds = P x (M + STEP_EXTRA_MACS) x per_mac

`per_mac` is this machine's: measured by `calibrate` on a pass of a small image to conv4_2 (a
second or two on a quiet machine; the best of two after a warm-up) at every run's start, and
the fastest so far kept in the user's state folder for the CPU, its threads, torch and the
precision (`machine_key`). The constants were fitted to whole runs (tests/dream/test_cost.py,
BENCHMARKS.md "How long a run takes"). What it cannot know: how busy the machine will be during
the run (a run beside other work on a loaded 2-core machine took 5.6x the estimate).

Only `calibrate` loads torch; the rest is arithmetic over the plan's sizes and layers.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.config import DreamParams, LoopSettings
from pipeline.layers import CONV_LAYERS, LAYERS, auto_octaves
from pipeline.output.files import write_bytes_atomic

# The layer and the size `calibrate` times (320x240).
CALIBRATION_LAYER = "conv4_2"
CALIBRATION_SIZE = (240, 320)
# A step's work besides the convolutions, per pixel, in multiply-adds of the calibration pass
# (ReLUs, pools, the fp32 mirror, roll and blur: memory-bound, so a large share on a CPU); how
# much slower a dream's step goes than the small calibration pass, per unit of that work (bigger
# maps, fewer cache hits); and what a dream costs besides its steps (decode, the dream and its
# web copies encoded, the task's bookkeeping): fitted to the runs recorded in
# tests/dream/test_cost.py (BENCHMARKS.md, "How long a run takes").
STEP_EXTRA_MACS = 160_000
STEP_OVER_PASS = 1.1
PER_DREAM_S = 2.0
# A loop's frame besides its steps: the bicubic zoom, the mirror set up for one octave, the frame
# kept as bytes (512 px, conv5_2: BENCHMARKS.md "Dream loops", 201 s for 75 frames at 1.2x load,
# of which ~1.6 s a frame are the steps).
PER_FRAME_S = 0.6
# What a run costs besides its dreams: Prefect's temporary server and the run's bookkeeping, and
# each photo's ingest (hashed, decoded small, its web copies written).
START_S = 12.0
PER_PHOTO_S = 1.0
EDGE_MARGIN = 16  # engine.EDGE_MARGIN (the mirrored margin every step's pass sees on each side)
CACHE_NAME = "calibration.json"


def macs_per_pixel(layer: str) -> float:
    """Multiply-adds per input pixel of a forward pass to `layer` (the backward pass to the
    image does as many again)."""
    conv = LAYERS[layer]
    return sum(c.in_channels * c.channels * 9 / 4**c.pools_before
               for c in CONV_LAYERS[: CONV_LAYERS.index(conv) + 1])


@dataclass(frozen=True)
class Calibration:
    """Seconds per multiply-add of a step on this machine (see the module's doc)."""

    per_mac: float
    key: str = ""            # the machine and precision it was measured for (machine_key)

    def step_seconds(self, pixels: float, layer: str) -> float:
        return pixels * (macs_per_pixel(layer) + STEP_EXTRA_MACS) * self.per_mac * STEP_OVER_PASS

    @classmethod
    def of_pass(cls, seconds: float, pixels: int, key: str = "") -> "Calibration":
        """From one calibration pass's seconds at `pixels`."""
        return cls(seconds / pixels / (macs_per_pixel(CALIBRATION_LAYER) + STEP_EXTRA_MACS), key)


def octave_pixels(size: tuple[int, int], params: DreamParams, layer: str) -> list[tuple[int, int]]:
    """(pixels each pass sees, steps) at each octave of a dream of `size` (width, height), as the
    engine's pyramid makes it (engine.octave_sizes; octaves too small for the layer left out)."""
    width, height = size
    octaves = params.octaves if params.octaves is not None else auto_octaves(max(size), params.octave_scale)
    sides = []
    for level in range(octaves):
        h, w = round(height / params.octave_scale**level), round(width / params.octave_scale**level)
        if level and min(h, w) < LAYERS[layer].min_side:
            break
        sides.append((h + 2 * EDGE_MARGIN) * (w + 2 * EDGE_MARGIN))
    return list(zip(sides[::-1], params.steps_by_octave(len(sides)), strict=True))  # smallest first


def dream_seconds(size: tuple[int, int], layer: str, params: DreamParams, calibration: Calibration) -> float:
    """Seconds one dream of `size` (width, height) on `layer` takes on the calibrated machine."""
    steps = sum(steps * calibration.step_seconds(pixels, layer)
                for pixels, steps in octave_pixels(size, params, layer))
    return steps + PER_DREAM_S


def loop_seconds(size: tuple[int, int], layer: str, params: DreamParams, loop: LoopSettings,
                 calibration: Calibration) -> float:
    """Seconds one dream loop of `size` (its frames' width, height) on `layer` takes: each frame
    dreamed after the first is a one-octave dream of a few steps (pipeline/dream/loop.py), plus its
    zoom; the two files are encoded once at the end."""
    frame = loop.frame_params(params)
    steps = sum(steps * calibration.step_seconds(pixels, layer) for pixels, steps in octave_pixels(size, frame, layer))
    return loop.dreamed_frames * (steps + PER_FRAME_S) + PER_DREAM_S


def run_seconds(dreams: list[tuple[tuple[int, int], str]], params: DreamParams, calibration: Calibration,
                photos: int = 0) -> float:
    """Seconds a run of `dreams` ((width, height), layer), one at a time, of `photos` photos
    takes from Prefect's start to its end."""
    return START_S + photos * PER_PHOTO_S + sum(dream_seconds(size, layer, params, calibration)
                                                for size, layer in dreams)


def in_words(seconds: float) -> str:
    """'40 s', '41 min', '3 h 05 min'."""
    if seconds < 90:
        return f"{max(1, round(seconds / 10) * 10 if seconds >= 20 else round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


# ---- measuring this machine, once ----

def machine_key(device: str, precision: str) -> str:
    """What a calibration holds for: the processor, the threads torch uses, torch's release,
    the device and the precision."""
    import torch

    return json.dumps([_processor(), torch.get_num_threads(), torch.__version__, device, precision])


def _processor() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def calibration_for(device: str, precision: str, folder: Path) -> Calibration:
    """This machine's calibration, measured now (a second or two) and kept in `folder` (the
    user's state folder): the fastest measured so far for this machine, thread count, torch and
    precision (`machine_key`; another of them starts afresh). The fastest, because a measurement
    taken while other work loads the machine says nothing about the run (measured: a pass 4x
    slower than the same machine's quiet one, and the run that followed at its quiet speed)."""
    key = machine_key(device, precision)
    path = Path(folder) / CACHE_NAME
    fresh = calibrate(device, precision, key)
    try:
        kept = Calibration(**json.loads(path.read_text()))
        if kept.key == key and kept.per_mac <= fresh.per_mac:
            return kept
    except (OSError, ValueError, TypeError):
        pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, json.dumps(asdict(fresh)).encode())
    except OSError:
        pass  # measured again next time
    return fresh


def calibrate(device: str, precision: str, key: str = "") -> Calibration:
    """Time a forward+backward pass to CALIBRATION_LAYER as the engine runs it (its network,
    channels-last, its precision), on random weights (the speed does not depend on them, and
    nothing needs loading): the best of two after a warm-up."""
    import torch

    from pipeline.dream.engine import DTYPES
    from pipeline.dream.model import DreamNet, InputNorm, vgg16_features
    from pipeline.dream.tiling import whole_gradient

    torch_device = torch.device(device)
    net = DreamNet(vgg16_features(CALIBRATION_LAYER), InputNorm(1.0, (0.0,) * 3, (1.0,) * 3)).eval()
    net = net.requires_grad_(False).to(torch_device, memory_format=torch.channels_last)
    image = torch.rand(1, 3, *CALIBRATION_SIZE, device=torch_device).contiguous(memory_format=torch.channels_last)
    best = float("inf")
    for attempt in range(3):
        started = time.perf_counter()
        whole_gradient(net, image, CALIBRATION_LAYER, DTYPES[precision])
        if torch_device.type == "cuda":
            torch.cuda.synchronize(torch_device)
        if attempt:  # the first is the warm-up (kernels chosen, memory mapped)
            best = min(best, time.perf_counter() - started)
    return Calibration.of_pass(best, CALIBRATION_SIZE[0] * CALIBRATION_SIZE[1], key)

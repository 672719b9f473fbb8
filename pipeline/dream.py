"""DeepDream: nudge a photo, by gradient ascent, until a VGG16 layer fires harder.

The recipe (after google/deepdream): an image pyramid of `octaves`, dreamed smallest first; at
each octave `steps` ascent steps on the mean square of the layer's ReLU output, each on a randomly
rolled copy (jitter, so the network's 2^n pixel grid does not print into the dream), the gradient
lightly blurred (smoothing) and normalised by its mean magnitude (so `step_size` means pixels,
whatever the layer); the detail dreamed at one octave is upscaled onto the next, larger one.

Speed: the network stops at the deepest layer asked for, its weights are frozen (no weight
gradients), it runs channels-last, in bf16 where the hardware is fast at it, and several layers of
one photo can be dreamed as one batch. Memory: big images are processed in tiles (see
pipeline/tiling.py). Needs torch and Pillow only, so it also runs on a bare GPU machine.
"""

from __future__ import annotations

import functools
import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from pipeline.files import save_image_atomic
from pipeline.model import DreamNet, InputNorm, build_dream_net
from pipeline.params import DreamParams
from pipeline.tiling import TilePlan, layer_gradient
from pipeline.weights import WeightsChoice, load_features_state


# ---- device and precision ----

class DeviceError(RuntimeError):
    """The configured device is not usable here."""


def pick_device(wanted: str) -> torch.device:
    """auto -> cuda when a GPU is usable, else cpu."""
    if wanted == "cuda" and not torch.cuda.is_available():
        raise DeviceError("device: cuda was asked for, but torch sees no CUDA GPU here; "
                          "use --device cpu or auto")
    if wanted == "auto":
        wanted = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(wanted)


def cpu_has_fast_bf16() -> bool:
    """AVX-512 BF16 or AMX: bf16 convolutions run ~2x fp32. Without them bf16 is emulated, slower."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def pick_dtype(precision: str, device: torch.device) -> torch.dtype:
    if precision == "fp32":
        return torch.float32
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_has_fast_bf16() else torch.float32


# ---- the engine ----

@dataclass
class Dreamer:
    """A loaded network on a device; dream many images with it."""

    net: DreamNet
    device: torch.device
    memory_budget_mb: int = 3000  # CPU: tile above this; CUDA: free GPU memory decides

    def dream(self, image: Image.Image, layers: list[str], params: DreamParams,
              batch: bool | None = None) -> list[Image.Image]:
        """One dreamed image per layer. `batch` None = batch where it is faster (on a GPU)."""
        if batch is None:
            batch = self.device.type == "cuda"
        x = pil_to_tensor(image).to(self.device).contiguous(memory_format=torch.channels_last)
        dtype = pick_dtype(params.precision, self.device)
        plan = TilePlan.for_device(self.device, self.memory_budget_mb, dtype, layers)
        groups = batch_groups(layers, x.shape[-2:], params) if batch else [[layer] for layer in layers]
        dreamed = {}
        for group in groups:
            for layer, out in zip(group, dream_batch(self.net, x, group, params, dtype, plan)):
                dreamed[layer] = tensor_to_pil(out.unsqueeze(0))
        return [dreamed[layer] for layer in layers]


def resolved_precision(precision: str, device_type: str) -> str:
    """TEMPORARY shim until the engine branch lands."""
    dtype = pick_dtype(precision, torch.device(device_type))
    return {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


@functools.lru_cache(maxsize=4)
def load_dreamer(choice: WeightsChoice, cache_dir, upto_layer: str, device: str = "auto",
                 memory_budget_mb: int = 3000, compile: bool = False) -> Dreamer:
    """Load once per process (and per weights/depth/device); every later call reuses it."""
    torch_device = pick_device(device)
    scale, mean, std = choice.norm
    net = build_dream_net(load_features_state(choice, cache_dir), InputNorm(scale, mean, std), upto_layer)
    net = net.to(torch_device, memory_format=torch.channels_last)
    if torch_device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed sizes per octave: let cuDNN pick the fastest
    return Dreamer(net, torch_device, memory_budget_mb)


def dream_tensor(net: DreamNet, image: torch.Tensor, layer: str, params: DreamParams,
                 dtype: torch.dtype = torch.float32, plan: TilePlan | None = None) -> torch.Tensor:
    """Dream `image` (1x3xHxW, RGB 0..1) on one layer; returns a tensor of the same shape."""
    return dream_batch(net, image, [layer], params, dtype, plan)[:1]


def dream_batch(net: DreamNet, image: torch.Tensor, layers: list[str], params: DreamParams,
                dtype: torch.dtype = torch.float32, plan: TilePlan | None = None) -> torch.Tensor:
    """Dream one image on several layers at once: batch element i ascends `layers[i]`.

    Elements never interact (VGG has no batch statistics), so each equals its own one-layer
    dream; the batch only shares each step's passes through the network.
    """
    rng = random.Random(params.seed)
    tile_rng = random.Random(params.seed + 1)  # separate, so tiling never changes the jitter
    octaves = params.octaves or 3  # TEMPORARY shim
    bases = octave_bases(image, octaves, params.octave_scale, deepest_min_side(layers))
    detail = torch.zeros_like(bases[0]).expand(len(layers), -1, -1, -1)
    for base in bases:  # smallest first
        detail = F.interpolate(detail, size=base.shape[-2:], mode="bilinear", align_corners=False)
        dreamed = (base + detail).contiguous(memory_format=torch.channels_last)
        for _ in range(params.steps):
            dreamed = ascent_step(net, dreamed, layers, params, rng, dtype, plan, tile_rng)
        detail = dreamed - base
    return dreamed.detach()


def ascent_step(net: DreamNet, images: torch.Tensor, layers: list[str], params: DreamParams,
                rng: random.Random, dtype: torch.dtype = torch.float32, plan: TilePlan | None = None,
                tile_rng: random.Random | None = None) -> torch.Tensor:
    """One jittered, smoothed, normalised gradient-ascent step; pixels stay within 0..1."""
    dy, dx = rng.randint(-params.jitter, params.jitter), rng.randint(-params.jitter, params.jitter)
    shifted = torch.roll(images, shifts=(dy, dx), dims=(-2, -1))
    grad = layer_gradient(net, shifted, layers, dtype, plan, tile_rng or random.Random(0))
    grad = torch.roll(grad, shifts=(-dy, -dx), dims=(-2, -1))
    grad = blur(grad, params.smoothing)
    grad = grad / (grad.abs().mean(dim=(1, 2, 3), keepdim=True) + 1e-8)  # per batch element
    return (images + params.step_size * grad).clamp_(0.0, 1.0)


def blur(grad: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur (two 1-D passes): removes the gradient's pixel-level noise."""
    if sigma <= 0:
        return grad
    radius = max(1, math.ceil(2 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=grad.dtype, device=grad.device)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = (kernel / kernel.sum()).repeat(3, 1, 1, 1)  # one per channel (depthwise)
    grad = F.conv2d(F.pad(grad, (radius, radius, 0, 0), mode="replicate"), kernel.view(3, 1, 1, -1), groups=3)
    return F.conv2d(F.pad(grad, (0, 0, radius, radius), mode="replicate"), kernel.view(3, 1, -1, 1), groups=3)


# ---- the pyramid ----

def min_side_for(layer: str) -> int:
    """Smallest octave side that leaves `layer` a usable map (4 cells after its pools)."""
    pools = int(layer[4]) - 1
    return 4 * 2**pools


def deepest_min_side(layers: list[str]) -> int:
    return max(min_side_for(layer) for layer in layers)


def octave_sizes(size, octaves: int, scale: float, min_side: int) -> list[tuple[int, int]]:
    """(height, width) of each octave, largest first; those too small for the layer left out."""
    height, width = size
    sizes = [(height, width)]
    for level in range(1, octaves):
        scaled = (round(height / scale**level), round(width / scale**level))
        if min(scaled) < min_side:
            break  # a too-deep layer on a tiny octave: start the pyramid where it has a map
        sizes.append(scaled)
    return sizes


def octave_bases(image: torch.Tensor, octaves: int, scale: float, min_side: int) -> list[torch.Tensor]:
    """The image at each octave, smallest first."""
    height, width = image.shape[-2:]
    if min(height, width) < min_side // 4:
        raise ValueError(f"image {width}x{height} px is too small for this layer "
                         f"(needs at least {min_side // 4} px on the short side)")
    sizes = octave_sizes((height, width), octaves, scale, min_side)
    smaller = [F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=True)
               for size in sizes[1:]]
    return [image, *smaller][::-1]


def batch_groups(layers: list[str], size, params: DreamParams) -> list[list[str]]:
    """Layers that can share a batch: those whose pyramids have the same octaves."""
    groups: dict[int, list[str]] = {}
    for layer in layers:
        count = len(octave_sizes(size, params.octaves or 3, params.octave_scale, min_side_for(layer)))
        groups.setdefault(count, []).append(layer)
    return list(groups.values())


# ---- measuring and converting ----

def layer_activation(net: DreamNet, image: torch.Tensor, layer: str) -> float:
    """Mean square of `layer`'s ReLU output: what a dream raises (tests and benchmarks use it)."""
    with torch.no_grad():
        return net(image, [layer])[layer].float().pow(2).mean().item()


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()


def tensor_to_pil(tensor: torch.Tensor) -> Image.Image:
    array = (tensor[0].permute(1, 2, 0).float().clamp(0, 1) * 255.0 + 0.5).to(torch.uint8)
    return Image.fromarray(array.cpu().numpy())


# ---- the stage: working copy in, dream files out ----

def dream_to_files(dreamer: Dreamer, working_copy: Path, layers: list[str], targets: list[Path],
                   params: DreamParams, jpeg_quality: int, full_size: Image.Image | None = None,
                   full_targets: list[Path] | None = None, batch: bool | None = None
                   ) -> list[tuple[int, int]]:
    """Dream the working copy on each layer into its target (JPEG, atomic); returns their sizes.

    With `full_size` (the upright original at camera resolution), each dream's detail is also
    applied to it and saved to the matching `full_targets` path.
    """
    with Image.open(working_copy) as opened:
        working = opened.convert("RGB")
    dreams = dreamer.dream(working, list(layers), params, batch)
    for index, (dreamed, target) in enumerate(zip(dreams, targets)):
        save_image_atomic(dreamed, target, quality=jpeg_quality)
        if full_size is not None and full_targets:
            full = apply_dream_detail(full_size, working, dreamed)
            save_image_atomic(full, full_targets[index], quality=jpeg_quality)
    return [d.size for d in dreams]


def apply_dream_detail(full: Image.Image, working: Image.Image, dreamed: Image.Image,
                       rows_per_strip: int = 512) -> Image.Image:
    """The full-size photo plus the dream's detail (dream minus working copy), upscaled.

    Keeps the camera's resolution without dreaming at it. Works in strips of rows so a 48 MP
    photo never needs more than a few float copies of a strip at once.
    """
    detail = np.asarray(dreamed, dtype=np.float32) - np.asarray(working, dtype=np.float32)
    planes = [Image.fromarray(np.ascontiguousarray(detail[..., c]), mode="F").resize(
        full.size, Image.Resampling.BICUBIC) for c in range(3)]
    original = np.asarray(full)
    out = np.empty_like(original)
    for top in range(0, full.height, rows_per_strip):
        box = (0, top, full.width, min(top + rows_per_strip, full.height))
        strip = np.stack([np.asarray(plane.crop(box)) for plane in planes], axis=-1)
        out[box[1]:box[3]] = np.clip(original[box[1]:box[3]] + strip, 0, 255).astype(np.uint8)
    return Image.fromarray(out)

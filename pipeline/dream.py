"""DeepDream: nudge a photo, by gradient ascent, until a VGG16 layer fires harder.

The recipe (after google/deepdream): an image pyramid of `octaves`, dreamed smallest first; at
each octave `steps` ascent steps on the mean square of the layer's ReLU output, each on a randomly
rolled copy (jitter, so the network's 2^n pixel grid does not print into the dream) with the
gradient normalised by its mean magnitude (so `step_size` means pixels, whatever the layer);
the detail dreamed at one octave is upscaled and added onto the next, larger one.

Needs torch and Pillow only, so it also runs on a bare GPU machine.
"""

from __future__ import annotations

import functools
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
from pipeline.weights import WeightsChoice, load_features_state


def pick_device(wanted: str) -> torch.device:
    """auto -> cuda when a GPU is usable, else cpu."""
    if wanted == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device: cuda was asked for, but torch sees no CUDA GPU")
    if wanted == "auto":
        wanted = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(wanted)


def _cpu_has_fast_bf16() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def pick_dtype(precision: str, device: torch.device) -> torch.dtype:
    """bf16 autocast where the hardware runs it fast (about 2x on this CPU), else fp32."""
    if precision == "fp32":
        return torch.float32
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if _cpu_has_fast_bf16() else torch.float32


@dataclass
class Dreamer:
    """A loaded network on a device; dream many images with it."""

    net: DreamNet
    device: torch.device

    def dream(self, image: Image.Image, layer: str, params: DreamParams) -> Image.Image:
        x = pil_to_tensor(image).to(self.device)
        x = x.contiguous(memory_format=torch.channels_last)
        dtype = pick_dtype(params.precision, self.device)
        out = dream_tensor(self.net, x, layer, params, dtype)
        return tensor_to_pil(out)


@functools.lru_cache(maxsize=4)
def load_dreamer(choice: WeightsChoice, cache_dir, upto_layer: str, device: str = "auto") -> Dreamer:
    """Load once per process (and per weights/depth/device); every later call reuses it."""
    torch_device = pick_device(device)
    scale, mean, std = choice.norm
    net = build_dream_net(load_features_state(choice, cache_dir), InputNorm(scale, mean, std), upto_layer)
    net = net.to(torch_device, memory_format=torch.channels_last)
    if torch_device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return Dreamer(net, torch_device)


def dream_tensor(net: DreamNet, image: torch.Tensor, layer: str, params: DreamParams,
                 dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Dream `image` (1x3xHxW, RGB 0..1) on `layer`; returns a tensor of the same shape."""
    rng = random.Random(params.seed)
    bases = octave_bases(image, params.octaves, params.octave_scale, min_side_for(layer))
    detail = torch.zeros_like(bases[0])
    for base in bases:  # smallest first
        detail = F.interpolate(detail, size=base.shape[-2:], mode="bilinear", align_corners=False)
        dreamed = base + detail
        for _ in range(params.steps):
            dreamed = ascent_step(net, dreamed, layer, params, rng, dtype)
        detail = dreamed - base
    return dreamed.detach()


def min_side_for(layer: str) -> int:
    """Smallest image side that still leaves `layer` a usable map (a few cells after its pools)."""
    pools = int(layer[4]) - 1
    return 4 * 2**pools


def octave_bases(image: torch.Tensor, octaves: int, scale: float, min_side: int) -> list[torch.Tensor]:
    """The image at each octave, smallest first; octaves too small for the layer are left out."""
    height, width = image.shape[-2:]
    if min(height, width) < min_side // 4:
        raise ValueError(f"image {width}x{height} px is too small for this layer "
                         f"(needs at least {min_side // 4} px on the short side)")
    bases = [image]
    for level in range(1, octaves):
        size = (round(height / scale**level), round(width / scale**level))
        if min(size) < min_side:
            break  # a too-deep layer on a tiny octave: start the pyramid where it has a map
        bases.append(F.interpolate(image, size=size, mode="bilinear", align_corners=False,
                                   antialias=True))
    return bases[::-1]


def ascent_step(net: DreamNet, image: torch.Tensor, layer: str, params: DreamParams,
                rng: random.Random, dtype: torch.dtype) -> torch.Tensor:
    """One jittered, normalised gradient-ascent step; pixels stay within 0..1."""
    dy, dx = rng.randint(-params.jitter, params.jitter), rng.randint(-params.jitter, params.jitter)
    shifted = torch.roll(image, shifts=(dy, dx), dims=(-2, -1)).detach().requires_grad_(True)
    with torch.autocast(image.device.type, dtype=dtype, enabled=dtype != torch.float32):
        activation = net(shifted, [layer])[layer]
        loss = activation.float().pow(2).mean()
    (grad,) = torch.autograd.grad(loss, shifted)
    grad = torch.roll(grad.float(), shifts=(-dy, -dx), dims=(-2, -1))
    grad = grad / (grad.abs().mean() + 1e-8)
    return (image + params.step_size * grad).clamp_(0.0, 1.0)


def layer_activation(net: DreamNet, image: torch.Tensor, layer: str) -> float:
    """Mean square of `layer`'s ReLU output: what a dream raises (used by tests and benchmarks)."""
    with torch.no_grad():
        return net(image, [layer])[layer].float().pow(2).mean().item()


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()


def tensor_to_pil(tensor: torch.Tensor) -> Image.Image:
    array = (tensor[0].permute(1, 2, 0).float().clamp(0, 1) * 255.0 + 0.5).to(torch.uint8)
    return Image.fromarray(array.cpu().numpy())


def dream_to_file(dreamer: Dreamer, working_copy: Path, target: Path, layer: str,
                  params: DreamParams, jpeg_quality: int) -> tuple[int, int]:
    """Dream the working copy on `layer` into `target` (JPEG, written atomically); its size."""
    with Image.open(working_copy) as image:
        dreamed = dreamer.dream(image.convert("RGB"), layer, params)
    save_image_atomic(dreamed, target, quality=jpeg_quality)
    return dreamed.size

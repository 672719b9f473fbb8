"""The dream gradient of an image too big for memory, computed tile by tile.

Each tile is cut with a halo (the deepest layer's receptive field), and only the activations of
its interior count in the loss; every activation is counted exactly once, so summing the tiles'
gradients gives the whole image's gradient, not an approximation. The tile grid starts at a random
offset every step, so even float-rounding differences never line up into a seam.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

import torch

from pipeline.layers import CONV_INDEX
from pipeline.model import VGG16_CFG

_CPU_SAFETY = 1.6  # allocator slack and transient buffers over the estimate below (measured)


def pools_before(layer: str) -> int:
    return int(layer[4]) - 1


def receptive_field(layer: str) -> int:
    """Input pixels (one side) that one activation of `layer` sees."""
    field, jump, convs = 1, 1, 0
    for width in VGG16_CFG:
        if width == "M":
            field, jump = field + jump, jump * 2
        else:
            field, convs = field + 2 * jump, convs + 1
            if convs == list(CONV_INDEX).index(layer) + 1:
                return field
    raise ValueError(layer)


def bytes_per_pixel(layer: str, dtype: torch.dtype) -> float:
    """Rough memory of a forward+backward to `layer`, per input pixel and batch element."""
    size = torch.finfo(dtype).bits // 8
    total = 3 * 4 * 3.0  # the image, its copy and its gradient, in fp32
    area, channels, convs = 1.0, 3, 0
    for width in VGG16_CFG:
        if width == "M":
            area /= 4
            total += channels * area * 8  # max-pool indices (int64)
            continue
        total += width * area * size * 2  # saved activation + its gradient in the backward pass
        channels, convs = width, convs + 1
        if convs == list(CONV_INDEX).index(layer) + 1:
            return total
    return total


@dataclass(frozen=True)
class TilePlan:
    """How big a pass over the network may be: `max_pixels` input pixels, batch included."""

    max_pixels: int | None = None  # None: no limit, never tile
    device_type: str = "cpu"

    @classmethod
    def for_device(cls, device: torch.device, budget_mb: int, dtype: torch.dtype,
                   layers: list[str]) -> "TilePlan":
        if device.type == "cuda":
            free, _total = torch.cuda.mem_get_info(device)
            budget = free * 0.8
        else:
            budget = budget_mb * 2**20 / _CPU_SAFETY
        # the cost per pixel of a pass to the deepest of the layers dreamed on
        per_pixel = max(bytes_per_pixel(layer, dtype) for layer in layers)
        return cls(max_pixels=int(budget / per_pixel), device_type=device.type)

    def halved(self) -> "TilePlan":
        return replace(self, max_pixels=max(1, (self.max_pixels or 0) // 2))


def layer_gradient(net, images: torch.Tensor, layers: list[str], dtype: torch.dtype,
                   plan: TilePlan | None, rng: random.Random) -> torch.Tensor:
    """d(sum over i of mean(layer_i(images[i])^2)) / d images, tiled when `plan` demands it."""
    while True:
        try:
            return _tiled_gradient(net, images, layers, dtype, plan, rng)
        except torch.OutOfMemoryError:
            if plan is None or plan.device_type != "cuda" or (plan.max_pixels or 0) < 4096:
                raise
            torch.cuda.empty_cache()
            plan = plan.halved()  # retry the step with smaller tiles rather than failing


def _tiled_gradient(net, images, layers, dtype, plan, rng) -> torch.Tensor:
    batch, _, height, width = images.shape
    stride = 2 ** max(pools_before(layer) for layer in layers)
    halo = math.ceil((max(receptive_field(layer) for layer in layers) // 2 + stride) / stride) * stride
    tile = _tile_side(plan, batch, halo, stride, max(height, width))
    counts = [_activation_count(net, layer, height, width) for layer in layers]
    if tile is None:
        return _region_gradient(net, images, layers, dtype, counts, (0, height), (0, width), (0, 0))
    grad = torch.zeros_like(images, dtype=torch.float32)
    for top, bottom in _spans(height, tile, stride, rng):
        for left, right in _spans(width, tile, stride, rng):
            y0, y1 = max(0, top - halo), min(height, bottom + halo)
            x0, x1 = max(0, left - halo), min(width, right + halo)
            region = images[:, :, y0:y1, x0:x1]
            part = _region_gradient(net, region, layers, dtype, counts, (top, bottom), (left, right), (y0, x0))
            grad[:, :, y0:y1, x0:x1] += part
    return grad


def _tile_side(plan, batch, halo, stride, longest) -> int | None:
    if plan is None or plan.max_pixels is None:
        return None
    side = int(math.sqrt(plan.max_pixels / batch)) - 2 * halo
    side = max(4 * stride, side // stride * stride)
    return None if side >= longest else side


def _spans(length: int, tile: int, stride: int, rng: random.Random) -> list[tuple[int, int]]:
    """Interior spans covering 0..length, cut at a random offset (a multiple of the stride)."""
    offset = rng.randrange(0, tile // stride) * stride
    cuts = [0] + [c for c in range(offset, length, tile) if c > 0] + [length]
    return list(zip(cuts, cuts[1:]))


def _activation_count(net, layer: str, height: int, width: int) -> int:
    """Elements in `layer`'s whole activation map (the mean's denominator)."""
    channels = net.features[CONV_INDEX[layer]].out_channels
    pools = pools_before(layer)
    return channels * (height >> pools) * (width >> pools)


def _region_gradient(net, region, layers, dtype, counts, rows, cols, origin) -> torch.Tensor:
    """Gradient of the loss of the activations whose input pixels lie in rows x cols."""
    region = region.detach().requires_grad_(True)
    with torch.autocast(region.device.type, dtype=dtype, enabled=dtype != torch.float32):
        activations = net(region, list(dict.fromkeys(layers)))
        loss = 0.0
        for index, layer in enumerate(layers):
            s = 2 ** pools_before(layer)
            act = activations[layer][index]
            r0, r1 = (rows[0] - origin[0]) // s, rows[1] // s - origin[0] // s
            c0, c1 = (cols[0] - origin[1]) // s, cols[1] // s - origin[1] // s
            loss = loss + act[:, r0:r1, c0:c1].float().pow(2).sum() / counts[index]
    (grad,) = torch.autograd.grad(loss, region)
    return grad.float()

"""The dream gradient of an image too big for memory, computed tile by tile.

Each tile is cut with a halo (the layer's receptive field), and only the activations of
its interior count in the loss; every activation is counted exactly once, so summing the tiles'
gradients gives the whole image's gradient, not an approximation. The tile grid starts at a random
offset every step, so even float-rounding differences never line up into a seam.

Every tile of an image is passed through the network at the same shape (edge tiles reach
further inwards instead of being cut short): on CUDA each new input shape costs a cuDNN
autotuning run, so a grid of ragged tiles at random offsets would autotune at every step.
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass

import torch

from pipeline.dream.memory import CPU_SAFETY, pass_bytes_per_pixel
from pipeline.dream.objective import PLAIN
from pipeline.layers import LAYERS

log = logging.getLogger(__name__)

_GPU_SHARE = 0.8     # of the memory this process can still use; the rest for the octave's own tensors
_MIN_RETRY_PIXELS = 4096  # below this, halving the tile again will not rescue an out-of-memory step


def bytes_per_pixel(layer: str, dtype: torch.dtype) -> float:
    """Rough memory of a forward+backward to `layer`, per input pixel and batch element."""
    return pass_bytes_per_pixel(layer, torch.finfo(dtype).bits // 8)


@dataclass
class TilePlan:
    """How big a pass over the network may be: `max_pixels` input pixels, batch included.

    Made for one dream, and it learns: after a pass runs out of GPU memory, the rest of the
    dream passes at the halved size instead of failing again at every step."""

    max_pixels: int | None = None  # None: no limit, never tile
    device_type: str = "cpu"

    @classmethod
    def for_device(cls, device: torch.device, budget_mb: int, dtype: torch.dtype,
                   layers: list[str]) -> "TilePlan":
        if device.type in ("cuda", "mps"):
            budget = gpu_usable_bytes(device) * _GPU_SHARE
        else:
            budget = budget_mb * 2**20 / CPU_SAFETY
        # the cost per pixel of a pass to the deepest of the layers dreamed on
        per_pixel = max(bytes_per_pixel(layer, dtype) for layer in layers)
        return cls(max_pixels=int(budget / per_pixel), device_type=device.type)

    def halve(self) -> None:
        self.max_pixels = max(1, (self.max_pixels or 0) // 2)


def gpu_usable_bytes(device: torch.device) -> int:
    """Free GPU memory plus what this process's allocator holds cached but unused; on an Apple GPU
    Metal's recommended working set less what torch's tensors hold (its cache is reusable too)."""
    if device.type == "mps":
        return torch.mps.recommended_max_memory() - torch.mps.current_allocated_memory()
    free, _total = torch.cuda.mem_get_info(device)
    cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    return free + cached


def layer_gradient(net, images: torch.Tensor, layer: str, dtype: torch.dtype,
                   plan: TilePlan | None, rng: random.Random, objective=PLAIN) -> torch.Tensor:
    """d objective(layer(images)) / d images (pipeline/dream/objective.py; by default the mean
    square), tiled when `plan` demands it."""
    while True:
        try:
            return _tiled_gradient(net, images, layer, dtype, plan, rng, objective)
        except torch.OutOfMemoryError:
            if plan is None or plan.device_type == "cpu" or (plan.max_pixels or 0) < _MIN_RETRY_PIXELS:
                raise
            getattr(torch, plan.device_type).empty_cache()
            plan.halve()  # retry the step with smaller tiles rather than failing
            log.warning("out of GPU memory: retrying the step with passes of %d px", plan.max_pixels)


def whole_gradient(net, images: torch.Tensor, layer: str, dtype: torch.dtype, objective=PLAIN) -> torch.Tensor:
    """The gradient in one pass over the whole image (what the tiles add up to)."""
    height, width = images.shape[-2:]
    count = _activation_count(layer, height, width)
    return _region_gradient(net, images, layer, dtype, count, (0, height), (0, width), (0, 0), objective)


def tile_side(plan: TilePlan | None, layer: str, shape) -> int | None:
    """Interior side of the tiles for images of `shape` (BxCxHxW); None: one pass, no tiles."""
    if plan is None or plan.max_pixels is None or math.prod(shape[-2:]) * shape[0] <= plan.max_pixels:
        return None
    stride, halo = _stride_and_halo(layer)
    side = int(math.sqrt(plan.max_pixels / shape[0])) - 2 * halo
    return max(4 * stride, side // stride * stride)


def _stride_and_halo(layer: str) -> tuple[int, int]:
    """The layer's stride, and a halo (a multiple of it) that holds its receptive field."""
    layer = LAYERS[layer]
    return layer.stride, math.ceil((layer.receptive_field // 2 + layer.stride) / layer.stride) * layer.stride


def _tiled_gradient(net, images, layer, dtype, plan, rng, objective) -> torch.Tensor:
    height, width = images.shape[-2:]
    tile = tile_side(plan, layer, images.shape)
    if tile is None:
        return whole_gradient(net, images, layer, dtype, objective)
    stride, halo = _stride_and_halo(layer)
    count = _activation_count(layer, height, width)
    row_spans, row_side = _spans(height, tile, halo, stride, rng)
    col_spans, col_side = _spans(width, tile, halo, stride, rng)
    grad = torch.zeros_like(images, dtype=torch.float32)
    for rows in row_spans:
        y0, y1 = _reach(rows, row_side + 2 * halo, halo, height, stride)
        for cols in col_spans:
            x0, x1 = _reach(cols, col_side + 2 * halo, halo, width, stride)
            region = images[:, :, y0:y1, x0:x1]
            grad[:, :, y0:y1, x0:x1] += _region_gradient(net, region, layer, dtype, count, rows, cols, (y0, x0),
                                                                objective)
    return grad


def _spans(length: int, tile: int, halo: int, stride: int,
           rng: random.Random) -> tuple[list[tuple[int, int]], int]:
    """Interior spans covering 0..length, and `side`, the longest interior one: each span with a
    halo either side fits a window of side + 2 * halo, and the two end spans, which need a halo
    only inwards, are up to `halo` longer. As few spans as the tile allows, shared evenly, cut at
    a random offset (a multiple of the stride)."""
    count = max(1, math.ceil((length - 2 * halo) / tile))
    side = math.ceil((length - 2 * halo) / count / stride) * stride  # <= tile
    slack = count * side - (length - 2 * halo)  # what the end spans can give up to move the cuts
    offset = rng.randrange(0, max(0, min(slack, side - stride)) // stride + 1) * stride
    cuts = [0] + [halo + k * side - offset for k in range(1, count)] + [length]
    return list(zip(cuts, cuts[1:], strict=False)), side


def _reach(span: tuple[int, int], window: int, halo: int, length: int, stride: int) -> tuple[int, int]:
    """The input rows (or columns) one tile's pass reads: its span and the halo around it, always
    `window` long where the image allows (edge tiles reach inwards), starting on the stride."""
    if window >= length:
        return 0, length
    start = min(max(0, span[0] - halo), (length - window) // stride * stride)
    return start, min(length, max(start + window, span[1] + halo))


def _activation_count(layer: str, height: int, width: int) -> int:
    """Elements in `layer`'s whole activation map (the mean's denominator)."""
    conv = LAYERS[layer]
    return conv.channels * (height >> conv.pools_before) * (width >> conv.pools_before)


def _region_gradient(net, region, layer, dtype, count, rows, cols, origin, objective=PLAIN) -> torch.Tensor:
    """Gradient of the objective of the activations whose input pixels lie in rows x cols (a
    sum over those positions, over the whole map's element count: the tiles add up to a mean)."""
    region = region.detach().requires_grad_(True)
    # no autocast cache: nothing here is a weight that needs grad, and a CUDA graph may capture this
    with torch.autocast(region.device.type, dtype=dtype, enabled=dtype != torch.float32, cache_enabled=False):
        act = net(region, [layer])[layer]
        s = LAYERS[layer].stride
        r0, r1 = (rows[0] - origin[0]) // s, rows[1] // s - origin[0] // s
        c0, c1 = (cols[0] - origin[1]) // s, cols[1] // s - origin[1] // s
        loss = objective.loss(act[..., r0:r1, c0:c1]) / count
    (grad,) = torch.autograd.grad(loss, region)
    return grad.float()

"""DeepDream: nudge a photo, by gradient ascent, until a VGG16 layer fires harder.

The recipe (after google/deepdream): an image pyramid of octaves, dreamed smallest first; at each
octave its `steps` (DreamParams.steps_by_octave: the full-size octave, where a step costs the most,
may take fewer) ascent steps on the mean square of the layer's ReLU output, each on a randomly
rolled copy (jitter, so the network's 2^n pixel grid does not print into the dream) framed in its
own mirror image (so the roll never puts one edge of the photo against the other), the gradient
lightly blurred (smoothing) and normalised by its mean magnitude (so `step_size` means pixels,
whatever the layer). Each step moves along the new direction plus `momentum` times the last
step's (heavy-ball ascent: a direction the gradient keeps pointing in gathers speed, so the same
strength takes fewer steps; issue 23 measured it in BENCHMARKS.md). The detail dreamed at one
octave is upscaled onto the next, larger one, and so is the speed it gathered: the next octave
goes on where the last left off instead of starting from rest (measured: 1.16x the strength for
the same steps on a deep layer, so fewer steps do). The pyramid ends at the size of the image
it is given: every octave is dreamed at its own scale, and nothing is upscaled afterwards.
`octaves: None` picks how many (pipeline.layers.auto_octaves).

Speed: the network stops at the deepest layer asked for, its weights are frozen (no weight
gradients), it runs channels-last, in bf16 where the hardware is fast at it. On CUDA each octave
is padded up to a size class (pipeline/dream/spec.py's SIZE_STEP) so that photos of slightly different
sizes reuse cuDNN's autotuning, and small passes can be replayed from CUDA graphs
(pipeline/dream/graphs.py). Memory: big images are processed in tiles (pipeline/dream/tiling.py), the max pools keep no
indices for the backward pass (model.LeanMaxPool2d), freed tensors go back to the system
(memory.return_freed_memory). Needs
torch and Pillow only, so it also runs on a bare GPU machine.

What the ascent climbs is an objective of the layer's activations (pipeline/dream/objective.py):
the mean square, or, given a guide image, its pull toward the guide's features. A guided pass
never replays from a CUDA graph (graphs are keyed by shape and layer, and capture the plain
objective): it runs eagerly, as every pass does off CUDA.
"""

from __future__ import annotations

import functools
import math
import random
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from pipeline.config import DreamParams
from pipeline.dream.graphs import GraphCache
from pipeline.dream.memory import give_back_gpu_libraries, return_freed_memory
from pipeline.dream.model import DreamNet, InputNorm, build_dream_net
from pipeline.dream.objective import PLAIN, GuideFeatures, guided_objective, max_guide_vectors
from pipeline.dream.tiling import TilePlan, layer_gradient, tile_side
from pipeline.dream.weights import WeightsChoice, load_features_state
from pipeline.layers import LAYERS, auto_octaves

# What each `precision` decided in pipeline/dream/spec.py computes in.
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# The widest mirrored margin around the image at each step (see edge_margin). 8, 16 and 32 px
# measured alike at the edges (BENCHMARKS.md); each px costs pixels on every side.
EDGE_MARGIN = 16
# Guide features kept per loaded network (a few MB each): one album rarely has more guides.
_MAX_GUIDES = 16


# ---- the engine ----

@dataclass(frozen=True)
class Passes:
    """How each forward+backward pass runs: network, precision, tiles, size classes, graphs."""

    net: DreamNet
    dtype: torch.dtype = torch.float32
    plan: TilePlan | None = None
    size_step: int | None = None     # pad octaves to multiples of this; None: exact shapes
    graphs: GraphCache | None = None

    def gradient(self, images: torch.Tensor, layer: str, canvas: tuple[int, int],
                 tile_rng: random.Random, objective=PLAIN) -> torch.Tensor:
        """The gradient of `objective` for `images`, passed through the network padded to `canvas`."""
        height, width = images.shape[-2:]
        # always channels-last: the fast layout, and one layout means the same kernels every step
        padded = pad_to(images, canvas).contiguous(memory_format=torch.channels_last)
        grad = None
        if self.graphs is not None and not objective.guided and tile_side(self.plan, layer, padded.shape) is None:
            grad = self.graphs.gradient(padded, layer, self.dtype)
        if grad is None:
            grad = layer_gradient(self.net, padded, layer, self.dtype, self.plan, tile_rng, objective)
        return grad[..., :height, :width]

    def guide_features(self, guide: torch.Tensor, layer: str) -> GuideFeatures:
        """The guide image's (1x3xHxW, RGB 0..1) features at `layer`, in this pass's precision."""
        with torch.no_grad(), torch.autocast(guide.device.type, dtype=self.dtype, enabled=self.dtype != torch.float32):
            activations = self.net(guide.contiguous(memory_format=torch.channels_last), [layer])[layer]
            return GuideFeatures.of(activations, max_guide_vectors(layer))


@dataclass(frozen=True)
class Guide:
    """A guide image for a dream: the picture, a name for its content (its sha256) and how the
    dream is pulled toward it (objective.GUIDE_MODES)."""

    image: Image.Image
    sha256: str
    mode: str


@dataclass
class Dreamer:
    """A loaded network on a device; dream many images with it."""

    net: DreamNet
    device: torch.device
    memory_budget_mb: int = 3000  # CPU: tile above this; a GPU: the memory torch reports decides
    size_step: int | None = None
    graphs: GraphCache | None = None
    _guides: dict = field(default_factory=dict, repr=False)  # (sha256, layer, side, dtype) -> GuideFeatures

    def dream(self, image: Image.Image, layers: list[str], params: DreamParams,
              guide: Guide | None = None) -> list[Image.Image]:
        """One dreamed image per layer, each exactly `image.size`: the caller hands the photo
        at the size it wants dreamed, and `params` with the precision decided (bf16 | fp16 | fp32);
        with a `guide`, each layer's dream is pulled toward the guide's features there.
        One layer at a time: dreaming them as one batch measured slower on a CPU and an H200."""
        x = pil_to_tensor(image, self.device).contiguous(memory_format=torch.channels_last)
        passes = self.passes(params.precision, layers)
        return [tensor_to_pil(dream_tensor(passes, x, layer, params, self.objective(passes, guide, layer, image.size)))
                for layer in layers]

    def objective(self, passes: Passes, guide: Guide | None, layer: str, size: tuple[int, int]):
        """PLAIN without a guide; else the guide's objective, its features computed once per
        (guide, layer, size, precision) on this device: the guide fitted to the dream's long side."""
        if guide is None:
            return PLAIN
        long_side = max(size)
        key = (guide.sha256, layer, long_side, passes.dtype)
        features = self._guides.get(key)
        if features is None:
            fitted = guide.image.convert("RGB")
            scale = long_side / max(fitted.size)
            fitted = fitted.resize((max(1, round(fitted.width * scale)), max(1, round(fitted.height * scale))),
                                   Image.Resampling.LANCZOS)
            features = passes.guide_features(pil_to_tensor(fitted, self.device), layer)
            if len(self._guides) >= _MAX_GUIDES:
                self._guides.pop(next(iter(self._guides)))  # the oldest
            self._guides[key] = features
        return guided_objective(guide.mode, features)

    def passes(self, precision: str, layers: list[str]) -> Passes:
        dtype = DTYPES[precision]
        plan = TilePlan.for_device(self.device, self.memory_budget_mb, dtype, layers)
        return Passes(self.net, dtype, plan, self.size_step, self.graphs)


@functools.lru_cache(maxsize=4)
def load_dreamer(choice: WeightsChoice, cache_dir, upto_layer: str, device: str = "cpu", size_step: int | None = None,
                 memory_budget_mb: int = 3000, cuda_graphs: bool = False) -> Dreamer:
    """Load once per process (and per weights/depth/device/options): `device` and `size_step` as
    spec.py decided them; `cuda_graphs` replays small passes (ignored, with a warning, off CUDA)."""
    return_freed_memory()  # a dream's big tensors go back to the system between passes
    torch_device = torch.device(device)
    scale, mean, std = choice.norm
    net = build_dream_net(load_features_state(choice, cache_dir), InputNorm(scale, mean, std), upto_layer)
    net = net.to(torch_device, memory_format=torch.channels_last)
    if torch_device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # shapes repeat (size classes): let cuDNN pick the fastest
    else:
        give_back_gpu_libraries()  # loaded with torch, never called on the CPU
    if cuda_graphs and torch_device.type != "cuda":
        warnings.warn(f"CUDA graphs need a CUDA device; dreaming eagerly on {torch_device.type}", RuntimeWarning,
                      stacklevel=2)
    graphs = GraphCache(net) if cuda_graphs and torch_device.type == "cuda" else None
    return Dreamer(net, torch_device, memory_budget_mb, size_step, graphs)


def dream_tensor(passes: Passes | DreamNet, image: torch.Tensor, layer: str, params: DreamParams,
                 objective=PLAIN) -> torch.Tensor:
    """Dream `image` (1x3xHxW, RGB 0..1) on one layer, climbing `objective` (the mean square
    unless a guide's); returns a tensor of the same shape.
    A bare network means fp32, untiled, exact shapes, no graphs."""
    passes = passes if isinstance(passes, Passes) else Passes(passes)
    rng = random.Random(params.seed)
    tile_rng = random.Random(params.seed + 1)  # separate, so tiling never changes the jitter
    octaves = octave_count(params, image.shape[-2:])
    bases = octave_bases(image, octaves, params.octave_scale, LAYERS[layer].min_side)
    canvases = octave_canvases(image.shape[-2:], len(bases), params.octave_scale, passes.size_step,
                               edge_margin(params.jitter))
    detail = velocity = torch.zeros_like(bases[0])
    steps_of = params.steps_by_octave(len(bases))
    for base, canvas, steps in zip(bases, canvases[::-1], steps_of, strict=False):  # smallest first
        detail, velocity = (F.interpolate(t, size=base.shape[-2:], mode="bilinear", align_corners=False)
                            for t in (detail, velocity))
        dreamed = (base + detail).contiguous(memory_format=torch.channels_last)
        for _ in range(steps):
            direction = ascent_direction(passes, dreamed, layer, params, rng, tile_rng, canvas, objective)
            velocity = params.momentum * velocity + direction  # momentum 0: the plain step, exactly
            dreamed = (dreamed + params.step_size * velocity).clamp_(0.0, 1.0)
        detail = dreamed - base
    return dreamed.detach()


def ascent_step(passes: Passes | DreamNet, images: torch.Tensor, layer: str, params: DreamParams,
                rng: random.Random, tile_rng: random.Random | None = None,
                canvas: tuple[int, int] | None = None, objective=PLAIN) -> torch.Tensor:
    """One step from rest (no momentum): pixels move `step_size` along the ascent direction and
    stay within 0..1."""
    direction = ascent_direction(passes, images, layer, params, rng, tile_rng, canvas, objective)
    return (images + params.step_size * direction).clamp_(0.0, 1.0)


def ascent_direction(passes: Passes | DreamNet, images: torch.Tensor, layer: str, params: DreamParams,
                     rng: random.Random, tile_rng: random.Random | None = None,
                     canvas: tuple[int, int] | None = None, objective=PLAIN) -> torch.Tensor:
    """The jittered, smoothed gradient of `objective` at `images`, normalised to a mean
    magnitude of 1."""
    passes = passes if isinstance(passes, Passes) else Passes(passes)
    dy, dx = rng.randint(-params.jitter, params.jitter), rng.randint(-params.jitter, params.jitter)
    height, width = images.shape[-2:]
    margin = edge_margin(params.jitter)
    shifted = torch.roll(mirror(images, margin), shifts=(dy, dx), dims=(-2, -1))
    grad = passes.gradient(shifted, layer, canvas or tuple(shifted.shape[-2:]), tile_rng or random.Random(0), objective)
    grad = torch.roll(grad, shifts=(-dy, -dx), dims=(-2, -1))[..., margin:margin + height, margin:margin + width]
    grad = blur(grad, params.smoothing)
    return grad / (grad.abs().mean() + 1e-8)


def edge_margin(jitter: int) -> int:
    """Px of mirrored photo around the image at every step (at most EDGE_MARGIN).

    A bare roll wraps the photo round: its bottom edge lands next to its top edge, and the
    dream deepens that false edge, darkening the darker side and lightening the lighter one (a
    band a few px wide along the edges). Inside a mirrored margin the roll moves the photo
    against a continuation of itself instead; past the margin (jitter > EDGE_MARGIN) what
    wraps round is mirror, not photo."""
    return min(jitter, EDGE_MARGIN)


def mirror(images: torch.Tensor, margin: int) -> torch.Tensor:
    """`images` with `margin` px of their own mirror image on every side."""
    if margin == 0:
        return images
    mode = "reflect" if margin < min(images.shape[-2:]) else "replicate"  # reflect needs margin < side
    return F.pad(images, (margin,) * 4, mode=mode)


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


# ---- the pyramid and its size classes ----

def octave_count(params: DreamParams, size) -> int:
    """The octaves asked for, or (None) as many as auto_octaves picks for this image."""
    return params.octaves if params.octaves is not None else auto_octaves(max(size), params.octave_scale)


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


def size_class(size, step: int | None) -> tuple[int, int]:
    """`size` rounded up to multiples of `step` (unchanged without one)."""
    if step is None:
        return tuple(size)
    return tuple(math.ceil(side / step) * step for side in size)


def octave_canvases(size, count: int, scale: float, step: int | None, margin: int = 0) -> list[tuple[int, int]]:
    """The shape the network sees at each of `count` octaves, largest first.

    The pyramid of the whole image's size class, each octave with its mirrored `margin` on every
    side and rounded up to its class: so every photo of one class gets the same shapes at every
    octave, and each canvas still holds its octave (rounding is monotone). Without a step: the
    octaves' own sizes plus the margins."""
    return [size_class((height + 2 * margin, width + 2 * margin), step)
            for height, width in octave_sizes(size_class(size, step), count, scale, 0)]


def pad_to(images: torch.Tensor, canvas: tuple[int, int]) -> torch.Tensor:
    """`images` padded at the bottom and right to `canvas` by mirroring (the pad only gives the
    edge activations context; its gradient is dropped)."""
    height, width = images.shape[-2:]
    pad_h, pad_w = canvas[0] - height, canvas[1] - width
    if pad_h == 0 and pad_w == 0:
        return images
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"  # reflect needs pad < side
    return F.pad(images, (0, pad_w, 0, pad_h), mode=mode)


# ---- measuring and converting ----

def layer_activation(net: DreamNet, image: torch.Tensor, layer: str) -> float:
    """Mean square of `layer`'s ReLU output: what a dream raises (tests and benchmarks use it)."""
    with torch.no_grad():
        return net(image, [layer])[layer].float().pow(2).mean().item()


def pil_to_tensor(image: Image.Image, device: torch.device | str = "cpu") -> torch.Tensor:
    """1x3xHxW RGB in 0..1, on `device` (moved as bytes: a quarter of the float's transfer)."""
    array = torch.from_numpy(np.array(image.convert("RGB"))).to(device)
    return (array.permute(2, 0, 1).unsqueeze(0).float() / 255.0).contiguous()


def tensor_to_pil(tensor: torch.Tensor) -> Image.Image:
    array = (tensor[0].permute(1, 2, 0).float().clamp(0, 1) * 255.0 + 0.5).to(torch.uint8)
    return Image.fromarray(array.cpu().numpy())

"""What a dream climbs: a scalar of one layer's activations, separate from how they are computed.

Every objective is a sum over positions (of the layer's map), so a tile's loss covers only its
own positions and the tiles' gradients add up to the whole image's (pipeline/dream/tiling.py
divides by the map's size: a mean, whatever the tiles). Three:

- `Plain`: the mean square of the activations, google/deepdream's default: whatever the photo
  already excites grows.
- `Matching` (google/deepdream's `objective_guide`): each position's activation vector is pulled
  toward the guide's feature vector it best matches (largest dot product). The gradient at a
  position is that guide vector itself, so the loss is sum_i <x_i, g_argmax>, with the argmax
  taken without gradient.
- `Channels`: the mean square with each channel weighted by the guide's mean activation in it
  (normalised to mean 1): the channels the guide fires grow, the others fade.

The guide's features (`GuideFeatures`) are computed once per guide, layer and size on the
device that dreams, and shared by every step, octave and tile.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pipeline.config import GUIDE_MODES  # dream.guide_mode: the modes below, by name
from pipeline.layers import CONV_LAYERS, LAYERS

# Matching's argmax is an N x M matrix product (positions x guide vectors, C deep each): a guide is
# subsampled (evenly, on a fixed grid) to as many vectors as keep that product under MATCH_SHARE of
# the pass's own forward+backward multiply-adds at the layer (max_guide_vectors), and at most this.
MAX_GUIDE_VECTORS = 4096
MATCH_SHARE = 0.05
# Positions whose best match is computed in one matrix product (N x M floats at a time).
_MATCH_CHUNK = 8192


class Plain:
    """sum of squares: the classic dream."""

    guided = False

    def loss(self, activations: torch.Tensor) -> torch.Tensor:
        return _SumOfSquares.apply(activations)


class _SumOfSquares(torch.autograd.Function):
    """activations.float().pow(2).sum(), and the same gradient bit for bit, without what autograd
    would keep for it: a float32 copy of the layer's map, its square and its gradient, at once
    (~0.1 GB of a 1024 px pass's peak on conv4_2). The layer's map itself is kept by its ReLU."""

    @staticmethod
    def forward(ctx, activations: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(activations)
        return activations.to(torch.float32, copy=True).pow_(2).sum()  # a copy: never the map itself

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (activations,) = ctx.saved_tensors
        # autograd's 2x * g in float32, rounded to the map's type: 2 * g first is the same product
        return activations.to(torch.float32, copy=True).mul_(2 * grad).to(activations.dtype)


@dataclass(frozen=True)
class GuideFeatures:
    """A guide image's activations at one layer: its mean per channel, and up to
    MAX_GUIDE_VECTORS of its position vectors (C x M), float32 on the dreaming device."""

    channel_means: torch.Tensor   # C
    vectors: torch.Tensor         # C x M

    @classmethod
    def of(cls, activations: torch.Tensor, max_vectors: int = MAX_GUIDE_VECTORS) -> "GuideFeatures":
        """From the guide's activations (1 x C x H x W), at most `max_vectors` of its positions."""
        acts = activations.detach().float()[0]
        vectors = acts.flatten(1)
        if vectors.shape[1] > max_vectors:
            keep = torch.linspace(0, vectors.shape[1] - 1, max_vectors, device=vectors.device).round().long()
            vectors = vectors[:, keep]
        return cls(channel_means=acts.mean(dim=(1, 2)), vectors=vectors.contiguous())


class Matching:
    """Each position pulled toward the guide vector it matches best (google/deepdream)."""

    guided = True

    def __init__(self, guide: GuideFeatures):
        self.vectors = guide.vectors

    def loss(self, activations: torch.Tensor) -> torch.Tensor:
        return (activations.float() * self.targets(activations)).sum()

    def targets(self, activations: torch.Tensor) -> torch.Tensor:
        """For every position, the guide vector with the largest dot product (no gradient)."""
        with torch.no_grad():
            batch, channels, height, width = activations.shape
            x = activations.detach().float().permute(0, 2, 3, 1).reshape(-1, channels)
            best = torch.cat([(chunk @ self.vectors).argmax(dim=1) for chunk in x.split(_MATCH_CHUNK)])
            picked = self.vectors.t()[best]  # N x C
            return picked.view(batch, height, width, channels).permute(0, 3, 1, 2)


class Channels:
    """The mean square, each channel weighted by the guide's mean activation in it."""

    guided = True

    def __init__(self, guide: GuideFeatures):
        means = guide.channel_means
        self.weights = (means / (means.mean() + 1e-8)).view(1, -1, 1, 1)

    def loss(self, activations: torch.Tensor) -> torch.Tensor:
        return (activations.float().pow(2) * self.weights).sum()


def max_guide_vectors(layer: str) -> int:
    """Guide vectors Matching may compare each position with at `layer`: its argmax costs
    M x channels multiply-adds a position, the pass ~3x (forward and backward) those of every conv
    up to the layer, per position of its map. Shallow layers get fewer (conv3_1 1053, conv2_1 267);
    conv1_* keep a floor of 64, which there costs more than MATCH_SHARE."""
    conv = LAYERS[layer]
    per_position = sum(c.in_channels * c.channels * 9 * 4 ** (conv.pools_before - c.pools_before)
                       for c in CONV_LAYERS[: CONV_LAYERS.index(conv) + 1])
    return int(min(MAX_GUIDE_VECTORS, max(64, MATCH_SHARE * 3 * per_position / conv.channels)))


PLAIN = Plain()
_GUIDED = {"matching": Matching, "channels": Channels}
assert set(_GUIDED) == set(GUIDE_MODES), "pipeline/config.py names the modes the config accepts"


def guided_objective(mode: str, guide: GuideFeatures) -> Matching | Channels:
    return _GUIDED[mode](guide)

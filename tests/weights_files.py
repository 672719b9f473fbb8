"""Made-up ImageNet VGG16 checkpoints for the weights tests.

torchvision names its file after the sha256 of its bytes (vgg16-397923af.pth) and checks that
prefix; dreamtrip derives its check, the download target and the weights identity from the
table's row (`pipeline.layers.WEIGHTS["imagenet"]`: file and sha256). A test names its fake file
after the fake's own hash the same way, so every check runs for real against bytes made here.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import replace

import torch

from pipeline.layers import WEIGHTS


def checkpoint_bytes(features: dict, classifier: bool = True) -> bytes:
    """A torchvision-style VGG16 state dict (`features.*`, and a classifier, ignored) as bytes."""
    state = {f"features.{k}": v for k, v in features.items()}
    if classifier:
        state["classifier.0.weight"] = torch.ones(4, 3)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def tiny_features() -> dict:
    torch.manual_seed(0)
    return {"0.weight": torch.randn(4, 3, 3, 3), "0.bias": torch.randn(4)}


def name_after(data: bytes) -> str:
    return f"vgg16-{hashlib.sha256(data).hexdigest()[:8]}.pth"


def expect_imagenet_file(monkeypatch, data: bytes) -> str:
    """Make `data` the file dreamtrip expects in torchvision's cache; its name, as torchvision's is."""
    name = name_after(data)
    monkeypatch.setitem(WEIGHTS, "imagenet", replace(WEIGHTS["imagenet"], file=name, sha256=name[6:14]))
    return name

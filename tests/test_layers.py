"""The one VGG16 table: every fact derived from it agrees with torchvision's own VGG16, and the
facts other modules read (names, Keras names, hints, octaves) come out as the design says."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from pipeline.layers import (CONV_INDEX, CONV_LAYERS, LAYER_NAMES, LAYERS, SMALLEST_OCTAVE, WEIGHTS, auto_octaves,
                             deepest, depth, layer_hint, layer_line, weights_of_identity)
from pipeline.dream.model import vgg16_features
from pipeline.dream.weights import _hed_group


@pytest.fixture(scope="module")
def torchvision_features() -> nn.Sequential:
    return torchvision.models.vgg16(weights=None).features  # the architecture only, no download


def test_names_and_indices_are_the_designs():
    assert LAYER_NAMES == ("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3",
                           "conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2", "conv5_3")
    assert list(CONV_INDEX.values()) == [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]


def test_each_conv_sits_where_torchvision_has_it(torchvision_features):
    modules = list(torchvision_features)
    for conv in CONV_LAYERS:
        module = modules[conv.index]
        assert isinstance(module, nn.Conv2d), conv.name
        assert (module.in_channels, module.out_channels) == (conv.in_channels, conv.channels), conv.name
        assert isinstance(modules[conv.index + 1], nn.ReLU), conv.name
        pools = sum(isinstance(m, nn.MaxPool2d) for m in modules[: conv.index])
        assert pools == conv.pools_before, conv.name
        convs_in_block = [c for c in CONV_LAYERS if c.block == conv.block]
        assert convs_in_block.index(conv) + 1 == conv.position


def test_our_features_load_torchvisions_state_dict(torchvision_features):
    state = torchvision_features.state_dict()
    ours = vgg16_features("conv5_3")
    assert {k: v.shape for k, v in ours.state_dict().items()} == \
           {k: v.shape for k, v in state.items()}  # "0.weight" ... "28.bias", same shapes
    assert len(vgg16_features("conv3_1")) == LAYERS["conv3_1"].index + 2  # cut after its ReLU


def test_strides_and_receptive_fields_match_the_network():
    """Measured, not recomputed: the map size after a layer, and which input pixels move its centre
    activation. Average pools in place of max pools (same geometry), so that every pixel of the
    field gets gradient, not only each window's maximum."""
    features = vgg16_features("conv5_3")
    features = nn.Sequential(*(nn.AvgPool2d(2, 2) if isinstance(m, nn.MaxPool2d) else m for m in features))
    for param in features.parameters():
        param.requires_grad_(False).abs_()  # positive weights: nothing cancels out
    size = 224
    image = torch.rand(1, 3, size, size, requires_grad=True)
    outputs, x = [], image
    for module in features:
        outputs.append(x := module(x))
    for conv in (LAYERS[name] for name in ("conv2_2", "conv3_3", "conv5_3")):
        act = outputs[conv.index + 1]
        assert act.shape[-1] == size // conv.stride, conv.name
        centre = act.shape[-1] // 2
        (grad,) = torch.autograd.grad(act[0, :, centre, centre].sum(), image, retain_graph=True)
        rows = grad.abs().sum(dim=(0, 1, 3)).nonzero()
        assert rows.max() - rows.min() + 1 == conv.receptive_field, conv.name
    assert LAYERS["conv5_3"].receptive_field == 196  # the published figure


def test_hed_keras_group_names():
    assert _hed_group("conv1_1") == "block1/layers/conv2d"
    assert _hed_group("conv3_2") == "block3/layers/conv2d_1"
    assert _hed_group("conv5_3") == "block5/layers/conv2d_2"


def test_hints_and_depth_follow_the_block():
    assert layer_hint("conv4_2", "hed") != layer_hint("conv4_2", "imagenet")
    assert layer_hint("conv2_1") == layer_hint("conv2_2") != layer_hint("conv3_1")  # ImageNet: not measured here
    assert layer_hint("conv2_1", "a-newer-source") == layer_hint("conv2_1")  # a newer manifest's: still words
    assert [depth(name) for name in LAYER_NAMES] == list(range(13))
    assert deepest(["conv4_1", "conv1_2", "conv3_3"]).name == "conv4_1"
    sides = [LAYERS[name].min_side for name in LAYER_NAMES]
    assert sides == sorted(sides) and sides[0] == 4


@pytest.mark.parametrize("scale", [1.4, 1.5, 1.8, 2.0])
def test_auto_octaves_keep_the_smallest_octave_around_400_px(scale):
    for long_side in (401, 600, 777, 1024, 1500, 2048, 4032, 6000, 8000):
        octaves = auto_octaves(long_side, scale)
        smallest = long_side / scale ** (octaves - 1)
        assert SMALLEST_OCTAVE <= smallest < SMALLEST_OCTAVE * scale, (long_side, octaves)


def test_auto_octaves_examples():
    assert auto_octaves(400, 1.8) == auto_octaves(600, 1.8) == auto_octaves(120, 1.8) == 1
    assert [auto_octaves(side, 1.8) for side in (1024, 2048, 8000)] == [2, 3, 6]
    assert auto_octaves(100_000, 1.001) == 12  # capped
    with pytest.raises(ValueError):
        auto_octaves(1024, 1.0)


def test_the_hed_weights_are_measured_at_every_layer():
    """bench/layer_scale.py's figures, kept as data in the table's row: one per layer, sane ranges."""
    measured = WEIGHTS["hed"].measured
    assert set(measured) == set(LAYER_NAMES)
    for layer, row in measured.items():
        assert 2 <= row.size_px <= 200 and 0 <= row.coarse <= 1 and 0 <= row.fringes <= 1, layer
        assert -130 < row.chroma < 130 and 0 < row.change < 255, layer
    assert WEIGHTS["imagenet"].measured is None  # not on the machine that measured: not made up


@pytest.mark.parametrize("source", ["hed", "imagenet"])
def test_layers_lines_differ_per_layer(source):
    lines = [layer_line(name, source) for name in LAYER_NAMES]
    assert len(set(lines)) == len(lines)
    for name, line in zip(LAYER_NAMES, lines):
        measured = (WEIGHTS[source].measured or {}).get(name)
        if measured:  # the figures behind the words are in the line
            assert f"~{measured.size_px:.0f} px" in line and f"chroma {measured.chroma:+.1f}" in line, line
        else:
            assert f"sees {LAYERS[name].receptive_field} px" in line


def test_the_layers_command_says_what_was_measured_and_what_was_not(tmp_path, capsys):
    from flows.cli import main

    config = tmp_path / "hed.yaml"
    config.write_text("weights: {source: hed, download: never}\n")
    assert main(["layers", "-c", str(config)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "HED" in out[0] and "Measured" in out[1] and "bench/layer_scale.py" in out[1]
    by_layer = dict(line.split("  ", 1) for line in out[2:])
    assert list(by_layer) == list(LAYER_NAMES)
    assert len({by_layer["conv4_1"], by_layer["conv4_2"], by_layer["conv4_3"]}) == 3  # the case


def test_a_dream_keys_weights_name_their_row():
    assert weights_of_identity("hed-4502df9d").short == "HED VGG16"
    assert weights_of_identity("imagenet-397923af") is WEIGHTS["imagenet"]
    assert weights_of_identity("hed-fake1234") is None

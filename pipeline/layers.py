"""VGG16 as one table, and every fact about its layers derived from it.

Kept free of torch so that config validation and the page writer can use it without loading
the deep-learning stack. The model (pipeline/dream/model.py), the tiling (pipeline/dream/tiling.py), the
HED weights' Keras names (pipeline/dream/weights.py) and the pyramid (pipeline/dream/engine.py) all read
their facts here instead of parsing layer names.
"""

from __future__ import annotations

from dataclasses import dataclass

# torchvision's configuration "D" (models/vgg.py): conv widths in order, "M" = 2x2 max-pool.
# `vgg16().features` is this list with a ReLU after every conv: conv, relu, ..., pool.
VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


@dataclass(frozen=True)
class ConvLayer:
    """A conv layer a dream can target: where it sits and what it sees."""

    name: str              # conv{block}_{position}, the paper's and Keras' naming
    block: int             # 1..5, the convs between two pools
    position: int          # 1.. within its block
    index: int             # of its conv in `features`; dreaming means its ReLU, at index + 1
    in_channels: int
    channels: int
    pools_before: int      # its map is the input downsampled by 2 ** pools_before
    receptive_field: int   # input pixels (one side) that one of its activations sees

    @property
    def stride(self) -> int:
        return 2 ** self.pools_before

    @property
    def min_side(self) -> int:
        """Smallest image side that leaves this layer a usable map (4 cells)."""
        return 4 * self.stride


def _conv_layers(cfg) -> tuple[ConvLayer, ...]:
    layers, index, channels, block, position, field, jump = [], 0, 3, 1, 0, 1, 1
    for entry in cfg:
        if entry == "M":
            index, block, position = index + 1, block + 1, 0
            field, jump = field + jump, jump * 2  # a 2x2 pool widens the view by one step
            continue
        position, field = position + 1, field + 2 * jump  # a 3x3 conv widens it by one step each side
        layers.append(ConvLayer(f"conv{block}_{position}", block, position, index, channels, entry,
                                block - 1, field))
        index, channels = index + 2, entry  # the conv and its ReLU
    return tuple(layers)


CONV_LAYERS = _conv_layers(VGG16_CFG)
LAYERS = {layer.name: layer for layer in CONV_LAYERS}
LAYER_NAMES = tuple(LAYERS)
CONV_INDEX = {layer.name: layer.index for layer in CONV_LAYERS}

# What a dream on each block tends to look like, in plain words for the page.
_BLOCK_HINTS = {
    1: "the first layers see colour and fine edges: the photo gets a soft painterly grain",
    2: "early layers see edges and simple textures: stripes and brush strokes appear",
    3: "middle layers see textures and repeated patterns: swirls, scales and honeycombs",
    4: "deeper layers see parts of things: circles, eyes and arches start to appear",
    5: "the deepest layers see whole objects: creatures, faces and buildings emerge",
}

# The HED weights were fine-tuned to find edges, so their deep layers dream contours, not things.
_HED_BLOCK_HINTS = {
    1: _BLOCK_HINTS[1],
    2: "early layers see edges: outlines thicken into brush strokes",
    3: "middle layers trace contours: edges multiply into ripples and scales",
    4: "deeper layers of this edge detector: contours curl into honeycomb cells",
    5: "the deepest layers here see outlines of shapes: the scene turns into bold contour patterns",
}


def layer_hint(layer: str, weights_source: str = "imagenet") -> str:
    """A one-line, plain-words description of what dreaming on `layer` does with these weights."""
    hints = _HED_BLOCK_HINTS if weights_source == "hed" else _BLOCK_HINTS
    return hints[LAYERS[layer].block]


def depth(layer: str) -> int:
    """Position of `layer` from shallow (0) to deep (12); sorts dreams shallow to deep."""
    return LAYER_NAMES.index(layer)


def deepest(layers) -> ConvLayer:
    return max((LAYERS[name] for name in layers), key=lambda layer: layer.index)


# The smallest octave's long side: VGG16's deepest layers see ~200 px of the input per
# activation, so below ~400 px an object fills their whole view and they dream noise.
SMALLEST_OCTAVE = 400
MAX_OCTAVES = 12  # a scale barely above 1 would otherwise ask for hundreds


def auto_octaves(long_side: int, scale: float) -> int:
    """As many octaves as keep the smallest one's long side at least SMALLEST_OCTAVE px
    (it lands between 400 and 400 * scale px); 1 for an image at or below that."""
    if scale <= 1:
        raise ValueError(f"octave scale must be above 1, got {scale}")
    octaves = 1
    while octaves < MAX_OCTAVES and long_side / scale**octaves >= SMALLEST_OCTAVE:
        octaves += 1
    return octaves

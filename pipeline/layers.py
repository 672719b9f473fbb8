"""The VGG16 layers a dream can target: names, where they sit, what they look like.

Kept free of torch so that config validation and the page writer can use it without
loading the deep-learning stack.
"""

# Layer name -> index of its conv in torchvision's `vgg16().features`. Dreaming on a conv
# layer means maximising its ReLU output, which sits at index + 1.
CONV_INDEX = {
    "conv1_1": 0, "conv1_2": 2,
    "conv2_1": 5, "conv2_2": 7,
    "conv3_1": 10, "conv3_2": 12, "conv3_3": 14,
    "conv4_1": 17, "conv4_2": 19, "conv4_3": 21,
    "conv5_1": 24, "conv5_2": 26, "conv5_3": 28,
}
LAYER_NAMES = tuple(CONV_INDEX)

# What a dream on each block tends to look like, in plain words for the page.
_BLOCK_HINTS = {
    "1": "the first layers see colour and fine edges: the photo gets a soft painterly grain",
    "2": "early layers see edges and simple textures: stripes and brush strokes appear",
    "3": "middle layers see textures and repeated patterns: swirls, scales and honeycombs",
    "4": "deeper layers see parts of things: circles, eyes and arches start to appear",
    "5": "the deepest layers see whole objects: creatures, faces and buildings emerge",
}


# The HED weights were fine-tuned to find edges, so their deep layers dream contours, not things.
_HED_BLOCK_HINTS = {
    "1": "the first layers see colour and fine edges: the photo gets a soft painterly grain",
    "2": "early layers see edges: outlines thicken into brush strokes",
    "3": "middle layers trace contours: edges multiply into ripples and scales",
    "4": "deeper layers of this edge detector: contours curl into honeycomb cells",
    "5": "the deepest layers here see outlines of shapes: the scene turns into bold contour patterns",
}


def layer_hint(layer: str, weights_source: str = "imagenet") -> str:
    """A one-line, plain-words description of what dreaming on `layer` does with these weights."""
    hints = _HED_BLOCK_HINTS if weights_source == "hed" else _BLOCK_HINTS
    return hints[layer[4]]


def depth(layer: str) -> int:
    """Position of `layer` from shallow (0) to deep (12); sorts dreams shallow to deep."""
    return LAYER_NAMES.index(layer)

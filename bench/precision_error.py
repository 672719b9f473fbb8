"""The figures behind the tolerances of tests/dream/test_engine.py, in fp32 and in bf16.

Each test that compares dreams or gradients pins its precision (fp32, or bf16 for the bf16
test), so the tolerance only has to cover rounding in that precision on the CPU that runs it;
this prints what that rounding is here, so the comment beside each tolerance can say what was
measured. Run it on each kind of CPU the suite runs on (an Intel Xeon without avx512_bf16
emulates bf16: slow, ~1 min; an AMD EPYC with avx512_bf16 computes it natively):

    python -m bench.precision_error [--cache DIR]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from bench.machine import cpu_name

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from helpers import quadrant_image  # noqa: E402  (the tests' own picture)
from pipeline.dream.engine import (Dreamer, Passes, ascent_step, dream_tensor, layer_activation,  # noqa: E402
                                   pil_to_tensor, tensor_to_pil)
from pipeline.dream.model import InputNorm, build_dream_net  # noqa: E402
from pipeline.dream.tiling import TilePlan, layer_gradient  # noqa: E402
from pipeline.dream.weights import choose_weights, load_features_state  # noqa: E402
from pipeline.config import DreamParams  # noqa: E402

FAST = dict(octaves=3, octave_scale=1.4, steps=3, step_size=0.02, momentum=0.0, jitter=4, smoothing=0.5, seed=0)
TILED = [((64, 64), "conv3_1", 48 * 48), ((61, 77), "conv3_1", 48 * 48),
         ((130, 101), "conv4_2", 90 * 90), ((96, 160), "conv2_2", 40 * 40)]
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def photo(size: int = 48, seed: int = 0) -> torch.Tensor:
    """tests/dream/test_engine.py's _photo."""
    base = pil_to_tensor(quadrant_image(size, size))
    noise = torch.from_numpy(np.random.default_rng(seed).normal(0, 0.05, base.shape).astype(np.float32))
    return (base * 0.6 + 0.2 + noise).clamp(0, 1)


def tiled_against_whole(net, precision: str) -> float:
    """max |tiled - whole| / max |whole| over the test's cases and seeds."""
    worst = 0.0
    for size, layer, budget in TILED:
        image = photo(max(size))[..., : size[0], : size[1]]
        whole = layer_gradient(net, image, layer, DTYPES[precision], None, random.Random(0))
        for seed in range(2):
            tiled = layer_gradient(net, image, layer, DTYPES[precision], TilePlan(max_pixels=budget), random.Random(seed))
            worst = max(worst, float((tiled - whole).abs().max() / whole.abs().max()))
    return worst


def bf16_against_fp32(net) -> float:
    """max |bf16 gradient - fp32 gradient| / max |fp32 gradient|: what bf16 autocast changes."""
    worst = 0.0
    for size, layer, _ in TILED:
        image = photo(max(size))[..., : size[0], : size[1]]
        exact = layer_gradient(net, image, layer, torch.float32, None, random.Random(0))
        rough = layer_gradient(net, image, layer, torch.bfloat16, None, random.Random(0))
        worst = max(worst, float((rough.float() - exact).abs().max() / exact.abs().max()))
    return worst


def ascent_gain(net, precision: str) -> float:
    """The smallest activation gain of one ascent step (the test wants > 1.001)."""
    gains = []
    for layer in ("conv1_2", "conv3_1", "conv5_2"):
        image = photo(64)
        params = DreamParams(**{**FAST, "step_size": 0.01, "jitter": 0}, precision=precision)
        after = ascent_step(Passes(net, DTYPES[precision]), image, layer, params, random.Random(0))
        gains.append(layer_activation(net, after, layer) / layer_activation(net, image, layer))
    return min(gains)


def dream_gain(net, precision: str, layer: str) -> float:
    """Activation gain of a whole dream (the tests want > 1.2)."""
    image = photo()
    out = pil_to_tensor(Dreamer(net, torch.device("cpu")).dream(tensor_to_pil(image), [layer],
                                                                 DreamParams(**FAST, precision=precision))[0])
    return layer_activation(net, out, layer) / layer_activation(net, image, layer)


def padded_against_unpadded(net, precision: str) -> float:
    """The largest mean |padded - unpadded| in levels over the test's sizes (it wants < 2.0)."""
    worst = 0.0
    for width, height in [(61, 47), (50, 33), (64, 64)]:
        picture = tensor_to_pil(photo(64)).resize((width, height))
        params = DreamParams(**FAST, precision=precision)
        padded = Dreamer(net, torch.device("cpu"), size_step=32).dream(picture, ["conv1_2"], params)[0]
        unpadded = Dreamer(net, torch.device("cpu")).dream(picture, ["conv1_2"], params)[0]
        worst = max(worst, float(np.abs(np.asarray(padded, dtype=int) - np.asarray(unpadded, dtype=int)).mean()))
    return worst


def run_to_run(net, precision: str) -> float:
    """max |dream - same dream again| in levels (the tests want 0: same seed, same dream)."""
    image = photo()
    params = DreamParams(**FAST, precision=precision)
    first, again = (dream_tensor(Passes(net, DTYPES[precision]), image, "conv2_1", params) for _ in range(2))
    return float((first - again).abs().max() * 255)


def edge_step_change(net, precision: str) -> float:
    """The worst side's change of its edge step, in levels (the edges test wants <= 3.0): the
    sample astronaut at 461x197, classic strength, conv3_1."""
    from PIL import Image

    from pipeline.config import STRENGTHS

    def steps(pixels: np.ndarray) -> dict[str, float]:
        grey = pixels.astype(np.float64).mean(axis=2)
        sides = {"top": grey, "bottom": grey[::-1], "left": grey.T, "right": grey.T[::-1]}
        return {side: rows[:4].mean() - rows[4:12].mean() for side, rows in sides.items()}

    with Image.open(REPO / "data" / "sample-album" / "03-castle-astronaut-exhibition.jpg") as stored:
        picture = stored.convert("RGB").resize((461, 197), Image.Resampling.LANCZOS)
    params = DreamParams(octaves=None, jitter=32, seed=0, precision=precision, **STRENGTHS["classic"])
    dreamed = tensor_to_pil(dream_tensor(Passes(net, DTYPES[precision]), pil_to_tensor(picture), "conv3_1", params))
    before, after = steps(np.asarray(picture)), steps(np.asarray(dreamed))
    return max(abs(after[side] - before[side]) for side in before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, help="converted weights cache (default: a temporary folder)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the tests run them
    cache = args.cache or Path(tempfile.mkdtemp(prefix="precision-error-"))
    choice = choose_weights("hed")
    net = build_dream_net(load_features_state(choice, cache), InputNorm(*choice.norm), "conv5_3")
    print(f"CPU: {cpu_name()}; torch {torch.__version__}; one thread")
    print(f"bf16 gradient against fp32, relative max error: {bf16_against_fp32(net):.2e}")
    for precision in DTYPES:
        print(f"[{precision}] tiled against whole gradient, relative max error: {tiled_against_whole(net, precision):.2e}")
        print(f"[{precision}] one ascent step, smallest activation gain: {ascent_gain(net, precision):.4f}")
        print(f"[{precision}] dream activation gain conv3_1 {dream_gain(net, precision, 'conv3_1'):.2f}, "
              f"conv2_2 {dream_gain(net, precision, 'conv2_2'):.2f}")
        print(f"[{precision}] padded against unpadded dream, worst mean difference: "
              f"{padded_against_unpadded(net, precision):.3f} levels")
        print(f"[{precision}] the same dream twice, max difference: {run_to_run(net, precision):.3g} levels")
        print(f"[{precision}] the edges of a dream, worst side: {edge_step_change(net, precision):.2f} levels")


if __name__ == "__main__":
    main()

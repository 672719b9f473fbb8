"""What each VGG16 layer does to a photo, measured: the size of the patterns it grows and how far it
moves the colours. `dreamtrip layers` prints these figures (the weights table in pipeline/layers.py
keeps them: the HED row's `measured`).

    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python bench/layer_scale.py --table data/sample-album/0{1,2,3}-*.jpg
    PYTHONPATH=. .venv/bin/python bench/layer_scale.py --weights imagenet --table PHOTO...   # where its file is

Each photo is dreamed at --size px (long side, default 320) on each of the 13 layers with the
`classic` strength and --octaves (default 2), on the CPU in fp32. Then, on the dream minus the photo:

- pattern size: the wavelength in px at the peak of the radial power spectrum of the change in
  luminance (Hann-windowed; the power per octave of frequency, log bins from 2 px to half the
  short side); the power-weighted geometric mean of the bins above half the peak;
- over 16 px (coarse): the share of the change's power in forms wider than 16 px;
- colour: the mean rise of CIELAB chroma from photo to dream (C*ab, 0..~130: >0 = more
  saturated), and the share of pixels whose chroma rose by more than 30 (neon fringes);
- change: the RMS of dream minus photo in luminance (0..255): how much the layer moves pixels
  at the same step size.

The median over the photos is printed per layer; --table prints it as the rows that
pipeline/layers.py keeps (Measured). Needs torch, numpy and Pillow, and the weights. On a busy
2-core machine one thread (OMP_NUM_THREADS=1) is faster than two fighting for the cores.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import cpu_name  # noqa: E402
from pipeline.config import STRENGTHS  # noqa: E402
from pipeline.dream.engine import load_dreamer, octave_count  # noqa: E402
from pipeline.dream.weights import choose_weights  # noqa: E402
from pipeline.imaging import fit_long_side, open_upright_rgb  # noqa: E402
from pipeline.layers import LAYER_NAMES  # noqa: E402
from pipeline.config import DreamParams  # noqa: E402

SAMPLE_ALBUM = Path(__file__).resolve().parent.parent / "data" / "sample-album"
COARSE_PX = 16.0     # patterns wider than this are forms rather than grain
FRINGE_CHROMA = 30.0  # a chroma rise this large reads as a neon fringe (as ../shared/tools/dream_metrics.py)


def luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., :3].astype(np.float64) @ np.array([0.2126, 0.7152, 0.0722])


def change_spectrum(photo: np.ndarray, dream: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(power, radial frequency in cycles per px) of the change in luminance, Hann-windowed."""
    diff = luminance(dream) - luminance(photo)
    height, width = diff.shape
    window = np.outer(np.hanning(height), np.hanning(width))
    power = np.abs(np.fft.fft2((diff - diff.mean()) * window)) ** 2
    fy, fx = np.meshgrid(np.fft.fftfreq(height), np.fft.fftfreq(width), indexing="ij")
    return power, np.hypot(fx, fy)


def pattern_size_px(photo: np.ndarray, dream: np.ndarray, bins: int = 28) -> float:
    """The wavelength (px) where the dream's change from the photo has the most power per octave."""
    power, radius = change_spectrum(photo, dream)
    longest = min(photo.shape[:2]) / 2
    edges = np.geomspace(1 / longest, 0.5, bins + 1)     # cycles per px, log bins
    which = np.digitize(radius, edges) - 1
    inside = (which >= 0) & (which < bins)
    per_bin = np.bincount(which[inside], weights=power[inside], minlength=bins)
    wavelengths = 1 / np.sqrt(edges[:-1] * edges[1:])    # each bin's centre, in px
    strong = per_bin >= per_bin.max() / 2
    return float(np.exp(np.average(np.log(wavelengths[strong]), weights=per_bin[strong])))


def coarse_share(photo: np.ndarray, dream: np.ndarray, longer_than_px: float = COARSE_PX) -> float:
    """The share of the change's power at wavelengths above `longer_than_px`: forms, not grain."""
    power, radius = change_spectrum(photo, dream)
    varying = radius > 0
    return float(power[varying & (radius < 1 / longer_than_px)].sum() / power[varying].sum())


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB 0..255 -> CIELAB (D65)."""
    c = rgb[..., :3].astype(np.float64) / 255
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                             [0.0193, 0.1192, 0.9505]]).T
    xyz /= np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def colour_shift(photo: np.ndarray, dream: np.ndarray) -> tuple[float, float]:
    """(mean chroma rise, share of pixels whose chroma rose by more than FRINGE_CHROMA)."""
    chroma = [np.hypot(lab[..., 1], lab[..., 2]) for lab in (srgb_to_lab(photo), srgb_to_lab(dream))]
    rise = chroma[1] - chroma[0]
    return float(rise.mean()), float((rise > FRINGE_CHROMA).mean())


def measure(photo: Image.Image, dream: Image.Image) -> dict:
    before, after = np.asarray(photo), np.asarray(dream)
    chroma_rise, fringes = colour_shift(before, after)
    change = float(np.sqrt(((luminance(after) - luminance(before)) ** 2).mean()))
    return {"size_px": pattern_size_px(before, after), "coarse": coarse_share(before, after),
            "chroma": chroma_rise, "fringes": fringes, "change": change}


def main() -> None:
    args = parse_args()
    photos = [Path(p) for p in args.photos] or sorted(SAMPLE_ALBUM.glob("*.jpg"))
    images = {p.name: fit_long_side(open_upright_rgb(p), args.size) for p in photos}
    params = DreamParams(octaves=args.octaves or None, **STRENGTHS[args.strength], jitter=32, seed=0, precision="fp32")
    choice = choose_weights(args.weights)
    layers = args.layers.split(",") if args.layers else list(LAYER_NAMES)
    dreamer = load_dreamer(choice, Path(args.cache_dir).expanduser(), "conv5_3", "cpu")
    print(f"# {choice.source} weights ({choice.identity}), {len(images)} photos at {args.size} px, strength "
          f"{args.strength} ({octave_count(params, next(iter(images.values())).size)} octaves), fp32 on "
          f"{cpu_name()}")
    print(f"{'layer':8} {'size px':>8} {'coarse':>7} {'chroma':>7} {'fringes':>8} {'change':>7}  per photo size px")
    rows, started = {}, time.perf_counter()
    for layer in layers:
        found = []
        for name, image in images.items():
            [dream] = dreamer.dream(image, [layer], replace(params))
            found.append(measure(image, dream))
            if args.save:
                Path(args.save).mkdir(parents=True, exist_ok=True)
                dream.save(Path(args.save) / f"{Path(name).stem}-{layer}.png")
        rows[layer] = {key: statistics.median(m[key] for m in found) for key in found[0]}
        row = rows[layer]
        print(f"{layer:8} {row['size_px']:8.1f} {row['coarse']:7.1%} {row['chroma']:+7.1f} {row['fringes']:8.1%} {row['change']:7.1f}  "
              + " ".join(f"{m['size_px']:.0f}" for m in found), flush=True)
    print(f"# {time.perf_counter() - started:.0f} s")
    if args.table:
        print(f"# for pipeline/layers.py ({args.size} px, {len(images)} photos, medians)")
        for layer, row in rows.items():
            print(f'    "{layer}": Measured(size_px={row["size_px"]:.1f}, coarse={row["coarse"]:.3f}, '
                  f'chroma={row["chroma"]:.1f}, fringes={row["fringes"]:.3f}, change={row["change"]:.1f}),')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", nargs="*", help="photos to dream (default: data/sample-album/*.jpg)")
    parser.add_argument("--weights", default="hed", choices=["auto", "imagenet", "hed"])
    parser.add_argument("--size", type=int, default=320, help="long side of each dream, px")
    parser.add_argument("--octaves", type=int, default=2, help="octaves of the pyramid (0: auto, as a run picks)")
    parser.add_argument("--strength", default="classic", choices=list(STRENGTHS))
    parser.add_argument("--layers", help="comma list (default: all 13)")
    parser.add_argument("--cache-dir", default="~/.cache/dreamtrip", help="dreamtrip's weights cache")
    parser.add_argument("--save", help="folder to keep the dreams in (PNG), to look at")
    parser.add_argument("--table", action="store_true", help="also print the rows for pipeline/layers.py")
    return parser.parse_args()


if __name__ == "__main__":
    main()

"""AVIF against JPEG on the sample post's pictures: bytes at the same measured quality (SSIM), and
the encoding time AVIF adds, in one run.

    PYTHONPATH=. .venv/bin/python bench/formats_bench.py [-c config/demo.yaml] [--speeds 4 6 8]
        [--qualities 40 45 ... 85] [--repeat 3] [--dreams /tmp/dreamtrip-bench/formats-dreams]

1. The pictures: every web copy the post of data/sample-album offers with the config's settings
   (config/demo.yaml: dreams at 512 px, web sizes 480 and 960), made as the pipeline makes them
   (decoded upright, each size resized from the one above), kept lossless in memory: the photos'
   copies, and the copies of each photo's dreams on its layers (album.yaml's, else the config's),
   dreamed on the CPU with the HED weights. Dreams are kept as PNG under --dreams and reused.
2. Each picture is encoded as JPEG at images.jpeg_quality (what the pipeline writes) and as AVIF
   at each --speeds x --qualities (the pipeline's other AVIF_OPTIONS: its threads); each file is decoded again and compared with the lossless
   picture: SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, on R, G and B, averaged).
3. For each speed, the lowest AVIF quality whose mean SSIM over the pictures reaches the JPEGs'
   is the quality that matches JPEG; the table gives its bytes against the JPEGs' and its
   encoding time. Then JPEG and AVIF at the matching quality of the chosen speed (--speed, the
   pipeline's AVIF_OPTIONS) are timed again, --repeat times each, interleaved: the encoding time
   per photo (its copies and its dreams' copies) of each, and AVIF's over JPEG's. CPU seconds
   count every thread of the encoder; wall seconds are the fastest of the repeats.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image, features

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import cpu_name  # noqa: E402
from pipeline.config import load_settings  # noqa: E402
from pipeline.text import slug  # noqa: E402
from pipeline.imaging import decode_upright_rgb, fit_long_side, fitted_size, open_photo, upright_size  # noqa: E402
from pipeline.ingest.album import find_photos, load_album_text  # noqa: E402
from pipeline.ingest.exif import read_exif  # noqa: E402
from pipeline.ingest.photos import usable_cores  # noqa: E402
from pipeline.dream.spec import ENGINE_REVISION, DreamRecipe  # noqa: E402
from pipeline.output.store import AVIF_OPTIONS, web_long_sides  # noqa: E402

ALBUM = ROOT / "data" / "sample-album"
DREAMS = Path(tempfile.gettempdir()) / "dreamtrip-bench" / "formats-dreams"


# ---------------------------------------------------------------- SSIM

def _gaussian(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    taps = np.arange(size) - size // 2
    kernel = np.exp(-0.5 * (taps / sigma) ** 2)
    return kernel / kernel.sum()


def _filtered(channel: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """The channel filtered by the separable kernel, over the windows that fit (no padding)."""
    rows = sliding_window_view(channel, kernel.size, axis=1) @ kernel
    return sliding_window_view(rows, kernel.size, axis=0) @ kernel


def ssim(reference: np.ndarray, test: np.ndarray) -> float:
    """Mean SSIM of two 8-bit RGB arrays of one shape, averaged over R, G and B."""
    kernel = _gaussian()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    scores = []
    for channel in range(3):
        x = reference[..., channel].astype(np.float64)
        y = test[..., channel].astype(np.float64)
        mx, my = _filtered(x, kernel), _filtered(y, kernel)
        sxx = _filtered(x * x, kernel) - mx * mx
        syy = _filtered(y * y, kernel) - my * my
        sxy = _filtered(x * y, kernel) - mx * my
        index = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
        scores.append(index.mean())
    return float(np.mean(scores))


# ---------------------------------------------------------------- the post's pictures

@dataclass
class Picture:
    photo: str        # the album photo it belongs to (a dream's copies belong to their photo)
    label: str        # "01-charles-bridge-espresso.jpg 480" or "... conv4_2 512"
    pixels: Image.Image


def web_copies(image: Image.Image, web_sizes) -> list[tuple[int, Image.Image]]:
    """The copies the page offers of `image`, as write_copies makes them: largest first, each
    resized from the one before."""
    copies = []
    for side in sorted(web_long_sides(max(image.size), web_sizes), reverse=True):
        image = fit_long_side(image, side)
        copies.append((side, image))
    return copies


def post_pictures(config: Path | None, dreams_dir: Path) -> tuple[list[Picture], dict]:
    settings = load_settings(config)
    images, text = settings.images, load_album_text(ALBUM)
    dream_size = images.dream_size if isinstance(images.dream_size, int) else 1024  # the CPU's auto
    pictures, dreamed = [], {"dreams": 0, "made": 0, "seconds": 0.0}
    for source in find_photos(ALBUM).photos:
        path = ALBUM / source
        with open_photo(path) as opened:
            orientation = read_exif(path, opened).orientation
            size = upright_size(opened, orientation)
            photo = decode_upright_rgb(opened, orientation, max(web_long_sides(max(size), images.web_sizes)))
        pictures += [Picture(source, f"{source} {side}", copy) for side, copy in web_copies(photo, images.web_sizes)]
        with open_photo(path) as opened:
            dream_input = decode_upright_rgb(opened, orientation, max(fitted_size(size, dream_size)))
        for layer in text.layers_for(source, settings.layers):
            dream = cached_dream(dreams_dir, source, dream_input, layer, settings, dreamed)
            pictures += [Picture(source, f"{source} {layer} {side}", copy)
                         for side, copy in web_copies(dream, images.web_sizes)]
    return pictures, dreamed


def cached_dream(dreams_dir: Path, source: str, image: Image.Image, layer: str, settings, dreamed: dict) -> Image.Image:
    """The photo's dream on `layer` with the config's dream settings (fp32, CPU, HED), lossless."""
    params = settings.dream.params()
    recipe = DreamRecipe(slug(source), layer, params, max(image.size), "fp32", None, "hed", 0, ENGINE_REVISION)
    path = dreams_dir / f"{slug(source)}-{layer}-{recipe.key()[:8]}.png"
    dreamed["dreams"] += 1
    if path.is_file():
        return Image.open(path).convert("RGB")
    from pipeline.dream.engine import load_dreamer  # torch only when a dream is missing
    from pipeline.dream.weights import choose_weights

    dreamer = load_dreamer(choose_weights("hed"), settings.weights.cache_path, "conv5_3", "cpu")
    started = time.perf_counter()
    [dream] = dreamer.dream(image, [layer], replace(params, precision="fp32"))
    dreamed["made"] += 1
    dreamed["seconds"] += time.perf_counter() - started
    dreams_dir.mkdir(parents=True, exist_ok=True)
    dream.save(path)
    return dream


# ---------------------------------------------------------------- encoding

@dataclass
class Encoded:
    size: int
    ssim: float
    wall: float
    cpu: float


def encode(image: Image.Image, fmt: str, **options) -> tuple[bytes, float, float]:
    buffer = io.BytesIO()
    wall, cpu = time.perf_counter(), time.process_time()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue(), time.perf_counter() - wall, time.process_time() - cpu


def measured(picture: Picture, fmt: str, **options) -> Encoded:
    data, wall, cpu = encode(picture.pixels, fmt, **options)
    with Image.open(io.BytesIO(data)) as decoded:
        score = ssim(np.asarray(picture.pixels), np.asarray(decoded.convert("RGB")))
    return Encoded(len(data), score, wall, cpu)


def timed(pictures: list[Picture], options: dict[str, tuple[str, dict]], repeat: int) -> dict[str, tuple[float, float]]:
    """(fastest wall seconds, CPU seconds of that pass) to encode all `pictures`, per option,
    the options interleaved in each repeat so that a busy neighbour slows them alike."""
    best = {name: (float("inf"), 0.0) for name in options}
    for _ in range(repeat):
        for name, (fmt, kwargs) in options.items():
            wall = cpu = 0.0
            for picture in pictures:
                _, w, c = encode(picture.pixels, fmt, **kwargs)
                wall, cpu = wall + w, cpu + c
            if wall < best[name][0]:
                best[name] = (wall, cpu)
    return best


# ---------------------------------------------------------------- report

def main() -> None:
    args = parse_args()
    settings = load_settings(args.config)
    jpeg_quality = settings.images.jpeg_quality
    if not features.check("avif"):
        sys.exit("this Pillow cannot write AVIF (PIL.features.check('avif') is False)")
    pictures, dreamed = post_pictures(args.config, args.dreams)
    photos = sorted({p.photo for p in pictures})
    print(f"{cpu_name()}, {usable_cores()} cores; Pillow {Image.__version__}, libavif {features.version('avif')}, "
          f"libjpeg-turbo {features.version('libjpeg_turbo')}")
    shown = args.config.resolve().relative_to(ROOT) if args.config.resolve().is_relative_to(ROOT) else args.config.name
    print(f"the sample post at {shown}'s sizes (web sizes {settings.images.web_sizes}, dreams at "
          f"{settings.images.dream_size} px): {len(photos)} photos, {dreamed['dreams']} dreams -> {len(pictures)} "
          f"pictures, {sum(p.pixels.width * p.pixels.height for p in pictures) / 1e6:.2f} MP"
          + (f" ({dreamed['made']} dreams made now, {dreamed['seconds']:.0f} s)" if dreamed["made"] else ""))

    jpeg = [measured(p, "JPEG", quality=jpeg_quality) for p in pictures]
    jpeg_bytes, jpeg_ssim = sum(e.size for e in jpeg), statistics.mean(e.ssim for e in jpeg)
    print(f"\nJPEG quality {jpeg_quality}: {jpeg_bytes / 1024:.0f} KB, mean SSIM {jpeg_ssim:.4f}, "
          f"encoding {sum(e.wall for e in jpeg) * 1000:.0f} ms wall")
    matches = {}
    for speed in args.speeds:
        print(f"\nAVIF speed {speed}\n quality      KB  of JPEG  mean SSIM  pictures below JPEG's SSIM  encoding ms")
        for quality in args.qualities:
            avif = [measured(p, "AVIF", **{**AVIF_OPTIONS, "quality": quality, "speed": speed}) for p in pictures]
            size, score = sum(e.size for e in avif), statistics.mean(e.ssim for e in avif)
            below = sum(a.ssim < j.ssim for a, j in zip(avif, jpeg))
            print(f" {quality:7d} {size / 1024:7.0f} {size / jpeg_bytes:8.0%} {score:10.4f} "
                  f"{below:14d} of {len(pictures):<11d} {sum(e.wall for e in avif) * 1000:7.0f}")
            if score >= jpeg_ssim and speed not in matches:
                matches[speed] = (quality, size)
        if speed in matches:
            quality, size = matches[speed]
            print(f" -> quality {quality} matches JPEG {jpeg_quality}'s SSIM with {size / jpeg_bytes:.0%} of its bytes")
        else:
            print(f" -> no quality listed reaches JPEG {jpeg_quality}'s mean SSIM")

    speed = args.speed if args.speed in matches else next(iter(matches), None)
    if speed is None:
        return
    quality = matches[speed][0]
    best = timed(pictures, {"jpeg": ("JPEG", {"quality": jpeg_quality}),
                            "avif": ("AVIF", {**AVIF_OPTIONS, "quality": quality, "speed": speed})}, args.repeat)
    (jpeg_wall, jpeg_cpu), (avif_wall, avif_cpu) = best["jpeg"], best["avif"]
    per_photo = 1000 / len(photos)
    print(f"\nencoding per photo (its copies and its dreams' copies; fastest of {args.repeat}):")
    print(f"  JPEG q{jpeg_quality}:          {jpeg_wall * per_photo:7.1f} ms wall, {jpeg_cpu * per_photo:7.1f} ms CPU")
    print(f"  AVIF q{quality} speed {speed}:  {avif_wall * per_photo:7.1f} ms wall, {avif_cpu * per_photo:7.1f} ms CPU"
          f"   = {avif_wall / jpeg_wall:.1f}x JPEG's wall time, {avif_cpu / jpeg_cpu:.1f}x its CPU time")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-c", "--config", type=Path, default=ROOT / "config" / "demo.yaml",
                        help="the settings whose sizes and dreams make the post")
    parser.add_argument("--speeds", type=int, nargs="+", default=[AVIF_OPTIONS["speed"]])
    parser.add_argument("--speed", type=int, default=AVIF_OPTIONS["speed"], help="the speed timed against JPEG")
    parser.add_argument("--qualities", type=int, nargs="+", default=list(range(40, 90, 5)))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dreams", type=Path, default=DREAMS, help="where the lossless dreams are kept")
    return parser.parse_args()


if __name__ == "__main__":
    main()

"""How long `dreamtrip blog` takes to rebuild the post of a big album (target: under 3 s).

Makes an album of 200 small photos with a story each, and an output folder as a run would have
left it for 3 layers: web copies from the real ingest stage, and stand-in dream files under their
real content-addressed names (the photo itself at dream size: the page does not look at pixels,
and dreaming 600 images here would take an hour). Then times
`dreamtrip blog` as a user runs it, in a fresh Python process, imports included.

    PYTHONPATH=. .venv/bin/python bench/blog_bench.py [--photos 200] [--layers conv3_1 conv4_2 conv5_2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from pipeline.ingest.album import find_photos, load_album_text
from pipeline.config import load_settings
from pipeline.dream.spec import DreamSpec, dream_input, save_dream
from pipeline.ingest.photos import ingest_photo
from pipeline.manifest import AlbumInfo, Manifest, WeightsInfo, now
from pipeline.output.manifest_file import write_manifest
from pipeline.post.page import write_page
from pipeline.output.store import DreamStore

REPO = Path(__file__).resolve().parent.parent
WEIGHTS = WeightsInfo(source="hed", identity="bench", description="stand-in weights (benchmark)",
                      reason="benchmark", note="no dreaming happened")
DREAM_SIZE = 64


def make_album(album: Path, photos: int, size: tuple[int, int] = (96, 64)) -> None:
    """`photos` small JPEGs, each a different colour (so each has its own hash), and album.yaml."""
    album.mkdir(parents=True, exist_ok=True)
    stories = []
    for i in range(photos):
        name = f"{i:03d}-photo.jpg"
        Image.new("RGB", size, (i * 37 % 256, i * 91 % 256, i * 53 % 256)).save(album / name)
        stories.append(f"  {name}:\n    story: Day {i // 20 + 1}, stop {i % 20 + 1}. A short caption.\n")
    (album / "album.yaml").write_text("title: A long trip\nintro: Many photos.\nphotos:\n"
                                      + "".join(stories))


def make_dreamed_output(album: Path, out: Path, layers: list[str]) -> Manifest:
    """The output folder and manifest a finished run would leave, without dreaming."""
    settings = load_settings(None, {"layers": layers, "images.dream_size": DREAM_SIZE,
                                    "images.web_sizes": [48, 96], "output.dir": str(out)})
    images, text, files = settings.images, load_album_text(album), find_photos(album)
    spec = DreamSpec(settings.dream.params(), DREAM_SIZE, WEIGHTS.identity, tuple(images.web_sizes),
                     images.web_formats(), precision="fp32", size_step=None, device="cpu",
                     guide_mode=settings.dream.guide_mode)
    photos = []
    for source in files.photos:
        photo = ingest_photo(album, source, out, images.web_sizes, images.web_formats(), images.max_pixels)
        stand_in = dream_input(album, photo, spec, images.max_pixels)
        for layer in layers:
            save_dream(stand_in, spec.files(photo, layer), DreamStore(out), images.web_formats())
        photos.append(text.described(photo, [spec.entry(photo, layer, 1.0) for layer in layers], settings.privacy))
    manifest = Manifest(created=now(), album=text.info(album.name),
                        weights=WEIGHTS, device="cpu", dream_size=DREAM_SIZE, octaves=spec.octaves, precision="fp32",
                        settings=settings, photos=photos, skipped=files.skipped)
    write_manifest(manifest, out)
    manifest.page = str(write_page(manifest, out))
    return manifest


def time_blog(album: Path, out: Path) -> float:
    """Seconds for `dreamtrip blog ALBUM -o OUT` in a fresh process (what a user waits)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "flows.cli", "blog", str(album), "-o", str(out)],
                   check=True, env=env, cwd=REPO, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--layers", nargs="+", default=["conv3_1", "conv4_2", "conv5_2"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="blog-bench-") as tmp:
        album, out = Path(tmp) / "album", Path(tmp) / "out"
        started = time.perf_counter()
        make_album(album, args.photos)
        make_dreamed_output(album, out, args.layers)
        print(f"set-up: {args.photos} photos x {len(args.layers)} layers "
              f"in {time.perf_counter() - started:.1f} s")
        times = [time_blog(album, out) for _ in range(args.repeat)]
        print(f"dreamtrip blog: best {min(times):.2f} s, worst {max(times):.2f} s "
              f"over {args.repeat} runs (fresh process each, imports included; target < 3 s)")


if __name__ == "__main__":
    main()

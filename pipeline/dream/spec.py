"""The CPU side of a dream: what size it is made at, its input, its files and its manifest entry.

The engine (pipeline/dream/engine.py) only turns pixels into dreamed pixels on the device. Everything
around it is here and needs no torch: decoding the photo at dream size before its turn on the
device, and encoding the dream and its web sizes after, so both overlap another photo's dream.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from pipeline.files import save_image_atomic
from pipeline.imaging import decode_upright_rgb, fitted_size, open_photo
from pipeline.ingest.photos import web_images, write_copies
from pipeline.manifest import DreamEntry, PhotoEntry, WebImage
from pipeline.params import DreamParams
from pipeline.store import DreamFiles, DreamRecipe, DreamStore, WebFormats

# images.dream_size: auto, by the kind of device that dreams (README: what each size costs).
AUTO_DREAM_SIZE = {"cuda": 2048, "cpu": 1024}


def resolve_dream_size(setting: int | str, device_type: str) -> int | None:
    """images.dream_size in px for this device; None for `full` (each photo's own size)."""
    if setting == "full":
        return None
    return AUTO_DREAM_SIZE[device_type] if setting == "auto" else int(setting)


@dataclass(frozen=True)
class DreamSpec:
    """How every dream of a run is made, named and saved (resolved for the dreaming device)."""

    params: DreamParams
    dream_size: int | None          # None: each photo at its own size
    weights: str                    # WeightsChoice.identity
    web_sizes: tuple[int, ...]
    formats: WebFormats
    precision: str                  # what the device computes in: bf16 | fp16 | fp32
    size_step: int | None           # octaves padded to multiples of this (a GPU), or exact

    def size(self, photo: PhotoEntry) -> tuple[int, int]:
        """(width, height) the photo is dreamed at: never larger than the photo."""
        return fitted_size((photo.width, photo.height), self.dream_size or photo.long_side)

    def files(self, photo: PhotoEntry, layer: str) -> DreamFiles:
        recipe = DreamRecipe(photo.sha256, layer, self.params, max(self.size(photo)), self.precision,
                             self.size_step, self.weights, self.formats.jpeg_quality)
        return DreamFiles.of(recipe, self.web_sizes)

    def entry(self, photo: PhotoEntry, layer: str, seconds: float | None = None,
              reused: bool = False) -> DreamEntry:
        """The manifest entry of a finished dream (sizes follow from the photo's: no file read)."""
        files, size = self.files(photo, layer), self.size(photo)
        return DreamEntry(layer=layer, status="ok", image=WebImage(path=files.image, width=size[0], height=size[1]),
                          web=web_images(size, files.web, self.formats), seconds=seconds, reused=reused)

    def stored(self, store: DreamStore, photo: PhotoEntry, layer: str) -> DreamEntry | None:
        """The entry of a dream an earlier run finished, or None. Web copies of sizes or formats
        added since (images.web_sizes, images.formats) are made from the stored dream: that needs
        no dreaming."""
        files = self.files(photo, layer)
        if not store.fetch(files.image):
            return None
        missing = {side: [name for name in names if not store.fetch(name)]
                   for side, names in web_files(files, self.formats).items()}
        if any(missing.values()):
            with Image.open(store.out_dir / files.image) as stored:
                save_copies(stored.convert("RGB"), missing, store, self.formats)
        return self.entry(photo, layer, reused=True)


def dream_input(album_dir: Path, photo: PhotoEntry, spec: DreamSpec, max_pixels: int) -> Image.Image:
    """The photo, upright, sRGB, at the size it is dreamed at (not to be modified: it is shared)."""
    orientation = photo.exif.orientation if photo.exif else 1
    return _decoded(str(Path(album_dir) / photo.source), photo.sha256, orientation, max(spec.size(photo)),
                    max_pixels)


@functools.lru_cache(maxsize=4)
def _decoded(path: str, sha256: str, orientation: int, long_side: int, max_pixels: int) -> Image.Image:
    """Kept for the photo's other layers: decoding a 12 MP JPEG costs about as much CPU as a GPU
    takes to dream it. `sha256` keys the content: an edited photo is decoded again."""
    with open_photo(Path(path), max_pixels) as image:
        return decode_upright_rgb(image, orientation, long_side)


def web_files(files: DreamFiles, formats: WebFormats) -> dict[int, list[str]]:
    """Every file of a dream's web copies by long side (JPEGs and their twins), the dream's
    own file left out."""
    return {side: [name for name in formats.files(jpeg) if name != files.image] for side, jpeg in files.web.items()}


def save_dream(dreamed: Image.Image, files: DreamFiles, store: DreamStore, formats: WebFormats) -> None:
    """Write the dream and its web copies (atomically), and show them in the output folder."""
    save_image_atomic(dreamed, store.target(files.image), **formats.save_options(files.image))
    store.publish(files.image)
    save_copies(dreamed, web_files(files, formats), store, formats)


def save_copies(dreamed: Image.Image, files: dict[int, list[str]], store: DreamStore, formats: WebFormats) -> None:
    """Write `files` (by long side) from the dream, and show them in the output folder."""
    write_copies(dreamed, files, store.target, formats)
    for relative in (name for names in files.values() for name in names):
        store.publish(relative)

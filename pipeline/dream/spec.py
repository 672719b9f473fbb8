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

from pipeline.files import read_hashed, save_image_atomic
from pipeline.imaging import PhotoError, decode_upright_rgb, fitted_size, open_photo
from pipeline.ingest.photos import web_images, write_copies
from pipeline.manifest import DreamEntry, PhotoEntry, WebImage
from pipeline.params import DreamParams
from pipeline.store import DreamFiles, DreamRecipe, DreamStore, web_long_sides

# images.dream_size: auto, by the kind of device that dreams (README: what each size costs).
AUTO_DREAM_SIZE = {"cuda": 2048, "cpu": 1024}
PHOTO_CHANGED = ("the file changed after this run read it (edited or replaced during the run): "
                 "not dreamed; run again to dream it as it is now")


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
    jpeg_quality: int
    precision: str                  # what the device computes in: bf16 | fp16 | fp32
    size_step: int | None           # octaves padded to multiples of this (a GPU), or exact

    def size(self, photo: PhotoEntry) -> tuple[int, int]:
        """(width, height) the photo is dreamed at: never larger than the photo."""
        return fitted_size((photo.width, photo.height), self.dream_size or photo.long_side)

    def files(self, photo: PhotoEntry, layer: str) -> DreamFiles:
        recipe = DreamRecipe(photo.sha256, layer, self.params, max(self.size(photo)), self.precision,
                             self.size_step, self.weights, self.jpeg_quality)
        return DreamFiles.of(recipe, self.web_sizes)

    def entry(self, photo: PhotoEntry, layer: str, seconds: float | None = None,
              reused: bool = False) -> DreamEntry:
        """The manifest entry of a finished dream (sizes follow from the photo's: no file read)."""
        files, size = self.files(photo, layer), self.size(photo)
        offered = {side: files.copies.get(side, files.image) for side in web_long_sides(max(size), self.web_sizes)}
        return DreamEntry(layer=layer, status="ok", image=WebImage(path=files.image, width=size[0], height=size[1]),
                          web=web_images(size, offered), seconds=seconds, reused=reused)

    def stored(self, store: DreamStore, photo: PhotoEntry, layer: str) -> DreamEntry | None:
        """The entry of a dream an earlier run finished, or None. Web copies of sizes added
        since (images.web_sizes) are made from the stored dream: that needs no dreaming."""
        files = self.files(photo, layer)
        if not store.fetch(files.image):
            return None
        missing = {side: name for side, name in files.copies.items() if not store.fetch(name)}
        if missing:
            with Image.open(store.out_dir / files.image) as stored:
                save_copies(stored.convert("RGB"), DreamFiles(files.image, missing), store, self.jpeg_quality)
        return self.entry(photo, layer, reused=True)


def dream_input(album_dir: Path, photo: PhotoEntry, spec: DreamSpec, max_pixels: int) -> Image.Image:
    """The photo, upright, sRGB, at the size it is dreamed at (not to be modified: it is shared)."""
    orientation = photo.exif.orientation if photo.exif else 1
    return _decoded(str(Path(album_dir) / photo.source), photo.sha256, orientation, max(spec.size(photo)),
                    max_pixels)


@functools.lru_cache(maxsize=4)
def _decoded(path: str, sha256: str, orientation: int, long_side: int, max_pixels: int) -> Image.Image:
    """Kept for the photo's other layers: decoding a 12 MP JPEG costs about as much CPU as a GPU
    takes to dream it. The bytes decoded are the bytes hashed here, and they must be the content
    `sha256` names: the dream is stored under that hash's key, so a photo edited or replaced
    since ingest is refused, never dreamed under its old content's key."""
    data, found = read_hashed(Path(path))
    if found != sha256:
        raise PhotoError(PHOTO_CHANGED)
    with open_photo(Path(path), max_pixels, data) as image:
        return decode_upright_rgb(image, orientation, long_side)


def save_dream(dreamed: Image.Image, files: DreamFiles, store: DreamStore, jpeg_quality: int) -> None:
    """Write the dream and its smaller web copies (atomically), and show them in the output folder."""
    save_image_atomic(dreamed, store.target(files.image), quality=jpeg_quality)
    store.publish(files.image)
    save_copies(dreamed, files, store, jpeg_quality)


def save_copies(dreamed: Image.Image, files: DreamFiles, store: DreamStore, jpeg_quality: int) -> None:
    write_copies(dreamed, files.copies, store.target, jpeg_quality)
    for relative in files.copies.values():
        store.publish(relative)

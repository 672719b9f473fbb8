"""Where each output file lives in the output folder, and the content-addressed dream keys.

A dream's file name carries a key made of everything that changes its pixels (the photo's
content hash, the layer, the dream parameters, the working size, the weights), so a rerun
finds finished dreams by name and never dreams the same thing twice.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path, PurePosixPath

from pipeline.params import DreamParams

WORK_DIR = ".work"      # working copies: inputs to dreaming, not published
PHOTOS_DIR = "photos"   # web sizes of the originals
DREAMS_DIR = "dreams"


def dream_key(photo_sha256: str, layer: str, params: DreamParams, working_size: int,
              weights_identity: str) -> str:
    recipe = {"photo": photo_sha256, "layer": layer, "params": params.as_dict(),
              "working_size": working_size, "weights": weights_identity}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def dream_file(photo_sha256: str, layer: str, key: str) -> str:
    """Path of a dream, relative to the output dir."""
    return f"{DREAMS_DIR}/{photo_sha256[:12]}-{layer}-{key[:8]}.jpg"


def full_size_file(dream_relative: str) -> str:
    """The full-camera-resolution version of a dream, beside it."""
    return dream_relative.removesuffix(".jpg") + "-full.jpg"


def working_file(photo_sha256: str, working_size: int) -> str:
    # PNG: lossless, so the dream starts from exactly the resized original.
    return f"{WORK_DIR}/{photo_sha256[:16]}-{working_size}.png"


def web_file(source: str, photo_sha256: str, long_side: int) -> str:
    return f"{PHOTOS_DIR}/{safe_stem(source)}-{photo_sha256[:8]}-{long_side}.jpg"


def safe_stem(source: str) -> str:
    """The photo's name without folders or extension, with only letters, digits, '.', '-', '_'."""
    return re.sub(r"[^\w.-]+", "-", PurePosixPath(source).stem).strip("-.") or "photo"

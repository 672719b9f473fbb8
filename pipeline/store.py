"""Where each output file lives, and the content-addressed names of dreams.

A dream's file name carries a key of its recipe: everything that changes its pixels (the photo's
content hash, the layer, the dream parameters, the size it is dreamed at, how the engine computes
on its device and the engine's revision, the weights, the JPEG quality). A rerun finds finished
dreams by name and never dreams the same thing twice, whatever happened to the run, the process
or Prefect's database since. Dreams are kept in the output folder, or in a store folder shared
between albums (`output.store_dir`) and linked from there into each output folder that shows
them. Each web copy is a JPEG, and may have twins in other formats (WebFormats).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from pipeline.files import TEMP_PREFIX, slug
from pipeline.records import FileRecord, record_of

PHOTOS_DIR = "photos"   # web copies of the originals
DREAMS_DIR = "dreams"
# The names the two functions below make (an output folder of an earlier release holds them).
_MADE_NAMES = {PHOTOS_DIR: re.compile(r"[a-z0-9-]+-[0-9a-f]{8}-[0-9]+\.jpg"),
               DREAMS_DIR: re.compile(r"[0-9a-f]{12}-conv[1-5]_[1-3]-[0-9a-f]{8}(-[0-9]+)?\.jpg")}


# ---- a dream's knobs, resolved (torch-free: config, manifest and page use them) ----

# The engine's revision, part of every dream's store key: raised whenever the same settings start
# making other pixels, so that a dream stored by an older engine is never taken for a new one.
#   1: the first engine.
#   2: each step rolls the image inside a mirrored margin, not round onto its opposite edge
#      (which left a dark or light band along the edges).
ENGINE_REVISION = 2


@dataclass(frozen=True)
class DreamParams:
    """No defaults here: they live, documented, in the settings file."""

    octaves: int | None   # pyramid levels; None: as many as keep the smallest ~400+ px (layers.auto_octaves)
    octave_scale: float   # size ratio between levels
    steps: int            # gradient-ascent steps per octave
    step_size: float      # mean pixel change per step (fraction of the 0..1 range)
    jitter: int           # max random roll in px before each step
    smoothing: float      # sigma (px) of the blur applied to the gradient; 0 = none
    seed: int
    precision: str        # auto | bf16 | fp32

    def as_dict(self) -> dict:
        return asdict(self)



def default_output_dir(album_dir: Path, configured: Path | None = None) -> Path:
    """The output folder: the configured one, else out/<album folder name> here."""
    return configured or Path("out") / Path(album_dir).resolve().name


def web_long_sides(long_side: int, web_sizes) -> list[int]:
    """Long sides of the web copies the page offers of an image `long_side` px long: every web
    size smaller than it, and its own size when that is no larger than the largest web size.
    Never a copy larger than the image, never two of the same size."""
    sides = [side for side in sorted(web_sizes) if side < long_side]
    return sides + [long_side] if long_side <= max(web_sizes) else sides


def named_by_dreamtrip(relative: str) -> bool:
    """Whether `relative` has the name of a web copy or a dream (in its folder) as dreamtrip names them."""
    folder, _, name = relative.partition("/")
    pattern = _MADE_NAMES.get(folder)
    return pattern is not None and pattern.fullmatch(name) is not None


def web_copy_name(source: str, photo_sha256: str, long_side: int) -> str:
    """A photo's web copy, relative to the output folder: readable, and unique by content."""
    return f"{PHOTOS_DIR}/{slug(PurePosixPath(source).stem)}-{photo_sha256[:8]}-{long_side}.jpg"


# The formats a web copy can be written in (images.formats). Every copy is a JPEG, named as above;
# the others are its twins, offered to browsers before it.
WEB_FORMATS = ("avif", "jpeg")
# aom's encoder speed (0 slowest .. 10 fastest) for AVIF twins: bench/formats_bench.py measured the
# bytes and seconds of each (BENCHMARKS.md, "Image formats").
AVIF_SPEED = 6


def unwritable_formats(formats) -> list[str]:
    """Those of `formats` this Pillow cannot write (AVIF needs Pillow 11.3 or later, whose
    wheels carry libavif; a Pillow built without it cannot)."""
    from PIL import features  # only here: the page writer imports this module without Pillow

    return [fmt for fmt in formats if fmt == "avif" and not features.check("avif")]


@dataclass(frozen=True)
class WebFormats:
    """The files of every web copy: its JPEG, and an AVIF twin unless `avif_quality` is None.

    A twin is named after its JPEG with its quality in the name
    (`photos/cat-1a2b3c4d-480.jpg` -> `photos/cat-1a2b3c4d-480.q70.avif`): another quality
    writes other files, and `clean` lists the old ones.
    """

    jpeg_quality: int
    avif_quality: int | None = None

    def twins(self, jpeg_name: str) -> dict[str, str]:
        """The other files of the web copy `jpeg_name`, by format."""
        if self.avif_quality is None:
            return {}
        return {"avif": f"{jpeg_name.removesuffix('.jpg')}.q{self.avif_quality}.avif"}

    def files(self, jpeg_name: str) -> list[str]:
        """Every file of one web copy: the JPEG first, then its twins."""
        return [jpeg_name, *self.twins(jpeg_name).values()]

    def save_options(self, name: str) -> dict:
        """Pillow's options for writing the file `name` (its format is its extension)."""
        if name.endswith(".avif"):
            return {"quality": self.avif_quality, "speed": AVIF_SPEED}
        return {"quality": self.jpeg_quality}


@dataclass(frozen=True)
class DreamRecipe:
    """Everything that changes a dream's pixels (or its JPEG's bytes)."""

    photo_sha256: str
    layer: str
    params: DreamParams
    long_side: int          # the long side it is dreamed at, in px
    precision: str          # what dream.precision resolved to where it is dreamed: bf16 | fp16 | fp32
    size_step: int | None   # the engine's octave size classes (padding changes pixels near edges)
    weights: str            # WeightsChoice.identity
    jpeg_quality: int
    # How the engine turns all of the above into pixels (read when a recipe is made, so that a
    # test can play a newer release by raising ENGINE_REVISION).
    engine: int = field(default_factory=lambda: ENGINE_REVISION)

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class DreamFiles:
    """A dream's JPEG files, relative to the output folder: the dream at its own size, and the
    web copies the page offers, by long side (the dream itself when its own size is one)."""

    image: str
    web: dict[int, str] = field(default_factory=dict)

    @classmethod
    def of(cls, recipe: DreamRecipe, web_sizes) -> "DreamFiles":
        return cls.named(f"{DREAMS_DIR}/{recipe.photo_sha256[:12]}-{recipe.layer}-{recipe.key()[:8]}.jpg",
                         recipe.long_side, web_sizes)

    @classmethod
    def named(cls, image: str, long_side: int, web_sizes) -> "DreamFiles":
        """The files of the dream stored as `image` (its web copies are named after it)."""
        base = image.removesuffix(".jpg")
        return cls(image, {side: image if side == long_side else f"{base}-{side}.jpg"
                           for side in web_long_sides(long_side, web_sizes)})

    @property
    def copies(self) -> dict[int, str]:
        """The web copies smaller than the dream: files of their own."""
        return {side: name for side, name in self.web.items() if name != self.image}


@dataclass(frozen=True)
class DreamStore:
    """Finished dreams, by their relative paths.

    Without a shared folder a dream is written straight into the output folder. With one, it
    is written there and then hard-linked (or, across file systems, copied) into the output
    folder, so a photo in two albums, or an album dreamed into a second output folder, is
    dreamed once. Every write is atomic and recorded (pipeline/records.py): a stored file is
    used only while it is as it was written (its size; with `by_hash` its sha256 too), and a
    damaged one is made again.
    """

    out_dir: Path
    shared_dir: Path | None = None
    by_hash: bool = False

    def writer(self) -> FileRecord:
        """The folder a new dream file is written to, through its record."""
        return record_of(self.shared_dir or self.out_dir)

    def fetch(self, relative: str) -> bool:
        """True when the file is finished and intact: in the output folder, or linked there now."""
        if record_of(self.out_dir).intact(relative, self.by_hash):
            return True
        if self.shared_dir is not None and record_of(self.shared_dir).intact(relative, self.by_hash):
            self.publish(relative)
            return True
        return False

    def publish(self, relative: str) -> None:
        """Make a file written by `writer()` visible in the output folder."""
        if self.shared_dir is None:
            return
        record_of(self.out_dir).copy(self.shared_dir / relative, relative, link=True,
                                     written=record_of(self.shared_dir).get(relative))


def stale_temp_files(folder: Path, older_than_s: float = 0.0) -> list[Path]:
    """Temporary files that an interrupted write left behind in the folders dreamtrip writes
    (an output folder or a store: the folder itself, photos/ and dreams/; nothing deeper).

    Only call this with 0 while holding the folder's lock: a running writer's temp file
    is young. For a store shared with other albums' runs, ask for old ones only.
    """
    cutoff = time.time() - older_than_s
    found = []
    for where in (folder, folder / PHOTOS_DIR, folder / DREAMS_DIR):
        with contextlib.suppress(OSError):  # a folder that is not there holds none
            for entry in os.scandir(where):
                if entry.name.startswith(TEMP_PREFIX) and entry.is_file(follow_symlinks=False):
                    with contextlib.suppress(FileNotFoundError):  # renamed into place meanwhile
                        if entry.stat(follow_symlinks=False).st_mtime <= cutoff:
                            found.append(Path(entry.path))
    return sorted(found)

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

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from pipeline.output.kept import bring_back
from pipeline.output.records import FileRecord, record_of
from pipeline.text import slug

PHOTOS_DIR = "photos"   # web copies of the originals
DREAMS_DIR = "dreams"
# The names web_copy_name and DreamFiles make (an output folder of an earlier release holds
# them): the photo's hash prefix, and the long side where the name says it.
_MADE_NAMES = {PHOTOS_DIR: re.compile(r"[a-z0-9-]+-(?P<photo>[0-9a-f]{8})-(?P<side>[0-9]+)\.jpg"),
               DREAMS_DIR: re.compile(r"(?P<photo>[0-9a-f]{12})-conv[1-5]_[1-3]-[0-9a-f]{8}(-(?P<side>[0-9]+))?\.jpg")}


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
    return made_name_parts(relative) is not None


def made_name_parts(relative: str) -> tuple[str, int | None] | None:
    """(the photo's hash prefix, the long side or None) that a web copy's or a dream's name
    says, or None when `relative` is not named the way dreamtrip names them."""
    folder, _, name = relative.partition("/")
    pattern = _MADE_NAMES.get(folder)
    found = pattern.fullmatch(name) if pattern is not None else None
    if found is None:
        return None
    return found["photo"], int(found["side"]) if found["side"] else None


# A file's name may hold 255 bytes (ext4, APFS, NTFS): a web copy's slug (ASCII, a byte a
# character) is cut to this, which leaves room for its hash, its long side and a twin's suffix.
WEB_SLUG_MAX = 200


def web_copy_name(source: str, photo_sha256: str, long_side: int) -> str:
    """A photo's web copy, relative to the output folder: readable, and unique by content (the
    hash is kept whole when a long name's slug is cut)."""
    return f"{PHOTOS_DIR}/{readable_name(source)}-{photo_sha256[:8]}-{long_side}.jpg"


def readable_name(source: str) -> str:
    """The start of the names of a photo's web copies: its file name's stem, as a slug."""
    return slug(PurePosixPath(source).stem)[:WEB_SLUG_MAX].rstrip("-")


# The formats a web copy can be written in (images.formats). Every copy is a JPEG, named as above;
# the others are its twins, offered to browsers before it.
WEB_FORMATS = ("avif", "jpeg")
# Pillow's AVIF encoder options for every twin (images.avif_quality sets the quality), measured in
# BENCHMARKS.md ("AVIF twins at ingest", "Image formats"): aom's speed 9 (0 slowest .. 10
# fastest; 10 writes the same files here), tuned for SSIM: at the JPEG's SSIM, 65% of its bytes
# for a tenth of speed 6's CPU time. One thread per picture: every caller already encodes a
# picture per core (ingest a photo per thread, the dream stage beside the dreams), and aom's own
# threads cost 1.7x the CPU time on two cores.
AVIF_OPTIONS = {"speed": 9, "max_threads": 1, "advanced": {"tune": "ssim"}}


def unwritable_formats(formats) -> list[str]:
    """Those of `formats` this Pillow cannot write (AVIF needs Pillow 11.3 or later, whose
    wheels carry libavif; a Pillow built without it cannot)."""
    from PIL import features  # only here: the page writer imports this module without Pillow

    return [fmt for fmt in formats if fmt == "avif" and not features.check("avif")]


@dataclass(frozen=True)
class WebFormats:
    """The files of every web copy: its JPEG, and an AVIF twin unless `avif_quality` is None.

    A twin is named after its JPEG with its quality in the name
    (`photos/cat-1a2b3c4d-480.jpg` -> `photos/cat-1a2b3c4d-480.q76.avif`): another quality
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
            return {"quality": self.avif_quality, **AVIF_OPTIONS}
        return {"quality": self.jpeg_quality}


@dataclass(frozen=True)
class DreamFiles:
    """A dream's JPEG files, relative to the output folder: the dream at its own size, and the
    web copies the page offers, by long side (the dream itself when its own size is one)."""

    image: str
    web: dict[int, str] = field(default_factory=dict)

    @classmethod
    def of(cls, recipe, web_sizes) -> "DreamFiles":
        """The files of `recipe` (a DreamRecipe, pipeline/dream/spec.py)."""
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
    dreamed once. Every write is atomic and recorded (pipeline/output/records.py): a stored file is
    used only while it is as it was written (its size and sha256: FileRecord.intact), and a
    damaged one is made again.
    """

    out_dir: Path
    shared_dir: Path | None = None

    def writer(self) -> FileRecord:
        """The folder a new dream file is written to, through its record."""
        return record_of(self.shared_dir or self.out_dir)

    def fetch(self, relative: str) -> bool:
        """True when the file is finished and intact: in the output folder, or linked there now."""
        if record_of(self.out_dir).intact(relative):
            return True
        if self.shared_dir is not None and record_of(self.shared_dir).intact(relative):
            self.publish(relative)
            return True
        return bring_back(self.out_dir, relative)   # a hidden photo's, kept outside the output folder

    def publish(self, relative: str) -> None:
        """Make a file written by `writer()` visible in the output folder."""
        if self.shared_dir is None:
            return
        record_of(self.out_dir).copy(self.shared_dir / relative, relative, link=True,
                                     written=record_of(self.shared_dir).get(relative))


def stale_temp_files(folder: Path, older_than_s: float = 0.0) -> list[Path]:
    """Temporary files that an interrupted write of dreamtrip's left behind in the folders it
    writes (an output folder or a store: the folder itself, photos/ and dreams/; nothing
    deeper), by their token noted in the folder's record (pipeline/output/records.py): a file
    named like one by anyone else is not dreamtrip's and stays.

    Only call this with 0 while holding the folder's lock: a running writer's temp file
    is young. For a store shared with other albums' runs, ask for old ones only.
    """
    return record_of(folder).own_temp_files(older_than_s)

"""manifest.json: the record of a run, as typed entries; the page is rendered from it alone.

Every stage reads and writes these models, never raw JSON: a field's name and meaning live here.
Every setting of the run is kept, so `dreamtrip retry` redoes failures with exactly the settings
that made the rest. A dream's status is `ok`, `failed` (with the reason) or `missing` (its file
has gone from the output folder since; `dreamtrip blog` notices that, `dreamtrip retry` dreams
it again).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from pipeline.config import Settings
from pipeline.files import write_text_atomic
from pipeline.layers import depth

MANIFEST = "manifest.json"
VERSION = "0.2.0"
FILE_MTIME = "file mtime"  # ExifInfo.date_source when the date is the file's, not the camera's
# A `missing` dream's error: what happened and what to do.
MISSING_FILE = "the dream file is missing from the output folder; `dreamtrip retry` dreams it again"


class _Entry(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Gps(_Entry):
    lat: float
    lon: float
    alt: float | None = None


class ExifInfo(_Entry):
    date: str | None = None          # ISO 8601, local time as the camera wrote it (+ offset if known)
    date_source: str | None = None   # DateTimeOriginal | DateTimeDigitized | DateTime | file mtime
    camera: str | None = None        # "Canon EOS 5D Mark III"
    gps: Gps | None = None
    orientation: int = 1             # EXIF orientation 1..8; 1 = stored upright
    warning: str | None = None       # why the EXIF was ignored, when it was

    @property
    def camera_date(self) -> str | None:
        """The date taken, when a camera wrote it (a file's modification time is not one)."""
        return self.date if self.date_source != FILE_MTIME else None


class Place(_Entry):
    name: str
    country: str | None = None
    country_code: str | None = None


class WebImage(_Entry):
    """A JPEG in the output folder; `path` is relative to it, '/'-separated."""

    path: str
    width: int
    height: int
    # The same picture in other formats, by format ({"avif": path}): offered before the JPEG.
    # Older manifests have none, and their pages offer the JPEG alone.
    alternates: dict[str, str] = {}

    @property
    def long_side(self) -> int:
        return max(self.width, self.height)

    def files(self) -> list[str]:
        return [self.path, *self.alternates.values()]


class DreamEntry(_Entry):
    layer: str
    status: Literal["ok", "failed", "missing"]
    error: str | None = None
    image: WebImage | None = None     # the dream at its dream size (the page's "full size" link)
    web: list[WebImage] = []          # the sizes the page offers, small to large
    seconds: float | None = None      # the engine's own time (a batch of layers shares it)
    reused: bool = False              # found from an earlier run, not dreamed by this one

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def files(self) -> list[str]:
        listed = [path for entry in ([self.image] if self.image else []) + self.web for path in entry.files()]
        return list(dict.fromkeys(listed))  # the dream itself is often one of its web copies too

    def on_disk(self, out_dir: Path) -> bool:
        """Whether every file of this dream is still in the output folder."""
        return all((Path(out_dir) / path).is_file() for path in self.files())


class PhotoEntry(_Entry):
    source: str                       # path in the album, '/'-separated
    status: Literal["ok", "failed"]
    error: str | None = None
    sha256: str | None = None
    width: int | None = None          # upright size of the original, in px
    height: int | None = None
    exif: ExifInfo | None = None
    place: Place | None = None        # named offline from the GPS position
    story: str | None = None          # Markdown, from a sidecar or album.yaml
    web: list[WebImage] = []          # upright web copies, small to large
    dreams: list[DreamEntry] = []     # shallow to deep layers

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def long_side(self) -> int:
        return max(self.width or 0, self.height or 0)

    def files(self) -> list[str]:
        """Every file of this photo in the output folder: web copies and dream files."""
        return [path for web in self.web for path in web.files()] + [path for d in self.dreams for path in d.files()]


class Skipped(_Entry):
    """A file of the album that is not dreamed, and why."""

    source: str
    reason: str
    duplicate_of: str | None = None   # a second copy of this photo of the album (shown once)


class UnmatchedText(_Entry):
    """An album.yaml `photos:` entry whose name is no photo of the album: its story is not shown."""

    key: str
    closest: str | None = None        # the photo it most likely means

    @property
    def message(self) -> str:
        hint = f"; did you mean {self.closest}?" if self.closest else ""
        return f"album.yaml: photos: {self.key} matches no photo in the album{hint}"


class AlbumInfo(_Entry):
    name: str
    title: str
    intro: str | None = None
    outro: str | None = None


class WeightsInfo(_Entry):
    source: str                       # imagenet | hed
    requested: str = ""               # weights.source as set: auto | imagenet | hed
    identity: str                     # part of every dream's key
    description: str
    note: str                         # what its dreams look like
    reason: str                       # why this source, in words (never a path: it is published)
    path: str | None = None           # the file on this machine (terminal and manifest, never the page)


class RunInfo(_Entry):
    """What the run that wrote this manifest did (not the album's state)."""

    dreamed: int = 0
    reused: int = 0
    dream_seconds: float | None = None  # wall time of the dream phase


class Manifest(_Entry):
    dreamtrip_version: str = VERSION
    created: str
    album: AlbumInfo
    weights: WeightsInfo
    device: str
    dream_size: int | None = None     # the long side dreams were made at; None: each photo's own
    precision: str | None = None      # what `dream.precision` resolved to on the device
    settings: Settings
    photos: list[PhotoEntry]
    skipped: list[Skipped] = []
    unmatched: list[UnmatchedText] = []
    run: RunInfo | None = None
    page: str | None = None           # where index.html was written (this machine's path)

    def failures(self) -> list[str]:
        """One line per failed photo or dream, for the terminal."""
        lines = []
        for photo in self.photos:
            if not photo.ok:
                lines.append(f"{photo.source}: {photo.error}")
            lines += [f"{label(photo.source, d.layer)}: {d.error}" for d in photo.dreams if not d.ok]
        return lines

    def dreams(self) -> list[DreamEntry]:
        return [dream for photo in self.photos for dream in photo.dreams]


def label(source: str, layer: str | None = None) -> str:
    """How the terminal names a photo, or one of its dreams: 'day1/IMG_1.jpg [conv4_2]'."""
    return f"{source} [{layer}]" if layer else source


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def by_depth(dreams: list[DreamEntry]) -> list[DreamEntry]:
    return sorted(dreams, key=lambda d: depth(d.layer))


class ManifestError(Exception):
    """manifest.json cannot be read as this version's manifest; the message says what to do."""


def write_manifest(manifest: Manifest, out_dir: Path) -> Path:
    path = Path(out_dir) / MANIFEST
    write_text_atomic(path, manifest.model_dump_json(indent=2) + "\n")
    return path


def read_manifest(out_dir: Path) -> Manifest:
    path = Path(out_dir) / MANIFEST
    try:
        return Manifest.model_validate_json(path.read_bytes())
    except ValidationError as err:
        raise ManifestError(f"{path} was not written by this version of dreamtrip, or was edited "
                            f"({err.error_count()} problems, first: {_first(err)}); "
                            "run `dreamtrip run` again to rewrite it") from None


def _first(err: ValidationError) -> str:
    first = err.errors()[0]
    return f"{'.'.join(str(part) for part in first['loc'])}: {first['msg']}"

"""manifest.json: the record of a run, as typed entries; the page is rendered from it alone.

Every stage reads and writes these models, never raw JSON: a field's name and meaning live here.
Every setting of the run is kept, so `dreamtrip retry` redoes failures with exactly the settings
that made the rest.

Upgrades keep output folders working: the file carries its format version (FORMAT_VERSION), a
field added since has a default (or is optional), a field this version does not know is
ignored, and the recorded settings are plain data read over the current defaults, so a setting
added since takes its default. A manifest of a newer format is refused with what to do.
A dream's status is `ok`, `failed` (with the reason) or `missing` (its file has gone from the
output folder since; `dreamtrip blog` notices that, `dreamtrip retry` dreams it again).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, computed_field, field_serializer, field_validator

from pipeline import __version__
from pipeline.config import ConfigError, Settings, recorded_settings
from pipeline.layers import depth
from pipeline.text import without_machine_paths

if TYPE_CHECKING:  # store builds on this module
    from pipeline.output.store import WebFormats

# The manifest's format: 2 since 0.3.0. A manifest without `format_version` is format 1
# (dreamtrip 0.2.0: the same fields; its settings lack any key added since) and reads as 2.
FORMAT_VERSION = 2
FILE_MTIME = "file mtime"  # ExifInfo.date_source when the date is the file's, not the camera's
# The longest EXIF text kept (a camera's name, a warning): any camera's fits, and a hostile file's
# megabyte-long "camera" cannot swell the manifest, the page or the post.
EXIF_TEXT_MAX = 120
# A caption the photo's file carries (EXIF, IPTC or XMP): a few sentences, never a document.
FILE_CAPTION_MAX = 600
# A `missing` dream's error: what happened and what to do.
MISSING_FILE = ("a file of this dream is missing from the output folder, or damaged; "
                "`dreamtrip retry` dreams it again")
MISSING_LOOP_FILE = ("a file of this dream loop is missing from the output folder, or damaged; "
                     "`dreamtrip retry` makes it again")
# What the author does about failures: said by the terminal, manifest.json (`next_step`) and the
# contact sheet, never by the post (its readers can do nothing about them).
NEXT_STEP = ("fix what each reason says (a photo that cannot be read: put a good copy in the album; "
             "out of memory: a smaller images.dream_size, or --device cpu), then run "
             "`dreamtrip retry` on the album: only what failed is done again")


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
    gps: Gps | None = None           # the camera's position: kept only with `privacy.location: exact`
    orientation: int = 1             # EXIF orientation 1..8; 1 = stored upright
    warning: str | None = None       # why the EXIF was ignored, when it was
    # The caption or title the file carries (pipeline/ingest/exif.py read_caption); kept only
    # with `privacy.file_captions` (pipeline/privacy.py). Plain text: the post escapes it.
    caption: str | None = None

    # Here rather than in the EXIF reader so that a manifest from before the cap is cut too.
    @field_validator("camera", "warning")
    @classmethod
    def _capped(cls, text: str | None) -> str | None:
        return capped(text, EXIF_TEXT_MAX) if text is not None else None

    @field_validator("caption")
    @classmethod
    def _caption_capped(cls, text: str | None) -> str | None:
        return capped(text, FILE_CAPTION_MAX) or None if text is not None else None

    @property
    def camera_date(self) -> str | None:
        """The date taken, when a camera wrote it (a file's modification time is not one)."""
        return self.date if self.date_source != FILE_MTIME else None


class Place(_Entry):
    """The town a photo was taken in (named offline from its GPS position)."""

    name: str
    country: str | None = None
    country_code: str | None = None
    lat: float | None = None          # the town's own position (its centre), never the photo's:
    lon: float | None = None          # what the post links and maps with `privacy.location: town`


class WebImage(_Entry):
    """A JPEG in the output folder; `path` is relative to it, '/'-separated."""

    path: str
    width: int
    height: int
    # The same picture in other formats, by format ({"avif": path}): offered before the JPEG.
    # Older manifests have none, and their pages offer the JPEG alone.
    alternates: dict[str, str] = {}

    @field_validator("path")
    @classmethod
    def _inside_the_output_folder(cls, path: str) -> str:
        # An edited manifest must not make blog, clean or retry link, read or judge files elsewhere.
        parts = PurePosixPath(path).parts
        if not parts or path.startswith("/") or "\\" in path or ".." in parts:
            raise ValueError(f"{path!r} is not a path inside the output folder")
        return path

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
    older_recipe: bool = False        # made by an earlier recipe of its look (`run --renew` renews it)
    # Dreamed small first (`run --preview`, images.preview_size), to be replaced by the dream at
    # the run's dream size: the page says so, and every later run, `retry` too, dreams it at
    # full size (it never stands in for one).
    preview: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def files(self) -> list[str]:
        listed = [path for entry in ([self.image] if self.image else []) + self.web for path in entry.files()]
        return list(dict.fromkeys(listed))  # the dream itself is often one of its web copies too


class LoopEntry(_Entry):
    """A dream loop of a photo (album.yaml `loop:`, pipeline/dream/loop.py): its dream on `layer`
    zooming in and dreaming itself deeper, as a video for the page and an animated image for
    post.md and the blogs. Both are `width` x `height` (the video's WebImage says so)."""

    layer: str
    status: Literal["ok", "failed", "missing"]   # missing: a file gone or damaged (`retry` remakes it)
    error: str | None = None
    video: WebImage | None = None       # the MP4 (H.264): the page plays it, the dream as its poster
    animation: WebImage | None = None   # the animated WebP: where a video cannot go (Markdown)
    frames: int = 0
    fps: int = 0
    seconds: float | None = None        # the engine's time for its frames
    reused: bool = False                # found from an earlier run, not made by this one

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def files(self) -> list[str]:
        return [image.path for image in (self.video, self.animation) if image is not None]


class GuideEntry(_Entry):
    """The image a photo was dreamed toward (album.yaml `guide:`), as published."""

    name: str                         # a photo of the album by its path, or the guide file's own name
    sha256: str                       # its content: part of the dreams' store key
    web: list[WebImage] = []          # its web copies in photos/, small to large

    def files(self) -> list[str]:
        return [path for web in self.web for path in web.files()]


class PhotoEntry(_Entry):
    source: str                       # path in the album, '/'-separated
    status: Literal["ok", "failed"]
    error: str | None = None
    sha256: str | None = None
    width: int | None = None          # upright size of the original, in px
    height: int | None = None
    exif: ExifInfo | None = None
    place: Place | None = None        # named offline from the GPS position
    place_hidden: bool = False        # taken inside a privacy.hide_near zone: no place, no position
    # Where its position came from: the camera's GPS, or the album's track at the time it was
    # taken (exif.gps then holds the track's position, with the same privacy as a camera's).
    position: Literal["camera", "track"] | None = None
    story: str | None = None          # Markdown, from a sidecar or album.yaml
    hidden: bool = False              # album.yaml `hide: true`: published nowhere (pipeline/published.py)
    web: list[WebImage] = []          # upright web copies, small to large
    dreams: list[DreamEntry] = []     # shallow to deep layers
    guide: GuideEntry | None = None   # dreamed toward this image (dream.guide_mode in the settings)
    loop: LoopEntry | None = None     # its dream loop (album.yaml `loop:`)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def long_side(self) -> int:
        return max(self.width or 0, self.height or 0)

    def files(self) -> list[str]:
        """Every file of this photo in the output folder: web copies, dream and loop files."""
        guide = self.guide.files() if self.guide else []
        loop = self.loop.files() if self.loop else []
        return ([path for web in self.web for path in web.files()] + [path for d in self.dreams for path in d.files()]
                + guide + loop)


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
    site_url: str | None = None       # album.yaml's: where the post is published (http or https)
    date: str | None = None           # album.yaml `date:` (ISO 8601): the post's date
    cover: str | None = None          # album.yaml `cover:`: the photo (its source) the post opens with


class TrackFile(_Entry):
    """A GPS track of the album (pipeline/ingest/tracks.py): read, never published itself."""

    name: str                         # its path in the album (or its file name, when outside it)
    sha256: str
    points: int = 0                   # the points read from it
    problem: str | None = None        # why it was not used (or what of it was left out)


class RouteDay(_Entry):
    """One day of the route as the map draws it: already without what privacy keeps back (each
    day's first and last privacy.track_trim_m, hide_near zones) and simplified to the map's scale."""

    date: str                         # the day (ISO), in the camera's local time where it is known,
                                      # else the sun's where the track is (never UTC's: a day cut mid-afternoon)
    km: float                         # how far the day went: the whole day's track
    # (lat, lon) runs, to no more decimals than the map's detail (5 at most); a gap or a zone splits them
    lines: list[list[tuple[float, float]]] = []


class TracksInfo(_Entry):
    """The album's tracks and what they did: files read, photos placed, the route drawn."""

    files: list[TrackFile] = []
    camera_clock: str | None = None   # the camera's clock minus UTC ("+02:00"), as used to place photos
    clock_source: str | None = None   # album.yaml | EXIF | inferred from N photos with GPS
    placed: int = 0                   # photos placed from the track
    not_placed: int = 0               # photos without GPS the track could not place
    days: list[RouteDay] = []         # empty with privacy.location: none


class WeightsInfo(_Entry):
    source: str                       # imagenet | hed
    requested: str = ""               # weights.source as set: auto | imagenet | hed
    identity: str                     # part of every dream's key
    description: str
    note: str                         # what its dreams look like
    reason: str                       # why this source, in words (never a path: it is published)
    file: str | None = None           # the weights file's name; where it lies is no one's business


class RunInfo(_Entry):
    """What the run that wrote this manifest did (not the album's state)."""

    dreamed: int = 0
    reused: int = 0
    dream_seconds: float | None = None  # wall time of the dream phase


def _settings_over_defaults(value):
    """The recorded settings (plain data) over this version's defaults (pipeline/config.py)."""
    if isinstance(value, Settings):
        return value
    try:
        return recorded_settings(value, "settings")
    except ConfigError as err:
        raise ValueError(str(err)) from None


# Written as plain data (the settings as default.yaml nests them), read over the current defaults.
RecordedSettings = Annotated[Settings, BeforeValidator(_settings_over_defaults)]


class Manifest(_Entry):
    format_version: int = FORMAT_VERSION
    dreamtrip_version: str = __version__   # the release that last wrote the file
    created: str
    album: AlbumInfo
    weights: WeightsInfo
    device: str
    dream_size: int | None = None     # the long side dreams were made at; None: each photo's own
    octaves: int | None = None        # a dream of that size had (auto: fewer for smaller photos)
    precision: str | None = None      # what `dream.precision` resolved to on the device
    settings: RecordedSettings
    photos: list[PhotoEntry]
    skipped: list[Skipped] = []
    unmatched: list[UnmatchedText] = []
    run: RunInfo | None = None
    tracks: TracksInfo | None = None  # the album's GPS tracks (none: no track in the album)
    # The sha256 of every photos/ and dreams/ file the post shows, as dreamtrip wrote it (filled
    # from the record by write_manifest): an output folder whose record is lost proves by
    # content which of its files are dreamtrip's (pipeline/output/folder.py). Older manifests
    # have none.
    written: dict[str, str] = {}
    # Where index.html was written, for the terminal: a path of this machine, never recorded.
    page: str | None = Field(default=None, exclude=True)

    def without_machine_paths(self, *folders: Path) -> "Manifest":
        """This manifest with no path of the machine in the messages it records (errors,
        reasons, warnings): paths inside `folders` (the album, the output folder) relative to
        them, any other path cut to its file's name. The terminal prints these too."""
        def clean(text: str | None) -> str | None:
            return without_machine_paths(text, folders) if text else text

        def photo(entry: PhotoEntry) -> PhotoEntry:
            exif = entry.exif and entry.exif.model_copy(update={"warning": clean(entry.exif.warning)})
            dreams = [d.model_copy(update={"error": clean(d.error)}) for d in entry.dreams]
            loop = entry.loop and entry.loop.model_copy(update={"error": clean(entry.loop.error)})
            return entry.model_copy(update={"error": clean(entry.error), "exif": exif, "dreams": dreams,
                                            "loop": loop})

        return self.model_copy(update={
            "photos": [photo(entry) for entry in self.photos],
            "skipped": [s.model_copy(update={"reason": clean(s.reason)}) for s in self.skipped],
            "weights": self.weights.model_copy(update={"reason": clean(self.weights.reason)}),
            "device": clean(self.device)})

    @computed_field
    @property
    def next_step(self) -> str | None:
        """What to do about the failures, written into manifest.json beside them (None: none)."""
        return NEXT_STEP if self.failures() else None

    @field_serializer("settings")
    def _no_zones_no_folders(self, settings: Settings) -> dict:
        # The zones are where the traveller lives: the output folder never holds them. Each
        # photo they hid says so (`place_hidden`), which is all `retry` needs. Nor does it hold
        # where things lie on this machine (the output, store and cache folders).
        data = settings.without_machine_paths().as_dict()
        data["privacy"]["hide_near"] = []
        return data

    def failures(self) -> list[str]:
        """One line per failed photo, dream or dream loop, for the terminal."""
        lines = []
        for photo in self.photos:
            if not photo.ok:
                lines.append(f"{photo.source}: {photo.error}")
            lines += [f"{label(photo.source, d.layer)}: {d.error}" for d in photo.dreams if not d.ok]
            if photo.loop is not None and not photo.loop.ok:
                lines.append(f"{label(photo.source, photo.loop.layer + ' loop')}: {photo.loop.error}")
        return lines

    def dreams(self) -> list[DreamEntry]:
        return [dream for photo in self.photos for dream in photo.dreams]

    def preview_files(self) -> set[str]:
        """The files of the dreams this manifest shows as previews."""
        return {path for dream in self.dreams() if dream.preview for path in dream.files()}


_NOT_ONE_LINE = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")


def capped(text: str, limit: int) -> str:
    """`text` on one line (control characters and runs of white space as one space), cut to
    at most `limit` characters with an ellipsis."""
    text = _NOT_ONE_LINE.sub(" ", text).strip()
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def label(source: str, layer: str | None = None) -> str:
    """How the terminal names a photo, or one of its dreams: 'day1/IMG_1.jpg [conv4_2]'."""
    return f"{source} [{layer}]" if layer else source


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def by_depth(dreams: list[DreamEntry]) -> list[DreamEntry]:
    return sorted(dreams, key=lambda d: depth(d.layer))


def web_images(size: tuple[int, int], names: dict[int, str], formats: "WebFormats") -> list[WebImage]:
    """The manifest's entries for the web copies (JPEG names by long side) of an image of
    `size`, with their twins, small to large."""
    from pipeline.imaging import fitted_size  # Pillow and numpy: only runs that write images pay

    return [WebImage(path=names[side], width=w, height=h, alternates=formats.twins(names[side]))
            for side in sorted(names) for w, h in [fitted_size(size, side)]]

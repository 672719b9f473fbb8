"""The album: which files in the folder are photos, and the traveller's text.

The text comes from album.yaml (title, intro, outro, a story per photo) and from sidecar files:
`IMG_1.md` (or `IMG_1.jpg.md`) next to `IMG_1.jpg` holds that photo's story, in Markdown. A
sidecar wins over album.yaml's story for the same photo: it is the more specific of the two.
"""

from __future__ import annotations

import difflib
import os
import stat
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from urllib.parse import urlsplit

from pipeline.config import ConfigError, PrivacySettings, check_layers, did_you_mean, read_yaml
from pipeline.formats import RAW, RAW_EXTENSIONS, VIDEO, VIDEO_EXTENSIONS, sniff_file
from pipeline.guides import guide_path
from pipeline.ingest.places import place_of
from pipeline.ingest.tracks import is_track
from pipeline.layers import LAYER_NAMES, deepest
from pipeline.manifest import AlbumInfo, DreamEntry, PhotoEntry, Skipped, UnmatchedText, by_depth
from pipeline.output.manifest_file import is_output_folder
from pipeline.privacy import within_privacy

# Names that say "photo". A file with one of them that is not a photo inside is reported as a
# failed photo with the reason (the traveller meant it as one); other files are judged by content.
PHOTO_EXTENSIONS = {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".tif", ".tiff", ".heic",
                    ".heif", ".hif", ".gif", ".bmp"}
ALBUM_FILE = "album.yaml"
SIDECAR_EXTENSION = ".md"
_ALBUM_KEYS = {"title", "intro", "outro", "date", "cover", "photos", "site_url", "guide", "track", "camera_clock"}
_PHOTO_KEYS = {"story", "layers", "hide", "guide", "loop"}


@dataclass(frozen=True)
class PhotoText:
    story: str | None = None
    layers: tuple[str, ...] | None = None  # overrides the config's layer list for this photo
    hide: bool = False                     # dreamed and on the contact sheet, not in the post
    guide: str | None = None               # dream toward this image (pipeline/guides.py), over the album's
    loop: str | bool = False               # a dream loop on this layer (True: its deepest); pipeline/dream/loop.py


@dataclass(frozen=True)
class AlbumText:
    title: str
    intro: str | None = None
    outro: str | None = None
    photos: dict[str, PhotoText] = field(default_factory=dict)  # keyed by path in the album
    sidecars: dict[str, str] = field(default_factory=dict)      # .md path in the album -> text
    site_url: str | None = None   # where the post is published: makes its sharing links absolute
    date: str | None = None     # the post's date (ISO 8601), when album.yaml gives one
    cover: str | None = None    # the photo album.yaml names as the post's cover
    source: str = ALBUM_FILE    # where the text was read, for error messages
    guide: str | None = None   # every photo is dreamed toward this image, unless it names its own
    tracks: tuple[str, ...] = ()       # album.yaml `track:`: GPS tracks besides the album's .gpx files
    camera_clock: str | None = None    # album.yaml `camera_clock:`: the camera's clock minus UTC ("+02:00")

    def guides(self) -> dict[str, str]:
        """album.yaml's key of each guide it names -> the guide's name as written ('guide' for
        the album's, 'photos.NAME.guide' for a photo's): pipeline/guides.py resolves them."""
        named = {"guide": self.guide} if self.guide else {}
        return named | {f"photos.{source}.guide": entry.guide for source, entry in self.photos.items() if entry.guide}

    def guide_for(self, source: str) -> str | None:
        """The guide's name for this photo (as written): its own, else the album's; never the
        photo itself, however the name spells its path."""
        entry = self.photos.get(source)
        guide = entry.guide if entry and entry.guide else self.guide
        return None if guide is None or guide_path(Path(self.source).parent, guide) == source else guide

    def info(self, name: str) -> AlbumInfo:
        """The manifest's record of the album named `name` (its folder's name): its text."""
        return AlbumInfo(name=name, title=self.title, intro=self.intro, outro=self.outro,
                         site_url=self.site_url, date=self.date, cover=self.cover)

    def hidden(self, source: str) -> bool:
        """album.yaml says `hide: true` for this photo: not in the post."""
        entry = self.photos.get(source)
        return bool(entry and entry.hide)

    # The one place the album's text goes into a manifest: the flow's, the quick rerun's and
    # `blog`'s manifests take these two, and nothing else of album.yaml.

    def told(self, files: AlbumFiles, duplicates: list[Skipped], album_dir: Path) -> dict:
        """The manifest's fields that the album says now: its name and text, the files skipped
        (and `duplicates`: copies of photos set aside), album.yaml's entries matching no photo."""
        return {"album": self.info(Path(album_dir).name), "skipped": files.skipped + duplicates,
                "unmatched": self.unmatched(files.photos)}

    def told_photo(self, photo: PhotoEntry) -> PhotoEntry:
        """The photo's entry with what album.yaml (and its sidecar) says of it now."""
        return photo.model_copy(update={"story": self.story_for(photo.source), "hidden": self.hidden(photo.source)})

    def check_cover(self, photos: list[str]) -> None:
        """`cover:` names a photo of the album that the post shows: else one line (ConfigError)."""
        if self.cover is None:
            return
        if self.cover not in photos:
            hint = did_you_mean(self.cover, photos)
            raise ConfigError(self.source, "cover", self.cover,
                              f"a photo of the album, as a path in it{hint}")
        if self.hidden(self.cover):
            raise ConfigError(self.source, "cover", self.cover,
                              "a photo the post shows (this one has hide: true)")

    def story_for(self, source: str) -> str | None:
        """The photo's story: its sidecar's text, else album.yaml's story, else None."""
        for name in sidecar_names(source):
            if self.sidecars.get(name):
                return self.sidecars[name]
        entry = self.photos.get(source)
        return entry.story if entry else None

    def described(self, photo: PhotoEntry, dreams: list[DreamEntry], privacy: PrivacySettings,
                  hide: bool = False) -> PhotoEntry:
        """The photo's manifest entry: its story, the place its GPS names, its dreams (shallow
        to deep), and only as much of its position as `privacy` lets the output hold (`hide`:
        none, as a zone decided before). Named here, offline, so the page writer stays a pure
        renderer."""
        place = place_of(photo.exif.gps if photo.exif else None) if privacy.places else None
        return within_privacy(self.told_photo(photo.model_copy(update={"place": place, "dreams": by_depth(dreams)})),
                         privacy, hide)

    def layers_for(self, source: str, default: tuple[str, ...]) -> tuple[str, ...]:
        """The layers album.yaml names for this photo, else `default` (the config's)."""
        entry = self.photos.get(source)
        return entry.layers if entry and entry.layers else default

    def loop_for(self, source: str, layers: tuple[str, ...]) -> str | None:
        """The layer album.yaml asks a dream loop of for this photo (`loop: true`: the deepest
        of `layers`, those it is dreamed on), or None."""
        entry = self.photos.get(source)
        if entry is None or entry.loop is False:
            return None
        return deepest(layers).name if entry.loop is True else entry.loop

    def unmatched(self, photos: list[str]) -> list[UnmatchedText]:
        """album.yaml entries that name no photo of the album, each with the photo it most
        likely means: the same file name in a sub-folder, else the closest spelling."""
        found, in_album = [], set(photos)
        for key in (k for k in self.photos if k not in in_album):
            same_name = [p for p in photos if p.rsplit("/", 1)[-1] == key.rsplit("/", 1)[-1]]
            closest = same_name or difflib.get_close_matches(key, photos, n=1, cutoff=0.6)
            found.append(UnmatchedText(key=key, closest=closest[0] if closest else None))
        return found


@dataclass(frozen=True)
class AlbumFiles:
    photos: list[str]                    # paths relative to the album, '/'-separated, in order
    skipped: list[Skipped]               # files that are not photos, each with why
    left_out: list[str] = field(default_factory=list)  # dreamtrip output folders inside the album
    tracks: list[str] = field(default_factory=list)    # GPS tracks (.gpx): read for the map, never published


def sidecar_names(source: str) -> tuple[str, str]:
    """Where a photo's story may be written: 'day1/IMG_1.jpg.md' or 'day1/IMG_1.md'."""
    return source + SIDECAR_EXTENSION, str(Path(source).with_suffix(SIDECAR_EXTENSION).as_posix())


def find_photos(album_dir: Path) -> AlbumFiles:
    """Walk the album and sort its files into photos and others, each other with the reason.

    A file is a photo when its content is one (see pipeline.formats), whatever its name, or when
    its name says it is one: ingest then says precisely why it is not. album.yaml and photos'
    sidecars are the album's text, so they are neither photos nor skipped (unless they may not
    be read, e.g. a sidecar that links out of the album). dreamtrip's own output folders inside
    the album (any run's: `dreamtrip run .` writes to ./out/<name>) are left out whole, or the
    post's pictures would come back as photos to dream.
    """
    album_dir = Path(album_dir)
    photos, others, left_out, tracks = [], [], [], []
    for relative, refusal in _album_files(album_dir, left_out):
        if refusal is None and is_track(relative):
            tracks.append(relative)   # the trip's route (pipeline/ingest/tracks.py), not a photo
            continue
        reason = refusal or _why_not_a_photo(album_dir / relative)
        if reason is None:
            photos.append(relative)
        elif relative != ALBUM_FILE:
            others.append((relative, reason, refusal is None))
    sidecars = {name for source in photos for name in sidecar_names(source)}
    return AlbumFiles(photos, [Skipped(source=relative, reason=reason)
                               for relative, reason, readable in others
                               if not (readable and relative in sidecars)], left_out, tracks)


def _album_files(album_dir: Path, left_out: list[str] | None = None) -> list[tuple[str, str | None]]:
    """Every file in the album, '/'-separated and relative, with the reason it must not be read
    (None for most). Order: a folder's own files, then its sub-folders, each in name order;
    hidden ones left out, and dreamtrip output folders (added to `left_out`). Nothing outside
    the album is read: links that lead out of it, and links to folders, are listed, not followed."""
    album_root = album_dir.resolve()
    found = []

    def unreadable_folder(err: OSError) -> None:
        found.append((_printable(_relative(Path(err.filename), album_dir)),
                      f"folder cannot be read ({err.strerror})"))

    for root, dirs, files in os.walk(album_dir, onerror=unreadable_folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in [d for d in dirs if not (Path(root) / d).is_symlink() and is_output_folder(Path(root) / d)]:
            dirs.remove(name)
            if left_out is not None:
                left_out.append(_printable(_relative(Path(root) / name, album_dir)))
        for name in sorted(files):
            if not name.startswith("."):
                path = Path(root) / name
                relative = _relative(path, album_dir)
                found.append((_printable(relative), _refusal(path, relative, album_root)))
        for name in [d for d in dirs if (Path(root) / d).is_symlink()]:
            dirs.remove(name)  # os.walk would not enter it either; say so
            found.append((_printable(_relative(Path(root) / name, album_dir)),
                          "link to a folder (not followed)"))
    return found


def _relative(path: Path, album_dir: Path) -> str:
    return path.relative_to(album_dir).as_posix()


def _refusal(path: Path, relative: str, album_root: Path) -> str | None:
    """Why the file at `path` must not even be opened; None when it may be."""
    if not _utf8(relative):
        return "file or folder name is not valid UTF-8 text (rename it)"
    if path.is_symlink():
        try:
            target = path.resolve()
        except (OSError, RuntimeError):  # a loop of links
            return "broken link (it leads in a loop)"
        if not target.is_relative_to(album_root):
            return "link to a file outside the album (not followed)"
        if not target.exists():
            return "broken link (its target does not exist)"
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # reading a pipe would wait forever
            return "not a regular file (a device, socket or pipe)"
    except OSError:
        pass  # whoever reads it says why it cannot be read
    return None


def _why_not_a_photo(path: Path) -> str | None:
    """Why the file at `path` is skipped; None when it is a photo or is named like one."""
    suffix = path.suffix.lower()
    named_photo = suffix in PHOTO_EXTENSIONS
    if suffix in RAW_EXTENSIONS:  # many RAW formats are TIFF inside: the name decides
        return f"RAW camera file ({suffix}): not ingested; add a JPEG export of it"
    try:
        sniffed = sniff_file(path)
    except OSError as err:
        return None if named_photo else f"cannot be read ({err.strerror})"
    if sniffed.is_photo or named_photo:
        return None
    if sniffed.kind == VIDEO or suffix in VIDEO_EXTENSIONS:
        return f"video ({suffix or sniffed.name}): not ingested"
    if sniffed.kind == RAW:
        return f"RAW camera file ({sniffed.name}): not ingested; add a JPEG export of it"
    return f"not a photo ({suffix or 'no extension'})"


def _utf8(name: str) -> bool:
    """False for a name whose bytes are not UTF-8 (Python keeps them as surrogates): it could not
    be written into manifest.json or the page."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(name: str) -> str:
    """The name with any non-UTF-8 bytes shown as U+FFFD, so it can be written anywhere."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def load_sidecars(album_dir: Path) -> dict[str, str]:
    """Every Markdown file in the album, by path; only those named after a photo are used."""
    texts = {}
    for relative, refusal in _album_files(album_dir):
        if refusal is None and relative.lower().endswith(SIDECAR_EXTENSION):
            # utf-8-sig drops a BOM that Windows editors add; a bad byte must not stop the run.
            text = (album_dir / relative).read_text(encoding="utf-8-sig", errors="replace").strip()
            if text:
                texts[relative] = text
    return texts


def load_album_text(album_dir: Path) -> AlbumText:
    """album.yaml's title, intro, outro and per-photo story/layers, and the photos' sidecars."""
    path = album_dir / ALBUM_FILE
    default_title = album_dir.resolve().name.replace("-", " ").replace("_", " ").title()
    sidecars = load_sidecars(album_dir)
    if not path.is_file():
        return AlbumText(title=default_title, sidecars=sidecars)
    data, source = read_yaml(path), str(path)
    _reject_unknown(data, _ALBUM_KEYS, source, "")
    photos = data.get("photos") or {}
    if not isinstance(photos, dict):
        raise ConfigError(source, "photos", photos, "a mapping of photo file name -> {story, layers}")
    return AlbumText(
        title=_text(data, "title", source) or default_title,
        intro=_text(data, "intro", source),
        outro=_text(data, "outro", source),
        photos={str(name): _photo_text(entry, f"photos.{name}", source) for name, entry in photos.items()},
        sidecars=sidecars,
        site_url=_site_url(data, source),
        date=_date(data, source),
        cover=_text(data, "cover", source),
        source=source,
        guide=_text(data, "guide", source),
        tracks=_tracks(data, source),
        camera_clock=_camera_clock(data, source),
    )


def _tracks(data: dict, source: str) -> tuple[str, ...]:
    """`track:`, a file or a list of files (paths from the album folder, or absolute)."""
    value = data.get("track")
    names = [value] if isinstance(value, str) else value
    if value is None:
        return ()
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n.strip() for n in names):
        raise ConfigError(source, "track", value, "a GPS track's file (.gpx, .kml), or a list of them")
    return tuple(name.strip() for name in names)


def _camera_clock(data: dict, source: str) -> str | None:
    """`camera_clock:` as written ("+02:00"); checked here, read by pipeline/ingest/placing.py."""
    from pipeline.ingest.placing import CLOCK_EXPECTED, parse_clock

    value = data.get("camera_clock")
    if value is None:
        return None
    try:
        parse_clock(value) if isinstance(value, str) else parse_clock("")
    except ValueError:
        raise ConfigError(source, "camera_clock", value, CLOCK_EXPECTED) from None
    return value.strip()


def _date(data: dict, source: str) -> str | None:
    """`date:` as ISO 8601: YAML reads 2016-06-15 as a date; quoted, it is text to parse."""
    value = data.get("date")
    if value is None:
        return None
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, str):
        for parse in (date.fromisoformat, datetime.fromisoformat):
            try:
                return parse(value.strip()).isoformat()
            except ValueError:
                pass
    raise ConfigError(source, "date", value, "the post's date, e.g. 2016-06-15 (or 2016-06-15 18:30)")


def _site_url(data: dict, source: str) -> str | None:
    """album.yaml's `site_url`: the http(s) address the post's folder is published at, or None."""
    value = data.get("site_url")
    if value is None:
        return None
    parts = urlsplit(value.strip()) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(source, "site_url", value,
                          "the http(s) address the post is published at, e.g. https://example.org/trips/prague/")
    return value.strip()


def _photo_text(entry, key: str, source: str) -> PhotoText:
    if entry is None:
        return PhotoText()
    if not isinstance(entry, dict):
        raise ConfigError(source, key, entry, "a mapping with keys " + ", ".join(sorted(_PHOTO_KEYS)))
    _reject_unknown(entry, _PHOTO_KEYS, source, key + ".")
    hide = entry.get("hide", False)
    if not isinstance(hide, bool):
        raise ConfigError(source, key + ".hide", hide, "true (left out of the post) or false")
    layers = entry.get("layers")
    if layers is not None:
        try:
            layers = check_layers(layers)
        except ValueError as err:
            raise ConfigError(source, key + ".layers", layers, str(err)) from None
    return PhotoText(story=_text(entry, "story", source, key + "."), layers=layers, hide=hide,
                     guide=_text(entry, "guide", source, key + "."), loop=_loop(entry, key, source))


def _loop(entry: dict, key: str, source: str) -> str | bool:
    """A photo's `loop:`: a layer's name, true (its deepest layer) or false (none, as unset)."""
    value = entry.get("loop", False)
    if isinstance(value, bool) or value in LAYER_NAMES:
        return value
    raise ConfigError(source, key + ".loop", value, "a layer's name (e.g. conv4_2), or true: its deepest layer")


def _text(data: dict, key: str, source: str, prefix: str = "") -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise ConfigError(source, prefix + key, value, "text")
    return str(value).strip() or None


def _reject_unknown(data: dict, allowed: set[str], source: str, prefix: str) -> None:
    for key in data:
        if key not in allowed:
            raise ConfigError(source, prefix + str(key), data[key],
                              f"one of the keys{did_you_mean(key, sorted(allowed))}: " + ", ".join(sorted(allowed)))

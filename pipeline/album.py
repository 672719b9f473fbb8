"""The album: which files in the folder are photos, and the traveller's text from album.yaml."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import ConfigError, layer_list, read_yaml
from pipeline.formats import RAW, RAW_EXTENSIONS, VIDEO, VIDEO_EXTENSIONS, sniff_file

# Names that say "photo". A file with one of them that is not a photo inside is reported as a
# failed photo with the reason (the traveller meant it as one); other files are judged by content.
PHOTO_EXTENSIONS = {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".tif", ".tiff", ".heic",
                    ".heif", ".hif", ".gif", ".bmp"}
ALBUM_FILE = "album.yaml"
_ALBUM_KEYS = {"title", "intro", "outro", "photos"}
_PHOTO_KEYS = {"story", "layers"}


@dataclass(frozen=True)
class PhotoText:
    story: str | None = None
    layers: tuple[str, ...] | None = None  # overrides the config's layer list for this photo


@dataclass(frozen=True)
class AlbumText:
    title: str
    intro: str | None = None
    outro: str | None = None
    photos: dict[str, PhotoText] = field(default_factory=dict)  # keyed by path in the album


@dataclass(frozen=True)
class AlbumFiles:
    photos: list[str]                    # paths relative to the album, '/'-separated, in order
    skipped: list[dict]                  # {"source", "reason"} for files that are not photos


def find_photos(album_dir: Path) -> AlbumFiles:
    """Walk the album and sort its files into photos and others, each other with the reason.

    Order: a folder's own files, then its sub-folders, each in name order. A file is a photo when
    its content is one (see pipeline.formats), whatever its name, or when its name says it is one:
    ingest then says precisely why it is not. Nothing outside the album is read: links that lead
    out of it, and links to folders, are listed as skipped, not followed.
    """
    album_dir = Path(album_dir)
    album_root = album_dir.resolve()
    photos, skipped = [], []

    def unreadable_folder(err: OSError) -> None:
        skipped.append({"source": _printable(_relative(Path(err.filename), album_dir)),
                        "reason": f"folder cannot be read ({err.strerror})"})

    for root, dirs, files in os.walk(album_dir, onerror=unreadable_folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in list(dirs):
            if (Path(root) / name).is_symlink():  # os.walk would not enter it either; say so
                dirs.remove(name)
                skipped.append({"source": _printable(_relative(Path(root) / name, album_dir)),
                                "reason": "link to a folder (not followed)"})
        for name in sorted(files):
            path = Path(root) / name
            relative = _relative(path, album_dir)
            if name.startswith(".") or relative == ALBUM_FILE:
                continue
            reason = _why_not_a_photo(path, album_root) if _utf8(relative) else _NOT_UTF8
            if reason is None:
                photos.append(relative)
            else:
                skipped.append({"source": _printable(relative), "reason": reason})
    return AlbumFiles(photos, skipped)


def _relative(path: Path, album_dir: Path) -> str:
    return path.relative_to(album_dir).as_posix()


def _why_not_a_photo(path: Path, album_root: Path) -> str | None:
    """Why the file at `path` is skipped; None when it is a photo or is named like one."""
    if path.is_symlink():
        try:
            target = path.resolve()
        except (OSError, RuntimeError):  # a loop of links
            return "broken link (it leads in a loop)"
        if not target.is_relative_to(album_root):
            return "link to a file outside the album (not followed)"
        if not target.exists():
            return "broken link (its target does not exist)"
    suffix = path.suffix.lower()
    named_photo = suffix in PHOTO_EXTENSIONS
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            return "not a regular file (a device, socket or pipe)"
        if suffix in RAW_EXTENSIONS:  # many RAW formats are TIFF inside: the name decides
            return f"RAW camera file ({suffix}): not ingested; add a JPEG export of it"
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


_NOT_UTF8 = "file or folder name is not valid UTF-8 text (rename it)"


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


def load_album_text(album_dir: Path) -> AlbumText:
    """album.yaml's title, intro, outro and per-photo story/layers; defaults when absent."""
    path = album_dir / ALBUM_FILE
    default_title = album_dir.resolve().name.replace("-", " ").replace("_", " ").title()
    if not path.is_file():
        return AlbumText(title=default_title)
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
    )


def _photo_text(entry, key: str, source: str) -> PhotoText:
    if entry is None:
        return PhotoText()
    if not isinstance(entry, dict):
        raise ConfigError(source, key, entry, "a mapping with keys story, layers")
    _reject_unknown(entry, _PHOTO_KEYS, source, key + ".")
    layers = entry.get("layers")
    if layers is not None:
        try:
            layers = tuple(layer_list(layers))
        except ValueError as err:
            raise ConfigError(source, key + ".layers", layers, str(err)) from None
    return PhotoText(story=_text(entry, "story", source, key + "."), layers=layers)


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
            raise ConfigError(source, prefix + str(key), data[key], "one of the keys " + ", ".join(sorted(allowed)))

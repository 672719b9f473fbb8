"""The album: which files in the folder are photos, and the traveller's text from album.yaml."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import ConfigError, layer_list, read_yaml

PHOTO_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff"}
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
    """Walk the album (sub-folders too, in name order) and sort its files into photos and others."""
    photos, skipped = [], []
    for root, dirs, files in os.walk(album_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            relative = (Path(root) / name).relative_to(album_dir).as_posix()
            if name.startswith(".") or relative == ALBUM_FILE:
                continue
            if Path(name).suffix.lower() in PHOTO_EXTENSIONS:
                photos.append(relative)
            else:
                skipped.append({"source": relative, "reason": f"not a photo ({Path(name).suffix or 'no extension'})"})
    return AlbumFiles(photos, skipped)


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

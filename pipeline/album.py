"""The album: which files in the folder are photos, and the traveller's text.

The text comes from album.yaml (title, intro, outro, a story per photo) and from sidecar files:
`IMG_1.md` (or `IMG_1.jpg.md`) next to `IMG_1.jpg` holds that photo's story, in Markdown. A
sidecar wins over album.yaml's story for the same photo: it is the more specific of the two.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import ConfigError, layer_list, read_yaml

PHOTO_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff"}
ALBUM_FILE = "album.yaml"
SIDECAR_EXTENSION = ".md"
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
    sidecars: dict[str, str] = field(default_factory=dict)      # .md path in the album -> text

    def story_for(self, source: str) -> str | None:
        """The photo's story: its sidecar's text, else album.yaml's story, else None."""
        for name in sidecar_names(source):
            if self.sidecars.get(name):
                return self.sidecars[name]
        entry = self.photos.get(source)
        return entry.story if entry else None


@dataclass(frozen=True)
class AlbumFiles:
    photos: list[str]                    # paths relative to the album, '/'-separated, in order
    skipped: list[dict]                  # {"source", "reason"} for files that are not photos


def sidecar_names(source: str) -> tuple[str, str]:
    """Where a photo's story may be written: 'day1/IMG_1.jpg.md' or 'day1/IMG_1.md'."""
    return source + SIDECAR_EXTENSION, str(Path(source).with_suffix(SIDECAR_EXTENSION).as_posix())


def find_photos(album_dir: Path) -> AlbumFiles:
    """Walk the album (sub-folders too, in name order) and sort its files into photos and others.

    album.yaml and photos' sidecars are the album's text, so they are neither photos nor skipped.
    """
    photos, others = [], []
    for relative in _album_files(album_dir):
        if Path(relative).suffix.lower() in PHOTO_EXTENSIONS:
            photos.append(relative)
        elif relative != ALBUM_FILE:
            others.append(relative)
    sidecars = {name for source in photos for name in sidecar_names(source)}
    skipped = [{"source": relative, "reason": f"not a photo ({Path(relative).suffix or 'no extension'})"}
               for relative in others if relative not in sidecars]
    return AlbumFiles(photos, skipped)


def _album_files(album_dir: Path) -> list[str]:
    """Every file in the album, '/'-separated and relative, in name order; hidden ones left out."""
    found = []
    for root, dirs, files in os.walk(album_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [(Path(root) / name).relative_to(album_dir).as_posix()
                  for name in sorted(files) if not name.startswith(".")]
    return found


def load_sidecars(album_dir: Path) -> dict[str, str]:
    """Every Markdown file in the album, by path; only those named after a photo are used."""
    texts = {}
    for relative in _album_files(album_dir):
        if relative.lower().endswith(SIDECAR_EXTENSION):
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

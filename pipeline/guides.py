"""Guide images: album.yaml's `guide:` (for every photo) and `photos.NAME.guide` (for one).

A guide is a photo of the album (named as in `photos:`) or an image file named by its path
relative to album.yaml (the album folder), inside the album or not. The photo is dreamed toward
the guide's features (pipeline/dream/objective.py, `dream.guide_mode`); the guide's content
hash and the mode are part of the dream's store key. A guide is published like a photo: web
copies in photos/, named by its file name and content, never by where it lies on this machine.

Torch-free: the CLI checks guides before any work.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pipeline.config import ConfigError, did_you_mean

_EXPECTED = "a photo of the album, or an image file by its path relative to album.yaml"


@dataclass(frozen=True)
class GuideFile:
    """Where a guide album.yaml names is, and what the post calls it."""

    name: str       # published: the album photo's path, or the file's own name (no folders of this machine)
    relative: str   # its path from the album folder ('../guides/falls.jpg'): read here, never published
    in_album: bool  # a photo of the album (ingested with the others)


def guide_path(album_dir: Path, name: str) -> str:
    """The file a guide's `name` names, as a '/'-separated path from the album folder, one spelling
    per file: './p3.jpg', 'day1/../p3.jpg', '.\\p3.jpg' and '../trip/p3.jpg' (from inside trip/) are
    all 'p3.jpg', so a photo is found to be its own guide however album.yaml writes it. Worked out
    from the names alone (no link followed); a path out of the album stays relative ('../g.jpg')."""
    relative = posixpath.normpath(name.replace("\\", "/"))
    inside = posixpath.normpath(Path(album_dir).absolute().as_posix()).rstrip("/") + "/"
    whole = posixpath.normpath(posixpath.join(inside, relative))
    return whole[len(inside):] if whole.startswith(inside) else relative


def resolve_guides(album_dir: Path, named: dict[str, str], photos: list[str], source: str,
                   max_pixels: int | None = None) -> dict[str, GuideFile]:
    """Each guide `named` ({album.yaml key: name as written}) -> its file. A name that is no photo
    of the album and no image file raises ConfigError naming album.yaml, the key and why; so does
    an image of more than `max_pixels` (the run's images.max_pixels: a decompression bomb would
    otherwise pass here and fail every photo it guides; None checks no size)."""
    found = {}
    for key, name in named.items():
        found[name] = found.get(name) or _guide_file(Path(album_dir), key, name, photos, source, max_pixels)
    return found


def _guide_file(album_dir: Path, key: str, name: str, photos: list[str], source: str,
                max_pixels: int | None) -> GuideFile:
    from pipeline.formats import sniff_file
    from pipeline.imaging import PhotoError, open_photo

    relative = guide_path(album_dir, name)
    if relative in photos:
        return GuideFile(name=relative, relative=relative, in_album=True)
    path = album_dir / relative
    if not path.is_file():
        raise ConfigError(source, key, name, f"{_EXPECTED}: there is no such file{did_you_mean(relative, photos)}")
    try:
        sniffed = sniff_file(path)
        if not sniffed.is_photo:
            raise ConfigError(source, key, name, f"{_EXPECTED}: this file is not an image ({sniffed.name})")
        with open_photo(path, max_pixels):
            pass
    except OSError as err:
        raise ConfigError(source, key, name, f"{_EXPECTED}: it cannot be read ({err.strerror or err})") from None
    except PhotoError as err:
        raise ConfigError(source, key, name, f"{_EXPECTED}: it cannot be used ({err})") from None
    return GuideFile(name=PurePosixPath(relative).name, relative=relative, in_album=False)

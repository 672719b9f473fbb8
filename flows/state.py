"""How a photo's file is noted when the album is read (its size, mtime and ctime): what the
quick rerun compares (flows/rerun.py). The user's state folder is pipeline/output/kept.py's."""

from __future__ import annotations

from pathlib import Path

Stamp = tuple[int, int, int]  # a photo's size, mtime and ctime (ns) when the run read it


def stamp_of(path: Path) -> Stamp | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns, info.st_ctime_ns


def photo_stamps(album_dir: Path, sources: list[str]) -> dict[str, Stamp | None]:
    return {source: stamp_of(Path(album_dir) / source) for source in sources}

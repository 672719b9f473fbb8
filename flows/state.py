"""dreamtrip's own folder for what it keeps about runs (the notes of the last run, Prefect's
logs), and how a photo's file is noted: never in an output folder, which is published."""

from __future__ import annotations

from pathlib import Path

from pipeline.output.kept import state_dir  # noqa: F401  (the one state folder: kept files, notes, logs)

Stamp = tuple[int, int, int]  # a photo's size, mtime and ctime (ns) when the run read it


def stamp_of(path: Path) -> Stamp | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns, info.st_ctime_ns


def photo_stamps(album_dir: Path, sources: list[str]) -> dict[str, Stamp | None]:
    return {source: stamp_of(Path(album_dir) / source) for source in sources}

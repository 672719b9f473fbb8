"""Ingest one photo: hash it, read its EXIF, and write its upright working copy and web sizes.

A bad file (empty, truncated, not an image) becomes a `failed` record with the reason; it never
raises, so one broken photo cannot stop an album. Outputs are named by content hash, so a rerun
over unchanged photos only hashes them and reads their EXIF.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline.exif import ExifInfo, read_exif
from pipeline.files import save_image_atomic, sha256_of
from pipeline.imaging import PhotoError, fit_long_side, image_size, open_upright_rgb
from pipeline.store import web_file, working_file


@dataclass(frozen=True)
class Photo:
    source: str                      # path relative to the album, '/'-separated
    sha256: str | None
    status: str                      # ok | failed
    error: str | None = None
    exif: ExifInfo | None = None
    working: str | None = None       # working copy, relative to the output dir
    web: list[dict] = field(default_factory=list)  # [{"path", "width", "height"}], small to large

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def ingest_photo(album_dir: Path, source: str, out_dir: Path, working_size: int,
                 web_sizes: tuple[int, ...], jpeg_quality: int) -> Photo:
    path = album_dir / source
    try:
        sha256 = sha256_of(path)
    except OSError as err:
        return Photo(source, None, "failed", f"cannot read the file ({err.strerror})")
    exif = read_exif(path)
    try:
        web = _write_copies(path, source, sha256, exif, out_dir, working_size, web_sizes, jpeg_quality)
    except PhotoError as err:
        return Photo(source, sha256, "failed", str(err), exif)
    return Photo(source, sha256, "ok", None, exif, working_file(sha256, working_size), web)


def _write_copies(path, source, sha256, exif, out_dir, working_size, web_sizes, quality) -> list[dict]:
    """Working copy and web copies; each written only if a previous run has not already."""
    targets = {size: web_file(source, sha256, size) for size in web_sizes}
    working = working_file(sha256, working_size)
    missing = [rel for rel in [working, *targets.values()] if not (out_dir / rel).is_file()]
    image = open_upright_rgb(path, exif.orientation) if missing else None
    if working in missing:
        save_image_atomic(fit_long_side(image, working_size), out_dir / working)
    web = []
    for size, rel in targets.items():
        if rel in missing:
            save_image_atomic(fit_long_side(image, size), out_dir / rel, quality=quality)
        width, height = image_size(out_dir / rel)
        if not web or (width, height) != (web[-1]["width"], web[-1]["height"]):
            web.append({"path": rel, "width": width, "height": height})  # a small photo: no repeats
    return web

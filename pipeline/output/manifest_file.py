"""manifest.json on disk: written through the output folder's record, read back as this
version's Manifest (pipeline/manifest.py holds the models), and the mark of an output folder.
Here, with the owner of the output folder: no other module opens it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import ValidationError

from pipeline import __version__
from pipeline.manifest import FORMAT_VERSION, Manifest
from pipeline.output.kept import kept_manifest_data, settle, write_kept_manifest
from pipeline.output.layout import MANIFEST
from pipeline.output.records import RECORD, record_of
from pipeline.published import published


class ManifestError(Exception):
    """manifest.json cannot be read as this version's manifest; the message says what to do."""


def write_manifest(manifest: Manifest, out_dir: Path) -> Path:
    """Write manifest.json in this version's format (a manifest read from an older one too):
    what is published (pipeline/published.py) in the output folder, which then holds those
    pictures and no others of the album's (kept.settle), and the whole manifest in its kept
    folder, outside it (hidden photos' entries: unhiding them costs no dream)."""
    shown = published(manifest)
    settle(shown, out_dir)
    record = record_of(out_dir)
    recorded = record.files()
    written = {path: recorded[path].sha256 for path in sorted(shown.pictures) if path in recorded}
    update = {"format_version": FORMAT_VERSION, "dreamtrip_version": __version__, "written": written}
    public = (shown.manifest.model_copy(update=update).model_dump_json(indent=2) + "\n").encode()
    write_kept_manifest(manifest.model_copy(update=update) if shown.hidden else None, out_dir, public)
    record.write_bytes(MANIFEST, public)
    return Path(out_dir) / MANIFEST


def is_output_folder(folder: Path) -> bool:
    """Whether dreamtrip writes `folder` (any run's output folder, of this release or an earlier
    one): it holds dreamtrip's record of files, or a manifest.json that dreamtrip wrote."""
    folder = Path(folder)
    if os.path.lexists(folder / RECORD):
        return True
    try:
        with open(folder / MANIFEST, "rb") as f:
            head = f.read(512)
    except OSError:
        return False
    return b'"dreamtrip_version"' in head


def read_manifest(out_dir: Path) -> Manifest:
    """manifest.json of any format up to this version's, as this version's Manifest."""
    path = Path(out_dir) / MANIFEST
    try:
        published = path.read_bytes()
        data = json.loads(published)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ManifestError(f"{path} is not a manifest that dreamtrip wrote (not JSON: {err}); "
                            "run `dreamtrip run` again to rewrite it") from None
    found = data.get("format_version", 1) if isinstance(data, dict) else None
    if isinstance(found, int) and found > FORMAT_VERSION:
        raise ManifestError(f"{path} was written by a newer dreamtrip ({data.get('dreamtrip_version', 'unknown')}, "
                            f"manifest format {found}; this is {__version__}, which reads formats up to "
                            f"{FORMAT_VERSION}): upgrade dreamtrip to use this output folder")
    if (whole := kept_manifest_data(out_dir, published)) is not None:
        data = whole   # the hidden photos' entries too, kept outside the output folder
    try:
        return Manifest.model_validate(data)
    except ValidationError as err:
        raise ManifestError(f"{path} was not written by dreamtrip, or was edited "
                            f"({err.error_count()} problems, first: {_first(err)}); "
                            "run `dreamtrip run` again to rewrite it") from None


def _first(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else first["msg"]

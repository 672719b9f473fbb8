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
from pipeline.output.layout import MANIFEST
from pipeline.output.records import RECORD, record_of


class ManifestError(Exception):
    """manifest.json cannot be read as this version's manifest; the message says what to do."""


def write_manifest(manifest: Manifest, out_dir: Path) -> Path:
    """Write manifest.json in this version's format (a manifest read from an older one too)."""
    record = record_of(out_dir)
    recorded = record.files()
    written = {path: recorded[path].sha256 for photo in manifest.photos for path in photo.files() if path in recorded}
    current = manifest.model_copy(update={"format_version": FORMAT_VERSION, "dreamtrip_version": __version__,
                                          "written": dict(sorted(written.items()))})
    record.write_bytes(MANIFEST, (current.model_dump_json(indent=2) + "\n").encode())
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
        data = json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ManifestError(f"{path} is not a manifest that dreamtrip wrote (not JSON: {err}); "
                            "run `dreamtrip run` again to rewrite it") from None
    found = data.get("format_version", 1) if isinstance(data, dict) else None
    if isinstance(found, int) and found > FORMAT_VERSION:
        raise ManifestError(f"{path} was written by a newer dreamtrip ({data.get('dreamtrip_version', 'unknown')}, "
                            f"manifest format {found}; this is {__version__}, which reads formats up to "
                            f"{FORMAT_VERSION}): upgrade dreamtrip to use this output folder")
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

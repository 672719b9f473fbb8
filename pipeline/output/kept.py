"""The output folder's private side: where what it does not publish is kept.

The output folder is what a traveller uploads. A photo album.yaml hides (`hide: true`) is in
none of its files (pipeline/published.py), but its web copies and dreams are worth keeping:
unhiding it must cost no dream. They are kept in a folder of their own outside the output
folder, in the user's state folder (`kept_dir`), written and recorded by its owner as the output
folder is (pipeline/output/records.py), and so is the whole manifest, hidden photos' entries
included (manifest.json in the output folder holds only what is published).

`settle` makes the output folder hold what is published, when the post is written: a hidden
photo's files move out to the kept folder, a photo shown again has its files moved back (no
dream), and a duplicate photo's web copies (the run set it aside: shown once) go.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.output.layout import MANIFEST
from pipeline.output.records import record_of

if TYPE_CHECKING:  # the store (which config and the manifest build on) reads kept files through this module
    from pipeline.manifest import Manifest
    from pipeline.published import Published

KEPT_DIR = "kept"


def state_dir() -> Path:
    """dreamtrip's own folder for what it keeps about runs (notes, logs, kept files): never in an
    output folder, which is published. $XDG_STATE_HOME/dreamtrip, by default ~/.local/state/dreamtrip."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "dreamtrip"


def kept_dir(out_dir: Path) -> Path:
    """The private folder of the output folder `out_dir` (by its absolute path)."""
    key = hashlib.sha256(str(Path(out_dir).resolve()).encode()).hexdigest()[:24]
    return state_dir() / KEPT_DIR / key


def stored_intact(out_dir: Path, relative: str) -> bool:
    """The file is stored as dreamtrip wrote it: in the output folder, or kept for it."""
    if record_of(out_dir).intact(relative):
        return True
    kept = kept_dir(out_dir)
    return kept.is_dir() and record_of(kept).intact(relative)


def bring_back(out_dir: Path, relative: str) -> bool:
    """Move a kept file (as written, by its sha256) back into the output folder, a hard link where
    it can; whether it was."""
    kept = record_of(kept_dir(out_dir))
    if not kept.root.is_dir() or not kept.intact(relative):
        return False
    record_of(out_dir).copy(kept.root / relative, relative, link=True, written=kept.get(relative))
    kept.delete([relative])
    return True


def settle(shown: "Published", out_dir: Path) -> None:
    """The output folder's pictures as `shown` publishes them:
    the kept ones out (copied to the kept folder first, then deleted), the shown ones back in,
    a duplicate's web copies gone. Only files dreamtrip recorded, as it wrote them, are moved
    or deleted. The caller holds the output folder's lock."""
    out = record_of(out_dir)
    for relative in sorted(shown.pictures):
        if not out.intact(relative):   # (its size: what the post publishes is checked by its sha256)
            bring_back(out_dir, relative)
    to_keep = sorted(relative for relative in shown.kept if out.intact(relative))
    if to_keep:
        kept = record_of(kept_dir(out_dir))
        for relative in to_keep:
            if not kept.intact(relative):
                kept.copy(out.root / relative, relative, link=True, written=out.get(relative))
        out.delete(to_keep)
    if out.delete(sorted(shown.duplicates)) or to_keep:
        out.compact()   # the record is in the output folder too: no line names what left it


def write_kept_manifest(manifest: "Manifest | None", out_dir: Path, published_bytes: bytes) -> None:
    """The whole manifest (hidden photos' entries too), beside the kept files, for the
    manifest.json of `published_bytes`; None: none is kept (nothing is hidden)."""
    kept = record_of(kept_dir(out_dir))
    if manifest is None:
        if kept.get(MANIFEST) is not None:
            kept.delete([MANIFEST])
        return
    whole = {"published": hashlib.sha256(published_bytes).hexdigest(), "manifest": manifest.model_dump(mode="json")}
    kept.write_bytes(MANIFEST, json.dumps(whole, indent=1, ensure_ascii=False).encode() + b"\n")


def kept_manifest_data(out_dir: Path, published_bytes: bytes) -> dict | None:
    """The whole manifest kept with the manifest.json of `published_bytes` (None: there is
    none, or it was kept with another: an older one, or the output folder is a copy)."""
    try:
        whole = json.loads((kept_dir(out_dir) / MANIFEST).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(whole, dict) or whole.get("published") != hashlib.sha256(published_bytes).hexdigest():
        return None
    return whole.get("manifest") if isinstance(whole.get("manifest"), dict) else None

"""The pre-flight: everything a command checks and reads before any work, made once into the
run's plan (RunPlan), which the command passes to whatever runs (the flow, the quick rerun).

A user's mistake found on the way is a `UsageError`: one line, exit code 2, nothing done. The
checks that need no lock come first (settings, album, folders); the plan itself is made with
the output folder's lock held (`make_plan`): OUT claimed, its earlier manifest read, the
weights chosen and the dream spec decided, each once.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from pydantic import BaseModel, ConfigDict, model_serializer

from flows.state import photo_stamps
from pipeline.config import Settings
from pipeline.ingest.album import ALBUM_FILE, AlbumFiles, AlbumText, find_photos, load_album_text
from pipeline.manifest import Manifest
from pipeline.output.files import disk_full, refuse_links
from pipeline.output.folder import check_folders, claim_output_folder
from pipeline.output.layout import MANIFEST
from pipeline.output.lock import LOCK_FILE, output_lock
from pipeline.output.manifest_file import ManifestError, read_manifest
from pipeline.output.records import RECORD, FileRecord
from pipeline.output.store import DREAMS_DIR, PHOTOS_DIR, default_output_dir

Warn = Callable[[str], None]


class UsageError(Exception):
    """A mistake in how dreamtrip was called: one line, exit code 2, nothing done."""


@dataclass(frozen=True)
class Execution:
    """How a run executes, from the command line: where the tasks go and what it waits for."""

    verbose: bool = False            # Prefect's (and Dask's) logs at their usual level
    wait: bool = False               # another run writes OUT: wait for it (else OutputBusy)
    dask: str | None = None          # a scheduler's address, `local`, or None: threads here
    dask_workers: int | None = None  # workers of the local Dask cluster

    def __post_init__(self):
        if self.dask_workers and self.dask != "local":
            raise UsageError("--dask-workers only applies with --dask local")

    @property
    def lock_wait_s(self) -> float | None:
        return None if self.wait else 0.0


# ---- the album as read ----

@dataclass(frozen=True)
class AlbumScan:
    """The album as read: its text, its photos, and the files of the guides its text names."""

    text: AlbumText
    files: AlbumFiles
    guides: dict   # name in album.yaml -> GuideFile (pipeline/guides.py)
    # The album's GPS tracks, read once (pipeline/ingest/tracks.py: Track or UnusableTrack):
    # the flow places photos and draws the route from them; never published.
    tracks: tuple = ()


def album_folder(album: Path) -> Path:
    if not album.is_dir():
        raise UsageError(f"{album}: no such album folder")
    return album


def scan_album(album: Path, max_pixels: int | None = None) -> AlbumScan:
    """Read album.yaml and find the photos; a guide album.yaml names that is no image (or one
    larger than `max_pixels`) is a ConfigError (one line) here, before any work."""
    from pipeline.guides import resolve_guides
    from pipeline.ingest.tracks import album_tracks

    text, files = load_album_text(album_folder(album)), find_photos(album)
    guides = resolve_guides(album, text.guides(), files.photos, str(album / ALBUM_FILE), max_pixels)
    tracks = album_tracks(album, files.tracks, text.tracks, str(album / ALBUM_FILE))
    return AlbumScan(text, files, guides, tuple(tracks))


def check_album(album: Path, warn: Warn, max_pixels: int | None = None) -> AlbumScan:
    """Mistakes in the album stop the run before any work: album.yaml, or no photo at all.
    album.yaml entries that match no photo are warned about (their stories would be lost)."""
    scan = scan_album(album, max_pixels)
    if scan.files.left_out:
        warn(f"left out {', '.join(f'{name}/' for name in scan.files.left_out)}: dreamtrip output, not photos")
    if not scan.files.photos:
        skipped = "".join(f"\n  skipped {entry.source}: {entry.reason}" for entry in scan.files.skipped)
        raise UsageError(f"no photos found in {album}{skipped}")
    scan.text.check_cover(scan.files.photos)
    for track in scan.tracks:   # a track that cannot be used (or only in part) is one line; the run goes on
        if track.problem:
            warn(f"track {track.name}: {track.problem}")
    warn_unmatched(scan.text.unmatched(scan.files.photos), warn)
    return scan


def warn_unmatched(unmatched, warn: Warn) -> None:
    for entry in unmatched:
        warn(entry.message)


# ---- the run's plan ----

class RunPlan(BaseModel):
    """One run, as the command checked and decided it before any work: made once (`make_plan`,
    with OUT's lock held) and passed explicitly to the flow or the quick rerun. Nothing in a
    run decides any of this again.

    Prefect records a flow's parameters: a plan is recorded as the few words below, never as
    its photos or the paths of this machine."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    album_dir: Path                  # resolved
    out_dir: Path                    # resolved
    settings: Settings
    scan: AlbumScan
    record: FileRecord               # OUT's record, the folder claimed
    earlier: Manifest | None         # OUT's manifest before this run, where there is one
    stamps: dict                     # each photo's (size, mtime, ctime) when the album was read
    weights: object                  # the WeightsChoice the dreams use (fetched where settings say)
    spec: object | None              # the DreamSpec, or None on Dask (a worker decides it there)
    renew: bool = False              # dream again what an earlier recipe made
    preview: bool = False            # previews first (run --preview)
    blogs: tuple = ()                # the Hugo and Jekyll posts `export:` names (export.Blog): places decided
    only_photos: tuple[str, ...] | None = None   # retry: these photos of the album only
    hidden_places: frozenset[str] = frozenset()  # retry: photos whose place a zone hid before
    calibration: object | None = None  # this machine's speed (cost.Calibration), measured once for the
    #                                    estimate line: the progress line's ETA uses the same model

    @model_serializer
    def _as_recorded(self) -> dict:
        return {"album": self.album_dir.name, "photos": len(self.photos), "renew": self.renew,
                "preview": self.preview, "retry": self.only_photos is not None}

    @property
    def text(self) -> AlbumText:
        return self.scan.text

    @property
    def files(self) -> AlbumFiles:
        return self.scan.files

    @property
    def photos(self) -> list[str]:
        """The photos this run works on: the album's, or those `retry` redoes."""
        if self.only_photos is None:
            return self.files.photos
        return [source for source in self.files.photos if source in set(self.only_photos)]

    def layers_for(self, source: str) -> tuple[str, ...]:
        """The layers the photo is dreamed on: album.yaml's or the settings', and its loop's."""
        layers = self.text.layers_for(source, self.settings.layers)
        loop = self.text.loop_for(source, layers)
        return layers if loop is None or loop in layers else (*layers, loop)

    def loop_for(self, source: str) -> str | None:
        """The layer of the photo's dream loop (album.yaml `loop:`), or None: no loop."""
        return self.text.loop_for(source, self.text.layers_for(source, self.settings.layers))


def look_before_run(album: Path, settings: Settings, warn: Warn) -> tuple[Path, AlbumScan, tuple]:
    """The checks a run makes before it takes OUT's lock: (OUT, the album as read, the posts
    `export:` names, their places decided: check_blogs)."""
    check_image_formats(settings)
    out = default_output_dir(album, settings.output.dir_path)
    blogs = check_blogs(settings, Path(album).resolve(), out.resolve(), warn)
    check_folders(album_folder(album), out, settings.output.store_path)
    scan = check_album(album, warn, settings.images.max_pixels)
    check_output_folder(out, pictures=True)
    check_store_folder(settings.output.store_path)
    return out, scan, blogs


def make_plan(album: Path, out: Path, scan: AlbumScan, settings: Settings, how: Execution, warn: Warn,
              earlier: Manifest | None = None, record: FileRecord | None = None, **run) -> RunPlan:
    """The run's plan; the caller holds OUT's lock. OUT is claimed, its manifest read (unless
    the caller has: `earlier`, as `retry` has; an unreadable one counts as none: the run
    writes it anew), the device and weights checked, the dream spec decided. `record`: OUT's,
    where the caller claimed it already. `run`: the rest of RunPlan's fields (blogs, renew,
    preview, only_photos, hidden_places)."""
    from pipeline.dream.spec import DreamSpec

    album_dir, out_dir = Path(album).resolve(), Path(out).resolve()
    record = record or claim_output_folder(out_dir)
    if earlier is None and (out_dir / MANIFEST).is_file():
        with contextlib.suppress(ManifestError, OSError):
            earlier = read_manifest(out_dir)
    weights = check_device_and_weights(settings, how, warn)
    spec = None if how.dask else DreamSpec.decide(settings, weights.identity)
    return RunPlan(album_dir=album_dir, out_dir=out_dir, settings=settings, scan=scan, record=record,
                   earlier=earlier, stamps=photo_stamps(album_dir, scan.files.photos), weights=weights,
                   spec=spec, **run)


# ---- the machine: encoders, blogs, device, weights ----

def check_image_formats(settings: Settings) -> None:
    """An image format this Pillow cannot write (images.formats) is a set-up error: every web
    copy would fail. Say so before any work."""
    from PIL import __version__ as pillow_version

    from pipeline.output.store import unwritable_formats

    missing = unwritable_formats(settings.images.formats)
    if missing:
        raise UsageError(f"images.formats: this Pillow ({pillow_version}) cannot write {', '.join(missing)}: "
                         "install Pillow 11.3 or later (its wheels write AVIF), or set images.formats: [jpeg]")


def check_blogs(settings: Settings, album_dir: Path, out_dir: Path, warn: Warn | None = None) -> tuple:
    """The posts `export:` names, each site checked and its post's place decided before any
    work (export.plan_export: a site of its engine, apart from the album and OUT, no link on the
    way, the album's own slug or the next free one, said by `warn`); export.Blog values."""
    from pipeline.post.export import ExportError, plan_export

    blogs = []
    for engine, site in settings.export.sites():
        try:
            blog = plan_export(album_dir, out_dir, engine, site)
        except ExportError as err:
            raise UsageError(f"export.{engine}: {err}") from None
        if blog.taken and warn is not None:
            warn(f"export.{engine}: the post is named {blog.slug} in {site}: {blog.taken}")
        blogs.append(blog)
    return tuple(blogs)


def check_device_and_weights(settings: Settings, how: Execution, warn: Warn | None = None):
    """The weights the run dreams with (a WeightsChoice). A missing GPU or weights file is a
    set-up error: said before Prefect starts. The device where the dreams run: here, or on a
    worker of the Dask cluster at `how.dask`. The ImageNet weights are fetched here where the
    settings want them (weights.download); `warn` gets the one line when that fails and the
    run goes on with HED."""
    from flows.scale import device_on_cluster
    from pipeline.dream.download import weights_for_run
    from pipeline.dream.spec import DeviceError, device_kind
    from pipeline.dream.weights import WeightsError

    try:
        if how.dask in (None, "local"):
            device_kind(settings.device)
        else:
            device_on_cluster(how.dask, settings.device)
        return weights_for_run(settings.weights, say=print, warn=warn or print)
    except (DeviceError, WeightsError) as err:
        raise UsageError(str(err)) from None
    except OSError as err:  # no scheduler at that address (distributed raises OSError or TimeoutError)
        raise UsageError(f"--dask {how.dask}: no Dask scheduler answers there ({err})") from None


# ---- the folders: writable, with room ----

def check_output_folder(out: Path, pictures: bool = False, room: bool | None = None) -> None:
    """OUT is a folder this user can write in (made if need be); else one line saying why.
    With `pictures` (run, retry) its photos/ and dreams/ too, and the disk has room to start
    (`room`: whether to check that, for a command that writes no pictures: `blog`).

    Before any work: a run would fail on its first file, after minutes of loading. Not `clean`:
    it must work on a full disk, to free it.
    """
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} is a file, not a folder: give the output folder with -o")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot make the output folder {out}: {reason_of(err)}") from None
    _check_writable(out, "the output folder", ROOM_TO_START if (pictures if room is None else room) else 0)
    if pictures:
        for folder in (out / PHOTOS_DIR, out / DREAMS_DIR):
            if folder.is_dir():  # else made in OUT, which was just checked
                _check_writable(folder, f"{folder.name}/ of the output folder")


def check_store_folder(store: Path | None) -> None:
    """A shared store (output.store_dir) where dreams are written: no symbolic link where they
    are written (LinkInTheWay: said now, not after the dreaming), and writable; or one line."""
    if store is None:
        return
    for name in (RECORD, DREAMS_DIR):
        refuse_links(store, name)
    if (store / DREAMS_DIR).is_dir():
        _check_writable(store / DREAMS_DIR, "the shared store's dreams/")


# What a run must be able to write before it starts: a full disk is said before any work (run
# and retry), not after the first dream. A dream or a web copy is a few KB to a few MB.
ROOM_TO_START = 64 * 1024


def _check_writable(folder: Path, what: str, room: int = 0) -> None:
    """A file of `room` bytes can be made in `folder` (and is gone again); else one line: the
    disk is full (DiskFull, naming its free space) or why the folder cannot be written."""
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".dreamtrip-probe-") as probe:
            if room:
                probe.write(bytes(room))
                probe.flush()
                os.fsync(probe.fileno())  # some file systems say "full" only here
    except OSError as err:
        if full := disk_full(err, folder):
            raise full from None
        raise UsageError(f"cannot write in {what} {folder}: {reason_of(err)}") from None


def reason_of(err: OSError) -> str:
    return (err.strerror or str(err)).lower()


# ---- the commands that work on a run's results: blog, clean, export, retry ----

@contextlib.contextmanager
def stored_run(album: Path, output: Path | None, wait_s: float | None = 0.0,
               missing: str | None = None, writes_pictures: bool = False,
               writes_post: bool = False, strict: bool = False) -> Iterator[tuple[Path, Manifest]]:
    """(OUT, its manifest) for the commands that work on a run's results, with OUT's lock held
    for the block. OUT is `output`, else out/<album name>. The lock is taken before anything is
    read (OutputBusy while a run writes there, `wait_s` as in output_lock). A usage error when
    the album is not there, is not the album the post was made from (most of its photos are
    not in it, by place or content: every photo would count as removed), or OUT has no
    manifest (saying `missing`: by default, to run first), or the disk has no room to start
    (`writes_post` or `writes_pictures`: not for `clean`, which must work on a full disk).
    `strict`: as check_same_album."""
    album_folder(album)
    out = default_output_dir(album, output)
    check_folders(album, out)
    missing = f"{out}: no manifest.json: {missing or f'run `dreamtrip run {album}` first'}"
    if not (out / MANIFEST).is_file() and not (out / LOCK_FILE).exists():
        raise UsageError(missing)  # no run has been here: nothing to lock or to read
    check_output_folder(out, pictures=writes_pictures, room=writes_pictures or writes_post)
    with output_lock(out, wait_s):
        if not (out / MANIFEST).is_file():
            raise UsageError(missing)
        try:
            manifest = read_manifest(out)
        except ManifestError as err:
            raise UsageError(str(err)) from None
        check_same_album(manifest, album, out, strict)
        yield out, manifest


# A command stops when the album holds fewer than this share of the post's photos (by place or
# by content): most likely the wrong album, whose `blog` would empty the post and whose
# `clean --yes` would delete every dream.
SAME_ALBUM_SHARE = 0.5


def check_same_album(manifest: Manifest, album: Path, out: Path, strict: bool = False) -> None:
    """The album is the one the post in OUT was made from, or a UsageError that changes nothing.
    Photos are looked up by place first; only when too few are there are the album's other
    files hashed, to find photos moved within it. A folder of the post's name that still holds
    some of its photos is the album with photos removed on purpose, unless `strict` (`clean`,
    which would delete their files: `blog` first says they went)."""
    from flows.upkeep import moved_photos

    total = len(manifest.photos)
    present = [photo.source for photo in manifest.photos if (Path(album) / photo.source).is_file()]
    if not total or len(present) >= total * SAME_ALBUM_SHARE:
        return
    known = {photo.source for photo in manifest.photos}
    found = len(present) + len(moved_photos(manifest, album, [s for s in find_photos(album).photos
                                                                 if s not in known]))
    if found >= total * SAME_ALBUM_SHARE:
        return
    if not strict and found and manifest.album.name == Path(album).resolve().name:
        return
    on_purpose = (f" If you removed them on purpose, run `dreamtrip blog {album} -o {out}` first"
                  if strict and found else " Give that album, or another output folder with -o")
    raise UsageError(f"{album} holds {found} of the {total} photos of the post in {out}: is it the album the "
                     f"post was made from? Nothing was changed.{on_purpose}")

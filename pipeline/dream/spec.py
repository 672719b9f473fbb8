"""What a dream is, decided once on the machine that dreams (device, precision, size, octaves),
and the CPU side of a dream: its input, its files and its manifest entry.

`DreamSpec.decide` runs where the dreams run (this process, or a Dask worker: the flow asks it
there as a task); its result is the record the store key, the manifest and the page read, and
what the engine computes. Importing this module loads no torch; deciding does. Decoding the
photo before its turn on the device and encoding the dream after run here, on the CPU, so both
overlap another photo's dream."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from PIL import Image

from pipeline.config import DreamParams, Settings
from pipeline.imaging import PhotoError, decode_upright_rgb, fitted_size, open_photo, write_copies
from pipeline.layers import auto_octaves
from pipeline.manifest import DreamEntry, Manifest, PhotoEntry, WebImage, web_images
from pipeline.output.files import read_hashed
from pipeline.output.store import DreamFiles, DreamStore, WebFormats

# The engine's revision, part of every dream's store key: raised whenever the same settings start
# making other pixels, so that a dream stored by an older engine is never taken for a new one.
#   1: the first engine.
#   2: each step rolls the image inside a mirrored margin, not round onto its opposite edge
#      (which left a dark or light band along the edges).
#   3: with momentum, each octave goes on at the speed the last one gathered (it started from rest).
ENGINE_REVISION = 3


@dataclass(frozen=True)
class DreamRecipe:
    """Everything that changes a dream's pixels (or its JPEG's bytes); its key names its files
    (pipeline/output/store.py: DreamFiles)."""

    photo_sha256: str
    layer: str
    params: DreamParams
    long_side: int          # the long side it is dreamed at, in px
    precision: str          # what dream.precision resolved to where it is dreamed: bf16 | fp16 | fp32
    size_step: int | None   # the engine's octave size classes (padding changes pixels near edges)
    weights: str            # WeightsChoice.identity
    jpeg_quality: int
    # How the engine turns all of the above into pixels (read when a recipe is made, so that a
    # test can play a newer release by raising ENGINE_REVISION).
    engine: int = field(default_factory=lambda: ENGINE_REVISION)
    guide: str | None = None       # dreamed toward a guide: "MODE:SHA256" (dream.guide_mode, its content)

    def key(self) -> str:
        recipe = asdict(self)
        if self.guide is None:
            del recipe["guide"]  # an unguided dream keeps the key it had before guides existed
        return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


# images.dream_size `auto` by the kind of device (README: what each size costs): 2048 px on a CUDA
# GPU (~0.25 s a dream on an H200), 1024 px on a CPU (25-85 s) and an Apple GPU (not measured).
AUTO_DREAM_SIZE = {"cuda": 2048, "mps": 1024, "cpu": 1024}
# Octaves are padded to multiples of this on CUDA, where every new input shape costs a cuDNN
# autotuning run (a 43 MP photo's first dream 77 s, the same again 9.4 s). Elsewhere nothing is
# autotuned and padding only costs pixels (see BENCHMARKS.md).
SIZE_STEP = 64
PHOTO_CHANGED = ("the file changed after this run read it (edited or replaced during the run): "
                 "not dreamed; run again to dream it as it is now")


class DeviceError(RuntimeError):
    """The configured device is not usable here."""


def device_kind(wanted: str) -> str:
    """`device` as set -> the kind of device that dreams here: cuda | mps | cpu."""
    if wanted == "cpu":
        return "cpu"  # always there: no need to load torch (seconds) to say so
    import torch

    usable = {"cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available(), "cpu": True}
    if wanted == "auto":  # the first of these that torch can use
        return next(kind for kind in ("cuda", "mps", "cpu") if usable[kind])
    if not usable[wanted]:
        raise DeviceError(f"device: {wanted} was asked for, but torch sees no "
                          f"{'CUDA GPU' if wanted == 'cuda' else 'Apple GPU (mps)'} here; use --device cpu or auto")
    return wanted


def gpu_count() -> int:
    """The CUDA GPUs torch sees here; 0 without."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def numbered_device(kind: str, number: int | None) -> str:
    """The device worker `number` (of a local cluster) dreams on: with several CUDA GPUs,
    worker i takes GPU i; otherwise the kind itself."""
    if kind != "cuda" or number is None:
        return kind
    count = gpu_count()
    return f"cuda:{number % count}" if count > 1 else kind


def precision_on(wanted: str, device: str) -> str:
    """`dream.precision` (auto | bf16 | fp32) -> what `device` computes in: bf16 | fp16 | fp32.
    auto on mps is fp32: fp16 without loss scaling can flush a dream's small gradients to zero,
    torch autocasts bf16 on mps only from macOS 14, and neither is measured on a Mac here."""
    if wanted != "auto":
        return wanted
    if device == "cuda":
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if device == "cpu" and cpu_has_fast_bf16() else "fp32"


def cpu_has_fast_bf16(cpuinfo: str | None = None) -> bool:
    """Whether bf16 convolutions beat fp32 on this CPU (oneDNN's kernels, measured):
    - AMX (Intel Sapphire Rapids and later, where the hypervisor shows it): yes;
    - AVX-512 BF16 on AMD (Zen 4 EPYC): yes, a dream's forward+backward ~2.2x fp32;
    - AVX-512 BF16 on Intel without AMX (an Emerald Rapids VM): no, ~0.65x fp32;
    - neither: bf16 is emulated, ~40x slower."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as f:
                cpuinfo = f.read()
        except OSError:
            return False
    return "amx_bf16" in cpuinfo or ("avx512_bf16" in cpuinfo and "AuthenticAMD" in cpuinfo)


def size_step_on(device: str) -> int | None:
    return SIZE_STEP if device == "cuda" else None


@dataclass(frozen=True)
class DreamSpec:
    """How every dream of a run is made, named and saved: decided where the dreams run."""

    params: DreamParams             # as set: octaves and precision may be `auto` (None / "auto")
    dream_size: int | None          # None (`full`): each photo at its own size
    weights: str                    # WeightsChoice.identity
    web_sizes: tuple[int, ...]
    formats: WebFormats
    precision: str                  # what the device computes in: bf16 | fp16 | fp32
    size_step: int | None           # octaves padded to multiples of this (CUDA), or exact
    device: str                     # the kind of device that dreams: cuda | mps | cpu
    guide_mode: str                 # dream.guide_mode: how a photo with a guide is pulled toward it
    look: str = ""                  # look_of(the settings): what the traveller chose
    preview_size: int | None = None  # previewing(): dreams made small first, at most this long

    @classmethod
    def decide(cls, settings: Settings, weights: str) -> "DreamSpec":
        """The run's dreams as this machine makes them (call it where the dreams run)."""
        device, size = device_kind(settings.device), settings.images.dream_size
        return cls(params=settings.dream.params(), weights=weights,
                   dream_size=None if size == "full" else AUTO_DREAM_SIZE[device] if size == "auto" else size,
                   web_sizes=tuple(settings.images.web_sizes), formats=settings.images.web_formats(),
                   precision=precision_on(settings.dream.precision, device),
                   size_step=size_step_on(device), device=device, guide_mode=settings.dream.guide_mode,
                   look=look_of(settings))

    @property
    def octaves(self) -> int | None:
        """Octaves of a photo of the dream size (`auto` gives smaller photos fewer: the engine
        counts them for each one by the same rule); None: auto, at each photo's own size."""
        if self.params.octaves is not None or self.dream_size is None:
            return self.params.octaves
        return auto_octaves(self.dream_size, self.params.octave_scale)

    @property
    def engine_params(self) -> DreamParams:
        """The parameters the engine runs: the precision as decided, not `auto`."""
        return replace(self.params, precision=self.precision)

    def previewing(self, long_side: int) -> "DreamSpec | None":
        """These dreams as previews (`run --preview`): at most `long_side` px, never above the
        dream size; None when the dream size is no larger (the dreams are as quick already)."""
        if self.dream_size is not None and self.dream_size <= long_side:
            return None
        return replace(self, preview_size=long_side)

    def size(self, photo: PhotoEntry) -> tuple[int, int]:
        """(width, height) the photo is dreamed at: never larger than the photo."""
        full = self.full_size(photo)
        return fitted_size(full, self.preview_size) if self.preview_size else full

    def full_size(self, photo: PhotoEntry) -> tuple[int, int]:
        """(width, height) the photo's finished dreams have: at the dream size, never larger than the photo."""
        return fitted_size((photo.width, photo.height), self.dream_size or photo.long_side)

    def is_preview(self, photo: PhotoEntry) -> bool:
        """Whether this spec dreams the photo smaller than its finished dreams (a photo no
        larger than the preview size gets its finished dream at once)."""
        return self.size(photo) != self.full_size(photo)

    def files(self, photo: PhotoEntry, layer: str) -> DreamFiles:
        guide = f"{self.guide_mode}:{guide_of(photo)}" if photo.guide else None
        recipe = DreamRecipe(photo.sha256, layer, self.params, max(self.size(photo)), self.precision,
                             self.size_step, self.weights, self.formats.jpeg_quality, guide=guide)
        return DreamFiles.of(recipe, self.web_sizes)

    def entry(self, photo: PhotoEntry, layer: str, seconds: float | None = None,
              reused: bool = False) -> DreamEntry:
        """The manifest entry of a finished dream (sizes follow from the photo's: no file read)."""
        return self._entry(self.files(photo, layer), self.size(photo), layer, seconds, reused,
                           preview=self.is_preview(photo))

    def _entry(self, files: DreamFiles, size: tuple[int, int], layer: str, seconds: float | None = None,
               reused: bool = False, older_recipe: bool = False, preview: bool = False) -> DreamEntry:
        return DreamEntry(layer=layer, status="ok", image=WebImage(path=files.image, width=size[0], height=size[1]),
                          web=web_images(size, files.web, self.formats), seconds=seconds, reused=reused,
                          older_recipe=older_recipe, preview=preview)

    def stored(self, store: DreamStore, photo: PhotoEntry, layer: str) -> DreamEntry | None:
        """The entry of a dream an earlier run finished (and that is intact), or None. Web
        copies of sizes or formats added since (images.web_sizes, images.formats), or damaged,
        are made again from the stored dream: that needs no dreaming."""
        files = self.files(photo, layer)
        if not self._kept(store, files):
            return None
        return self.entry(photo, layer, reused=True)

    def lineage(self, photo: PhotoEntry, layer: str) -> str:
        return lineage(photo.sha256, layer, self.look, guide_of(photo))

    def earlier_recipe(self, store: DreamStore, photo: PhotoEntry, layer: str,
                       earlier: Manifest | None) -> DreamEntry | None:
        """The dream of this photo, layer and look that an earlier recipe made (an earlier
        release's schedule or engine, other weights behind `auto`, another precision), as
        `earlier` (the output folder's manifest before this run) lists it, while its files are
        intact: kept in use, so an upgrade never dreams a whole trip again unasked. None when
        there is none (`dreamtrip run --renew` asks for none)."""
        if earlier is None:
            return None
        for entry in dreams_of_lineage(earlier, photo.sha256, layer, self.lineage(photo, layer)):
            size = (entry.image.width, entry.image.height)
            files = DreamFiles.named(entry.image.path, max(size), self.web_sizes)
            if self._kept(store, files):
                return self._entry(files, size, layer, reused=True, older_recipe=True)
        return None

    def _kept(self, store: DreamStore, files: DreamFiles) -> bool:
        """Whether the stored dream `files.image` is intact; its web copies made again from it
        where missing or damaged."""
        if not store.fetch(files.image):
            return False
        missing = {side: [name for name in names if not store.fetch(name)]
                   for side, names in web_files(files, self.formats).items()}
        if any(missing.values()):
            with Image.open(store.out_dir / files.image) as stored:
                save_copies(stored.convert("RGB"), missing, store, self.formats)
        return True


# ---- a dream's lineage: its key without the recipe ----

def look_of(settings: Settings) -> str:
    """What the traveller chose a dream to look like, as a short key: the dream settings as set
    (the strength, and any of its values set by hand), the dream size as set, the JPEG quality
    and the weights as asked for (`auto` stays `auto`). Not how a release or a machine makes it
    (the strength's schedule, the engine's revision, the weights behind `auto`, the precision):
    that is the recipe, which changes the dream's key but never its lineage."""
    chosen = {"dream": settings.dream.model_dump(exclude={"precision"}, exclude_none=True),
              "dream_size": settings.images.dream_size, "jpeg_quality": settings.images.jpeg_quality,
              "weights": settings.weights.source}
    return hashlib.sha256(json.dumps(chosen, sort_keys=True).encode()).hexdigest()[:16]


def lineage(photo_sha256: str, layer: str, look: str, guide: str | None = None) -> str:
    """The dreams of one photo, layer and look (and guide: a dream toward another image, or
    toward none, is another picture), whatever recipe made them: the one rule that says which
    earlier dream may stand in for a new one."""
    return f"{photo_sha256}-{layer}-{look}" + (f"-{guide}" if guide else "")


def guide_of(photo: PhotoEntry) -> str | None:
    """The content of the image `photo` is dreamed toward, if any (its sha256)."""
    return photo.guide.sha256 if photo.guide else None


def dreams_of_lineage(manifest: Manifest, photo_sha256: str, layer: str, wanted: str) -> list[DreamEntry]:
    """The finished dreams `manifest` lists of that lineage (read with the settings it records);
    a preview is none: it is dreamed again at full size."""
    look = look_of(manifest.settings)
    return [dream for photo in manifest.photos if photo.ok and photo.sha256 == photo_sha256
            and lineage(photo_sha256, layer, look, guide_of(photo)) == wanted
            for dream in photo.dreams
            if dream.layer == layer and dream.ok and dream.image is not None and not dream.preview]


def dream_input(album_dir: Path, photo: PhotoEntry, spec: DreamSpec, max_pixels: int) -> Image.Image:
    """The photo, upright, sRGB, at the size it is dreamed at (not to be modified: it is shared)."""
    orientation = photo.exif.orientation if photo.exif else 1
    return _decoded(str(Path(album_dir) / photo.source), photo.sha256, orientation, max(spec.size(photo)),
                    max_pixels)


def guide_input(album_dir: Path, relative: str, sha256: str, orientation: int, photo: PhotoEntry,
                spec: DreamSpec, max_pixels: int) -> Image.Image:
    """A photo's guide (pipeline/ingest/guides.py), upright, at most the photo's dream size: the
    bytes its sha256 names, or PhotoError (a guide changed since ingest is not dreamed toward)."""
    return _decoded(str(Path(album_dir) / relative), sha256, orientation, max(spec.size(photo)), max_pixels)


@functools.lru_cache(maxsize=4)
def _decoded(path: str, sha256: str, orientation: int, long_side: int, max_pixels: int) -> Image.Image:
    """Kept for the photo's other layers: decoding a 12 MP JPEG costs about as much CPU as a GPU
    takes to dream it. The bytes decoded are the bytes hashed here, and they must be the content
    `sha256` names: the dream is stored under that hash's key, so a photo edited or replaced
    since ingest is refused, never dreamed under its old content's key."""
    data, found = read_hashed(Path(path))
    if found != sha256:
        raise PhotoError(PHOTO_CHANGED)
    with open_photo(Path(path), max_pixels, data) as image:
        return decode_upright_rgb(image, orientation, long_side)


def web_files(files: DreamFiles, formats: WebFormats) -> dict[int, list[str]]:
    """Every file of a dream's web copies by long side (JPEGs and their twins), the dream's
    own file left out."""
    return {side: [name for name in formats.files(jpeg) if name != files.image] for side, jpeg in files.web.items()}


def save_dream(dreamed: Image.Image, files: DreamFiles, store: DreamStore, formats: WebFormats) -> None:
    """Write the dream and its web copies (atomically), and show them in the output folder."""
    store.writer().save_image(dreamed, files.image, **formats.save_options(files.image))
    store.publish(files.image)
    save_copies(dreamed, web_files(files, formats), store, formats)


def save_copies(dreamed: Image.Image, files: dict[int, list[str]], store: DreamStore, formats: WebFormats) -> None:
    """Write `files` (by long side) from the dream, and show them in the output folder."""
    write_copies(dreamed, files, store.writer(), formats)
    for relative in (name for names in files.values() for name in names):
        store.publish(relative)

"""Dream loops: a photo's dream zooming in and dreaming itself deeper, as a loop that closes.

album.yaml `loop: LAYER` on a photo asks for one (flows/preflight.py decides which, once). It
starts from the photo's stored dream on that layer, fitted to `loop.size`: each next frame is
the one before, `loop.zoom` closer (sub-pixel, about its centre), dreamed again for
`loop.steps` ascent steps on the layer at one octave (the frame before already holds the
dream: a few steps deepen it). `loop.frames + fade` frames are made; the last `fade` fade into
the first `fade` (both zooming at the same pace), so the loop's last frame is the frame just
before its first: no jump where it starts again (`seam_ratio` measures it).

A loop is content-addressed as a dream is (pipeline/output/store.py): its files' names carry
the key of its recipe (the dream it starts from, which names the photo, the layer, the dream
settings and the engine's revision; every loop setting; how its frames are dreamed). It is
written whole, the animation first and then the video, each atomically and recorded: a loop is
finished when both are there as written, and a rerun makes no frame of it again. A stop
mid-loop leaves only temp files, which the next run sweeps.

Formats: an MP4 (H.264, yuv420p, moov atom first: "fast start", so the page plays it before
it has all of it) written by imageio-ffmpeg's ffmpeg, and an animated WebP (Pillow) for
Markdown, where a blog omits a <video>. imageio-ffmpeg over PyAV: the same libx264, the same
bytes and speed, a smaller install (BENCHMARKS.md, "Dream loops").

Importing this module loads no torch and no ffmpeg; dreaming and encoding do.
"""

from __future__ import annotations

import hashlib
import io
import json
import statistics
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.config import DreamParams, LoopSettings
from pipeline.imaging import fitted_size
from pipeline.manifest import DreamEntry, LoopEntry, PhotoEntry, WebImage
from pipeline.output.store import DREAMS_DIR, DreamStore

# How frames are made from the settings, part of every loop's key: raised whenever the same
# settings start making other frames (as ENGINE_REVISION is for dreams).
#   1: the first loops.
LOOP_REVISION = 1


@dataclass(frozen=True)
class LoopRecipe:
    """Everything that changes a loop's frames or its files' bytes; its key names them."""

    dream: str              # the stored dream it starts from (its name is its recipe's key)
    layer: str
    loop: dict              # every loop setting (LoopSettings)
    params: DreamParams     # the dream's knobs its frames are dreamed with (step size, jitter, seed...)
    precision: str
    weights: str
    engine: int
    revision: int = field(default_factory=lambda: LOOP_REVISION)

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class LoopFiles:
    """A loop's files, relative to the output folder, beside the dreams."""

    video: str
    animation: str

    @classmethod
    def of(cls, photo_sha256: str, recipe: LoopRecipe) -> "LoopFiles":
        base = f"{DREAMS_DIR}/{photo_sha256[:12]}-{recipe.layer}-{recipe.key()[:8]}.loop"
        return cls(f"{base}.mp4", f"{base}.webp")

    def all(self) -> tuple[str, str]:
        return self.animation, self.video   # the order they are written in


def loop_size(dream_size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """(width, height) of a loop of a dream of `dream_size`: fitted to `long_side`, never larger
    than the dream, each side even (yuv420p halves the colour's resolution)."""
    width, height = fitted_size(dream_size, long_side)
    return max(2, width - width % 2), max(2, height - height % 2)


@dataclass(frozen=True)
class LoopSpec:
    """How every loop of a run is made and named: the run's dream spec's choices, and the
    loop settings."""

    settings: LoopSettings
    params: DreamParams     # with the precision decided
    precision: str
    weights: str
    engine: int

    @classmethod
    def of(cls, spec, settings: LoopSettings) -> "LoopSpec":
        """From the run's DreamSpec (pipeline/dream/spec.py)."""
        from pipeline.dream.spec import ENGINE_REVISION

        return cls(settings, spec.engine_params, spec.precision, spec.weights, ENGINE_REVISION)

    def files(self, photo: PhotoEntry, dream: DreamEntry) -> LoopFiles:
        recipe = LoopRecipe(dream.image.path, dream.layer, self.settings.model_dump(), self.params,
                            self.precision, self.weights, self.engine)
        return LoopFiles.of(photo.sha256, recipe)

    def size(self, dream: DreamEntry) -> tuple[int, int]:
        return loop_size((dream.image.width, dream.image.height), self.settings.size)

    def entry(self, photo: PhotoEntry, dream: DreamEntry, seconds: float | None = None,
              reused: bool = False) -> LoopEntry:
        files, (width, height) = self.files(photo, dream), self.size(dream)
        return LoopEntry(layer=dream.layer, status="ok",
                         video=WebImage(path=files.video, width=width, height=height),
                         animation=WebImage(path=files.animation, width=width, height=height),
                         frames=self.settings.frames, fps=self.settings.fps, seconds=seconds, reused=reused)

    def stored(self, stores: tuple[DreamStore, ...], photo: PhotoEntry, dream: DreamEntry) -> LoopEntry | None:
        """The entry of the loop an earlier run finished (both files intact), or None."""
        files = self.files(photo, dream)
        for store in stores:
            if all(store.fetch(name) for name in files.all()):
                return self.entry(photo, dream, reused=True)
        return None


# ---- the frames ----

def dream_frames(dreamer, start: Image.Image, layer: str, params: DreamParams, settings: LoopSettings,
                 each_frame=None) -> list[np.ndarray]:
    """`settings.frames + fade` frames (HxWx3 uint8), the first `start` itself: each the one
    before zoomed in and dreamed `settings.steps` steps on `layer` (a Dreamer of
    pipeline/dream/engine.py, `params` with the precision decided). `each_frame()` is called
    after each frame (progress)."""
    import torch

    from pipeline.dream.engine import dream_tensor, pil_to_tensor

    passes = dreamer.passes(params.precision, [layer])
    frame_params = settings.frame_params(params)
    image = pil_to_tensor(start.convert("RGB"), dreamer.device)
    frames = [_to_array(image)]
    with torch.no_grad():
        zoom = _zoom_grid(image, settings.zoom)
    for number in range(1, settings.dreamed_frames + 1):
        with torch.no_grad():   # bicubic: bilinear's blur compounds frame after frame, past what few steps sharpen
            image = torch.nn.functional.grid_sample(image, zoom, mode="bicubic", padding_mode="reflection",
                                                    align_corners=False).clamp_(0.0, 1.0)
        if settings.steps:  # each frame its own jitter: the same would stamp one pattern on all
            image = dream_tensor(passes, image, layer, replace(frame_params, seed=params.seed + number))
        frames.append(_to_array(image))
        if each_frame is not None:
            each_frame()
    return frames


def _zoom_grid(image, zoom: float):
    """The sampling grid that shows `image` `zoom` times closer about its centre."""
    import torch

    theta = torch.tensor([[[1 / zoom, 0.0, 0.0], [0.0, 1 / zoom, 0.0]]], dtype=image.dtype, device=image.device)
    return torch.nn.functional.affine_grid(theta, list(image.shape), align_corners=False)


def _to_array(image) -> np.ndarray:
    """A 1x3xHxW tensor in 0..1 as an HxWx3 uint8 frame."""
    from pipeline.dream.engine import tensor_to_pil

    return np.asarray(tensor_to_pil(image))


def closed_loop(frames: list[np.ndarray], count: int, fade: int) -> list[np.ndarray]:
    """`count` frames from the `count + fade` made in order, whose last leads into the first:
    frames `fade` to `count - 1` as made, then the `fade` after them faded into the first
    `fade` (both zoom on at the same pace, so the motion carries on while the picture turns
    into the head's), the last of them the frame just before the first."""
    if fade == 0:
        return frames[:count]
    tail = []
    for i in range(fade):
        share = (i + 1) / fade
        blended = frames[count + i].astype(np.float32) * (1 - share) + frames[i].astype(np.float32) * share
        tail.append(np.clip(blended + 0.5, 0, 255).astype(np.uint8))
    return frames[fade:count] + tail


def frame_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two frames, in 0..255."""
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def seam_ratio(frames: list[np.ndarray]) -> float:
    """How the jump from the last frame to the first compares with the median step between
    neighbouring frames (1: like any other step; a loop that does not close: many times it)."""
    steps = [frame_difference(a, b) for a, b in zip(frames, frames[1:], strict=False)]
    return frame_difference(frames[-1], frames[0]) / max(statistics.median(steps), 1e-9)


# ---- the files ----

def write_video(frames: list[np.ndarray], fps: int, quality: int, path: Path) -> None:
    """The frames as an MP4 at `path`: H.264 in yuv420p (every browser plays it), moov first
    (fast start). ffmpeg's fast start rewrites a file, not a pipe: `path` is the store's temp
    file (FileRecord.write_with), so a run killed meanwhile leaves it where the next run sweeps it."""
    import imageio_ffmpeg

    height, width = frames[0].shape[:2]
    writer = imageio_ffmpeg.write_frames(
        str(path), (width, height), fps=fps, codec="libx264", pix_fmt_out="yuv420p", macro_block_size=2,
        quality=None, ffmpeg_log_level="error",
        output_params=["-f", "mp4", "-crf", str(quality), "-preset", "medium", "-movflags", "+faststart"])
    writer.send(None)
    for frame in frames:
        writer.send(np.ascontiguousarray(frame))
    writer.close()


def encode_animation(frames: list[np.ndarray], fps: int, quality: int) -> bytes:
    """The frames as an animated WebP that loops forever."""
    images = [Image.fromarray(frame) for frame in frames]
    buffer = io.BytesIO()
    images[0].save(buffer, "WEBP", save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0,
                   quality=quality, method=4)
    return buffer.getvalue()


def save_loop(frames: list[np.ndarray], files: LoopFiles, store: DreamStore, settings: LoopSettings) -> None:
    """Encode and write the loop's files (the animation, then the video: the video's being
    there says the loop is whole), each atomically, and show them in the output folder."""
    store.writer().write_bytes(files.animation, encode_animation(frames, settings.fps, settings.webp_quality))
    store.writer().write_with(files.video, lambda path: write_video(frames, settings.fps, settings.video_quality, path))
    for name in files.all():
        store.publish(name)


def start_frame(stores: tuple[DreamStore, ...], dream: DreamEntry, size: tuple[int, int]) -> Image.Image:
    """The loop's first frame: the stored dream, fitted to the loop's size."""
    for store in stores:
        if store.fetch(dream.image.path):
            with Image.open(store.out_dir / dream.image.path) as stored:
                return stored.convert("RGB").resize(size, Image.Resampling.LANCZOS)
    raise FileNotFoundError(f"{dream.image.path}: the dream a loop starts from is not stored")

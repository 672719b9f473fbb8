"""Dream parameters: the knobs that change a dream's pixels. Torch-free, so config, manifest
and page can use them without loading the engine."""

from __future__ import annotations

from dataclasses import asdict, dataclass

# The engine's revision, part of every dream's store key: raised whenever the same settings start
# making other pixels, so that a dream stored by an older engine is never taken for a new one.
#   1: the first engine.
#   2: each step rolls the image inside a mirrored margin, not round onto its opposite edge
#      (which left a dark or light band along the edges).
ENGINE_REVISION = 2


@dataclass(frozen=True)
class DreamParams:
    """No defaults here: they live, documented, in the settings file."""

    octaves: int | None   # pyramid levels; None: as many as keep the smallest ~400+ px (layers.auto_octaves)
    octave_scale: float   # size ratio between levels
    steps: int            # gradient-ascent steps per octave
    step_size: float      # mean pixel change per step (fraction of the 0..1 range)
    jitter: int           # max random roll in px before each step
    smoothing: float      # sigma (px) of the blur applied to the gradient; 0 = none
    seed: int
    precision: str        # auto | bf16 | fp32

    def as_dict(self) -> dict:
        return asdict(self)

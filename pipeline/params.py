"""Dream parameters: the knobs that change a dream's pixels. Torch-free, so config, manifest
and page can use them without loading the engine."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class DreamParams:
    octaves: int = 4           # pyramid levels
    octave_scale: float = 1.4  # size ratio between levels
    steps: int = 10            # gradient-ascent steps per octave
    step_size: float = 0.015   # pixel change per step (fraction of the 0..1 range)
    jitter: int = 32           # max random roll in px before each step
    seed: int = 0
    precision: str = "auto"    # auto | bf16 | fp32

    def as_dict(self) -> dict:
        return asdict(self)

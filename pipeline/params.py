"""Dream parameters: the knobs that change a dream's pixels. Torch-free, so config, manifest
and page can use them without loading the engine."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class DreamParams:
    octaves: int = 4           # pyramid levels
    octave_scale: float = 1.4  # size ratio between levels
    steps: int = 10            # gradient-ascent steps per octave
    step_size: float = 0.005   # mean pixel change per step (fraction of the 0..1 range)
    jitter: int = 32           # max random roll in px before each step
    smoothing: float = 0.5     # sigma (px) of the blur applied to the gradient; 0 = none
    seed: int = 0
    precision: str = "auto"    # auto | bf16 | fp32

    def as_dict(self) -> dict:
        return asdict(self)


# Strength presets set the knobs that together decide how far a dream strays from the photo.
# Anything a config file sets explicitly wins over the preset.
STRENGTHS = {
    # a light touch: textures surface, the photo stays the photo
    "subtle": {"octaves": 4, "octave_scale": 1.4, "steps": 6, "step_size": 0.0025, "smoothing": 1.0},
    # google/deepdream's balance: clear dream structures on a recognisable photo
    "classic": {"octaves": 4, "octave_scale": 1.4, "steps": 10, "step_size": 0.005, "smoothing": 0.5},
    # more octaves and steps, sharper gradient: the dream takes over the scene
    "wild": {"octaves": 5, "octave_scale": 1.5, "steps": 16, "step_size": 0.009, "smoothing": 0.25},
}

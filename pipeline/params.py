"""Dream parameters: the knobs that change a dream's pixels. Torch-free, so config, manifest
and page can use them without loading the engine."""

from __future__ import annotations

from dataclasses import asdict, dataclass


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

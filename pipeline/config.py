"""Settings: load config/default.yaml, overlay a user's file and command-line flags, validate.

Every key is checked on load, so a typo or a wrong value stops the run before any work with a
message that names the file, the key, the value and what is allowed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from pipeline.params import STRENGTHS, DreamParams
from pipeline.layers import LAYER_NAMES

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "default.yaml"


class ConfigError(Exception):
    """A setting is missing, unknown or of the wrong kind. The CLI exits with code 2."""

    def __init__(self, source: str, key: str, value: Any, expected: str):
        self.source, self.key, self.value, self.expected = source, key, value, expected
        super().__init__(f"{source}: {key}: got {value!r}; expected {expected}")


# ---- value checks: each returns the (normalised) value or raises ValueError(expected) ----

def _integer(low: int, high: int) -> Callable[[Any], int]:
    def check(value):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"an integer from {low} to {high}")
        return value
    return check


def _number(low: float, high: float, low_open: bool = False) -> Callable[[Any], float]:
    def check(value):
        bound = f"greater than {low}" if low_open else f"from {low}"
        expected = f"a number {bound} up to {high}"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(expected)
        if value > high or value < low or (low_open and value == low):
            raise ValueError(expected)
        return float(value)
    return check


def _choice(*allowed: str) -> Callable[[Any], str]:
    def check(value):
        if value not in allowed:
            raise ValueError("one of " + ", ".join(allowed))
        return value
    return check


def _boolean(value):
    if not isinstance(value, bool):
        raise ValueError("true or false")
    return value


def _optional_path(value):
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError("a path (text) or null")
    return value


def layer_list(value) -> list[str]:
    """Check a list of VGG16 layer names; shared with album.yaml's per-photo overrides."""
    expected = "a non-empty list of layer names from: " + ", ".join(LAYER_NAMES)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ValueError(expected)
    for layer in value:
        if layer not in LAYER_NAMES:
            raise ValueError(expected)
    return list(dict.fromkeys(value))  # drop repeats, keep order


def _size_list(value) -> list[int]:
    check = _integer(32, 8192)
    if not isinstance(value, list) or not value:
        raise ValueError("a non-empty list of integers from 32 to 8192")
    try:
        return sorted({check(v) for v in value})
    except ValueError:
        raise ValueError("a non-empty list of integers from 32 to 8192") from None


# Dotted key -> check. The keys here and in config/default.yaml must match (a test says so).
SCHEMA: dict[str, Callable[[Any], Any]] = {
    "layers": layer_list,
    "dream.octaves": _integer(1, 12),
    "dream.octave_scale": _number(1.0, 4.0, low_open=True),
    "dream.steps": _integer(1, 1000),
    "dream.step_size": _number(0.0, 1.0, low_open=True),
    "dream.jitter": _integer(0, 512),
    "dream.smoothing": _number(0.0, 10.0),
    "dream.strength": _choice("subtle", "classic", "wild"),
    "dream.seed": _integer(0, 2**31 - 1),
    "dream.precision": _choice("auto", "bf16", "fp32"),
    "images.working_size": _integer(32, 8192),
    "images.web_sizes": _size_list,
    "images.jpeg_quality": _integer(1, 95),
    "images.max_megapixels": _number(1.0, 10_000.0),
    "weights.source": _choice("auto", "imagenet", "hed"),
    "weights.cache_dir": _optional_path,
    "device": _choice("auto", "cpu", "cuda"),
    "tasks.retries": _integer(0, 10),
    "tasks.retry_delay_seconds": _number(0.0, 3600.0),
    "tasks.dreams_at_once": _integer(1, 64),
    "engine.batch_layers": _choice("auto", "yes", "no"),
    "engine.memory_mb": _integer(256, 1_000_000),
    "output.dir": _optional_path,
    "output.full_resolution": _boolean,
    "output.store_dir": _optional_path,
}
_SECTIONS = {key.split(".")[0] for key in SCHEMA if "." in key}


@dataclass(frozen=True)
class Settings:
    """Validated settings for one run."""

    layers: tuple[str, ...]
    dream: DreamParams
    working_size: int
    web_sizes: tuple[int, ...]
    jpeg_quality: int
    max_pixels: int                # photos claiming more pixels are refused before decoding
    weights_source: str
    weights_cache_dir: Path
    device: str
    retries: int
    retry_delay_seconds: float
    dreams_at_once: int
    batch_layers: str
    memory_mb: int
    output_dir: Path | None
    full_resolution: bool
    store_dir: Path | None  # dreams shared between albums; None = kept in the output folder
    raw: dict  # the merged, validated nested dict (recorded in the manifest)


def read_yaml(path: Path) -> dict:
    """Read a YAML mapping; an empty file is an empty mapping."""
    source = str(path)
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(source, "(file)", str(path), f"a readable file ({err.strerror})") from None
    except UnicodeDecodeError as err:  # e.g. saved as Latin-1/cp1252 by an old editor
        raise ConfigError(source, "(file)", str(path),
                          f"UTF-8 text (byte {err.object[err.start]:#04x} at offset {err.start} is not); "
                          "save the file as UTF-8") from None
    except yaml.YAMLError as err:
        raise ConfigError(source, "(file)", str(path), f"valid YAML ({err})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(source, "(top level)", data, "a mapping of settings")
    return data


def _flatten(data: dict, source: str) -> dict[str, Any]:
    """{'dream': {'steps': 3}} -> {'dream.steps': 3}, rejecting unknown keys."""
    flat = {}
    for key, value in data.items():
        if key in _SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(source, key, value, "a mapping with keys " + _section_keys(key))
            for sub, sub_value in value.items():
                flat[f"{key}.{sub}"] = sub_value
        else:
            flat[str(key)] = value
    for key in flat:
        if key not in SCHEMA:
            section = key.split(".")[0]
            allowed = _section_keys(section) if section in _SECTIONS else ", ".join(_top_keys())
            raise ConfigError(source, key, flat[key], "a known setting: " + allowed)
    return flat


def _section_keys(section: str) -> str:
    return ", ".join(k.split(".", 1)[1] for k in SCHEMA if k.startswith(section + "."))


def _top_keys() -> list[str]:
    return sorted({k.split(".")[0] for k in SCHEMA})


def _validate(flat: dict[str, Any], source: str) -> dict[str, Any]:
    checked = {}
    for key, value in flat.items():
        try:
            checked[key] = SCHEMA[key](value)
        except ValueError as err:
            raise ConfigError(source, key, value, str(err)) from None
    return checked


def load_settings(config_file: Path | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """Defaults, then the strength preset, then `config_file`, then `overrides` (dotted keys,
    e.g. from CLI flags): a key set explicitly always wins over a preset."""
    merged = _validate(_flatten(read_yaml(DEFAULT_CONFIG), str(DEFAULT_CONFIG)), str(DEFAULT_CONFIG))
    missing = set(SCHEMA) - set(merged)
    if missing:
        raise ConfigError(str(DEFAULT_CONFIG), sorted(missing)[0], None, "a default value")
    explicit: dict[str, Any] = {}
    if config_file is not None:
        explicit.update(_validate(_flatten(read_yaml(config_file), str(config_file)), str(config_file)))
    if overrides:
        explicit.update(_validate(_flatten(overrides, "command line"), "command line"))
    strength = explicit.get("dream.strength", merged["dream.strength"])
    merged.update({f"dream.{key}": value for key, value in STRENGTHS[strength].items()})
    merged.update(explicit)
    return _build(merged)


def _build(flat: dict[str, Any]) -> Settings:
    dream = DreamParams(
        octaves=flat["dream.octaves"],
        octave_scale=flat["dream.octave_scale"],
        steps=flat["dream.steps"],
        step_size=flat["dream.step_size"],
        jitter=flat["dream.jitter"],
        smoothing=flat["dream.smoothing"],
        seed=flat["dream.seed"],
        precision=flat["dream.precision"],
    )
    cache_dir = flat["weights.cache_dir"] or "~/.cache/dreamtrip"
    return Settings(
        layers=tuple(flat["layers"]),
        dream=dream,
        working_size=flat["images.working_size"],
        web_sizes=tuple(flat["images.web_sizes"]),
        jpeg_quality=flat["images.jpeg_quality"],
        max_pixels=round(flat["images.max_megapixels"] * 1_000_000),
        weights_source=flat["weights.source"],
        weights_cache_dir=Path(cache_dir).expanduser(),
        device=flat["device"],
        retries=flat["tasks.retries"],
        retry_delay_seconds=flat["tasks.retry_delay_seconds"],
        dreams_at_once=flat["tasks.dreams_at_once"],
        batch_layers=flat["engine.batch_layers"],
        memory_mb=flat["engine.memory_mb"],
        output_dir=Path(flat["output.dir"]).expanduser() if flat["output.dir"] else None,
        full_resolution=flat["output.full_resolution"],
        store_dir=Path(flat["output.store_dir"]).expanduser() if flat["output.store_dir"] else None,
        raw=_nest(flat),
    )


def _nest(flat: dict[str, Any]) -> dict:
    nested: dict = {}
    for key, value in flat.items():
        *parents, leaf = key.split(".")
        node = nested
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = copy.deepcopy(value)
    return nested

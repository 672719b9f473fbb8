"""Settings: one typed model, the documented defaults in pipeline/default.yaml, a user's file and
command-line flags over them.

The model below declares every setting's type and bounds; default.yaml (shipped inside the
package, and linked as config/default.yaml) holds every default and says what it means. Nothing
else repeats either: the error text for a bad value is worked out from the bounds, and a test
checks that default.yaml sets exactly the keys the model has.

A mistake stops the run before any work with one line that names the file, the key, the value
and what is allowed: `FILE: KEY: got VALUE; expected WHAT`.
"""

from __future__ import annotations

import copy
import difflib
import reprlib
import types
import typing
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipeline.layers import LAYER_NAMES, MAX_OCTAVES, WEIGHTS
from pipeline.output.store import WEB_FORMATS, WebFormats

# dream.guide_mode: google/deepdream's best-match objective, or channels weighted by the guide
# (pipeline/dream/objective.py holds one objective for each, by these names).
GUIDE_MODES = ("matching", "channels")


@dataclass(frozen=True)
class DreamParams:
    """A dream's knobs, resolved (torch-free: config, manifest and page use them). No defaults
    here: they live, documented, in the settings file."""

    octaves: int | None   # pyramid levels; None: as many as keep the smallest ~400+ px (layers.auto_octaves)
    octave_scale: float   # size ratio between levels
    steps: int | tuple[int, ...]  # ascent steps per octave: one number for all, or from the full-size
                                  # octave down, the last for every smaller one (steps_by_octave)
    step_size: float      # mean pixel change per step (fraction of the 0..1 range)
    momentum: float       # share of the last step carried into the next (0: plain gradient ascent)
    jitter: int           # max random roll in px before each step
    smoothing: float      # sigma (px) of the blur applied to the gradient; 0 = none
    seed: int
    precision: str        # auto | bf16 | fp32

    def __post_init__(self):
        object.__setattr__(self, "steps", canonical_steps(self.steps))  # a preset's list too: one spelling, hashable

    def as_dict(self) -> dict:
        return asdict(self)

    def steps_by_octave(self, count: int) -> list[int]:
        """Ascent steps at each of `count` octaves, smallest first. A lone octave has nothing
        below it to build on: it takes the smaller octaves' steps, as a pyramid's smallest does."""
        steps = (self.steps,) if isinstance(self.steps, int) else self.steps
        if count == 1:
            return [steps[-1]]
        return [steps[min(below_full, len(steps) - 1)] for below_full in reversed(range(count))]


def canonical_steps(steps: int | list[int] | tuple[int, ...]) -> int | tuple[int, ...]:
    """One spelling for one schedule (the dream key hashes it): [4, 7, 7] is (4, 7), [7, 7] is 7."""
    if isinstance(steps, int):
        return steps
    steps = list(steps)
    while len(steps) > 1 and steps[-1] == steps[-2]:
        steps.pop()  # the last number already counts for every smaller octave
    return steps[0] if len(steps) == 1 else tuple(steps)


def steps_in_words(steps: int | list[int] | tuple[int, ...]) -> str:
    """6 -> '6'; (4, 7) -> '4 at full size, then 7 at each smaller octave'."""
    steps = canonical_steps(steps)
    if isinstance(steps, int):
        return str(steps)
    first, *middle, last = steps
    return ", then ".join([f"{first} at full size", *map(str, middle), f"{last} at each smaller octave"])


DEFAULT_CONFIG = Path(__file__).with_name("default.yaml")
COMMAND_LINE = "command line"

# What each `dream.strength` sets, unless the config sets that key itself. The only place these
# numbers live: default.yaml shows the keys commented out, `dreamtrip settings` prints them.
# Steps are [at full size, at each smaller octave]: a full-size step costs as much as one at each
# of the two octaves below it, and with momentum carried up the pyramid the full size only has
# to finish what they dreamed (BENCHMARKS.md, "Fewer steps per dream").
STRENGTHS = {
    # a light touch: textures surface, the photo stays the photo
    "subtle": {"octave_scale": 1.4, "steps": [3, 4], "step_size": 0.0025, "momentum": 0.6, "smoothing": 1.0},
    # google/deepdream's balance: clear dream structures on a recognisable photo
    "classic": {"octave_scale": 1.4, "steps": [4, 7], "step_size": 0.005, "momentum": 0.6, "smoothing": 0.5},
    # more steps, a sharper gradient: the dream takes over the scene
    "wild": {"octave_scale": 1.5, "steps": [7, 10], "step_size": 0.009, "momentum": 0.7, "smoothing": 0.25},
}

# Keys of older dreamtrip versions, and what took their place.
_REPLACED = {
    "images.working_size": "images.dream_size",
    "output.full_resolution": "images.dream_size (`full` dreams at the photo's own size)",
    "engine.batch_layers": "nothing (layers are dreamed one at a time: a batch measured slower); delete it",
}




# An error quotes at most this much of what the user wrote: a line, never a whole document.
_QUOTE = reprlib.Repr()  # its limits as attributes: keywords came with Python 3.12
_QUOTE.maxlevel, _QUOTE.maxdict, _QUOTE.maxlist, _QUOTE.maxtuple, _QUOTE.maxset = 2, 3, 4, 4, 4
_QUOTE.maxstring = _QUOTE.maxother = 60
_QUOTE_CHARS = 100


def quoted(value: Any) -> str:
    """`value` as Python writes it (repr), cut to one short line: reprlib stops early, so a huge
    value costs no more than a small one."""
    text = _QUOTE.repr(value)
    return text if len(text) <= _QUOTE_CHARS else text[:_QUOTE_CHARS - 3] + "..."


def _key_text(key: str) -> str:
    """A key as the message names it: as written, unless it is no short line of text itself."""
    return key if len(key) <= _QUOTE_CHARS and key.isprintable() else quoted(key)


class ConfigError(Exception):
    """A setting is missing, unknown or of the wrong kind. The CLI exits with code 2."""

    def __init__(self, source: str, key: str, value: Any, expected: str):
        self.source, self.key, self.value, self.expected = source, key, value, expected
        super().__init__(f"{source}: {_key_text(key)}: got {quoted(value)}; expected {expected}")

    @classmethod
    def unreadable(cls, source: str, problem: str) -> "ConfigError":
        """The file itself, not a key: `FILE: PROBLEM`."""
        error = cls(source, "(file)", source, problem)
        error.args = (f"{source}: {problem}",)
        return error


# ---- value types: each bound is declared once, here, with the words that say it ----

class Expect(str):
    """What a value type accepts, in words, for the error message."""


def _int(low: int, high: int):
    return Annotated[int, Field(ge=low, le=high), Expect(f"an integer from {low} to {high}")]


def _number(low: float, high: float, low_open: bool = False):
    if low_open:
        return Annotated[float, Field(gt=low, le=high), Expect(f"a number greater than {low} up to {high}")]
    return Annotated[float, Field(ge=low, le=high), Expect(f"a number from {low} to {high}")]


def _integers(low: int, high: int, words: str, max_length: int | None = None):
    return Annotated[list[_int(low, high)], Field(min_length=1, max_length=max_length), Expect(words)]


def _sizes(low: int, high: int):
    return _integers(low, high, f"a non-empty list of integers from {low} to {high}")


def _octave_steps(low: int, high: int):
    return _integers(low, high, f"a list of integers from {low} to {high}, from the full-size octave down",
                     max_length=MAX_OCTAVES)


PathText = Annotated[str, Field(min_length=1, pattern=r"\S"), Expect("a path (text)")]
Toggle = Literal["auto", "yes", "no"]


def check_layers(value) -> tuple[str, ...]:
    """A list of VGG16 layer names (or one name); repeats dropped. Shared with album.yaml."""
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or any(n not in LAYER_NAMES for n in names):
        raise ValueError(_LAYERS_EXPECTED)
    return tuple(dict.fromkeys(names))


_LAYERS_EXPECTED = "a non-empty list of layer names from: " + ", ".join(LAYER_NAMES)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DreamSettings(_Section):
    strength: Literal["subtle", "classic", "wild"]
    octaves: Literal["auto"] | _int(1, MAX_OCTAVES)
    # Not set (None): the strength preset's value.
    octave_scale: _number(1.0, 4.0, low_open=True) | None = None
    steps: _int(1, 1000) | _octave_steps(1, 1000) | None = None
    step_size: _number(0.0, 1.0, low_open=True) | None = None
    momentum: _number(0.0, 0.95) | None = None
    smoothing: _number(0.0, 10.0) | None = None
    jitter: _int(0, 512)
    seed: _int(0, 2**31 - 1)
    precision: Literal["auto", "bf16", "fp32"]
    guide_mode: Literal[GUIDE_MODES]  # type: ignore[valid-type]

    @property
    def set_by_hand(self) -> tuple[str, ...]:
        """The preset's keys that the config set itself (they win over the strength)."""
        return tuple(key for key in STRENGTHS[self.strength] if getattr(self, key) is not None)

    @property
    def from_strength(self) -> dict[str, Any]:
        """The preset's values for the keys the config leaves to the strength."""
        return {key: value for key, value in STRENGTHS[self.strength].items() if key not in self.set_by_hand}

    def params(self) -> DreamParams:
        """What the engine runs: the strength preset, with the keys set by hand over it."""
        by_hand = {key: getattr(self, key) for key in self.set_by_hand}
        return DreamParams(**{**self.from_strength, **by_hand,
                              "octaves": None if self.octaves == "auto" else self.octaves,
                              "jitter": self.jitter, "seed": self.seed, "precision": self.precision})


WebFormat = Literal[WEB_FORMATS]
_FORMATS_EXPECTED = (f"a list of image formats from {', '.join(WEB_FORMATS)} that holds jpeg (the copy "
                     "every browser shows, post.md uses and the full-size links open)")


class ImageSettings(_Section):
    dream_size: Literal["auto", "full"] | _int(32, 16384)
    preview_size: _int(32, 16384)
    web_sizes: _sizes(32, 8192)
    formats: Annotated[list[WebFormat], Field(min_length=1), Expect(_FORMATS_EXPECTED)]
    jpeg_quality: _int(1, 95)
    avif_quality: _int(1, 100)
    max_megapixels: _number(1.0, 10_000.0)

    @field_validator("web_sizes")
    @classmethod
    def _sorted(cls, sizes: list[int]) -> list[int]:
        return sorted(set(sizes))

    @field_validator("formats")
    @classmethod
    def _with_jpeg(cls, formats: list[str]) -> list[str]:
        """Repeats dropped; JPEG is required (the fallback) and goes last, the rest as listed."""
        if "jpeg" not in formats:
            raise ValueError(_FORMATS_EXPECTED)
        return [fmt for fmt in dict.fromkeys(formats) if fmt != "jpeg"] + ["jpeg"]

    def web_formats(self) -> WebFormats:
        """The files each web copy is written as (pipeline/output/store.py names them)."""
        return WebFormats(self.jpeg_quality, self.avif_quality if "avif" in self.formats else None)

    @property
    def max_pixels(self) -> int:
        return round(self.max_megapixels * 1_000_000)


class LoopSettings(_Section):
    """Dream loops (pipeline/dream/loop.py): every value is part of a loop's store key."""

    frames: _int(4, 1200)
    fps: _int(1, 60)
    size: _int(32, 4096)
    zoom: _number(1.0, 2.0)
    steps: _int(0, 100)
    blend: _int(0, 1199)
    video_quality: _int(0, 51)
    webp_quality: _int(1, 100)

    @property
    def fade(self) -> int:
        """Frames the tail fades into the head over: `blend`, at most all frames but one."""
        return min(self.blend, self.frames - 1)

    @property
    def dreamed_frames(self) -> int:
        """Frames dreamed after the first (the stored dream): the loop's, and the tail that fades."""
        return self.frames + self.fade - 1

    def frame_params(self, params: DreamParams) -> DreamParams:
        """How each frame is dreamed: `steps` (at least one) at one octave, the frame before
        already holding the dream."""
        return replace(params, octaves=1, steps=max(1, self.steps))


class WeightsSettings(_Section):
    source: Literal[("auto", *WEIGHTS)]
    download: Literal["auto", "never"]
    cache_dir: PathText | None

    @property
    def cache_path(self) -> Path:
        return Path(self.cache_dir or "~/.cache/dreamtrip").expanduser()


class TaskSettings(_Section):
    retries: _int(0, 10)
    retry_delay_seconds: _number(0.0, 3600.0)
    dreams_at_once: _int(1, 64)


class EngineSettings(_Section):
    cuda_graphs: Toggle
    memory_mb: _int(256, 1_000_000)

    def graphs_on(self, device: str) -> bool:
        """Replay small passes from CUDA graphs on `device`: only on CUDA, and `auto` is off until
        they are measured faster on a GPU (BENCHMARKS.md)."""
        return self.cuda_graphs == "yes" and device.startswith("cuda")


class OutputSettings(_Section):
    dir: PathText | None
    store_dir: PathText | None

    @property
    def dir_path(self) -> Path | None:
        return Path(self.dir).expanduser() if self.dir else None

    @property
    def store_path(self) -> Path | None:
        """Absolute: a shared store is the same folder for every run, wherever it starts."""
        return Path(self.store_dir).expanduser().resolve() if self.store_dir else None


class ExportSettings(_Section):
    """Blogs the post goes into after each run (pipeline/post/export.py), as `dreamtrip export`."""

    hugo: PathText | None
    jekyll: PathText | None

    def sites(self) -> list[tuple[str, Path]]:
        """(engine, site folder) for each blog set, Hugo first."""
        return [(engine, Path(site).expanduser()) for engine, site in (("hugo", self.hugo), ("jekyll", self.jekyll))
                if site]


_Latitude, _Longitude = _number(-90.0, 90.0), _number(-180.0, 180.0)
_Radius = _number(1.0, 1_000_000.0)


class HiddenZone(_Section):
    """A circle on the Earth (home, family): photos taken inside it get no place, no position."""

    lat: _Latitude
    lon: _Longitude
    radius_m: _Radius


def _said(annotation) -> str:
    """The words an annotated value type was declared with."""
    return next(item for item in typing.get_args(annotation) if isinstance(item, Expect))


_ZONES_EXPECTED = Expect("a list of zones, each {lat, lon, radius_m}: " + ", ".join(
    f"{name} {_said(field.rebuild_annotation())}" for name, field in HiddenZone.model_fields.items()))


class PrivacySettings(_Section):
    # town: the post names the town, never the spot; exact: the spot; none: no places at all.
    location: Literal["town", "exact", "none"]
    hide_near: Annotated[list[HiddenZone], _ZONES_EXPECTED]
    # The caption a photo's file carries, as its story where album.yaml gives none; false:
    # never read into the output folder. (A default: a run recorded before it had none.)
    file_captions: bool = True
    # The first and last metres of each day's track left off the map: where the traveller
    # slept. (A default: a run recorded before tracks had none.)
    track_trim_m: _number(0.0, 100_000.0) = 500.0

    @property
    def places(self) -> bool:
        """Whether the post says where photos were taken at all."""
        return self.location != "none"


class TrackSettings(_Section):
    """GPS tracks in the album (pipeline/ingest/tracks.py)."""

    # A photo without GPS is placed from the track only when a track point lies within this
    # many minutes of the time it was taken; longer gaps in a track are not drawn across.
    max_gap: _number(0.0, 1440.0, low_open=True) = 5.0

    @property
    def max_gap_s(self) -> float:
        return self.max_gap * 60


class Settings(_Section):
    """Every setting of a run, nested as in default.yaml."""

    layers: tuple[str, ...]
    dream: DreamSettings
    images: ImageSettings
    loop: LoopSettings
    weights: WeightsSettings
    device: Literal["auto", "cpu", "cuda", "mps"]
    tasks: TaskSettings
    engine: EngineSettings
    output: OutputSettings
    export: ExportSettings
    privacy: PrivacySettings
    track: TrackSettings = TrackSettings()

    @field_validator("layers", mode="before")
    @classmethod
    def _layer_names(cls, value) -> tuple[str, ...]:
        return check_layers(value)

    def as_dict(self) -> dict:
        """The settings as plain data (recorded in the manifest; `retry` reloads them)."""
        return self.model_dump(mode="json")

    def without_machine_paths(self) -> "Settings":
        """The settings as a run's record keeps them: how the dreams were made, not where things
        lie on this machine (the output folder, a shared store, the weights cache), since the
        record sits in the folder a traveller publishes."""
        return self.with_machine_paths_of(None)

    def with_machine_paths_of(self, local: "Settings | None") -> "Settings":
        """These settings with where things lie on this machine (a shared store, the weights
        cache, the blogs to export to) taken from `local`, or cleared when it is None; the output
        folder is cleared."""
        return self.model_copy(update={
            "output": self.output.model_copy(update={"dir": None, "store_dir": local and local.output.store_dir}),
            "weights": self.weights.model_copy(update={"cache_dir": local and local.weights.cache_dir}),
            "export": local.export if local else ExportSettings(hugo=None, jekyll=None)})


# ---- loading ----

# What a settings file or album.yaml may hold once its aliases (`*name`) are expanded: far more
# than any real one, far less than the few hundred bytes of nested aliases that expand to
# billions of values (and then take minutes and gigabytes to check or to quote in an error).
MAX_YAML_VALUES = 100_000


class _TooManyValues(Exception):
    """The document's aliases expand past MAX_YAML_VALUES."""


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, but a document whose aliases expand past MAX_YAML_VALUES is refused
    before a value is built, and text that looks like a date but is none (2024-13-45) stays text:
    the check of its key then names the key (PyYAML would raise with no key)."""

    def compose_document(self):
        document = super().compose_document()
        _expanded_size(document, {}, set())
        return document

    def construct_yaml_timestamp(self, node):
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:
            return self.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def _expanded_size(node, sizes: dict, open_nodes: set) -> int:
    """How many values `node` holds with every alias in it written out (each node counted once per
    place it appears; `sizes` remembers each node's count, so a deep bomb costs only its length).
    A node that holds itself (`&a [*a]`) expands without end."""
    if id(node) in sizes:
        return sizes[id(node)]
    if id(node) in open_nodes:
        raise _TooManyValues
    open_nodes.add(id(node))
    children = (node.value if isinstance(node, yaml.SequenceNode) else
                [item for pair in node.value for item in pair] if isinstance(node, yaml.MappingNode) else [])
    size = 1 + sum(_expanded_size(child, sizes, open_nodes) for child in children)
    if size > MAX_YAML_VALUES:
        raise _TooManyValues
    open_nodes.discard(id(node))
    sizes[id(node)] = size
    return size


def read_yaml(path: Path) -> dict:
    """Read a YAML mapping; an empty file is an empty mapping. The one reader of a user's YAML
    (settings files, album.yaml)."""
    source = str(path)
    try:
        data = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_Loader)  # a SafeLoader
    except OSError as err:
        raise ConfigError.unreadable(source, f"not a readable file ({err.strerror})") from None
    except UnicodeDecodeError as err:  # e.g. saved as Latin-1/cp1252 by an old editor
        raise ConfigError.unreadable(source, f"not UTF-8 text (byte {err.object[err.start]:#04x} at offset "
                                             f"{err.start}); save the file as UTF-8") from None
    except yaml.YAMLError as err:
        raise ConfigError.unreadable(source, _yaml_problem(err)) from None
    except _TooManyValues:
        raise ConfigError.unreadable(source, f"its aliases (*name) expand to more than {MAX_YAML_VALUES:,} values: "
                                             "write the values out") from None
    except RecursionError:  # PyYAML reads nested values by recursion
        raise ConfigError.unreadable(source, "its values are nested too deeply to read") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(source, "(top level)", data, "a mapping of settings")
    return data


def _yaml_problem(err: yaml.YAMLError) -> str:
    """Where PyYAML stopped and why, plus the usual cause: a colon inside unquoted text."""
    mark = getattr(err, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(err, "problem", None) or " ".join(str(err).split())
    said = f"not valid YAML{where}: {problem}"
    if "mapping values are not allowed" in problem:
        said += ("; a colon followed by a space inside text starts a new key there: put the text "
                 "in quotes (\"...\") or write it as a block after `|`")
    return said


def load_settings(config_file: Path | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """default.yaml, then `config_file`, then `overrides` (dotted keys, e.g. from CLI flags)."""
    layers = [(str(DEFAULT_CONFIG), read_yaml(DEFAULT_CONFIG))]
    if config_file is not None:
        layers.append((str(config_file), read_yaml(config_file)))
    if overrides:
        layers.append((COMMAND_LINE, _nest(overrides)))
    return _validated(layers)


def recorded_settings(recorded: dict, source: str) -> Settings:
    """Settings that a run of any dreamtrip version recorded (manifest.json), read over this
    version's defaults: a key added since takes its default, a key since removed is dropped (it
    can no longer apply). A recorded value this version refuses raises ConfigError naming `source`."""
    if not isinstance(recorded, dict):
        raise ConfigError(source, "settings", recorded, "a mapping of settings")
    return _validated([(str(DEFAULT_CONFIG), read_yaml(DEFAULT_CONFIG)), (source, _known(recorded, Settings))])


def _validated(layers: list[tuple[str, dict]]) -> Settings:
    """Each (source, data) merged over the ones before, validated as one Settings."""
    merged, origin = {}, {}
    for source, data in layers:
        _merge(merged, data, origin, source)
    try:
        return Settings.model_validate(merged)
    except ValidationError as err:
        raise _config_error(err, merged, origin) from None


def _known(data: dict, model: type[BaseModel]) -> dict:
    """`data` without the keys that `model` (and, inside them, its sections) does not have."""
    known = {}
    for key, value in data.items():
        field = model.model_fields.get(key)
        if field is None:
            continue
        section = _section_model(field.annotation)
        known[key] = _known(value, section) if section and isinstance(value, dict) else value
    return known


def _nest(flat: dict[str, Any]) -> dict:
    """{'output.dir': 'x'} -> {'output': {'dir': 'x'}} (nested values are kept as they are)."""
    nested: dict = {}
    for key, value in flat.items():
        *parents, leaf = key.split(".")
        node = nested
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return nested


def _merge(into: dict, data: dict, origin: dict, source: str, prefix: str = "") -> None:
    """Deep-merge `data` into `into`, remembering which source set each dotted key."""
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value, origin, source, dotted + ".")
        else:
            into[key] = copy.deepcopy(value)
            origin[dotted] = source


# ---- errors: FILE: KEY: got VALUE; expected WHAT ----

def _config_error(err: ValidationError, merged: dict, origin: dict) -> ConfigError:
    first = err.errors()[0]
    path = _settings_keys(first["loc"])
    key, section = ".".join(path), _section_at(path[:-1])
    source = _source_of(path, origin)
    inside_a_value = len(first["loc"]) > len(path)   # e.g. one zone of privacy.hide_near
    if first["type"] == "extra_forbidden" and not inside_a_value:
        known = (f": {key} was replaced by {_REPLACED[key]}" if key in _REPLACED
                 else did_you_mean(path[-1], section.model_fields) + ": " + ", ".join(section.model_fields))
        return ConfigError(source, key, first["input"], "a known setting" + known)
    if first["type"] == "missing" and not inside_a_value:
        return ConfigError(source, key, None, "a value (every setting has a default in default.yaml)")
    return ConfigError(source, key, _value_at(merged, path), _expected(section.model_fields[path[-1]]))


def did_you_mean(key: str, known) -> str:
    """' (did you mean steps?)' for a misspelt key, else ''."""
    close = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _settings_keys(loc: tuple) -> list[str]:
    """The keys an error location names: its sections, then the setting (or unknown key); list
    indexes and union member tags after that are dropped."""
    path, model = [], Settings
    for part in loc:
        path.append(part)
        field = model.model_fields.get(part)
        if field is None or not _section_model(field.annotation):
            break
        model = field.annotation
    return path


def _section_model(annotation):
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _section_at(keys: list[str]) -> type[BaseModel]:
    model = Settings
    for key in keys:
        model = model.model_fields[key].annotation
    return model


def _source_of(path: list[str], origin: dict) -> str:
    """Which file set the key, or the section that holds it (`dream: 5` sets the section)."""
    for end in range(len(path), 0, -1):
        key = ".".join(path[:end])
        if key in origin:
            return origin[key]
    return str(DEFAULT_CONFIG)


def _value_at(data: dict, path: list[str]):
    for part in path:
        data = data.get(part) if isinstance(data, dict) else None
    return data


def _expected(field) -> str:
    """What a field accepts, in words, from its declared type."""
    return ", or ".join(_words(field.rebuild_annotation()))


def _words(annotation) -> list[str]:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        return [item for item in args[1:] if isinstance(item, Expect)] or _words(args[0])
    if origin in (typing.Union, types.UnionType):
        return [words for arg in args for words in _words(arg)]
    if origin is Literal:
        return ["one of " + ", ".join(str(arg) for arg in args)]
    if annotation is type(None):
        return ["null"]
    if _section_model(annotation):
        return ["a mapping with keys " + ", ".join(annotation.model_fields)]
    return [_LAYERS_EXPECTED if annotation == tuple[str, ...] else str(annotation)]

"""Settings (config/default.yaml + a user's file + CLI flags) and album.yaml: values and errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from pipeline.ingest.album import AlbumText, PhotoText, load_album_text
from pipeline.config import (DEFAULT_CONFIG, STRENGTHS, ConfigError, Settings, canonical_steps, load_settings,
                             steps_in_words)
from pipeline.layers import LAYER_NAMES

REPO = Path(__file__).resolve().parents[1]


def _write(tmp_path: Path, text: str, name: str = "user.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ---- defaults: default.yaml holds them all, the model holds types and bounds ----

def test_defaults_load_and_are_what_default_yaml_says():
    documented = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    settings = load_settings()
    recorded = settings.as_dict()
    for section, values in documented.items():  # every documented default is the value in force
        if isinstance(values, dict):
            for key, value in values.items():
                assert recorded[section][key] == value, f"{section}.{key}"
        else:
            assert recorded[section] == values, section
    assert settings.weights.cache_path == Path("~/.cache/dreamtrip").expanduser()  # null's meaning
    assert settings.output.dir_path is None


def test_default_yaml_sets_every_setting_but_the_strengths_keys():
    """What the file says is what runs: nothing set elsewhere, and the keys a strength sets are
    shown commented out (setting them there would override every strength)."""
    documented = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    for name, field in Settings.model_fields.items():
        assert name in documented, name
        section = field.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            preset = set(STRENGTHS["classic"]) if name == "dream" else set()
            assert set(documented[name]) == set(section.model_fields) - preset, name
    text = DEFAULT_CONFIG.read_text(encoding="utf-8")
    for key in STRENGTHS["classic"]:
        assert f"  # {key}:" in text, key


def test_config_default_yaml_is_the_packaged_file():
    assert (REPO / "config" / "default.yaml").resolve() == DEFAULT_CONFIG.resolve()


def test_demo_config_is_valid_and_quick():
    settings = load_settings(REPO / "config" / "demo.yaml")
    assert settings.images.dream_size < 1024  # the CPU's auto size: the demo is the quick one


def test_empty_user_file_means_defaults(tmp_path):
    assert load_settings(_write(tmp_path, "# nothing set\n")) == load_settings()


# ---- overriding ----

def test_user_file_overrides_only_what_it_sets(tmp_path):
    user = _write(tmp_path, "layers: [conv1_1, conv2_2]\ndream:\n  steps: 3\nimages:\n  jpeg_quality: 70\n")
    defaults, settings = load_settings(), load_settings(user)

    assert settings.layers == ("conv1_1", "conv2_2")
    assert settings.dream.steps == 3
    assert settings.images.jpeg_quality == 70
    # everything else, including the siblings in the same sections, keeps its default
    assert settings.dream.octaves == defaults.dream.octaves
    assert settings.dream.step_size == defaults.dream.step_size
    assert settings.images.dream_size == defaults.images.dream_size
    assert settings.images.web_sizes == defaults.images.web_sizes
    assert settings.device == defaults.device


def test_command_line_overrides_win_over_the_file(tmp_path):
    user = _write(tmp_path, "layers: [conv1_1]\ndevice: cpu\ndream:\n  seed: 5\noutput:\n  dir: from-file\n")
    out = tmp_path / "site"
    settings = load_settings(user, {"layers": ["conv5_2", "conv4_1"], "device": "cuda",
                                    "output.dir": str(out), "dream": {"seed": 9}})
    assert settings.layers == ("conv5_2", "conv4_1")  # the order given is kept
    assert settings.device == "cuda"
    assert settings.output.dir_path == out
    assert settings.dream.seed == 9
    assert settings.as_dict()["device"] == "cuda"


def test_formats_always_end_with_the_jpeg_fallback(tmp_path):
    assert load_settings().images.formats == ["avif", "jpeg"]
    assert load_settings(_write(tmp_path, "images:\n  formats: [jpeg, avif, jpeg]\n")).images.formats == ["avif", "jpeg"]
    jpeg_only = load_settings(_write(tmp_path, "images:\n  formats: [jpeg]\n")).images
    assert jpeg_only.web_formats().twins("photos/a-1.jpg") == {}
    assert load_settings().images.web_formats().twins("photos/a-1.jpg") == {
        "avif": f"photos/a-1.q{load_settings().images.avif_quality}.avif"}


def test_layer_list_accepts_one_name_and_drops_repeats(tmp_path):
    assert load_settings(_write(tmp_path, "layers: conv4_2\n")).layers == ("conv4_2",)
    repeated = load_settings(None, {"layers": ["conv3_1", "conv4_2", "conv3_1"]})
    assert repeated.layers == ("conv3_1", "conv4_2")


def test_every_layer_name_is_accepted():
    assert load_settings(None, {"layers": list(LAYER_NAMES)}).layers == LAYER_NAMES


# ---- errors: file, key, value and what is allowed ----

BAD_SETTINGS = [
    # (yaml text, key named, value named, words from what is allowed)
    pytest.param("colour: blue\n", "colour", "'blue'", "dream", id="unknown-top-level-key"),
    pytest.param("dream:\n  stepz: 3\n", "dream.stepz", "3", "steps", id="unknown-key-in-section"),
    pytest.param("layers: [conv3_1, conv6_1]\n", "layers", "conv6_1", "conv5_3", id="bad-layer"),
    pytest.param('dream:\n  steps: "ten"\n', "dream.steps", "'ten'", "an integer from 1 to 1000",
                 id="text-for-int"),
    pytest.param("dream:\n  steps: true\n", "dream.steps", "True", "an integer", id="bool-for-int"),
    pytest.param("dream:\n  steps: 2.5\n", "dream.steps", "2.5", "an integer", id="float-for-int"),
    pytest.param("dream:\n  steps: 0\n", "dream.steps", "0", "from 1 to 1000", id="int-too-small"),
    pytest.param("dream:\n  steps: [4, 0]\n", "dream.steps", "[4, 0]", "from the full-size octave down",
                 id="a-step-list-with-a-zero"),
    pytest.param("dream:\n  steps: []\n", "dream.steps", "[]", "a list of integers", id="an-empty-step-list"),
    pytest.param("images:\n  jpeg_quality: 100\n", "images.jpeg_quality", "100", "from 1 to 95",
                 id="int-too-big"),
    pytest.param("dream:\n  octave_scale: 1.0\n", "dream.octave_scale", "1.0", "greater than 1.0",
                 id="number-at-open-bound"),
    pytest.param("dream:\n  step_size: -0.1\n", "dream.step_size", "-0.1", "greater than 0.0",
                 id="negative-number"),
    pytest.param("dream:\n  momentum: 1.0\n", "dream.momentum", "1.0", "from 0.0 to 0.95",
                 id="momentum-that-never-settles"),
    pytest.param("tasks:\n  retry_delay_seconds: false\n", "tasks.retry_delay_seconds", "False",
                 "a number", id="bool-for-number"),
    pytest.param("dream:\n  precision: fp16\n", "dream.precision", "'fp16'", "auto, bf16, fp32",
                 id="bad-choice"),
    pytest.param("device: gpu\n", "device", "'gpu'", "auto, cpu, cuda", id="bad-device"),
    pytest.param("images:\n  web_sizes: [480, 10]\n", "images.web_sizes", "10", "from 32 to 8192",
                 id="bad-size-in-list"),
    pytest.param("images:\n  formats: [avif]\n", "images.formats", "['avif']", "that holds jpeg",
                 id="formats-without-the-jpeg-fallback"),
    pytest.param("images:\n  formats: [webp, jpeg]\n", "images.formats", "['webp', 'jpeg']", "from avif, jpeg",
                 id="unknown-format"),
    pytest.param("images:\n  avif_quality: 0\n", "images.avif_quality", "0", "from 1 to 100",
                 id="avif-quality-too-small"),
    pytest.param("dream: 5\n", "dream", "5", "steps", id="section-not-a-mapping"),
    pytest.param("weights:\n  cache_dir: 7\n", "weights.cache_dir", "7", "a path", id="number-for-path"),
    pytest.param("privacy:\n  location: street\n", "privacy.location", "'street'", "town, exact, none",
                 id="bad-privacy-level"),
    pytest.param("privacy:\n  hide_near: [{lat: 95, lon: 14, radius_m: 300}]\n", "privacy.hide_near",
                 "'lat': 95", "lat a number from -90.0 to 90.0", id="zone-latitude-out-of-range"),
    pytest.param("privacy:\n  hide_near: [{lat: 50, lon: 14, radius: 300}]\n", "privacy.hide_near",
                 "'radius': 300", "radius_m a number from 1.0", id="zone-key-misspelt"),
    pytest.param("privacy:\n  hide_near: [{lat: 50, lon: 14, radius_m: 0}]\n", "privacy.hide_near",
                 "'radius_m': 0", "radius_m a number from 1.0", id="zone-of-no-size"),
    pytest.param("privacy:\n  hide_near: {lat: 50, lon: 14, radius_m: 30}\n", "privacy.hide_near",
                 "'lat': 50", "a list of zones", id="zone-not-in-a-list"),
    pytest.param("track:\n  max_gap: 0\n", "track.max_gap", "0", "greater than 0.0 up to 1440",
                 id="track-gap-of-nothing"),
    pytest.param("privacy:\n  track_trim_m: -5\n", "privacy.track_trim_m", "-5", "from 0.0 to 100000",
                 id="track-trim-negative"),
]


@pytest.mark.parametrize("text, key, value, allowed", BAD_SETTINGS)
def test_bad_setting_names_file_key_value_and_what_is_allowed(tmp_path, text, key, value, allowed):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    err, message = caught.value, str(caught.value)
    assert err.source == str(path) and err.key == key
    assert str(path) in message
    assert f": {key}: " in message
    assert value in message
    assert allowed in message


def test_invalid_yaml_names_the_file(tmp_path):
    path = _write(tmp_path, "dream:\n  steps: [3\n  octaves: 2\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(path) in str(caught.value)
    assert "valid YAML" in str(caught.value)


def test_top_level_list_is_rejected(tmp_path):
    path = _write(tmp_path, "- conv3_1\n- conv4_2\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.key == "(top level)"
    assert str(path) in str(caught.value) and "a mapping" in str(caught.value)
    assert "conv3_1" in str(caught.value)


def test_missing_config_file_is_a_config_error(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(path) in str(caught.value) and "readable file" in str(caught.value)


def test_config_not_in_utf8_is_a_config_error(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("output:\n  dir: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(path) in str(caught.value) and "UTF-8" in str(caught.value)


def test_bad_command_line_value_says_command_line():
    with pytest.raises(ConfigError) as caught:
        load_settings(None, {"layers": ["conv9_9"]})
    assert caught.value.source == "command line"
    assert "layers" in str(caught.value) and "conv9_9" in str(caught.value)


# ---- album.yaml ----

ALBUM_YAML = """\
title: "Three days in Prague"
intro: |
  We flew in on a Monday.
outro: Thank you, Prague.
photos:
  01-bridge.jpg:
    story: |
      First morning on the bridge.
  day2/02-cat.jpg:
    story: A cat.
    layers: [conv4_2, conv5_2]
  03-rocket.jpg:
    layers: conv1_1
  04-nothing.jpg:
"""


def test_album_yaml_is_parsed(tmp_path):
    _write(tmp_path, ALBUM_YAML, "album.yaml")
    album = load_album_text(tmp_path)
    assert isinstance(album, AlbumText)
    assert album.title == "Three days in Prague"
    assert album.intro == "We flew in on a Monday."
    assert album.outro == "Thank you, Prague."
    assert album.photos["01-bridge.jpg"] == PhotoText(story="First morning on the bridge.", layers=None)
    assert album.photos["day2/02-cat.jpg"] == PhotoText(story="A cat.", layers=("conv4_2", "conv5_2"))
    assert album.photos["03-rocket.jpg"] == PhotoText(story=None, layers=("conv1_1",))
    assert album.photos["04-nothing.jpg"] == PhotoText()


def test_album_yaml_unknown_key_is_named(tmp_path):
    path = _write(tmp_path, "titel: Prague\n", "album.yaml")
    with pytest.raises(ConfigError) as caught:
        load_album_text(tmp_path)
    assert caught.value.key == "titel"
    assert str(path) in str(caught.value) and "title" in caught.value.expected


def test_album_yaml_unknown_key_in_a_photo_is_named(tmp_path):
    _write(tmp_path, "photos:\n  a.jpg:\n    storey: hello\n", "album.yaml")
    with pytest.raises(ConfigError) as caught:
        load_album_text(tmp_path)
    assert caught.value.key == "photos.a.jpg.storey"
    assert "story" in str(caught.value)


def test_album_yaml_bad_photo_layer_is_named(tmp_path):
    path = _write(tmp_path, "photos:\n  a.jpg:\n    layers: [conv4_2, pool5]\n", "album.yaml")
    with pytest.raises(ConfigError) as caught:
        load_album_text(tmp_path)
    message = str(caught.value)
    assert caught.value.key == "photos.a.jpg.layers"
    assert str(path) in message and "pool5" in message and "conv5_3" in message


def test_album_yaml_photos_must_be_a_mapping(tmp_path):
    _write(tmp_path, "photos: [a.jpg, b.jpg]\n", "album.yaml")
    with pytest.raises(ConfigError) as caught:
        load_album_text(tmp_path)
    assert caught.value.key == "photos"


def test_album_yaml_with_accents_in_utf8_is_read(tmp_path):
    _write(tmp_path, "title: Caf\u00e9s of Praha \u2013 \u0160koda\nintro: \u201cAhoj\u201d\n", "album.yaml")
    album = load_album_text(tmp_path)
    assert album.title == "Caf\u00e9s of Praha \u2013 \u0160koda" and album.intro == "\u201cAhoj\u201d"


def test_album_yaml_not_in_utf8_is_a_config_error_not_a_crash(tmp_path):
    path = tmp_path / "album.yaml"
    path.write_bytes("title: Caf\u00e9 days\n".encode("cp1252"))  # what an old Windows editor saves
    with pytest.raises(ConfigError) as caught:
        load_album_text(tmp_path)
    assert str(path) in str(caught.value) and "UTF-8" in str(caught.value)


def test_missing_album_yaml_takes_the_title_from_the_folder(tmp_path):
    album_dir = tmp_path / "three-days_in-prague"
    album_dir.mkdir()
    album = load_album_text(album_dir)
    assert album.title == "Three Days In Prague"
    assert album.intro is None and album.outro is None and album.photos == {}


def test_blank_title_falls_back_to_the_folder_name(tmp_path):
    album_dir = tmp_path / "lisbon"
    album_dir.mkdir()
    _write(album_dir, 'title: "  "\nintro: Hello\n', "album.yaml")
    album = load_album_text(album_dir)
    assert album.title == "Lisbon" and album.intro == "Hello"


def test_the_sample_album_yaml_is_valid():
    sample = DEFAULT_CONFIG.parent.parent / "data" / "sample-album"
    album = load_album_text(sample)
    assert album.title == "Three days in Prague"
    assert album.photos["02-old-town-cat-cafe.jpg"].layers == ("conv4_2", "conv5_2")


# ---- the CLI: a config error is exit code 2, before any work ----

def test_cli_config_error_exits_2_and_names_the_key(tmp_path, capsys):
    from flows.cli import main

    album = tmp_path / "album"
    album.mkdir()
    bad = _write(tmp_path, "dream:\n  stepz: 3\n", "bad.yaml")
    assert main(["run", str(album), "-c", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "dream.stepz" in err and str(bad) in err and "config error" in err


def test_cli_bad_layer_flag_exits_2(tmp_path, capsys):
    from flows.cli import main

    album = tmp_path / "album"
    album.mkdir()
    assert main(["run", str(album), "--layers", "conv3_1,conv7_1"]) == 2
    err = capsys.readouterr().err
    assert "command line" in err and "layers" in err and "conv7_1" in err


def test_default_dream_values_are_the_classic_preset():
    params = load_settings().dream.params()
    for key, value in STRENGTHS["classic"].items():
        assert getattr(params, key) == (canonical_steps(value) if key == "steps" else value), key
    assert params.octaves is None  # auto: the engine picks them for each photo's size


def test_strength_preset_applies_but_explicit_values_win(tmp_path):
    user = _write(tmp_path, "dream:\n  strength: wild\n  steps: 3\n  octaves: 5\n")
    dream = load_settings(user).dream
    params = dream.params()
    assert params.steps == 3 and params.octaves == 5
    assert params.step_size == STRENGTHS["wild"]["step_size"]
    assert dream.set_by_hand == ("steps",)  # the page says which values a file set


def test_steps_per_octave_from_the_full_size_down_in_one_spelling(tmp_path):
    """`steps: [4, 7]`: 4 at the full-size octave, 7 at every smaller one. A list that only
    repeats its last number is that schedule, spelt the one way the dream key hashes."""
    for text, steps in (("[4, 7]", (4, 7)), ("[4, 7, 7]", (4, 7)), ("[5, 5]", 5), ("[3]", 3), ("[2, 3, 4]", (2, 3, 4))):
        params = load_settings(_write(tmp_path, f"dream:\n  steps: {text}\n")).dream.params()
        assert params.steps == steps, text
    params = load_settings(_write(tmp_path, "dream:\n  steps: [2, 3, 4]\n")).dream.params()
    assert params.steps_by_octave(5) == [4, 4, 4, 3, 2] and params.steps_by_octave(2) == [3, 2]
    assert params.steps_by_octave(1) == [4]  # a lone octave builds on nothing: the smaller octaves' steps
    assert steps_in_words((2, 3, 4)) == "2 at full size, then 3, then 4 at each smaller octave"
    assert steps_in_words([4, 7, 7]) == "4 at full size, then 7 at each smaller octave" and steps_in_words(6) == "6"


def test_old_settings_say_what_replaced_them(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_settings(_write(tmp_path, "images:\n  working_size: 600\n"))
    assert "images.dream_size" in caught.value.expected
    with pytest.raises(ConfigError) as caught:
        load_settings(_write(tmp_path, "engine:\n  batch_layers: auto\n"))  # measured slower: removed
    assert "engine.batch_layers was replaced by nothing" in caught.value.expected


@pytest.mark.parametrize("size", ["auto", "full", 2048, 32])
def test_dream_size_is_auto_full_or_pixels(tmp_path, size):
    assert load_settings(None, {"images.dream_size": size}).images.dream_size == size


def test_yaml_colon_in_text_points_at_the_line_and_says_how_to_fix_it(tmp_path):
    path = _write(tmp_path, "layers: [conv3_1]\ndream:\n  seed: 1\nstory: The first morning: cypress\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert "line 4" in caught.value.expected
    assert "quotes" in caught.value.expected and "|" in caught.value.expected


def test_settings_command_prints_what_runs(tmp_path, capsys):
    from flows.cli import main

    user = _write(tmp_path, "dream:\n  strength: subtle\n  steps: 4\n")
    assert main(["settings", "-c", str(user)]) == 0
    printed = capsys.readouterr().out
    shown = yaml.safe_load(printed)
    assert shown["dream"]["steps"] == 4
    assert shown["dream"]["step_size"] == STRENGTHS["subtle"]["step_size"]
    assert "set by strength subtle" in printed


def test_album_yaml_colon_in_a_one_line_story_says_how_to_fix_it(tmp_path, capsys):
    from flows.cli import main

    album = tmp_path / "album"
    album.mkdir()
    path = _write(album, "title: Tuscany\nphotos:\n  a.jpg:\n    story: The first morning: cypress trees\n",
                  "album.yaml")
    assert main(["run", str(album)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "line 4" in err and "quotes" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_misspelt_key_gets_the_likely_one(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_settings(_write(tmp_path, "dream:\n  stpes: 5\n"))
    assert "(did you mean steps?)" in str(caught.value)
    _write(tmp_path, "titel: Prague\n", "album.yaml")
    with pytest.raises(ConfigError) as caught:
        load_album_text(tmp_path)
    assert "(did you mean title?)" in str(caught.value)


def test_a_file_problem_names_the_file_once(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "nope.yaml")
    assert str(caught.value) == f"{tmp_path / 'nope.yaml'}: not a readable file (No such file or directory)"

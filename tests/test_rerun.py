"""Reruns, as a traveller meets them: one with nothing new writes the post without starting
Prefect (and says why when it must start it), and an upgrade that changes how dreams are made
keeps the dreams an earlier recipe made on the page, dreaming only new photos, until asked."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import flows.dream_album as flow_module
import flows.launch as launch
import flows.hosting as hosting
import pipeline.dream.spec as spec_module
from flows.cli import EXIT_OK, main
from pipeline.output.manifest_file import read_manifest
from pipeline.output.records import record_of

REPO = Path(__file__).resolve().parent.parent
RELEASE_0_2_0 = Path(__file__).parent / "fixtures" / "release-0.2.0"


def _photo(path: Path, colour) -> None:
    image = Image.new("RGB", (80, 56), colour)
    for x in range(0, 80, 8):
        image.putpixel((x, 10), (255, 255, 255))
    image.save(path)


@pytest.fixture
def album(tmp_path):
    root = tmp_path / "trip"
    root.mkdir()
    for name, colour in [("a.jpg", (200, 30, 30)), ("b.jpg", (30, 160, 60))]:
        _photo(root / name, colour)
    (root / "album.yaml").write_text("title: Rerun trip\nphotos:\n  a.jpg:\n    story: A red wall.\n")
    return root


@pytest.fixture
def tiny_config(tmp_path, weights_cache):
    path = tmp_path / "tiny.yaml"
    path.write_text("layers: [conv1_2, conv2_1]\n"
                    "dream: {octaves: 2, steps: 2, jitter: 4, precision: fp32}\n"
                    "images: {dream_size: 64, web_sizes: [48, 96]}\n"
                    "tasks: {retries: 0}\n"
                    f"weights: {{source: hed, cache_dir: '{weights_cache}'}}\n")
    return path


_TRACK = ('<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>'
          '<trkpt lat="50.08" lon="14.42"><time>2024-05-01T08:00:00Z</time></trkpt></trkseg></trk></gpx>')


_TRACKS_CHANGED = "the settings, the album's GPS tracks or dreamtrip changed since the last run"


def _run(album, config, out, *extra):
    return main(["run", str(album), "-c", str(config), "-o", str(out), "--device", "cpu", *extra])


def _no_flow(*args, **kwargs):
    raise AssertionError("the flow should not run: nothing is new")


def _flow_would_start(*args, **kwargs):
    raise KeyboardInterrupt  # enough: the flow would start here


def _counting_dreams(monkeypatch) -> list:
    calls, real = [], flow_module.dream_on_device

    def counting(photo, image, layer, *rest):
        calls.append((photo.source, layer))
        return real(photo, image, layer, *rest)

    monkeypatch.setattr(flow_module, "dream_on_device", counting)
    return calls


def _without_time(out: Path) -> dict:
    data = json.loads((out / "manifest.json").read_text())
    data.pop("created")
    return data


# ---------------------------------------------------------------- nothing new: no Prefect

def test_a_rerun_with_nothing_new_starts_no_prefect(prefect_harness, album, tiny_config, tmp_path):
    out = tmp_path / "out"
    assert _run(album, tiny_config, out) == EXIT_OK
    page = (out / "index.html").read_text()
    # A run killed while it wrote left a temp file: swept first, as the flow does.
    killed = out / "photos" / f"{record_of(out).temp_prefix()}a-480.jpg"
    killed.write_bytes(b"half a photo")
    script = ("import sys\nfrom flows.cli import main\nrc = main(sys.argv[1:])\n"
              "print('prefect imported' if 'prefect' in sys.modules else 'prefect not imported')\n"
              "sys.exit(rc)\n")
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_API")}
    done = subprocess.run([sys.executable, "-c", script, "run", str(album), "-c", str(tiny_config), "-o", str(out),
                           "--device", "cpu"], capture_output=True, text=True, timeout=300,
                          env={**env, "PYTHONPATH": str(REPO)})
    assert done.returncode == EXIT_OK, done.stderr
    assert "Nothing new to dream: writing the post (no need to start Prefect)" in done.stdout
    assert "2 photos on the page, 4 of 4 dreams ok (0 dreamed now, 4 from earlier runs)" in done.stdout
    assert "prefect not imported" in done.stdout and done.stderr == ""
    assert (out / "index.html").read_text() == page
    assert not killed.exists()


def test_the_quick_rerun_writes_what_the_flow_would(prefect_harness, album, tiny_config, tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert _run(album, tiny_config, out) == EXIT_OK
    (album / "album.yaml").write_text("title: Rerun trip\nphotos:\n  a.jpg:\n    story: A blue door.\n")
    monkeypatch.setattr(flow_module, "dream_input", _no_flow)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "elsewhere"))  # no notes of the run: the flow runs
    assert _run(album, tiny_config, out) == EXIT_OK
    by_the_flow = _without_time(out)
    monkeypatch.setattr(launch, "run_flow", _no_flow)
    assert _run(album, tiny_config, out) == EXIT_OK
    assert _without_time(out) == by_the_flow
    assert "A blue door." in (out / "index.html").read_text()


@pytest.mark.parametrize("change, why", [
    (lambda album: os.utime(album / "b.jpg", ns=(1, 1)), "1 changed photo"),
    (lambda album: _photo(album / "c.jpg", (30, 30, 200)), "1 new photo"),
    (lambda album: (album / "album.yaml").write_text("photos:\n  a.jpg:\n    layers: [conv3_1]\n"),
     "1 dream to make, 1 photo with other layers now"),
    (lambda album: (album / "walk.gpx").write_text(_TRACK), _TRACKS_CHANGED),
    (lambda album: (album / "album.yaml").write_text('camera_clock: "+02:00"\n'), _TRACKS_CHANGED),
], ids=["touched", "added", "layers", "track", "camera-clock"])
def test_a_rerun_with_work_says_why_prefect_starts(prefect_harness, album, tiny_config, tmp_path, monkeypatch,
                                                   capsys, change, why):
    out = tmp_path / "out"
    assert _run(album, tiny_config, out) == EXIT_OK
    change(album)
    capsys.readouterr()
    monkeypatch.setattr(launch, "run_flow", _flow_would_start)
    assert _run(album, tiny_config, out) == 130
    assert f"To do: {why}; starting Prefect" in capsys.readouterr().out


def test_a_damaged_file_of_the_post_is_work_for_the_flow(prefect_harness, album, tiny_config, tmp_path,
                                                         monkeypatch, capsys):
    out = tmp_path / "out"
    assert _run(album, tiny_config, out) == EXIT_OK
    dream = read_manifest(out).photos[0].dreams[0].image.path
    (out / dream).write_bytes(b"broken")
    capsys.readouterr()
    calls = _counting_dreams(monkeypatch)
    assert _run(album, tiny_config, out) == EXIT_OK
    assert "To do: 1 file of the post missing or damaged; starting Prefect" in capsys.readouterr().out
    assert len(calls) == 1


def test_with_a_prefect_server_every_run_goes_to_it(prefect_harness, album, tiny_config, tmp_path, monkeypatch,
                                                    capsys):
    out = tmp_path / "out"
    assert _run(album, tiny_config, out) == EXIT_OK
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    monkeypatch.setattr(launch, "run_flow", _flow_would_start)
    capsys.readouterr()
    assert _run(album, tiny_config, out) == 130
    assert "the Prefect server at PREFECT_API_URL" in capsys.readouterr().out


# ---------------------------------------------------------------- an upgrade keeps the dreams

@pytest.fixture
def old(tmp_path, weights_cache):
    """A copy of the 0.2.0 album, its output folder and the settings it was made with."""
    shutil.copytree(RELEASE_0_2_0 / "trip", tmp_path / "trip")
    shutil.copytree(RELEASE_0_2_0 / "out", tmp_path / "out")
    config = tmp_path / "tiny.yaml"
    config.write_text((RELEASE_0_2_0 / "tiny.yaml").read_text()
                      + f"weights: {{source: hed, cache_dir: '{weights_cache}'}}\n")
    return tmp_path / "trip", tmp_path / "out", config


def _dream_paths(out: Path) -> list[str]:
    return [d.image.path for p in read_manifest(out).photos for d in p.dreams]


def test_a_0_2_0_folder_keeps_its_dreams_until_renewed(prefect_harness, old, monkeypatch, capsys):
    album, out, config = old
    before = _dream_paths(RELEASE_0_2_0 / "out")
    calls = _counting_dreams(monkeypatch)
    assert _run(album, config, out) == EXIT_OK
    said = capsys.readouterr().out
    assert calls == []
    assert "4 dreams are of an older recipe" in said and "`dreamtrip run --renew`" in said
    assert _dream_paths(out) == before
    assert all(d.older_recipe and d.reused for d in read_manifest(out).dreams())
    assert all(Path(path).name in (out / "index.html").read_text() for path in before)

    _photo(album / "new.jpg", (30, 30, 200))  # a new photo gets this release's recipe
    assert _run(album, config, out) == EXIT_OK
    assert sorted(calls) == [("new.jpg", "conv1_2"), ("new.jpg", "conv2_1")]
    assert _dream_paths(out)[:4] == before
    assert "4 dreams are of an older recipe" in capsys.readouterr().out

    calls.clear()
    assert _run(album, config, out, "--renew") == EXIT_OK
    assert len(calls) == 4 and "are of an older recipe" not in capsys.readouterr().out
    assert not set(_dream_paths(out)) & set(before)
    assert main(["clean", str(album), "-o", str(out)]) == EXIT_OK
    # 0.2.0's dreams, their web copies and the AVIF twins cut from them since: unused now
    assert "16 files" in capsys.readouterr().out


def test_a_new_engine_revision_keeps_the_dreams_and_dreams_new_photos_anew(prefect_harness, album, tiny_config,
                                                                           tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    assert _run(album, tiny_config, out) == EXIT_OK
    before = _dream_paths(out)
    monkeypatch.setattr(spec_module, "ENGINE_REVISION", spec_module.ENGINE_REVISION + 1)
    calls = _counting_dreams(monkeypatch)
    capsys.readouterr()
    assert _run(album, tiny_config, out) == EXIT_OK
    said = capsys.readouterr().out
    assert calls == [] and _dream_paths(out) == before
    assert "To do: the settings, the album's GPS tracks or dreamtrip changed since the last run; starting Prefect" \
        in said
    assert "4 dreams are of an older recipe" in said

    _photo(album / "c.jpg", (30, 30, 200))
    (album / "album.yaml").write_text("photos:\n  a.jpg:\n    layers: [conv1_2, conv3_1]\n")
    assert _run(album, tiny_config, out) == EXIT_OK
    assert sorted(calls) == [("a.jpg", "conv3_1"), ("c.jpg", "conv1_2"), ("c.jpg", "conv2_1")]
    after = {(p.source, d.layer): d for p in read_manifest(out).photos for d in p.dreams}
    assert [key for key, d in after.items() if d.older_recipe] == [("a.jpg", "conv1_2"), ("b.jpg", "conv1_2"),
                                                                    ("b.jpg", "conv2_1")]


def test_other_dream_settings_are_another_look_not_an_older_recipe(prefect_harness, album, tiny_config, tmp_path,
                                                                   monkeypatch):
    out = tmp_path / "out"
    assert _run(album, tiny_config, out) == EXIT_OK
    calls = _counting_dreams(monkeypatch)
    tiny_config.write_text(tiny_config.read_text().replace("steps: 2", "steps: 3"))
    assert _run(album, tiny_config, out) == EXIT_OK
    assert len(calls) == 4 and not any(d.older_recipe for d in read_manifest(out).dreams())


def test_a_server_in_prefects_active_profile_counts_too(tmp_path, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("PREFECT_PROFILE", raising=False)
    monkeypatch.delenv("PREFECT_PROFILES_PATH", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    assert not hosting.prefect_server_configured()
    (tmp_path / "profiles.toml").write_text('active = "local"\n[profiles.ephemeral]\n'
                                            '[profiles.local]\nPREFECT_API_URL = "http://127.0.0.1:4200/api"\n')
    assert hosting.prefect_server_configured()
    monkeypatch.setenv("PREFECT_PROFILE", "ephemeral")
    assert not hosting.prefect_server_configured()

"""What a run says while it works, as a user (or a log file) sees it: a first line at once,
progress that a file can hold (a dozen lines for 100 dreams, reused work in one line), and one
line per failure with Prefect's tracebacks in a log file the summary names."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import flows.dream_album as flow_module
import flows.progress as progress
from flows.cli import main

REPO = Path(__file__).resolve().parent.parent
FAKE_DREAM = """
import flows.dream_album as flow_module
def fake_dream(photo, image, layer, job, device, guide=None):  # a dream in no time: the run is what is tested
    if layer in {failing!r}:
        raise ValueError(f"boom on {{layer}}")
    return image.copy(), 0.001
flow_module.dream_on_device = fake_dream
"""


def make_album(root: Path, photos: int) -> Path:
    root.mkdir()
    for i in range(photos):
        Image.new("RGB", (40, 30), (i * 5 % 256, 255 - i * 5 % 256, i * 37 % 256)).save(root / f"p{i:03d}.jpg")
    return root


def config(tmp_path: Path, weights_cache, layers=("conv1_2", "conv2_1")) -> Path:
    path = tmp_path / "fake.yaml"
    path.write_text(f"layers: [{', '.join(layers)}]\n"
                    "dream: {octaves: 1, steps: 1, jitter: 4}\n"
                    "images: {dream_size: 32, web_sizes: [32], formats: [jpeg]}\n"
                    "tasks: {retries: 0}\n"
                    f"weights: {{source: hed, cache_dir: '{weights_cache}'}}\n")
    return path


def fake_dream(photo, image, layer, job, device, guide=None):
    return image.copy(), 0.001


class FastClock:
    """A clock on which every reading is `step` seconds after the one before: 100 fake dreams
    take minutes on it, as real ones do."""

    def __init__(self, step: float):
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_100_dreams_in_a_file_are_a_dozen_lines_and_reused_ones_one(prefect_harness, tmp_path, weights_cache,
                                                                    monkeypatch, capsys):
    album = make_album(tmp_path / "trip", 50)
    out, cfg = tmp_path / "out", config(tmp_path, weights_cache)
    monkeypatch.setattr(flow_module, "dream_on_device", fake_dream)
    # Fake dreams take no time: as it is, a run of them writes each phase's last line only.
    assert main(["run", str(album), "-c", str(cfg), "-o", str(out), "--device", "cpu"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) <= 15 and [line for line in err if line.startswith("dreaming ")] == [err[-1]], err
    assert "100/100 dreams  done in" in err[-1]

    # As slow as real dreams (10 s a reading): a line per 10% at most, never one per dream.
    monkeypatch.setattr(progress, "clock", FastClock(10.0))
    more = config(tmp_path, weights_cache, layers=("conv3_1", "conv4_1"))
    assert main(["run", str(album), "-c", str(more), "-o", str(out), "--device", "cpu"]) == 0
    err = capsys.readouterr().err.splitlines()
    dreaming = [line for line in err if line.startswith("dreaming ")]
    assert 5 <= len(dreaming) <= 11, err
    assert "\r" not in "".join(err)  # a file gets lines, not a bar redrawn in place

    # A layer more: the 100 made before are one line, the 50 new ones a bar.
    monkeypatch.setattr(progress, "clock", FastClock(0.001))
    most = config(tmp_path, weights_cache, layers=("conv3_1", "conv4_1", "conv5_1"))
    assert main(["run", str(album), "-c", str(most), "-o", str(out), "--device", "cpu"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert [line for line in err if "earlier runs" in line] == ["dreams: 100 of 150 made by earlier runs, kept"]
    assert len(err) <= 15, err


class Stream:
    def __init__(self, terminal: bool):
        self.terminal, self.text = terminal, ""

    def isatty(self):
        return self.terminal

    def write(self, text):
        self.text += text

    def flush(self):
        pass


def test_a_bar_on_a_terminal_is_redrawn_in_place():
    screen = Stream(terminal=True)
    bar = progress.ProgressBar(3, "dreaming", "dreams", stream=screen)
    for _ in range(3):
        bar.advance()
    bar.close()
    assert screen.text.count("\n") == 1 and screen.text.startswith("\r") and "3/3 dreams" in screen.text


@pytest.mark.parametrize("seconds_each, most_lines", [(0.1, 1), (10.0, 10), (600.0, 10)])
def test_a_phase_in_a_file_writes_a_line_per_10_percent_and_30_s_at_most(monkeypatch, seconds_each, most_lines):
    monkeypatch.setattr(progress, "clock", FastClock(seconds_each))
    log = Stream(terminal=False)
    bar = progress.ProgressBar(100, "dreaming", "dreams", stream=log)
    for _ in range(100):
        bar.advance()
    bar.close()
    lines = log.text.splitlines()
    assert len(lines) == most_lines and "100/100" in lines[-1]


def test_the_eta_weighs_each_dream_by_the_cost_model_and_goes_at_the_runs_own_speed():
    # Three dreams the model gives 10, 30 and 60 s (a small photo on conv3_1, bigger ones deeper).
    bar = progress.ProgressBar(3, "dreaming", "dreams", stream=Stream(terminal=False), expected_s=100.0)
    bar.started = 0.0
    assert bar.render(now=4.0).endswith("ETA 1:36")         # before any: the model's 100 s, 4 gone
    bar.advance(expected_s=10.0)
    # The first took 20 s, twice the model: the 90 modelled seconds left take 180 s here, where
    # counting dreams alike would say 40 s.
    assert bar.render(now=20.0).endswith("ETA 3:00")
    bar.advance(expected_s=30.0)
    assert bar.render(now=60.0).endswith("ETA 1:30")        # 40 s for 40 modelled: 60 left at 1.5x


def test_without_a_model_the_eta_is_the_rate_of_the_dreams_done():
    bar = progress.ProgressBar(4, "dreaming", "dreams", stream=Stream(terminal=False))
    bar.started = 0.0
    assert bar.render(now=5.0).endswith("ETA --:--")
    bar.advance()
    assert bar.render(now=10.0).endswith("ETA 0:30")


def test_a_run_gives_its_dreams_the_estimate_lines_calibration(tmp_path):
    """The ETA and the estimate line use one measurement of this machine: the plan carries it to
    the flow's job, which weighs each dream by the model (a deeper layer, a bigger photo: more)."""
    from flows.dream_album import DreamJob
    from pipeline.config import load_settings
    from pipeline.dream.cost import Calibration
    from pipeline.dream.spec import DreamSpec
    from pipeline.manifest import PhotoEntry

    settings = load_settings(overrides={"device": "cpu"})
    spec = DreamSpec.decide(settings, "hed")
    photo = PhotoEntry(source="a.jpg", status="ok", sha256="0" * 64, width=4000, height=3000)
    small = PhotoEntry(source="b.jpg", status="ok", sha256="1" * 64, width=800, height=600)
    job = DreamJob(tmp_path, None, spec, settings, None, "conv5_2", calibration=Calibration(per_mac=1e-11))
    assert job.expected_seconds(photo, "conv5_2") > job.expected_seconds(photo, "conv3_1") > \
        job.expected_seconds(small, "conv3_1") > 0
    assert DreamJob(tmp_path, None, spec, settings, None, "conv5_2").expected_seconds(photo, "conv5_2") == 0


def _cli(script: str, *args, env=None) -> subprocess.CompletedProcess:
    """The CLI in a process of its own, as a user starts it (no Prefect server of the tests)."""
    mine = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_API")}
    return subprocess.run([sys.executable, "-c", script + "\nimport sys\nfrom flows.cli import main\n"
                           "sys.exit(main(sys.argv[1:]))\n", *args], capture_output=True, text=True, cwd=REPO,
                          env={**mine, "PYTHONPATH": str(REPO), **(env or {})}, timeout=600)


def test_the_first_line_comes_before_torch_and_prefect_load(tmp_path, weights_cache):
    album = make_album(tmp_path / "trip", 3)
    script = ("import sys\nimport flows.cli as cli\nimport flows.launch as launch\n"
              "real = cli.say\n"
              "def say(line):\n"
              "    real(line + f' [loaded: prefect {\"prefect\" in sys.modules}, torch {\"torch\" in sys.modules}]')\n"
              "cli.say = say\n"
              "def stop_here(*args, **kwargs):\n    raise KeyboardInterrupt\n"
              "launch.run_flow = stop_here\n")
    done = _cli(script, "run", str(album), "-c", str(config(tmp_path, weights_cache)), "-o", str(tmp_path / "out"))
    first = done.stdout.splitlines()[0]
    assert first.startswith(f"Dreaming 3 photos of {album}"), done.stdout
    assert first.endswith("[loaded: prefect False, torch False]")
    assert done.returncode == 130


@pytest.fixture(scope="module")
def prefect_home(tmp_path_factory):
    return tmp_path_factory.mktemp("prefect-home")


def test_each_failed_dream_is_one_line_and_the_tracebacks_are_in_a_named_log(tmp_path, weights_cache, prefect_home):
    album = make_album(tmp_path / "trip", 3)
    out = tmp_path / "out"
    done = _cli(FAKE_DREAM.format(failing={"conv2_1"}), "run", str(album), "-c", str(config(tmp_path, weights_cache)),
                "-o", str(out), env={"PREFECT_HOME": str(prefect_home)})
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "boom" not in done.stderr, done.stderr
    failed = [line for line in done.stdout.splitlines() if "failed:" in line]
    assert len(failed) == 3 and all("[conv2_1]: ValueError: boom on conv2_1" in line for line in failed)
    [named] = re.findall(r"Prefect's log of this run \(tracebacks\): (.+)", done.stdout)
    log = Path(named)
    assert log.is_file() and out.resolve() not in log.resolve().parents
    assert "Traceback" in log.read_text() and "boom on conv2_1" in log.read_text()


def test_a_broken_album_yaml_on_retry_is_one_line_before_prefect(tmp_path):
    from bench.blog_bench import make_album as make_blog_album, make_dreamed_output

    album, out = tmp_path / "trip", tmp_path / "out"
    make_blog_album(album, 2)
    make_dreamed_output(album, out, ["conv1_2"])
    (album / "album.yaml").write_text("photos:\n  000-photo.jpg:\n    layers: [conv9_9]\n")
    script = "import atexit, sys\natexit.register(lambda: print('prefect loaded' if 'prefect' in sys.modules else ''))\n"
    done = _cli(script, "retry", str(album), "-o", str(out))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "album.yaml" in done.stderr and "conv9_9" in done.stderr, done.stderr
    assert "prefect loaded" not in done.stdout

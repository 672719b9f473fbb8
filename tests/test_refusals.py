"""A user's mistake is one line (exit 2) before any work, quoting at most a line of what they
wrote: cases from issue 28, tried from the outside as subprocesses."""

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from photo_files import png_bomb
from PIL import Image

from flows.serving import check_cron
from pipeline.config import ConfigError
from pipeline.guides import resolve_guides

REPO = Path(__file__).resolve().parent.parent
MEMORY_CAP = 2 << 30   # bytes of address space: a bomb expanded would need far more


def _capped():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def _cli(*args, timeout: float = 120, cap_memory: bool = False, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flows.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO), **(env or {})), timeout=timeout,
                          preexec_fn=_capped if cap_memory else None)


def _one_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


@pytest.fixture
def album(tmp_path) -> Path:
    root = tmp_path / "trip"
    root.mkdir()
    for number in (1, 2, 3):
        Image.new("RGB", (32, 24), (80 * number, 40, 40)).save(root / f"p{number}.jpg")
    return root


def _alias_bomb(depth: int = 9) -> str:
    """YAML of a few hundred bytes whose aliases expand to 9**depth strings."""
    levels = ['&a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    levels += [f"&a{level} [{','.join([f'*a{level - 1}'] * 9)}]" for level in range(1, depth)]
    return "[" + ", ".join(levels) + "]"


# ---------------------------------------------------------------- YAML alias bombs

def test_an_alias_bomb_in_album_yaml_is_one_line_fast(album, tmp_path):
    (album / "album.yaml").write_text(f"title: {_alias_bomb()}\n")
    assert (album / "album.yaml").stat().st_size < 500
    line = _one_line(_cli("run", album, "-o", tmp_path / "out", timeout=20, cap_memory=True))
    assert "album.yaml: its aliases (*name) expand to more than" in line
    assert not (tmp_path / "out").exists()


def test_an_alias_bomb_in_a_config_file_is_one_line_fast(album, tmp_path):
    config = tmp_path / "bomb.yaml"
    config.write_text(f"layers: {_alias_bomb()}\n")
    line = _one_line(_cli("run", album, "-c", config, "-o", tmp_path / "out", timeout=20, cap_memory=True))
    assert "bomb.yaml: its aliases (*name) expand to more than" in line


def test_an_alias_that_holds_itself_is_refused(album, tmp_path):
    (album / "album.yaml").write_text("title: &loop [*loop]\n")
    assert "expand to more than" in _one_line(_cli("run", album, "-o", tmp_path / "out", timeout=20))


def test_aliases_within_reason_still_work(album, tmp_path):
    (album / "album.yaml").write_text("photos:\n  p1.jpg: &deep {layers: [conv5_2]}\n  p2.jpg: *deep\n")
    done = _cli("settings", "-c", _write(tmp_path / "c.yaml", "layers: &l [conv4_2]\n"))
    assert done.returncode == 0 and "conv4_2" in done.stdout, done.stderr


def test_a_long_value_is_quoted_in_one_short_line(album, tmp_path):
    """Under the alias budget, a big value still reaches the error: it is cut, not written out."""
    (album / "album.yaml").write_text(f"title: {_alias_bomb(depth=4)}\n")   # 9**4 values
    line = _one_line(_cli("run", album, "-o", tmp_path / "out", timeout=20))
    assert "album.yaml: title: got [[" in line and len(line) < 400


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_values_nested_without_end_are_one_line(album, tmp_path):
    (album / "album.yaml").write_text("title: " + "[" * 5000 + "]" * 5000 + "\n")
    assert "nested too deeply" in _one_line(_cli("run", album, "-o", tmp_path / "out", timeout=20))


# ---------------------------------------------------------------- dates that are none

def test_an_impossible_date_names_the_date_key(album, tmp_path):
    (album / "album.yaml").write_text("title: Trip\ndate: 2024-13-45\n")
    line = _one_line(_cli("run", album, "-o", tmp_path / "out", timeout=20))
    assert line.startswith("dreamtrip: config error: ") and "album.yaml: date: got '2024-13-45'; expected" in line


def test_an_impossible_date_in_a_settings_file_names_its_key(tmp_path):
    line = _one_line(_cli("settings", "-c", _write(tmp_path / "c.yaml", "dream:\n  seed: 2024-13-45\n")))
    assert "c.yaml: dream.seed: got '2024-13-45'; expected an integer" in line


# ---------------------------------------------------------------- a decompression-bomb guide

def test_a_bomb_guide_is_refused_where_guides_are_resolved(album):
    (album / "bomb.png").write_bytes(png_bomb())   # a few hundred bytes claiming 2,500 MP
    with pytest.raises(ConfigError) as caught:
        resolve_guides(album, {"guide": "bomb.png"}, ["p1.jpg"], "album.yaml", max_pixels=100_000_000)
    assert str(caught.value).startswith("album.yaml: guide: got 'bomb.png'; expected a photo of the album, or an "
                                        "image file by its path relative to album.yaml: it cannot be used "
                                        "(refused: 50000 x 50000 px")
    assert "images.max_megapixels" in str(caught.value)


def test_a_bomb_guide_is_one_line_before_any_work(album, tmp_path):
    """Found after the pre-flight, it failed every photo of the album (and `retry` the same)."""
    (tmp_path / "guides").mkdir()
    (tmp_path / "guides" / "bomb.png").write_bytes(png_bomb())
    (album / "album.yaml").write_text("guide: ../guides/bomb.png\n")
    line = _one_line(_cli("run", album, "-o", tmp_path / "out", "--device", "cpu", timeout=60))
    assert "album.yaml: guide: got '../guides/bomb.png'" in line and "images.max_megapixels" in line
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- serve --cron

@pytest.mark.parametrize("cron", ["99 * * * *", "every night", "0 25 * * *", "* * *"])
def test_a_bad_cron_is_one_line_before_prefect_starts(album, tmp_path, cron):
    home = tmp_path / "prefect-home"
    done = _cli("serve", album, "--cron", cron, "-o", tmp_path / "out", timeout=30,
                env={"PREFECT_HOME": str(home)})
    line = _one_line(done)
    assert line == (f"dreamtrip: --cron {cron!r}: not a cron schedule Prefect accepts: five fields: minute hour "
                    'day-of-month month day-of-week, e.g. "0 3 * * *" (3:00 daily)')
    assert done.stdout == "" and not (tmp_path / "out").exists()   # nothing said, nothing started:
    assert not list(home.rglob("*.db"))                              # no Prefect database, no server


def test_a_good_cron_passes_the_check():
    check_cron("0 3 * * *")
    check_cron("*/15 6-22 * * MON-FRI")


# ---------------------------------------------------------------- a store inside the output folder

@pytest.mark.parametrize("store", ["out/store", "out", "out/dreams"])
@pytest.mark.parametrize("command", [["run"], ["serve", "--cron", "0 3 * * *"]])
def test_a_store_inside_the_output_folder_is_refused_up_front(album, tmp_path, store, command):
    """It worked once, then every run stopped at the store's files in the output folder."""
    config = _write(tmp_path / "store.yaml", f"output:\n  store_dir: {tmp_path / store}\n")
    done = _cli(*command, album, "-c", config, "-o", tmp_path / "out", timeout=60)
    line = _one_line(done)
    where = "the output folder" if store == "out" else "inside the output folder"
    assert f"output.store_dir {tmp_path / store} is {where} {tmp_path / 'out'}: " in line
    assert not (tmp_path / "out").exists()

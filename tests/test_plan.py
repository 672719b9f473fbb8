"""One plan per run (issue 28), tried from the outside: the commands that work on a run's results
refuse an album that is not the post's, before anything changes; a link in the shared store is said
before any work; and the shape of flows/ that keeps it so (no ContextVar, no import cycle)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import quadrant_image

REPO = Path(__file__).resolve().parent.parent


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "flows.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, timeout=600)


def _album(root: Path, names, shade=0) -> Path:
    root.mkdir()
    for number, name in enumerate(names):
        image = quadrant_image(64, 48)
        image.putpixel((number, shade), (number * 9 % 255, shade, 7))   # each photo its own content
        image.save(root / name)
    (root / "album.yaml").write_text(f"title: {root.name}\n")
    return root


def _config(tmp_path, weights_cache, extra=""):
    path = tmp_path / "tiny.yaml"
    path.write_text("layers: [conv1_1]\ndream: {octaves: 1, steps: 1, jitter: 0}\n"
                    "images: {dream_size: 32, web_sizes: [32]}\ntasks: {retries: 0}\n"
                    f"weights: {{source: hed, cache_dir: '{weights_cache}'}}\n" + extra)
    return path


@pytest.fixture(scope="module")
def dreamed(tmp_path_factory, weights_cache):
    """A post of one album (prague), and another album (vienna) that is not it."""
    root = tmp_path_factory.mktemp("plan")
    prague = _album(root / "prague", ["a.jpg", "b.jpg", "c.jpg"])
    vienna = _album(root / "vienna", ["x.jpg", "y.jpg"], shade=20)
    out = root / "out"
    done = _cli("run", prague, "-c", _config(root, weights_cache), "-o", out, "--device", "cpu")
    assert done.returncode == 0, done.stderr
    return prague, vienna, out


def _snapshot(out: Path) -> dict[str, bytes]:
    return {str(path.relative_to(out)): path.read_bytes() for path in sorted(out.rglob("*")) if path.is_file()}


@pytest.mark.parametrize("command", [["blog"], ["clean", "--yes"], ["retry"], ["export", "--hugo", "SITE"]])
def test_a_command_on_another_album_refuses_in_one_line_and_changes_nothing(dreamed, command, tmp_path):
    prague, vienna, out = dreamed
    site = tmp_path / "site"
    (site / "content").mkdir(parents=True)
    (site / "hugo.toml").write_text("title = 'blog'\n")
    before = _snapshot(out)
    done = _cli(command[0], vienna, "-o", out, *[site if arg == "SITE" else arg for arg in command[1:]])
    assert done.returncode == 2, done.stdout + done.stderr
    [line] = done.stderr.strip().splitlines()
    assert "is it the album the post was made from" in line and "Nothing was changed" in line
    assert _snapshot(out) == before
    assert not (site / ".dreamtrip-files.jsonl").exists()


def test_blog_of_the_album_with_a_photo_removed_still_works(dreamed, tmp_path):
    """The check is no obstacle to the album itself: most of its photos are there."""
    prague, _vienna, out = dreamed
    done = _cli("blog", prague, "-o", out)
    assert done.returncode == 0, done.stderr


def test_a_link_in_the_shared_store_is_said_before_any_work(tmp_path, weights_cache):
    album = _album(tmp_path / "trip", ["a.jpg"])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    store = tmp_path / "store"
    store.mkdir()
    (store / "dreams").symlink_to(elsewhere, target_is_directory=True)
    config = _config(tmp_path, weights_cache, f"output: {{store_dir: '{store}'}}\n")
    done = _cli("run", album, "-c", config, "-o", tmp_path / "out", "--device", "cpu")
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert "link" in line and "dreams" in line, line
    assert not list(elsewhere.iterdir()) and "starting Prefect" not in done.stdout


# ---- the shape that keeps one plan per run ----

def _flows_sources() -> dict[Path, str]:
    return {path: path.read_text() for path in sorted((REPO / "flows").glob("*.py"))}


def test_no_context_variable_carries_a_run_in_flows():
    for path, source in _flows_sources().items():
        names = {node.id if isinstance(node, ast.Name) else node.attr for node in ast.walk(ast.parse(source))
                 if isinstance(node, (ast.Name, ast.Attribute))}
        assert "ContextVar" not in names, path


def test_no_module_of_flows_does_five_jobs():
    for path, source in _flows_sources().items():
        assert len(source.splitlines()) <= 450, f"{path.name}: {len(source.splitlines())} lines"


def test_no_import_cycle_in_pipeline_and_flows():
    from import_graph import import_cycles

    assert import_cycles(REPO) == []

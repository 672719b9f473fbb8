"""The package as users install it: a wheel works outside the checkout, an editable install
is quiet, and torch loads only inside pipeline/dream/ (and only when a dream is made)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _build(hook: str, into: Path) -> subprocess.CompletedProcess:
    """Run setuptools' PEP 517 hook in the checkout, as pip does (without network)."""
    code = f"from setuptools import build_meta\nprint(build_meta.{hook}({str(into)!r}))"
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory) -> Path:
    """The built wheel, unpacked as pip would install it, in a folder far from the checkout."""
    dist, site = tmp_path_factory.mktemp("dist"), tmp_path_factory.mktemp("site")
    built = _build("build_wheel", dist)
    assert built.returncode == 0, built.stderr
    with zipfile.ZipFile(dist / built.stdout.strip().splitlines()[-1]) as wheel:
        wheel.extractall(site)
    return site


def test_the_wheel_loads_its_settings_and_templates_outside_the_checkout(installed_wheel, tmp_path):
    code = ("import json, sys\n"
            "import pipeline.config, pipeline.post.page\n"
            "from pipeline.config import load_settings\n"
            "s = load_settings()\n"
            "print(json.dumps({'from': pipeline.config.__file__, 'layers': list(s.layers),\n"
            "  'templates': sorted(p.name for p in pipeline.post.page.TEMPLATE_DIR.iterdir())}))\n")
    env = {**os.environ, "PYTHONPATH": str(installed_wheel)}  # before the editable install
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert Path(found["from"]).is_relative_to(installed_wheel)
    assert found["layers"] == ["conv3_1", "conv4_2", "conv5_2"]
    assert {"index.html.j2", "post.md.j2", "style.css"} <= set(found["templates"])


def test_an_editable_install_says_nothing_about_folders_named_like_the_package(tmp_path):
    built = _build("build_editable", tmp_path)
    assert built.returncode == 0, built.stderr
    said = " ".join((built.stdout + built.stderr).split())
    assert "with the same name as your package" not in said


def _modules_outside_the_dream_stage() -> list[str]:
    """Every module of pipeline/ and flows/ except pipeline/dream/, by its import name."""
    found = []
    for package in ("pipeline", "flows"):
        for path in sorted((REPO / package).rglob("*.py")):
            relative = path.relative_to(REPO).with_suffix("")
            if relative.parts[:2] != ("pipeline", "dream"):
                found.append(".".join(relative.parts).removesuffix(".__init__"))
    return found


def test_no_module_outside_pipeline_dream_imports_torch():
    """Settings, ingest, the store, the page, blog, clean, retry, the flow and the CLI load
    without torch: only pipeline/dream/ may, and it loads it only where dreams are made."""
    modules = _modules_outside_the_dream_stage()
    assert {"pipeline.config", "pipeline.ingest.photos", "pipeline.post.page", "flows.dream_album",
            "flows.cli"} <= set(modules)
    probe = ("import importlib, json, sys\n"
             "loaded = []\n"
             "for name in sys.argv[1:]:\n"
             "    importlib.import_module(name)\n"
             "    if 'torch' in sys.modules:\n"
             "        loaded.append(name)\n"
             "        break\n"
             "print(json.dumps(loaded))\n")
    done = subprocess.run([sys.executable, "-c", probe, *modules], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []  # the first that loaded it, if any


def test_no_module_outside_pipeline_dream_names_torch_even_in_a_function():
    """Importing is not all: a function that imports torch when called (flows/scale.py counted
    GPUs so) puts torch outside the dream stage too. Only pipeline/dream/ names it."""
    naming = []
    for name in _modules_outside_the_dream_stage():
        path = REPO / Path(*name.split(".")).with_suffix(".py")
        path = path if path.is_file() else REPO / Path(*name.split(".")) / "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            imported = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                        else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            naming += [f"{name}:{node.lineno}" for module in imported
                       if module.split(".")[0] in ("torch", "torchvision")]
    assert naming == []


def test_layers_weights_settings_and_blog_run_without_torch(tmp_path, weights_cache):
    """What a traveller runs to look things up, or to rewrite the post, never waits for torch."""
    from bench.blog_bench import make_album, make_dreamed_output
    from pipeline.dream.weights import choose_weights, prepare_features

    prepare_features(choose_weights("hed"), weights_cache)  # what the first run (or `weights`) does once
    config = tmp_path / "hed.yaml"
    config.write_text(f"weights: {{source: hed, cache_dir: '{weights_cache}'}}\n")
    album, out = tmp_path / "album", tmp_path / "out"
    make_album(album, 2)
    make_dreamed_output(album, out, ["conv1_2"])
    commands = [["layers", "-c", str(config)], ["weights", "-c", str(config)], ["settings", "-c", str(config)],
                ["blog", str(album), "-o", str(out)]]
    probe = ("import contextlib, io, json, sys\n"
             "from flows.cli import main\n"
             "said = {}\n"
             "for command in json.loads(sys.argv[1]):\n"
             "    with contextlib.redirect_stdout(io.StringIO()):\n"
             "        code = main(command)\n"
             "    said[command[0]] = [code, 'torch' in sys.modules]\n"
             "print(json.dumps(said))\n")
    done = subprocess.run([sys.executable, "-c", probe, json.dumps(commands)], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "layers": [0, False], "weights": [0, False], "settings": [0, False], "blog": [0, False]}

"""The package as users install it: a wheel works outside the checkout, an editable install
is quiet, and only the engine modules load torch."""

from __future__ import annotations

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


# The engine: the only modules that may load torch (weights and download load it when called).
ENGINE = {"dream", "model", "tiling", "graphs"}


def test_only_the_engine_modules_import_torch():
    """Settings, ingest, the store, the page, blog, clean and retry load without torch: `blog`,
    the page writer and a no-op rerun's bookkeeping never pay for it."""
    others = sorted(p.stem for p in (REPO / "pipeline").glob("*.py") if p.stem not in ENGINE | {"__init__"})
    probe = ("import importlib, json, sys\n"
             "loaded = {}\n"
             "for name in sys.argv[1:]:\n"
             "    importlib.import_module('pipeline.' + name)\n"
             "    loaded[name] = 'torch' in sys.modules\n"
             "print(json.dumps(loaded))\n")
    done = subprocess.run([sys.executable, "-c", probe, *others], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert [name for name, torch in json.loads(done.stdout).items() if torch] == []

"""Upgrades keep output folders working: `blog`, `retry` and `clean` of this release on a real
output folder made by dreamtrip 0.2.0 (tests/fixtures/release-0.2.0, see its README), and on
manifests that lack settings added since or hold keys this version does not know."""

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

import flows.dream_album as flow_module
from flows.cli import EXIT_OK, EXIT_USAGE, main
from pipeline import __version__
from pipeline.manifest import FORMAT_VERSION
from pipeline.output.manifest_file import read_manifest

RELEASE_0_2_0 = Path(__file__).parent / "fixtures" / "release-0.2.0"


@pytest.fixture
def old(tmp_path):
    """A copy of the 0.2.0 album and its output folder: (album, output folder)."""
    shutil.copytree(RELEASE_0_2_0 / "trip", tmp_path / "trip")
    shutil.copytree(RELEASE_0_2_0 / "out", tmp_path / "out")
    return tmp_path / "trip", tmp_path / "out"


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def _edit_manifest(out: Path, edit) -> None:
    data = _manifest(out)
    edit(data)
    (out / "manifest.json").write_text(json.dumps(data))


def _used_files(out: Path) -> set[str]:
    return {path for photo in read_manifest(out).photos for path in photo.files()}


def test_the_fixture_is_a_0_2_0_folder():
    data = _manifest(RELEASE_0_2_0 / "out")
    assert data["dreamtrip_version"] == "0.2.0" and "format_version" not in data
    size = sum(path.stat().st_size for path in RELEASE_0_2_0.rglob("*") if path.is_file())
    assert size < 200_000


def test_blog_rewrites_a_0_2_0_post_in_the_current_format(old, capsys):
    album, out = old
    (album / "album.yaml").write_text((album / "album.yaml").read_text().replace("The boats at dawn.",
                                                                              "The boats at first light."))
    assert main(["blog", str(album), "-o", str(out)]) == EXIT_OK
    assert "2 photos on the page, nothing dreamed" in capsys.readouterr().out
    data = _manifest(out)
    assert (data["format_version"], data["dreamtrip_version"]) == (FORMAT_VERSION, __version__)
    assert data["settings"]["layers"] == ["conv1_2", "conv2_1"] and data["settings"]["dream"]["steps"] == 2
    assert [d["status"] for p in data["photos"] for d in p["dreams"]] == ["ok"] * 4
    assert "The boats at first light." in (out / "index.html").read_text()
    assert all((out / path).is_file() for path in _used_files(out))


def test_a_manifest_without_newer_settings_and_with_unknown_keys_still_loads(old):
    album, out = old

    def older_and_stranger(data):
        del data["settings"]["engine"]                    # a section added after it was written
        del data["settings"]["tasks"]["dreams_at_once"]   # and a key
        data["settings"]["dream"]["retired_knob"] = 3     # a setting since removed
        data["from_the_future"] = {"anything": 1}         # a field this version does not know
        del data["weights"]["path"]                       # an optional field left out

    _edit_manifest(out, older_and_stranger)
    manifest = read_manifest(out)
    assert manifest.settings.tasks.dreams_at_once == 1 and manifest.settings.engine.memory_mb == 3000
    assert manifest.settings.dream.steps == 2
    assert main(["blog", str(album), "-o", str(out)]) == EXIT_OK
    assert "retired_knob" not in (out / "manifest.json").read_text()


def test_a_manifest_of_a_newer_format_is_refused_in_one_line(old, capsys):
    album, out = old
    _edit_manifest(out, lambda data: data.update(format_version=FORMAT_VERSION + 1, dreamtrip_version="9.0.0"))
    before = (out / "index.html").read_bytes()
    assert main(["blog", str(album), "-o", str(out)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "written by a newer dreamtrip (9.0.0" in err
    assert "upgrade dreamtrip" in err
    assert (out / "index.html").read_bytes() == before


def test_a_recorded_setting_this_version_refuses_is_named(old, capsys):
    album, out = old
    _edit_manifest(out, lambda data: data["settings"]["dream"].update(steps=-1))
    assert main(["blog", str(album), "-o", str(out)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "settings: dream.steps: got -1; expected an integer from 1 to 1000" in err


def test_clean_on_a_0_2_0_folder_deletes_only_what_the_post_no_longer_uses(old, capsys):
    album, out = old
    assert main(["clean", str(album), "-o", str(out)]) == EXIT_OK
    assert "Nothing to clean" in capsys.readouterr().out

    kept = _used_files(out)
    market = {path for photo in read_manifest(out).photos if photo.source == "market.jpg" for path in photo.files()}
    (album / "market.jpg").unlink()  # the traveller drops a photo from the album
    assert main(["clean", str(album), "-o", str(out), "--yes"]) == EXIT_OK
    assert "Deleted 6 files" in capsys.readouterr().out
    assert not [path for path in market if (out / path).exists()]
    assert all((out / path).is_file() for path in kept - market)
    assert [p["source"] for p in _manifest(out)["photos"]] == ["harbour.jpg"]
    assert "market" not in (out / "index.html").read_text()


def test_retry_on_a_0_2_0_folder_dreams_only_what_is_missing_with_todays_engine(
        prefect_harness, old, weights_cache, monkeypatch, capsys):
    """0.2.0's dreams were made by revision 1 of the engine (bands along the edges); a dream's
    key holds the revision, so the missing one is dreamed again under a new name. The others,
    of the same photo, layer and look, stay in use (an older recipe: `run --renew` renews them),
    and 0.2.0's files stay until `clean`."""
    album, out = old
    # The fixture's settings name no weights cache (~/.cache/dreamtrip then): use the session's.
    _edit_manifest(out, lambda data: data["settings"]["weights"].update(cache_dir=str(weights_cache)))
    lost = read_manifest(out).photos[0].dreams[1]
    for path in set(lost.files()):  # the dream at 64 px is also its largest web size
        (out / path).unlink()
    calls = []
    real = flow_module.dream_on_device

    def counting(photo, image, layer, *rest):
        calls.append((photo.source, layer))
        return real(photo, image, layer, *rest)

    monkeypatch.setattr(flow_module, "dream_on_device", counting)
    assert main(["retry", str(album), "-o", str(out)]) == EXIT_OK
    assert "Retried 1: 1 now ok, 0 still failing" in capsys.readouterr().out
    before = read_manifest(RELEASE_0_2_0 / "out")
    assert calls == [(before.photos[0].source, lost.layer)]
    after = read_manifest(out)
    assert after.format_version == FORMAT_VERSION
    renamed = after.photos[0].dreams[1]
    assert renamed.layer == lost.layer and renamed.image.path != lost.image.path and not renamed.reused
    others = [(p.source, d.layer, d.image.path) for p in after.photos for d in p.dreams if d is not renamed]
    assert others == [(p.source, d.layer, d.image.path) for p in before.photos for d in p.dreams
                      if d.image.path != lost.image.path]  # kept as 0.2.0 recorded them
    kept = {path for p in before.photos for d in p.dreams for path in d.files()} - set(lost.files())
    assert all((out / path).is_file() for path in kept)  # 0.2.0's files are left as they were
    for path in _used_files(out):
        with Image.open(out / path) as image:
            image.load()

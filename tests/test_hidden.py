"""What a traveller hides stays home: a photo album.yaml hides (`hide: true`), and anything only
it feeds, is in no file of the output folder (which is what one uploads), neither its pixels nor
its name, and unhiding it costs no dream. Also: a duplicate photo leaves nothing for `clean`."""

from pathlib import Path

import pytest
from test_flow import _config, _must_not_be_called, _photo

import flows.dream_album as flow_module
from flows.cli import main
from pipeline.output.kept import kept_dir
from pipeline.output.manifest_file import read_manifest

SECRET = "secret-harbour"   # the hidden photo's file name: a hit anywhere can only be a leak
ALBUM_YAML = ("title: Hidden things\n"
              "photos:\n"
              "  p1-quay.jpg:\n"
              "    guide: secret-harbour.jpg\n"
              f"  {SECRET}.jpg:\n"
              "    hide: {hide}\n")


@pytest.fixture
def album(tmp_path):
    root = tmp_path / "trip"
    root.mkdir()
    _photo(root / "p1-quay.jpg", (200, 30, 30))
    _photo(root / f"{SECRET}.jpg", (30, 30, 200))
    _photo(root / "p3-tram.jpg", (30, 160, 60))
    (root / "p3-tram-copy.jpg").write_bytes((root / "p3-tram.jpg").read_bytes())   # a duplicate
    _hide(root, True)
    return root


def _hide(album: Path, hide: bool) -> None:
    (album / "album.yaml").write_text(ALBUM_YAML.replace("{hide}", "true" if hide else "false"))


def _leaks(out: Path, *needles: str) -> list[str]:
    """Every file of the output folder (hidden ones, the record too) whose bytes hold a needle."""
    return [f"{path.relative_to(out)}: {needle}" for path in sorted(out.rglob("*")) if path.is_file()
            for needle in needles if needle.encode() in path.read_bytes()]


def sha_of(out: Path, source: str) -> str:
    return next(photo.sha256 for photo in read_manifest(out).photos if photo.source == source)


def _run(album, config, out):
    return main(["run", str(album), "-c", str(config), "-o", str(out), "--device", "cpu"])


def test_a_hidden_photo_stays_home_and_comes_back_without_a_dream(prefect_harness, album, tmp_path,
                                                                  weights_cache, monkeypatch, capsys):
    config, out = _config(tmp_path, weights_cache, dream_size=48), tmp_path / "out"
    assert _run(album, config, out) == 0
    sha = sha_of(out, f"{SECRET}.jpg")
    assert _leaks(out, SECRET, sha[:8]) == []
    index = (out / "index.html").read_text()
    assert "p1-quay" in index and "Dreamed toward" not in index   # its guide is the hidden photo
    assert "Dreamed toward" not in (out / "post.md").read_text()
    assert "p1-quay" in (out / "contact-sheet.html").read_text()
    [duplicate] = [entry for entry in read_manifest(out).skipped if entry.duplicate_of]
    same = sha_of(out, duplicate.duplicate_of)[:8]
    copies = sorted(path.name for path in (out / "photos").iterdir() if same in path.name)
    assert copies and all(name.startswith(Path(duplicate.duplicate_of).stem) for name in copies)   # none of its own
    kept = kept_dir(out)
    assert [p.name for p in (kept / "dreams").iterdir() if p.name.startswith(sha[:12])]
    assert list((kept / "photos").glob(f"{SECRET}-*"))
    capsys.readouterr()
    assert main(["clean", str(album), "-o", str(out)]) == 0
    assert "Nothing to clean" in capsys.readouterr().out

    # Shown again: `blog` brings its files back, dreaming nothing (it cannot).
    _hide(album, False)
    assert main(["blog", str(album), "-o", str(out)]) == 0
    index = (out / "index.html").read_text()
    assert SECRET in index and "Dreamed toward" in index
    assert list((out / "dreams").glob(f"{sha[:12]}-*")) and list((out / "photos").glob(f"{SECRET}-*"))
    monkeypatch.setattr(flow_module, "dream_input", _must_not_be_called)
    assert _run(album, config, out) == 0
    assert read_manifest(out).run.dreamed == 0

    # Hidden again, and a run that works (another photo is new): out again, nothing dreamed anew
    # for it; shown once more by a run: back, with no dream.
    _hide(album, True)
    monkeypatch.undo()
    _photo(album / "p4-bridge.jpg", (120, 120, 20))
    assert _run(album, config, out) == 0
    assert read_manifest(out).run.dreamed == 2   # the new photo's two layers only
    assert _leaks(out, SECRET, sha[:8]) == []
    monkeypatch.setattr(flow_module, "dream_input", _must_not_be_called)
    _hide(album, False)
    assert _run(album, config, out) == 0
    assert read_manifest(out).run.dreamed == 0 and SECRET in (out / "index.html").read_text()
    capsys.readouterr()
    assert main(["clean", str(album), "-o", str(out)]) == 0
    assert "Nothing to clean" in capsys.readouterr().out

    # Hidden after it was published: `blog` moves its files out of the output folder.
    _hide(album, True)
    assert main(["blog", str(album), "-o", str(out)]) == 0
    assert _leaks(out, SECRET, sha[:8]) == []
    assert list((kept / "photos").glob(f"{SECRET}-*"))


def test_a_hidden_photo_never_passes_through_the_output_folder_while_the_run_goes_on(
        prefect_harness, album, tmp_path, weights_cache, monkeypatch):
    """The output folder may be uploaded (or the run killed) before the post is written: a
    hidden photo's web copies and dreams are made in the kept folder, not moved there after."""
    config, out = _config(tmp_path, weights_cache, dream_size=48), tmp_path / "out"
    seen = []
    real_write_post = flow_module.write_post

    def look_before_the_post(manifest, out_dir):
        seen.append(_leaks(out_dir, SECRET))
        return real_write_post(manifest, out_dir)

    monkeypatch.setattr(flow_module, "write_post", look_before_the_post)
    assert _run(album, config, out) == 0
    sha = sha_of(out, f"{SECRET}.jpg")
    assert seen == [[]]
    assert not list(out.rglob(f"*{sha[:8]}*")) and not list(out.rglob(f"{sha[:12]}*"))
    assert list((kept_dir(out) / "dreams").glob(f"{sha[:12]}-*"))

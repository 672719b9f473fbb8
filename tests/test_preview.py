"""`dreamtrip run --preview`, as a traveller meets it: the whole album dreamed small and published
first, each small dream marked as a preview, then dreamed at full size and published again; a
run stopped in between leaves a page that works, and the next run (or `retry`) finishes it."""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

import flows.dream_album as flow_module
from flows.cli import EXIT_OK, EXIT_USAGE, main
from pipeline.manifest import Manifest
from pipeline.output.files import DiskFull
from pipeline.output.manifest_file import read_manifest, write_manifest
from pipeline.output.records import record_of

REPO = Path(__file__).resolve().parent.parent
DREAM, PREVIEW = 96, 32   # the run's dream size and its previews' (images.preview_size), in px
# A run whose previews are made and whose full-size dreams then take "minutes": stopped once the
# preview page is out, it is stopped in its full pass.
SLOW_FULL_PASS = f"""
import sys, time
import flows.dream_album as flow_module
real = flow_module.dream_on_device
def slow_at_full_size(photo, image, layer, *rest):
    if max(image.size) > {PREVIEW}:
        time.sleep(600)
    return real(photo, image, layer, *rest)
flow_module.dream_on_device = slow_at_full_size
from flows.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _photo(path: Path, colour) -> None:
    image = Image.new("RGB", (120, 80), colour)
    for x in range(0, 120, 8):  # some structure for the network to find
        for y in range(40):
            image.putpixel((x, y), (255, 255, 255))
    image.save(path)


@pytest.fixture
def album(tmp_path):
    root = tmp_path / "trip"
    root.mkdir()
    for name, colour in [("a.jpg", (200, 30, 30)), ("b.jpg", (30, 160, 60))]:
        _photo(root / name, colour)
    (root / "album.yaml").write_text("title: Preview trip\n")
    return root


def _config(tmp_path, weights_cache, preview=PREVIEW):
    path = tmp_path / f"tiny-{preview}.yaml"
    path.write_text("layers: [conv1_2]\n"
                    "dream: {octaves: 2, steps: 2, jitter: 4, precision: fp32}\n"
                    f"images: {{dream_size: {DREAM}, preview_size: {preview}, web_sizes: [48, 96]}}\n"
                    "tasks: {retries: 0}\n"
                    f"weights: {{source: hed, cache_dir: '{weights_cache}'}}\n")
    return path


@pytest.fixture
def config(tmp_path, weights_cache):
    return _config(tmp_path, weights_cache)


def _run(album, config, out, *extra):
    return main(["run", str(album), "-c", str(config), "-o", str(out), "--device", "cpu", *extra])


@dataclass
class Published:
    manifest: Manifest
    page: str
    post: str
    sheet: str


def _publications(monkeypatch) -> list[Published]:
    """Every post the flow writes, as it was right after it was written."""
    published, real = [], flow_module.write_post

    def noting(manifest, out_dir):
        page = real(manifest, out_dir)
        published.append(Published(read_manifest(out_dir), (out_dir / "index.html").read_text(),
                                   (out_dir / "post.md").read_text(), (out_dir / "contact-sheet.html").read_text()))
        return page

    monkeypatch.setattr(flow_module, "write_post", noting)
    return published


def _long_sides(manifest: Manifest) -> list[int]:
    return [dream.image.long_side for dream in manifest.dreams()]


def _as_written(out: Path, manifest: Manifest) -> bool:
    record = record_of(out)
    return all(record.intact(path) for photo in manifest.photos for path in photo.files())


def test_a_preview_run_publishes_small_dreams_first_then_full_size_ones(prefect_harness, album, config,
                                                                         tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    (out / "dreams").mkdir(parents=True)
    (out / "dreams" / ".my-notes").write_text("mine")   # the traveller's files beside the post
    (out / "upload.sh").write_text("rsync -a . host:trip/\n")
    published = _publications(monkeypatch)
    assert _run(album, config, out, "--preview") == EXIT_OK

    first, last = published
    assert _long_sides(first.manifest) == [PREVIEW, PREVIEW] and all(d.preview for d in first.manifest.dreams())
    assert first.page.count('<span class="preview" title=') == 2 and "was dreamed small first" in first.page
    assert "[preview (32 × 21 px)](dreams/" in first.post and first.sheet.count('<span class="preview" title=') == 2

    assert _long_sides(last.manifest) == [DREAM, DREAM] and not any(d.preview for d in last.manifest.dreams())
    assert 'class="preview"' not in last.page + last.sheet and "preview (" not in last.post
    assert "full size (96 × 64 px)" in last.page
    # The previews went as `clean --yes` deletes: off the disk and the record; nothing else did.
    previews = first.manifest.preview_files()
    assert previews and not any((out / path).exists() or path in record_of(out).files() for path in previews)
    assert _as_written(out, last.manifest) and read_manifest(out) == last.manifest
    assert (out / "dreams" / ".my-notes").read_text() == "mine" and (out / "upload.sh").exists()

    captured = capsys.readouterr()
    err = captured.err
    assert err.index("Preview: dreaming 2 photos at 32 px") < err.index("Preview published: ") \
        < err.index("Full size: dreaming 2 photos at 96 px")
    assert "2 photos on the page, 2 of 2 dreams ok (2 dreamed now, 0 from earlier runs)" in captured.out
    assert main(["clean", str(album), "-o", str(out)]) == EXIT_OK
    assert "Nothing to clean" in capsys.readouterr().out


def test_a_run_stopped_in_the_full_pass_leaves_the_preview_page_and_the_next_run_finishes_it(
        prefect_harness, album, config, tmp_path, monkeypatch, capsys):
    out, real = tmp_path / "out", flow_module.dream_on_device

    def disk_full_at_full_size(photo, image, layer, *rest):
        if max(image.size) > PREVIEW:
            raise DiskFull(f"{out}: the disk is full (0 B free)")
        return real(photo, image, layer, *rest)

    monkeypatch.setattr(flow_module, "dream_on_device", disk_full_at_full_size)
    assert _run(album, config, out, "--preview") == EXIT_USAGE
    stopped = read_manifest(out)   # the preview's, whole and as written
    assert _long_sides(stopped) == [PREVIEW, PREVIEW] and all(d.preview and d.ok for d in stopped.dreams())
    assert _as_written(out, stopped)
    assert (out / "index.html").read_text().count('<span class="preview" title=') == 2
    # The traveller edits a preview's copy: it is theirs now, and no sweep deletes it.
    edited = out / next(web.path for web in stopped.photos[0].dreams[0].web)
    edited.write_bytes(b"my own edit")

    monkeypatch.setattr(flow_module, "dream_on_device", real)
    capsys.readouterr()
    assert _run(album, config, out) == EXIT_OK   # no --preview: straight to full size
    assert "To do: " in capsys.readouterr().out
    finished = read_manifest(out)
    assert _long_sides(finished) == [DREAM, DREAM] and not any(d.preview for d in finished.dreams())
    assert [path for path in stopped.preview_files() if (out / path).exists()] == [edited.relative_to(out).as_posix()]
    assert edited.read_bytes() == b"my own edit"
    assert 'class="preview"' not in (out / "index.html").read_text()


@pytest.mark.parametrize("command", ["run", "retry"])
def test_previews_are_never_taken_for_finished_dreams(prefect_harness, album, tmp_path, weights_cache,
                                                     monkeypatch, capsys, command):
    """A page with a preview is not finished: the quick rerun does not rewrite it as it is, and
    `retry` dreams it at full size."""
    out, same_size = tmp_path / "out", _config(tmp_path, weights_cache, preview=DREAM)
    published = _publications(monkeypatch)
    assert _run(album, same_size, out, "--preview") == EXIT_OK
    assert f"--preview: dreams are {DREAM} px, no larger than a preview ({DREAM} px)" in capsys.readouterr().err
    assert len(published) == 1 and not any(d.preview for d in read_manifest(out).dreams())

    # One dream shown as a preview: as a run stopped after its preview pass leaves it.
    manifest = read_manifest(out)
    dream = manifest.photos[0].dreams[0]
    write_manifest(manifest.model_copy(update={"photos": [
        manifest.photos[0].model_copy(update={"dreams": [dream.model_copy(update={"preview": True})]}),
        *manifest.photos[1:]]}), out)
    if command == "run":
        assert _run(album, same_size, out) == EXIT_OK
        assert "To do: 1 dream to make; starting Prefect" in capsys.readouterr().out
    else:
        assert main(["retry", str(album), "-o", str(out), "-c", str(same_size)]) == EXIT_OK
        said = capsys.readouterr().out
        assert "Retrying 1:" in said and "a.jpg [conv1_2]: a preview" in said and "1 now ok" in said
    assert not any(d.preview for d in read_manifest(out).dreams())
    assert 'class="preview"' not in (out / "index.html").read_text()


def test_sigterm_in_the_full_pass_leaves_the_preview_page_whole(album, config, tmp_path):
    """Stopped from outside (Ctrl-C, `kill`, a CI's timeout) while the full-size dreams are made:
    the page of previews stays, every file it shows as written."""
    out = tmp_path / "out"
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_API")}
    env.update(PYTHONPATH=str(REPO), PREFECT_HOME=str(tmp_path / "prefect-home"), PREFECT_LOGGING_LEVEL="WARNING")
    with open(tmp_path / "stderr.txt", "w") as stderr:
        run = subprocess.Popen([sys.executable, "-c", SLOW_FULL_PASS, "run", str(album), "-c", str(config), "-o",
                                str(out), "--device", "cpu", "--preview"], cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + 300
        while "Full size: dreaming" not in (tmp_path / "stderr.txt").read_text():
            assert run.poll() is None, (tmp_path / "stderr.txt").read_text()
            assert time.monotonic() < deadline, "no full pass started"
            time.sleep(0.1)
        run.send_signal(signal.SIGTERM)
        run.wait(timeout=10)
    finally:
        run.kill()
    assert run.returncode == 143
    stopped = read_manifest(out)
    assert _long_sides(stopped) == [PREVIEW, PREVIEW] and all(d.preview for d in stopped.dreams())
    assert _as_written(out, stopped) and not record_of(out).last_run_finished()
    assert (out / "index.html").read_text().count('<span class="preview" title=') == 2

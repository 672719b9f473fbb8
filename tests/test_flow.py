"""The whole product, as a user meets it: `dreamtrip run` on a small album with bad files in it."""

import gc
import os
import subprocess
import sys
import threading
import weakref
from pathlib import Path

import pytest
from PIL import Image

import flows.dream_album as flow_module
import flows.hosting as hosting
import flows.launch as launch
from flows.cli import main
from pipeline.output.manifest_file import read_manifest

REPO = Path(__file__).resolve().parent.parent
PAGES = ("index.html", "contact-sheet.html", "post.md")


def _photo(path: Path, colour, size=(96, 64), exif=None, mode="RGB"):
    image = Image.new(mode, size, colour)
    for x in range(0, size[0], 8):  # some structure for the network to find
        for y in range(size[1] // 2):
            image.putpixel((x, y), (255, 255, 255) if mode == "RGB" else (255, 255, 255, 255))
    image.save(path, exif=exif) if exif is not None else image.save(path)


@pytest.fixture
def album(tmp_path):
    root = tmp_path / "trip"
    root.mkdir()
    _photo(root / "a-red.jpg", (200, 30, 30))
    _photo(root / "b-green.png", (30, 160, 60, 128), mode="RGBA")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored on its side: must come out portrait
    exif[0x0110] = "<script>alert(1)</script>"
    _photo(root / "c-rotated.jpg", (30, 30, 200), size=(96, 64), exif=exif)
    good = (root / "a-red.jpg").read_bytes()
    (root / "d-truncated.jpg").write_bytes(good[: len(good) // 2])
    (root / "e-empty.jpg").write_bytes(b"")
    (root / "f-text.jpg").write_text("this is not a photo")
    (root / "notes.txt").write_text("remember the tram tickets")
    (root / "album.yaml").write_text(
        "title: Test trip\n"
        "intro: <script>alert(1)</script> went to the sea\n"
        "photos:\n"
        "  a-red.jpg:\n"
        "    story: A red wall.\n"
        "    layers: [conv2_1]\n"
    )
    return root


def _config(tmp_path, weights_cache, name="tiny.yaml", extra="", dream_size=64):
    path = tmp_path / name
    path.write_text(
        "layers: [conv1_2, conv2_1]\n"
        "dream: {octaves: 2, steps: 2, jitter: 4}\n"
        f"images: {{dream_size: {dream_size}, web_sizes: [48, 96]}}\n"
        "tasks: {retries: 0}\n"
        f"weights: {{source: hed, cache_dir: '{weights_cache}'}}\n" + extra
    )
    return path


@pytest.fixture
def tiny_config(tmp_path, weights_cache):
    return _config(tmp_path, weights_cache)


def _run(album, config, out, *extra):
    return main(["run", str(album), "-c", str(config), "-o", str(out), "--device", "cpu", *extra])


def _dream_files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "dreams").iterdir())}


def test_run_writes_page_with_every_photo_and_reports_bad_files(prefect_harness, album, tiny_config,
                                                                 tmp_path, capsys):
    out = tmp_path / "out"
    assert _run(album, tiny_config, out) == 1  # some photos failed

    manifest = read_manifest(out)
    photos = {p.source: p for p in manifest.photos}
    assert set(photos) == {"a-red.jpg", "b-green.png", "c-rotated.jpg", "d-truncated.jpg",
                           "e-empty.jpg", "f-text.jpg"}
    assert [(s.source, s.reason) for s in manifest.skipped] == [("notes.txt", "not a photo (.txt)")]
    assert manifest.weights.source == "hed" and manifest.weights.reason

    for name in ["d-truncated.jpg", "e-empty.jpg", "f-text.jpg"]:
        assert photos[name].status == "failed" and photos[name].error, name
        assert photos[name].dreams == []
    assert "empty" in photos["e-empty.jpg"].error

    # per-photo layer override from album.yaml, default layers elsewhere, shallow to deep
    assert [d.layer for d in photos["a-red.jpg"].dreams] == ["conv2_1"]
    assert [d.layer for d in photos["b-green.png"].dreams] == ["conv1_2", "conv2_1"]
    for name in ["a-red.jpg", "b-green.png", "c-rotated.jpg"]:
        photo = photos[name]
        assert photo.ok and len(photo.sha256) == 64
        for dream in photo.dreams:
            assert dream.ok and dream.seconds > 0
            for entry in [dream.image, *dream.web]:  # every file the manifest names is there
                assert Image.open(out / entry.path).size == (entry.width, entry.height)
        # every web copy, the photo's and its dreams', has an AVIF twin (images.formats' default)
        for web in [*photo.web, *(w for d in photo.dreams for w in d.web)]:
            with Image.open(out / web.alternates["avif"]) as twin:
                assert twin.format == "AVIF" and twin.convert("RGB").size == (web.width, web.height)
    rotated = photos["c-rotated.jpg"]
    assert rotated.exif.orientation == 6 and (rotated.width, rotated.height) == (64, 96)
    for dream in rotated.dreams:  # dreamed upright, at the photo's own size (64 px < 96)
        assert (dream.image.width, dream.image.height) == (43, 64)

    html = (out / "index.html").read_text()
    sheet = (out / "contact-sheet.html").read_text()
    for name, photo in photos.items():   # shown (by its pictures, not its file name: issue 29); the
        assert (all(web.path in html for web in photo.web) if photo.ok else name in sheet), name  # failed listed
    for dream in (d for p in manifest.photos for d in p.dreams):
        assert dream.image.path in html and all(web.path in html for web in dream.web)
        assert all(f'<source type="image/avif" srcset="{web.alternates["avif"]}' in html for web in dream.web[:1])
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html
    assert (out / "post.md").read_text().startswith("---\n")
    printed = capsys.readouterr().out
    assert "1 file skipped" in printed and "6 photos" in printed


def test_no_page_shows_a_path_of_this_machine(prefect_harness, album, tiny_config, tmp_path):
    out = tmp_path / "out"
    _run(album, tiny_config, out)
    forbidden = {str(album.resolve()), str(out.resolve()), str(Path.home()), str(tmp_path),
                 str(REPO), "/root/", "/home/"}
    for page in PAGES:
        text = (out / page).read_text(encoding="utf-8")
        assert not [path for path in forbidden if path in text], page


def test_dreams_are_made_at_dream_size_never_larger_than_the_photo(prefect_harness, album, tmp_path,
                                                                   weights_cache):
    for size, expected in [(48, (48, 32)), (500, (96, 64)), ("full", (96, 64))]:
        out = tmp_path / f"out-{size}"
        _run(album, _config(tmp_path, weights_cache, f"{size}.yaml", dream_size=size), out)
        manifest = read_manifest(out)
        dream = next(p for p in manifest.photos if p.source == "a-red.jpg").dreams[0]
        assert (dream.image.width, dream.image.height) == expected, size
        assert Image.open(out / dream.image.path).size == expected
        assert all(web.long_side <= max(expected) for web in dream.web)
        assert manifest.dream_size == (None if size == "full" else size)


def test_rerun_dreams_nothing(prefect_harness, album, tiny_config, tmp_path, monkeypatch):
    out = tmp_path / "out"
    _run(album, tiny_config, out)
    files = _dream_files(out)
    stamps = {p: p.stat().st_mtime_ns for p in (out / "dreams").iterdir()}

    monkeypatch.setattr(flow_module, "dream_input", _must_not_be_called)
    assert _run(album, tiny_config, out) == 1
    assert _dream_files(out) == files
    assert {p: p.stat().st_mtime_ns for p in (out / "dreams").iterdir()} == stamps
    manifest = read_manifest(out)
    assert manifest.run.dreamed == 0 and manifest.run.reused == 5
    assert all(d.reused and d.image.width for d in manifest.dreams())  # sizes kept for the page


def _must_not_be_called(*args, **kwargs):
    raise AssertionError("nothing should be dreamed")


def test_adding_a_layer_dreams_only_the_new_one(prefect_harness, album, tiny_config, tmp_path):
    out = tmp_path / "out"
    _run(album, tiny_config, out)
    before = set((out / "dreams").iterdir())
    _run(album, tiny_config, out, "--layers", "conv1_2", "conv2_1", "conv3_1")
    new = set((out / "dreams").iterdir()) - before
    # a-red.jpg keeps its album.yaml override; the other two good photos gain conv3_1: each a
    # dream at 64 px and a 48 px web copy, and the AVIF twins of both (the page offers both sizes)
    assert sorted(p.name.split("-")[1] for p in new) == ["conv3_1"] * 8
    assert sorted(p.suffix for p in new) == [".avif"] * 4 + [".jpg"] * 4


def test_right_after_a_run_clean_finds_nothing(prefect_harness, album, tiny_config, tmp_path, capsys):
    out = tmp_path / "out"
    _run(album, tiny_config, out)
    capsys.readouterr()
    assert main(["clean", str(album), "-o", str(out)]) == 0
    assert "Nothing to clean" in capsys.readouterr().out
    assert _run(album, tiny_config, out) == 1  # and the next run writes nothing clean would list
    assert main(["clean", str(album), "-o", str(out)]) == 0
    assert "Nothing to clean" in capsys.readouterr().out


def test_overlapped_and_serial_runs_give_the_same_pixels(prefect_harness, album, tiny_config, tmp_path,
                                                         monkeypatch):
    overlapped, serial = tmp_path / "overlapped", tmp_path / "serial"
    _run(album, tiny_config, overlapped)

    class OneAtATime(flow_module.Slots):
        def __init__(self, size):  # decode, dream and encode of one photo before the next starts
            super().__init__(size)
            self.prepared = self.device = threading.Semaphore(1)
            self.device = _Reentrant(self.prepared)

    monkeypatch.setattr(flow_module.Slots, "_registry", {})
    monkeypatch.setattr(flow_module, "Slots", OneAtATime)
    _run(album, tiny_config, serial)
    assert _dream_files(serial) == _dream_files(overlapped) and _dream_files(serial)


class _Reentrant:
    """The device slot inside a held prepare slot of size 1: already ours."""

    def __init__(self, outer):
        self.outer = outer

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_the_flow_holds_no_dream_task_past_its_end(prefect_harness, tmp_path, weights_cache, monkeypatch):
    """Memory stays flat as the album grows (issue 34): at most a window of dream tasks is
    submitted at once, and a task's future is let go once its dream is collected; none is held
    for the whole run. Counted with weak references on 8 photos x 2 layers, a window of 3."""
    album = tmp_path / "many"
    album.mkdir()
    for i in range(8):
        _photo(album / f"{i}.jpg", (30 * i, 90, 200 - 20 * i))
    config = _config(tmp_path, weights_cache, dream_size=32)
    window, futures, held_at_submit = 3, [], []

    class Watched:
        """The dream task, counting the futures still alive (and unfinished) at each submit."""

        def __init__(self, task):
            self.task = task

        def with_options(self, **options):
            return Watched(self.task.with_options(**options))

        def submit(self, *args, **kwargs):
            gc.collect()  # a future and its wrapped future refer to each other: only gc frees them
            alive = [future for ref in futures if (future := ref()) is not None]
            held_at_submit.append((len(alive), sum(not future.wrapped_future.done() for future in alive)))
            del alive
            future = self.task.submit(*args, **kwargs)
            futures.append(weakref.ref(future))
            return future

    monkeypatch.setattr(flow_module, "dream", Watched(flow_module.dream))
    monkeypatch.setattr(flow_module, "dreams_in_flight", lambda dreams_at_once: window)
    assert _run(album, config, tmp_path / "out") == 0
    assert len(held_at_submit) == 16 and read_manifest(tmp_path / "out").run.dreamed == 16
    assert max(unfinished for _alive, unfinished in held_at_submit) < window
    # one just collected may still be in its worker thread's hands for a moment
    assert max(alive for alive, _unfinished in held_at_submit) <= window
    gc.collect()
    assert not [ref for ref in futures if ref() is not None]


def test_a_story_for_a_photo_that_is_not_there_is_a_warning_with_the_closest_match(
        prefect_harness, album, tiny_config, tmp_path, capsys):
    (album / "day2").mkdir()
    (album / "c-rotated.jpg").rename(album / "day2" / "mobile_X.jpg")
    (album / "album.yaml").write_text("photos:\n  mobile_X.jpg:\n    story: Lost story.\n")
    out = tmp_path / "out"
    _run(album, tiny_config, out)
    err = capsys.readouterr().err
    assert "mobile_X.jpg" in err and "did you mean day2/mobile_X.jpg?" in err
    assert [(u.key, u.closest) for u in read_manifest(out).unmatched] == [("mobile_X.jpg", "day2/mobile_X.jpg")]
    assert main(["blog", str(album), "-o", str(out)]) == 0
    assert "did you mean day2/mobile_X.jpg?" in capsys.readouterr().err


# ---- mistakes stop before any work: one line, exit 2, Prefect never started ----

def _cli(*args, cwd=None) -> subprocess.CompletedProcess:
    """The CLI in a fresh process, reporting whether it imported Prefect."""
    script = ("import sys\nfrom flows.cli import main\nrc = main(sys.argv[1:])\n"
              "print('prefect imported' if 'prefect' in sys.modules else 'prefect not imported')\n"
              "sys.exit(rc)\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


def test_bad_album_yaml_exits_2_before_any_work(album, tiny_config, tmp_path, capsys):
    (album / "album.yaml").write_text("photos:\n  a-red.jpg:\n    layers: [conv9_9]\n")
    assert _run(album, tiny_config, tmp_path / "out") == 2
    assert "photos.a-red.jpg.layers" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("files", [[], ["notes.txt"]])
def test_an_album_without_photos_stops_before_any_work(tmp_path, files):
    empty = tmp_path / "empty-trip"
    empty.mkdir()
    for name in files:
        (empty / name).write_text("remember the tram tickets")
    done = _cli("run", str(empty), "-o", str(tmp_path / "out"))
    assert done.returncode == 2
    assert f"no photos found in {empty}" in done.stderr
    assert all(f"skipped {name}: not a photo" in done.stderr for name in files)
    assert "Traceback" not in done.stderr and "prefect not imported" in done.stdout
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("device, missing", [("cuda", "no CUDA GPU"), ("mps", "no Apple GPU (mps)")])
def test_a_gpu_that_is_not_here_is_one_line_before_prefect_starts(album, tiny_config, tmp_path, device, missing):
    import torch

    if device == "cuda" and torch.cuda.is_available() or device == "mps" and torch.backends.mps.is_available():
        pytest.skip(f"this machine has a {device} GPU")
    done = _cli("run", str(album), "-c", str(tiny_config), "-o", str(tmp_path / "out"), "--device", device)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and missing in done.stderr
    assert "prefect not imported" in done.stdout


def test_a_pillow_without_avif_is_one_line_before_any_work(album, tiny_config, tmp_path):
    """A Pillow built without libavif (a distribution's, or older than 11.3) with images.formats
    asking for AVIF: every copy would fail, so the run stops first and says what to do."""
    script = ("import sys\nimport PIL.features as features\nreal = features.check\n"
              "features.check = lambda name, *a: False if name == 'avif' else real(name, *a)\n"
              "from flows.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-c", script, "run", str(album), "-c", str(tiny_config), "-o", str(out)],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "cannot write avif" in done.stderr and "formats: [jpeg]" in done.stderr
    assert not out.exists()


def test_the_output_folder_is_locked_before_prefect_starts(prefect_harness, album, tiny_config, tmp_path,
                                                           monkeypatch):
    """A second command on the same folder stops at once, even during Prefect's start-up."""
    out, seen = tmp_path / "out", {}
    _run(album, tiny_config, out)  # a post that `blog` could rewrite
    os.utime(album / "a-red.jpg", ns=(1, 1))  # and work for the flow (else no Prefect starts)

    def flow_starting(args, *rest, **options):
        blog = _cli("blog", str(album), "-o", str(out))
        seen["blog"] = (blog.returncode, blog.stderr)
        raise KeyboardInterrupt  # enough: the flow would start here

    monkeypatch.setattr(launch, "run_flow", flow_starting)
    assert _run(album, tiny_config, out) == 130
    returncode, stderr = seen["blog"]
    assert returncode == 3 and "in use by another dreamtrip run" in stderr


def test_prefects_server_not_starting_is_one_line_not_a_traceback(album, tiny_config, tmp_path, monkeypatch,
                                                                   capsys):
    def slow_server(*args, **kwargs):
        raise RuntimeError("Timed out while attempting to connect to ephemeral Prefect API server.")

    monkeypatch.setattr(hosting, "start_prefect_server", slow_server)
    assert _run(album, tiny_config, tmp_path / "out") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "did not start in time" in err

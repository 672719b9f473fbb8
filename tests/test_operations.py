"""Operations on a real (tiny) run: never dream twice, survive kill -9, one run per folder,
retry only failures, schedule, Dask. Dreams are counted by wrapping `dream_on_device`, the
flow's one call into the engine."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

import flows.dream_album as flow_module
from helpers import locked_by_another_run
from flows.cli import EXIT_BUSY, main
from pipeline.output.files import TEMP_PREFIX, sha256_of
from pipeline.manifest import NEXT_STEP
from pipeline.output.records import RECORD

REPO = Path(__file__).resolve().parent.parent
GOOD = ["a.jpg", "b.png", "c.jpg"]
LAYERS = ["conv1_2", "conv2_1"]


def _photo(path: Path, colour, size=(80, 56)):
    image = Image.new("RGB", size, colour)
    for x in range(0, size[0], 8):  # some structure for the network to find
        for y in range(size[1] // 2):
            image.putpixel((x, y), (255, 255, 255))
    image.save(path)


@pytest.fixture
def trip(tmp_path):
    """Three good photos and a broken one."""
    root = tmp_path / "trip"
    root.mkdir()
    for name, colour in zip(GOOD, [(200, 30, 30), (30, 160, 60), (30, 30, 200)]):
        _photo(root / name, colour)
    (root / "d-broken.jpg").write_bytes((root / "a.jpg").read_bytes()[:100])
    (root / "album.yaml").write_text("title: Ops trip\nphotos:\n  a.jpg:\n    story: Red.\n")
    return root


@pytest.fixture
def config(tmp_path, weights_cache):
    path = tmp_path / "tiny.yaml"
    path.write_text(
        f"layers: {LAYERS}\n"
        "dream: {octaves: 2, steps: 2, jitter: 4}\n"
        "images: {dream_size: 64, web_sizes: [48, 96]}\n"
        "tasks: {retries: 2, retry_delay_seconds: 0}\n"
        f"weights: {{source: hed, cache_dir: '{weights_cache}'}}\n"
    )
    return path


class Calls(list):
    """Dreams asked of the engine, as (photo sha256 prefix, layer), and how many ran at once."""

    def __init__(self):
        super().__init__()
        self.running = self.most_at_once = 0
        self.lock = threading.Lock()


@pytest.fixture
def dream_calls(monkeypatch):
    calls = Calls()
    real = flow_module.dream_on_device

    def counting(photo, image, layer, *rest):
        with calls.lock:
            calls.append((photo.sha256[:16], layer))
            calls.running += 1
            calls.most_at_once = max(calls.most_at_once, calls.running)
        try:
            return real(photo, image, layer, *rest)
        finally:
            with calls.lock:
                calls.running -= 1

    monkeypatch.setattr(flow_module, "dream_on_device", counting)
    return calls


def _run(album, config, out, *extra):
    return main(["run", str(album), "-c", str(config), "-o", str(out), "--device", "cpu", *extra])


def _manifest(out):
    return json.loads((out / "manifest.json").read_text())


def _dreams(out):
    return {p: p.stat().st_mtime_ns for p in (out / "dreams").iterdir() if not p.name.startswith(".")}


def _finished(out):
    """Dreams whose files are all written: the dream at 64 px and its 48 px web copy, each a
    JPEG and an AVIF twin (the 48 px AVIF is written last)."""
    files = _dreams(out) if (out / "dreams").is_dir() else {}
    return {p: t for p, t in files.items()
            if p.suffix == ".jpg" and not p.name.endswith("-48.jpg") and p.with_name(p.stem + "-48.jpg") in files
            and any(q.name.startswith(p.stem + "-48.q") and q.suffix == ".avif" for q in files)}


def _sha16(path):
    return sha256_of(path)[:16]


# ---------------------------------------------------------------- never dream twice


def test_rerun_dreams_nothing_and_changes_dream_only_what_they_affect(
        prefect_harness, trip, config, tmp_path, dream_calls):
    out = tmp_path / "out"
    assert _run(trip, config, out) == 1  # d-broken.jpg
    assert len(dream_calls) == len(GOOD) * len(LAYERS)
    assert dream_calls.most_at_once == 1  # tasks.dreams_at_once: the device is never shared
    _check_artifacts()

    dream_calls.clear()
    stamps = _dreams(out)
    assert _run(trip, config, out) == 1
    assert dream_calls == []
    assert _dreams(out) == stamps
    assert _manifest(out)["run"] == {"dreamed": 0, "reused": 6, "dream_seconds": None}

    # A setting that does not touch a dream's pixels, and one edited photo: only its dreams.
    other = tmp_path / "other.yaml"
    other.write_text(config.read_text().replace("web_sizes: [48, 96]", "web_sizes: [40, 80]"))
    _photo(trip / "a.jpg", (250, 200, 0))
    dream_calls.clear()
    assert _run(trip, other, out) == 1
    assert sorted(dream_calls) == sorted((_sha16(trip / "a.jpg"), layer) for layer in LAYERS)

    # One photo's layers changed in album.yaml: only its new layer.
    (trip / "album.yaml").write_text("photos:\n  b.png:\n    layers: [conv1_2, conv3_1]\n")
    dream_calls.clear()
    assert _run(trip, other, out) == 1
    assert dream_calls == [(_sha16(trip / "b.png"), "conv3_1")]


def test_a_shared_store_dreams_a_photo_once_for_every_output_folder(
        prefect_harness, trip, config, tmp_path, dream_calls):
    shared = tmp_path / "config-with-store.yaml"
    shared.write_text(config.read_text() + f"output: {{store_dir: '{tmp_path / 'store'}'}}\n")
    assert _run(trip, shared, tmp_path / "first") == 1
    assert len(dream_calls) == 6
    dream_calls.clear()
    assert _run(trip, shared, tmp_path / "second") == 1
    assert dream_calls == []
    for dream in (tmp_path / "second" / "dreams").iterdir():  # linked from the store, not copied
        assert os.path.samefile(dream, tmp_path / "store" / "dreams" / dream.name)

    # The record names no folder of this machine: retry finds the store again through -c.
    lost = sorted((tmp_path / "second" / "dreams").iterdir())[0]
    lost.unlink()
    assert main(["retry", str(trip), "-o", str(tmp_path / "second"), "-c", str(shared)]) == 1
    assert dream_calls == []
    assert os.path.samefile(lost, tmp_path / "store" / "dreams" / lost.name)


def _check_artifacts():
    """The table (photo, layer, status, seconds) and the progress artifact, as the UI shows them."""
    from prefect.artifacts import Artifact

    table = Artifact.get("dreamtrip-trip-dreams")
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    assert {(r["photo"], r["layer"], r["status"]) for r in rows} == \
        {(p, layer, "ok") for p in GOOD for layer in LAYERS} | {("d-broken.jpg", "-", "failed")}
    assert all(r["seconds"] > 0 for r in rows if r["layer"] != "-")
    progress = Artifact.get("dreamtrip-trip-progress")
    assert progress.type == "progress" and float(progress.data) == 100.0


# ---------------------------------------------------------------- kill -9, and the lock

# A run whose dreams take a while, so that it can be caught in the middle of the album.
SLOW_RUN = """
import itertools, os, sys, time
import flows.dream_album as flow_module
real = flow_module.dream_on_device
calls = itertools.count(1)
hang_after = int(os.environ.get("HANG_AFTER", "0"))  # later dreams never end: only a stop ends the run
def slow(*args, **kwargs):
    time.sleep(600 if hang_after and next(calls) > hang_after else 1.5)
    return real(*args, **kwargs)
flow_module.dream_on_device = slow
from flows.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_scheduled_run_refuses_a_locked_output_folder(prefect_harness, trip, config, tmp_path):
    """Scheduled runs start without the CLI: they take the lock as `run` does, before any work,
    and a run busy there cancels this one (said in one line, the schedule goes on)."""
    from flows.scheduled import scheduled_run

    out = tmp_path / "out"
    with locked_by_another_run(out):
        state = scheduled_run(str(trip), str(config), {"output.dir": str(out)}, return_state=True)
    assert state.is_cancelled() and "in use by another dreamtrip run" in state.message
    assert not (out / "manifest.json").exists() and not (out / "photos").exists()


def test_killed_run_resumes_complete_without_redoing_and_a_second_run_is_refused(
        prefect_harness, trip, config, tmp_path, dream_calls, capsys):
    from prefect.settings import PREFECT_API_URL

    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(REPO), PREFECT_API_URL=PREFECT_API_URL.value())
    log = open(tmp_path / "killed-run.log", "w")
    victim = subprocess.Popen([sys.executable, "-c", SLOW_RUN, "run", str(trip), "-c", str(config),
                               "-o", str(out), "--device", "cpu"],
                              cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while not _finished(out):
            assert victim.poll() is None, (tmp_path / "killed-run.log").read_text()
            assert time.monotonic() < deadline, "the run never dreamed"
            time.sleep(0.05)

        # While it dreams, a second run on the same folder is refused, naming the first.
        assert _run(trip, config, out) == EXIT_BUSY
        assert f"pid {victim.pid}" in capsys.readouterr().err
    finally:
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
        log.close()

    finished = _finished(out)
    assert 0 < len(finished) < 6, "the run was not caught in the middle"
    # A temp file as the killed run's writers name theirs: with the token it noted in the record.
    token = next(entry["temps"] for entry in map(json.loads, filter(str.strip, (out / RECORD).read_text().splitlines()))
                 if "temps" in entry)
    (out / "dreams" / f"{TEMP_PREFIX}{token}-half-written.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")

    assert _run(trip, config, out) == 1
    manifest = _manifest(out)
    dreams = [d for p in manifest["photos"] if p["status"] == "ok" for d in p["dreams"]]
    assert len(dreams) == 6 and all(d["status"] == "ok" for d in dreams)
    assert (manifest["run"]["dreamed"], manifest["run"]["reused"]) == (6 - len(finished), len(finished))
    assert len(dream_calls) == 6 - len(finished)
    assert {p: t for p, t in _dreams(out).items() if p in finished} == finished  # not redone
    assert not [p for p in out.rglob(f"{TEMP_PREFIX}*")]
    images = [p for p in out.rglob("*") if p.suffix in (".jpg", ".png")]
    assert len(images) >= 6 * 2 + 3 * 2  # each dream and its web copy; each photo at 48 and 80 px
    for path in images:  # every image decodes to the end
        with Image.open(path) as image:
            image.load()


def test_ctrl_c_stops_a_run_at_once_and_the_next_run_finishes_the_album(
        prefect_harness, trip, config, tmp_path):
    from prefect.settings import PREFECT_API_URL

    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(REPO), PREFECT_API_URL=PREFECT_API_URL.value(), HANG_AFTER="2")
    run = subprocess.Popen([sys.executable, "-c", SLOW_RUN, "run", str(trip), "-c", str(config),
                            "-o", str(out), "--device", "cpu"], cwd=REPO, env=env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 240
    while not _finished(out):
        assert run.poll() is None and time.monotonic() < deadline, "the run never dreamed"
        time.sleep(0.05)
    os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends: the whole process group
    _, err = run.communicate(timeout=60)  # not after every dream: at once
    assert run.returncode == 130
    assert err.strip().splitlines()[-1] == "dreamtrip: interrupted; finished dreams are kept, rerun to continue"
    assert "Traceback" not in err
    finished = len(_finished(out))
    assert 0 < finished < 6

    assert _run(trip, config, out) == 1  # d-broken.jpg
    manifest = _manifest(out)
    assert (manifest["run"]["dreamed"], manifest["run"]["reused"]) == (6 - finished, finished)


# ---------------------------------------------------------------- retry only failures


def test_transient_errors_are_retried_and_retry_redoes_exactly_what_failed(
        prefect_harness, trip, config, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    a, b = _sha16(trip / "a.jpg"), _sha16(trip / "b.png")
    calls = []
    real = flow_module.dream_on_device
    broken = {"now": True}  # until the retry: by then the "bad" dream has been fixed

    def flaky(photo, image, layer, *rest):
        pair = (photo.sha256[:16], layer)
        calls.append(pair)
        if pair == (a, "conv2_1") and broken["now"]:
            raise ValueError("this photo cannot be dreamed on conv2_1")  # deterministic
        if pair == (b, "conv1_2") and calls.count(pair) == 1:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")  # passes
        return real(photo, image, layer, *rest)

    monkeypatch.setattr(flow_module, "dream_on_device", flaky)
    capsys.readouterr()
    assert _run(trip, config, out) == 1
    # The author is told what failed and what to do, in the terminal and in manifest.json.
    printed = capsys.readouterr().out
    assert "failed: a.jpg [conv2_1]: ValueError: this photo cannot be dreamed" in printed
    assert f"To do: {NEXT_STEP}." in printed and _manifest(out)["next_step"] == NEXT_STEP
    assert calls.count((a, "conv2_1")) == 1      # not retried
    assert calls.count((b, "conv1_2")) == 2      # retried once, then fine
    photos = {p["source"]: p for p in _manifest(out)["photos"]}
    failed = {d["layer"]: d for d in photos["a.jpg"]["dreams"]}["conv2_1"]
    assert failed["status"] == "failed" and "cannot be dreamed on conv2_1" in failed["error"]
    assert all(d["status"] == "ok" for d in photos["b.png"]["dreams"])

    # Before the retry: a dream file goes missing, and a new photo appears (retry ignores it).
    lost = {d["layer"]: d for d in photos["c.jpg"]["dreams"]}["conv1_2"]
    (out / lost["image"]["path"]).unlink()
    _photo(trip / "e-new.jpg", (90, 90, 90))
    broken["now"] = False
    calls.clear()
    capsys.readouterr()
    assert main(["retry", str(trip), "-o", str(out)]) == 1  # d-broken.jpg still fails
    report = capsys.readouterr().out

    assert sorted(calls) == sorted([(a, "conv2_1"), (_sha16(trip / "c.jpg"), "conv1_2")])
    assert "Retrying 3:" in report and "a.jpg [conv2_1]" in report and "c.jpg [conv1_2]" in report
    assert "Retried 3: 2 now ok, 1 still failing" in report
    assert "still failing: d-broken.jpg" in report and f"To do: {NEXT_STEP}." in report
    manifest = _manifest(out)
    assert "e-new.jpg" not in {p["source"] for p in manifest["photos"]}
    assert all(d["status"] == "ok" for p in manifest["photos"] for d in p["dreams"])
    assert "cannot be dreamed" not in (out / "index.html").read_text()  # the page was rewritten

    calls.clear()
    capsys.readouterr()
    assert main(["retry", str(trip), "-o", str(out)]) == 1
    assert calls == [] and "Retrying 1:" in capsys.readouterr().out  # only the broken photo


def test_retry_condition_only_for_passing_failures():
    from pipeline.imaging import PhotoError

    assert flow_module.is_transient(RuntimeError("CUDA out of memory"))
    assert flow_module.is_transient(MemoryError())
    assert flow_module.is_transient(ConnectionError("worker lost"))
    assert not flow_module.is_transient(PhotoError("truncated"))
    assert not flow_module.is_transient(ValueError("image too small for this layer"))
    assert not flow_module.is_transient(FileNotFoundError("gone"))
    assert not flow_module.is_transient(RuntimeError("shape mismatch"))


# ---------------------------------------------------------------- schedule


def test_serve_builds_a_deployment_with_the_cron_schedule(prefect_harness, trip, config, tmp_path):
    from prefect import get_client

    from flows.serving import build_deployment

    deployment = build_deployment(trip, "0 3 * * *", config, {"output.dir": str(tmp_path / "out")})
    assert [s.schedule.cron for s in deployment.schedules] == ["0 3 * * *"]
    assert deployment.parameters == {"album": str(trip.resolve()), "config": str(config.resolve()),
                                     "overrides": {"output.dir": str(tmp_path / "out")}}
    deployment_id = deployment.apply()  # what `serve` registers before it starts serving
    with get_client(sync_client=True) as client:
        stored = client.read_deployment(deployment_id)
    assert stored.name == "trip" and stored.parameters["album"] == str(trip.resolve())
    assert [s.schedule.cron for s in stored.schedules] == ["0 3 * * *"]
    assert all(s.active for s in stored.schedules)


def test_serve_rejects_a_bad_cron(prefect_harness, trip, capsys):
    assert main(["serve", str(trip), "--cron", "every night"]) == 2
    assert "--cron" in capsys.readouterr().err


# ---------------------------------------------------------------- scale out


def test_dask_cluster_run_makes_the_same_album_as_the_default_runner(
        prefect_harness, trip, config, tmp_path):
    threads, dask = tmp_path / "threads", tmp_path / "dask"
    assert _run(trip, config, threads) == 1
    assert _run(trip, config, dask, "--dask", "local", "--dask-workers", "2") == 1

    def essentials(out):
        return [(p["source"], p["status"], p["sha256"],
                 [(d["layer"], d["status"], d["image"], d["web"]) for d in p["dreams"]])
                for p in _manifest(out)["photos"]]

    assert essentials(dask) == essentials(threads)
    assert _manifest(dask)["device"] == "cpu on Dask workers"
    for photo in _manifest(dask)["photos"]:
        for dream in photo["dreams"]:
            with Image.open(dask / dream["image"]["path"]) as image:
                image.load()


def test_gpu_workers_decide_for_a_head_without_a_gpu(prefect_harness, trip, config, tmp_path):
    """The machine that runs the flow has no GPU; the Dask workers report one (mocked: see
    tests/gpu_worker.py). The head asks nothing of its own torch: the workers decide."""
    import torch
    from distributed import LocalCluster

    if torch.cuda.is_available():
        pytest.skip("this head has a GPU")
    out = tmp_path / "out"
    with LocalCluster(n_workers=1, processes=True, dashboard_address=":0", resources={"GPU": 1},
                      preload=[str(REPO / "tests" / "gpu_worker.py")]) as cluster:
        code = main(["run", str(trip), "-c", str(config), "-o", str(out), "--device", "cuda",
                     "--dask", cluster.scheduler_address])
        # A device the workers do not have: one line, before Prefect starts (no traceback of it).
        refused = subprocess.run([sys.executable, "-m", "flows.cli", "run", str(trip), "-c", str(config), "-o",
                                  str(tmp_path / "elsewhere"), "--device", "mps", "--dask", cluster.scheduler_address],
                                 capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
                                 timeout=300)
    assert refused.returncode == 2 and not (tmp_path / "elsewhere" / "photos").exists()
    assert refused.stderr == "dreamtrip: device: mps was asked for, but torch sees no Apple GPU (mps) here; " \
                             "use --device cpu or auto\n"
    manifest = _manifest(out)
    assert (manifest["device"], manifest["precision"]) == ("cuda on Dask workers", "fp16")  # the worker's GPU
    dreams = [dream for photo in manifest["photos"] for dream in photo["dreams"]]
    # Each dream went to the worker's GPU, which is a mock: there it fails, and only there.
    assert code == 1 and dreams and all(d["status"] == "failed" and "NVIDIA" in d["error"] for d in dreams)



def test_serve_stopped_by_sigterm_exits_143_with_its_schedule_paused(prefect_harness, trip, config, tmp_path):
    """`systemctl stop`, `docker stop`: Prefect's runner stops gracefully and the command says it
    was stopped (128 + SIGTERM), not that it finished (0)."""
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL

    env = dict(os.environ, PYTHONPATH=str(REPO), PREFECT_API_URL=PREFECT_API_URL.value())
    log = open(tmp_path / "serve.log", "w")
    served = subprocess.Popen([sys.executable, "-m", "flows.cli", "serve", str(trip), "-c", str(config),
                               "-o", str(tmp_path / "out"), "--cron", "0 3 * * *"],
                              cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        with get_client(sync_client=True) as client:
            while True:  # the runner polls for scheduled runs: it is serving
                assert served.poll() is None, (tmp_path / "serve.log").read_text()
                assert time.monotonic() < deadline, "serve never started serving"
                found = [d for d in client.read_deployments() if d.name == trip.name]
                if found and found[0].status and found[0].status.value == "READY":
                    break
                time.sleep(0.2)
            served.send_signal(signal.SIGTERM)
            assert served.wait(timeout=120) == 128 + signal.SIGTERM, (tmp_path / "serve.log").read_text()
            [stopped] = [d for d in client.read_deployments() if d.name == trip.name]
            assert stopped.paused  # by the runner, on its way out
    finally:
        if served.poll() is None:
            served.kill()
            served.wait()
        log.close()
    assert "serve stopped (SIGTERM)" in (tmp_path / "serve.log").read_text()

"""Ingest speed: dreamtrip's ingest against sigal's gallery build, on the same album, in one run.

    PYTHONPATH=. .venv/bin/python bench/ingest_bench.py [--photos 100] [--repeat 1]
        [--modes threads] [--web-sizes 480 1024] [--sigal /tmp/sigalenv/bin/sigal]

1. Makes an album of `--photos` JPEGs of 12 MP (4000 x 3000, quality 92, ~3 MB each) with EXIF
   (date with sub-seconds and offset, camera, GPS; every fourth photo stored on its side with
   orientation 6 or 8), from the sample album's photos scaled up with sensor-like noise. It is kept
   under /tmp/dreamtrip-bench/ and reused by later runs.
2. Times, each in a fresh subprocess with an empty output folder and the album in the page cache:
   - dreamtrip: for every photo sha256 + EXIF + upright size + upright web copies (--web-sizes,
     default 480 and 1024 px, like sigal's two sizes below; JPEG only, at images.jpeg_quality), with the
     other settings of pipeline/default.yaml. (The dream task decodes its own input at dream size:
     ingest writes no working copy.) --modes picks how photos run in parallel (see MODES;
     `threads` is what the flow does). In the modes that run a Prefect flow, the temporary API
     server's start-up is not counted as ingest time.
   - sigal (installed apart, e.g. `python3 -m venv /tmp/sigalenv && /tmp/sigalenv/bin/pip
     install sigal`): `sigal build` with comparable output: images at the largest web size,
     thumbnails (not cropped) at the smallest, the same JPEG quality, baseline like ours, one
     process per core (its default).
3. Prints photos per second (wall clock), CPU seconds (user + system, all processes) and peak
   memory (PSS summed over the whole process tree, sampled every 50 ms, so sigal's worker
   processes count too), and dreamtrip's speed / sigal's. On a machine shared with other work,
   the wall clock depends on the neighbours; CPU seconds do not.

The subprocess wall time includes each tool's start-up (imports, scanning the album); sigal's
also includes writing its HTML pages, a few ms.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import cpu_name  # noqa: E402
from pipeline.ingest.photos import usable_cores  # noqa: E402

BENCH_DIR = Path(tempfile.gettempdir()) / "dreamtrip-bench"
SIZE = (4000, 3000)


# ---------------------------------------------------------------- the album

def make_album(count: int) -> Path:
    """The benchmark album, made once and reused (its folder name says what is in it)."""
    album = BENCH_DIR / f"album-{count}x12mp"
    done = album / ".complete"
    if done.is_file():
        return album
    import numpy as np
    from PIL import Image

    shutil.rmtree(album, ignore_errors=True)
    album.mkdir(parents=True)
    bases = [_base(path) for path in sorted((ROOT / "data" / "sample-album").glob("*.jpg"))]
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 5, (SIZE[1] + 64, SIZE[0] + 64, 3)).astype(np.int16)
    print(f"making {count} photos of {SIZE[0]}x{SIZE[1]} in {album} (once) ...", file=sys.stderr)
    for i in range(count):
        base = bases[i % len(bases)]
        dy, dx = (i * 7) % 64, (i * 13) % 64  # different noise for every photo: different hashes
        pixels = np.clip(base + noise[dy:dy + SIZE[1], dx:dx + SIZE[0]], 0, 255).astype(np.uint8)
        image = Image.fromarray(pixels)
        orientation = {1: 6, 3: 8}.get(i % 8, 1) if i % 4 in (1, 3) else 1
        if orientation == 6:  # stored on its side, as a camera held upright writes it
            image = image.transpose(Image.Transpose.ROTATE_90)
        elif orientation == 8:
            image = image.transpose(Image.Transpose.ROTATE_270)
        image.save(album / f"IMG_{i + 1:04d}.jpg", quality=92, exif=_exif(i, orientation))
    done.write_text("ok\n")
    return album


def _base(path: Path):
    """A sample photo cropped to 4:3 and scaled to 12 MP, as int16 for adding noise."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB")
        w, h = image.size
        crop_w, crop_h = min(w, h * 4 // 3), min(h, w * 3 // 4)
        left, top = (w - crop_w) // 2, (h - crop_h) // 2
        image = image.crop((left, top, left + crop_w, top + crop_h))
        return np.asarray(image.resize(SIZE, Image.Resampling.BICUBIC)).astype(np.int16)


def _exif(i: int, orientation: int) -> bytes:
    from PIL import Image
    from PIL.TiffImagePlugin import IFDRational

    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "Canon EOS 5D Mark III"
    exif[0x0112] = orientation
    exif[0x0132] = f"2016:06:{13 + i // 40:02d} {9 + (i % 40) // 4:02d}:{(i * 7) % 60:02d}:05"
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = sub[0x9004] = exif[0x0132]
    sub[0x9291], sub[0x9011] = f"{i % 100:02d}", "+02:00"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[3] = "N", "E"
    gps[2] = (IFDRational(50), IFDRational(5), IFDRational(1500 + i, 100))
    gps[4] = (IFDRational(14), IFDRational(25), IFDRational(2000 + i, 100))
    gps[6] = IFDRational(24050, 100)
    return exif.tobytes()


# ---------------------------------------------------------------- dreamtrip, in a subprocess

MODES = {
    "threads": "pipeline.ingest.ingest_photos, as the flow runs it: a thread per core",
    "processes": "ingest_photo in a process pool, a process per core",
    "serial": "one photo at a time",
    "flow": "the flow's ingest task (one Prefect task, threads inside it)",
    "prefect-per-photo": "one Prefect task per photo, on Prefect's thread pool, a core's worth "
                         "at a time",
}




def bench_settings(web_sizes: list[int]):
    """pipeline/default.yaml's settings with the benchmark's web sizes."""
    from pipeline.config import load_settings

    # JPEG only by default, as sigal writes (--formats avif jpeg: what AVIF twins add to ingest)
    overrides = {"images.web_sizes": list(web_sizes), "images.formats": os.environ.get("BENCH_FORMATS", "jpeg").split()}
    if os.environ.get("BENCH_AVIF_QUALITY"):
        overrides["images.avif_quality"] = int(os.environ["BENCH_AVIF_QUALITY"])
    if os.environ.get("BENCH_AVIF_OPTIONS"):  # a format set's own encoder options (--format-sets)
        from pipeline import store

        store.AVIF_OPTIONS.clear()
        store.AVIF_OPTIONS.update(json.loads(os.environ["BENCH_AVIF_OPTIONS"]))
    return load_settings(overrides=overrides)


def format_set(text: str) -> tuple[str, dict[str, str]]:
    """`avif+jpeg:speed=6,max_threads=2,quality=70` -> its tool name and the child's environment:
    the formats, and (after the colon) AVIF encoder options in place of the pipeline's
    AVIF_OPTIONS (numbers; `tune=ssim` goes to aom's advanced options) and images.avif_quality."""
    formats, _, options = text.partition(":")
    env = {"BENCH_FORMATS": formats.replace("+", " "), "BENCH_AVIF_OPTIONS": "", "BENCH_AVIF_QUALITY": ""}
    chosen = dict(option.split("=", 1) for option in options.split(",") if option)
    if "quality" in chosen:
        env["BENCH_AVIF_QUALITY"] = chosen.pop("quality")
    if chosen:
        tune = {"advanced": {"tune": chosen.pop("tune")}} if "tune" in chosen else {}
        env["BENCH_AVIF_OPTIONS"] = json.dumps({**{key: int(value) for key, value in chosen.items()}, **tune})
    return f"dreamtrip-{text}", env


def run_ours(album: Path, out: Path, mode: str, workers: int, web_sizes: list[int]) -> dict:
    """The child's side: ingest every photo of `album` into `out`; reports counts and seconds."""
    sys.path.insert(0, str(ROOT))
    from pipeline.ingest.album import find_photos
    from pipeline.ingest.photos import ingest_photo, ingest_photos

    images = bench_settings(web_sizes).images
    started = time.perf_counter()
    sources = find_photos(album).photos
    args = (images.web_sizes, images.web_formats(), images.max_pixels)
    if mode in ("threads", "serial"):
        photos = ingest_photos(album, sources, out, *args, workers=1 if mode == "serial" else workers)
    elif mode == "processes":
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(ingest_photo, album, s, out, *args) for s in sources]
            photos = [f.result() for f in futures]
    else:
        photos, started = _run_prefect(album, out, sources, mode, workers, web_sizes)
    seconds = time.perf_counter() - started
    return {"ok": sum(p.ok for p in photos), "failed": [p.error for p in photos if not p.ok],
            "work_seconds": seconds}


def _run_prefect(album: Path, out: Path, sources: list[str], mode: str, workers: int,
                 web_sizes: list[int]):
    import threading

    import flows  # noqa: F401  (Prefect's environment defaults)
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    from flows.dream_album import ingest
    from pipeline.ingest.photos import ingest_photo

    settings = bench_settings(web_sizes)
    images = settings.images
    slots = threading.BoundedSemaphore(workers)

    @task(cache_policy=NO_CACHE)
    def ingest_one(source: str):
        with slots:
            return ingest_photo(album, source, out, images.web_sizes, images.web_formats(),
                                images.max_pixels)

    timing = {}

    @flow(name="ingest-bench")
    def bench_flow():
        timing["started"] = time.perf_counter()  # the temporary API server is up by now
        if mode == "flow":
            return ingest(album, sources, out, settings)
        return [f.result() for f in [ingest_one.submit(s) for s in sources]]

    photos = bench_flow()
    return photos, timing["started"]


def time_ours(album: Path, mode: str, workers: int, web_sizes: list[int]) -> dict:
    out = BENCH_DIR / "out-dreamtrip"
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT), PREFECT_LOGGING_LEVEL="WARNING",
               PREFECT_HOME=str(BENCH_DIR / "prefect-home"),
               PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="300")  # a busy machine is slow
    command = [sys.executable, __file__, "--child", str(album), str(out), mode, str(workers),
               ",".join(map(str, web_sizes))]
    result = _timed(command, env)
    result.update(json.loads(result.pop("stdout").strip().splitlines()[-1]))
    result["outputs"] = sum(1 for p in out.rglob("*") if p.is_file())
    return result


# ---------------------------------------------------------------- sigal, in a subprocess

SIGAL_CONF = """\
# Written by dreamtrip's bench/ingest_bench.py: output comparable to dreamtrip's ingest.
img_size = ({large}, {large})        # long side (ResizeToFit), like the largest web size
thumb_size = ({small}, {small})      # long side, not cropped, like the smallest web size
thumb_fit = False
jpg_options = {{"quality": {quality}}}  # dreamtrip's jpeg_quality, baseline (sigal's default adds
                               # optimize + progressive, which cost extra encoding time)
autorotate_images = True
keep_orig = False
"""


def time_sigal(sigal: str, album: Path, workers: int, web_sizes: list[int]) -> dict:
    out = BENCH_DIR / "out-sigal"
    shutil.rmtree(out, ignore_errors=True)
    conf = BENCH_DIR / "sigal.conf.py"
    quality = bench_settings(web_sizes).images.jpeg_quality
    conf.write_text(SIGAL_CONF.format(large=max(web_sizes), small=min(web_sizes), quality=quality))
    command = [sigal, "build", "-q", "-c", str(conf), "-n", str(workers), str(album), str(out)]
    result = _timed(command, dict(os.environ))
    result.pop("stdout")
    images = [p for p in out.rglob("*.jpg") if "thumbnails" not in p.parts]
    result["ok"] = len(images)
    result["outputs"] = sum(1 for p in out.rglob("*") if p.is_file())
    return result


# ---------------------------------------------------------------- timing and memory

def _timed(command: list[str], env: dict) -> dict:
    """Wall time, CPU time (user + system, of the whole process tree: a reaped process's usage
    includes its reaped children's) and peak memory of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    sampler = _PeakMemory(process.pid)
    sampler.start()
    stdout, stderr = process.communicate()
    seconds = time.perf_counter() - started
    sampler.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode != 0:
        raise SystemExit(f"{command[0]} failed ({process.returncode}):\n{stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"seconds": seconds, "cpu_s": cpu, "peak_mib": sampler.peak / 2**20, "stdout": stdout}


class _PeakMemory(threading.Thread):
    """Samples the PSS (proportional set size: shared pages split between the processes sharing
    them) of a process and all its descendants, and keeps the largest sum."""

    def __init__(self, pid: int, every: float = 0.05):
        super().__init__(daemon=True)
        self.pid, self.every, self.peak = pid, every, 0
        self._done = threading.Event()

    def run(self):
        while not self._done.is_set():
            self.peak = max(self.peak, sum(_pss(p) for p in _tree(self.pid)))
            self._done.wait(self.every)

    def stop(self):
        self._done.set()
        self.join()


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo.extend(int(c) for c in children.read_text().split())
            except OSError:
                pass
    return pids


def _pss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _warm_cache(album: Path) -> None:
    for path in album.iterdir():
        if path.is_file():
            path.read_bytes()


# ---------------------------------------------------------------- main

def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        album, out, mode, workers, web_sizes = sys.argv[2:7]
        sizes = [int(size) for size in web_sizes.split(",")]
        print(json.dumps(run_ours(Path(album), Path(out), mode, int(workers), sizes)))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the median counts")
    parser.add_argument("--modes", nargs="+", default=["threads"], choices=list(MODES),
                        help="how dreamtrip runs photos in parallel: " + "; ".join(
                            f"{name}: {what}" for name, what in MODES.items()))
    parser.add_argument("--workers", type=int, default=usable_cores(),
                        help="parallel photos (default: one per usable core)")
    parser.add_argument("--web-sizes", type=int, nargs="+", default=[480, 1024],
                        help="long sides of the web copies (default: 480 1024, sigal's two sizes)")
    parser.add_argument("--sigal", default=shutil.which("sigal") or "/tmp/sigalenv/bin/sigal")
    parser.add_argument("--no-sigal", action="store_true")
    parser.add_argument("--formats", nargs="+", default=["jpeg"], help="images.formats (default: jpeg, as sigal)")
    parser.add_argument("--format-sets", nargs="+", metavar="SET",
                        help="instead of --formats and --modes: several, run alternately with the threads mode, "
                             "e.g. jpeg avif+jpeg avif+jpeg:speed=6,max_threads=2,quality=70 (AVIF encoder "
                             "options and images.avif_quality other than the pipeline's); ratios to the first")
    args = parser.parse_args()
    os.environ["BENCH_FORMATS"] = " ".join(args.formats)  # the timed runs are child processes
    sets = dict(format_set(text) for text in args.format_sets or [])

    album = make_album(args.photos)
    _warm_cache(album)
    size_mb = sum(p.stat().st_size for p in album.glob("*.jpg")) / 1e6
    print(f"album: {args.photos} JPEGs, {SIZE[0]}x{SIZE[1]}, {size_mb:.0f} MB, {album}; "
          f"web sizes {' '.join(map(str, args.web_sizes))}")
    print(f"machine: {os.cpu_count()} CPUs ({args.workers} workers), {cpu_name()}, "
          f"Python {sys.version.split()[0]}")

    runs: dict[str, list[dict]] = {}
    tools = [*(sets or (f"dreamtrip-{m}" for m in args.modes)), *([] if args.no_sigal else ["sigal"])]
    for _ in range(args.repeat):
        for tool in tools:  # interleaved, so a busy moment on the machine hits both
            if tool == "sigal":
                result = time_sigal(args.sigal, album, args.workers, args.web_sizes)
            elif tool in sets:
                os.environ.update(sets[tool])
                result = time_ours(album, "threads", args.workers, args.web_sizes)
            else:
                result = time_ours(album, tool.split("-", 1)[1], args.workers, args.web_sizes)
            result["photos_per_s"] = args.photos / result["seconds"]
            runs.setdefault(tool, []).append(result)
            print(f"  {tool:28s} {result['seconds']:6.2f} s  {result['photos_per_s']:5.2f} photos/s"
                  f"  CPU {result['cpu_s']:6.1f} s  peak {result['peak_mib']:5.0f} MiB  "
                  f"({result['ok']} ok, {result['outputs']} files)", flush=True)

    print("\nmedian of", args.repeat, "run(s):")
    medians = {tool: statistics.median(r["photos_per_s"] for r in rs) for tool, rs in runs.items()}
    cpu = {tool: statistics.median(r["cpu_s"] for r in rs) for tool, rs in runs.items()}
    for tool, rs in runs.items():
        peak = max(r["peak_mib"] for r in rs)
        extra = ""
        if "work_seconds" in rs[0]:
            extra = f"  (ingest alone {statistics.median(r['work_seconds'] for r in rs):.2f} s)"
        print(f"  {tool:28s} {medians[tool]:5.2f} photos/s  CPU {cpu[tool]:6.1f} s  "
              f"peak {peak:5.0f} MiB{extra}")
    if sets:
        first = next(iter(sets))
        wall = {tool: statistics.median(r["seconds"] for r in runs[tool]) for tool in sets}
        work = {tool: statistics.median(r["work_seconds"] for r in runs[tool]) for tool in sets}
        for tool in list(sets)[1:]:
            print(f"  {tool} / {first}: {wall[tool] / wall[first]:.2f}x the wall time, "
                  f"{work[tool] / work[first]:.2f}x ingest alone, {cpu[tool] / cpu[first]:.2f}x the CPU time")
    if "sigal" in medians:
        for tool in medians:
            if tool != "sigal":
                print(f"  {tool} / sigal: {medians[tool] / medians['sigal']:.2f}x photos/s, "
                      f"{cpu['sigal'] / cpu[tool]:.2f}x less CPU time")
    for tool, rs in runs.items():
        failed = rs[0].get("failed")
        if failed:
            print(f"  {tool}: {len(failed)} photos failed, e.g. {failed[0]}")


if __name__ == "__main__":
    main()

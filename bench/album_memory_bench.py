"""Peak memory of whole commands as the album grows, with dreams that cost nothing (issue 34).

Makes an album of N tiny photos (96x64 JPEGs with EXIF, each its own colour), then runs each
command as a user does, in a fresh process under `/usr/bin/time -v` (the peak resident memory
of the command's own process: Prefect's temporary server is a child, measured apart when
`--children` is given), with tiny dreams: one layer, 64 px, one octave of one step, HED weights.

    PYTHONPATH=. .venv/bin/python bench/album_memory_bench.py --photos 1000 3000
    PYTHONPATH=. .venv/bin/python bench/album_memory_bench.py --photos 1000 --commands run blog --trace

`--trace`: the first run again under tracemalloc (slower: minutes for 300 photos), printing the
25 places that hold the most memory at the end of the dream phase, and what grew from the 50th
dream collected (torch and the network loaded) to the last.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import cpu_name  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
COMMANDS = ("run", "blog", "retry", "export", "clean")


def make_album(album: Path, photos: int, size: tuple[int, int] = (96, 64)) -> None:
    """`photos` tiny JPEGs with a camera's EXIF (a date each), each its own colour (its own hash)."""
    from PIL import Image

    album.mkdir(parents=True, exist_ok=True)
    for i in range(photos):
        exif = Image.Exif()
        exif[0x0110] = "Bench Camera"
        exif[0x0132] = f"2026:06:{i % 28 + 1:02d} {i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}"
        colour = (i * 37 % 256, i * 91 % 256, (i * 53 + i // 256) % 256)
        Image.new("RGB", size, colour).save(album / f"IMG_{i:05d}.jpg", quality=90, exif=exif)


def tiny_config(folder: Path, hugo_site: Path | None = None) -> Path:
    path = folder / "tiny.yaml"
    path.write_text("layers: [conv1_2]\n"
                    "dream: {octaves: 1, steps: 1, jitter: 4}\n"
                    "images: {dream_size: 64, web_sizes: [96], formats: [jpeg]}\n"
                    "tasks: {retries: 0}\n"
                    "weights: {source: hed, download: never}\n"
                    + (f"export: {{hugo: '{hugo_site}'}}\n" if hugo_site else ""))
    return path


def measured(command: list[str], env: dict, log: Path) -> dict:
    """Peak RSS (MB) and wall seconds of `command` under /usr/bin/time -v, and the peak of each
    kind of process under it (`tree`: the command's own, Prefect's server), from their VmHWM."""
    started = time.perf_counter()
    with open(log, "wb") as sink:
        process = subprocess.Popen(["/usr/bin/time", "-v", *command], cwd=REPO, env=env, stdout=sink, stderr=sink)
        tree: dict[str, float] = {}
        while process.poll() is None:
            for kind, peak in peaks_under(process.pid).items():
                tree[kind] = max(tree.get(kind, 0.0), peak)
            time.sleep(0.25)
    text = log.read_text(errors="replace")
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    return {"code": process.returncode, "wall": time.perf_counter() - started,
            "peak_mb": int(peak[1]) / 1024 if peak else None, "tree": tree}


def peaks_under(pid: int) -> dict[str, float]:
    """The peak resident memory so far (VmHWM, MB) of each process under `pid`, by kind, and the
    most threads the dreamtrip process has had."""
    peaks: dict[str, float] = {}
    for child in descendants(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            status = Path(f"/proc/{child}/status").read_text()
        except OSError:
            continue
        hwm, threads = re.search(r"VmHWM:\s+(\d+) kB", status), re.search(r"Threads:\s+(\d+)", status)
        if hwm:
            kind = ("dreamtrip" if "flows.cli" in cmdline else
                    "prefect server" if "uvicorn" in cmdline or "prefect" in cmdline else "other")
            peaks[kind] = max(peaks.get(kind, 0.0), int(hwm[1]) / 1024)
            if kind == "dreamtrip" and threads:
                peaks["dreamtrip threads"] = max(peaks.get("dreamtrip threads", 0), int(threads[1]))
    return peaks


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            todo += children
    return found


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "flows.cli", *args]


def main() -> None:
    args = parse_args()
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_API")}
    env["PYTHONPATH"] = str(REPO)
    env.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    print(f"machine: {cpu_name()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    floor = measured([sys.executable, "-c", "import torch, prefect"], env,
                     Path(tempfile.gettempdir()) / "album-memory-import.txt")
    print(f"import torch, prefect: peak {floor['peak_mb']:.0f} MB")
    for photos in args.photos:
        with tempfile.TemporaryDirectory(prefix="album-memory-") as tmp:
            tmp = Path(tmp)
            env["PREFECT_HOME"] = str(tmp / "prefect-home")
            env["XDG_STATE_HOME"] = str(tmp / "state")
            album, out, site = tmp / "album", tmp / "out", tmp / "site"
            started = time.perf_counter()
            make_album(album, photos)
            print(f"album: {photos} photos of 96x64 px, made in {time.perf_counter() - started:.1f} s")
            site.mkdir()
            (site / "hugo.toml").write_text("title = 'bench'\n")
            config = tiny_config(tmp, site if "export" in args.commands else None)
            runs = {"run": cli("run", str(album), "-c", str(config), "-o", str(out), "--device", "cpu"),
                    "blog": cli("blog", str(album), "-o", str(out)),
                    "retry": cli("retry", str(album), "-o", str(out), "--device", "cpu"),
                    "export": cli("export", str(album), "-o", str(out), "--hugo", str(site)),
                    "clean": cli("clean", str(album), "-o", str(out), "--yes")}
            for name in args.commands:
                if name == "retry":  # something to redo: a tenth of the dreams gone
                    dreams = sorted((out / "dreams").rglob("*.jpg"))
                    for dream in dreams[::10]:
                        dream.unlink()
                result = measured(runs[name], env, tmp / f"{name}.txt")
                tail = (tmp / f"{name}.txt").read_text(errors="replace").splitlines()
                said = next((line for line in tail if line.startswith(("Page", "Wrote", "Exported", "Retried",
                                                                      "Deleted", "Nothing"))), "")
                tree = ", ".join(f"{kind} {peak:.0f}{'' if 'threads' in kind else ' MB'}"
                                 for kind, peak in sorted(result["tree"].items()))
                print(f"{photos} photos, {name}: peak {result['peak_mb']:.0f} MB ({tree}), {result['wall']:.1f} s, "
                      f"exit {result['code']}  {said[:90]}")
                if result["code"] not in (0, 1):
                    print("\n".join(tail[-30:]))
            if args.trace:
                traced(album, config, tmp / "out-traced", env)


def traced(album: Path, config: Path, out: Path, env: dict) -> None:
    """The first run again, in this process's child, under tracemalloc."""
    code = subprocess.call([sys.executable, "-X", "tracemalloc=8", str(Path(__file__).with_name("trace_run.py")),
                            str(album), str(config), str(out)], cwd=REPO, env=env)
    print(f"traced run: exit {code}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, nargs="+", default=[1000])
    parser.add_argument("--commands", nargs="*", choices=COMMANDS, default=["run", "blog"])
    parser.add_argument("--trace", action="store_true", help="also a first run under tracemalloc")
    return parser.parse_args()


if __name__ == "__main__":
    main()

"""Where a traveller waits: the first line of a command, a rerun with nothing to do, and how many
progress lines a run writes to a file.

Makes an album of N photos, runs `dreamtrip run` on it once (tiny dreams: one layer, 64 px, one
octave of one step, so the first run is quick; the rerun does not dream, so the dream size does
not matter to it), then, each as a subprocess of its own, side by side in the same run:

- `python -c "import torch, prefect"`: the bare import, the yardstick;
- the rerun with nothing to dream, wall time, and as a ratio to the import;
- the seconds until the rerun's first line (stdout or stderr);
- with `--auto`, the rerun again without `--device cpu` (torch loads to look for a GPU);
- the progress lines of the first run's stderr (a file, not a terminal) per 100 dreams.

    PYTHONPATH=. .venv/bin/python bench/noop_bench.py --photos 100
    git archive c42381f | tar -x -C /tmp/before   # the same, beside another revision:
    PYTHONPATH=. .venv/bin/python bench/noop_bench.py --photos 100 --compare /tmp/before

Every command uses one Prefect home, warmed by the first run (a fresh one costs ~15 s more on
the first run only). Each timing is the best of `--repeat` tries: the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.flow_bench import make_album  # noqa: E402
from bench.machine import cpu_name  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
IMPORT = [sys.executable, "-c", "import torch, prefect"]


def tiny_config(folder: Path, weights_cache: Path) -> Path:
    path = folder / "tiny.yaml"
    path.write_text("layers: [conv1_2]\n"
                    "dream: {octaves: 1, steps: 1, jitter: 4}\n"
                    "images: {dream_size: 64, web_sizes: [96]}\n"
                    "tasks: {retries: 0}\n"
                    f"weights: {{source: hed, cache_dir: '{weights_cache}'}}\n")
    return path


def timed(command: list[str], env: dict, stderr_file: Path | None = None,
          cwd: Path = REPO) -> tuple[float, float, int]:
    """(wall seconds, seconds to the first output byte, exit code) of `command`."""
    started = time.perf_counter()
    first: list[float] = []
    with open(stderr_file or os.devnull, "wb") as err_sink:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)

        def pump(stream, sink) -> None:
            for chunk in iter(lambda: stream.read1(65536), b""):
                if not first:
                    first.append(time.perf_counter() - started)
                if sink is not None:
                    sink.write(chunk)

        pumps = [threading.Thread(target=pump, args=(process.stdout, None)),
                 threading.Thread(target=pump, args=(process.stderr, err_sink))]
        for thread in pumps:
            thread.start()
        code = process.wait()
        for thread in pumps:
            thread.join()
    wall = time.perf_counter() - started
    return wall, (first[0] if first else wall), code


def first_run(tree: Path, album: Path, out: Path, config: Path, env: dict, log: Path) -> dict:
    env = dict(env, PYTHONPATH=str(tree), XDG_STATE_HOME=str(out.parent / f"{out.name}-state"))
    command = [sys.executable, "-m", "flows.cli", "run", str(album), "-c", str(config), "-o", str(out),
               "--device", "cpu"]
    wall, first_line, code = timed(command, env, log, cwd=tree)  # `-m` imports from the folder it runs in
    if code not in (0, 1):
        sys.exit(f"the first run of {tree} failed ({code}):\n{log.read_text()}")
    return {"command": command, "env": env, "tree": tree, "wall": wall, "first_line": first_line,
            "lines": len(log.read_text().splitlines()), "reruns": []}


def main() -> None:
    args = parse_args()
    trees = {"this tree": REPO, **({"compared": args.compare.resolve()} if args.compare else {})}
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_API")}
    with tempfile.TemporaryDirectory(prefix="noop-bench-") as tmp:
        tmp = Path(tmp)
        env["PREFECT_HOME"] = str(tmp / "prefect-home")
        album = tmp / "album"
        make_album(album, args.photos, tuple(args.photo_size))
        config = tiny_config(tmp, args.weights_cache or tmp / "weights")
        runs = {name: first_run(tree, album, tmp / f"out-{i}", config, env, tmp / f"first-{i}.txt")
                for i, (name, tree) in enumerate(trees.items())}
        imports = []
        for _ in range(args.repeat):  # interleaved: every command sees the same load
            imports.append(timed(IMPORT, env)[0])
            for i, run in enumerate(runs.values()):
                run["reruns"].append(timed(run["command"], run["env"], tmp / f"rerun-{i}.txt", cwd=run["tree"]))
                if args.auto:  # the same rerun with `device: auto` (torch loads to look for a GPU)
                    run.setdefault("auto", []).append(timed(run["command"][:-2], run["env"], cwd=run["tree"]))
                run["rerun_lines"] = len((tmp / f"rerun-{i}.txt").read_text().splitlines())
    best_import = min(imports)
    print(f"machine: {cpu_name()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"album: {args.photos} photos of {args.photo_size[0]}x{args.photo_size[1]} px, 1 layer: "
          f"{args.photos} dreams")
    print(f"import torch, prefect: best {best_import:.2f} s ({' '.join(f'{s:.2f}' for s in imports)})")
    for name, run in runs.items():
        wall, first, _ = min(run["reruns"])
        print(f"{name}: first run {run['wall']:.1f} s, first line after {run['first_line']:.2f} s, "
              f"stderr in a file {run['lines']} lines ({100 * run['lines'] / args.photos:.0f} per 100 dreams)")
        print(f"{name}: no-op rerun best {wall:.2f} s ({' '.join(f'{r[0]:.2f}' for r in run['reruns'])}), "
              f"first line after {first:.2f} s, stderr {run['rerun_lines']} lines; "
              f"rerun / import: {wall / best_import:.2f}")
        if run.get("auto"):
            auto, auto_first, _ = min(run["auto"])
            print(f"{name}: the same with device auto best {auto:.2f} s "
                  f"({' '.join(f'{r[0]:.2f}' for r in run['auto'])}), first line after {auto_first:.2f} s; "
                  f"rerun / import: {auto / best_import:.2f}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=100)
    parser.add_argument("--photo-size", type=int, nargs=2, default=[1600, 1200], metavar=("W", "H"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--weights-cache", type=Path, help="converted weights (default: made in the temp folder)")
    parser.add_argument("--auto", action="store_true",
                        help="also time each rerun with `device: auto` (the first run uses --device cpu)")
    parser.add_argument("--compare", type=Path, metavar="TREE",
                        help="a checkout of another revision, measured side by side (e.g. `git worktree add`)")
    return parser.parse_args()


if __name__ == "__main__":
    main()

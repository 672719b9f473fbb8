"""The estimate line against the run (issue 30): `dreamtrip run` as a user starts it, the
seconds behind its "N dreams to do, estimated ..." line, and the whole command's wall time.

    PYTHONPATH=. .venv/bin/python bench/estimate_bench.py ALBUM -c CONFIG [--layers conv3_1 conv5_2] [--runs 2]

Each run writes to a fresh output folder (nothing reused) and keeps this machine's calibration
(the state folder's, as a user's runs do). The load average before and after says how busy the
machine was: the estimate cannot know that (BENCHMARKS.md, "How long a run takes").
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
# The CLI as `dreamtrip` runs it, with the estimate's seconds said before they become words.
CLI = """
import sys
import pipeline.dream.cost as cost
words = cost.in_words
def said(seconds):
    print(f"ESTIMATE_S {seconds:.1f}", file=sys.stderr, flush=True)
    return words(seconds)
cost.in_words = said
from flows.cli import main
sys.exit(main(sys.argv[1:]))
"""


def main() -> None:
    args = parse_args()
    layers = " ".join(args.layers) if args.layers else "the config's"
    print(f"{cpu_name()}, {os.cpu_count()} CPUs, {args.album.name}, {args.config.name}, layers {layers}")
    for number in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="estimate-bench-") as out:
            load_before = os.getloadavg()[0]
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", CLI, "run", str(args.album), "-o", out, "-c", str(args.config),
                                   "--device", "cpu", *(["--layers", *args.layers] if args.layers else [])],
                                  capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
            took = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(f"run {number + 1} failed ({done.returncode}):\n{done.stderr[-2000:]}")
        estimates = [float(s) for s in re.findall(r"^ESTIMATE_S ([\d.]+)$", done.stderr, re.M)]
        said = (done.stdout + done.stderr).splitlines()
        line = next((ln for ln in said if " to do, estimated " in ln), "(no estimate line)")
        phases = "; ".join(ln.split("  ")[0].split(" [")[0] + " " + ln.rsplit("done in ", 1)[1]
                           for ln in said if "done in " in ln)
        error = (estimates[0] - took) / took if estimates else float("nan")
        print(f"run {number + 1}: {line!r}: estimate {estimates[0] if estimates else float('nan'):.0f} s, "
              f"took {took:.1f} s, error {error:+.0%} (load {load_before:.1f} -> {os.getloadavg()[0]:.1f})")
        print(f"  phases: {phases}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("album", type=Path)
    parser.add_argument("-c", "--config", type=Path, required=True)
    parser.add_argument("--layers", nargs="+")
    parser.add_argument("--runs", type=int, default=1)
    return parser.parse_args()


if __name__ == "__main__":
    main()

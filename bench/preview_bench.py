"""`dreamtrip run --preview`: how long until the traveller sees a whole page (the previews), and
until the page with full-size dreams, in one run.

Runs `dreamtrip run ALBUM --preview` as a subprocess (a fresh output folder, nothing dreamed
yet) and stamps each line it writes (stdout, and stderr: a pipe, so the progress bars write
their file lines) with the seconds since the start. Prints the figures and the lines.

    PYTHONPATH=. .venv/bin/python bench/preview_bench.py ALBUM [-c my.yaml] [--layers conv3_1]

An album of camera-sized photos shows what the preview saves (a 1024 px dream takes 1-2 min on
a CPU, a 512 px one 7-15 s); photos no larger than images.preview_size are dreamed once, at
their own size, in the preview pass.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import cpu_name  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
MARKS = {"first line": re.compile(r"."),
         "preview page": re.compile(r"^Preview published: "),
         "full page": re.compile(r"^Page: ")}
PASS_DONE = re.compile(r"^(preview|full size) \[#+\] \d+/\d+ dreams\s+done in (\d+):(\d\d)")


def stamped_run(command: list[str], env: dict) -> tuple[list[tuple[float, str]], int]:
    """Every line `command` writes (stdout and stderr), with its seconds since the start; its exit code."""
    started, lines, lock = time.perf_counter(), [], threading.Lock()
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, bufsize=1)

    def read(stream) -> None:
        for line in stream:
            with lock:
                lines.append((time.perf_counter() - started, line.rstrip("\n")))

    readers = [threading.Thread(target=read, args=(s,)) for s in (process.stdout, process.stderr)]
    for reader in readers:
        reader.start()
    code = process.wait()
    for reader in readers:
        reader.join()
    return sorted(lines), code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("album", type=Path)
    parser.add_argument("-c", "--config", type=Path)
    parser.add_argument("--layers", default=None, help="e.g. conv3_1 (default: the settings')")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="preview-bench-") as work:
        command = [sys.executable, "-m", "flows.cli", "run", str(args.album.resolve()), "-o", f"{work}/out",
                   "--device", args.device, "--preview"]
        command += ["-c", str(args.config.resolve())] if args.config else []
        command += ["--layers", args.layers] if args.layers else []
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        lines, code = stamped_run(command, env)

    print(f"CPU: {cpu_name()}; load average {os.getloadavg()[0]:.1f} at the end; exit code {code}")
    print(" ".join(command[1:]).replace(work, "TMP"))
    for mark, pattern in MARKS.items():
        at = next((seconds for seconds, line in lines if pattern.search(line)), None)
        print(f"{mark:>13}: " + (f"{at:7.1f} s" if at is not None else "never"))
    for seconds, line in lines:
        if found := PASS_DONE.search(line):
            print(f"{found[1]:>13} pass: {int(found[2]) * 60 + int(found[3])} s of dreaming")
    print("--- the run's lines:")
    for seconds, line in lines:
        print(f"{seconds:7.1f}  {line}")
    return code


if __name__ == "__main__":
    sys.exit(main())

"""Is a features-only copy of the ImageNet VGG16 worth keeping? Load time and peak memory.

The 528 MB torchvision checkpoint is 90% classifier, which dreaming never uses. This makes a
stand-in with VGG16's real shapes (random values; saved in torch's legacy format, like the 2017
file, and in the zip format), and the 58 MB features-only file dreamtrip keeps, then loads each
in a fresh Python process (as each run and each Dask worker does), with the file evicted from
the page cache (cold: posix_fadvise DONTNEED) and read again straight after (warm).

    PYTHONPATH=. .venv/bin/python bench/weights_load_bench.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.machine import cpu_name

CHILD = """
import os, sys, time
from pathlib import Path
from bench.machine import RssSampler, rss_mb
path, cold, features_only = Path(sys.argv[1]), sys.argv[2] == "cold", sys.argv[3] == "1"
if cold:
    fd = os.open(path, os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)
import torch
from pipeline.dream.weights import load_imagenet_features
before = rss_mb()
with RssSampler() as rss:
    start = time.perf_counter()
    if features_only:
        state = torch.load(path, map_location="cpu", weights_only=True)
    else:
        state = load_imagenet_features(path)
    seconds = time.perf_counter() - start
print(seconds, rss.peak_mb - before)
"""


def make_files(folder: Path) -> dict[str, tuple[Path, bool]]:
    import torch
    import torchvision

    torch.manual_seed(0)
    state = torchvision.models.vgg16().state_dict()
    files = {"full, legacy format": (folder / "full-legacy.pth", False),
             "full, zip format": (folder / "full-zip.pth", False),
             "features only": (folder / "features.pt", True)}
    torch.save(state, files["full, legacy format"][0], _use_new_zipfile_serialization=False)
    torch.save(state, files["full, zip format"][0])
    torch.save({k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")},
               files["features only"][0])
    return files


def load_in_fresh_process(path: Path, cold: bool, features_only: bool) -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), "cold" if cold else "warm",
                          "1" if features_only else "0"], check=True, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    seconds, peak = out.stdout.split()
    return float(seconds), float(peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{cpu_name()}, {os.cpu_count()} cores; {args.repeats} fresh processes per case")
    with tempfile.TemporaryDirectory() as tmp:
        files = make_files(Path(tmp))
        for name, (path, features_only) in files.items():
            for cold in (True, False):
                runs = [load_in_fresh_process(path, cold, features_only) for _ in range(args.repeats)]
                times = [s for s, _ in runs]
                print(f"{name:20s} {path.stat().st_size / 1e6:5.0f} MB  {'cold' if cold else 'warm'}: "
                      f"median {statistics.median(times):.3f} s "
                      f"(min {min(times):.3f}, max {max(times):.3f}), "
                      f"peak RSS +{max(p for _, p in runs):.0f} MB")


if __name__ == "__main__":
    main()

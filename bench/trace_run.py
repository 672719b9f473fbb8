"""`dreamtrip run ALBUM -c CONFIG -o OUT --device cpu` in this process, under tracemalloc
(start Python with -X tracemalloc=N): snapshots when the 50th dream is collected (torch and the
network loaded) and the last, and what grew between them. Used by album_memory_bench.py."""

from __future__ import annotations

import sys
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import rss_mb  # noqa: E402

SNAPSHOTS: dict[str, tracemalloc.Snapshot] = {}
EARLY = 50


def snapshot(name: str) -> None:
    SNAPSHOTS[name] = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)])
    current, peak = tracemalloc.get_traced_memory()
    print(f"[{name}] RSS {rss_mb():.0f} MB, traced {current / 2**20:.0f} MB (peak {peak / 2**20:.0f} MB)",
          file=sys.stderr)


def watch_the_dream_phase() -> None:
    import flows.dream_album as flow_module

    class Watched(flow_module.DreamProgress):
        def advance(self):
            super().advance()
            if self.bar.done == EARLY:  # torch and the network loaded, the run in its stride
                snapshot(f"{EARLY} collected")

        def close(self):
            super().close()
            snapshot("all collected")

    flow_module.DreamProgress = Watched


def report() -> None:
    end = SNAPSHOTS.get("all collected")
    if end is None:
        return
    print("\n== largest at the end of the dream phase (by line) ==")
    for stat in end.statistics("lineno")[:25]:
        print(f"{stat.size / 2**20:8.1f} MB {stat.count:9d} blocks  {stat.traceback[0]}")
    if f"{EARLY} collected" in SNAPSHOTS:
        print(f"\n== growth from the {EARLY}th dream to the last (by traceback) ==")
        for stat in end.compare_to(SNAPSHOTS[f"{EARLY} collected"], "traceback")[:12]:
            print(f"{stat.size_diff / 2**20:+8.1f} MB {stat.count_diff:+9d} blocks")
            for line in stat.traceback.format():
                print("     " + line)


def main() -> None:
    album, config, out = sys.argv[1:4]
    watch_the_dream_phase()
    from flows.cli import main as cli_main

    snapshot("start")
    code = cli_main(["run", album, "-c", config, "-o", out, "--device", "cpu"])
    snapshot("after the run")
    report()
    if "after the run" in SNAPSHOTS and "start" in SNAPSHOTS:
        print("\n== held after the run, against the start (by line) ==")
        for stat in SNAPSHOTS["after the run"].compare_to(SNAPSHOTS["start"], "lineno")[:15]:
            print(f"{stat.size_diff / 2**20:+8.1f} MB {stat.count_diff:+9d} blocks  {stat.traceback[0]}")
    sys.exit(code)


if __name__ == "__main__":
    main()

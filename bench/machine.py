"""What every benchmark needs: the machine's name, and peak memory while a block runs.
Standard library only, so the benchmarks run on a bare GPU machine too."""

from __future__ import annotations

import platform
import threading
import time


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def rss_mb() -> float:
    """This process's resident memory now, in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class RssSampler:
    """Peak resident memory while a block runs, sampled from /proc every 20 ms."""

    def __enter__(self):
        self.peak_mb, self.running = rss_mb(), True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()

    def _sample(self):
        while self.running:
            self.peak_mb = max(self.peak_mb, rss_mb())
            time.sleep(0.02)

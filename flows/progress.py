"""A small progress bar with an ETA, on stderr; one line per step when stderr is not a terminal."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    def __init__(self, total: int, label: str, stream=None, width: int = 30):
        self.total, self.label, self.width = total, label, width
        self.stream = stream or sys.stderr
        self.done = self.reused = 0
        self.started = time.monotonic()
        self.live = self.stream.isatty()

    def advance(self, reused: bool = False) -> None:
        self.done += 1
        self.reused += reused
        line = self.render()
        if self.live:
            self.stream.write("\r" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def render(self) -> str:
        filled = self.width * self.done // max(self.total, 1)
        bar = "#" * filled + "." * (self.width - filled)
        reused = f", {self.reused} reused" if self.reused else ""
        return f"{self.label} [{bar}] {self.done}/{self.total}{reused}  {self._eta()}"

    def _eta(self) -> str:
        fresh = self.done - self.reused  # reused dreams take no time: do not let them skew the ETA
        if self.done >= self.total:
            return f"done in {_clock(time.monotonic() - self.started)}"
        if fresh == 0:
            return "ETA --:--"
        per_dream = (time.monotonic() - self.started) / fresh
        return f"ETA {_clock(per_dream * (self.total - self.done))}"

    def close(self) -> None:
        if self.live and self.total:
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds + 0.5), 60)
    return f"{minutes}:{seconds:02d}"

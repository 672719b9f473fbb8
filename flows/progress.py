"""Progress of a run's phases on stderr, readable wherever stderr goes.

On a terminal a phase's bar is redrawn in place. In a file (cron, `serve`, CI) a phase writes a
line at most every 10% of its work and at most every 30 s, and its last line: a phase done
within 30 s is one line, 100 dreams at most a dozen. Work found done by an earlier run is one
line, said before the bar (`note`).
"""

from __future__ import annotations

import sys
import threading
import time

# In a file: a line when another FILE_STEP of the phase's work is done, FILE_EVERY_S after the
# last line (or the phase's start) at the earliest.
FILE_STEP = 0.10
FILE_EVERY_S = 30.0
# On a terminal: redraws at most this often (a fast phase would spend its time drawing).
REDRAW_S = 0.1
clock = time.monotonic  # the phases' clock (a test's may run faster)


def note(line: str, stream=None) -> None:
    """A line of its own on stderr, between phases (never inside a bar being drawn)."""
    stream = stream or sys.stderr
    stream.write(line + "\n")
    stream.flush()


class ProgressBar:
    """One phase: `total` items of `unit`, with an ETA. Threads may advance it.

    `expected_s`: the seconds the cost model gives the whole phase (pipeline/dream/cost.py, the
    estimate line's), where known; each `advance` then says its items' share. The ETA is the
    model's seconds still to do, times how fast this run goes against the model (its elapsed
    time over the modelled seconds done): the items need not cost alike (a conv5_2 dream takes
    1.6x a conv3_1 one, a 2048 px dream 4x a 1024 px one), and the machine may be busier than
    when it was measured. Before the first item: the model's own figure."""

    def __init__(self, total: int, label: str, unit: str = "", stream=None, width: int = 30,
                 expected_s: float | None = None):
        self.total, self.label, self.unit, self.width = total, label, unit, width
        self.stream = stream or sys.stderr
        self.live = _is_terminal(self.stream)
        self.done = 0
        self.expected_s, self.expected_done_s = expected_s, 0.0
        self.started = self.last_drawn = clock()
        self.last_step = 0  # in a file: how many FILE_STEPs the last line showed
        self.drawn = False
        self._lock = threading.Lock()

    def advance(self, count: int = 1, expected_s: float = 0.0) -> None:
        with self._lock:
            self.done += count
            self.expected_done_s += expected_s
            now = clock()
            if self.live:
                if now - self.last_drawn >= REDRAW_S or self.done >= self.total:
                    self._draw("\r" + self.render(now), now)
            elif self._file_line_due(now):
                self._draw(self.render(now) + "\n", now)
                self.last_step = self._step()

    def _step(self) -> int:
        return int(self.done / max(self.total, 1) / FILE_STEP + 1e-9)

    def _file_line_due(self, now: float) -> bool:
        if self.done >= self.total:
            return False  # the last line is close()'s
        return self._step() > self.last_step and now - self.last_drawn >= FILE_EVERY_S

    def _draw(self, text: str, now: float) -> None:
        self.stream.write(text)
        self.stream.flush()
        self.last_drawn, self.drawn = now, True

    def render(self, now: float | None = None) -> str:
        now = clock() if now is None else now
        filled = self.width * min(self.done, self.total) // max(self.total, 1)
        bar = "#" * filled + "." * (self.width - filled)
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.label} [{bar}] {self.done}/{self.total}{unit}  {self._eta(now)}"

    def _eta(self, now: float) -> str:
        elapsed = now - self.started
        if self.done >= self.total:
            return f"done in {_clock(elapsed)}"
        return f"ETA {_clock(left)}" if (left := self.seconds_left(elapsed)) is not None else "ETA --:--"

    def seconds_left(self, elapsed: float) -> float | None:
        """The phase's seconds still to go (see the class's doc), or None before anything is known."""
        if self.expected_s:
            if self.expected_done_s > 0:
                return (self.expected_s - self.expected_done_s) * elapsed / self.expected_done_s
            return max(self.expected_s - elapsed, 0.0)
        if self.done == 0:
            return None
        return elapsed / self.done * (self.total - self.done)

    def close(self) -> None:
        """The phase's last line (on a terminal: the bar, finished, and a new line)."""
        with self._lock:
            if self.total <= 0:
                return
            now = clock()
            if self.live:
                self._draw("\r" + self.render(now) + "\n", now)
            else:
                self._draw(self.render(now) + "\n", now)


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds + 0.5), 60)
    return f"{minutes}:{seconds:02d}"


class DreamProgress:
    """Progress of a run's dreams, shown twice: the bar on stderr and a Prefect progress
    artifact (the UI's view of a run that may be on another machine). The artifact is updated
    at most every few seconds: one API call per dream would slow a big album's run.

    `reused` dreams (finished by earlier runs) are one line before the bar, which counts only
    the dreams this run makes."""

    def __init__(self, to_dream: int, reused: int, artifact_key: str, every_s: float = 3.0,
                 label: str = "dreaming", expected_s: float | None = None):
        from prefect.artifacts import create_progress_artifact

        self.total, self.reused = to_dream + reused, reused
        if reused:
            note(f"dreams: {reused} of {self.total} made by earlier runs, kept")
        self.bar = ProgressBar(total=to_dream, label=label, unit="dreams", expected_s=expected_s)
        self.every_s = every_s
        self.artifact_id = create_progress_artifact(100.0 * reused / max(self.total, 1), key=artifact_key,
                                                    description="Dreams finished (reused ones count)")
        self.last_update = time.monotonic()

    def advance(self, expected_s: float = 0.0) -> None:
        self.bar.advance(expected_s=expected_s)
        if time.monotonic() - self.last_update >= self.every_s:
            self._update()

    def close(self) -> None:
        self.bar.close()
        self._update()

    def _update(self) -> None:
        from prefect.artifacts import update_progress_artifact

        done = 100.0 if self.total <= 0 else 100.0 * (self.reused + self.bar.done) / self.total
        update_progress_artifact(self.artifact_id, min(done, 100.0))
        self.last_update = time.monotonic()

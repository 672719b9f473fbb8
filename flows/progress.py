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
        self.stream.write("\r" + line if self.live else line + "\n")
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


class DreamProgress:
    """Progress of a run's dreams, shown twice: the bar on stderr and a Prefect progress
    artifact (the UI's view of a run that may be on another machine). The artifact is updated
    at most every few seconds: one API call per dream would slow a big album's no-op rerun."""

    def __init__(self, total: int, artifact_key: str, every_s: float = 3.0):
        from prefect.artifacts import create_progress_artifact

        self.bar = ProgressBar(total=total, label="dreaming")
        self.every_s = every_s
        self.artifact_id = create_progress_artifact(0.0, key=artifact_key,
                                                    description="Dreams finished (reused ones count)")
        self.last_update = time.monotonic()

    def advance(self, reused: bool = False) -> None:
        self.bar.advance(reused)
        if time.monotonic() - self.last_update >= self.every_s:
            self._update()

    def close(self) -> None:
        self.bar.close()
        self._update()

    def _update(self) -> None:
        from prefect.artifacts import update_progress_artifact

        done = 100.0 if self.bar.total <= 0 else 100.0 * self.bar.done / self.bar.total
        update_progress_artifact(self.artifact_id, min(done, 100.0))
        self.last_update = time.monotonic()

"""What the commands say of a run, in words the CLI and a scheduled run share."""

from __future__ import annotations

import datetime
from pathlib import Path

from pipeline.output.files import disk_full
from pipeline.post.view import counted
from pipeline.published import on_the_page


def photos_line(photos) -> str:
    """'5 photos on the page, 1 hidden, 1 not shown': counted as the post and the contact sheet
    count them (pipeline/published.py: on_the_page)."""
    shown, hidden = sum(map(on_the_page, photos)), sum(photo.hidden for photo in photos)
    others = len(photos) - shown - hidden
    return ", ".join([f"{counted(shown, 'photo')} on the page",
                      *([f"{hidden} hidden"] if hidden else []),
                      *([f"{others} not shown (the contact sheet says why)"] if others else [])])


def counts_line(manifest) -> str:
    """Photos and dreams, new or kept: the summary's line, and a scheduled run's."""
    dreams, run = manifest.dreams(), manifest.run
    ok = sum(dream.ok for dream in dreams)
    loops = [photo.loop for photo in manifest.photos if photo.loop is not None]
    return (f"{photos_line(manifest.photos)}, {ok} of {counted(len(dreams), 'dream')} ok"
            + (f" ({run.dreamed} dreamed now, {run.reused} from earlier runs)" if run else "")
            + (f", {sum(loop.ok for loop in loops)} of {counted(len(loops), 'loop')} ok" if loops else "")
            + (f", {counted(len(manifest.skipped), 'file')} skipped (listed on the page)"
               if manifest.skipped else ""))


def os_error_line(err: OSError) -> str:
    """An error of the file system, in one line naming the file: a full disk as DiskFull says it."""
    where = Path(err.filename) if err.filename else Path.cwd()
    if full := disk_full(err, where.parent if err.filename else where):
        return str(full)
    reason = (err.strerror or str(err)).lower()
    return f"{where}: {reason}"


def tell(line: str) -> None:
    print(line, flush=True)


def clock(when: datetime.datetime | None) -> str:
    """A run's time, local: 03:00 (03:00:05 where the seconds count: `--every`)."""
    if when is None:
        return "unscheduled"
    local = when.astimezone()
    return local.strftime("%H:%M:%S" if local.second else "%H:%M")

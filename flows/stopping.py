"""Stopping a command at once on Ctrl-C or SIGTERM, with one line and nothing left behind."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import Iterator

from flows.hosting import kill_server_now
from flows.own_server import stop_own_server
from pipeline.output.lock import let_go_of_every_lock

INTERRUPTED = "dreamtrip: interrupted; finished dreams are kept, rerun to continue"
EXIT_INTERRUPTED = 128 + signal.SIGINT

STOPPED = {
    signal.SIGINT: INTERRUPTED,
    signal.SIGTERM: "dreamtrip: stopped (SIGTERM); finished dreams are kept, rerun to continue",
}


@contextlib.contextmanager
def stopping_at_once() -> Iterator[None]:
    """Ctrl-C or SIGTERM (systemd, Docker, `kill PID`) during the block stop the command at once
    with one line, exit code 128 + the signal's number (130, 143).

    Nothing is lost: every file is written under a temporary name and renamed when complete,
    the output folder's lock dies with the process, and the next run finishes the album.
    Unwinding instead would wait for the dreams running on the device. The children go too:
    Dask's local workers watch a pipe from this process, and Prefect's temporary server is
    stopped here (and on Linux the kernel stops it when this process dies, even by kill -9).
    """
    previous = {signum: signal.signal(signum, _stop_now) for signum in STOPPED}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _stop_now(signum, frame) -> None:
    # In a terminal the line may hold ^C or the progress bar: the message goes on its own.
    print("\n" * sys.stderr.isatty() + STOPPED[signum], file=sys.stderr, flush=True)
    let_go_of_every_lock()   # the lock files go with the run, as they do when it ends well
    kill_server_now()
    stop_own_server(grace_s=0)
    os._exit(128 + signum)



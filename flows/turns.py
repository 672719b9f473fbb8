"""Who may use the device when, and which failures a task is tried again for: shared by the
dream tasks (flows/dream_album.py) and the loop tasks (flows/loops.py)."""

from __future__ import annotations

import threading

from pipeline.imaging import PhotoError

# ---- retries: only for failures that can pass (GPU memory, a lost worker), not for bad photos ----

_TRANSIENT = (MemoryError, ConnectionError, TimeoutError)


def is_transient(error: BaseException) -> bool:
    if isinstance(error, (PhotoError, ValueError, FileNotFoundError)):
        return False
    return isinstance(error, _TRANSIENT) or "out of memory" in str(error).lower()


def retry_if_transient(task, task_run, state) -> bool:
    try:
        state.result()
    except Exception as error:  # the task's own exception, re-raised by the failed state
        return is_transient(error)
    return False


# ---- who may use the device when ----

class Slots:
    """Per process and device: `device` admits `dreams_at_once` dreams at a time (more would only
    fight for the same cores or GPU); `prepared` admits that many more photos decoded and waiting
    for it, or being encoded after it, so the CPU work overlaps the device's and queued tasks hold
    no decoded photo."""

    _registry: dict[tuple[str, int], "Slots"] = {}
    _registry_lock = threading.Lock()

    def __init__(self, size: int):
        self.device = threading.BoundedSemaphore(size)
        self.prepared = threading.BoundedSemaphore(size + 2)  # one decoding, one encoding

    @classmethod
    def of(cls, device: str, size: int) -> "Slots":
        # Keyed by size too: a later run in this process (`serve`) may set another dreams_at_once.
        with cls._registry_lock:
            return cls._registry.setdefault((device, size), cls(size))

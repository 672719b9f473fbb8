"""PREFECT_HOME filling up during a run. Prefect's temporary server keeps its SQLite database
there; when that disk fills, the server answers the flow's API calls with a 500 ("database or
disk is full" stays in the server's log) and the command ended in a 60-line
PrefectHTTPStatusError, although every dream was finished and kept. This names the cause in one
line. Imports nothing of Prefect: it reads the error's type by name."""

from __future__ import annotations

import shutil
from pathlib import Path

from pipeline.text import human_size


def prefect_home_filled(err: BaseException, folders: list[Path], room: int) -> str | None:
    """One line for `err` when it is a Prefect API server error (5xx, anywhere in its chain) and
    one of `folders` (PREFECT_HOME and its database's folder: flows/launch.py prefect_folders)
    has less than `room` bytes free (ROOM_FOR_PREFECT there); else None (not that)."""
    return filled_folder(folders, room) if _server_error(err) else None


def filled_folder(folders: list[Path], room: int) -> str | None:
    """One line naming the first of `folders` whose disk has less than `room` bytes free, else
    None. Also for a temporary server that did not start: its database may not have fit."""
    for folder in folders:
        free = shutil.disk_usage(next(f for f in (folder, *folder.parents) if f.exists())).free
        if free < room:
            return (f"PREFECT_HOME {folder}: the disk filled up during the run ({human_size(free)} free), and "
                    "Prefect's temporary server keeps its database there: free some space (or set PREFECT_HOME to "
                    "a folder with room), then run the same command again (finished dreams are kept)")
    return None


def _server_error(err: BaseException | None) -> bool:
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        named = {kind.__name__ for kind in type(err).__mro__}
        response = getattr(err, "response", None)
        if named & {"PrefectHTTPStatusError", "HTTPStatusError"} and getattr(response, "status_code", 0) >= 500:
            return True
        err = err.__cause__ or err.__context__
    return False

"""Text helpers: slugs for names made from user text, sizes in words, and text written by the
machine (error messages, reasons) without the machine's paths. Plain functions, no files."""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path


def human_size(n: float) -> str:
    """1536 -> '1.5 KB'."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def slug(text: str, fallback: str = "photo") -> str:
    """'day 1/Škoda #2.jpg' -> 'day-1-skoda-2-jpg': ASCII, lowercase, [a-z0-9-], never empty.

    Accents are dropped rather than the letters (Š -> s); runs of anything else become one
    '-', so a slug never holds two dashes in a row and callers may join slugs with '--'.
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or fallback


# ---- text written by the machine, without the machine's paths ----
# Text written by the machine (exception messages, reasons) without the machine's paths.
#
# The output folder is what a traveller publishes: an error that says
# "[Errno 2] No such file or directory: '/home/ana/trips/prague/day1/a.jpg'" names the user, and
# where their trips lie. Here a path inside the album or the output folder becomes its path
# relative to that folder ('day1/a.jpg'), and any other absolute path its file's name, or
# 'a folder'. The terminal, which is not published, may say more.

# An absolute path of the machine: /a/b…, file:///a/b…, ~/a…, C:\a…. Neither a URL's
# '//host/…' nor a relative 'dreams/x.jpg' starts one: the lookbehind wants a start, space,
# quote or bracket.
_MACHINE_PATH = re.compile(r"(?<![\w.:/\\~-])(?:file://)?(?:~|[A-Za-z]:)?"
                           r"(?:[/\\][^\s/\\'\"()<>\[\],;]+){2,}[/\\]?")
# The same in quotes, where it may hold spaces ('/home/me/my trips/a.jpg', as Python prints it).
_QUOTED_PATH = re.compile(
    r"(?<=['\"])(?:file://)?(?:~|[A-Za-z]:)?[/\\][^'\"\n]*?[/\\][^'\"\n]*(?=['\"])")


def without_machine_paths(text: str, folders: tuple[Path, ...] = ()) -> str:
    """`text` with paths inside `folders` made relative to them, and every other absolute path
    cut to its file's name ('vgg16-397923af.pth') or 'a folder'."""
    for folder in _spellings(folders):
        text = text.replace(folder + os.sep, "")
        text = re.sub(re.escape(folder) + r"(?=[\s'\"()\[\],;:]|$)", ".", text)

    def name(match: re.Match) -> str:
        last = re.split(r"[/\\]", match.group(0).rstrip("/\\"))[-1]
        return last if "." in last.strip(".") else "a folder"
    return _MACHINE_PATH.sub(name, _QUOTED_PATH.sub(name, text))


def _spellings(folders: tuple[Path, ...]) -> list[str]:
    """Each folder as given and as resolved, longest first (a folder inside another is cut first)."""
    spelled = {str(Path(folder)) for folder in folders} | {str(Path(folder).resolve()) for folder in folders}
    return sorted((s for s in spelled if s not in (os.sep, ".")), key=len, reverse=True)

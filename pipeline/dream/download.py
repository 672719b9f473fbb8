"""Put torchvision's ImageNet VGG16 file into torchvision's cache, checked as torchvision checks it.

From torchvision's own URL (`dreamtrip weights --download`, or a run by itself: `weights_for_run`),
a mirror, or a local copy (an air-gapped machine, a USB stick). The bytes land under a temporary
name in the cache folder and take the real name only once their sha256 starts with the prefix in
that name (torch.hub's check); anything else is deleted and refused. Where `weights: auto` looks
is `imagenet_path()`.

A run with `weights.download: auto` that finds no ImageNet file fetches it once, with torch.hub's
progress bar. Offline it knows within CONNECT_TIMEOUT_S (the name lookup included), says so in
one line, dreams with the next source of the table, and leaves a stamp in the weights cache so
that runs of the next day do not try again (an explicit `weights --download` always tries).
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Callable
from urllib.error import HTTPError
from urllib.parse import urlparse
from urllib.request import Request, urlopen

from pipeline.dream.weights import WeightsChoice, WeightsError, choose_weights, has_hash, imagenet_path
from pipeline.layers import WEIGHTS
from pipeline.output.files import atomic_path, sha256_of

# torch.hub opens URLs with no timeout, so a network that drops packets would hang forever.
# This bounds the connect and every read (a stalled download fails too); name lookup keeps the
# resolver's own timeout (fails at once where there is no DNS, as here).
NETWORK_TIMEOUT_S = 15.0
# A run's own try asks the server first and waits this long for an answer, name lookup
# included: offline, a run loses at most this, once a day (RETRY_AFTER_S).
CONNECT_TIMEOUT_S = 3.0
RETRY_AFTER_S = 24 * 3600


def imagenet_row():
    """The table's ImageNet row: the file fetched here, its hash, size and URL."""
    return WEIGHTS["imagenet"]


def torchvision_url() -> str:
    """Where torchvision itself downloads the ImageNet row's weights (VGG16_Weights.IMAGENET1K_V1) from."""
    import torchvision.models

    enum, member = imagenet_row().torchvision_weights.split(".")
    return getattr(getattr(torchvision.models, enum), member).url


# ---- a run's own try (weights.download: auto) ----

def weights_for_run(settings, say: Callable[[str], None] = lambda _: None,
                    warn: Callable[[str], None] = lambda _: None) -> WeightsChoice:
    """The weights a run dreams with (`settings`: the weights section). With `download: auto`,
    the ImageNet file is fetched first where it is missing and the settings want it; where that
    fails `auto` goes on with HED (said in one line by `warn`) and `imagenet` is a WeightsError."""
    if wants_fetch(settings):
        try:
            fetch_imagenet(say=say, probe_s=CONNECT_TIMEOUT_S)
        except WeightsError as err:
            if settings.source != "auto":
                raise
            stamp_failure(settings.cache_path, str(err).split("\n")[0])
            fallback = choose_weights("auto")
            warn(f"{_first_sentence(err)}; dreaming with {fallback.row.short}. Runs try again after "
                 f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(time.time() + RETRY_AFTER_S))}; "
                 "`dreamtrip weights --download` tries now")
            return fallback
    return choose_weights(settings.source)


def wants_fetch(settings) -> bool:
    """Whether a run should fetch ImageNet now: downloads allowed, the settings would use it, its
    file missing, and (for `auto`, which has a fallback) no failed try in the last day."""
    if settings.download != "auto" or settings.source not in ("auto", imagenet_row().name):
        return False
    if imagenet_path().is_file():
        return False
    return settings.source != "auto" or retry_due(settings.cache_path)


def stamp_path(cache_dir: Path) -> Path:
    """The mark of a failed try, in dreamtrip's weights cache (its time is the file's mtime)."""
    return Path(cache_dir) / "weights" / f"{imagenet_row().name}-not-fetched"


def retry_due(cache_dir: Path, now: float | None = None) -> bool:
    try:
        tried = stamp_path(cache_dir).stat().st_mtime
    except FileNotFoundError:
        return True
    return (time.time() if now is None else now) - tried >= RETRY_AFTER_S


def stamp_failure(cache_dir: Path, why: str) -> None:
    stamp = stamp_path(cache_dir)
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(why + "\n", encoding="utf-8")  # for a curious reader; the mtime counts
    except OSError:
        pass  # an unwritable cache: the next run tries again, no worse than that


def _first_sentence(err: WeightsError) -> str:
    return str(err).split("\n")[0].rstrip(".")


def server_answers(url: str, timeout_s: float) -> str | None:
    """None when the server at `url` answers (any HTTP status) within `timeout_s`, name lookup
    included; else why not, in words. The lookup has no timeout of its own (the resolver's may be
    many seconds), so the question runs in a thread that is left behind when it is late."""
    said: list[str | None] = []

    def ask() -> None:
        try:
            with urlopen(Request(url, method="HEAD", headers={"User-Agent": "torch.hub"}), timeout=timeout_s):
                pass
            said.append(None)
        except HTTPError:
            said.append(None)  # it answered; the download says what the answer means
        except OSError as err:
            said.append(_why(err, url, timeout_s))

    thread = threading.Thread(target=ask, name="dreamtrip-probe", daemon=True)
    thread.start()
    thread.join(timeout_s)
    return said[0] if said else f"no answer in {timeout_s:g} s"


def fetch_imagenet(origin: str | None = None, say: Callable[[str], None] = lambda _: None,
                   timeout_s: float = NETWORK_TIMEOUT_S, progress: bool = True,
                   probe_s: float | None = None) -> Path:
    """Make torchvision's cache hold the verified ImageNet VGG16 file; return its path.

    `origin`: an http(s) URL or a local file (or a folder holding it); None = torchvision's URL.
    `say` gets the lines for the user (what is fetched, how big, from where, to where).
    `probe_s`: first ask the server, and give up when it does not answer in that long.
    Raises WeightsError, with what to do, when the file cannot be had or fails the check.
    """
    target = imagenet_path()
    if target.is_file():
        if has_hash(target, imagenet_row().sha256):
            say(f"{target.name} is already in torchvision's cache (verified): {target}")
            return target
        say(f"{target} fails torchvision's check: fetching it again (it is replaced once verified)")
    origin = origin or torchvision_url()
    if _is_url(origin):
        if probe_s is not None and (why := server_answers(origin, probe_s)):
            raise WeightsError(_unreachable(origin, target, why))
        say(f"Downloading {imagenet_row().short} for the classic look: {target.name} ({imagenet_row().size_mb} MB, "
            f"once) from {origin}\n  to {target}")
        _download_verified(origin, target, timeout_s, progress)
    else:
        source = _local_file(Path(origin).expanduser(), target.name)
        say(f"Copying {target.name} ({imagenet_row().size_mb} MB) from {source}\n  to {target}")
        _copy_verified(source, target)
    say(f"Verified (sha256 starts {imagenet_row().sha256}): `weights: auto` now uses {imagenet_row().short}")
    return target


def _is_url(origin: str) -> bool:
    return urlparse(origin).scheme in ("http", "https")


def _download_verified(url: str, target: Path, timeout_s: float, progress: bool) -> None:
    """torch.hub's downloader: progress bar, `.partial` temp file beside `target`, hash check."""
    import torch.hub

    target.parent.mkdir(parents=True, exist_ok=True)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout_s)
    try:
        torch.hub.download_url_to_file(url, str(target), hash_prefix=imagenet_row().sha256, progress=progress)
    except RuntimeError as err:  # torch.hub's hash check; it has deleted the partial file
        raise WeightsError(_refused(url, str(err))) from None
    except OSError as err:  # no network, refused, timed out, HTTP errors: URLError is an OSError
        raise WeightsError(_unreachable(url, target, _why(err, url, timeout_s))) from None
    finally:
        socket.setdefaulttimeout(previous)


def _local_file(path: Path, name: str) -> Path:
    """The file to copy: `path` itself, or `name` inside it when it is a folder (a USB stick)."""
    candidate = path / name if path.is_dir() else path
    if not candidate.is_file():
        raise WeightsError(f"{candidate}: no such file; `--from` takes the path of {name} (or of a "
                           "folder holding it) or an http(s) URL")
    return candidate


def _copy_verified(source: Path, target: Path) -> None:
    """Copy under a temporary name in the cache folder; check the copy's bytes; then rename."""
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
        digest = sha256_of(tmp)
        if not digest.startswith(imagenet_row().sha256):
            raise WeightsError(_refused(str(source), f'expected sha256 starting "{imagenet_row().sha256}", '
                                                     f'got "{digest}"'))


def _refused(origin: str, detail: str) -> str:
    return (f"refused {imagenet_path().name} from {origin}: it is not torchvision's file ({detail}); "
            "nothing was kept. It is damaged or another model: fetch it again, or from another copy.")


def _why(err: OSError, url: str, timeout_s: float) -> str:
    if isinstance(err, HTTPError):
        return str(err)  # "HTTP Error 404: Not Found"
    reason = getattr(err, "reason", err)  # URLError wraps the socket's error
    if isinstance(reason, socket.gaierror):
        return f"cannot look up {urlparse(url).hostname} (no network here?)"
    return f"no answer in {timeout_s:g} s" if isinstance(reason, TimeoutError) else str(reason)


def _unreachable(url: str, target: Path, why: str) -> str:
    return (f"could not download {target.name} ({imagenet_row().size_mb} MB) from {url}: {why}\n"
            "  Two ways round it (a machine without a network too):\n"
            "    dreamtrip weights --from URL_OR_PATH   (a mirror, or a copy of the file: USB stick, "
            "another machine)\n"
            f"    or copy {target.name} to {target}")

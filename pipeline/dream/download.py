"""Put torchvision's ImageNet VGG16 file into torchvision's cache, checked as torchvision checks it.

From torchvision's own URL (`dreamtrip weights --download`), a mirror, or a local copy (an
air-gapped machine, a USB stick). The bytes land under a temporary name in the cache folder and
take the real name only once their sha256 starts with the prefix in that name (torch.hub's
check); anything else is deleted and refused. Where `weights: auto` looks is `imagenet_path()`.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path
from typing import Callable
from urllib.error import HTTPError
from urllib.parse import urlparse

from pipeline.output.files import atomic_path, sha256_of
from pipeline.dream.weights import (IMAGENET_SIZE_MB, WeightsError, has_hash_prefix, imagenet_hash_prefix,
                              imagenet_path)

# torch.hub opens URLs with no timeout, so a network that drops packets would hang forever.
# This bounds the connect and every read (a stalled download fails too); name lookup keeps the
# resolver's own timeout (fails at once where there is no DNS, as here).
NETWORK_TIMEOUT_S = 15.0


def torchvision_url() -> str:
    """Where torchvision itself downloads VGG16_Weights.IMAGENET1K_V1 from."""
    from torchvision.models import VGG16_Weights

    return VGG16_Weights.IMAGENET1K_V1.url


def fetch_imagenet(origin: str | None = None, say: Callable[[str], None] = lambda _: None,
                   timeout_s: float = NETWORK_TIMEOUT_S, progress: bool = True) -> Path:
    """Make torchvision's cache hold the verified ImageNet VGG16 file; return its path.

    `origin`: an http(s) URL or a local file (or a folder holding it); None = torchvision's URL.
    `say` gets the lines for the user (what is fetched, how big, from where, to where).
    Raises WeightsError, with what to do, when the file cannot be had or fails the check.
    """
    target = imagenet_path()
    if target.is_file():
        if has_hash_prefix(target, imagenet_hash_prefix()):
            say(f"{target.name} is already in torchvision's cache (verified): {target}")
            return target
        say(f"{target} fails torchvision's check: fetching it again (it is replaced once verified)")
    origin = origin or torchvision_url()
    if _is_url(origin):
        say(f"Downloading {target.name} ({IMAGENET_SIZE_MB} MB) from {origin}\n  to {target}")
        _download_verified(origin, target, timeout_s, progress)
    else:
        source = _local_file(Path(origin).expanduser(), target.name)
        say(f"Copying {target.name} ({IMAGENET_SIZE_MB} MB) from {source}\n  to {target}")
        _copy_verified(source, target)
    say(f"Verified (sha256 starts {imagenet_hash_prefix()}): `weights: auto` now uses ImageNet VGG16")
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
        torch.hub.download_url_to_file(url, str(target), hash_prefix=imagenet_hash_prefix(),
                                       progress=progress)
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
        if not digest.startswith(imagenet_hash_prefix()):
            raise WeightsError(_refused(str(source), f'expected sha256 starting "{imagenet_hash_prefix()}", '
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
    return (f"could not download {target.name} ({IMAGENET_SIZE_MB} MB) from {url}: {why}\n"
            "  Two ways round it (a machine without a network too):\n"
            "    dreamtrip weights --from URL_OR_PATH   (a mirror, or a copy of the file: USB stick, "
            "another machine)\n"
            f"    or copy {target.name} to {target}")

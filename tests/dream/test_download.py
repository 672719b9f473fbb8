"""`dreamtrip weights --download / --from`: the ImageNet file fetched into torchvision's cache.

No internet: downloads come from an HTTP server on 127.0.0.1 started here, serving a tiny made-up
checkpoint named after its own sha256 (as torchvision names the real one); "no network" is a
closed local port, and a stalled network is a port that listens but never answers.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple

import pytest
import torch

import pipeline.dream.download as download
from flows.cli import main
from pipeline.config import load_settings
from pipeline.dream.download import CONNECT_TIMEOUT_S, fetch_imagenet, stamp_path, weights_for_run
from pipeline.dream.weights import WeightsError, choose_weights, imagenet_path, load_features_state, upgrade_hint
from pipeline.layers import WEIGHTS
from weights_files import checkpoint_bytes, expect_imagenet_file, name_after, tiny_features


IMAGENET_FILE = WEIGHTS["imagenet"].file


@pytest.fixture(autouse=True)
def torch_home(tmp_path, monkeypatch):
    """An empty torchvision cache per test, so the machine's own ~/.cache/torch never counts."""
    home = tmp_path / "torch-home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home


@pytest.fixture
def checkpoints(torch_home) -> Path:
    return torch_home / "hub" / "checkpoints"


@pytest.fixture
def config(tmp_path) -> Path:
    """Settings whose converted-weights cache is in tmp_path, not the user's home."""
    path = tmp_path / "weights.yaml"
    path.write_text(f"weights:\n  cache_dir: {tmp_path / 'dreamtrip-cache'}\n")
    return path


@pytest.fixture
def fake(monkeypatch) -> bytes:
    """A made-up checkpoint that dreamtrip expects as torchvision's file (named after its hash)."""
    data = checkpoint_bytes(tiny_features())
    expect_imagenet_file(monkeypatch, data)
    return data


class Mirror(NamedTuple):
    root: Path            # the folder it serves
    base: str             # its URL
    requests: list[str]   # "METHOD /path" of every request it was sent


@pytest.fixture
def served_mirror(tmp_path):
    """A loopback HTTP server over a folder, counting the requests it is sent."""
    root = tmp_path / "mirror"
    root.mkdir()
    requests = []

    class Quiet(SimpleHTTPRequestHandler):
        def log_request(self, code="-", size="-"):
            requests.append(f"{self.command} {self.path}")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Mirror(root, f"http://127.0.0.1:{server.server_address[1]}", requests)
    server.shutdown()
    server.server_close()


@pytest.fixture
def mirror(served_mirror):
    """(folder, base URL) of the loopback mirror."""
    return served_mirror.root, served_mirror.base


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on: connecting is refused at once, as with no network."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_end_to_end_then_auto_uses_imagenet(fake, mirror, monkeypatch, config, tmp_path, capsys):
    root, base = mirror
    (root / "models").mkdir()
    (root / "models" / name_after(fake)).write_bytes(fake)
    monkeypatch.setattr(download, "torchvision_url", lambda: f"{base}/models/{name_after(fake)}")
    hed = choose_weights("auto")
    assert hed.source == "hed"

    assert main(["weights", "--download", "-c", str(config)]) == 0

    said = capsys.readouterr().out
    assert "528 MB" in said.split("\n")[0] and base in said.split("\n")[0]  # size and origin first
    assert imagenet_path().read_bytes() == fake
    assert _files(imagenet_path().parent) == [imagenet_path().name]  # no temporary files left
    imagenet = choose_weights("auto")
    assert imagenet.source == "imagenet" and upgrade_hint(imagenet) is None
    assert imagenet.identity != hed.identity  # the store keeps HED and ImageNet dreams apart
    state = load_features_state(imagenet, tmp_path / "dreamtrip-cache")  # prepared by the command
    assert torch.equal(state["0.weight"], tiny_features()["0.weight"])
    assert _files(tmp_path / "dreamtrip-cache" / "weights") == [f"vgg16-{imagenet.identity}.pt"]


def test_download_with_the_wrong_hash_is_refused_and_nothing_is_kept(fake, mirror, checkpoints):
    root, base = mirror
    (root / "vgg16.pth").write_bytes(fake + b"tampered")
    with pytest.raises(WeightsError) as caught:
        fetch_imagenet(f"{base}/vgg16.pth", progress=False)
    assert "refused" in str(caught.value) and "nothing was kept" in str(caught.value)
    assert _files(checkpoints) == []  # neither the file nor torch.hub's .partial
    assert choose_weights("auto").source == "hed"


def test_no_network_fails_at_once_with_one_message_and_exit_2(closed_port, monkeypatch, config,
                                                               checkpoints, capsys):
    url = f"http://127.0.0.1:{closed_port}/models/{IMAGENET_FILE}"
    monkeypatch.setattr(download, "torchvision_url", lambda: url)

    assert main(["weights", "--download", "-c", str(config)]) == 2

    err = capsys.readouterr().err
    assert err.startswith("dreamtrip: could not download") and err.count("dreamtrip:") == 1
    assert IMAGENET_FILE in err and url in err and "528 MB" in err
    assert "--from URL_OR_PATH" in err and str(checkpoints / IMAGENET_FILE) in err  # the two ways round
    assert "Traceback" not in err
    assert _files(checkpoints) == []


def test_no_dns_says_so(monkeypatch, checkpoints):
    """Where there is no network at all the name lookup fails first (as on the build machines)."""
    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(WeightsError, match=r"cannot look up download\.example \(no network here\?\)"):
        fetch_imagenet(f"https://download.example/models/{IMAGENET_FILE}", progress=False)
    assert _files(checkpoints) == []


def test_mirror_errors_say_the_same(fake, mirror):
    _, base = mirror
    with pytest.raises(WeightsError, match=r"(?s)could not download .*404.*--from"):
        fetch_imagenet(f"{base}/no-such-file.pth", progress=False)


@pytest.mark.timeout(60)  # without the socket timeout this would wait for the server forever
def test_a_stalled_network_times_out_rather_than_hangs(checkpoints):
    with socket.socket() as silent:  # listens (the kernel completes the handshake), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/{IMAGENET_FILE}"
        with pytest.raises(WeightsError, match=r"no answer in 0\.2 s"):
            fetch_imagenet(url, timeout_s=0.2, progress=False)
    assert socket.getdefaulttimeout() is None  # the process-wide timeout is put back
    assert _files(checkpoints) == []


def test_from_a_local_file_or_folder(fake, tmp_path, config, checkpoints, capsys):
    usb = tmp_path / "usb"
    usb.mkdir()
    (usb / name_after(fake)).write_bytes(fake)

    assert main(["weights", "--from", str(usb / name_after(fake)), "-c", str(config)]) == 0
    assert imagenet_path().read_bytes() == fake
    assert "Copying" in capsys.readouterr().out
    assert choose_weights("auto").source == "imagenet"

    imagenet_path().unlink()
    assert main(["weights", "--from", str(usb), "-c", str(config)]) == 0  # the folder holding it
    assert imagenet_path().read_bytes() == fake
    assert _files(checkpoints) == [imagenet_path().name]
    assert (imagenet_path().stat().st_mode & 0o777) == 0o644


def test_from_a_local_file_with_the_wrong_hash_is_refused(fake, tmp_path, config, checkpoints, capsys):
    wrong = tmp_path / "copy.pth"
    wrong.write_bytes(fake[:-1])  # truncated on the way

    assert main(["weights", "--from", str(wrong), "-c", str(config)]) == 2

    assert "refused" in capsys.readouterr().err
    assert _files(checkpoints) == []  # neither the file nor a temporary copy
    assert choose_weights("auto").source == "hed"


def test_from_a_path_that_is_not_there(tmp_path, config, capsys):
    assert main(["weights", "--from", str(tmp_path / "nowhere.pth"), "-c", str(config)]) == 2
    assert "no such file" in capsys.readouterr().err


def test_a_verified_file_already_there_is_not_fetched_again(fake, closed_port, checkpoints):
    checkpoints.mkdir(parents=True)
    imagenet_path().write_bytes(fake)
    said = []
    assert fetch_imagenet(f"http://127.0.0.1:{closed_port}/x.pth", say=said.append) == imagenet_path()
    assert "already" in said[0]


def test_a_damaged_file_in_the_cache_is_replaced_by_a_verified_one(fake, tmp_path, checkpoints):
    checkpoints.mkdir(parents=True)
    imagenet_path().write_bytes(b"half a download")
    (tmp_path / "good.pth").write_bytes(fake)
    said = []
    fetch_imagenet(str(tmp_path / "good.pth"), say=said.append)
    assert "fails torchvision's check" in said[0]
    assert imagenet_path().read_bytes() == fake


def test_plain_weights_command_with_download_never_never_downloads(monkeypatch, tmp_path, capsys):
    """`dreamtrip weights` prepares what a run would use: with `download: never`, HED, and says how
    to get ImageNet."""
    config = tmp_path / "never.yaml"
    config.write_text(f"weights:\n  download: never\n  cache_dir: {tmp_path / 'cache'}\n")
    monkeypatch.setattr(download, "fetch_imagenet", lambda *a, **k: pytest.fail("downloaded"))
    assert main(["weights", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert "dreamtrip weights --download" in out and "528 MB" in out


# ---- a run's own try: weights.download auto ----

def _settings(tmp_path, download_setting: str = "auto", source: str = "auto"):
    config = tmp_path / f"{source}-{download_setting}.yaml"
    config.write_text(f"weights:\n  source: {source}\n  download: {download_setting}\n"
                      f"  cache_dir: {tmp_path / 'cache'}\n")
    return config, load_settings(config).weights


@pytest.fixture
def served(fake, served_mirror, monkeypatch):
    """torchvision's URL pointed at the loopback mirror, which holds the (made-up) ImageNet file;
    the requests it is sent."""
    root, base, seen = served_mirror
    (root / "models").mkdir()
    (root / "models" / name_after(fake)).write_bytes(fake)
    monkeypatch.setattr(download, "torchvision_url", lambda: f"{base}/models/{name_after(fake)}")
    return seen


def test_a_run_without_imagenet_fetches_it_once_with_a_progress_bar(served, fake, tmp_path, capsys):
    _, settings = _settings(tmp_path)
    said, warned = [], []

    choice = weights_for_run(settings, said.append, warned.append)

    assert choice.source == "imagenet" and imagenet_path().read_bytes() == fake
    assert warned == [] and "528 MB" in said[0] and "Verified" in said[-1]
    progress = capsys.readouterr().err                  # torch.hub's own bar, on stderr
    assert "100" in progress and "%" in progress
    assert [line.split()[0] for line in served] == ["HEAD", "GET"]  # asked first, then fetched
    assert weights_for_run(settings).source == "imagenet"
    assert len(served) == 2                             # once: the next run finds it


def test_the_weights_command_fetches_as_a_run_would(served, tmp_path, capsys):
    config, _ = _settings(tmp_path)
    assert main(["weights", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert "ImageNet" in out.split("\n")[0] and "Verified" in out and "--download" not in out


def test_a_download_that_fails_the_hash_is_deleted_reported_and_the_run_goes_on_with_hed(
        fake, served_mirror, monkeypatch, tmp_path, checkpoints):
    root, base, _ = served_mirror
    (root / "vgg16.pth").write_bytes(fake + b"tampered")
    monkeypatch.setattr(download, "torchvision_url", lambda: f"{base}/vgg16.pth")
    _, settings = _settings(tmp_path)
    warned = []

    choice = weights_for_run(settings, warn=warned.append)

    assert choice.source == "hed"
    assert _files(checkpoints) == []                    # neither the file nor torch.hub's .partial
    [line] = warned
    assert "\n" not in line and "refused" in line and "nothing was kept" in line and "HED VGG16" in line
    assert stamp_path(settings.cache_path).is_file()    # not 528 MB again on every run of the day


def _silent_port(stack) -> int:
    """A port that accepts connections (the kernel does) and never answers: a stalled network."""
    silent = stack.enter_context(socket.socket())
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    return silent.getsockname()[1]


@pytest.mark.parametrize("network", ["refused", "never answers"])
def test_offline_a_run_knows_within_3_s_says_so_in_one_line_and_dreams_with_hed(network, closed_port, monkeypatch,
                                                                                tmp_path, checkpoints):
    with contextlib.ExitStack() as stack:
        port = closed_port if network == "refused" else _silent_port(stack)
        monkeypatch.setattr(download, "torchvision_url", lambda: f"http://127.0.0.1:{port}/models/{IMAGENET_FILE}")
        _, settings = _settings(tmp_path)
        warned = []
        started = time.monotonic()
        choice = weights_for_run(settings, warn=warned.append)
        took = time.monotonic() - started
    assert CONNECT_TIMEOUT_S == 3.0 and took < CONNECT_TIMEOUT_S + 0.5, took
    assert choice.source == "hed"
    [line] = warned
    assert "\n" not in line and "could not download" in line and "HED VGG16" in line
    assert "try again after" in line and "dreamtrip weights --download" in line
    assert _files(checkpoints) == []
    assert stamp_path(settings.cache_path).is_file()


def test_a_failed_try_is_not_repeated_for_a_day(served, tmp_path):
    _, settings = _settings(tmp_path)
    download.stamp_failure(settings.cache_path, "no answer (an earlier run)")

    assert weights_for_run(settings).source == "hed"
    assert served == []                                  # the stamp kept it from the network

    day_ago = time.time() - download.RETRY_AFTER_S - 60
    os.utime(stamp_path(settings.cache_path), (day_ago, day_ago))
    assert weights_for_run(settings).source == "imagenet"
    assert len(served) == 2


def test_download_never_never_connects(served, tmp_path, capsys):
    config, settings = _settings(tmp_path, "never")
    assert weights_for_run(settings).source == "hed"
    assert main(["weights", "-c", str(config)]) == 0
    assert main(["layers", "-c", str(config)]) == 0
    assert served == []
    assert not stamp_path(settings.cache_path).exists()


def test_layers_never_connects_and_says_a_run_would_fetch(served, tmp_path, capsys):
    config, _ = _settings(tmp_path)
    assert main(["layers", "-c", str(config)]) == 0
    assert served == [] and "A run first fetches ImageNet VGG16" in capsys.readouterr().out


def test_asked_for_imagenet_offline_is_a_set_up_error(closed_port, monkeypatch, tmp_path, checkpoints, capsys):
    monkeypatch.setattr(download, "torchvision_url", lambda: f"http://127.0.0.1:{closed_port}/{IMAGENET_FILE}")
    config, _ = _settings(tmp_path, source="imagenet")
    assert main(["weights", "-c", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dreamtrip: could not download") and "Traceback" not in err


def test_the_summary_hint_says_runs_fetch_by_themselves(tmp_path):
    fell_back = choose_weights("auto")
    assert "`dreamtrip weights --download` tries now" in upgrade_hint(fell_back, "auto")
    assert "runs fetch" not in upgrade_hint(fell_back, "never")

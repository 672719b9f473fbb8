"""What a run dreams at once, from the memory there is (pipeline/dream/memory.py), with fake
figures; and from the outside, a run under a memory cap too small for one dream: one line."""

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from bench.blog_bench import make_album
from pipeline.dream import memory
from pipeline.dream.model import LeanMaxPool2d
from pipeline.dream.objective import PLAIN

REPO = Path(__file__).resolve().parents[2]
NEED_1024 = memory.dream_need_mb(1024, memory.pass_bytes_per_pixel("conv4_2", 2), memory.CPU_SAFETY)


def test_plenty_of_memory_changes_nothing():
    fit = memory.fit_to_memory(1, 3000, NEED_1024, available=16000)
    assert (fit.dreams_at_once, fit.memory_mb, fit.note) == (1, 3000, None)


def test_fewer_dreams_at_once_where_they_would_not_fit():
    # 8 GB laptop with 6 GB free: 4800 usable - 1100 for the process = 3700 MB for dreams
    fit = memory.fit_to_memory(4, 3000, NEED_1024, available=6000)
    assert fit.dreams_at_once == 3700 // min(3000, round(NEED_1024 + 0.5)) < 4
    assert "dreams at once (tasks.dreams_at_once: 4)" in fit.note and "6000 MB available" in fit.note


def test_one_dream_in_tiles_when_it_alone_would_not_fit():
    fit = memory.fit_to_memory(2, 3000, need_mb=2500, available=2000)
    assert fit.dreams_at_once == 1
    assert fit.memory_mb == int(2000 * 0.8) - memory.PROCESS_MB  # the rest of what is there
    assert "tiles of 500 MB" in fit.note


def test_too_little_memory_for_one_dream_is_refused():
    with pytest.raises(memory.TooLittleMemory, match="1200 MB of memory available"):
        memory.fit_to_memory(1, 3000, NEED_1024, available=1200)


def test_unknown_memory_keeps_the_settings():
    assert memory.fit_to_memory(3, 3000, NEED_1024, available=None).dreams_at_once == 3


def test_available_memory_is_the_least_of_the_kernel_the_cgroup_and_the_address_space():
    meminfo = "MemTotal:  8000000 kB\nMemAvailable:  6144000 kB\n"
    assert memory.available_mb(meminfo, cgroup_max="max\n", address_room=None) == 6000
    assert memory.available_mb(meminfo, str(4 * 2**30), str(2**30)) == 3072   # a container's cap, 1 GB used
    assert memory.available_mb(meminfo, "max", address_room=2**30) == 1024     # ulimit -v


def test_the_lean_max_pool_gives_torchs_gradient_bit_for_bit():
    torch.manual_seed(0)
    for shape in [(1, 4, 8, 8), (1, 4, 9, 7), (2, 3, 5, 6)]:
        for dtype in (torch.float32, torch.bfloat16):
            x = torch.randint(-3, 4, shape).to(dtype).contiguous(memory_format=torch.channels_last)  # ties
            ours, theirs = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
            grad = torch.randn(shape[0], shape[1], shape[2] // 2, shape[3] // 2).to(dtype)
            (a,) = torch.autograd.grad(LeanMaxPool2d(2, 2)(ours), ours, grad)
            (b,) = torch.autograd.grad(F.max_pool2d(theirs, 2, 2), theirs, grad)
            assert torch.equal(a, b)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_the_plain_objective_gives_autograds_gradient_bit_for_bit_and_leaves_the_map_alone(dtype):
    torch.manual_seed(0)
    acts = (torch.randn(1, 8, 13, 11) * 3).to(dtype).contiguous(memory_format=torch.channels_last)
    ours, theirs = acts.clone().requires_grad_(True), acts.clone().requires_grad_(True)
    loss = PLAIN.loss(ours[..., 1:9, 2:7]) / 12345  # a tile's interior, over the map's count
    (a,) = torch.autograd.grad(loss, ours)
    (b,) = torch.autograd.grad(theirs[..., 1:9, 2:7].float().pow(2).sum() / 12345, theirs)
    assert torch.equal(loss, theirs[..., 1:9, 2:7].float().pow(2).sum() / 12345) and torch.equal(a, b)
    assert torch.equal(ours.detach(), acts)


def test_a_run_under_a_memory_cap_too_small_for_a_dream_says_so_in_one_line(tmp_path):
    album = tmp_path / "album"
    make_album(album, 1)
    cap = 1024 * 2**20  # 1 GB of address space: the command starts, a dream would not fit

    def capped():
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    result = subprocess.run([sys.executable, "-m", "flows.cli", "run", str(album), "-o", str(tmp_path / "out"),
                             "--device", "cpu"], capture_output=True, text=True, cwd=REPO, preexec_fn=capped,
                            env=dict(os.environ, PYTHONPATH=str(REPO), XDG_STATE_HOME=str(tmp_path / "state")),
                            timeout=120)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "MB of memory available" in errors[0], result.stderr
    assert "Traceback" not in result.stderr


MAPS = """\
7f0000000000-7f0000100000 r-xp 00000000 fd:01 11 /v/lib/python3.11/site-packages/nvidia/cu13/lib/libcublasLt.so.13
7f0000100000-7f0000200000 r--p 00100000 fd:01 12 /v/lib/python3.11/site-packages/torch/lib/libtorch_cuda.so
7f0000200000-7f0000300000 r-xp 00000000 fd:01 13 /v/lib/python3.11/site-packages/torch/lib/libtorch_cpu.so
7f0000300000-7f0000400000 r-xp 00000000 fd:01 14 /usr/lib/x86_64-linux-gnu/libcurl.so.4
7f0000400000-7f0000500000 r-xp 00000000 fd:01 15 /v/lib/python3.11/site-packages/cuda/bindings/cydriver.so
7f0000500000-7f0000600000 rw-p 00000000 00:00 0
7f0000600000-7f0000700000 r-xp 00000000 fd:01 16 /home/a b/site-packages/nvidia/nccl/lib/libnccl.so.2
"""


def test_only_the_gpu_libraries_are_handed_back():
    assert memory.gpu_library_ranges(MAPS) == [
        (0x7f0000000000, 0x7f0000100000), (0x7f0000100000, 0x7f0000200000),
        (0x7f0000400000, 0x7f0000500000), (0x7f0000600000, 0x7f0000700000)]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's madvise")
def test_a_cpu_process_that_hands_back_the_gpu_libraries_still_dreams():
    # The pages are dropped only where no other process maps them, so what is measured is that
    # torch's CUDA build's libraries were advised and the CPU still computes after it.
    script = (
        "import torch; from pipeline.dream.memory import give_back_gpu_libraries as g; n = g();"
        "x = torch.nn.functional.conv2d(torch.ones(1, 3, 8, 8), torch.ones(4, 3, 3, 3));"
        "print(n, float(x[0, 0, 1, 1]), torch.cuda.is_available() in (True, False))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120)
    advised, value, fine = done.stdout.split()
    cuda_build = torch.version.cuda is not None
    assert (int(advised) > 0) == cuda_build
    assert float(value) == 27.0 and fine == "True"

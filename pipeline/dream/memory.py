"""How much memory dreaming takes, and how much there is: what a run may dream at once.

Torch-free (the command asks before torch loads, and before any work); the engine calls
`return_freed_memory` once where torch does load.

Measured on a 2-core AMD EPYC, bf16, HED weights (BENCHMARKS.md, "Memory on a laptop"): a
`dreamtrip run` process holds ~0.95 GB before its first dream (torch's CUDA build alone 0.5-0.7 GB
of it, as much as the page cache makes resident; `give_back_gpu_libraries` hands back the GPU
libraries' part on a CPU run), and one 1024 px conv4_2 pass adds ~0.6 GB.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from pipeline.layers import CONV_LAYERS, LAYERS

# glibc serves allocations above this from their own mapping, handed back to the system when
# freed. Its default threshold rises as big blocks are freed (up to 32 MB), after which a dream's
# activations (26-103 MB each at 1024 px) come from the heap, where freed memory stays resident
# and fragments: measured, a 1024 px conv4_2 pass peaked 0.15 GB higher and kept 0.16 GB after.
_MMAP_THRESHOLD = 4 * 2**20
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter numbers
_M_ARENA_MAX = -8
# glibc gives each thread that allocates its own heap (arena), up to 8 per core, and freed memory
# stays in the arena it came from; a run's threads (Prefect's, the ingest's, torch's) are many.
_ARENAS = 2

# What a dreaming process holds besides its dreams' own tensors (measured, see above: 0.95 GB;
# rounded up for encoders and the decoded photos waiting their turn).
PROCESS_MB = 1100
# Of the memory available, what dreams may plan on: the rest for the system's own growth
# (page cache, other programs starting) so that the machine never swaps.
_USABLE_SHARE = 0.8
# A pass's memory over pass_bytes_per_pixel's count: allocator slack and transient buffers (measured).
CPU_SAFETY = 1.6
# The smallest pass budget worth dreaming with: below it the tiles' halos cost more than the tiles.
MIN_DREAM_MB = 256


def return_freed_memory() -> None:
    """Make freed big blocks go back to the system at once, and threads share few heaps (glibc;
    elsewhere nothing to do). Process-wide: called before a run's work starts, and again where
    the engine loads (a process that only dreams)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
        libc.mallopt(_M_ARENA_MAX, _ARENAS)
    except (OSError, AttributeError):  # musl or another libc without mallopt: its own policy stands
        pass


# The GPU libraries torch's CUDA build maps into every process that imports it: the pip-installed
# CUDA, cuBLAS, cuDNN, NCCL, NVRTC... (site-packages/nvidia/), CUDA's Python bindings, and torch's
# own CUDA halves (libtorch_cuda.so, libc10_cuda.so, libtorch_nvshmem.so).
_GPU_LIBRARY = re.compile(r"/site-packages/(nvidia|cuda/bindings)/"
                          r"|/torch/lib/lib(torch_cuda|c10_cuda|torch_nvshmem)\.so")
_MADV_PAGEOUT = 21  # Linux 5.4+: reclaim these pages now (clean file pages are dropped, never lost)


def give_back_gpu_libraries(maps: str | None = None) -> int:
    """On a CPU run, hand back the resident pages of the GPU libraries torch's CUDA build loads
    and a CPU dream never calls: ~140 MB and more of a 1024 px dream's peak (how much of them is
    resident varies from machine to machine: BENCHMARKS.md, "Memory on a laptop").
    MADV_PAGEOUT only drops clean pages read from the files (a later call reads them again);
    changed ones stay. Returns how many mappings were advised (0 where the kernel or the platform
    cannot). `maps`: /proc/self/maps's text, for tests."""
    if not sys.platform.startswith("linux"):
        return 0
    maps = _read("/proc/self/maps") if maps is None else maps
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        madvise = libc.madvise
    except (OSError, AttributeError):
        return 0
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    advised = 0
    for start, end in gpu_library_ranges(maps or ""):
        if madvise(start, end - start, _MADV_PAGEOUT) != 0:
            return advised  # an older kernel (EINVAL): nothing more to gain
        advised += 1
    return advised


def gpu_library_ranges(maps: str) -> list[tuple[int, int]]:
    """The address ranges in a /proc/PID/maps text that map GPU libraries' files."""
    ranges = []
    for line in maps.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and _GPU_LIBRARY.search(fields[5]):
            start, end = fields[0].split("-")
            ranges.append((int(start, 16), int(end, 16)))
    return ranges


# ---- how much there is ----

def available_mb(meminfo: str | None = None, cgroup_max: str | None = None,
                 cgroup_current: str | None = None, address_room: int | None = None) -> int | None:
    """Memory this process can still take without the system swapping, in MB: the kernel's
    MemAvailable, or less where a cgroup (a container, a systemd slice) caps it or a limit on
    the process's address space (`ulimit -v`) leaves less room; None when none is known (not
    Linux). Arguments: the files' texts and the room in bytes, for tests."""
    found = []
    meminfo = _read("/proc/meminfo") if meminfo is None else meminfo
    for line in (meminfo or "").splitlines():
        if line.startswith("MemAvailable:"):
            found.append(int(line.split()[1]) // 1024)
    cgroup_max = _read(_cgroup_file("memory.max")) if cgroup_max is None else cgroup_max
    if cgroup_max and cgroup_max.strip().isdigit():
        current = _read(_cgroup_file("memory.current")) if cgroup_current is None else cgroup_current
        used = int(current) if current and current.strip().isdigit() else 0
        found.append((int(cgroup_max) - used) // 2**20)
    room = _address_room() if address_room is None else address_room
    if room is not None:
        found.append(room // 2**20)
    return max(0, min(found)) if found else None


def _address_room() -> int | None:
    """Bytes of address space left under RLIMIT_AS (`ulimit -v`), or None when unlimited."""
    try:
        import resource
    except ImportError:  # not Unix
        return None
    limit, _hard = resource.getrlimit(resource.RLIMIT_AS)
    if limit == resource.RLIM_INFINITY:
        return None
    for line in (_read("/proc/self/status") or "").splitlines():
        if line.startswith("VmSize:"):
            return limit - int(line.split()[1]) * 1024
    return limit


def _cgroup_file(name: str) -> str:
    """This process's cgroup v2 file `name` (/sys/fs/cgroup/<its group>/name)."""
    group = ""
    for line in (_read("/proc/self/cgroup") or "").splitlines():
        if line.startswith("0::"):
            group = line[3:].strip().lstrip("/")
    return str(Path("/sys/fs/cgroup") / group / name)


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


# ---- how much a dream takes ----

def pass_bytes_per_pixel(layer: str, value_bytes: int) -> float:
    """Rough memory of a forward+backward to `layer`, per input pixel and batch element, its
    activations `value_bytes` wide (bf16: 2). The max pools keep no indices (model.LeanMaxPool2d)."""
    total = 3 * 4 * 3.0  # the image, its copy and its gradient, in fp32
    for conv in CONV_LAYERS[: CONV_LAYERS.index(LAYERS[layer]) + 1]:
        total += conv.channels / 4**conv.pools_before * value_bytes * 2  # saved activation + its gradient
    return total


def pass_mb(long_side: int, aspect: float, bytes_per_pixel: float) -> float:
    """MB of one untiled forward+backward pass over a dream of `long_side` px (the full-size
    octave, with its mirrored margins), at `bytes_per_pixel` (tiling.bytes_per_pixel)."""
    margin = 2 * 16  # engine.EDGE_MARGIN on each side
    pixels = (long_side + margin) * (round(long_side / aspect) + margin)
    return pixels * bytes_per_pixel / 2**20


@dataclass(frozen=True)
class MemoryFit:
    """What a run dreams at once and with how much memory each, for the memory there is."""

    dreams_at_once: int
    memory_mb: int                 # engine.memory_mb: a dream's pass budget (tiles above it)
    available_mb: int | None       # what was there; None: not known (not Linux)
    note: str | None = None        # said to the user when the settings were lowered


class TooLittleMemory(Exception):
    """Not even one dream fits in the memory there is (the message says what to do)."""


def fit_to_memory(dreams_at_once: int, memory_mb: int, need_mb: float, available: int | None,
                  process_mb: int = PROCESS_MB) -> MemoryFit:
    """`tasks.dreams_at_once` and `engine.memory_mb` as set, lowered where the dreaming process
    would not fit in `available` MB (available_mb()): first fewer dreams at once, then smaller
    tiles for each (the same dream, in more passes). `need_mb`: what the run's biggest dream
    takes in one pass (dream_need_mb). Raises TooLittleMemory when even one dream with the
    smallest tiles does not fit: better said before the run than a machine that swaps for hours
    or a process the kernel kills halfway."""
    if available is None:
        return MemoryFit(dreams_at_once, memory_mb, None)
    usable = int(available * _USABLE_SHARE) - process_mb
    if usable < MIN_DREAM_MB:
        raise TooLittleMemory(
            f"this machine has {available} MB of memory available and a dream needs at least "
            f"{math.ceil((process_mb + MIN_DREAM_MB) / _USABLE_SHARE)} MB: close other programs, "
            "or run where there is more")
    each = min(memory_mb, math.ceil(need_mb))   # what one dream takes as the settings stand
    at_once = max(1, min(dreams_at_once, usable // each))
    per_dream = min(memory_mb, usable // at_once)
    lowered = []
    if at_once < dreams_at_once:
        lowered.append(f"{at_once} dream{'s' if at_once > 1 else ''} at once (tasks.dreams_at_once: {dreams_at_once})")
    if per_dream < each:
        lowered.append(f"dreams in tiles of {per_dream} MB (engine.memory_mb: {memory_mb}; the same result, slower)")
    note = f"Memory: {available} MB available, so " + " and ".join(lowered) if lowered else None
    return MemoryFit(at_once, per_dream, available, note)


def dream_need_mb(long_side: int, bytes_per_pixel: float, safety: float) -> float:
    """MB one untiled dream of `long_side` px takes (a 4:3 photo: a 3:2 or a panorama takes
    less), as the engine's tile plan counts it: its pass at `bytes_per_pixel`, times `safety`."""
    return pass_mb(long_side, 4 / 3, bytes_per_pixel) * safety

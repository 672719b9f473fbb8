"""CUDA graphs of the dream's forward+backward pass, one per input shape and layer.

At a small octave one ascent step is about a hundred small kernels, and launching them one by
one from Python and autograd takes longer than the GPU takes to run them: the GPU waits (H200,
1024 px, 4 octaves: the engine 0.11-0.14 s per dream against a ~0.05 s bound). A CUDA graph
records the pass once and launches it as one unit. Graphs pay off only where launches dominate,
so big passes (and tiled ones) stay eager, and any failure to capture falls back to eager with a
warning: old torch, a driver that refuses, or memory.

Why not torch.compile(mode="reduce-overhead"): it records CUDA graphs too, but first compiles
each new shape (Triton and a C compiler on the machine; past its recompile limit, 8 by default,
it runs eagerly) for little else: the convolutions run in cuDNN either way. Not yet measured
against this on a GPU: bench/gpu_check.sh does.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

import torch

from pipeline.dream.tiling import whole_gradient

WARMUP_PASSES = 3              # PyTorch's recipe: cuDNN autotuning and the allocator settle first
MAX_GRAPH_PIXELS = 1_500_000   # above ~1.5 MP a pass keeps the GPU busy: a graph would only hold memory
MAX_GRAPHS = 16                # shapes x layers kept; the oldest is dropped beyond


@dataclass
class _Graph:
    graph: Any                  # torch.cuda.CUDAGraph
    static_in: torch.Tensor     # the graph reads its input here...
    static_grad: torch.Tensor   # ...and writes the gradient here

    def run(self, canvas: torch.Tensor) -> torch.Tensor:
        self.static_in.copy_(canvas)
        self.graph.replay()
        return self.static_grad.clone()  # the next replay overwrites the static output


class GraphCache:
    """Replays the pass from a CUDA graph captured on first sight of each (shape, layer, dtype).

    Thread-safe: the flow may dream several photos at once with one cached network, and a
    graph's static buffers must not be written by two of them between copy-in and read-out.
    """

    def __init__(self, net, max_pixels: int = MAX_GRAPH_PIXELS, max_graphs: int = MAX_GRAPHS):
        self.net, self.max_pixels, self.max_graphs = net, max_pixels, max_graphs
        self._graphs: OrderedDict[tuple, _Graph] = OrderedDict()
        self._refused: set[tuple] = set()
        self._pool = None  # one memory pool for all graphs: they never run at the same time
        self._lock = threading.Lock()

    def gradient(self, canvas: torch.Tensor, layer: str, dtype: torch.dtype) -> torch.Tensor | None:
        """The whole-canvas gradient, replayed; None where this pass is not graphed (run it eagerly)."""
        key = (tuple(canvas.shape), layer, dtype)
        if canvas[:, 0].numel() > self.max_pixels or key in self._refused:
            return None
        with self._lock:
            graph = self._graphs.get(key) or self._capture(key, canvas, layer, dtype)
            if graph is None:
                return None
            self._graphs.move_to_end(key)
            return graph.run(canvas)

    def _capture(self, key, canvas, layer, dtype) -> _Graph | None:
        static_in = canvas.detach().clone()
        try:
            graph, static_grad = record_graph(lambda: whole_gradient(self.net, static_in, layer, dtype),
                                              self._pool)
        except Exception as err:  # noqa: BLE001 - whatever the build or driver refuses, eager still works
            reason = (str(err).splitlines() or [""])[0]
            warnings.warn(f"CUDA graph capture failed for a {tuple(canvas.shape)} pass "
                          f"({type(err).__name__}: {reason}); running it eagerly", RuntimeWarning, stacklevel=3)
            self._refused.add(key)
            return None
        self._pool = self._pool or graph.pool()
        if len(self._graphs) >= self.max_graphs:
            self._graphs.popitem(last=False)
        self._graphs[key] = _Graph(graph, static_in, static_grad)
        return self._graphs[key]


def record_graph(work: Callable[[], torch.Tensor], pool=None) -> tuple[Any, torch.Tensor]:
    """Run `work` a few times on a side stream, then capture it: (the graph, its static output)."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(WARMUP_PASSES):
            work()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    # thread_local: other threads may dream eagerly on the GPU while this one captures
    with torch.cuda.graph(graph, pool=pool, capture_error_mode="thread_local"):
        output = work()
    return graph, output

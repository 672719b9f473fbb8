"""The engine's CUDA-only paths, exercised on the CPU: the out-of-memory retry with smaller tiles,
the tile plan of a 48 MP photo on an 80 GB GPU, the tile grid's shapes, and the CUDA graph
cache's bookkeeping (with a stand-in for the capture). That graphs dream what eager passes
dream is tested on a GPU only: a stand-in could only compare eager with eager."""

from __future__ import annotations

import copy
import random

import pytest
import torch

import pipeline.dream.graphs as graphs_module
import pipeline.dream.tiling as tiling
from pipeline.dream.engine import Dreamer, Guide, Passes, dream_tensor, load_dreamer, pil_to_tensor, tensor_to_pil
from pipeline.dream.graphs import GraphCache
from pipeline.layers import LAYERS
from pipeline.dream.model import InputNorm, build_dream_net, vgg16_features
from pipeline.config import DreamParams
from pipeline.dream.objective import GUIDE_MODES, GuideFeatures, guided_objective
from pipeline.dream.tiling import TilePlan, layer_gradient, tile_side, whole_gradient
from pipeline.dream.weights import choose_weights

PARAMS = DreamParams(octaves=2, octave_scale=1.4, steps=2, step_size=0.02, momentum=0.0, jitter=4, smoothing=0.5, seed=0,
                     precision="fp32")


@pytest.fixture(scope="module")
def net():
    """Random weights: these tests compare gradients, they need no trained network."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    return build_dream_net(vgg16_features("conv4_2").state_dict(), InputNorm(1.0, (0.5,) * 3, (0.25,) * 3),
                           "conv4_2")


def _regions_seen(monkeypatch, fail_first_at_pixels: int | None = None) -> list[tuple[int, int]]:
    """Record the shape of every pass; optionally fail the first pass of that many pixels with an OOM."""
    seen, real = [], tiling._region_gradient

    def recording(net, region, *args):
        seen.append(tuple(region.shape[-2:]))
        if fail_first_at_pixels and region[0, 0].numel() >= fail_first_at_pixels and len(seen) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(net, region, *args)

    monkeypatch.setattr(tiling, "_region_gradient", recording)
    return seen


# ---- out of memory: halve the tile, retry the step ----

@pytest.mark.parametrize("gpu", ["cuda", "mps"])
def test_gpu_out_of_memory_retries_the_step_with_smaller_tiles(net, monkeypatch, gpu):
    image = torch.rand(1, 3, 64, 64)
    expected = whole_gradient(net, image, "conv3_1", torch.float32)
    emptied = []
    monkeypatch.setattr(getattr(torch, gpu), "empty_cache", lambda: emptied.append(gpu))
    plan = TilePlan(max_pixels=64 * 64, device_type=gpu)  # fits in one pass: no tiles planned
    assert tile_side(plan, "conv3_1", image.shape) is None
    seen = _regions_seen(monkeypatch, fail_first_at_pixels=64 * 64)
    grad = layer_gradient(net, image, "conv3_1", torch.float32, plan, random.Random(0))
    assert seen[0] == (64, 64) and len(seen) > 2 and emptied == [gpu]  # the failed whole pass, then tiles
    assert all(h * w < 64 * 64 for h, w in seen[1:])
    assert (grad - expected).abs().max() <= 1e-6 * expected.abs().max()
    assert plan.max_pixels == 64 * 64 // 2  # the rest of the dream keeps the smaller passes
    seen.clear()
    layer_gradient(net, image, "conv3_1", torch.float32, plan, random.Random(0))
    assert seen and all(h * w < 64 * 64 for h, w in seen)


@pytest.mark.parametrize("plan", [None, TilePlan(max_pixels=64 * 64, device_type="cpu")])
def test_out_of_memory_on_a_cpu_is_not_retried(net, monkeypatch, plan):
    _regions_seen(monkeypatch, fail_first_at_pixels=64 * 64)
    with pytest.raises(torch.OutOfMemoryError):
        layer_gradient(net, torch.rand(1, 3, 64, 64), "conv3_1", torch.float32, plan, random.Random(0))


# ---- tile plans and the tile grid ----

def test_a_48_mp_photo_on_an_80_gb_gpu_fits_in_few_big_tiles(monkeypatch):
    gib = 2**30
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (78 * gib, 80 * gib))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device=None: 6 * gib)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: 2 * gib)
    plan = TilePlan.for_device(torch.device("cuda"), 3000, torch.bfloat16, ["conv5_2"])
    assert plan.device_type == "cuda" and plan.max_pixels > 40_000_000  # (78 + 4) GiB * 0.8 / 1348 B
    shape = (1, 3, 6000, 8000)
    assert tile_side(plan, "conv5_2", shape) is None  # the estimate allows one pass...
    plan.halve()  # ...and if the GPU disagrees, tiles of ~4700 px after one halving
    assert tile_side(plan, "conv5_2", shape) >= 4096


def test_cpu_plan_tiles_by_the_memory_budget():
    plan = TilePlan.for_device(torch.device("cpu"), 3000, torch.bfloat16, ["conv5_2"])
    assert tile_side(plan, "conv5_2", (1, 3, 683, 1024)) is None  # a 1024 px dream: one pass
    assert tile_side(plan, "conv5_2", (1, 3, 1365, 2048)) is not None


@pytest.mark.parametrize("layer", ["conv2_2", "conv3_1", "conv5_3"])
def test_tiles_cover_the_image_once_and_pass_at_one_shape(layer):
    stride, halo = tiling._stride_and_halo(layer)
    assert halo % stride == 0 and halo >= LAYERS[layer].receptive_field // 2
    rng = random.Random(0)
    for length in range(8 * stride, 40 * stride, 7):
        for tile in (4 * stride, 8 * stride, 16 * stride):
            spans, side = tiling._spans(length, tile, halo, stride, rng)
            assert spans[0][0] == 0 and spans[-1][1] == length
            assert all(a < b and b == c for (a, b), (c, _) in zip(spans, spans[1:]))  # a partition
            reaches = [tiling._reach(span, side + 2 * halo, halo, length, stride) for span in spans]
            for (start, stop), (lo, hi) in zip(spans, reaches):
                assert lo % stride == 0 and lo <= max(0, start - halo) and hi >= min(length, stop + halo)
            if len(spans) > 1:
                assert hi - lo < side + 2 * halo + stride and side <= tile
                assert len({hi - lo for lo, hi in reaches[:-1]}) == 1  # the last may be < a stride longer


# ---- CUDA graphs: the cache's bookkeeping (the capture stood in for), then the real thing ----

class _StandInGraph:
    """Replays by running the recorded work again and writing into its first output, as a
    CUDA graph writes into the memory it captured: so a replay sees only what the cache copied
    into the static input, and returns only what it copies out."""

    def __init__(self, work):
        self.work, self.output = work, work()

    def replay(self):
        self.output.copy_(self.work())

    def pool(self):
        return "shared pool"


@pytest.fixture
def captures(monkeypatch):
    made = []

    def record(work, pool=None):
        made.append(pool)
        graph = _StandInGraph(work)
        return graph, graph.output

    monkeypatch.setattr(graphs_module, "record_graph", record)
    return made


def test_each_replay_reads_its_own_input_and_a_shape_is_captured_once(net, captures):
    cache = GraphCache(net)
    first, second = torch.rand(1, 3, 48, 64), torch.rand(1, 3, 48, 64)
    for image in (first, second, first):
        graphed = cache.gradient(image, "conv3_1", torch.float32)
        assert torch.equal(graphed, whole_gradient(net, image, "conv3_1", torch.float32))
    assert captures == [None]  # one capture; it read each new input from its static buffer
    cache.gradient(torch.rand(1, 3, 32, 64), "conv3_1", torch.float32)
    assert captures == [None, "shared pool"]  # a new shape: a new graph, in the same memory pool
    held = cache.gradient(first, "conv3_1", torch.float32)
    cache.gradient(second, "conv3_1", torch.float32)
    assert torch.equal(held, whole_gradient(net, first, "conv3_1", torch.float32))  # a copy, not the buffer


def test_graphs_keep_only_the_most_recent_shapes(net, captures):
    cache = GraphCache(net, max_graphs=2)
    for height in (32, 40, 32, 48, 40):
        cache.gradient(torch.rand(1, 3, height, 32), "conv2_1", torch.float32)
    assert len(captures) == 4  # 32, 40, (32 reused), 48 drops 40, 40 again


def test_big_passes_and_refused_captures_run_eagerly(net, monkeypatch):
    too_big = torch.rand(1, 3, 48, 48)
    assert GraphCache(net, max_pixels=32 * 32).gradient(too_big, "conv2_1", torch.float32) is None

    def refuse(work, pool=None):
        raise RuntimeError("operation not permitted when stream is capturing")

    monkeypatch.setattr(graphs_module, "record_graph", refuse)
    cache = GraphCache(net)
    with pytest.warns(RuntimeWarning, match="running it eagerly"):
        assert cache.gradient(torch.rand(1, 3, 32, 32), "conv2_1", torch.float32) is None
    assert cache.gradient(torch.rand(1, 3, 32, 32), "conv2_1", torch.float32) is None  # not retried


def test_a_dream_captures_one_graph_per_size_class(net, captures):
    dream_tensor(Passes(net, size_step=32, graphs=GraphCache(net)), torch.rand(1, 3, 45, 61), "conv3_1", PARAMS)
    assert len(captures) == 2  # one per octave: with their mirrored margins, 64x64 and 96x96


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA GPU")
def test_a_dream_replayed_from_cuda_graphs_equals_the_eager_dream(net):
    gpu_net = copy.deepcopy(net).to("cuda", memory_format=torch.channels_last)
    image = torch.rand(1, 3, 45, 61, generator=torch.Generator().manual_seed(0)).to("cuda")
    eager = dream_tensor(Passes(gpu_net, size_step=32), image, "conv3_1", PARAMS)
    graphs = GraphCache(gpu_net)
    graphed = dream_tensor(Passes(gpu_net, size_step=32, graphs=graphs), image, "conv3_1", PARAMS)
    assert len(graphs._graphs) == 2 and not graphs._refused  # captured for real (an octave each), not run eagerly
    assert torch.allclose(graphed, eager, atol=1e-4)


def test_tiled_passes_are_not_graphed(net, captures):
    passes = Passes(net, plan=TilePlan(max_pixels=40 * 40), graphs=GraphCache(net))
    passes.gradient(torch.rand(1, 3, 64, 64), "conv2_1", (64, 64), random.Random(0))
    assert captures == []


def test_guided_passes_are_not_graphed(net, captures):
    """Graphs are keyed by shape and layer and capture the plain objective: a guided pass must
    run eagerly, or it would replay the plain dream."""
    with torch.no_grad():
        objective = guided_objective("matching", GuideFeatures.of(net(torch.rand(1, 3, 40, 40), ["conv2_1"])["conv2_1"]))
    passes, image = Passes(net, graphs=GraphCache(net)), torch.rand(1, 3, 32, 32)
    guided = passes.gradient(image, "conv2_1", (32, 32), random.Random(0), objective)
    eager = whole_gradient(net, image, "conv2_1", torch.float32, objective)
    assert captures == [] and torch.allclose(guided, eager, atol=1e-6 * eager.abs().max().item())
    passes.gradient(image, "conv2_1", (32, 32), random.Random(0))
    assert len(captures) == 1  # the plain pass still is


@pytest.mark.parametrize("mode", GUIDE_MODES)
def test_a_dreamer_computes_a_guides_features_once_per_layer_and_size(net, mode):
    dreamer = Dreamer(net, torch.device("cpu"))
    photo = tensor_to_pil(torch.rand(1, 3, 40, 56, generator=torch.Generator().manual_seed(1)))
    guide = Guide(tensor_to_pil(torch.rand(1, 3, 64, 48, generator=torch.Generator().manual_seed(2))), "ab" * 32, mode)
    first = dreamer.dream(photo, ["conv2_1", "conv3_1"], PARAMS, guide)
    dreamer.dream(photo, ["conv2_1"], PARAMS, guide)
    assert sorted(key[1:3] for key in dreamer._guides) == [("conv2_1", 56), ("conv3_1", 56)]
    [plain] = dreamer.dream(photo, ["conv2_1"], PARAMS)
    assert first[0].size == plain.size == photo.size
    assert (pil_to_tensor(first[0]) - pil_to_tensor(plain)).abs().max() > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("mode", GUIDE_MODES)
def test_a_guided_dream_on_cuda_in_bf16_dreams_as_on_the_cpu(net, mode):
    """The guide's features on the GPU, in bf16, with graphs on (a guided pass bypasses them)."""
    gpu_net = copy.deepcopy(net).to("cuda", memory_format=torch.channels_last)
    photo = tensor_to_pil(torch.rand(1, 3, 45, 61, generator=torch.Generator().manual_seed(0)))
    guide = Guide(tensor_to_pil(torch.rand(1, 3, 64, 48, generator=torch.Generator().manual_seed(2))), "ab" * 32, mode)
    bf16 = DreamParams(**{**PARAMS.as_dict(), "precision": "bf16"})
    [gpu] = Dreamer(gpu_net, torch.device("cuda"), size_step=32, graphs=GraphCache(gpu_net)).dream(photo, ["conv3_1"],
                                                                                                  bf16, guide)
    [cpu] = Dreamer(net, torch.device("cpu")).dream(photo, ["conv3_1"], PARAMS, guide)
    difference = (pil_to_tensor(gpu) - pil_to_tensor(cpu)).abs()
    assert gpu.size == photo.size and difference.mean() < 0.05


def test_graphs_asked_for_on_a_cpu_warn_and_dream_eagerly(weights_cache):
    with pytest.warns(RuntimeWarning, match="CUDA graphs need a CUDA device"):
        dreamer = load_dreamer(choose_weights("hed"), weights_cache, "conv1_2", "cpu", cuda_graphs=True)
    assert isinstance(dreamer, Dreamer) and dreamer.graphs is None and dreamer.size_step is None

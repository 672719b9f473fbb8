"""Memory of one dream step's forward+backward pass on the CPU: the tensors autograd keeps, and
the pass's peak over the process before it (issue 30).

    PYTHONPATH=. .venv/bin/python bench/pass_memory.py                        # 1024x768, conv4_2
    PYTHONPATH=. .venv/bin/python bench/pass_memory.py --size 2048x1536 --layer conv5_2

The image is the size's full-size octave with the engine's mirrored margins (as every step
passes it), random pixels (the memory does not depend on them), tiled as `engine.memory_mb`
says. The whole command's peak: `/usr/bin/time -v dreamtrip run ...` (BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.dream.memory import return_freed_memory  # noqa: E402

return_freed_memory()  # as a run does, before its work

import torch  # noqa: E402

from bench.machine import RssSampler, cpu_name, rss_mb  # noqa: E402
from pipeline.dream.engine import EDGE_MARGIN, load_dreamer  # noqa: E402
from pipeline.dream.spec import precision_on  # noqa: E402
from pipeline.dream.weights import choose_weights  # noqa: E402


def main() -> None:
    args = parse_args()
    width, height = map(int, args.size.split("x"))
    precision = args.precision or precision_on("auto", "cpu")
    dreamer = load_dreamer(choose_weights(args.weights), Path(args.cache_dir).expanduser(), args.layer, "cpu",
                           memory_budget_mb=args.memory_mb)
    passes = dreamer.passes(precision, [args.layer])
    shape = (height + 2 * EDGE_MARGIN, width + 2 * EDGE_MARGIN)
    image = torch.rand(1, 3, *shape).contiguous(memory_format=torch.channels_last)
    before = rss_mb()
    started = time.perf_counter()
    with RssSampler() as sampler:
        for step in range(args.steps):
            passes.gradient(image, args.layer, shape, random.Random(step))
    seconds = (time.perf_counter() - started) / args.steps
    saved = saved_bytes(dreamer.net, image, args.layer, passes.dtype)  # after: its untiled pass would raise the base
    print(f"{cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}, {precision}")
    print(f"{width}x{height} (pass {shape[1]}x{shape[0]}), {args.layer}, engine.memory_mb {args.memory_mb} "
          f"(passes of at most {passes.plan.max_pixels} px): kept for the backward pass {saved / 2**20:.0f} MB "
          f"(untiled); process {before:.0f} MB before, pass peak +{sampler.peak_mb - before:.0f} MB, "
          f"{seconds:.1f} s a step")


def saved_bytes(net, image, layer, dtype) -> int:
    """Bytes of the distinct tensors autograd keeps for one untiled pass."""
    seen = {}

    def pack(tensor):
        seen[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        with torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32, cache_enabled=False):
            from pipeline.dream.objective import PLAIN
            PLAIN.loss(net(image.requires_grad_(True), [layer])[layer])
    image.requires_grad_(False)
    return sum(seen.values())


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1024x768", help="the dream's WIDTHxHEIGHT")
    parser.add_argument("--layer", default="conv4_2")
    parser.add_argument("--precision", choices=["bf16", "fp32"], help="default: what `auto` picks here")
    parser.add_argument("--memory-mb", type=int, default=3000, help="engine.memory_mb")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--weights", default="hed")
    parser.add_argument("--cache-dir", default="~/.cache/dreamtrip", help="dreamtrip's weights cache")
    return parser.parse_args()


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# dreamtrip on a GPU, in one command (about 8-9 minutes of GPU time). From the project root,
# with the kit from ../shared/gpu/ packed into .gpu/ (see its README):
#
#   here:     bash ../shared/gpu/prepare.sh                  # once; then carry .gpu
#   on GPU:   bash bench/gpu_check.sh flow                   # ~2 min: step 0
#             bash bench/gpu_check.sh engine                 # ~8 min: steps 1-6 (a second call:
#                                                            #   one command may run 10 minutes)
# Everything is printed, and a copy kept in $OUT.
#
# What it measures (BENCHMARKS.md has the CPU side):
#  0. the real flow (bench/flow_bench.py): 12 photos of 12 MP at dream size 2048, 3 layers
#     (targets: flow/engine <= 1.5 and <= 0.35 s per (photo, layer)); needs the kit's Prefect;
#  1. 1024 px, conv5_2, 4 octaves x 1.8: eager vs CUDA graphs vs the classic reference, with the
#     bare forward+backward bound (target <= 0.065 s per dream, >= 3x classic, strength >= 90%);
#  2. torch.compile(mode="reduce-overhead") at the same size, for comparison (own time limit);
#  3. 2048 px, conv3_1 and conv5_2, octaves auto, eager vs graphs;
#  4. size classes: two photos a few px apart, first dream of each (autotuning paid once?),
#     with size classes on (64 px) and off;
#  5. a 48 MP photo at full size (octaves auto): tiles and memory on this GPU;
#  6. the same with torch capped to 30% of the GPU: the out-of-memory retry with halved tiles.
# Needs only torch and Pillow (and the weights from .gpu/weights.pt); no Prefect.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp}/gpu_check-${1:-all}.log
exec > >(tee "$out") 2>&1

part=${1:-all}
if [[ $part == flow || $part == all ]]; then
  source .gpu/activate.sh  # Prefect and exifread for the flow; the HED weights into the cache
  echo; echo "\$ flow_bench --photos 12 --dream-size 2048 --layers conv3_1 conv4_2 conv5_2 --device cuda"
  timeout 240 python3 bench/flow_bench.py --photos 12 --dream-size 2048 --layers conv3_1 conv4_2 conv5_2 \
    --device cuda --weights hed || echo "(flow_bench: exit $?)"
  [[ $part == flow ]] && exit 0
fi

python3 .gpu/pack_weights.py unpack .gpu/weights.pt >/dev/null  # -> ~/.cache/dreamtrip/weights
weights=~/.cache/dreamtrip/weights/vgg16-hed-4502df9d.pt
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
bench() { echo; echo "\$ dream_bench $*"; timeout "$1" python3 bench/dream_bench.py --device cuda --weights-file "$weights" "${@:2}" \
  || echo "(exit $? after at most $1 s)"; }

bench 120 --dream-size 1024 --layers conv5_2 --modes eager graphs --repeat 3 --bound
bench 150 --dream-size 1024 --layers conv5_2 --modes compile --repeat 3 --no-classic
bench 120 --dream-size 2048 --octaves auto --layers conv3_1 conv5_2 --modes eager graphs --repeat 2 --bound
bench 60 --photo synthetic:2040x1530 synthetic:2000x1500 --dream-size full --octaves auto --layers conv5_2 --no-classic
bench 60 --photo synthetic:2040x1530 synthetic:2000x1500 --dream-size full --octaves auto --layers conv5_2 --no-classic --size-step 0
bench 150 --photo synthetic:8000x6000 --dream-size full --octaves auto --steps 3 --layers conv5_2 --no-classic
bench 120 --photo synthetic:8000x6000 --dream-size full --octaves 1 --steps 2 --layers conv5_2 --no-classic \
  --gpu-memory-fraction 0.3
echo; echo "log: $out"

#!/usr/bin/env bash
# The device check on a lent GPU, in one go: the memory kernels' correctness on CUDA (tests/test_cuda.py),
# the speed benchmark against titans-pytorch, and the long-context scale benchmark. Logs and result
# JSON go to $OUT (default benchmarks/results/). Peer wheels, if any, are taken from .whl/.
set -uo pipefail
OUT=${OUT:-benchmarks/results}
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=$PYTHONPATH:/tmp/site
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -m pytest tests/test_cuda.py -q -p no:cacheprovider 2>&1 | tee "$OUT/test_cuda.log"
python3 benchmarks/memory_speed.py --device cuda 2>&1 | tee "$OUT/memory_speed_gpu.log"
python3 benchmarks/long_context.py scale --device cuda 2>&1 | tee "$OUT/long_context_scale_gpu.log"
[ "$OUT" = benchmarks/results ] || cp benchmarks/results/*-gpu.json "$OUT/"

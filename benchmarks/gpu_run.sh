#!/usr/bin/env bash
# The device check on a lent GPU, in one go: the memory kernels' correctness on CUDA (tests/test_cuda.py),
# the speed benchmark against titans-pytorch, the long-context scale benchmark and one forecasting
# benchmark (ETTh1, horizon 96). Logs and result JSON go to $OUT (default benchmarks/results/). Peer
# wheels, if any, are taken from .whl/. The device machine sees only the repository, so the data file
# travels in an ignored folder, carried with the call (never committed):
#   echo /.devdata/ >> .git/info/exclude; mkdir -p .devdata/ett; cp ../shared/data/ett/ETTh1.csv.gz .devdata/ett/
set -uo pipefail
OUT=${OUT:-benchmarks/results}
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} TITANS_SEQ_DATA=${TITANS_SEQ_DATA:-$PWD/.devdata}
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=$PYTHONPATH:/tmp/site
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -m pytest tests/test_cuda.py -q -p no:cacheprovider 2>&1 | tee "$OUT/test_cuda.log"
python3 benchmarks/memory_speed.py --device cuda 2>&1 | tee "$OUT/memory_speed_gpu.log"
python3 benchmarks/long_context.py scale --device cuda 2>&1 | tee "$OUT/long_context_scale_gpu.log"
python3 benchmarks/forecast.py --dataset ETTh1 --horizon 96 --model titans --device cuda 2>&1 | tee "$OUT/forecast_gpu.log"
[ "$OUT" = benchmarks/results ] || cp benchmarks/results/*-gpu.json "$OUT/"

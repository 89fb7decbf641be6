#!/usr/bin/env bash
# The device check on a lent GPU, in one go: the memory kernels' correctness on CUDA (tests/test_cuda.py),
# the speed benchmark against titans-pytorch, the long-context scale benchmark, then one forecasting
# benchmark (ETTh1, horizon 96) with any further forecast.py runs given as arguments beside it, e.g.
#   TITANS_SEQ_COMMIT=<hash> bash benchmarks/gpu_run.sh "--dataset weather --horizon 96 --seed 2023" ...
# (the hash typed out: the device's copy of .git is the session's first, so git there names an older commit).
# Every step is held to a deadline (DEADLINE seconds after the start, default 540) so that the logs and
# result JSON always come back: they are packed into one archive, $OUT/gpu_run-<time>.tar.gz (default OUT:
# benchmarks/results/), to unpack into benchmarks/results/. The forecasting runs split the host's cores between
# them (OMP_NUM_THREADS): the first attempt ran five at 16 threads each on 16 cores and none finished in eight
# minutes, and five processes of two threads on this 2-core machine run their small CPU operations (the
# cycle's warm start) 13 times slower than five of one thread. Peer and missing packages are taken as wheels
# from .whl/ (benchmarks/gpu_wheels.sh). The device machine sees only the repository, so the data files travel
# in an ignored folder, carried with the call (never committed):
#   echo /.devdata/ >> .git/info/exclude; mkdir -p .devdata/ett .devdata/weather
#   cp ../shared/data/ett/ETTh1.csv.gz .devdata/ett/; cp ../shared/data/weather/weather.csv.gz .devdata/weather/
set -uo pipefail
: "${TITANS_SEQ_COMMIT:?set TITANS_SEQ_COMMIT to the full hash of the commit that runs (see above)}"
START=$SECONDS
DEADLINE=${DEADLINE:-540}
OUT=${OUT:-benchmarks/results}
RUN=$(mktemp -d)
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} TITANS_SEQ_DATA=${TITANS_SEQ_DATA:-$PWD/.devdata}
export TITANS_SEQ_RESULTS=$RUN
# Written beside its place and renamed into it: a run stopped while tar writes leaves no truncated archive there.
# The run's folder goes once archived (or once the archive failed: its logs were printed as each step ended).
archive() {
  local to; to="$OUT/gpu_run-$(date -u +%Y%m%d-%H%M%S).tar.gz"
  tar -czf "$to.part" -C "$RUN" . && mv "$to.part" "$to"
  rm -rf "$RUN"
}
trap archive EXIT
left() { echo $((DEADLINE - (SECONDS - START))); }
step() {  # step SECONDS LOG COMMAND...: run COMMAND for at most SECONDS (and never past the deadline)
  local limit=$1 log=$2; shift 2
  ((limit > $(left))) && limit=$(left)
  if ((limit < 5)); then echo "skipped (deadline): $*" | tee "$RUN/$log"; return; fi
  timeout "$limit" "$@" > "$RUN/$log" 2>&1
  echo "rc $? after $((SECONDS - START)) s: $*"
}

if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=$PYTHONPATH:/tmp/site
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$RUN/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$RUN/gpu.txt"
python3 -c "import titans_pytorch, jsonargparse, Bio" || echo "missing packages: see benchmarks/gpu_wheels.sh"
step 150 test_cuda.log python3 -m pytest tests/test_cuda.py -q -p no:cacheprovider
tail -3 "$RUN/test_cuda.log"
step 200 memory_speed_gpu.log python3 benchmarks/memory_speed.py --device cuda
sed -n 1,12p "$RUN/memory_speed_gpu.log"
# The by-length table takes about 100 s on an H200 and the stream reads 5k tokens/s (MAC, one segment at a time),
# so the default 1M-token stream cannot finish in a step; 262,144 tokens show its flat peak memory as well, and one
# timed pass a cell (the default takes the median of three) keeps the table inside the step.
step 200 long_context_scale_gpu.log python3 benchmarks/long_context.py scale --device cuda --stream-tokens 262144 --repeats 1
runs=$(($# + 1))
threads=$(($(nproc) / runs))
export OMP_NUM_THREADS=$((threads > 0 ? threads : 1))
i=0
for args in "$@"; do  # word splitting of $args is wanted: each argument is one run's flags
  i=$((i + 1))
  step "$DEADLINE" "forecast_extra_$i.log" python3 benchmarks/forecast.py $args --device cuda &
done
step "$DEADLINE" forecast_gpu.log python3 benchmarks/forecast.py --dataset ETTh1 --horizon 96 --model titans --device cuda
wait
grep -h '^{' "$RUN"/forecast*.log

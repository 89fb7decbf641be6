#!/usr/bin/env bash
# The wheels benchmarks/gpu_run.sh needs on the device machine, downloaded here into .whl/ (ignored, carried
# with the call). That machine has Python 3.12 with PyTorch, Lightning, pandas, scikit-learn, torchmetrics and
# einops, and no registry; these are the runtime and peer packages it lacks, at constraints.txt's versions,
# without their dependencies, so the list must name every one of them (titans-pytorch's included):
#   echo /.whl/ >> .git/info/exclude; bash benchmarks/gpu_wheels.sh
set -euo pipefail
cd "$(dirname "$0")/.."
NAMES="jsonargparse docstring_parser typeshed_client biopython titans-pytorch assoc-scan accelerated-scan
       axial_positional_embedding einx frozendict hyper-connections loguru rotary-embedding-torch tensordict pyvers
       x-transformers torch-einops-utils"
pins=()
for name in $NAMES; do
  pin=$(grep -i -E "^${name//[-_]/[-_]}==" constraints.txt) || { echo "constraints.txt pins no $name" >&2; exit 1; }
  pins+=("$pin")
done
python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl "${pins[@]}"

#!/usr/bin/env bash
# The GPU figures in one run (<= 8 minutes on an H100/H200-class device):
#   bash benchmarks/gpu.sh            # on a CUDA machine: writes benchmarks/results/gpu.md
#   bash benchmarks/gpu.sh --dry-run  # the same steps, tiny, on the CPU (CI runs this)
# Installs nothing when the environment already has synthvae with the bench extra; otherwise
# installs only that (never torch: the machine's CUDA build is used as found).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
if ! "$PYTHON" -c "import synthvae, ctgan, pyarrow" 2>/dev/null; then
    "$PYTHON" -m pip install --quiet --no-deps -e . && "$PYTHON" -m pip install --quiet "ctgan==0.12.1" pyarrow
fi
exec timeout 480 "$PYTHON" -m benchmarks.gpu "$@"

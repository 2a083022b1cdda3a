#!/usr/bin/env bash
# The main job end to end on the bundled Adult slice (8,000 rows):
# fit a model, sample 100,000 rows, print a short summary. Run it with `make demo`.
set -euo pipefail
venv=${1:-.venv}
here=$(cd "$(dirname "$0")" && pwd)
out=demo-out
mkdir -p "$out"
"$venv/bin/synthvae" fit "$here/adult.csv.gz" -o "$out/model.safetensors"
"$venv/bin/synthvae" sample -n 100000 -m "$out/model.safetensors" -o "$out/synthetic.csv" --seed 1
"$venv/bin/python" "$here/summarize.py" "$here/adult.csv.gz" "$out/synthetic.csv"

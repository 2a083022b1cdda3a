"""Sampling speed side by side in one process: ``python -m benchmarks.sampling [--rows N]``.

Both models are fitted on adult for 1 epoch (sampling cost depends on the encoded layout, not
on how long the model trained), then ``sample(rows)`` alternates between them ``--repeats``
times so that load drift hits both alike. Writes benchmarks/results/sampling.json.
"""

from __future__ import annotations

import argparse
import os
import statistics

from benchmarks.common import machine, timed, write_json
from benchmarks.data import load_dataset
from benchmarks.models import make_model
from synthvae import detect_schema


def main() -> None:
    import torch

    p = argparse.ArgumentParser(prog="python -m benchmarks.sampling")
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--models", default="synthvae,ctgan",
                   help="comma-separated (see benchmarks.models.make_model), e.g. "
                   "synthvae,synthvae:factorized,ctgan; ctgan must be among them")
    p.add_argument("--name", default="sampling", help="results file name")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    train = load_dataset("adult").train
    schema = detect_schema(train)
    models = {name: make_model(name, schema, 0, 1) for name in args.models.split(",")}
    for model in models.values():
        model.fit(train)
    runs = {name: [] for name in models}
    for _ in range(args.repeats):
        for name, model in models.items():
            runs[name].append(round(timed(model.sample, args.rows)[1], 3))
    medians = {name: statistics.median(r) for name, r in runs.items()}
    result = {"machine": machine(), "threads": torch.get_num_threads(), "rows": args.rows,
              "load": round(os.getloadavg()[0], 2), "runs_s": runs, "median_s": medians,
              "rows_per_s": {n: round(args.rows / s) for n, s in medians.items()},
              "speedup_vs_ctgan": {n: round(medians["ctgan"] / s, 2)
                                   for n, s in medians.items() if n != "ctgan"}}
    print(result)
    write_json(args.name, result)


if __name__ == "__main__":
    main()

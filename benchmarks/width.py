"""Fit cost against table width: ``python -m benchmarks.width [--rows N] [--columns ...]``.

Fits a Synthesizer at its defaults (or ``--epochs``) on ``--rows`` rows of 10 to 3,000
numeric columns (:func:`benchmarks.scale.mixture_table`: 1-4 modes each, every third skewed)
and records, per width, the transformer fit, the training loop, the marginal calibration and
the whole fit, in seconds and per column. Writes benchmarks/results/width.json and the plot
benchmarks/results/width.png (matplotlib, the ``plot`` extra); benchmarks/results/scale.md
quotes them.
"""

from __future__ import annotations

import argparse
import os
import time

from benchmarks.common import RESULTS, machine, write_json
from benchmarks.scale import mixture_table

COLUMNS = (10, 30, 100, 300, 1000, 3000)


def fit_once(rows: int, columns: int, epochs: int | None) -> dict:
    from synthvae import Synthesizer

    df = mixture_table(rows, columns)
    start = time.perf_counter()
    synth = Synthesizer(epochs=epochs, seed=0, verbose=False).fit(df)
    fit = time.perf_counter() - start
    summary = synth.training_summary_
    calibration = (summary.get("calibration") or {}).get("seconds", 0.0)
    out = {"rows": rows, "columns": columns, "encoded_width": summary["encoded_width"],
           "epochs_run": summary["epochs_run"], "fit_s": round(fit, 2),
           "transform_s": summary["transform_seconds"], "calibration_s": calibration,
           "calibration_rows": (summary.get("calibration") or {}).get("rows"),
           "train_and_after_s": summary["train_seconds"]}
    out["calibration_share"] = round(calibration / fit, 3)
    out["fit_ms_per_column"] = round(1000 * fit / columns, 1)
    return out


def plot(runs: list[dict], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = [r["columns"] for r in runs]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label in (("fit_s", "whole fit"), ("transform_s", "transformer"),
                       ("calibration_s", "calibration")):
        left.plot(cols, [r[key] for r in runs], marker="o", label=label)
    left.set(xscale="log", yscale="log", xlabel="numeric columns", ylabel="seconds")
    left.legend()
    right.plot(cols, [r["fit_ms_per_column"] for r in runs], marker="o")
    right.set(xscale="log", xlabel="numeric columns", ylabel="fit ms per column")
    fig.suptitle(f"synthvae fit cost against width ({runs[0]['rows']:,} rows)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    import torch

    p = argparse.ArgumentParser(prog="python -m benchmarks.width")
    p.add_argument("--rows", type=int, default=10_000)
    p.add_argument("--columns", type=int, nargs="+", default=list(COLUMNS))
    p.add_argument("--epochs", type=int, default=None, help="default: the Synthesizer's")
    p.add_argument("--name", default="width")
    args = p.parse_args()
    result = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": machine(),
              "threads": torch.get_num_threads(), "load_at_start": round(os.getloadavg()[0], 2),
              "epochs": args.epochs, "runs": []}
    for columns in args.columns:
        result["runs"].append(fit_once(args.rows, columns, args.epochs))
        print(result["runs"][-1], flush=True)
        write_json(args.name, result)
    plot(result["runs"], RESULTS / f"{args.name}.png")


if __name__ == "__main__":
    main()

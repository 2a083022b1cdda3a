"""What a cheaper wide fit would cost in fidelity (issue 19.2): ``python -m
benchmarks.wide_budget --rows 2000 --columns 300 --modes 10 3 --epochs auto 60 20``.

A 10,000 x 3,000 fit at defaults takes ~45 minutes on the 2-core VM (results/scale.md): about
3,900 steps of 500 rows x 31,600 encoded columns. The two levers that would bring it near 5
minutes are fewer modes per numeric column (the encoded width, so the cost of a step) and
fewer steps. This fits a correlated wide table (:func:`factor_table`: five latent factors,
every third column bimodal, every third skewed) with each combination of ``--modes`` (the
mixture's components per column, ``N_MODES``) and ``--epochs`` (``auto``: the default step
budget with early stopping), and scores the rows: Column Shapes (1 - mean KS statistic over
the columns), all-pairs trends (1 - mean |Pearson r difference| / 2, as sdmetrics) and the
mean correlation error of the pairs with |r| > 0.3. One JSON line per fit in
``results/wide-budget.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import pandas as pd

from benchmarks.common import RESULTS, machine, patched


def factor_table(rows: int, columns: int, seed: int = 0) -> pd.DataFrame:
    """Columns driven by five shared factors: Gaussian, bimodal (a factor's sign adds 3), or
    skewed (exponential of the first kind)."""
    rng = np.random.default_rng(seed)
    factors = rng.normal(size=(rows, 5))
    x = factors @ rng.normal(size=(5, columns)) / np.sqrt(5) + \
        rng.normal(size=(rows, columns)) * 0.5
    j = np.arange(columns)
    bimodal, skewed = j % 3 == 1, j % 3 == 2
    x[:, bimodal] += 3 * (factors[:, j[bimodal] % 5] > 0)
    x[:, skewed] = np.exp(x[:, skewed] / 2)
    return pd.DataFrame(x, columns=[f"x{i}" for i in range(columns)])


def scores(real: pd.DataFrame, synthetic: pd.DataFrame) -> dict:
    from scipy.stats import ks_2samp

    shapes = np.mean([1 - ks_2samp(real[c], synthetic[c]).statistic for c in real.columns])
    r_real, r_syn = (np.corrcoef(df.to_numpy().T) for df in (real, synthetic))
    upper = np.triu_indices(len(r_real), 1)
    error = np.abs(r_real[upper] - r_syn[upper]) / 2
    strong = np.abs(r_real[upper]) > 0.3
    return {"column_shapes": round(float(shapes), 4),
            "pair_trends": round(float(1 - error.mean()), 4),
            "strong_pair_error": round(float(error[strong].mean()), 4) if strong.any() else None}


def fit_once(df: pd.DataFrame, modes: int, epochs: int | None, seed: int) -> dict:
    import synthvae.transforms.continuous as continuous
    from synthvae import Synthesizer

    start = time.perf_counter()
    with patched(continuous, "N_MODES", modes):
        synth = Synthesizer(epochs=epochs, seed=seed, verbose=False).fit(df)
    seconds = time.perf_counter() - start
    summary = synth.training_summary_
    return {"modes": modes, "epochs": epochs, "seed": seed,
            "encoded_width": summary["encoded_width"], "epochs_run": summary["epochs_run"],
            "fit_s": round(seconds, 1), "transform_s": summary["transform_seconds"],
            **scores(df, synth.sample(len(df), seed=seed + 1))}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.wide_budget")
    p.add_argument("--rows", type=int, default=2000)
    p.add_argument("--columns", type=int, default=300)
    p.add_argument("--modes", type=int, nargs="+", default=[10, 3])
    p.add_argument("--epochs", nargs="+", default=["auto", "60", "20"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", default="wide-budget")
    args = p.parse_args(argv)
    df = factor_table(args.rows, args.columns, args.seed)
    path = RESULTS / f"{args.name}.jsonl"
    with path.open("a") as out:
        command = " ".join(["python -m benchmarks.wide_budget", *(argv or sys.argv[1:])])
        out.write(json.dumps({"header": {"command": command, "machine": machine(),
                                         "rows": args.rows, "columns": args.columns}}) + "\n")
        for modes in args.modes:
            for epochs in args.epochs:
                run = fit_once(df, modes, None if epochs == "auto" else int(epochs), args.seed)
                out.write(json.dumps({"rows": args.rows, "columns": args.columns, **run}) + "\n")
                out.flush()
                print(run, flush=True)


if __name__ == "__main__":
    main()

"""Where a table's strong-pair trends error sits (issue 16): one fit at defaults, then, for
each numeric pair sdmetrics counts as strong (|real Pearson| >= 0.5), Pearson, Spearman and
Pearson of log(1 + |x|) in the real and the synthetic rows, and how the pair behaves in the
top 1 % of its first column (mean of the second, Pearson within that tail)::

    python -m benchmarks.pair_tails shoppers 0
    python -m benchmarks.pair_tails shoppers 0 min_mode_rows=25   # a setting changed

Arguments: TABLE SEED, then Synthesizer settings ``name=value`` (a Python literal). One JSON
line on stdout (``results/pair-tails.jsonl`` holds the runs quoted in structure.md).
"""
from __future__ import annotations

import ast
import json
import sys
import time
import warnings

import numpy as np
import pandas as pd
import torch

from benchmarks.common import strong_pair_trends
from benchmarks.data import load_dataset
from synthvae import Synthesizer, detect_schema

STRONG = 0.5
TAIL = 0.99


def pair_figures(frame: pd.DataFrame, a: str, b: str, cut: float) -> dict:
    x, y = frame[a].astype(float), frame[b].astype(float)
    tail = x > cut
    return {"pearson": round(x.corr(y), 3), "spearman": round(x.corr(y, method="spearman"), 3),
            "log_pearson": round(np.log1p(x.abs()).corr(np.log1p(y.abs())), 3),
            "tail_mean_b": round(float(y[tail].mean()), 1),
            "tail_pearson": round(x[tail].corr(y[tail]), 3) if tail.sum() > 2 else None}


def strong_numeric_pairs(real: pd.DataFrame) -> list[tuple[str, str]]:
    numeric = [c for c in real.columns
               if pd.api.types.is_numeric_dtype(real[c]) and real[c].nunique() > 15]
    corr = real[numeric].corr()
    return [(a, b) for i, a in enumerate(numeric) for b in numeric[i + 1:]
            if abs(corr.loc[a, b]) >= STRONG]


def strong_pair_figures(real: pd.DataFrame, synthetic: pd.DataFrame) -> list[dict]:
    """:func:`pair_figures` of every strong numeric pair, real and synthetic, the tail cut
    at the real first column's TAIL quantile."""
    pairs = []
    for a, b in strong_numeric_pairs(real):
        cut = float(real[a].quantile(TAIL))
        pairs.append({"pair": [a, b], "real": pair_figures(real, a, b, cut),
                      "synthetic": pair_figures(synthetic, a, b, cut)})
    return pairs


def fitted_at_defaults(name: str, seed: int, **params):
    """(dataset, detected schema, Synthesizer fitted on its training rows with ``params``
    beside the defaults), one torch thread, warnings off: what each tail probe starts from."""
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    data = load_dataset(name)
    schema = detect_schema(data.train)
    synth = Synthesizer(seed=seed, schema=schema, verbose=False, **params).fit(data.train)
    return data, schema, synth


def main(argv=None) -> None:
    name, seed, *settings = argv or sys.argv[1:]
    seed = int(seed)
    params = {key: ast.literal_eval(value)
              for key, value in (setting.split("=", 1) for setting in settings)}
    start = time.time()
    data, _, synth = fitted_at_defaults(name, seed, **params)
    fit_s = time.time() - start
    synthetic = synth.sample(len(data.train), seed=seed + 1)
    pairs = strong_pair_figures(data.train, synthetic)
    strong = strong_pair_trends(data.train, synthetic,
                                detect_schema(data.train).to_sdmetrics_metadata())
    print(json.dumps({"table": name, "seed": seed, "params": params, "fit_s": round(fit_s, 1),
                      "strong_pair_trends": strong,
                      "tail_quantile": TAIL, "pairs": pairs}), flush=True)


if __name__ == "__main__":
    main()

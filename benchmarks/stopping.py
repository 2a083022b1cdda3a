"""Early stopping: the former rule against the current one, on small tables (issue 21).

``python -m benchmarks.stopping RULE TABLE ROWS SEED`` fits ``Synthesizer(seed=SEED)`` at
defaults on ROWS random rows of a shared TABLE (or on the ``line`` table: y = 2x plus noise)
and prints one JSON line: epochs run, fit seconds, and the dependence kept (mean |2x - y| on
``line``; otherwise real-bins pair trends and HistGradientBoosting ML efficacy, trained on the
synthetic rows, tested on up to 2,000 other real rows). RULE ``former`` is the rule before
issue 21 (patience in epochs, no smoothing, no step floor), ``default`` the current one.
"""

from __future__ import annotations

import json
import sys
import time
import warnings

import numpy as np
import pandas as pd

from benchmarks.common import load

RULES = {  # stopping.PATIENCE_STEPS, MIN_STEPS, SMOOTHING
    "former": (0, 0, 1.0),
    "default": None,
}
TARGETS = {"titanic": "survived", "diamonds": "price", "california": "median_house_value",
           "bank": "y", "adult_train": "income"}


def line_table(n: int, seed: int) -> pd.DataFrame:
    """y = 2x plus noise; independent columns would give mean |2x - y| of about 667."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1000, n)
    return pd.DataFrame({"x": x, "y": 2 * x + rng.normal(0, 10, n)})


def split(name: str, rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    df = load(name)
    order = np.random.default_rng(1234 + seed).permutation(len(df))
    train = df.iloc[order[:rows]].reset_index(drop=True)
    if name == "adult_train":
        return train, load("adult_test").sample(2000, random_state=0)
    return train, df.iloc[order[rows:rows + min(2000, len(df) - rows)]].reset_index(drop=True)


def dependence(name: str, train, test, fake, seed: int) -> dict:
    from synthvae import detect_schema
    from synthvae.reports.efficacy import ml_efficacy
    from synthvae.reports.encoding import canonical_frame
    from synthvae.reports.fidelity import pair_trends_real_bins

    schema = detect_schema(train)
    tables = {k: canonical_frame(v, schema) for k, v in
              (("real", train), ("synthetic", fake), ("holdout", test))}
    found = ml_efficacy(tables, schema, TARGETS[name], seed)
    metric = found["primary_metric"]
    return {"trends_real_bins": round(pair_trends_real_bins(
                train, fake, schema.to_sdmetrics_metadata()), 4),
            "metric": metric, "ml_synthetic": round(found["synthetic"][metric], 4),
            "ml_real": round(found["real"][metric], 4)}


def run(rule: str, name: str, rows: int, seed: int) -> dict:
    import synthvae.stopping as stopping
    from synthvae import Synthesizer

    if RULES[rule] is not None:
        stopping.PATIENCE_STEPS, stopping.MIN_STEPS, stopping.SMOOTHING = RULES[rule]
    train, test = (line_table(rows, seed), None) if name == "line" else split(name, rows, seed)
    started = time.perf_counter()
    synth = Synthesizer(verbose=False, seed=seed).fit(train)
    out = {"rule": rule, "table": name, "rows": rows, "seed": seed,
           "fit_s": round(time.perf_counter() - started, 2), "epochs": len(synth.history_)}
    fake = synth.sample(5000 if name == "line" else max(rows, 2000), seed=seed + 1)
    if name == "line":
        out["mean_abs_2x_minus_y"] = round(float(np.mean(np.abs(2 * fake.x - fake.y))), 1)
    else:
        out.update(dependence(name, train, test, fake, seed))
    return out


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    rule, table, rows, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    print(json.dumps(run(rule, table, rows, seed)), flush=True)

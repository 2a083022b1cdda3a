"""A thin tail under DP, with and without the modes that cover the stretches of a column's
bounds no released mode reaches (``synthvae.privacy._with_gap_modes``)::

    python -m benchmarks.dp_tails > benchmarks/results/dp-tails.jsonl

The table: 20,000 ages, a bulk around 40 and 3 % drawn thinly over 65-90 (the test
suite's ``tailed_ages``; 2.66 % above 66), and a category. Public bounds tight (17-90, the data's range) and
loose (0-120, 0-200); epsilon 1 and 3, automatic epochs, seed 0. Per fit: the share of
sampled ages above 66 (real: 2.66 %), outside the real range 17-90 (real: 0), and quantiles.
"Without" replaces the gap modes by the released modes alone (the code before them), in this
process only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.common import gap_modes_enabled
from synthvae import Synthesizer

BOUNDS = ((17.0, 90.0), (0.0, 120.0), (0.0, 200.0))
EPSILONS = (1.0, 3.0)
ROWS = 20_000


def table(rows: int = ROWS) -> pd.DataFrame:
    """The ages (the test suite's ``tailed_ages``, imported here only) and a category."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from test_privacy import tailed_ages

    rng = np.random.default_rng(2)
    return pd.DataFrame({"age": tailed_ages(rows, rng),
                         "group": rng.choice(["a", "b"], size=rows)})


def schema(low: float, high: float) -> dict:
    """The public schema with ages bounded by [low, high]."""
    return {"columns": [
        {"name": "age", "kind": "continuous", "dtype": "float64", "nullable": False,
         "min": low, "max": high},
        {"name": "group", "kind": "categorical", "dtype": "object", "nullable": False,
         "categories": ["a", "b"]}]}


def measure(real: pd.DataFrame, low: float, high: float, epsilon: float, gap_modes: bool
            ) -> dict:
    """One DP fit (with or without the gap modes) and where its sampled ages fall."""
    with gap_modes_enabled(gap_modes):
        synth = Synthesizer(epsilon=epsilon, schema=schema(low, high), verbose=False, seed=0)
        ages = synth.fit(real).sample(len(real), seed=1)["age"]
    return {"gap_modes": gap_modes, "bounds": [low, high], "epsilon": epsilon,
            "share_above_66": round(float((ages > 66).mean()), 4),
            "real_share_above_66": round(float((real["age"] > 66).mean()), 4),
            "share_outside_real_range": round(float(((ages < 17) | (ages > 90)).mean()), 4),
            "quantiles_0.001_0.01_0.5_0.99_0.999":
                np.round(np.quantile(ages, [0.001, 0.01, 0.5, 0.99, 0.999]), 1).tolist()}


def main() -> None:
    import torch

    torch.set_num_threads(1)
    real = table()
    for low, high in BOUNDS:
        for epsilon in EPSILONS:
            for gap_modes in (False, True):
                print(json.dumps(measure(real, low, high, epsilon, gap_modes)), flush=True)


if __name__ == "__main__":
    main()

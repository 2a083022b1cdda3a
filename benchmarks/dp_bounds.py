"""How often DP-released bounds land far from the data: ``python -m benchmarks.dp_bounds
[--draws N]`` -> ``dp-bounds.json``.

Each of Adult's six numeric columns gets ``synthvae.privacy.dp_bounds`` N times at epsilon
0.01 and 0.1 (a column's share of the preprocessing budget at a total epsilon of about 0.5
and 5), with today's rule for which noisy bins hold data and with the rule before the
ninth step of dp.md (every bin over 1 + ln(bins) / epsilon). A bound is *far* when it is more
than 4 times beyond the data (above 4x the maximum, or below -4x the minimum's size).
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from benchmarks.common import machine, patched, write_json
from benchmarks.data import load_dataset

COLUMNS = ("age", "fnlwgt", "education-num", "capital-gain", "capital-loss",
           "hours-per-week")


def single_threshold(noisy: np.ndarray, epsilon: float) -> np.ndarray:
    """The rule before: every bin whose noisy count clears 1 + ln(bins) / epsilon."""
    return noisy > 1.0 + math.log(len(noisy)) / epsilon


def far(low: float, high: float, values: np.ndarray) -> bool:
    """Whether a bound is more than 4 times beyond the data."""
    top, bottom = values.max(), values.min()
    return bool(high > 4 * max(top, 1.0) or low < -4 * max(abs(bottom), 1.0))


def far_share(table, epsilon: float, draws: int, seed: int = 0) -> float:
    """Share of (column, draw) releases with a far bound."""
    from synthvae import privacy

    rng = np.random.default_rng(seed)
    hits = [far(*privacy.dp_bounds(values, epsilon, rng), values)
            for values in (table[c].to_numpy(float) for c in COLUMNS) for _ in range(draws)]
    return float(np.mean(hits))


def main() -> None:
    from synthvae import privacy

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, default=200)
    args = parser.parse_args()
    table = load_dataset("adult").train
    rows = []
    for rule in ("before", "now"):
        with patched(privacy, "bounds_bins", single_threshold, rule == "before"):
            for epsilon in (0.01, 0.1):
                rows.append({"rule": rule, "epsilon": epsilon, "draws": args.draws,
                             "far_share": round(far_share(table, epsilon, args.draws), 4)})
                print(rows[-1], flush=True)
    print(write_json("dp-bounds", {"machine": machine(), "columns": list(COLUMNS),
                                   "runs": rows}))


if __name__ == "__main__":
    main()

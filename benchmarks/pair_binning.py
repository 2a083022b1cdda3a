"""Where a DP fit loses sdmetrics' all-pairs trends: per numeric column of Adult, the real and
synthetic range and the mean trend score of the pairs it is in, scored two ways (sdmetrics'
QualityReport, which cuts each table's numbers on that table's own range, and the real data's
edges), for a DP fit with and without the modes that reach the bounds
(``synthvae.privacy._with_gap_modes``)::

    python -m benchmarks.pair_binning [--epsilon 1] [--seed 0]   # -> dp-pair-binning.json

(another epsilon or seed: ``dp-pair-binning-epsE-sS.json``)

Public schema and defaults as ``benchmarks.dp``; "without" replaces the gap modes by the
released modes alone (the code before them), in this process only.
"""

from __future__ import annotations

import sys
import warnings

import pandas as pd

from benchmarks.common import gap_modes_enabled, load, machine, write_json
from benchmarks.dp import adult_public_schema
from synthvae import Synthesizer


def pair_scores(real: pd.DataFrame, synthetic: pd.DataFrame, numbers: list[str]
                ) -> pd.DataFrame:
    """One row per column pair: sdmetrics' all-pairs score and the real-edges score."""
    from sdmetrics.column_pairs import ContingencySimilarity
    from sdmetrics.reports.single_table import QualityReport

    metadata = {"columns": {c: {"sdtype": "numerical" if c in numbers else "categorical"}
                            for c in real.columns}}
    report = QualityReport()
    report.real_correlation_threshold = report.real_association_threshold = 0
    report.generate(real, synthetic, metadata, verbose=False)
    rows = []
    for _, pair in report.get_details("Column Pair Trends").iterrows():
        a, b = pair["Column 1"], pair["Column 2"]
        continuous = [c for c in (a, b) if c in numbers]
        real_edges = pair["Score"] if len(continuous) != 1 else \
            ContingencySimilarity.compute_breakdown(
                real[[a, b]], synthetic[[a, b]], continuous_column_names=continuous)["score"]
        rows.append({"a": a, "b": b, "sdmetrics": float(pair["Score"]),
                     "real_edges": float(real_edges)})
    return pd.DataFrame(rows)


def per_column(real: pd.DataFrame, synthetic: pd.DataFrame) -> dict:
    """Per numeric column: both ranges and the mean pair score both ways; and overall."""
    numbers = [c for c in real.columns if pd.api.types.is_numeric_dtype(real[c])]
    scores = pair_scores(real, synthetic, numbers)
    out = {}
    for name in numbers:
        mine = scores[(scores.a == name) | (scores.b == name)]
        out[name] = {"real_range": [float(real[name].min()), float(real[name].max())],
                     "synthetic_range": [float(synthetic[name].min()),
                                         float(synthetic[name].max())],
                     "pairs_sdmetrics": round(float(mine.sdmetrics.mean()), 3),
                     "pairs_real_edges": round(float(mine.real_edges.mean()), 3)}
    return {"columns": out, "all_pairs_sdmetrics": round(float(scores.sdmetrics.mean()), 4),
            "all_pairs_real_edges": round(float(scores.real_edges.mean()), 4)}


def fit_and_sample(train, test, epsilon: float, seed: int, gap_modes: bool) -> pd.DataFrame:
    """A train-size sample of a DP fit at the defaults, with or without the gap modes."""
    with gap_modes_enabled(gap_modes):
        synth = Synthesizer(epsilon=epsilon, schema=adult_public_schema(train, test),
                            verbose=False, seed=seed).fit(train)
    return synth.sample(len(train), seed=seed + 1)


def main() -> None:
    import torch

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    epsilon = float(sys.argv[sys.argv.index("--epsilon") + 1]) if "--epsilon" in sys.argv \
        else 1.0
    seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 0
    train, test = load("adult_train"), load("adult_test")
    results = {"machine": machine(), "epsilon": epsilon, "seed": seed}
    for gap_modes in (False, True):
        synthetic = fit_and_sample(train, test, epsilon, seed, gap_modes)
        results["with_gap_modes" if gap_modes else "without_gap_modes"] = \
            per_column(train, synthetic)
        print(results, flush=True)
    name = "dp-pair-binning" + ("" if (epsilon, seed) == (1.0, 0) else f"-eps{epsilon:g}-s{seed}")
    print(write_json(name, results))


if __name__ == "__main__":
    main()

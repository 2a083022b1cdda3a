"""Conditional sampling on Adult: speed and fidelity to the real subset (issue 7).

For a common, a range and a rare condition: rows per second of ``sample(n, conditions=...)``
against rejection from unconditional samples (what SDV falls back to), and Column Shapes of
each against the real rows meeting the condition (the conditioned columns left out). A floor
for the latter: the Adult *test* rows meeting the condition scored against the training rows
meeting it (two real samples of the same law).

    python -m benchmarks.conditional            # writes benchmarks/results/conditional.json
"""

from __future__ import annotations

import sys
import time

import pandas as pd

from benchmarks.common import load, machine, write_json
from synthvae import Synthesizer

CONDITIONS = {
    "common: sex=Female": {"sex": "Female"},
    "range: age=30..40": {"age": (30, 40)},
    "rare: age=70.. and income=>50K": {"age": (70, None), "income": ">50K"},
}
ROWS = 10_000
REJECTION_BUDGET = 2_000_000  # unconditional rows drawn at most by the rejection baseline


def meets(df: pd.DataFrame, conditions: dict) -> pd.Series:
    ok = pd.Series(True, index=df.index)
    for column, wanted in conditions.items():
        if isinstance(wanted, tuple):
            low, high = wanted
            ok &= df[column].between(-float("inf") if low is None else low,
                                     float("inf") if high is None else high)
        else:
            ok &= df[column] == wanted
    return ok


def column_shapes(real: pd.DataFrame, synthetic: pd.DataFrame, metadata: dict,
                  skip: list[str]) -> float:
    import warnings

    from sdmetrics.reports.single_table import QualityReport

    keep = [c for c in real.columns if c not in skip]
    meta = dict(metadata, columns={c: metadata["columns"][c] for c in keep})
    report = QualityReport()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report.generate(real[keep], synthetic[keep], meta, verbose=False)
    scores = report.get_properties().set_index("Property")["Score"]
    return round(float(scores["Column Shapes"]), 4)


def rejection(synth: Synthesizer, conditions: dict, n: int) -> tuple[pd.DataFrame, float, int]:
    """Rows meeting ``conditions`` by filtering unconditional samples; (rows, seconds, drawn)."""
    started, kept, drawn, seed = time.perf_counter(), [], 0, 100
    while sum(len(k) for k in kept) < n and drawn < REJECTION_BUDGET:
        batch = synth.sample(100_000, seed=seed)
        kept.append(batch[meets(batch, conditions)])
        drawn, seed = drawn + len(batch), seed + 1
    rows = pd.concat(kept, ignore_index=True).head(n)
    return rows, time.perf_counter() - started, drawn


def main() -> None:
    train, test = load("adult_train"), load("adult_test")
    epochs = 5 if "--quick" in sys.argv else None
    synth = Synthesizer(epochs=epochs, verbose=False, seed=0).fit(train)
    metadata = synth.schema_.to_sdmetrics_metadata()
    results = {"machine": machine(), "rows_asked": ROWS, "fit_s": synth.training_summary_[
        "fit_seconds"], "conditions": []}
    for label, conditions in CONDITIONS.items():
        real = train[meets(train, conditions)]
        real_test = test[meets(test, conditions)]
        skip = list(conditions)
        started = time.perf_counter()
        conditional = synth.sample(ROWS, seed=1, conditions=conditions)
        seconds = time.perf_counter() - started
        assert len(conditional) == ROWS and meets(conditional, conditions).all()
        rejected, rejection_s, drawn = rejection(synth, conditions, ROWS)
        row = {
            "condition": label, "real_rows": int(len(real)),
            "real_share": round(len(real) / len(train), 5),
            "conditional_s": round(seconds, 2),
            "conditional_rows_per_s": round(ROWS / seconds),
            "pool_effective_size_per_row": [round(x, 2) for x in
                                            synth.conditional_effective_sizes_[:3]],
            "rejection_rows": int(len(rejected)), "rejection_drawn": drawn,
            "rejection_s": round(rejection_s, 2),
            "rejection_rows_per_s": round(len(rejected) / rejection_s),
            "shapes_conditional": column_shapes(real, conditional, metadata, skip),
            "shapes_rejection": column_shapes(real, rejected, metadata, skip)
            if len(rejected) >= 50 else None,
            "shapes_floor_test_vs_train": column_shapes(real, real_test, metadata, skip)
            if len(real_test) >= 20 else None,
        }
        results["conditions"].append(row)
        print(row, flush=True)
    print(write_json("conditional", results))


if __name__ == "__main__":
    main()

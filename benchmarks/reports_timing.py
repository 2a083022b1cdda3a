"""Time ``synthvae.reports.evaluate`` on full Adult and record the real-vs-real floor.

    python -m benchmarks.reports_timing [--synthetic adult_synthetic.csv] [--repeats 3]

* floor: Adult test (16,281 rows) scored as if it were synthetic against Adult train
  (32,561 rows): what a perfect synthesizer would get;
* full: Adult train as real, Adult test as holdout, and a train-size synthetic sample from
  ``Synthesizer(epochs=60).fit(train).sample(len(train), seed=1)`` (trained here unless
  ``--synthetic`` gives a saved sample), with target ``income`` and attribute inference on
  age, sex, race -> income: every section on.

Prints a markdown summary and writes the numbers to benchmarks/results/reports-timing.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import pandas as pd

from benchmarks.common import RESULTS, load, machine

PRIVACY = ("exact_copies_seconds", "dcr_seconds", "membership_inference_seconds",
           "attribute_inference_seconds")
FLOOR_KEYS = ("column_shapes", "column_pair_trends", "column_pair_trends_all_pairs",
              "logistic_detection", "gb_detection_auc", "alpha_precision", "beta_recall",
              "authenticity", "dcr_synthetic_median")


def synthetic_sample(train: pd.DataFrame, path: Path | None) -> pd.DataFrame:
    if path is not None:
        return pd.read_csv(path)
    from synthvae import Synthesizer

    return Synthesizer(epochs=60, verbose=False).fit(train).sample(len(train), seed=1)


def full_run(train, synthetic, holdout, html: Path | None) -> dict:
    from synthvae.reports import evaluate

    start = time.perf_counter()
    report = evaluate(train, synthetic, holdout=holdout, target="income",
                      key_columns=["age", "sex", "race"], sensitive_columns=["income"])
    wall = time.perf_counter() - start
    if html is not None:
        report.write_html(html)
    privacy = sum(report.timing[k] or 0 for k in PRIVACY)
    return {"wall_seconds": round(wall, 2), "privacy_seconds": round(privacy, 2),
            "timing": report.timing, "summary": report.summary}


def floor_run(train, test) -> dict:
    from synthvae.reports import evaluate

    report = evaluate(train, test)
    return {"summary": {k: report.summary[k] for k in FLOOR_KEYS},
            "total_seconds": report.timing["total_seconds"]}


def markdown(floor: dict, runs: list[dict]) -> str:
    walls = [r["wall_seconds"] for r in runs]
    privacy = [r["privacy_seconds"] for r in runs]
    s = floor["summary"]
    lines = [
        f"Full report, Adult (real 32,561, holdout 16,281, synthetic 32,561 rows), "
        f"{len(runs)} runs: wall median {statistics.median(walls):.1f} s "
        f"(min {min(walls):.1f}, max {max(walls):.1f}); privacy sections median "
        f"{statistics.median(privacy):.1f} s (min {min(privacy):.1f}, max {max(privacy):.1f}).",
        "",
        f"Load average (1, 5, 15 min) at the end: "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores.",
        "",
        "| section | seconds (median) |", "|---|---:|",
    ]
    for key in runs[0]["timing"]:
        values = [r["timing"][key] for r in runs if r["timing"][key] is not None]
        if values:
            lines.append(f"| {key.removesuffix('_seconds')} | {statistics.median(values):.2f} |")
    lines += ["", "Floor (Adult test scored against Adult train):", "",
              "| number | value |", "|---|---:|"]
    lines += [f"| {k} | {s[k]:.4f} |" for k in FLOOR_KEYS]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", type=Path, help="saved synthetic sample (CSV)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--html", type=Path, help="write the last full report's HTML here")
    args = parser.parse_args()
    train, test = load("adult_train"), load("adult_test")
    synthetic = synthetic_sample(train, args.synthetic)
    floor = floor_run(train, test)
    runs = [full_run(train, synthetic, test, args.html) for _ in range(args.repeats)]
    result = {"machine": machine(), "load_average_after": os.getloadavg(), "floor": floor,
              "runs": runs}
    (RESULTS / "reports-timing.json").write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(floor, runs))


if __name__ == "__main__":
    main()

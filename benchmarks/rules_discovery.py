"""What the report's rules discovery finds on each table and what it costs (issue 16): the
training split of every shared table, and a constructed 1,000,000-row table with a
30,000-value zip code that determines its city beside ten numbers of ~40,000 values each
(candidates that determine nothing)::

    python -m benchmarks.rules_discovery --name rules-discovery

Writes ``benchmarks/results/<name>.json``: per table the rows, seconds (median of
``--repeats``), the columns examined and the dependencies found; and the machine.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.common import machine
from benchmarks.data import SPECS, load_dataset
from synthvae import detect_schema
from synthvae.reports.encoding import canonical_frame
from synthvae.reports.rules import discover_rules

RESULTS = Path(__file__).parent / "results"


def zip_table(rows: int = 1_000_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    zips = rng.integers(0, 30_000, rows)
    numbers = {f"amount{i}": np.round(rng.gamma(2, 500, rows), 1) for i in range(10)}
    return pd.DataFrame({"zip": zips.astype(str), "city": (zips // 15).astype(str), **numbers})


def measure(name: str, table: pd.DataFrame, repeats: int) -> dict:
    schema = detect_schema(table)
    frame = canonical_frame(table, schema)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        rules = discover_rules(frame, schema)
        seconds.append(time.perf_counter() - start)
    return {"table": name, "rows": len(table), "seconds": round(statistics.median(seconds), 3),
            "columns_examined": len(rules.columns_examined["functional_dependencies"]),
            "dependencies": [f"{d.determinant} -> {d.dependent}"
                             for d in rules.functional_dependencies],
            "zero_support_pairs": len(rules.zero_support_pairs),
            "inequalities": len(rules.inequalities)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default=",".join(SPECS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--name", default="rules-discovery")
    args = parser.parse_args(argv)
    found = [measure(name, load_dataset(name).train, args.repeats)
             for name in args.tables.split(",") if name]
    found.append(measure("zip@1000000", zip_table(), args.repeats))
    for row in found:
        print(json.dumps(row), flush=True)
    out = {"tables": found, "machine": machine()}
    (RESULTS / f"{args.name}.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()

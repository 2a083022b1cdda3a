"""Does synthvae's CSV reader (only empty cells missing outside columns of numbers, dates and
true/false values; leading-zero codes kept as text) read the shared tables as pandas'
defaults do? Per table: columns whose dtype or missing count differs::

    python -m benchmarks.csv_reading   # writes results/csv-reading.json
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from benchmarks.common import DATASETS
from synthvae.io import read_table

RESULTS = Path(__file__).parent / "results" / "csv-reading.json"


def differences(path) -> dict:
    ours, theirs = read_table(path), pd.read_csv(path, low_memory=False)
    return {"rows": len(ours), "columns": len(ours.columns),
            "dtype_differs": {c: [str(theirs[c].dtype), str(ours[c].dtype)]
                              for c in theirs if str(theirs[c].dtype) != str(ours[c].dtype)},
            "missing_differs": {c: [int(theirs[c].isna().sum()), int(ours[c].isna().sum())]
                                for c in theirs
                                if theirs[c].isna().sum() != ours[c].isna().sum()}}


def main() -> None:
    tables = {path.name: differences(path) for path in sorted(DATASETS.glob("*.csv.gz"))}
    RESULTS.write_text(json.dumps(tables, indent=1))
    print(json.dumps(tables))


if __name__ == "__main__":
    main()

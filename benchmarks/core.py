"""Core figures of issue 2, measured on this machine: ``python -m benchmarks.core``.

- the table transformer fit on Adult (median of 3);
- ``synthvae fit`` at defaults on Adult (32,561 rows) and ``synthvae sample -n 100000``,
  through the CLI as a user runs them, with the output's columns, dtypes and categories checked;
- sdmetrics quality of a train-size sample (all column pairs counted);
- every shared dataset fitted for 2 epochs and sampled, output schema checked.
Writes benchmarks/results/core.json; core.md is written from it by hand with the context.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from benchmarks.common import DATASETS, load, machine, median_seconds, quality, timed, write_json
from synthvae import Synthesizer, detect_schema
from synthvae.transforms.table import TableTransformer


def transformer_fit_seconds(df: pd.DataFrame) -> dict:
    schema = detect_schema(df)
    median, runs = median_seconds(lambda: TableTransformer(schema).fit(df), repeats=3)
    return {"median_s": round(median, 3), "runs_s": [round(r, 3) for r in runs]}


def cli_fit_and_sample(path: Path, workdir: Path) -> dict:
    def run(*args):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "synthvae", *args], cwd=workdir, check=True,
                       capture_output=True)
        return time.perf_counter() - start

    fit_s = run("fit", str(path), "--quiet")
    sample_s = run("sample", "-n", "100000", "--quiet")
    real = pd.read_csv(path)
    synthetic = pd.read_csv(workdir / "synthetic.csv")
    same = {
        "rows": len(synthetic), "columns": list(synthetic.columns) == list(real.columns),
        "dtypes": synthetic.dtypes.equals(real.dtypes),
        "categories": all(set(synthetic[c].dropna()) <= set(real[c].dropna())
                          for c in real.columns if real[c].dtype == object)}
    return {"cli_fit_s": round(fit_s, 1), "cli_sample_100k_s": round(sample_s, 2), **same}


def api_quality(df: pd.DataFrame, seeds=(0, 1, 2)) -> list[dict]:
    rows = []
    for seed in seeds:
        synth, fit_s = timed(lambda: Synthesizer(seed=seed, verbose=False).fit(df))
        synthetic, sample_s = timed(lambda: synth.sample(100_000, seed=seed))
        scores = quality(df, synthetic.iloc[:len(df)], synth.schema_.to_sdmetrics_metadata())
        rows.append({"seed": seed, "fit_s": round(fit_s, 1), "sample_100k_s": round(sample_s, 2),
                     "epochs_run": synth.training_summary_["epochs_run"], **scores})
    return rows


def every_dataset() -> list[dict]:
    rows = []
    for path in sorted(DATASETS.glob("*.csv.gz")):
        name = path.name[: -len(".csv.gz")]
        df = load(name)
        synth, fit_s = timed(lambda: Synthesizer(epochs=2, verbose=False).fit(df))
        out = synth.sample(1000, seed=0)
        rows.append({"dataset": name, "rows": len(df), "fit_2_epochs_s": round(fit_s, 1),
                     "columns_match": list(out.columns) == list(df.columns),
                     "dtypes_match": out.dtypes.equals(df.dtypes)})
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    adult = load("adult_train")
    results = {"machine": machine(), "transformer_fit_adult": transformer_fit_seconds(adult)}
    print(results, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        results["cli_adult"] = cli_fit_and_sample(DATASETS / "adult_train.csv.gz", Path(tmp))
    print(results["cli_adult"], flush=True)
    results["quality_adult"] = api_quality(adult)
    print(results["quality_adult"], flush=True)
    if "--skip-all" not in sys.argv:
        results["every_dataset"] = every_dataset()
    print(write_json("core", results))


if __name__ == "__main__":
    main()

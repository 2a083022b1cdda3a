"""synthvae's DP fit, smartnoise-synth's MST and AIM side by side (issue 18, item 5):
``python -m benchmarks.dp_compare [--tables adult,bank,shoppers] [--seeds 3]
[--epsilons 1,3,10] [--methods synthvae,mst,aim] [--quick] [--sn-python PATH]
[--aim-rounds N] [--name NAME] [--summarize]`` (``--summarize``: rewrite the JSON and print
the table from the runs logged so far, fitting nothing; ``--aim-rounds``: AIM with another cap
on its rounds, written to ``dp-compare-aim-roundsN.json``; ``--name``: write ``NAME.jsonl`` and
``NAME.json`` instead).

Per table, seed and epsilon, every method gets the same training rows, the same epsilon, the
same delta (0.1 / rows, synthvae's default, under 1 / rows) and the same public schema: the
category lists and numeric bounds of :func:`public_schema` (Adult's documented domain; for
the other tables the values and ranges of the whole file, treated as public). So no method
spends budget on bounds or category lists. synthvae runs at its DP defaults (10 % of epsilon
buys its mode histograms); MST and AIM give all of epsilon to their measurements on
equal-width bins of the public bounds (:func:`numeric_bins`). MST and AIM run in their own
virtual environment (``benchmarks/dp_smartnoise.py``) and write sample CSVs; every sample is
scored here by the same code: sdmetrics Column Shapes and all-pairs Column Pair Trends
(:func:`benchmarks.common.quality`), and HistGradientBoosting trained on the sample, tested on
the real test split (:func:`benchmarks.common.ml_efficacy_scores`).

Runs go seed by seed (seed 0 of every table and epsilon first). Every scored run is appended
to ``dp-compare.jsonl`` as it ends; ``dp-compare.json`` gathers them with per-method medians.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.common import RESULTS, ROOT, machine, ml_efficacy_scores, quality, timed
from benchmarks.data import Dataset, load_dataset
from benchmarks.dp import adult_public_schema

MISSING = "__missing__"  # stands for an empty categorical cell on the smartnoise side
BINS = 20  # equal-width bins of a wide numeric column for MST and AIM
MAX_EXACT_BINS = 32  # an integer column with at most this many values gets one bin per value
# AIM's cost bound: degree-2 workload, model size and rounds capped (defaults: 80 MB and
# 16 rounds per column, far beyond a few minutes on one thread here).
AIM_SETTINGS = {"degree": 2, "max_model_size": 10, "rounds": 20, "max_cells": 10_000}
SN_PYTHON = "/work/sn-venv/bin/python"
METHODS = ("synthvae", "mst", "aim")


def public_schema(data: Dataset) -> dict:
    """A synthvae schema dict holding the table's public domain: category lists and numeric
    bounds over train and test (Adult: its documented bounds, UCI adult.names)."""
    if data.name.startswith("adult"):
        return adult_public_schema(data.train, data.test)
    both = pd.concat([data.train, data.test], ignore_index=True)
    return {"columns": [column_domain(name, both[name]) for name in both.columns]}


def column_domain(name: str, values: pd.Series) -> dict:
    nullable = bool(values.isna().any())
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        integer = pd.api.types.is_integer_dtype(values)
        low, high = values.min(), values.max()
        return {"name": name, "kind": "continuous", "nullable": nullable,
                "dtype": str(values.dtype), "integer": integer,
                "min": int(low) if integer else float(low),
                "max": int(high) if integer else float(high)}
    categories = sorted(values.dropna().unique().tolist(), key=str)
    return {"name": name, "kind": "categorical", "nullable": nullable,
            "dtype": str(values.dtype), "categories": categories}


def numeric_bins(schema: dict) -> dict:
    """{column: [lower, upper, bins]} for smartnoise's BinTransformer: one bin per value
    (centred on it) for an integer column with at most MAX_EXACT_BINS values, else BINS
    equal-width bins over the public bounds (a bin decodes to its midpoint)."""
    out = {}
    for column in schema["columns"]:
        if column["kind"] != "continuous":
            continue
        low, high = column["min"], column["max"]
        if column.get("integer") and high - low + 1 <= MAX_EXACT_BINS:
            out[column["name"]] = [low - 0.5, high + 0.5, int(high - low + 1)]
        else:
            out[column["name"]] = [low, high, BINS]
    return out


def categorical_names(schema: dict) -> list[str]:
    return [c["name"] for c in schema["columns"] if c["kind"] == "categorical"]


def to_smartnoise(df: pd.DataFrame, categorical: list[str]) -> pd.DataFrame:
    """Categorical cells as text, empty ones as MISSING (smartnoise cannot encode nulls)."""
    out = df.copy()
    for name in categorical:
        out[name] = df[name].astype(object).where(df[name].notna(), MISSING).astype(str)
    return out


def from_smartnoise(sample: pd.DataFrame, schema: dict) -> pd.DataFrame:
    """A smartnoise sample back in the training frame's types: MISSING to empty, category
    text to the schema's values (bools, integer codes), integer columns rounded."""
    out = {}
    for column in schema["columns"]:
        name, values = column["name"], sample[column["name"]]
        if column["kind"] == "categorical":
            by_text = {str(v): v for v in column["categories"]}
            out[name] = values.astype(str).map(by_text)  # MISSING (or unknown) -> NaN
            if column["dtype"] != "object" and not out[name].isna().any():
                out[name] = out[name].astype(column["dtype"])
        elif column.get("integer"):
            out[name] = np.round(pd.to_numeric(values)).astype("int64")
        else:
            out[name] = pd.to_numeric(values)
    return pd.DataFrame(out)


def smartnoise_spec(train_csv: Path, schema: dict, delta: float, runs: list[dict],
                    timings: Path, aim: dict = AIM_SETTINGS) -> dict:
    """The JSON that benchmarks/dp_smartnoise.py reads."""
    return {"train": str(train_csv), "categorical": categorical_names(schema),
            "bins": numeric_bins(schema), "delta": delta, "aim": aim,
            "runs": runs, "timings": str(timings)}


def run_smartnoise(data: Dataset, schema: dict, delta: float, methods, epsilons, seed: int,
                   folder: Path, sn_python: str, aim: dict) -> dict:
    """Fit MST / AIM in the smartnoise venv; {(method, epsilon): (sample, fit_s)}."""
    train_csv = folder / "train.csv"
    to_smartnoise(data.train, categorical_names(schema)).to_csv(train_csv, index=False)
    runs = [{"method": m, "epsilon": e, "seed": seed, "out": str(folder / f"{m}-eps{e:g}.csv")}
            for e in epsilons for m in methods]
    timings = folder / "timings.jsonl"
    spec_path = folder / "spec.json"
    spec_path.write_text(json.dumps(smartnoise_spec(train_csv, schema, delta, runs, timings, aim)))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"}
    subprocess.run([sn_python, "-m", "benchmarks.dp_smartnoise", str(spec_path)], cwd=ROOT,
                   env=env, check=True)
    seconds = {(t["method"], t["epsilon"]): t["fit_s"]
               for t in map(json.loads, timings.read_text().splitlines())}
    dtypes = {name: str for name in categorical_names(schema)}
    return {(r["method"], r["epsilon"]): (from_smartnoise(pd.read_csv(
        r["out"], dtype=dtypes, keep_default_na=False), schema), seconds[r["method"],
                                                                       r["epsilon"]])
            for r in runs}


def fit_synthvae(data: Dataset, schema: dict, delta: float, epsilon: float, seed: int):
    """(sample, fit seconds) of synthvae's DP fit at its defaults with the public schema."""
    from synthvae import Synthesizer

    synth, seconds = timed(lambda: Synthesizer(epsilon=epsilon, delta=delta, schema=schema,
                                               seed=seed, verbose=False).fit(data.train))
    return synth.sample(len(data.train), seed=seed + 1), seconds


def score(data: Dataset, synthetic: pd.DataFrame, schema: dict, seed: int) -> dict:
    """The same scores for every method's sample."""
    from synthvae.schema import Schema

    parsed = Schema.from_dict(schema)
    scores = quality(data.train, synthetic[data.train.columns],
                     parsed.to_sdmetrics_metadata())
    efficacy = ml_efficacy_scores(data, synthetic, parsed, seed)
    return {"column_shapes": scores["column_shapes"],
            "column_pair_trends": scores["column_pair_trends"],
            "column_pair_trends_real_bins": scores["column_pair_trends_real_bins"],
            "ml_metric": efficacy["metric"], "ml_synthetic": efficacy["synthetic"],
            "ml_real": efficacy["real"]}


def run_table_seed(name: str, seed: int, epsilons, methods, sn_python: str, log: Path,
                   aim: dict = AIM_SETTINGS):
    """Every method and epsilon on one table and seed; each scored row appended to log."""
    data = load_dataset(name)
    schema = public_schema(data)
    delta = 0.1 / len(data.train)
    samples = {}
    if "synthvae" in methods:
        samples.update({("synthvae", e): fit_synthvae(data, schema, delta, e, seed)
                        for e in epsilons})
    smartnoise = [m for m in methods if m != "synthvae"]
    if smartnoise:
        with tempfile.TemporaryDirectory(prefix="dp-compare-") as folder:
            samples.update(run_smartnoise(data, schema, delta, smartnoise, epsilons, seed,
                                          Path(folder), sn_python, aim))
    for (method, eps), (synthetic, seconds) in samples.items():
        row = {"table": name, "method": method, "epsilon": eps, "seed": seed,
               "delta": delta, "rows": len(data.train), "fit_s": round(seconds, 1),
               **score(data, synthetic, schema, seed)}
        print(row, flush=True)
        with open(log, "a") as f:
            f.write(json.dumps(row) + "\n")


def medians(rows: list[dict]) -> list[dict]:
    """Per table, epsilon and method: the median of the seeds of each figure."""
    keys = sorted({(r["table"], r["epsilon"], r["method"]) for r in rows},
                  key=lambda k: (k[0], k[1], METHODS.index(k[2])))
    figures = ("ml_synthetic", "column_shapes", "column_pair_trends", "fit_s")
    out = []
    for table, eps, method in keys:
        group = [r for r in rows if (r["table"], r["epsilon"], r["method"]) == (table, eps,
                                                                                 method)]
        out.append({"table": table, "epsilon": eps, "method": method,
                    "seeds": sorted(r["seed"] for r in group),
                    **{f: round(statistics.median(r[f] for r in group), 4) for f in figures}})
    return out


def markdown(rows: list[dict]) -> str:
    """The medians as a markdown table, the best figure of each group of methods in bold."""
    lines = ["| table | epsilon | method | seeds | ML AUC | Column Shapes | trends (all pairs) "
             "| fit s |", "|---|---|---|---|---|---|---|---|"]
    figures = ("ml_synthetic", "column_shapes", "column_pair_trends")
    for r in rows:
        group = [g for g in rows if (g["table"], g["epsilon"]) == (r["table"], r["epsilon"])]
        cells = [f"**{r[f]:.3f}**" if r[f] == max(g[f] for g in group) else f"{r[f]:.3f}"
                 for f in figures]
        lines.append(f"| {r['table']} | {r['epsilon']:g} | {r['method']} | "
                     f"{len(r['seeds'])} | {' | '.join(cells)} | {r['fit_s']:.0f} |")
    return "\n".join(lines)


def summarize(log: Path, out: Path, aim: dict = AIM_SETTINGS) -> None:
    """Gather the scored runs of ``log`` into ``out`` with their medians; print the table."""
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    table = medians(rows)
    payload = {"machine": machine(), "load_average": os.getloadavg(), "aim": aim,
               "bins": BINS, "max_exact_bins": MAX_EXACT_BINS, "runs": rows,
               "medians": table}
    out.write_text(json.dumps(payload, indent=2, default=str))
    print(markdown(table))
    print(out)


def list_arg(flag: str, default: list, cast=str) -> list:
    if flag not in sys.argv:
        return default
    return [cast(v) for v in sys.argv[sys.argv.index(flag) + 1].split(",")]


def main() -> None:
    import torch

    torch.set_num_threads(1)  # one thread: the machine is shared
    quick = "--quick" in sys.argv
    tables = list_arg("--tables", ["adult-quick"] if quick else ["adult", "bank", "shoppers"])
    seeds = range(int(list_arg("--seeds", ["1" if quick else "3"])[0]))
    epsilons = list_arg("--epsilons", [1.0, 3.0, 10.0], float)
    methods = list_arg("--methods", list(METHODS))
    sn_python = list_arg("--sn-python", [SN_PYTHON])[0]
    rounds = int(list_arg("--aim-rounds", [AIM_SETTINGS["rounds"]])[0])
    aim = {**AIM_SETTINGS, "rounds": rounds}
    name = ("dp-compare-quick" if quick else "dp-compare") + (
        "" if rounds == AIM_SETTINGS["rounds"] else f"-aim-rounds{rounds}")
    name = list_arg("--name", [name])[0]
    log = RESULTS / f"{name}.jsonl"
    RESULTS.mkdir(parents=True, exist_ok=True)
    if "--summarize" not in sys.argv:  # --summarize: only gather what the log holds
        for seed in seeds:
            for table in tables:
                run_table_seed(table, seed, epsilons, methods, sn_python, log, aim)
    summarize(log, RESULTS / f"{name}.json", aim)


if __name__ == "__main__":
    main()

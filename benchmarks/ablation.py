"""Objective options side by side (issue 5): ``python -m benchmarks.ablation``.

    python -m benchmarks.ablation --datasets adult --variants default,linear --seeds 0,1,2

For each dataset and seed, every variant is fitted in turn (interleaved, so load drifts hit
them alike), a train-size sample is drawn and scored with sdmetrics' Column Shapes and
all-pairs Column Pair Trends (benchmarks.common.quality). Each run is appended as one JSON line
to benchmarks/results/ablation-<name>.jsonl as soon as it ends, with the machine, the load
average and the model's training diagnostics; ``--summary`` prints a markdown table of means.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings

from benchmarks.common import (RESULTS, dcr_share, exact_copy_count, machine,
                               ml_efficacy_scores, quality)
from benchmarks.data import load_dataset

VARIANTS = {  # name -> Synthesizer parameters that differ from the defaults
    "default": {},  # whatever the defaults are when it runs (see the "params" recorded)
    "none": {"kl_anneal": "none"},
    "linear": {"kl_anneal": "linear"},
    "cyclical": {"kl_anneal": "cyclical"},
    "beta0.5": {"beta": 0.5},
    "free_bits0.05": {"free_bits": 0.05},
    "hidden256": {"hidden": [256, 256]},  # twice TVAE's width
    "latent32": {"latent_dim": 32},  # a quarter of TVAE's latent size
    "mixture-only": {"discrete_threshold": 0},  # no value-by-value columns: every number a VGM
    "discrete50": {"discrete_threshold": 50},
    "uncalibrated": {"calibrate": False},  # no marginal calibration of the sampler's logits
    "steps2x": {"epochs_scale": 2},
    "nolog": {"skew_threshold": None},  # no signed log scale for skewed columns  # twice the automatic training length (about 7,000 steps)
    "holdout": None,  # no model: the real test rows themselves (the sampling floor)
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.ablation",
                                description=__doc__.split("\n")[0])
    p.add_argument("--datasets", default="adult")
    p.add_argument("--variants", default="default,linear")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 = steadiest)")
    p.add_argument("--name", default="objective")
    p.add_argument("--summary", action="store_true", help="print the table of a past run")
    return p.parse_args(argv)


def synthesizer_params(variant: str, n_rows: int) -> dict:
    """The variant's Synthesizer parameters; ``epochs_scale`` multiplies the automatic epochs."""
    from synthvae import Synthesizer
    from synthvae.synthesizer import auto_batch_size, auto_epochs

    params = dict(VARIANTS[variant])
    scale = params.pop("epochs_scale", None)
    if scale is not None:
        defaults = Synthesizer()
        validation = defaults.validation_fraction
        batch = auto_batch_size(int(n_rows * (1 - validation)))
        params["epochs"] = scale * auto_epochs(n_rows, batch, validation)
    return params


def run_one(data, variant: str, seed: int) -> dict:
    if variant == "holdout":
        return run_holdout(data)
    from synthvae import Synthesizer

    load = os.getloadavg()[0]
    start = time.perf_counter()
    synth = Synthesizer(seed=seed, verbose=False, **synthesizer_params(variant, len(data.train)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        synth.fit(data.train)
    fit_s = time.perf_counter() - start
    synthetic = synth.sample(len(data.train), seed=seed)
    scores = quality(data.train, synthetic, synth.schema_.to_sdmetrics_metadata())
    diagnostics = getattr(synth, "diagnostics_", None) or {}
    efficacy = ml_efficacy_scores(data, synthetic, synth.schema_, seed)
    return {"dataset": data.name, "variant": variant, "params": VARIANTS[variant],
            "kl_anneal": synth.train_config_.kl_anneal, "beta": synth.train_config_.beta,
            "seed": seed, "rows": len(data.train), "fit_s": round(fit_s, 1),
            "epochs_run": synth.training_summary_["epochs_run"], "load_at_start": load,
            "shapes_error": round(1 - scores["column_shapes"], 4),
            "trends_error": round(1 - scores["column_pair_trends"], 4),
            "trends_real_bins_error": round(1 - scores["column_pair_trends_real_bins"], 4),
            "dcr_train_share": round(dcr_share(data, synthetic, synth.schema_, seed), 4),
            "exact_copies": exact_copy_count(data, synthetic, synth.schema_),
            "ml_metric": efficacy["metric"], "ml_synthetic": efficacy["synthetic"],
            "ml_real": efficacy["real"],
            "discrete_columns": [t.spec.name for t in synth.transformer_.transformers_
                                 if getattr(t, "discrete", False)],
            "active_units": diagnostics.get("active_units"),
            "kl_total": diagnostics.get("kl_total")}


def run_holdout(data) -> dict:
    """The sampling floor: the real test rows scored against the training rows."""
    from synthvae import detect_schema

    scores = quality(data.train, data.test, detect_schema(data.train).to_sdmetrics_metadata())
    return {"dataset": data.name, "variant": "holdout", "params": {}, "seed": None,
            "rows": len(data.test), "fit_s": 0.0, "load_at_start": os.getloadavg()[0],
            "shapes_error": round(1 - scores["column_shapes"], 4),
            "trends_error": round(1 - scores["column_pair_trends"], 4),
            "trends_real_bins_error": round(1 - scores["column_pair_trends_real_bins"], 4)}


def summary(rows: list[dict]) -> str:
    """Markdown: per dataset and variant, mean (and per-seed) errors in %."""
    out = ["| dataset | variant | seeds | Column Shapes error | Pair Trends error | "
           "Pair Trends error, real bins | per-seed shapes / trends / real bins | "
           "DCR train share | exact copies | ML efficacy synthetic / real | active units | fit s | "
           "load |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    groups: dict[tuple, list] = {}
    for row in (r for r in rows if "variant" in r):  # the first line describes the machine
        groups.setdefault((row["dataset"], row["variant"]), []).append(row)
    for (dataset, variant), runs in groups.items():
        out.append(_summary_row(dataset, variant, runs))
    return "\n".join(out)


def _summary_row(dataset: str, variant: str, runs: list[dict]) -> str:
    def mean(key):
        found = [r[key] for r in runs if r.get(key) is not None]
        return statistics.mean(found) if found else None

    def pct(value):
        return "-" if value is None else f"{100 * value:.2f}"

    per_seed = ", ".join("/".join(pct(r.get(k)) for k in
                                  ("shapes_error", "trends_error", "trends_real_bins_error"))
                         for r in runs)
    def fixed(key, digits):
        value = mean(key)
        return "-" if value is None else f"{value:.{digits}f}"

    return (f"| {dataset} | {variant} | {len(runs)} | {pct(mean('shapes_error'))} % | "
            f"{pct(mean('trends_error'))} % | {pct(mean('trends_real_bins_error'))} % | "
            f"{per_seed} | {fixed('dcr_train_share', 3)} | {fixed('exact_copies', 1)} | "
            f"{fixed('ml_synthetic', 3)} / {fixed('ml_real', 3)} | {fixed('active_units', 0)} | "
            f"{mean('fit_s'):.0f} | {mean('load_at_start'):.1f} |")


def main(argv=None) -> None:
    args = parse_args(argv)
    path = RESULTS / f"ablation-{args.name}.jsonl"
    if args.summary:
        print(summary([json.loads(line) for line in path.read_text().splitlines() if line]))
        return
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    RESULTS.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(json.dumps({"machine": machine(), "command": " ".join(sys.argv)}) + "\n")
    for dataset in args.datasets.split(","):
        data = load_dataset(dataset)
        for seed in (int(s) for s in args.seeds.split(",")):
            for variant in args.variants.split(","):
                row = run_one(data, variant, seed)
                print(json.dumps(row), file=sys.stderr, flush=True)
                with path.open("a") as handle:
                    handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()

"""One model on one dataset with one seed, in its own process so memory peaks do not mix.

``python -m benchmarks.worker '<json job>'`` prints one JSON line (the last line of stdout):
fit timings, sampling timings, peak RSS after fit and after sampling, and the report scores.
A job with ``"ladder": [epochs, ...]`` instead fits synthvae once per epoch count and scores
Column Shapes / all-pairs Column Pair Trends only (the time-to-quality curve).
"""

from __future__ import annotations

import json
import resource
import sys
import time

import pandas as pd

from benchmarks.data import load_dataset
from benchmarks.models import SynthvaeModel, make_model
from synthvae import detect_schema

# the headline numbers kept from synthvae.reports.evaluate's summary
SCORES = ("column_shapes", "column_pair_trends_all_pairs", "column_pair_trends",
          "logistic_detection", "ml_efficacy_synthetic", "ml_efficacy_real",
          "ml_efficacy_ratio", "dcr_train_share", "dcr_median_ratio", "exact_copy_share",
          "fd_violation_share", "zero_support_share", "inequality_violation_share")


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def run_job(job: dict) -> dict:
    import torch

    if job.get("threads"):
        torch.set_num_threads(job["threads"])
    data = load_dataset(job["dataset"])
    schema = detect_schema(data.train)
    if job.get("ladder"):
        return {"ladder": ladder(data, schema, job["seed"], job["ladder"], job.get("goal"))}
    model = make_model(job["model"], schema, job["seed"], job.get("epochs_cap"))
    out = {"rows": len(data.train), "columns": len(data.train.columns),
           "rss_before_fit_mb": peak_rss_mb(), **model.fit(data.train)}
    out["peak_rss_fit_mb"] = peak_rss_mb()
    for n in job.get("sample_sizes", ()):
        start = time.perf_counter()
        frame = model.sample(n)
        out[f"sample_{n}_s"] = round(time.perf_counter() - start, 3)
        assert len(frame) == n, (len(frame), n)
        del frame
    out["peak_rss_mb"] = peak_rss_mb()
    if job.get("quality", True):
        out.update(scores(data, schema, model.sample(len(data.train)), job["seed"]))
    return out


def scores(data, schema, synthetic: pd.DataFrame, seed: int) -> dict:
    from synthvae.reports import evaluate

    start = time.perf_counter()
    report = evaluate(data.train, synthetic, holdout=data.test, target=data.target,
                      schema=schema, seed=seed)
    return {"scores": {key: report.summary.get(key) for key in SCORES},
            "evaluate_s": round(time.perf_counter() - start, 1), "notes": report.notes}


def ladder(data, schema, seed: int, epoch_counts: list[int], goal: dict | None) -> list[dict]:
    """Quality after each epoch budget (a fresh fit each time); stops once every score in
    ``goal`` (ctgan's) is reached."""
    from synthvae.reports.fidelity import quality

    metadata = schema.to_sdmetrics_metadata()
    rows = []
    for epochs in epoch_counts:
        model = SynthvaeModel(schema, seed, epochs)
        timings = model.fit(data.train)
        found = quality(data.train, model.sample(len(data.train)), metadata)
        rows.append({"epochs": epochs, "fit_s": timings["fit_s"],
                     "epochs_run": timings["epochs"],
                     "column_shapes": found["column_shapes"]["score"],
                     "column_pair_trends_all_pairs":
                         found["column_pair_trends"]["score_all_pairs"]})
        print(rows[-1], file=sys.stderr, flush=True)
        if goal and all(rows[-1][key] >= value for key, value in goal.items()):
            break
    return rows


if __name__ == "__main__":
    import warnings

    warnings.simplefilter("ignore")
    print(json.dumps(run_job(json.loads(sys.argv[1])), default=float))

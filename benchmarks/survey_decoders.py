"""Both decoders on survey-like tables (issue 16): Likert answers driven by a few latent
factors, the shape of questionnaires, which no shared table has::

    python -m benchmarks.survey_decoders --rows 2000 --questions 20,40,80,150 --seeds 0,1

Each table: ``--questions`` columns of five ordered answers, each question loading on some of
five normal factors plus its own noise, cut at fixed quantiles. Fits the default decoder and
``decoder="factorized"`` (defaults otherwise, one torch thread), samples as many rows, and
scores the answers as numbers 1-5: Column Shapes as 1 - total variation per column, all-pairs
trends as 1 - mean |real - synthetic Pearson| / 2, strong pairs those with real |r| > 0.3.
Appends one JSON line per fit to ``results/<name>.jsonl``; structure.md quotes it.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
import pandas as pd

from benchmarks.common import RESULTS, machine

ANSWERS = np.array(["never", "rarely", "sometimes", "often", "always"])
STRONG = 0.3  # real |Pearson| above which a pair counts as strong


def survey_table(rows: int, questions: int, seed: int = 0, factors: int = 5) -> pd.DataFrame:
    """Answers 'never' .. 'always' to ``questions`` questions driven by ``factors`` factors."""
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(rows, factors))
    loads = rng.normal(size=(factors, questions)) * (rng.random((factors, questions)) < 0.4)
    latent = scores @ loads + rng.normal(size=(rows, questions))
    cuts = np.quantile(latent, [0.15, 0.4, 0.65, 0.85], axis=0)  # (4, questions)
    codes = (latent[:, :, None] > cuts.T[None]).sum(axis=2)
    return pd.DataFrame({f"q{j}": ANSWERS[codes[:, j]] for j in range(questions)})


def survey_scores(real: pd.DataFrame, synthetic: pd.DataFrame) -> dict:
    """Column Shapes (1 - TV), all-pairs and strong-pair trends (Pearson of the codes)."""
    codes = {answer: i + 1 for i, answer in enumerate(ANSWERS)}
    shapes = np.mean([1 - 0.5 * real[c].value_counts(normalize=True).sub(
        synthetic[c].value_counts(normalize=True), fill_value=0).abs().sum()
        for c in real.columns])
    r, s = (np.corrcoef(df.apply(lambda col: col.map(codes)).to_numpy(float).T)
            for df in (real, synthetic))
    upper = np.triu_indices(len(r), 1)
    # a constant synthetic column has no correlation: its pairs count as the worst gap, 2
    gap = np.nan_to_num(np.abs(r[upper] - s[upper]), nan=2.0)
    strong = np.abs(r[upper]) > STRONG
    return {"column_shapes": round(float(shapes), 4),
            "pair_trends": round(float(1 - gap.mean() / 2), 4),
            "strong_pair_trends": round(float(1 - gap[strong].mean() / 2), 4)
            if strong.any() else None,
            "strong_pairs": int(strong.sum())}


def fit_and_score(table: pd.DataFrame, decoder: str | None, seed: int) -> dict:
    from synthvae import Synthesizer

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        synth = Synthesizer(seed=seed, n_threads=1, verbose=False, decoder=decoder).fit(table)
    fit_s = time.perf_counter() - start
    return {"decoder": synth.decoder_, "asked": decoder or "default", "seed": seed,
            "encoded_width": synth.layout_.width, "fit_s": round(fit_s, 1),
            "epochs_run": synth.training_summary_.get("epochs_run"),
            **survey_scores(table, synth.sample(len(table), seed=1))}


def main(argv=None) -> None:
    import torch

    p = argparse.ArgumentParser(prog="python -m benchmarks.survey_decoders")
    p.add_argument("--rows", type=int, default=2000)
    p.add_argument("--questions", default="20,40,80,150")
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--name", default="survey-decoders")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    out = RESULTS / f"{args.name}.jsonl"
    with open(out, "a") as f:
        f.write(json.dumps({"header": {"machine": machine(), "argv": vars(args)}}) + "\n")
    for questions in (int(q) for q in args.questions.split(",")):
        table = survey_table(args.rows, questions)
        for decoder in (None, "factorized"):
            for seed in (int(s) for s in args.seeds.split(",")):
                record = {"rows": args.rows, "questions": questions,
                          **fit_and_score(table, decoder, seed)}
                with open(out, "a") as f:
                    f.write(json.dumps(record) + "\n")
                print(record, flush=True)


if __name__ == "__main__":
    main()

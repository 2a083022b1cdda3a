"""Differential privacy figures: ``python -m benchmarks.dp [--quick] [--epochs E] [--seeds S]
[--share P] [--calibration-share C] [--decoder D] [--params K=V,...] [--epsilons E,...]
[--name N] [--no-audit]`` (``--share``: preprocess_share, 0.1 default; another writes
dp-shareP.json; ``--calibration-share``: the same for calibration_share
(dp-calibrationC.json); ``--decoder``: the Synthesizer's decoder under DP (dp-D.json);
``--params``: more Synthesizer settings of the DP fits, e.g. ``max_grad_norm=0.3,lr=0.01``;
``--epsilons``: the budgets, 1,3,10 by default; ``--name``: the file name instead),
``--audit-only [--seeds S]`` (dp-audit.json), ``--speed`` (dp-speed.json).

1. Utility on Adult (train 32,561 rows, test 16,281) at epsilon 1, 3, 10 and without DP,
   with Adult's documented domain (UCI adult.names: category lists and value ranges) as the
   public schema, so no budget goes to bounds or categories (the default 10 % preprocessing
   share buys the continuous columns' mode histograms, the rest goes to DP-SGD):
   Column Shapes, all-pairs Column Pair Trends, ML efficacy (HistGradientBoosting AUC,
   trained on synthetic vs on real, tested on the test split), fit seconds.
2. An empirical audit in one training run per setting (Steinke, Nasr & Jagielski 2023,
   "Privacy auditing with one (1) training run"): m canary rows are each included with
   probability 1/2; after training, the attacker ranks canaries by the model's ELBO and
   guesses "in" for the top k and "out" for the bottom k. If training is epsilon-DP, the
   number of correct guesses is dominated by Binomial(2k, e^eps / (1 + e^eps)); the largest
   epsilon rejected at 95 % confidence is a lower bound on the true epsilon, reported next to
   the claimed one (delta is ignored in the bound: it only makes the bound more generous).
Writes benchmarks/results/dp.json.
"""

from __future__ import annotations

import math
import sys
import warnings

import numpy as np
import pandas as pd
import torch
from scipy.stats import binom

from benchmarks.common import load, machine, quality, timed, write_json
from benchmarks.models import parse_model_spec
from synthvae import Synthesizer


def ml_efficacy(train: pd.DataFrame, test: pd.DataFrame, target: str) -> float:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    def encode(df):
        x = df.drop(columns=[target]).copy()
        for c in x.columns:
            if x[c].dtype == object or str(x[c].dtype) in ("category", "bool"):
                x[c] = x[c].astype("category")
        return x

    y_train = train[target].astype(str) == ">50K"
    y_test = test[target].astype(str) == ">50K"
    if y_train.nunique() < 2:
        return float("nan")
    x_train, x_test = encode(train), encode(test)
    for c in x_train.columns:  # same category sets on both sides
        if isinstance(x_train[c].dtype, pd.CategoricalDtype):
            cats = sorted(set(x_train[c].dropna()) | set(x_test[c].dropna()), key=str)
            x_train[c] = pd.Categorical(x_train[c], categories=cats)
            x_test[c] = pd.Categorical(x_test[c], categories=cats)
    model = HistGradientBoostingClassifier(random_state=0, categorical_features="from_dtype")
    model.fit(x_train, y_train)
    return float(roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]))


# Adult's domain as UCI's adult.names documents it: public, so it costs no budget.
ADULT_BOUNDS = {"age": (17, 90), "fnlwgt": (10_000, 1_500_000), "education-num": (1, 16),
                "capital-gain": (0, 99_999), "capital-loss": (0, 4_356),
                "hours-per-week": (1, 99)}


def adult_public_schema(train: pd.DataFrame, test: pd.DataFrame) -> dict:
    columns = []
    for name in train.columns:
        if name in ADULT_BOUNDS:
            low, high = ADULT_BOUNDS[name]
            columns.append({"name": name, "kind": "continuous", "nullable": False,
                            "dtype": "int64", "integer": True, "min": low, "max": high})
        else:  # the category lists of adult.names (= the values of train and test)
            values = sorted(set(train[name].dropna()) | set(test[name].dropna()))
            columns.append({"name": name, "kind": "categorical", "dtype": "object",
                            "nullable": bool(train[name].isna().any()), "categories": values})
    return {"columns": columns}


def utility(train, test, epsilons, epochs=None, seeds=(0,), share=0.1,
            calibration_share=0.1, decoder=None, params=None) -> list[dict]:
    """``params``: more Synthesizer settings for the DP fits (``--params``)."""
    rows = []
    schema = adult_public_schema(train, test)
    for eps, seed in [(e, s) for e in epsilons for s in (seeds if e else seeds[:1])]:
        dp = dict(schema=schema, preprocess_share=share,
                  calibration_share=calibration_share, decoder=decoder,
                  **(params or {})) if eps else {}
        synth, fit_s = timed(lambda: Synthesizer(epsilon=eps, epochs=epochs, verbose=False,
                                                 seed=seed, **dp).fit(train))
        synthetic = synth.sample(len(train), seed=seed + 1)
        scores = quality(train, synthetic, synth.schema_.to_sdmetrics_metadata())
        calibration = synth.training_summary_["calibration"] or {}
        row = {"epsilon": eps, "seed": seed, "fit_s": round(fit_s, 1), **scores,
               "max_frequency_error": calibration.get("max_frequency_error_after"),
               "ml_auc_synthetic": round(ml_efficacy(synthetic, test, "income"), 4),
               "epsilon_spent": None if synth.privacy_ is None
               else round(synth.privacy_["epsilon"], 4)}
        print(row, flush=True)
        rows.append(row)
    return rows


def speed(train, rows=8000, epochs=10, seed=0) -> dict:
    """DP fit vs the same fit without DP on an Adult subsample: same architecture, learning
    rate, epochs and steps per epoch, all rows trained (no held-out split), one thread."""
    data = train.sample(rows, random_state=seed).reset_index(drop=True)
    schema = adult_public_schema(train, train)
    common = dict(epochs=epochs, latent_dim=8, lr=3e-3, verbose=False, seed=seed)
    out = {"rows": rows, "epochs": epochs}
    for name, extra in (("plain", dict(validation_fraction=0.0)),
                        ("dp", dict(epsilon=3.0, schema=schema))):
        synth, seconds = timed(lambda: Synthesizer(**common, **extra).fit(data))
        out[name] = {"fit_s": round(seconds, 2),
                     "train_s": synth.training_summary_["train_seconds"]}
    out["train_ratio"] = round(out["dp"]["train_s"] / out["plain"]["train_s"], 2)
    out["fit_ratio"] = round(out["dp"]["fit_s"] / out["plain"]["fit_s"], 2)
    out["step_ms"] = step_ms(data, schema)
    out["step_ratio"] = round(out["step_ms"]["dp"] / out["step_ms"]["plain"], 2)
    return out


def step_ms(data: pd.DataFrame, schema: dict, steps: int = 100, batch: int = 500) -> dict:
    """Milliseconds per optimiser step of the plain and the DP-SGD step on the same encoded
    rows, model (the default decoder, autoregressive with the numbers' values) and 500-row
    batches: the cost of private clipping and noise alone (the fits above also differ in
    their encodings: mixtures without DP, released modes with it)."""
    from synthvae.batches import Batch
    from synthvae.generator import VAEGenerator, vae_config
    from synthvae.layout import SpanLayout
    from synthvae.privacy import DPStep
    from synthvae.schema import Schema
    from synthvae.steps import PlainStep
    from synthvae.training import TrainConfig
    from synthvae.transforms.table import TableTransformer

    table = TableTransformer(Schema.from_dict(schema)).fit_from_schema()
    rows = torch.as_tensor(table.transform(data))
    layout = SpanLayout.from_spans(table.spans_)
    config = TrainConfig(batch_size=batch, lr=3e-3)
    positions, offset, scale = table.value_inputs()
    model_config = vae_config(layout, table.spans_, 8, (128, 128), "autoregressive",
                              value_inputs=positions, two_step_numbers=False)  # as DP fits
    out = {}
    for name in ("plain", "dp"):
        model = VAEGenerator.build(model_config, layout, torch.device("cpu"), 0,
                                   (offset, scale)).model
        generator = torch.Generator().manual_seed(0)
        step = PlainStep(model, layout, config, generator) if name == "plain" else \
            DPStep(model, layout, config, generator, noise_multiplier=1.0, max_grad_norm=1.0,
                   expected_batch_size=batch)
        batches = [Batch(rows[i * batch % len(rows):][:batch], batch) for i in range(steps)]
        step(batches[0], 1.0)  # warm-up
        _, seconds = timed(lambda: [step(b, 1.0) for b in batches])
        step.close()
        out[name] = round(1000 * seconds / steps, 2)
    return out


def canaries(test: pd.DataFrame, m: int, rng: np.random.Generator) -> pd.DataFrame:
    """Atypical but valid rows: real test rows with every categorical re-drawn uniformly."""
    rows = test.sample(m, random_state=int(rng.integers(1 << 30))).reset_index(drop=True)
    for c in rows.columns:
        if rows[c].dtype == object:
            values = test[c].dropna().unique()
            rows[c] = rng.choice(values, size=m)
    return rows


@torch.no_grad()
def elbo(synth: Synthesizer, df: pd.DataFrame) -> np.ndarray:
    """Per-row negative training objective under the fitted model (higher = more typical)."""
    from synthvae.losses import elbo_terms

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x = torch.as_tensor(synth.transformer_.transform(df), device=synth.device_)
    synth.model_.eval()
    generator = torch.Generator().manual_seed(0)
    totals = torch.zeros(len(x))
    for _ in range(8):  # average over posterior draws
        noise = torch.randn((len(x), synth.model_config_.latent_dim), generator=generator)
        logits, sigma, mu, logvar = synth.model_(x, noise)
        recon, kl = elbo_terms(logits, x, sigma, mu, logvar, synth.layout_)
        totals += -(recon + kl)
    return (totals / 8).numpy()


def epsilon_lower_bound(correct: int, guesses: int, confidence: float = 0.95) -> float:
    """Largest epsilon whose Binomial(guesses, e^eps/(1+e^eps)) makes >= correct unlikely."""
    lo, hi = 0.0, 20.0
    if binom.sf(correct - 1, guesses, 0.5) > 1 - confidence:
        return 0.0
    for _ in range(60):
        mid = (lo + hi) / 2
        p = math.exp(mid) / (1 + math.exp(mid))
        if binom.sf(correct - 1, guesses, p) <= 1 - confidence:
            lo = mid
        else:
            hi = mid
    return lo


AUDIT_ROWS, AUDIT_EPOCHS = 500, 1000  # a small table trained long: a model that memorises


def audit(train, test, eps, m=200, k=40, epochs=AUDIT_EPOCHS, seed=0) -> dict:
    """One-run audit of a fit on ``train`` plus the included canaries (no held-out rows,
    N(0, I) prior, every other parameter at its default for the mode: without DP TVAE's
    latent 128; with DP the DP defaults)."""
    rng = np.random.default_rng(seed)
    canary = canaries(test, m, rng)
    included = rng.random(m) < 0.5
    data = pd.concat([train, canary[included]], ignore_index=True)
    synth = Synthesizer(epsilon=eps, epochs=epochs, verbose=False, seed=seed,
                        validation_fraction=0.0, prior="normal",
                        schema=adult_public_schema(train, test) if eps else None).fit(data)
    scores = elbo(synth, canary)
    order = np.argsort(scores)
    guess_out, guess_in = order[:k], order[-k:]
    correct = int(included[guess_in].sum() + (~included[guess_out]).sum())
    return {"claimed_epsilon": eps, "canaries": m, "guesses": 2 * k, "correct": correct,
            "epsilon_lower_bound_95": round(epsilon_lower_bound(correct, 2 * k), 3)}


def int_arg(flag: str, default):
    """The int after ``flag`` on the command line, or ``default``."""
    return int(sys.argv[sys.argv.index(flag) + 1]) if flag in sys.argv else default


def main() -> None:
    quick = "--quick" in sys.argv
    torch.set_num_threads(1)  # one thread: the machine is shared
    if "--speed" in sys.argv:
        train = load("adult_train")
        runs = [speed(train, seed=s) for s in range(3)]
        print(write_json("dp-speed", {"machine": machine(), "runs": runs}))
        return
    seeds = tuple(range(int_arg("--seeds", 1)))
    if "--audit-only" in sys.argv:
        train, test = load("adult_train"), load("adult_test")
        print(write_json("dp-audit", {"machine": machine(), "rows": AUDIT_ROWS,
                                      "epochs": AUDIT_EPOCHS,
                                      "audit": audits(train, test, quick, seeds)}))
        return
    train, test = load("adult_train"), load("adult_test")
    if quick:
        train, test = train.sample(4000, random_state=0), test.sample(2000, random_state=0)
    epochs = int_arg("--epochs", None)
    results = {"machine": machine(), "epochs": epochs or "automatic"}
    share = float(sys.argv[sys.argv.index("--share") + 1]) if "--share" in sys.argv else 0.1
    calibration = float(sys.argv[sys.argv.index("--calibration-share") + 1]) \
        if "--calibration-share" in sys.argv else 0.1
    name = ("dp-quick" if quick else "dp") + ("" if share == 0.1 else f"-share{share:g}") \
        + ("" if calibration == 0.1 else f"-calibration{calibration:g}")
    decoder = sys.argv[sys.argv.index("--decoder") + 1] if "--decoder" in sys.argv else None
    name += "" if decoder is None else f"-{decoder}"
    name = sys.argv[sys.argv.index("--name") + 1] if "--name" in sys.argv else name
    # --params "max_grad_norm=0.3,lr=0.01": more Synthesizer settings of the DP fits
    params = parse_model_spec(f"synthvae[{sys.argv[sys.argv.index('--params') + 1]}]")[1] \
        if "--params" in sys.argv else {}
    epsilons = [float(e) for e in sys.argv[sys.argv.index("--epsilons") + 1].split(",")] \
        if "--epsilons" in sys.argv else [1.0, 3.0, 10.0]
    if (params or "--epsilons" in sys.argv) and "--name" not in sys.argv:
        name += "".join(f"-{k}{v}" for k, v in params.items()) + \
            ("" if "--epsilons" not in sys.argv else "-eps" + "_".join(f"{e:g}" for e in epsilons))
    results.update(seeds=list(seeds), preprocess_share=share, calibration_share=calibration,
                   decoder=decoder or "default", params=params)
    default = share == 0.1 and calibration == 0.1 and decoder is None and not params
    results["utility"] = utility(train, test, epsilons + ([None] if default else []),
                                 epochs=2 if quick else epochs, seeds=seeds, share=share,
                                 calibration_share=calibration, decoder=decoder, params=params)
    if "--no-audit" in sys.argv:
        print(write_json(name, results))
        return
    results["audit"] = audits(train, test, quick)
    print(write_json(name, results))


def audits(train, test, quick: bool, seeds=(0,)) -> list[dict]:
    """The audit without DP first (the attack's power on a memorising model), then at
    epsilon 1 and 10 with the same rows, canaries and epochs."""
    audit_train = train.sample(AUDIT_ROWS, random_state=1).reset_index(drop=True)
    rows = []
    for eps, seed in [(e, s) for e in ([None, 10.0] if quick else [None, 1.0, 10.0])
                      for s in seeds]:
        row, seconds = timed(lambda: audit(audit_train, test, eps,
                                           epochs=3 if quick else AUDIT_EPOCHS, seed=seed))
        row.update(seed=seed, fit_s=round(seconds, 1))
        print(row, flush=True)
        rows.append(row)
    return rows


if __name__ == "__main__":
    main()

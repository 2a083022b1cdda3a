"""Probes of the lost tail relation of flights' delays (issue 16, held-out check): one fit at
defaults but for one change, then the harness's scores and the Pearson correlations of the
strongly correlated numeric pairs (|r| >= 0.5), real against synthetic::

    python -m benchmarks.flights_probes flights@20000 0 base
    python -m benchmarks.flights_probes flights@20000 0 swap05 latent_swap=0.5
    python -m benchmarks.flights_probes flights@20000 0 bound4 patch=bound4   # VALUE_BOUND 4
    python -m benchmarks.flights_probes flights@20000 0 share1 patch=share1.0  # log scale s
    python -m benchmarks.flights_probes flights@20000 0 nolog skew_threshold=None

Arguments: TABLE SEED TAG, then Synthesizer settings ``name=value`` (a Python literal) and
``patch=bound<B>|share<S>|asinh`` (a module constant changed in this process only). One JSON
line on stdout (``structure-flights-probes.jsonl`` holds the session's lines).
"""
from __future__ import annotations

import ast
import json
import sys
import time
import warnings

import numpy as np
import pandas as pd
import torch

import synthvae.model as model_module
import synthvae.sampling as sampling_module
import synthvae.transforms.scaling as scaling_module
from benchmarks.common import ml_efficacy_scores, quality
from benchmarks.data import load_dataset
from synthvae import Synthesizer, detect_schema

STRONG = 0.5  # |real Pearson r| of the pairs compared


def apply_patch(value: str) -> None:
    """Change one module constant of this process (the probe's variable)."""
    if value.startswith("bound"):
        model_module.VALUE_BOUND = float(value[len("bound"):])
    elif value.startswith("share"):
        scaling_module.SCALE_SHARE = float(value[len("share"):])
    elif value == "asinh":
        model_module.bounded_value = sampling_module.bounded_value = torch.asinh
    else:
        raise SystemExit(f"unknown patch {value!r}")


def strong_pairs(real: pd.DataFrame, synthetic: pd.DataFrame) -> list[tuple]:
    """(a, b, real r, synthetic r) of the numeric pairs with |real r| >= STRONG."""
    numeric = [c for c in real.columns
               if pd.api.types.is_numeric_dtype(real[c]) and real[c].nunique() > 1]
    rc, sc = real[numeric].corr(), synthetic[numeric].corr()
    return [(a, b, round(rc.loc[a, b], 3), round(sc.loc[a, b], 3))
            for i, a in enumerate(numeric) for b in numeric[i + 1:] if abs(rc.loc[a, b]) >= STRONG]


def main(argv=None) -> None:
    name, seed, tag, *settings = argv or sys.argv[1:]
    seed, params, patches = int(seed), {}, []
    for setting in settings:
        key, value = setting.split("=", 1)
        if key == "patch":
            apply_patch(value)
            patches.append(value)
        else:
            params[key] = ast.literal_eval(value)
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    data = load_dataset(name)
    schema = detect_schema(data.train)
    start = time.time()
    synth = Synthesizer(seed=seed, schema=schema, verbose=False, **params).fit(data.train)
    fit_s = time.time() - start
    synthetic = synth.sample(len(data.train), seed=seed + 1)
    pairs = strong_pairs(data.train, synthetic)
    error = float(np.mean([abs(r - s) for *_, r, s in pairs])) / 2 if pairs else None
    print(json.dumps({
        "table": name, "seed": seed, "tag": tag, "params": params, "patches": patches,
        "fit_s": round(fit_s, 1),
        "ml": ml_efficacy_scores(data, synthetic, schema, seed),
        **quality(data.train, synthetic, schema.to_sdmetrics_metadata()),
        "pearson_strong_err": None if error is None else round(error, 4),
        "worst": sorted(pairs, key=lambda p: -abs(p[2] - p[3]))[:4]}), flush=True)


if __name__ == "__main__":
    main()

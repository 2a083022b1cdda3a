"""smartnoise-synth's MST and AIM, run by ``benchmarks/dp_compare.py`` in their own venv.

smartnoise-synth 1.0.8 pins opacus<0.15, which conflicts with synthvae's opacus 1.6, so it
runs in its own virtual environment:

    python3 -m venv /work/sn-venv && /work/sn-venv/bin/pip install torch==2.13.0 smartnoise-synth
    /work/sn-venv/bin/python -m benchmarks.dp_smartnoise SPEC.json

SPEC.json (written by :func:`benchmarks.dp_compare.smartnoise_spec`) names the training CSV
(missing categorical cells already replaced by a marker), the categorical columns, each
numeric column's public bounds and bins, delta, AIM's settings and the runs
(method, epsilon, seed, output CSV). Every run writes a train-size sample and a JSON line
``{"method", "epsilon", "seed", "fit_s"}`` to SPEC's ``timings`` file. No budget goes to
preprocessing: bounds are public and the category lists are taken from the rows, as
smartnoise's LabelTransformer does (free, in smartnoise's accounting).

This file imports only pandas, numpy and snsynth: it must not import synthvae.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd


def table_transformer(spec: dict, columns: list):
    """smartnoise's column transformers in the order of ``columns``: labels for
    categoricals, equal-width bins on the public bounds for numbers."""
    from snsynth.transform import BinTransformer, LabelTransformer, TableTransformer

    def one(name):
        if name in spec["categorical"]:
            return LabelTransformer(nullable=False)
        low, high, bins = spec["bins"][name]
        return BinTransformer(lower=low, upper=high, bins=bins)

    return TableTransformer([one(name) for name in columns])


def fit_sample(spec: dict, train: pd.DataFrame, method: str, epsilon: float, seed: int):
    """(sample, fit seconds) of one fit. smartnoise draws its noise from OpenDP, which
    takes no seed; numpy's global state (AIM's selection) is seeded."""
    from snsynth import Synthesizer

    np.random.seed(seed)
    extra = spec["aim"] if method == "aim" else {}
    start = time.perf_counter()
    synth = Synthesizer.create(method, epsilon=epsilon, delta=spec["delta"], verbose=False,
                               **extra)
    synth.fit(train, transformer=table_transformer(spec, list(train.columns)),
              preprocessor_eps=0.0)
    seconds = time.perf_counter() - start
    sample = synth.sample(len(train))
    return pd.DataFrame(sample, columns=train.columns), seconds


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    train = pd.read_csv(spec["train"], dtype={c: str for c in spec["categorical"]},
                        keep_default_na=False)
    for run in spec["runs"]:
        sample, seconds = fit_sample(spec, train, run["method"], run["epsilon"], run["seed"])
        sample.to_csv(run["out"], index=False)
        with open(spec["timings"], "a") as f:
            f.write(json.dumps({**{k: run[k] for k in ("method", "epsilon", "seed")},
                                "fit_s": round(seconds, 1)}) + "\n")
        print(run["method"], run["epsilon"], run["seed"], round(seconds, 1), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])

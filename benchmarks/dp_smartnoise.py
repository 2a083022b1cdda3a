"""smartnoise-synth's MST and DPCTGAN on Adult at the epsilons of benchmarks/dp.py.

smartnoise-synth 1.0.8 pins opacus<0.15, which conflicts with synthvae's opacus 1.6, so it
runs in its own virtual environment:

    python3 -m venv /tmp/sn-venv && /tmp/sn-venv/bin/pip install torch==2.13.0 smartnoise-synth
    /tmp/sn-venv/bin/python -m benchmarks.dp_smartnoise OUT_DIR [--quick]

It writes OUT_DIR/{mst,dpctgan}-eps{E}.csv (train-size samples) and OUT_DIR/timings.json;
``python -m benchmarks.dp --smartnoise OUT_DIR`` scores them next to synthvae. Missing
categorical cells are given as "?" (Adult's own marker), since smartnoise cannot encode nulls.
The preprocessing budget (bounds of continuous columns) is 10 % of epsilon, as in synthvae.
"""

import json
import sys
import time
from pathlib import Path

import pandas as pd

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "adult_train.csv.gz"


def main(out_dir: str, quick: bool) -> None:
    from snsynth import Synthesizer

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    df = pd.read_csv(DATA)
    if quick:
        df = df.sample(3000, random_state=0)
    categorical = [c for c in df.columns if df[c].dtype == object]
    continuous = [c for c in df.columns if c not in categorical]
    df[categorical] = df[categorical].fillna("?")
    timings = {}
    for name, extra in (("mst", {}), ("dpctgan", {"epochs": 2 if quick else 30})):
        for eps in (1.0, 3.0, 10.0):
            start = time.perf_counter()
            synth = Synthesizer.create(name, epsilon=eps, verbose=False, **extra)
            synth.fit(df, categorical_columns=categorical, continuous_columns=continuous,
                      preprocessor_eps=0.1 * eps)
            sample = synth.sample(len(df))
            timings[f"{name}-eps{eps:g}"] = round(time.perf_counter() - start, 1)
            sample[categorical] = sample[categorical].replace("?", None)
            sample.to_csv(out / f"{name}-eps{eps:g}.csv", index=False)
            print(name, eps, timings[f"{name}-eps{eps:g}"], flush=True)
    (out / "timings.json").write_text(json.dumps(timings, indent=2))


if __name__ == "__main__":
    main(sys.argv[1], "--quick" in sys.argv)

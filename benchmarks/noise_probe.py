"""Does the decoder's output noise on numeric values cost ML efficacy? One fit at defaults,
then the same latents' rows sampled with every numeric column's learned sigma scaled by 1,
0.5 and ~0 (the mean alone); ML efficacy (harness HistGB), Column Shapes and pair trends (the
harness's QualityReport) for each::

    python -m benchmarks.noise_probe magic 0 >> benchmarks/results/noise-probe.jsonl

A probe of a hypothesis (issue 16): if the noise blurred the class boundaries, shrinking it
would raise the synthetic rows' ML efficacy.
"""

from __future__ import annotations

import json
import sys
import time

from benchmarks.common import ml_efficacy_scores, quality
from benchmarks.data import load_dataset
from synthvae import Synthesizer, detect_schema

SCALES = (1.0, 0.5, 1e-6)


def main(argv=None) -> None:
    name, seed = (argv or sys.argv[1:])[:2]
    seed = int(seed)
    data = load_dataset(name)
    schema = detect_schema(data.train)
    start = time.perf_counter()
    synth = Synthesizer(seed=seed, schema=schema, verbose=False).fit(data.train)
    fit_s = time.perf_counter() - start
    sigma = synth.generator_.model.decoder.sigma
    learned = sigma.forward
    metadata = schema.to_sdmetrics_metadata()
    for scale in SCALES:
        sigma.forward = lambda ones, scale=scale: learned(ones) * scale
        synthetic = synth.sample(len(data.train), seed=seed + 1)
        scores = quality(data.train, synthetic, metadata)
        print(json.dumps({
            "dataset": name, "seed": seed, "sigma_scale": scale, "fit_s": round(fit_s, 1),
            "ml": ml_efficacy_scores(data, synthetic, schema, seed),
            **{k: round(v, 4) for k, v in scores.items() if isinstance(v, float)}}),
            flush=True)


if __name__ == "__main__":
    main()

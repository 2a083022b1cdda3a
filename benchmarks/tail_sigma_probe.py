"""Does the decoder's output noise cost a strong pair its tail (issue 16, structure.md
"fifteenth step")? One fit at defaults, then the same rows sampled with every numeric
column's learned sigma scaled by 1, 0.5, ~0 and 2; for each, the strong-pair trends score
and the pair figures of ``benchmarks.pair_tails`` (Pearson, Spearman, log Pearson, the top
1 %'s mean and Pearson)::

    python -m benchmarks.tail_sigma_probe shoppers 0 >> benchmarks/results/tail-sigma-probe.jsonl
"""
from __future__ import annotations

import json
import sys

from benchmarks.common import strong_pair_trends
from benchmarks.pair_tails import fitted_at_defaults, strong_pair_figures

SCALES = (1.0, 0.5, 1e-6, 2.0)


def main(argv=None) -> None:
    name, seed = (argv or sys.argv[1:])[:2]
    seed = int(seed)
    data, schema, synth = fitted_at_defaults(name, seed)
    sigma = synth.generator_.model.decoder.sigma
    learned = sigma.forward
    for scale in SCALES:
        sigma.forward = lambda ones, scale=scale: learned(ones) * scale
        synthetic = synth.sample(len(data.train), seed=seed + 1)
        pairs = strong_pair_figures(data.train, synthetic)
        strong = strong_pair_trends(data.train, synthetic, schema.to_sdmetrics_metadata())
        print(json.dumps({"table": name, "seed": seed, "sigma_scale": scale,
                          "strong_pair_trends": strong, "pairs": pairs}), flush=True)


if __name__ == "__main__":
    main()

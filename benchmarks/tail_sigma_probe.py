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
import warnings

import torch

from benchmarks.common import strong_pair_trends
from benchmarks.data import load_dataset
from benchmarks.pair_tails import strong_pair_figures
from synthvae import Synthesizer, detect_schema

SCALES = (1.0, 0.5, 1e-6, 2.0)


def main(argv=None) -> None:
    name, seed = (argv or sys.argv[1:])[:2]
    seed = int(seed)
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    data = load_dataset(name)
    schema = detect_schema(data.train)
    synth = Synthesizer(seed=seed, schema=schema, verbose=False).fit(data.train)
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

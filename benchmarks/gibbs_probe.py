"""Does refining sampled rows through the encoder mend a strong pair's tail (issue 16,
structure.md "fifteenth step")? One fit at defaults; rows drawn from the prior, then twice
re-encoded (a latent drawn from q(z | x)) and re-drawn from the decoder, so that each row's
latent agrees with the values drawn; strong-pair trends, Column Shapes, all-pairs trends,
ML efficacy and the pair-tail figures of ``benchmarks.pair_tails`` at each step::

    python -m benchmarks.gibbs_probe shoppers 0 >> benchmarks/results/gibbs-probe.jsonl
"""
from __future__ import annotations

import json
import sys

import numpy as np
import torch

from benchmarks.common import ml_efficacy_scores, quality, strong_pair_trends
from benchmarks.pair_tails import fitted_at_defaults, strong_pair_figures
from synthvae.sampling import decode_matrix

STEPS = 2


def main(argv=None) -> None:
    name, seed = (argv or sys.argv[1:])[:2]
    seed = int(seed)
    data, schema, synth = fitted_at_defaults(name, seed)
    generator, metadata = synth.generator_, schema.to_sdmetrics_metadata()
    draws = torch.Generator().manual_seed(seed + 1)
    encoded = generator.sample(len(data.train), draws)
    for step in range(STEPS + 1):
        rows = synth.constraints_.output(synth.transformer_.inverse_transform(
            encoded.numpy(), np.random.default_rng(seed)))[0]
        scores = quality(data.train, rows, metadata)
        print(json.dumps({
            "table": name, "seed": seed, "refinements": step,
            "strong_pair_trends": strong_pair_trends(data.train, rows, metadata),
            "column_shapes": round(scores["column_shapes"], 4),
            "column_pair_trends": round(scores["column_pair_trends"], 4),
            "ml": ml_efficacy_scores(data, rows, schema, seed),
            "pairs": strong_pair_figures(data.train, rows)}), flush=True)
        with torch.no_grad():
            mu, logvar = generator.model.encoder(encoded)
            z = mu + torch.randn(mu.shape, generator=draws) * torch.exp(0.5 * logvar)
        encoded = decode_matrix(generator.model, generator.layout, z, draws,
                                offsets=generator.offsets, floor=generator.floor,
                                excluded=generator.excluded)


if __name__ == "__main__":
    main()

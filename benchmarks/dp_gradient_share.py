"""Where DP-SGD's clipped gradient goes (issue 18, dp.md's eleventh step)::

    python -m benchmarks.dp_gradient_share adult 1 1 --weight 1 --pair education education-num
    python -m benchmarks.dp_gradient_share adult 1 1 --weight 0.2 --pair education education-num

One DP fit at the defaults as ``benchmarks.dp_variants`` makes it (public schema, delta
0.1 / rows), the numbers' NLL weighted by ``--weight`` (``DP_SCALAR_WEIGHT``; 1 is the
objective before the step). Then ``--rows`` training rows' own gradients of that objective,
one row at a time (what DP-SGD clips): the median row norm, and the norm of the gradient at
the decoder's outputs from the numeric scalars and from the softmax spans (categories, modes,
nulls), with the scalars' share of its squared norm; the learned output sigmas; and with
``--pair A B``, the share of train-size synthetic rows whose B is the value the real rows
hold most often with their A. Appends one JSON line to ``--out``
(default ``results/dp-gradient-share.jsonl``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.common import RESULTS
from benchmarks.data import load_dataset
from benchmarks.dp_compare import public_schema
from benchmarks.dp_variants import scalar_weight


def row_gradient_norms(synth, rows: pd.DataFrame, seed: int = 0) -> np.ndarray:
    """(rows,) the norm of each row's own gradient of the fitted model's training objective
    (as DP-SGD clips it), taken one row at a time."""
    import torch

    from synthvae.losses import row_objective

    net, x = synth.model_, encoded(synth, rows, seed)
    noise = torch.randn((len(x), synth.model_config_.latent_dim),
                        generator=torch.Generator().manual_seed(seed))
    net.train()
    norms = []
    for i in range(len(x)):  # one row at a time: a per-row norm is what clipping sees
        net.zero_grad()
        terms = row_objective(net(x[i:i + 1], noise[i:i + 1]), x[i:i + 1], synth.layout_,
                              synth.train_config_)
        terms.loss.sum().backward()
        norms.append(float(torch.sqrt(sum(p.grad.pow(2).sum() for p in net.parameters()
                                          if p.grad is not None))))
    net.eval()
    return np.array(norms)


def output_gradient_parts(synth, rows: pd.DataFrame, weight: float, seed: int = 0) -> dict:
    """Per row, the norm of the training objective's gradient at the decoder's outputs
    (logits) from the numeric scalars' NLL weighted by ``weight`` and from the softmax
    spans' cross-entropy: medians, and the scalars' share of the squared norm (mean over
    rows). Rows are independent, so one batched backward pass gives every row's part."""
    import torch

    from synthvae.losses import nll_parts

    net, x, layout = synth.model_, encoded(synth, rows, seed), synth.layout_
    noise = torch.randn((len(x), synth.model_config_.latent_dim),
                        generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        logits, sigma, _, _ = net(x, noise)
    logits.requires_grad_(True)
    scalars, spans = nll_parts(logits, x, sigma, layout)
    (synth.train_config_.loss_factor * (spans + weight * scalars)).sum().backward()
    numbers = torch.zeros(logits.shape[1], dtype=torch.bool)
    numbers[layout.scalar_index] = True
    scalar_part = logits.grad[:, numbers].norm(dim=1)
    span_part = logits.grad[:, ~numbers].norm(dim=1)
    share = scalar_part ** 2 / (scalar_part ** 2 + span_part ** 2).clamp_min(1e-30)
    return {"scalars_median": round(float(scalar_part.median()), 3),
            "spans_median": round(float(span_part.median()), 3),
            "scalar_share_of_squared_norm": round(float(share.mean()), 4)}


def encoded(synth, rows: pd.DataFrame, seed: int):
    import torch

    return torch.as_tensor(synth.transformer_.transform(rows, seed=seed), dtype=torch.float32)


def pair_agreement(real: pd.DataFrame, synthetic: pd.DataFrame, a: str, b: str) -> float:
    """Share of ``synthetic`` rows whose ``b`` is the value the ``real`` rows hold most
    often with their ``a`` (1 in every real row of a 1:1 map)."""
    usual = real.groupby(a, observed=True)[b].agg(lambda s: s.mode().iloc[0])
    return float((synthetic[b] == synthetic[a].map(usual)).mean())


def run(table: str, epsilon: float, seed: int, weight: float, rows: int,
        pair: list[str] | None) -> dict:
    import torch

    from synthvae import Synthesizer

    torch.set_num_threads(1)
    data = load_dataset(table)
    with scalar_weight([f"scalarw{weight}"]):
        synth = Synthesizer(epsilon=epsilon, delta=0.1 / len(data.train),
                            schema=public_schema(data), seed=seed, verbose=False
                            ).fit(data.train)
    probe = data.train.iloc[:rows]
    norms = row_gradient_norms(synth, probe, seed)
    record = {"table": table, "epsilon": epsilon, "seed": seed, "weight": weight,
              "rows": len(probe),
              "row_norm_percentiles_10_50_90": np.round(np.percentile(norms, [10, 50, 90]),
                                                        1).tolist(),
              "max_grad_norm": synth.max_grad_norm,
              **output_gradient_parts(synth, probe, weight, seed),
              "sigmas": np.round(synth.model_.decoder.sigma(torch.ones(1, 1))[0]
                                 .detach().numpy(), 4).tolist()}
    if pair:
        synthetic = synth.sample(len(data.train), seed=seed + 1)
        record["pair"] = pair
        record["pair_agreement"] = round(pair_agreement(data.train, synthetic, *pair), 4)
    return record


def main() -> None:
    import warnings

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("table")
    parser.add_argument("epsilon", type=float)
    parser.add_argument("seed", type=int)
    parser.add_argument("--weight", type=float, default=None,
                        help="DP_SCALAR_WEIGHT for the fit (default: the library's)")
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--pair", nargs=2, metavar=("A", "B"))
    parser.add_argument("--out", type=Path, default=RESULTS / "dp-gradient-share.jsonl")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from synthvae.params import DP_SCALAR_WEIGHT

    weight = DP_SCALAR_WEIGHT if args.weight is None else args.weight
    record = run(args.table, args.epsilon, args.seed, weight, args.rows, args.pair)
    print(record)
    with open(args.out, "a") as f:
        f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()

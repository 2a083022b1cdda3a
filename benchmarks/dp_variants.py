"""One DP fit with parts of the defaults turned back or changed, scored as ``dp_compare``
scores its rows (same public schema, delta, seeds and scores)::

    python -m benchmarks.dp_variants TABLE EPSILON SEED VARIANT [--out FILE]

``TABLE`` a shared table or ``name@rows`` subsample; ``VARIANT`` parts joined by ``+``:

* ``default`` (or any part not below): synthvae's DP defaults;
* ``clamp``: the calibration frequencies post-processed as before the projection
  (negative noisy counts set to 0, each span divided by its sum);
* ``even``: the calibration release with the same noise on every span (no span weights);
* ``nogap``: the released modes alone, without the modes that reach the bounds;
* ``ar``: ``decoder="autoregressive"`` (the default since the ninth step);
* ``fact``: ``decoder="factorized"`` (the default under DP before it);
* ``calP``: ``calibration_share=P``;
* ``epochsN``: ``epochs=N`` (the default is automatic);
* ``arhN``: the autoregressive decoder's masked layer N units wide (256 by default);
* ``scalarwW``: the numeric scalars' NLL weighted by W in training (``DP_SCALAR_WEIGHT``,
  0.2 by default since the eleventh step; ``scalarw1`` is the objective before it).

Appends one JSON line to ``--out`` (default ``benchmarks/results/dp-variants.jsonl``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, gap_modes_enabled, patched, timed
from benchmarks.data import load_dataset
from benchmarks.dp_compare import public_schema, score


def clipped_slot_frequencies(matrix, layout, epsilon, delta, accountant, rng):
    """The calibration release post-processed as before the projection onto a
    distribution: negative noisy counts set to 0, each span divided by its sum."""
    import torch

    from synthvae import privacy

    counts, std = privacy.noisy_slot_counts(matrix, layout, epsilon, delta, accountant, rng)
    counts = torch.as_tensor(counts).clamp_min(0.0)[None]
    totals = layout.expand(layout.group_sum(counts).clamp_min(1.0))
    return (counts / totals)[0].numpy(), std


def clipped_frequencies(enabled: bool):
    """With ``enabled``, the calibration frequencies of DP fits in this block are
    :func:`clipped_slot_frequencies`."""
    from synthvae import privacy

    return patched(privacy, "dp_slot_frequencies", clipped_slot_frequencies, enabled)


def even_span_noise(enabled: bool):
    """With ``enabled``, the calibration release of DP fits in this block weighs every span
    alike (the same noise on every count)."""
    from synthvae import privacy

    return patched(privacy, "span_noise_weights", lambda layout: np.ones(layout.n_groups),
                   enabled)


def masked_width(parts: list[str]):
    """With an ``arhN`` part, the autoregressive decoder of fits in this block has a masked
    layer of N units."""
    import dataclasses

    from synthvae import fitting

    width = next((int(p[3:]) for p in parts if p.startswith("arh")), None)
    original = fitting.vae_config

    def config(*args, **kwargs):
        return dataclasses.replace(original(*args, **kwargs), autoregressive_hidden=width)

    return patched(fitting, "vae_config", config, width is not None)


SWITCHES = ("default", "clamp", "even", "nogap", "ar", "fact")


def variant_params(parts: list[str]) -> dict:
    """Synthesizer parameters the variant's parts set; an unknown part is refused."""
    unknown = [p for p in parts if p not in SWITCHES
               and not p.startswith(("cal", "epochs", "arh", "scalarw"))]
    if unknown:
        raise SystemExit(f"Unknown variant part(s) {unknown}; known: {', '.join(SWITCHES)}, "
                         f"calP, epochsN, arhN, scalarwW.")
    params = {}
    if "ar" in parts and "fact" in parts:
        raise SystemExit("Variant parts 'ar' and 'fact' are two decoders; choose one.")
    if "ar" in parts:
        params["decoder"] = "autoregressive"
    if "fact" in parts:
        params["decoder"] = "factorized"
    for part in parts:
        if part.startswith("cal"):
            params["calibration_share"] = float(part[3:])
        if part.startswith("epochs"):
            params["epochs"] = int(part[6:])
    return params


def scalar_weight(parts: list[str]):
    """With a ``scalarwW`` part, DP fits in this block weigh the numbers' NLL by W."""
    from synthvae import params

    weight = next((float(p[7:]) for p in parts if p.startswith("scalarw")), None)
    return patched(params, "DP_SCALAR_WEIGHT", weight, weight is not None)


def run(table: str, epsilon: float, seed: int, variant: str) -> dict:
    import torch

    from synthvae import Synthesizer

    torch.set_num_threads(1)
    parts = variant.split("+")
    params = variant_params(parts)
    data = load_dataset(table)
    schema = public_schema(data)
    delta = 0.1 / len(data.train)
    with clipped_frequencies("clamp" in parts), even_span_noise("even" in parts), \
            gap_modes_enabled("nogap" not in parts), masked_width(parts), \
            scalar_weight(parts):
        synth, seconds = timed(lambda: Synthesizer(
            epsilon=epsilon, delta=delta, schema=schema, seed=seed, verbose=False,
            **params).fit(data.train))
    synthetic = synth.sample(len(data.train), seed=seed + 1)
    return {"table": table, "epsilon": epsilon, "seed": seed, "variant": variant,
            "fit_s": round(seconds, 1), **score(data, synthetic, schema, seed)}


def main() -> None:
    import warnings

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("table")
    parser.add_argument("epsilon", type=float)
    parser.add_argument("seed", type=int)
    parser.add_argument("variant")
    parser.add_argument("--out", type=Path, default=RESULTS / "dp-variants.jsonl")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    row = run(args.table, args.epsilon, args.seed, args.variant)
    with open(args.out, "a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

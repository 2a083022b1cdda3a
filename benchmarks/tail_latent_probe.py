"""Where a strong pair's tail is carried (issue 16, structure.md "fifteenth step"): one fit at
defaults, then, for the real rows whose first column is in its top 1 % and whose second
column sits in its top mode, how well the decoder's mean of the second column's scalar
follows the real one, teacher-forced on the real earlier columns, beside three latents: the
rows' own posterior means, another row's (shuffled), and zeros::

    python -m benchmarks.tail_latent_probe shoppers 0 ProductRelated ProductRelated_Duration

If the scalar follows only with the row's own latent, the relation in the tail is carried by
the latent, not by the masked (autoregressive) term that reads the first column's value, and
rows drawn from the prior lose it. One JSON line on stdout (``results/tail-latent-probe.jsonl``).
"""
from __future__ import annotations

import json
import sys

import numpy as np
import torch

from benchmarks.pair_tails import fitted_at_defaults

TAIL = 0.99


def scalar_agreement(model, x: torch.Tensor, z: torch.Tensor, block: slice,
                     rows: np.ndarray) -> dict:
    """Correlation of the real and the predicted scalar of ``block``'s column, on ``rows``
    in the column's top mode, and the top mode's mean predicted probability there."""
    with torch.no_grad():
        logits = model.decoder(z, x)[:, block]
    real = x[:, block]
    top = real.shape[1] - 2  # the scalar, then the modes: the last mode is the top one
    chosen = rows & (real[:, 1:].argmax(1) == top).numpy()
    predicted = torch.tanh(logits[chosen, 0]).numpy()
    return {"rows": int(chosen.sum()),
            "scalar_correlation": round(float(np.corrcoef(real[chosen, 0], predicted)[0, 1]), 3),
            "top_mode_probability": round(float(torch.softmax(logits[rows][:, 1:], 1)[:, top]
                                                .mean()), 3)}


def main(argv=None) -> None:
    name, seed, first, second = (argv or sys.argv[1:])[:4]
    data, _, synth = fitted_at_defaults(name, int(seed))
    transformer = synth.transformer_
    x = torch.as_tensor(np.asarray(transformer.transform(data.train)), dtype=torch.float32)
    names = [t.spec.name for t in transformer.transformers_]
    model = synth.generator_.model.eval()
    with torch.no_grad():
        mu = model.encoder(x)[0]
    tail = (data.train[first] > data.train[first].quantile(TAIL)).to_numpy()
    shuffled = mu[torch.randperm(len(mu), generator=torch.Generator().manual_seed(0))]
    latents = {"posterior": mu, "shuffled": shuffled, "zero": torch.zeros_like(mu)}
    out = {"table": name, "seed": int(seed), "pair": [first, second], "tail_quantile": TAIL}
    for column in (first, second):
        block = transformer.slices_[names.index(column)]
        out[column] = {label: scalar_agreement(model, x, z, block, tail)
                       for label, z in latents.items()}
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()

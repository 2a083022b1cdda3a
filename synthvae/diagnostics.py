"""Training diagnostics: how much the latent space is used, and how well each column is
reconstructed through it.

Computed once after a (non-private) fit on the held-out rows (or, with none held out, on up to
``MAX_ROWS`` training rows):

* ``kl_per_dim``: mean KL(q(z_d | x) || N(0, 1)) of each latent dimension, in nats;
* ``active_units``: dimensions whose posterior mean varies across rows,
  Cov_x(E_q[z_d | x]) > ``ACTIVE_THRESHOLD`` (Burda et al. 2016). An inactive dimension
  carries no information about the row: the decoder ignores it;
* ``columns``: each column reconstructed from its own latent mean (decoded to its most likely
  value and mapped back to original units): ``accuracy`` (share of rows given back exactly)
  for categorical columns, ``error`` (mean absolute error divided by the column's standard
  deviation) for continuous and datetime columns. Identifier and constant columns are left
  out: the model does not learn them.

A posterior that has collapsed (almost no KL, next to no active unit) makes a decoder that
ignores its input: columns come out right one at a time but lose their dependencies.
:func:`check_collapse` warns then with :class:`PosteriorCollapseWarning`.

Under differential privacy none of this is computed: statistics of the private rows would be
releases outside the privacy budget.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import torch

from synthvae.errors import ModelFileError, PosteriorCollapseWarning
from synthvae.likelihood import decode_mean
from synthvae.losses import gaussian_kl
from synthvae.schema import ColumnKind

MAX_ROWS = 5_000  # rows scored: enough for 3 significant digits, milliseconds on a CPU
ACTIVE_THRESHOLD = 0.01  # Burda et al.'s activity threshold on Cov_x(E_q[z])
COLLAPSE_KL = 0.1  # nats per row: below this the latents say almost nothing about a row
COLLAPSE_UNITS = 1  # or at most this many active dimensions
PRIVATE_REASON = ("trained with differential privacy: statistics of the training rows "
                  "would be releases outside the privacy budget")


@torch.no_grad()
def latent_usage(model, data: torch.Tensor, batch_size: int = 8192) -> dict:
    """KL per latent dimension and active units over encoded rows ``data`` (rows, width)."""
    model.eval()
    mus, kls = [], []
    for start in range(0, len(data), batch_size):
        mu, logvar = model.encoder(data[start:start + batch_size])
        mus.append(mu)
        kls.append(gaussian_kl(mu, logvar).sum(0))  # (latent,)
    mu = torch.cat(mus)  # (rows, latent)
    kl_per_dim = torch.stack(kls).sum(0) / len(data)
    activity = mu.var(0, unbiased=False) if len(mu) > 1 else torch.zeros_like(kl_per_dim)
    return {"kl_per_dim": [round(float(v), 6) for v in kl_per_dim.cpu()],
            "kl_total": round(float(kl_per_dim.sum()), 6),
            "active_units": int((activity > ACTIVE_THRESHOLD).sum()),
            "latent_dim": int(mu.shape[1]), "active_threshold": ACTIVE_THRESHOLD}


@torch.no_grad()
def column_reconstruction(model, layout, transformer, data: torch.Tensor,
                          original: pd.DataFrame) -> dict:
    """{column: {"metric": "accuracy" | "error", "value": float}} of rows decoded at their
    latent mean (see the module docstring)."""
    model.eval()
    mu, _ = model.encoder(data)
    matrix = decode_mean(model, layout, mu).cpu().numpy()
    rebuilt = transformer.inverse_transform(matrix, np.random.default_rng(0))
    out = {}
    for spec, column in zip(transformer.schema.columns, transformer.transformers_):
        real, back = original[spec.name].reset_index(drop=True), rebuilt[spec.name]
        if spec.kind is ColumnKind.CATEGORICAL:
            same = (real.astype(object).to_numpy() == back.astype(object).to_numpy()) \
                | (real.isna().to_numpy() & back.isna().to_numpy())
            out[spec.name] = {"metric": "accuracy", "value": round(float(same.mean()), 4)}
        elif spec.kind in (ColumnKind.CONTINUOUS, ColumnKind.DATETIME):
            error = normalized_error(column.to_numbers(real), column.to_numbers(back))
            if error is not None:
                out[spec.name] = {"metric": "error", "value": round(error, 4)}
    return out


def normalized_error(real: np.ndarray, back: np.ndarray) -> float | None:
    """Mean |back - real| / std(real) over rows where both are present (None: no such row)."""
    both = ~(np.isnan(real) | np.isnan(back))
    if not both.any():
        return None
    scale = float(np.nanstd(real))
    scale = scale if scale > 0 else 1.0
    return float(np.abs(back[both] - real[both]).mean() / scale)


def training_diagnostics(model, layout, transformer, data: torch.Tensor,
                         original: pd.DataFrame, source: str) -> dict:
    """All diagnostics of rows ``data`` (encoded) / ``original`` (the same rows as given)."""
    usage = latent_usage(model, data)
    return {"rows": len(data), "rows_from": source, **usage,
            "collapsed": is_collapsed(usage),
            "columns": column_reconstruction(model, layout, transformer, data, original)}


def is_collapsed(usage: dict) -> bool:
    return usage["kl_total"] < COLLAPSE_KL or usage["active_units"] <= COLLAPSE_UNITS


def check_collapse(diagnostics: dict, beta: float, kl_anneal: str = "none",
                   autoregressive: bool = False) -> None:
    """Warn with :class:`PosteriorCollapseWarning` when the latents went unused."""
    if not diagnostics["collapsed"]:
        return
    anneal = "" if kl_anneal != "none" else "kl_anneal='linear' or "
    lost = ("The autoregressive decoder still draws each column given the earlier ones, "
            "but what it cannot express column to column is lost, and encode, interpolate "
            "and score see latents that say little about the rows." if autoregressive else
            "Columns will come out right one at a time but lose their dependencies.")
    warnings.warn(
        f"Posterior collapse: the latent space carries almost no information about the rows "
        f"(KL {diagnostics['kl_total']:.3g} nats per row, {diagnostics['active_units']} of "
        f"{diagnostics['latent_dim']} latent dimensions active). {lost} Train for more "
        f"epochs (a short fit has "
        f"not yet learned to use its latents), lower beta (now {beta}), or use "
        f"{anneal}free_bits (see docs/training.md).",
        PosteriorCollapseWarning, stacklevel=3)


def check_diagnostics(diagnostics, latent_dim: int, columns: list[str], where: str) -> None:
    """Raise ModelFileError unless ``diagnostics`` (from a model file) is well formed."""
    if diagnostics is None:
        return
    try:
        kl = diagnostics["kl_per_dim"]
        ok = (isinstance(kl, list) and len(kl) == latent_dim
              and all(isinstance(v, (int, float)) and math.isfinite(v) and v >= 0 for v in kl)
              and isinstance(diagnostics["active_units"], int)
              and 0 <= diagnostics["active_units"] <= latent_dim
              and isinstance(diagnostics["kl_total"], (int, float))
              and isinstance(diagnostics["collapsed"], bool)
              and isinstance(diagnostics["columns"], dict)
              and set(diagnostics["columns"]) <= set(columns)
              and all(c.get("metric") in ("accuracy", "error")
                      and isinstance(c.get("value"), (int, float))
                      for c in diagnostics["columns"].values()))
    except (KeyError, TypeError, AttributeError):
        ok = False
    if not ok:
        raise ModelFileError(f"{where} has invalid training diagnostics (expected KL for "
                             f"{latent_dim} latent dimensions, active units and columns of "
                             f"the schema).")

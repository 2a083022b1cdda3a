"""Drift monitoring through the model: does new data look like the training data?

At fit time a *reference profile* is kept: quantiles of the held-out rows' ELBO, and the mean,
variance and quantiles of each latent dimension's encoder mean. New data is scored the same
way and compared with one Kolmogorov-Smirnov test for the ELBO and one per latent dimension,
Bonferroni-corrected, so the family-wise false-alarm rate on undrifted data is at most alpha.

The profile holds aggregates only (quantiles of 101 levels, means, variances), never rows.
Under differential privacy no profile is kept (it would be a release outside the privacy
ledger); pass reference data to :meth:`synthvae.Synthesizer.drift` instead.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.stats import kstwobign

from synthvae.errors import ModelFileError

LEVELS = np.linspace(0.0, 1.0, 101)
PROFILE_MAX_ROWS = 20_000
SCORE_SAMPLES = 8  # importance samples behind each ELBO of the profile and of new data
DRIFT_ALPHA = 0.01
QUANTILE_SLACK = 0.5 / (len(LEVELS) - 1)  # CDF error of interpolating between quantiles


def reference_profile(elbo: np.ndarray, latents: np.ndarray) -> dict:
    """Aggregates of reference rows: ELBO (rows,) and latent means (rows, latent_dim).

    Rows of probability zero (ELBO -inf) are an atom one nat below the lowest finite ELBO,
    where :func:`drift_report` puts new rows of probability zero: their quantiles were
    -inf and NaN (-inf interpolated with a finite value), and the test never fired."""
    finite = np.isfinite(elbo)
    floor = (float(elbo[finite].min()) if finite.any() else 0.0) - 1.0
    elbo = np.where(finite, elbo, floor)
    return {"rows": int(len(elbo)), "score_samples": SCORE_SAMPLES,
            "elbo_quantiles": np.quantile(elbo, LEVELS).tolist(),
            "latent_mean": latents.mean(0).tolist(),
            "latent_var": latents.var(0).tolist(),
            "latent_quantiles": np.quantile(latents, LEVELS, axis=0).T.tolist()}


def check_profile(profile: dict, latent_dim: int, where: str) -> dict:
    """Validate a profile read from a model file."""
    try:
        quantiles = np.asarray(profile["latent_quantiles"], dtype=np.float64)
        ok = (quantiles.shape == (latent_dim, len(LEVELS))
              and len(profile["elbo_quantiles"]) == len(LEVELS)
              and len(profile["latent_mean"]) == latent_dim
              and len(profile["latent_var"]) == latent_dim and int(profile["rows"]) > 0)
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        raise ModelFileError(f"{where} has an invalid drift reference profile.")
    return profile


def ks_against_quantiles(values: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """KS statistic of each column of ``values`` (n, D) against a reference CDF given by its
    quantiles at LEVELS (D, Q), interpolated linearly; (D,).

    Both CDFs are compared at each value and just below it, so that a value many rows
    share (latents of a table with few distinct rows, the ELBO of a flags-only table: an
    atom, repeated quantiles in the profile) counts once, as the whole of its mass on both
    sides; with distinct values this is the usual statistic."""
    sorted_values = torch.as_tensor(np.sort(values, axis=0).T.copy()).contiguous()  # (D, n)
    table = torch.as_tensor(quantiles).contiguous()  # (D, Q)
    n = sorted_values.shape[1]
    gaps = torch.zeros(sorted_values.shape, dtype=torch.float64)
    for right in (True, False):  # at the value, and just below it
        empirical = torch.searchsorted(sorted_values, sorted_values, right=right) / n
        reference = _reference_cdf(table, sorted_values, right)
        gaps = torch.maximum(gaps, (empirical - reference).abs())
    return (gaps.max(1).values - QUANTILE_SLACK).clamp_min(0.0).numpy()


def _reference_cdf(table: torch.Tensor, values: torch.Tensor, right: bool) -> torch.Tensor:
    """The reference CDF at ``values`` (``right``) or its limit from below, interpolated
    between the quantiles ``table`` (D, Q); a repeated quantile is an atom."""
    index = torch.searchsorted(table, values, right=right)
    upper = index.clamp(1, table.shape[1] - 1)
    lower = upper - 1
    q_lo, q_hi = table.gather(1, lower), table.gather(1, upper)
    frac = ((values - q_lo) / (q_hi - q_lo).clamp_min(1e-300)).clamp(0.0, 1.0)
    cdf = (lower + frac) / (table.shape[1] - 1)
    below = values < table[:, :1] if right else values <= table[:, :1]
    above = values >= table[:, -1:] if right else values > table[:, -1:]
    return torch.where(below, 0.0, torch.where(above, 1.0, cdf))


def ks_p_values(statistics: np.ndarray, n_new: int, n_reference: int) -> np.ndarray:
    """Asymptotic two-sample KS p-values (both samples are finite)."""
    effective = n_new * n_reference / (n_new + n_reference)
    return kstwobign.sf(statistics * math.sqrt(effective))


def scored(generator, data: torch.Tensor, seed: int, samples: int = SCORE_SAMPLES
           ) -> tuple[np.ndarray, np.ndarray]:
    """(ELBO (rows,), latent means (rows, latent_dim)) of encoded rows ``data`` under a
    generator (synthvae.generator): what a profile and the rows compared with it hold."""
    rng = torch.Generator(device=generator.device).manual_seed(seed)
    elbo, _ = generator.log_likelihood(data, samples, rng)
    return elbo.cpu().numpy(), generator.encode(data).cpu().numpy()


def drift_report(profile: dict, elbo: np.ndarray, latents: np.ndarray,
                 alpha: float = DRIFT_ALPHA) -> dict:
    """Compare new rows' ELBO (rows,) and latent means (rows, latent_dim) with a profile."""
    n_ref = int(profile["rows"])
    latent_q = np.asarray(profile["latent_quantiles"], dtype=np.float64)
    elbo_q = np.asarray(profile["elbo_quantiles"], dtype=np.float64)[None]
    finite = np.isfinite(elbo)
    elbo_stat = ks_against_quantiles(np.where(finite, elbo, elbo_q.min())[:, None], elbo_q)
    latent_stat = ks_against_quantiles(latents.astype(np.float64), latent_q)
    tests = len(latent_stat) + 1
    level = alpha / tests  # Bonferroni: family-wise error <= alpha
    elbo_p = float(ks_p_values(elbo_stat, len(elbo), n_ref)[0])
    latent_p = ks_p_values(latent_stat, len(latents), n_ref)
    ref_sd = np.sqrt(np.maximum(np.asarray(profile["latent_var"]), 1e-12))
    shift = (latents.mean(0) - np.asarray(profile["latent_mean"])) / ref_sd
    drifted = np.flatnonzero(latent_p < level)
    worst = np.argsort(latent_p)[:5]
    return {
        "drift": bool(elbo_p < level or len(drifted) > 0),
        "alpha": alpha, "tests": tests, "per_test_level": level,
        "rows": int(len(elbo)), "reference_rows": n_ref,
        "elbo": {"reference_median": float(np.median(elbo_q)),
                 "median": _finite_or_none(np.median(elbo)),  # null: most rows impossible
                 "zero_probability_rows": int((~finite).sum()),
                 "ks_statistic": float(elbo_stat[0]), "p_value": elbo_p,
                 "drift": bool(elbo_p < level)},
        "latent": {"dimensions": int(len(latent_stat)),
                   "drifted_dimensions": int(len(drifted)),
                   "largest_mean_shift_sd": float(np.abs(shift).max()),
                   "variance_ratio_median": float(np.median(latents.var(0) / ref_sd ** 2)),
                   "worst": [{"dimension": int(d), "ks_statistic": float(latent_stat[d]),
                              "p_value": float(latent_p[d]), "mean_shift_sd": float(shift[d])}
                             for d in worst]},
    }


def _finite_or_none(value) -> float | None:
    """A number for JSON: None where it is not finite (JSON has no infinity)."""
    value = float(value)
    return value if math.isfinite(value) else None

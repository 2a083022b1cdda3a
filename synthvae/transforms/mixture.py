"""A variational Bayesian Gaussian mixture for many 1-D columns at once.

This is the model of scikit-learn's ``BayesianGaussianMixture`` with a Dirichlet-process
weight prior (the one TVAE/CTGAN use for mode-specific normalization), specialised to one
dimension and vectorized over columns: every array has a leading ``(columns, components)``
shape, so one E/M iteration updates all continuous columns of a table together. For Adult's
six numeric columns this fits in a fraction of a second, where fitting scikit-learn's estimator
once per column takes seconds.

The updates follow Bishop (2006), chapter 10.2, and Blei & Jordan (2006) for the stick-breaking
weights, with scikit-learn's default priors (mean prior = data mean, mean precision prior 1,
degrees of freedom 1, covariance prior = data variance).
"""

from __future__ import annotations

from dataclasses import dataclass

import math

import numpy as np
import torch

REG_COVAR = 1e-6
MIN_ITER = 20  # iterations before a column may stop (see _fit_block)
MAX_BLOCK_CELLS = 2**24  # rows x columns x components per E-step: 64 MB of float32


@dataclass(frozen=True)
class MixtureFit:
    """Fitted mixtures: arrays of shape (columns, components)."""

    weights: np.ndarray
    means: np.ndarray
    stds: np.ndarray
    n_iter: int


def fit_mixtures(x: np.ndarray, n_components: int = 10, weight_prior: float = 1e-3,
                 max_iter: int = 100, tol: float = 1e-3, seed: int = 0) -> MixtureFit:
    """Fit one mixture per column of ``x`` (rows, columns); NaN cells are ignored.

    Runs in float32 torch on the CPU: the (rows, columns, components) responsibilities are
    the whole cost, and torch's vectorized exp and reductions use every core. Wide tables
    are fitted in blocks of columns whose responsibilities hold at most ``MAX_BLOCK_CELLS``
    values, so memory stays bounded and the cost grows linearly with the columns.
    """
    x = np.asarray(x, dtype=np.float64)
    per_block = max(1, MAX_BLOCK_CELLS // max(1, len(x) * n_components))
    if x.shape[1] <= per_block:
        return _fit_block(x, n_components, weight_prior, max_iter, tol, seed)
    fits = [_fit_block(x[:, start:start + per_block], n_components, weight_prior, max_iter,
                       tol, seed) for start in range(0, x.shape[1], per_block)]
    return MixtureFit(*(np.concatenate([getattr(f, name) for f in fits])
                        for name in ("weights", "means", "stds")),
                      n_iter=max(f.n_iter for f in fits))


def _fit_block(x: np.ndarray, n_components: int, weight_prior: float, max_iter: int,
               tol: float, seed: int) -> MixtureFit:
    x = torch.as_tensor(x)
    observed = torch.isfinite(x)  # (n, C)
    x = torch.where(observed, x, torch.zeros_like(x))
    counts = observed.sum(0).clamp(min=1)
    mean0 = (x * observed).sum(0) / counts
    var0 = (((x - mean0) ** 2) * observed).sum(0) / counts + REG_COVAR
    scale = var0.sqrt()
    # Unit-variance columns: one tolerance means the same for every column.
    z = ((x - mean0) / scale).float()
    mask = observed.float()
    resp = _initial_responsibilities(z, mask, n_components, seed)
    # Each column stops when its own bound has converged (as one scikit-learn fit per column
    # would): the iterations go on over the columns still moving only, so a wide table
    # costs what its columns need, not max_iter for all whenever one column is slow.
    active = torch.arange(z.shape[1])
    fitted = [torch.empty((z.shape[1], n_components)) for _ in range(6)]
    previous = torch.full((z.shape[1],), -float("inf"))
    for n_iter in range(1, max_iter + 1):
        params = _m_step(z, mask, resp, weight_prior)
        resp, bound = _e_step(z, mask, params)
        for column_params, value in zip(fitted, params):
            column_params[active] = value
        # a column may stop only after MIN_ITER iterations: a spiky column (95 % zeros) sits
        # on a plateau for its first few iterations before its modes separate
        moving = ((bound - previous).abs() >= tol) | (n_iter < MIN_ITER)
        if not bool(moving.any()):
            break
        if not bool(moving.all()):
            active, z, mask = active[moving], z[:, moving], mask[:, moving]
            resp, bound = resp[:, moving], bound[moving]
        previous = bound
    a, b, means, beta, nu, cov = (p.double() for p in fitted)
    weights = _dp_weights(a, b)
    return MixtureFit(weights=weights.numpy(),
                      means=(means * scale[:, None] + mean0[:, None]).numpy(),
                      stds=(cov.sqrt() * scale[:, None]).numpy(), n_iter=n_iter)


def _initial_responsibilities(z, mask, k, seed):
    """Hard assignments to k equal-frequency bins of each column, ties broken at random."""
    generator = torch.Generator().manual_seed(seed)
    jitter = torch.rand(z.shape, generator=generator) * 1e-6
    ranks = torch.argsort(torch.argsort(z + jitter, dim=0), dim=0)
    bins = torch.clamp(ranks * k // max(len(z), 1), max=k - 1)  # (n, C)
    resp = torch.nn.functional.one_hot(bins, k).float()
    return resp * mask[..., None]


def _m_step(z, mask, resp, weight_prior):
    nk = resp.sum(0) + 1e-6  # (C, K)
    sum_z = torch.einsum("nck,nc->ck", resp, z)
    sum_z2 = torch.einsum("nck,nc->ck", resp, z * z)
    xbar = sum_z / nk
    sk = (sum_z2 / nk - xbar**2).clamp(min=0) + REG_COVAR
    tail = torch.flip(torch.cumsum(torch.flip(nk, [1]), 1), [1])[:, 1:]
    a = 1.0 + nk
    b = weight_prior + torch.cat([tail, torch.zeros_like(nk[:, :1])], 1)
    beta = 1.0 + nk  # mean precision prior 1
    means = nk * xbar / beta  # mean prior 0 on the standardized scale
    nu = 1.0 + nk  # degrees of freedom prior 1
    cov = (1.0 + nk * sk + nk / beta * xbar**2) / nu  # covariance prior 1 (unit variance)
    return a, b, means, beta, nu, cov


def _e_step(z, mask, params):
    """Responsibilities (n, C, K) and the mean log normaliser per column (C,)."""
    a, b, means, beta, nu, cov = params
    log_lambda = math.log(2.0) + torch.special.digamma(0.5 * nu)
    constant = (_dp_log_weights(a, b) - 0.5 * math.log(2 * math.pi) - 0.5 * cov.log()
                - 0.5 * nu.log() + 0.5 * (log_lambda - 1.0 / beta))  # (C, K)
    # In place: the (n, C, K) array is the whole cost of an iteration.
    resp = (z[..., None] - means).square_().mul_(-0.5 / cov).add_(constant)
    peak = resp.amax(2, keepdim=True)
    total = resp.sub_(peak).exp_().sum(2, keepdim=True)
    resp.div_(total).mul_(mask[..., None])
    norm = (total.log() + peak).squeeze(2)  # (n, C) log normaliser
    bound = (norm * mask).sum(0) / mask.sum(0).clamp(min=1)
    return resp, bound


def _dp_log_weights(a, b):
    total = torch.special.digamma(a + b)
    log_stick = torch.special.digamma(b) - total
    shifted = torch.cat([torch.zeros_like(a[:, :1]), torch.cumsum(log_stick, 1)[:, :-1]], 1)
    return torch.special.digamma(a) - total + shifted


def _dp_weights(a, b):
    total = a + b
    rest = torch.cat([torch.ones_like(a[:, :1]), torch.cumprod(b / total, 1)[:, :-1]], 1)
    weights = a / total * rest
    return weights / weights.sum(1, keepdim=True)


def log_component_densities(x: np.ndarray, means: np.ndarray, stds: np.ndarray,
                            weights: np.ndarray) -> np.ndarray:
    """log(weight_k * N(x | mean_k, std_k)) for x (n,) and parameters (K,): shape (n, K)."""
    z = (x[:, None] - means[None]) / stds[None]
    return np.log(weights)[None] - np.log(stds)[None] - 0.5 * z**2

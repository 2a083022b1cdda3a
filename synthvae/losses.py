"""The VAE objective, derived from the span layout with batched tensor ops."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from synthvae.layout import SpanLayout


def reconstruction_nll(logits: torch.Tensor, x: torch.Tensor, sigma: torch.Tensor,
                       layout: SpanLayout) -> torch.Tensor:
    """Negative log-likelihood of each row, (batch,).

    Scalar spans: Gaussian with mean tanh(logit) and a learned per-column sigma.
    Softmax spans: cross-entropy of the one-hot target.
    """
    nll = logits.new_zeros(logits.shape[0])
    if layout.n_scalars:
        mean = torch.tanh(logits[:, layout.scalar_index])  # (batch, n_scalars)
        target = x[:, layout.scalar_index]
        gauss = 0.5 * ((target - mean) / sigma) ** 2 + torch.log(sigma) \
            + 0.5 * math.log(2 * math.pi)
        nll = nll + gauss.sum(1)
    if layout.n_groups:
        slots = logits[:, layout.slot_index]  # (batch, n_slots)
        target = x[:, layout.slot_index]
        # -log softmax at the target = logsumexp(span) - logit(target), summed over spans;
        # a row with no target in a span (an unseen category) contributes nothing for it.
        present = layout.group_sum(target)  # (batch, n_groups)
        nll = nll + (layout.group_logsumexp(slots) * present).sum(1) \
            - (target * slots).sum(1)
    return nll


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) per latent dimension, (batch, latent)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def elbo_terms(logits, x, sigma, mu, logvar, layout) -> tuple[torch.Tensor, torch.Tensor]:
    """(reconstruction nll per row, KL per row)."""
    return reconstruction_nll(logits, x, sigma, layout), gaussian_kl(mu, logvar).sum(1)


class Terms(NamedTuple):
    """One batch's objective and its parts, each a 0-dim tensor."""

    loss: torch.Tensor  # what the optimiser minimises
    recon: torch.Tensor  # mean reconstruction NLL
    kl: torch.Tensor  # mean KL (the true one: free bits do not change it)


def objective(outputs, x: torch.Tensor, layout: SpanLayout, config, weight: float | None = None,
              rows: int | None = None) -> Terms:
    """The training objective of one batch: ``loss_factor * NLL + weight * KL``, per row.

    ``outputs`` is the VAE's ``(logits, sigma, mu, logvar)`` for the rows ``x``; ``config``
    gives ``loss_factor``, ``beta`` (the default ``weight``) and ``free_bits``. The terms are
    sums over ``x`` divided by ``rows`` (default ``len(x)``, the batch mean; a distributed
    rank passes the global batch size, so the ranks' terms add up to the global means).
    With ``free_bits`` > 0 the loss counts each latent dimension's batch-mean KL as at least
    ``free_bits`` nats (Kingma et al. 2016), so dimensions below it get no gradient to
    collapse further.
    """
    logits, sigma, mu, logvar = outputs
    rows = len(x) if rows is None else rows
    recon = reconstruction_nll(logits, x, sigma, layout).sum() / rows
    kl_dims = gaussian_kl(mu, logvar).sum(0) / rows  # (latent,)
    kl = kl_dims.sum()
    penalised = kl_dims.clamp(min=config.free_bits).sum() if config.free_bits > 0 else kl
    weight = config.beta if weight is None else weight
    return Terms(config.loss_factor * recon + weight * penalised, recon, kl)


def row_objective(outputs, x: torch.Tensor, layout: SpanLayout, config,
                  weight: float | None = None) -> Terms:
    """The objective of each row, before averaging: ``Terms`` of (batch,) tensors whose
    means are :func:`objective`'s terms without free bits (which couple the rows of a batch;
    DP-SGD's per-row clipping needs each row's loss on its own)."""
    logits, sigma, mu, logvar = outputs
    recon, kl = elbo_terms(logits, x, sigma, mu, logvar, layout)
    weight = config.beta if weight is None else weight
    return Terms(config.loss_factor * recon + weight * kl, recon, kl)


def elbo_loss(terms: Terms, config) -> torch.Tensor:
    """The full-weight objective (``beta``, no free bits): what early stopping compares."""
    return config.loss_factor * terms.recon + config.beta * terms.kl

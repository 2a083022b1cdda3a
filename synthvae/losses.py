"""The VAE objective, derived from the span layout with batched tensor ops."""

from __future__ import annotations

import math

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

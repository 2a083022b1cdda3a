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
    scalars, spans = nll_parts(logits, x, sigma, layout)
    return scalars + spans


def nll_parts(logits: torch.Tensor, x: torch.Tensor, sigma: torch.Tensor,
              layout: SpanLayout) -> tuple[torch.Tensor, torch.Tensor]:
    """(the numeric scalars' Gaussian NLL, the softmax spans' cross-entropy) of each row,
    each (batch,): :func:`reconstruction_nll` in its two parts."""
    scalars = logits.new_zeros(logits.shape[0])
    if layout.n_scalars:
        mean = torch.tanh(torch.index_select(logits, 1, layout.scalar_index))  # (batch, scalars)
        target = torch.index_select(x, 1, layout.scalar_index)
        gauss = 0.5 * ((target - mean) / sigma) ** 2 + torch.log(sigma) \
            + 0.5 * math.log(2 * math.pi)
        scalars = scalars + gauss.sum(1)
    spans = SpanCrossEntropy.apply(logits, x, layout) if layout.n_groups \
        else logits.new_zeros(logits.shape[0])
    return scalars, spans


class SpanCrossEntropy(torch.autograd.Function):
    """Cross-entropy of every softmax span, summed per row: (batch, width) logits and
    encoded rows -> (batch,).

    For span g with target shares t (one-hot, or 0 where a row holds none of its slots: an
    unseen category), ``present_g * logsumexp(logits_g) - t . logits_g``, whose gradient is
    ``present_g * softmax(logits_g) - t``. Written as one function with that gradient
    instead of autograd over each gather and reduction: the slots are gathered once (an
    ``index_select``, not advanced indexing), the softmax is kept from the forward pass, and
    the backward pass is a few passes over the ``(batch, n_slots)`` block and one
    ``index_copy`` into the logits' gradient (wide tables' training step:
    benchmarks/results/scale.md). The saved tensors are never changed in place, so a second
    backward pass through the same graph (Opacus' ghost clipping takes two) sees them
    intact. Differentiable once, in the logits only (the encoded rows get no gradient; no
    ``torch.func`` transforms): a second-order derivative raises instead of coming out wrong.
    """

    @staticmethod
    def forward(ctx, logits: torch.Tensor, x: torch.Tensor, layout: SpanLayout):
        slots = torch.index_select(logits, 1, layout.slot_index)  # (batch, n_slots)
        target = torch.index_select(x, 1, layout.slot_index).to(slots.dtype)
        dot = (target * slots).sum(1)
        peak, total = layout.group_exp_(slots)  # slots now exp(logit - span max)
        present = layout.group_sum(target)  # 1, or 0 where the row holds no slot of a span
        ctx.layout, ctx.width = layout, logits.shape[1]
        ctx.save_for_backward(slots, present / total, target)
        return ((total.log() + peak) * present).sum(1) - dot

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        if torch.is_grad_enabled():  # the engine enables it only for create_graph=True
            raise RuntimeError("The softmax spans' loss (SpanCrossEntropy) is differentiable "
                               "once: its gradient has no graph, so a second derivative "
                               "(create_graph=True) is not supported.")
        exp_slots, scale, target = ctx.saved_tensors
        layout = ctx.layout
        # present * softmax - target, times each row's incoming gradient
        slot_grad = (exp_slots * layout.expand(scale)).sub_(target).mul_(grad[:, None])
        logits_grad = slot_grad.new_zeros((len(slot_grad), ctx.width))
        logits_grad.index_copy_(1, layout.slot_index, slot_grad)
        return logits_grad, None, None


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


def fitted_terms(outputs, x: torch.Tensor, layout: SpanLayout, config
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(the reconstruction term the optimiser sees, the true reconstruction NLL, the KL
    per latent dimension), each per row. They differ where ``config.scalar_weight`` is not
    1: the numeric scalars' Gaussian NLL is weighted by it (under differential privacy: see
    synthvae.params.DP_SCALAR_WEIGHT)."""
    logits, sigma, mu, logvar = outputs
    scalars, spans = nll_parts(logits, x, sigma, layout)
    recon = scalars + spans
    fitted = recon if config.scalar_weight == 1.0 else spans + config.scalar_weight * scalars
    return fitted, recon, gaussian_kl(mu, logvar)


def objective(outputs, x: torch.Tensor, layout: SpanLayout, config, weight: float | None = None,
              rows: int | None = None) -> Terms:
    """The training objective of one batch: ``loss_factor * NLL + weight * KL``, per row.

    ``outputs`` is the VAE's ``(logits, sigma, mu, logvar)`` for the rows ``x``; ``config``
    gives ``loss_factor``, ``scalar_weight`` (see :func:`fitted_terms`), ``beta`` (the
    default ``weight``) and ``free_bits``. The terms are sums over ``x`` divided by ``rows``
    (default ``len(x)``, the batch mean; a distributed rank passes the global batch size, so
    the ranks' terms add up to the global means). With ``free_bits`` > 0 the loss counts
    each latent dimension's batch-mean KL as at least ``free_bits`` nats (Kingma et al.
    2016), so dimensions below it get no gradient to collapse further.
    """
    rows = len(x) if rows is None else rows
    fitted, recon, kl_rows = fitted_terms(outputs, x, layout, config)
    kl_dims = kl_rows.sum(0) / rows  # (latent,)
    kl = kl_dims.sum()
    penalised = kl_dims.clamp(min=config.free_bits).sum() if config.free_bits > 0 else kl
    weight = config.beta if weight is None else weight
    return Terms(config.loss_factor * fitted.sum() / rows + weight * penalised,
                 recon.sum() / rows, kl)


def row_objective(outputs, x: torch.Tensor, layout: SpanLayout, config,
                  weight: float | None = None) -> Terms:
    """The objective of each row, before averaging: ``Terms`` of (batch,) tensors whose
    means are :func:`objective`'s terms without free bits (which couple the rows of a batch;
    DP-SGD's per-row clipping needs each row's loss on its own)."""
    fitted, recon, kl_rows = fitted_terms(outputs, x, layout, config)
    kl = kl_rows.sum(1)
    weight = config.beta if weight is None else weight
    return Terms(config.loss_factor * fitted + weight * kl, recon, kl)


def elbo_loss(terms: Terms, config) -> torch.Tensor:
    """The full-weight objective (``beta``, no free bits): what early stopping compares."""
    return config.loss_factor * terms.recon + config.beta * terms.kl

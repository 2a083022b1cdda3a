"""Per-row likelihoods and latents of encoded rows: the VAE as a density model.

For a row x with k latents z_1..z_k drawn from q(z | x), the log importance weights
log w_i = log p(x | z_i) + log p(z_i) - log q(z_i | x) give

* the ELBO estimate: mean_i log w_i (a lower bound of log p(x));
* the IWAE estimate: logsumexp_i log w_i - log k (Burda et al. 2016), a tighter bound that
  approaches log p(x) as k grows.

p(z) is the prior the model samples from (N(0, I) or the fitted mixture), so the score is the
log-density of the very model that generates the synthetic rows. Densities are in nats of the
encoded row: continuous values in the mode-normalized scale, one categorical term per
softmax span. They rank rows of one model; they do not compare across models.
"""

from __future__ import annotations

import math

import torch

from synthvae.layout import SpanLayout
from synthvae.losses import reconstruction_nll

LOG_2PI = math.log(2 * math.pi)


@torch.no_grad()
def latent_means(model, data: torch.Tensor, batch_size: int = 16_384) -> torch.Tensor:
    """The encoder's mean latent of each row, (rows, latent_dim) on data's device."""
    model.eval()
    return torch.cat([model.encoder(data[s:s + batch_size])[0]
                      for s in range(0, len(data), batch_size)])


@torch.no_grad()
def decode_mean(model, layout: SpanLayout, z: torch.Tensor,
                excluded: torch.Tensor | None = None) -> torch.Tensor:
    """The decoder's most likely encoded row for each latent: scalar means, argmax slots
    (an autoregressive decoder's column by column, never a pair of ``excluded``,
    :mod:`synthvae.exclusions`)."""
    model.eval()
    logits = model.decoder(z)
    if model.decoder.autoregression is not None:  # the most likely slot, column by column
        from synthvae.sampling import ColumnDrawer

        out = torch.zeros_like(logits)
        sigma = model.decoder.sigma(z.new_ones((1, 1)))
        ColumnDrawer(model.decoder, layout, excluded=excluded).draw(out, logits, sigma)
        return out
    out = torch.zeros_like(logits)
    if layout.n_scalars:
        out[:, layout.scalar_index] = torch.tanh(logits[:, layout.scalar_index])
    if layout.n_groups:
        slots = logits[:, layout.slot_index]
        top = layout.expand(layout.group_max(slots))
        out[:, layout.slot_index] = (slots >= top).float()
    return out


@torch.no_grad()
def row_log_weights(model, layout: SpanLayout, prior, x: torch.Tensor, k: int,
                    generator: torch.Generator) -> torch.Tensor:
    """log importance weights, (rows, k), for rows ``x`` (rows, width)."""
    model.eval()
    mu, logvar = model.encoder(x)  # (n, L)
    std = torch.exp(0.5 * logvar)
    n, latent = mu.shape
    eps = torch.randn((k, n, latent), generator=generator, device=x.device)
    z = (mu + eps * std).reshape(k * n, latent)
    x_k = x.repeat(k, 1)
    logits = model.decoder(z, x_k)  # an autoregressive decoder reads the row's own columns
    sigma = model.decoder.sigma(z.new_ones((len(z), 1)))
    log_px = -reconstruction_nll(logits, x_k, sigma, layout)  # (k * n,)
    log_pz = prior.log_prob(z)
    log_qz = (-0.5 * eps.pow(2) - 0.5 * logvar - 0.5 * LOG_2PI).sum(2).reshape(k * n)
    weights = (log_px + log_pz - log_qz).reshape(k, n).T
    return torch.where(unseen_categories(layout, x)[:, None], -torch.inf, weights)


def unseen_categories(layout: SpanLayout, x: torch.Tensor) -> torch.Tensor:
    """(rows,) True where a categorical span is all zero: a value the model never saw and
    has no 'other' slot for, so it gives the row probability zero."""
    if not layout.n_groups:
        return torch.zeros(len(x), dtype=torch.bool, device=x.device)
    present = layout.group_sum(x[:, layout.slot_index])  # (rows, n_groups)
    return (present == 0).any(1)


@torch.no_grad()
def row_scores(model, layout: SpanLayout, prior, data: torch.Tensor, k: int,
               generator: torch.Generator, batch_size: int = 2048
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """(ELBO, IWAE log-likelihood) of each row, each (rows,) on data's device."""
    rows = max(1, batch_size // k)
    elbos, iwaes = [], []
    for start in range(0, len(data), rows):
        log_w = row_log_weights(model, layout, prior, data[start:start + rows], k, generator)
        elbos.append(log_w.mean(1))
        iwaes.append(torch.logsumexp(log_w, 1) - math.log(k))
    return torch.cat(elbos), torch.cat(iwaes)

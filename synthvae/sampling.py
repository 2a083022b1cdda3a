"""Decoder sampling in large batches: noise -> decoder -> encoded matrix (on the device)."""

from __future__ import annotations

import torch
from torch.nn.functional import linear

from synthvae.layout import SpanLayout
from synthvae.model import VAE

# On the CPU the rows are decoded in chunks whose (rows, slots) blocks stay in cache: the
# softmax draw is several passes over that block, each memory-bound at sampling scale.
CPU_CHUNK_ROWS = 2_048


@torch.no_grad()
def sample_matrix(model: VAE, layout: SpanLayout, prior, n: int, generator: torch.Generator,
                  device: torch.device, scalar_noise: bool = True,
                  offsets: torch.Tensor | None = None) -> torch.Tensor:
    """n rows of the encoded layout: scalars in [-1, 1], one one-hot per softmax span.

    Scalars are drawn from the decoder's Gaussian (mean tanh(logit), learned sigma) and
    categories from its softmax (inverse CDF, :meth:`SpanLayout.group_sample`), all spans
    at once. ``offsets`` (width,) are the marginal calibration's logit offsets
    (:mod:`synthvae.calibration`), or None.
    """
    model.eval()
    z = prior.sample(n, generator, device)  # (n, latent_dim)
    return decode_matrix(model, layout, z, generator, scalar_noise, offsets=offsets)


def prior_logits(model: VAE, z: torch.Tensor, offsets: torch.Tensor | None) -> torch.Tensor:
    """The decoder's logits for latents drawn from the prior, calibrated when ``offsets``."""
    logits = model.decoder(z)
    return logits if offsets is None else logits + offsets


@torch.no_grad()
def decode_matrix(model: VAE, layout: SpanLayout, z: torch.Tensor, generator: torch.Generator,
                  scalar_noise: bool = True, logits: torch.Tensor | None = None,
                  offsets: torch.Tensor | None = None) -> torch.Tensor:
    """Decode latents ``z`` (n, latent_dim) into a drawn encoded matrix (n, width).

    ``logits`` (n, width) are the decoder's output when the caller has it already (else
    it is computed, plus ``offsets``). The random draws are made for all rows first (scalar
    noise, then one uniform per span), so the rows do not depend on the chunking.
    """
    n, device = len(z), z.device
    noise = torch.randn((n, layout.n_scalars), generator=generator, device=device) \
        if layout.n_scalars and scalar_noise else None
    uniform = torch.rand((n, layout.n_groups), generator=generator, device=device) \
        if layout.n_groups else None
    sigma = model.decoder.sigma(z.new_ones((1, 1)))  # (1, n_scalars)
    # Column-major: each column's span is then one contiguous block for the inverse transform
    # (a row-major span is a strided view that numpy reads several times slower).
    out = torch.zeros((layout.width, n), device=device).T
    chunk = CPU_CHUNK_ROWS if device.type == "cpu" else max(n, 1)
    for start in range(0, n, chunk):
        rows = slice(start, start + chunk)
        scalars, slots = span_logits(model, layout, z[rows],
                                     None if logits is None else logits[rows], offsets)
        block = out[rows]  # a view: written in place
        if layout.n_scalars:
            mean = torch.tanh(scalars)
            if noise is not None:
                mean = mean + noise[rows] * sigma
            block.index_copy_(1, layout.scalar_index, mean.clamp_(-1.0, 1.0))
        if layout.n_groups:
            chosen = layout.group_sample(slots, uniform[rows])  # (rows, n_groups)
            block.scatter_(1, layout.slot_index[chosen], 1.0)
    return out


def span_logits(model: VAE, layout: SpanLayout, z: torch.Tensor, logits: torch.Tensor | None,
                offsets: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows, n_scalars) scalar and (rows, n_slots) slot logits of latents ``z``.

    Without ``logits`` the output layer's rows are split into scalar and slot rows, so the
    two blocks come out of two matmuls instead of being gathered from a (rows, width) one.
    """
    if logits is not None:
        return logits[:, layout.scalar_index], logits[:, layout.slot_index]
    hidden = model.decoder.body(z)  # (rows, hidden[-1])
    weight, bias = model.decoder.out.weight, model.decoder.out.bias
    if offsets is not None:
        bias = bias + offsets
    return (linear(hidden, weight[layout.scalar_index], bias[layout.scalar_index]),
            linear(hidden, weight[layout.slot_index], bias[layout.slot_index]))

"""Decoder sampling in large batches: noise -> decoder -> encoded matrix (on the device)."""

from __future__ import annotations

import torch

from synthvae.layout import SpanLayout
from synthvae.model import VAE


@torch.no_grad()
def sample_matrix(model: VAE, layout: SpanLayout, prior, n: int, generator: torch.Generator,
                  device: torch.device, scalar_noise: bool = True,
                  offsets: torch.Tensor | None = None) -> torch.Tensor:
    """n rows of the encoded layout: scalars in [-1, 1], one one-hot per softmax span.

    Scalars are drawn from the decoder's Gaussian (mean tanh(logit), learned sigma) and
    categories from its softmax (Gumbel-max), all spans at once. ``offsets`` (width,) are the
    marginal calibration's logit offsets (:mod:`synthvae.calibration`), or None.
    """
    model.eval()
    z = prior.sample(n, generator, device)  # (n, latent_dim)
    logits = prior_logits(model, z, offsets)
    return decode_matrix(model, layout, z, generator, scalar_noise, logits=logits)


def prior_logits(model: VAE, z: torch.Tensor, offsets: torch.Tensor | None) -> torch.Tensor:
    """The decoder's logits for latents drawn from the prior, calibrated when ``offsets``."""
    logits = model.decoder(z)
    return logits if offsets is None else logits + offsets


@torch.no_grad()
def decode_matrix(model: VAE, layout: SpanLayout, z: torch.Tensor, generator: torch.Generator,
                  scalar_noise: bool = True, logits: torch.Tensor | None = None
                  ) -> torch.Tensor:
    """Decode latents ``z`` (n, latent_dim) into a drawn encoded matrix (n, width)."""
    n, device = len(z), z.device
    logits = model.decoder(z) if logits is None else logits  # (n, width)
    out = torch.empty((n, layout.width), device=device)
    if layout.n_scalars:
        mean = torch.tanh(logits[:, layout.scalar_index])
        if scalar_noise:
            noise = torch.randn(mean.shape, generator=generator, device=device)
            mean = mean + noise * model.decoder.sigma(z.new_ones((1, 1)))
        out.index_copy_(1, layout.scalar_index, mean.clamp(-1.0, 1.0))
    if layout.n_groups:
        onehot = layout.group_sample_onehot(logits[:, layout.slot_index], generator)
        out.index_copy_(1, layout.slot_index, onehot)
    return out

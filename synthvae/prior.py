"""Latent priors to sample from: N(0, I) or a Gaussian mixture fitted to the aggregate posterior.

A VAE trained with a KL to N(0, I) rarely fills N(0, I) exactly: decoding from regions the
encoder never uses ("holes") gives implausible rows. Fitting a diagonal Gaussian mixture to
latents drawn from q(z|x) of the training rows, and sampling from it, keeps samples where
the decoder was trained. The decoder is unchanged; ``prior="normal"`` restores plain TVAE.
"""

from __future__ import annotations

import numpy as np
import torch

PRIORS = ("gmm", "normal")
LOG_2PI = float(np.log(2 * np.pi))
MAX_PRIOR_ROWS = 50_000


class StandardNormalPrior:
    kind = "normal"

    def __init__(self, latent_dim: int):
        self.latent_dim = latent_dim

    def to(self, device) -> "StandardNormalPrior":
        return self

    def sample(self, n: int, generator: torch.Generator, device) -> torch.Tensor:
        return torch.randn((n, self.latent_dim), generator=generator, device=device)

    def tensors(self) -> dict[str, torch.Tensor]:
        return {}

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log density of each row of ``z``, (n,)."""
        return -0.5 * z.pow(2).sum(1) - 0.5 * z.shape[1] * LOG_2PI

    def scale(self) -> torch.Tensor:
        """(latent_dim,) marginal standard deviation of each latent dimension."""
        return torch.ones(self.latent_dim)


class MixturePrior:
    """Diagonal Gaussian mixture over the latent space; tensors live on the sampling device."""

    kind = "gmm"

    def __init__(self, weights: torch.Tensor, means: torch.Tensor, stds: torch.Tensor):
        self.weights, self.means, self.stds = weights, means, stds  # (K,), (K, L), (K, L)

    @classmethod
    def fit(cls, latents: np.ndarray, n_components: int, seed: int) -> "MixturePrior":
        from sklearn.mixture import GaussianMixture  # fitting only: sampling never loads it

        rng = np.random.default_rng(seed)
        if len(latents) > MAX_PRIOR_ROWS:
            latents = latents[rng.choice(len(latents), MAX_PRIOR_ROWS, replace=False)]
        k = max(1, min(n_components, len(latents) // 10))
        gmm = GaussianMixture(k, covariance_type="diag", reg_covar=1e-4, max_iter=100,
                              random_state=seed).fit(latents)
        return cls(torch.tensor(gmm.weights_, dtype=torch.float32),
                   torch.tensor(gmm.means_, dtype=torch.float32),
                   torch.tensor(np.sqrt(gmm.covariances_), dtype=torch.float32))

    def to(self, device) -> "MixturePrior":
        return MixturePrior(self.weights.to(device), self.means.to(device), self.stds.to(device))

    def sample(self, n: int, generator: torch.Generator, device) -> torch.Tensor:
        component = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        noise = torch.randn((n, self.means.shape[1]), generator=generator, device=device)
        # in place on the noise: the same values as means[c] + noise * stds[c], one pass less
        return noise.mul_(self.stds.index_select(0, component)).add_(
            self.means.index_select(0, component))

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"weights": self.weights, "means": self.means, "stds": self.stds}

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log density of each row of ``z``, (n,)."""
        scaled = (z[:, None, :] - self.means) / self.stds  # (n, K, L)
        per_component = -0.5 * scaled.pow(2).sum(2) - torch.log(self.stds).sum(1) \
            - 0.5 * z.shape[1] * LOG_2PI
        return torch.logsumexp(per_component + torch.log(self.weights), dim=1)

    def scale(self) -> torch.Tensor:
        """(latent_dim,) marginal standard deviation of each latent dimension."""
        w = self.weights[:, None]
        mean = (w * self.means).sum(0)
        return ((w * (self.stds ** 2 + self.means ** 2)).sum(0) - mean ** 2).clamp_min(0).sqrt()


@torch.no_grad()
def posterior_latents(model, data: torch.Tensor, generator: torch.Generator,
                      batch_size: int = 16_384) -> np.ndarray:
    """One draw z ~ q(z|x) per row of ``data``, (rows, latent_dim) on the host."""
    model.eval()
    chunks = []
    for start in range(0, len(data), batch_size):
        mu, logvar = model.encoder(data[start:start + batch_size])
        noise = torch.randn(mu.shape, generator=generator, device=mu.device)
        chunks.append(mu + noise * torch.exp(0.5 * logvar))
    return torch.cat(chunks).cpu().numpy()


def prior_from_tensors(kind: str, latent_dim: int, tensors: dict[str, torch.Tensor]):
    if kind == "normal":
        return StandardNormalPrior(latent_dim)
    return MixturePrior(tensors["weights"], tensors["means"], tensors["stds"])

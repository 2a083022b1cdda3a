"""The VAE: encoder and decoder as pure computation (the training loop lives elsewhere)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

SIGMA_MIN, SIGMA_MAX = 0.01, 1.0


@dataclass
class ModelConfig:
    data_dim: int  # width of the encoded matrix
    n_scalars: int  # scalar spans: one learned sigma each
    latent_dim: int = 128  # TVAE's default
    hidden: tuple[int, ...] = field(default=(128, 128))  # TVAE's default
    sigma_init: float = 0.1  # TVAE's initial output sigma

    def to_dict(self) -> dict:
        out = asdict(self)
        out["hidden"] = list(self.hidden)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        return cls(**dict(data, hidden=tuple(data["hidden"])))


def mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.body = mlp([config.data_dim, *config.hidden])
        width = config.hidden[-1] if config.hidden else config.data_dim
        self.mu = nn.Linear(width, config.latent_dim)
        self.logvar = nn.Linear(width, config.latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)  # (batch, hidden[-1])
        return self.mu(h), self.logvar(h).clamp(-20.0, 10.0)


class OutputSigma(nn.Module):
    """Per-column output sigma in (SIGMA_MIN, SIGMA_MAX), smooth in its parameter.

    Written as a bias-free ``Linear(1, n)`` applied to a column of ones, so per-sample
    gradient engines (Opacus) handle it like any linear layer.
    """

    def __init__(self, n: int, init: float):
        super().__init__()
        self.raw = nn.Linear(1, n, bias=False)
        p = (init - SIGMA_MIN) / (SIGMA_MAX - SIGMA_MIN)
        nn.init.constant_(self.raw.weight, float(torch.logit(torch.tensor(p))))

    def forward(self, ones: torch.Tensor) -> torch.Tensor:
        """(batch, 1) ones -> (batch, n) sigmas."""
        return SIGMA_MIN + (SIGMA_MAX - SIGMA_MIN) * torch.sigmoid(self.raw(ones))


class Decoder(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        hidden = list(reversed(config.hidden))
        self.body = mlp([config.latent_dim, *hidden])
        self.out = nn.Linear(hidden[-1] if hidden else config.latent_dim, config.data_dim)
        self.sigma = OutputSigma(config.n_scalars, config.sigma_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(z))  # (batch, data_dim) raw logits


class VAE(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)

    def forward(self, x: torch.Tensor, noise: torch.Tensor):
        """Encode, reparameterize with the given standard-normal ``noise``, decode.

        Returns (logits (batch, width), sigma (batch, n_scalars), mu, logvar).
        """
        mu, logvar = self.encoder(x)
        z = mu + noise * torch.exp(0.5 * logvar)
        sigma = self.decoder.sigma(x.new_ones((len(x), 1)))
        return self.decoder(z), sigma, mu, logvar

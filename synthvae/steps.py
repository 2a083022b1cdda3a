"""Step strategies: how one batch becomes one optimiser update, for the one training loop.

A step strategy owns the optimiser and the generator of the latent noise. It is called once
per :class:`synthvae.batches.Batch` with the epoch's KL weight and returns the batch's
``(loss, recon, kl)`` contribution on the device (no host synchronisation); the loop adds
them up and asks :meth:`PlainStep.epoch_means` for the epoch's means.

- :class:`PlainStep`: Adam on the batch-mean objective;
- :class:`DDPStep`: one rank of a data-parallel fit: the rank's share of the global batch,
  scaled so that DistributedDataParallel's gradient average is the global batch's gradient;
- ``synthvae.privacy.DPStep``: DP-SGD through Opacus (there, as opacus is imported nowhere
  else).
"""

from __future__ import annotations

import torch

from synthvae.batches import Batch
from synthvae.losses import Terms, elbo_loss, objective

EVAL_BATCH_ROWS = 8192


def adam(parameters, config) -> torch.optim.Adam:
    """The optimiser of every fit: Adam with the config's learning rate and weight decay."""
    return torch.optim.Adam(parameters, lr=config.lr, weight_decay=config.weight_decay,
                            fused=True)


def objective_terms(net, rows: torch.Tensor, layout, config, generator: torch.Generator,
                    weight: float | None = None, size: int | None = None, rank: int = 0,
                    world_size: int = 1) -> Terms:
    """:func:`synthvae.losses.objective` of ``rows`` under fresh latent noise.

    ``net`` is the VAE, maybe wrapped (DDP, Opacus). In a distributed fit ``rows`` are this
    rank's rows ``rank::world_size`` of a batch of ``size``: the noise is drawn for the whole
    batch, as one process draws it, and the terms are this rank's share of its means.
    """
    size = len(rows) if size is None else size
    noise = torch.randn((size, latent_dim_of(net)), generator=generator, device=rows.device)
    return objective(net(rows, noise[rank::world_size]), rows, layout, config, weight, size)


def latent_dim_of(model) -> int:
    while not hasattr(model, "config"):  # unwrap GradSampleModule (_module), DDP (module)
        model = getattr(model, "_module", None) or model.module
    return model.config.latent_dim


class PlainStep:
    """Adam on the mean objective of each batch."""

    hint = "Lower the learning rate (lr={lr}) or check the data for extreme values."
    rank, world_size = 0, 1

    def __init__(self, model, layout, config, generator: torch.Generator):
        self.model, self.layout, self.config, self.generator = model, layout, config, generator
        self.net = self.wrap(model)
        self.optimizer = adam(model.parameters(), config)

    def wrap(self, model):
        return model

    def __call__(self, batch: Batch, weight: float) -> torch.Tensor:
        if not self.net.training:  # after a held-out evaluation
            self.net.train()
        terms = self.terms(self.net, batch, weight)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaled(terms.loss).backward()
        self.optimizer.step()
        return torch.stack(terms).detach()

    def terms(self, net, batch: Batch, weight: float | None = None) -> Terms:
        return objective_terms(net, batch.data, self.layout, self.config, self.generator,
                               weight, batch.size, self.rank, self.world_size)

    def scaled(self, loss: torch.Tensor) -> torch.Tensor:
        return loss

    def epoch_means(self, totals: torch.Tensor, steps: int) -> torch.Tensor:
        return totals / max(steps, 1)

    @torch.no_grad()
    def evaluate(self, data: torch.Tensor) -> float:
        """Mean full-weight objective (a scaled negative ELBO) on held-out rows: neither
        annealing nor free bits can fool early stopping."""
        self.net.eval()
        total = torch.zeros((), device=data.device)
        for start in range(0, len(data), EVAL_BATCH_ROWS):
            rows = data[start:start + EVAL_BATCH_ROWS]
            batch = Batch(rows[self.rank::self.world_size], len(rows))
            total += elbo_loss(self.terms(self.model, batch), self.config) * len(rows)
        return float(self.reduce(total)) / len(data)

    def reduce(self, total: torch.Tensor) -> torch.Tensor:
        return total

    def close(self) -> None:
        pass


class DDPStep(PlainStep):
    """One rank of a data-parallel fit (``batches.RankShare`` gives it its rows): each
    rank's terms are its share of the global batch means; DDP averages the gradients and the
    loss is scaled by the world size, so the update is the single-process one up to float
    summation order. One all-reduce per epoch (and per held-out evaluation)."""

    def __init__(self, model, layout, config, generator: torch.Generator, parallel):
        self.parallel = parallel
        self.rank, self.world_size = parallel.rank, parallel.world_size
        super().__init__(model, layout, config, generator)

    def wrap(self, model):
        return self.parallel.wrap(model)

    def scaled(self, loss: torch.Tensor) -> torch.Tensor:
        return loss * self.world_size  # DDP averages the ranks' gradients: undo it

    def epoch_means(self, totals: torch.Tensor, steps: int) -> torch.Tensor:
        return self.reduce(totals) / max(steps, 1)

    def reduce(self, total: torch.Tensor) -> torch.Tensor:
        torch.distributed.all_reduce(total)
        return total

"""Data-parallel training with torch.distributed: launched by ``torchrun``, one process per
device, the model wrapped in DistributedDataParallel.

Every rank reads the table and fits the column transforms identically (same data, same
seed), then holds the same encoded rows. Each epoch all ranks draw the same permutation and,
for each global batch of ``batch_size`` rows, rank ``r`` trains on rows ``r::world_size`` of
it (the layout of ``torch.utils.data.DistributedSampler``), with the matching rows of the
batch's latent noise. Each rank's loss is scaled so that DDP's gradient average is exactly
the gradient of the global batch mean: the optimisation is the single-process one, up to
float summation order. The held-out loss is all-reduced, so early stopping decides the same
on every rank. Only rank 0 writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from synthvae.errors import ConfigError
from synthvae.losses import elbo_terms
from synthvae.training import latent_dim_of

LAUNCHER_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class DistributedContext:
    rank: int  # this process's position, 0 .. world_size - 1
    world_size: int  # number of processes
    local_rank: int  # position on this machine (selects the GPU)
    owns_group: bool  # True when synthvae initialised the process group (and ends it)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, device: torch.device) -> torch.device:
        """One GPU per process: ``cuda`` becomes ``cuda:LOCAL_RANK``."""
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", self.local_rank)
        if device.type == "cuda":
            torch.cuda.set_device(device)
        return device

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        from torch.nn.parallel import DistributedDataParallel

        device = next(model.parameters()).device
        ids = [device] if device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def run_epoch(self, model, data, layout, config, optimizer, generator,
                  weight: float | None = None) -> torch.Tensor:
        """One pass; each rank's share of every global batch. Mean (loss, recon, kl).

        ``weight`` is this epoch's KL weight (default ``config.beta``)."""
        model.train()
        latent_dim = latent_dim_of(model.module)
        order = torch.randperm(len(data), generator=generator, device=data.device)
        totals = torch.zeros(3, device=data.device)
        steps = 0
        for start in range(0, len(data), config.batch_size):
            rows = order[start:start + config.batch_size]
            # the whole batch's noise, as one process draws it; this rank uses its rows
            noise = torch.randn((len(rows), latent_dim), generator=generator,
                                device=data.device)
            mine = slice(self.rank, None, self.world_size)
            parts = self._part_sums(model, data[rows[mine]], noise[mine], layout, config,
                                    weight)
            parts = parts / len(rows)  # this rank's share of the global batch means
            optimizer.zero_grad(set_to_none=True)
            (parts[0] * self.world_size).backward()  # DDP averages: global-batch gradient
            optimizer.step()
            totals += parts.detach()
            steps += 1
        dist.all_reduce(totals)  # one collective per epoch, not per step
        return totals / max(steps, 1)

    @torch.no_grad()
    def evaluate_loss(self, model, data, layout, config, generator,
                      batch_size: int = 8192) -> float:
        """Mean objective on the held-out rows, computed in parts and all-reduced."""
        model.eval()
        latent_dim = latent_dim_of(model.module)
        total = torch.zeros((), device=data.device)
        for start in range(0, len(data), batch_size):
            batch = data[start:start + batch_size]
            noise = torch.randn((len(batch), latent_dim), generator=generator,
                                device=data.device)
            mine = slice(self.rank, None, self.world_size)
            total += self._part_sums(model.module, batch[mine], noise[mine], layout,
                                     config)[0]
        dist.all_reduce(total)
        return float(total) / len(data)

    @staticmethod
    def _part_sums(model, batch, noise, layout, config, weight: float | None = None
                   ) -> torch.Tensor:
        """(objective, recon, kl) summed over this rank's rows, KL weighted by ``weight``
        (default ``config.beta``, the full weight early stopping compares)."""
        logits, sigma, mu, logvar = model(batch, noise)
        recon, kl = elbo_terms(logits, batch, sigma, mu, logvar, layout)
        recon, kl = recon.sum(), kl.sum()
        weight = config.beta if weight is None else weight
        return torch.stack([config.loss_factor * recon + weight * kl, recon, kl])

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def launched_by_torchrun() -> bool:
    return all(name in os.environ for name in ("RANK", "WORLD_SIZE"))


def wanted(requested: bool | None) -> bool:
    """Whether a fit with ``distributed=requested`` is distributed: True (always), False
    (never), None (when launched by torchrun with more than one process)."""
    if requested is not None:
        return requested
    return launched_by_torchrun() and int(os.environ["WORLD_SIZE"]) > 1


def start(requested: bool | None, device: torch.device) -> DistributedContext | None:
    """The distributed context of this process, joining the process group; None when the
    fit is not distributed. ``requested``: True (must be), False (never), None (when
    launched by torchrun with more than one process)."""
    if not wanted(requested):
        return None
    if not launched_by_torchrun():
        raise ConfigError("distributed=True needs a launcher that sets RANK, WORLD_SIZE, "
                          "MASTER_ADDR and MASTER_PORT: run 'torchrun --nproc-per-node N "
                          "-m synthvae fit ...' (see docs/scale.md).")
    world_size, rank = int(os.environ["WORLD_SIZE"]), int(os.environ["RANK"])
    owns = not dist.is_initialized()
    if owns:
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    return DistributedContext(rank, world_size, int(os.environ.get("LOCAL_RANK", rank)), owns)

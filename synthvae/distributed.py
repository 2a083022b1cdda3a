"""Data-parallel training with torch.distributed: launched by ``torchrun``, one process per
device, the model wrapped in DistributedDataParallel.

Every rank reads the table and fits the column transforms identically (same data, same
seed), then holds the same encoded rows. Each epoch all ranks draw the same batches and rank
``r`` trains on rows ``r::world_size`` of each (``batches.RankShare``, the layout of
``torch.utils.data.DistributedSampler``), with the matching rows of the batch's latent
noise; ``steps.DDPStep`` scales each rank's loss so that DDP's gradient average is exactly
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

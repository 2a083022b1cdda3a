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
    return launched_by_torchrun() and launcher_number("WORLD_SIZE", 1) > 1


def launcher_number(name: str, low: int, high: int | None = None) -> int:
    """The launcher's environment variable ``name`` as a whole number from ``low`` (to
    ``high``), else a ConfigError naming it (another tool may have set it)."""
    text = os.environ[name]
    value = int(text) if text.strip().isascii() and text.strip().isdigit() else None
    if value is None or value < low or (high is not None and value > high):
        expected = f"from {low} to {high}" if high is not None else f">= {low}"
        raise ConfigError(f"The environment variable {name} must be a whole number {expected} "
                          f"for a distributed fit (torchrun sets it); got {text!r}. Launch "
                          f"with 'torchrun', or unset RANK and WORLD_SIZE (or pass "
                          f"distributed=False, --no-distributed) for a plain fit.")
    return value


def check_rendezvous() -> None:
    """A process group synthvae starts meets at MASTER_ADDR:MASTER_PORT; torchrun sets both,
    and RANK and WORLD_SIZE alone come from other launchers or a job's environment."""
    missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(name)]
    if missing:
        raise ConfigError(f"A distributed fit needs MASTER_ADDR and MASTER_PORT in the "
                          f"environment: RANK and WORLD_SIZE are set ({os.environ['RANK']!r}, "
                          f"{os.environ['WORLD_SIZE']!r}) but {' and '.join(missing)} "
                          f"{'is' if len(missing) == 1 else 'are'} not. Launch with 'torchrun "
                          f"--nproc-per-node N -m synthvae fit ...' (see docs/scale.md), or "
                          f"unset RANK and WORLD_SIZE (or pass distributed=False, "
                          f"--no-distributed) for a plain fit.")
    launcher_number("MASTER_PORT", 1, 65535)


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
    world_size = launcher_number("WORLD_SIZE", 1)
    rank = launcher_number("RANK", 0, world_size - 1)
    local_rank = launcher_number("LOCAL_RANK", 0) if "LOCAL_RANK" in os.environ else rank
    owns = not dist.is_initialized()
    if owns:
        check_rendezvous()
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    return DistributedContext(rank, world_size, local_rank, owns)

"""The one training loop, over a batch source and a step strategy.

A fit composes a batch source (:mod:`synthvae.batches`: a permutation of in-memory rows,
Poisson batches, a Parquet stream, a distributed rank's share of any of them) with a step
strategy (:mod:`synthvae.steps`: plain Adam, one DDP rank; ``synthvae.privacy.DPStep``:
DP-SGD); :func:`train` runs the epochs: the KL weight's schedule, one host read of the
epoch's loss (no per-step synchronisation), the held-out loss, early stopping and
checkpoints. :class:`FitPlan` decides once, when fit starts, which of them a fit uses.
See docs/training.md.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable

import torch

from synthvae.errors import TrainingError
from synthvae.stopping import EarlyStopping


@dataclass
class TrainConfig:
    epochs: int = 300  # upper bound; early stopping usually ends sooner
    batch_size: int = 500  # TVAE's default
    lr: float = 1e-3  # Adam learning rate
    weight_decay: float = 1e-5  # TVAE's l2scale
    beta: float = 1.0  # weight of the KL term (after annealing)
    kl_anneal: str = "none"  # KL weight schedule: "none", "linear" or "cyclical"
    kl_anneal_epochs: int = 0  # linear: ramp length; cyclical: cycle length (epochs)
    free_bits: float = 0.0  # nats per latent dimension not penalised (0 = off)
    loss_factor: float = 2.0  # TVAE's weight of the reconstruction term
    scalar_weight: float = 1.0  # weight of the numeric scalars' NLL within it (DP: below 1)
    validation_fraction: float = 0.1  # held-out rows for early stopping (0 = none)
    patience: int = 20  # epochs without a better held-out ELBO (at least PATIENCE_STEPS steps)
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class EpochStats:
    epoch: int
    loss: float
    reconstruction: float
    kl: float
    val_loss: float | None


KL_SCHEDULES = ("none", "linear", "cyclical")


def kl_weight(epoch: int, config: TrainConfig) -> float:
    """Weight of the KL term during ``epoch`` (1-based); a schedule of the epoch alone.

    "linear" ramps from 0 at epoch 1 to ``beta`` at epoch ``kl_anneal_epochs + 1`` and holds
    it (Bowman et al. 2016); "cyclical" repeats cycles of ``kl_anneal_epochs`` epochs, each
    ramping from 0 to ``beta`` over its first half and holding ``beta`` over the second
    (Fu et al. 2019).
    """
    period = config.kl_anneal_epochs
    if config.kl_anneal == "none" or period < 1:
        return config.beta
    if config.kl_anneal == "linear":
        return config.beta * min(1.0, (epoch - 1) / period)
    ramp = max(1.0, period / 2)
    return config.beta * min(1.0, ((epoch - 1) % period) / ramp)


def annealing_epochs(config: TrainConfig) -> int:
    """Epochs before the KL weight first reaches ``beta`` (early stopping waits for them)."""
    return 0 if config.kl_anneal == "none" else config.kl_anneal_epochs


def split_rows(n: int, fraction: float, generator: torch.Generator, device
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Random (train, validation) row indices."""
    order = torch.randperm(n, generator=generator).to(device)
    n_val = int(round(n * fraction)) if n >= 20 else 0
    return order[n_val:], order[:n_val]


def holdout_split(n: int, config: TrainConfig, device) -> tuple[torch.Tensor, torch.Tensor]:
    """The (train, validation) rows that :func:`train` uses for ``config``."""
    return split_rows(n, config.validation_fraction,
                      torch.Generator().manual_seed(config.seed), device)


@dataclass
class TrainState:
    """Everything the loop needs to continue where it stopped (a checkpoint's content)."""

    epoch: int = 0  # epochs completed
    history: list = field(default_factory=list)  # EpochStats
    best: float = math.inf  # best held-out loss so far
    best_state: dict | None = None  # model weights at that epoch
    stopping: EarlyStopping | None = None  # the stopping rule's state (with a validation split)
    optimizer_state: dict | None = None
    generator_state: torch.Tensor | None = None


@dataclass(frozen=True)
class FitPlan:
    """What kind of fit this is, decided once from the parameters when fit starts; every
    step that differs under differential privacy reads it, not ``epsilon``."""

    private: bool  # DP-SGD on Poisson batches (synthvae.privacy); nothing else is released
    validation_fraction: float  # rows held out for early stopping (none under DP)
    beta: float  # KL weight after annealing
    lr: float = 1e-3  # Adam learning rate
    latent_dim: int = 128  # latent dimensions of the VAE
    scalar_weight: float = 1.0  # weight of the numeric scalars' NLL in the objective

    @property
    def keeps_row_statistics(self) -> bool:
        """Whether anything computed from the rows besides the model may be kept (loss
        history, mixture prior, drift profile, diagnostics): not under DP. (Calibration
        reads released frequencies under DP: synthvae.fitting.calibrate.)"""
        return not self.private


def train(step, source, config: TrainConfig,
          on_epoch: Callable[[EpochStats], None] | None = None,
          state: TrainState | None = None, held_out: torch.Tensor | None = None,
          checkpoint_every: int = 0,
          on_checkpoint: Callable[[TrainState], None] | None = None) -> list[EpochStats]:
    """Train ``step.model`` on the batches of ``source`` (see the module docstring); returns
    the per-epoch stats.

    With ``held_out`` rows, training stops early and the weights of the epoch with the best
    held-out loss are kept. ``state`` (from a checkpoint) continues an interrupted fit
    exactly; every ``checkpoint_every`` epochs ``on_checkpoint`` receives the current state.
    """
    state = state if state is not None else TrainState()
    if state.optimizer_state is not None:
        step.optimizer.load_state_dict(state.optimizer_state)
        step.generator.set_state(state.generator_state)
    try:
        for epoch in range(state.epoch + 1, config.epochs + 1):
            batches = CountedBatches(source.epoch())
            stats = run_epoch(step, batches, epoch, config, held_out)
            state.history.append(stats)
            state.epoch = epoch
            if on_epoch is not None:
                on_epoch(stats)
            stop = should_stop(state, stats, step.model, config, batches.count)
            if checkpoint_every and on_checkpoint and epoch % checkpoint_every == 0 \
                    and not stop:
                state.optimizer_state = step.optimizer.state_dict()
                state.generator_state = step.generator.get_state()
                on_checkpoint(state)
            if stop:
                break
    finally:
        step.close()
    if state.best_state is not None:
        step.model.load_state_dict(state.best_state)
    return state.history


def run_epoch(step, batches: Iterable, epoch: int, config: TrainConfig,
              held_out: torch.Tensor | None = None) -> EpochStats:
    """One step per batch at the epoch's KL weight; the epoch's means, read once."""
    weight = kl_weight(epoch, config)  # a schedule of the epoch alone: no privacy cost
    totals = torch.zeros(3, device=next(step.model.parameters()).device)
    steps = 0
    for batch in batches:
        totals += step(batch, weight)
        steps += 1
    loss, recon, kl = (float(v) for v in step.epoch_means(totals, steps).tolist())
    if not math.isfinite(loss):
        raise TrainingError(f"The training loss became {loss} at epoch {epoch}. "
                            + step.hint.format(lr=config.lr))
    val = step.evaluate(held_out) if held_out is not None and len(held_out) else None
    return EpochStats(epoch, loss, recon, kl, val)


class CountedBatches:
    """An epoch's batches that count themselves: the optimiser steps the epoch took."""

    def __init__(self, batches: Iterable):
        self.batches, self.count = batches, 0

    def __iter__(self):
        for batch in self.batches:
            self.count += 1
            yield batch


def should_stop(state: TrainState, stats: EpochStats, model, config: TrainConfig,
                steps_per_epoch: int) -> bool:
    """Early stopping: remember the best held-out epoch's weights; stop when the smoothed
    held-out loss has not improved for long enough in optimiser steps
    (:class:`synthvae.stopping.EarlyStopping`), never before the KL annealing ramp has ended."""
    if stats.val_loss is None:
        return False
    _keep_best(state, stats.val_loss, model)
    if state.stopping is None:
        state.stopping = EarlyStopping.for_table(config.patience, steps_per_epoch)
    waited = state.stopping.update(stats.val_loss, stats.epoch * steps_per_epoch)
    return waited and stats.epoch > annealing_epochs(config)


def _keep_best(state: TrainState, val: float, model) -> None:
    """Keep the weights of the epoch with the best held-out loss so far."""
    if val < state.best - 1e-4 * abs(state.best if math.isfinite(state.best) else 1.0):
        state.best, state.best_state = val, copy.deepcopy(model.state_dict())


def memory_loop(model, rows: torch.Tensor, layout, config: TrainConfig, parallel=None):
    """(batch source, step strategy) of a fit on in-memory rows without DP: a permutation
    per epoch and Adam; in a distributed fit, each rank's share of it and DDP."""
    from synthvae.batches import PermutedBatches, RankShare
    from synthvae.steps import DDPStep, PlainStep

    generator = torch.Generator(device=rows.device).manual_seed(config.seed)
    source = PermutedBatches(rows, config.batch_size, generator)
    if parallel is None:
        return source, PlainStep(model, layout, config, generator)
    return (RankShare(source, parallel.rank, parallel.world_size),
            DDPStep(model, layout, config, generator, parallel))

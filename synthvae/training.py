"""The training loop: the encoded matrix lives on the device, batches are slices of a random
permutation, and the host reads the loss once per epoch (no per-step synchronisation)."""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch

from synthvae.errors import TrainingError
from synthvae.layout import SpanLayout
from synthvae.losses import gaussian_kl, reconstruction_nll
from synthvae.model import VAE
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


def train(model: VAE, data: torch.Tensor, layout: SpanLayout, config: TrainConfig,
          on_epoch: Callable[[EpochStats], None] | None = None,
          state: TrainState | None = None, checkpoint_every: int = 0,
          on_checkpoint: Callable[[TrainState], None] | None = None,
          parallel=None) -> list[EpochStats]:
    """Fit ``model`` to ``data`` (rows, width) on data's device; returns per-epoch stats.

    With a validation split, the weights of the epoch with the best held-out loss are kept.
    ``state`` (from a checkpoint) continues an interrupted fit exactly; every
    ``checkpoint_every`` epochs ``on_checkpoint`` receives the current state.
    ``parallel`` (a :class:`synthvae.distributed.DistributedContext`) splits every batch
    across the processes of a distributed fit.
    """
    epoch_fn, evaluate_fn = (run_epoch, evaluate_loss) if parallel is None \
        else (parallel.run_epoch, parallel.evaluate_loss)
    net = model if parallel is None else parallel.wrap(model)
    state = state if state is not None else TrainState()
    generator = torch.Generator(device=data.device).manual_seed(config.seed)
    train_rows, val_rows = holdout_split(len(data), config, data.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr,
                                 weight_decay=config.weight_decay, fused=True)
    if state.optimizer_state is not None:
        optimizer.load_state_dict(state.optimizer_state)
        generator.set_state(state.generator_state)
    train_data, val_data = data[train_rows], data[val_rows]  # copied once, on the device
    steps_per_epoch = math.ceil(len(train_rows) / config.batch_size)
    if state.stopping is None:
        state.stopping = EarlyStopping.for_table(config.patience, steps_per_epoch)
    for epoch in range(state.epoch + 1, config.epochs + 1):
        sums = epoch_fn(net, train_data, layout, config, optimizer, generator,
                        kl_weight(epoch, config))
        loss, recon, kl = (float(v) for v in sums.tolist())  # one sync per epoch
        if not math.isfinite(loss):
            raise TrainingError(
                f"The training loss became {loss} at epoch {epoch}. Lower the learning rate "
                f"(lr={config.lr}) or check the data for extreme values.")
        val = evaluate_fn(net, val_data, layout, config, generator) \
            if len(val_rows) else None
        stats = EpochStats(epoch, loss, recon, kl, val)
        state.history.append(stats)
        state.epoch = epoch
        if on_epoch is not None:
            on_epoch(stats)
        if val is not None:
            _keep_best(state, val, model)
        stop = val is not None and state.stopping.update(val, epoch * steps_per_epoch) \
            and epoch > annealing_epochs(config)
        if checkpoint_every and on_checkpoint and epoch % checkpoint_every == 0 and not stop:
            state.optimizer_state = optimizer.state_dict()
            state.generator_state = generator.get_state()
            on_checkpoint(state)
        if stop:
            break
    if state.best_state is not None:
        model.load_state_dict(state.best_state)
    return state.history


def _keep_best(state: TrainState, val: float, model) -> None:
    """Keep the weights of the epoch with the best held-out loss so far."""
    if val < state.best - 1e-4 * abs(state.best if math.isfinite(state.best) else 1.0):
        state.best, state.best_state = val, copy.deepcopy(model.state_dict())


def run_epoch(model, data, layout, config, optimizer, generator, weight: float
              ) -> torch.Tensor:
    """One pass over ``data`` in random batches; returns mean (loss, recon, kl) on device."""
    order = torch.randperm(len(data), generator=generator, device=data.device)
    batches = (data[order[start:start + config.batch_size]]
               for start in range(0, len(data), config.batch_size))
    return train_batches(model, batches, layout, config, optimizer, generator, weight,
                         data.device)


def train_batches(model, batches, layout, config, optimizer, generator, weight: float,
                  device) -> torch.Tensor:
    """One optimiser step per batch of ``batches``; mean (loss, recon, kl), on the device."""
    model.train()
    totals = torch.zeros(3, device=device)
    steps = 0
    for batch in batches:
        loss, recon, kl = batch_loss(model, batch, layout, config, generator, weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        totals += torch.stack([loss.detach(), recon.detach(), kl.detach()])
        steps += 1
    return totals / max(steps, 1)


def record_epoch(history: list, epoch: int, means: torch.Tensor, hint: str,
                 on_epoch: Callable[[EpochStats], None] | None = None) -> EpochStats:
    """Append the epoch's (loss, recon, kl) means to ``history`` (one host sync) and tell
    ``on_epoch``; a non-finite loss stops training with ``hint``. No validation loss."""
    loss, recon, kl = (float(v) for v in means.tolist())
    if not math.isfinite(loss):
        raise TrainingError(f"The training loss became {loss} at epoch {epoch}; {hint}")
    history.append(EpochStats(epoch, loss, recon, kl, None))
    if on_epoch is not None:
        on_epoch(history[-1])
    return history[-1]


def batch_loss(model, batch, layout, config, generator, weight: float | None = None):
    """(objective, mean reconstruction nll, mean KL) of one batch; ``model`` may be wrapped.

    ``weight`` is the KL weight (default ``config.beta``). With ``config.free_bits`` > 0 the
    objective's KL of each latent dimension, averaged over the batch, counts at least
    ``free_bits`` nats (Kingma et al. 2016), so dimensions below it get no gradient to
    collapse further; the returned KL is the true one.
    """
    latent_dim = latent_dim_of(model)
    noise = torch.randn((len(batch), latent_dim), generator=generator, device=batch.device)
    logits, sigma, mu, logvar = model(batch, noise)
    recon = reconstruction_nll(logits, batch, sigma, layout).mean()
    kl_dims = gaussian_kl(mu, logvar).mean(0)  # (latent,)
    kl = kl_dims.sum()
    penalised = kl_dims.clamp(min=config.free_bits).sum() if config.free_bits > 0 else kl
    weight = config.beta if weight is None else weight
    return config.loss_factor * recon + weight * penalised, recon, kl


def latent_dim_of(model) -> int:
    while not hasattr(model, "config"):  # unwrap GradSampleModule (_module), DDP (module)
        model = getattr(model, "_module", None) or model.module
    return model.config.latent_dim


@torch.no_grad()
def evaluate_loss(model, data, layout, config, generator, batch_size: int = 8192) -> float:
    """Mean objective on held-out rows at the full KL weight, without free bits (a scaled
    negative ELBO), so neither annealing nor free bits can fool early stopping."""
    model.eval()
    total = torch.zeros((), device=data.device)
    for start in range(0, len(data), batch_size):
        batch = data[start:start + batch_size]
        _, recon, kl = batch_loss(model, batch, layout, config, generator)
        total += (config.loss_factor * recon + config.beta * kl) * len(batch)
    return float(total) / len(data)

"""Fitting a table held in memory (``Synthesizer.fit``): plain, differentially private, or
data-parallel over the processes of a ``torchrun`` launch; with checkpoints and resume.

The rows are encoded (:mod:`synthvae.preparation`), a generator is started
(:func:`synthvae.fitting.start_generator`), the training loop runs on the batch source and
step strategy of the fit's plan (:func:`_loop`: a permutation and Adam, DDP ranks, or
DP-SGD on Poisson batches), and the steps after training finish the fit
(:func:`synthvae.fitting.finish_fit`). Every function sets the fitted attributes of the
estimator it is given: an unfitted copy that ``fit`` adopts only if all of it succeeds.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from synthvae import distributed
from synthvae.devices import resolve_device
from synthvae.errors import ConfigError, DataError
from synthvae.fitting import finish_fit, start_generator
from synthvae.params import batch_size, fit_plan, fit_seed, train_config
from synthvae.preparation import check_memory, learn_transformer, prepare_private
from synthvae.progress import EpochProgress
from synthvae.training import EpochStats, holdout_split, memory_loop, train


def fit_in_memory(synth, df: pd.DataFrame, checkpoint, checkpoint_every: int,
                  resume: bool) -> None:
    """Fit ``synth`` (parameters validated) to the checked frame ``df``."""
    started = time.perf_counter()
    synth.fit_plan_ = fit_plan(synth)
    synth.device_ = resolve_device(synth.device)
    context = distributed.start(synth.distributed, synth.device_)
    try:
        _fit(synth, df, context, checkpoint, checkpoint_every, resume, started)
    finally:
        if context is not None:
            context.close()


def _fit(synth, df, context, checkpoint, checkpoint_every, resume, started) -> None:
    seed = fit_seed(synth)
    check_distributed(synth, context, checkpoint_every, resume)
    if context is not None:
        synth.device_ = context.device(synth.device_)
    saved = check_checkpointing(synth.fit_plan_.private, checkpoint, checkpoint_every, resume,
                                df)
    t0 = time.perf_counter()
    matrix, modelled, released = _encode(synth, df, seed, saved)
    transform_seconds = time.perf_counter() - t0
    data = start_generator(synth, matrix, seed, len(df))
    state = restore(synth, saved, checkpoint) if saved is not None else None
    t0 = time.perf_counter()
    # the checkpoint fingerprints the table as given, not as the constraints model it
    history = _train(synth, data, state, checkpoint, checkpoint_every, data_fingerprint(df),
                     context)
    finish_fit(synth, data, modelled, history, seed, len(df),
               (started, transform_seconds, t0), released_frequencies=released,
               processes=1 if context is None else context.world_size)


def _encode(synth, df: pd.DataFrame, seed: int, saved
            ) -> tuple[np.ndarray, pd.DataFrame, np.ndarray | None]:
    """Set schema_, constraints_ and transformer_ (and the DP plan and ledger under DP);
    (the encoded rows, the modelled frame: ``df`` as the constraints transform it, the slot
    frequencies released for calibration under DP or None)."""
    if synth.fit_plan_.private:
        epochs = train_config(synth, synth.fit_plan_, seed, len(df)).epochs
        size = batch_size(synth, synth.fit_plan_, len(df), 0.0)
        prepared = prepare_private(synth, df, seed, epochs, size)
        synth.schema_, synth.transformer_ = prepared.schema, prepared.transformer
        synth.constraints_ = prepared.constraints
        synth.dp_config_, synth.sgd_plan_ = prepared.dp_config, prepared.sgd_plan
        synth.privacy_ = prepared.privacy
        return prepared.matrix, df, prepared.slot_frequencies
    learned = learn_transformer(synth, df, seed, saved)
    synth.schema_, synth.constraints_ = learned.schema, learned.constraints
    synth.transformer_ = learned.transformer
    check_memory(len(df), synth.transformer_.output_width_, synth.device_)
    synth.privacy_ = None
    return synth.transformer_.transform(learned.modelled), learned.modelled, None


def check_distributed(synth, context, checkpoint_every: int, resume: bool) -> None:
    """Set ``rank_``; refuse what a distributed fit does not support."""
    synth.rank_ = 0 if context is None else context.rank
    if context is None:
        return
    if synth.free_bits > 0:
        raise ConfigError(f"The 'free_bits' parameter of Synthesizer must be 0 in a "
                          f"distributed fit. Got {synth.free_bits!r} instead: free bits "
                          f"clamp the KL averaged over the whole batch, which is split "
                          f"across processes. Use beta or kl_anneal instead.")
    if checkpoint_every or resume:
        raise ConfigError("Checkpoints are not available in a distributed fit: the "
                          "ranks' states would have to be saved and restored together. "
                          "Use checkpoint_every and resume in a single-process fit.")


def check_checkpointing(private: bool, checkpoint, every, resume, df):
    """Validate checkpoint options; the checkpoint's (state, tensors) when resuming."""
    from synthvae.persistence import load_checkpoint

    if (every or resume) and checkpoint is None:
        raise ConfigError("checkpoint_every and resume need a checkpoint path.")
    if not isinstance(every, int) or every < 0:
        raise ConfigError(f"checkpoint_every must be a non-negative int. Got {every!r}.")
    if (every or resume) and private:
        raise ConfigError("Checkpoints are not available with differential privacy: the "
                          "budget is planned for one uninterrupted run.")
    if not resume:
        return None
    saved = load_checkpoint(Path(checkpoint))
    if saved[0]["fingerprint"] != data_fingerprint(df):
        raise DataError(f"The checkpoint {str(checkpoint)!r} was made from another table; "
                        f"resume with the same data, or start afresh without resume.")
    return saved


def restore(synth, saved, checkpoint):
    """Load the interrupted fit's weights into the generator; its training loop's state."""
    from synthvae.persistence import train_state_from_checkpoint

    state, tensors = saved
    for name, mine in (("model_config", synth.model_config_.to_dict()),
                       ("train_config", synth.train_config_.to_dict())):
        theirs = state[name]
        changed = sorted(k for k in mine if k not in theirs or mine[k] != theirs[k])
        if changed:
            raise ConfigError(f"Cannot resume from {str(checkpoint)!r}: "
                              + _difference(changed[0], theirs, mine[changed[0]]))
    weights = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    synth.model_.load_state_dict(weights)
    return train_state_from_checkpoint(state, tensors, synth.device_)


def _difference(key: str, theirs: dict, now) -> str:
    """Why setting ``key`` (``now``) stops a resume from a checkpoint holding ``theirs``."""
    if key not in theirs:
        return (f"it was written by an earlier synthvae, which had no parameter {key!r} "
                f"(now {now!r}); start afresh without resume.")
    return (f"parameter {key!r} differs from the interrupted fit ({theirs[key]!r} then, "
            f"{now!r} now).")


def data_fingerprint(df: pd.DataFrame) -> str:
    """A hash of a table's values and column names (to match a checkpoint to its data)."""
    values = int(pd.util.hash_pandas_object(df, index=False).sum()) % 2**64
    names = int(pd.util.hash_pandas_object(pd.Series(list(map(str, df.columns)))).sum()) % 2**64
    return f"{len(df)}x{len(df.columns)}:{values:016x}:{names:016x}"


def _train(synth, data: torch.Tensor, state, checkpoint, checkpoint_every: int,
           fingerprint: str, context) -> list[EpochStats]:
    def save(train_state):
        from synthvae.persistence import save_checkpoint

        save_checkpoint(synth, train_state, Path(checkpoint), fingerprint)

    source, step, held_out = _loop(synth, data, context)
    verbose = synth.verbose and synth.rank_ == 0
    with EpochProgress(synth.train_config_.epochs, enabled=verbose) as progress:
        return train(step, source, synth.train_config_, progress.update, state, held_out,
                     checkpoint_every, save)


def _loop(synth, data: torch.Tensor, context):
    """(batch source, step strategy, held-out rows) of this fit's plan (see
    synthvae/training.py). Under DP every row trains: holding rows out to pick an epoch
    would be a release."""
    if synth.fit_plan_.private:
        from synthvae import privacy

        return (*privacy.private_loop(synth.model_, data, synth.layout_, synth.train_config_,
                                      synth.sgd_plan_, synth.dp_config_, context), None)
    train_rows, val_rows = holdout_split(len(data), synth.train_config_, data.device)
    return (*memory_loop(synth.model_, data[train_rows], synth.layout_, synth.train_config_,
                         context), data[val_rows])

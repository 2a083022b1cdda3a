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

import hashlib
import json
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import torch

from synthvae import distributed, json_values
from synthvae.constraints import Predicate, parse_constraints
from synthvae.constraints import to_dict as constraint_to_dict
from synthvae.devices import resolve_device
from synthvae.errors import ConfigError, DataError, ModelFileError
from synthvae.fitting import finish_fit, start_generator
from synthvae.generator import resolved_decoder
from synthvae.params import (batch_size, fit_plan, fit_seed, resolved_latent_swap,
                             train_config)
from synthvae.preparation import check_memory, learn_transformer, prepare_private
from synthvae.progress import EpochProgress
from synthvae.schema import schema_from_any
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
    check_checkpointing(synth.fit_plan_.private, checkpoint, checkpoint_every, resume)
    identity = fit_identity(synth, df) if checkpoint_every or resume else None
    saved = resumable(checkpoint, identity, len(df)) if resume else None
    t0 = time.perf_counter()
    matrix, modelled, released = _encode(synth, df, seed, saved)
    transform_seconds = time.perf_counter() - t0
    data = start_generator(synth, matrix, seed, len(df))
    state = restore(synth, saved, checkpoint) if saved is not None else None
    t0 = time.perf_counter()
    history = _train(synth, data, state, checkpoint, checkpoint_every, identity, context)
    finish_fit(synth, data, modelled, history, seed, len(df),
               (started, transform_seconds, t0), frequencies=released,
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


def check_checkpointing(private: bool, checkpoint, every, resume) -> None:
    """Refuse checkpoint options that do not go together."""
    if (every or resume) and checkpoint is None:
        raise ConfigError("checkpoint_every and resume need a checkpoint path.")
    if not isinstance(every, int) or every < 0:
        raise ConfigError(f"checkpoint_every must be a non-negative int. Got {every!r}.")
    if (every or resume) and private:
        raise ConfigError("Checkpoints are not available with differential privacy: the "
                          "budget is planned for one uninterrupted run.")


# Parameters that say where and how visibly a fit runs, not what it learns: a resume may
# change them (a fit interrupted on one machine continues on another).
RUN_ONLY_PARAMS = ("verbose", "n_threads", "device", "distributed")


def fit_identity(synth, df: pd.DataFrame) -> dict:
    """What a checkpoint records to match a resume to its fit: the table's fingerprint (the
    table as given, not as the constraints model it) and every parameter that decides
    what the fit learns (``params``), as JSON."""
    return {"fingerprint": data_fingerprint(df), "params": resume_params(synth)}


def resume_params(synth) -> dict:
    """The parameters but RUN_ONLY_PARAMS, as a checkpoint's JSON holds them: the schema and
    the constraints by content (a schema file is read), tuples as lists."""
    params = {k: v for k, v in synth.get_params().items() if k not in RUN_ONLY_PARAMS}
    schema = schema_from_any(synth.schema)
    params["schema"] = None if schema is None else schema.to_dict()
    params["constraints"] = [_constraint_json(c) for c in parse_constraints(synth.constraints)]
    return json.loads(json.dumps(params, default=json_values.encode),
                      object_hook=json_values.decode)


def _constraint_json(constraint) -> dict:
    """A declared constraint's JSON form; a predicate (code) by its name."""
    if isinstance(constraint, Predicate):
        return {"kind": "predicate", "name": constraint.name}
    return constraint_to_dict(constraint)


def resumable(checkpoint, identity: dict, n_rows: int):
    """The checkpoint's (state, tensors), when it was written by a fit of the same table,
    rows in the same order, and the same parameters as ``identity`` says this one is: the
    same once resolved for this table of ``n_rows`` rows (see :func:`effective_params`), so
    ``lr=None`` and ``lr=1e-3`` are the same fit. A checkpoint holds the parameters as
    given (those written before this comparison too), and both sides resolve alike."""
    from synthvae.persistence import LEGACY_PARAMS, load_checkpoint

    saved = load_checkpoint(Path(checkpoint))
    check_same_table(saved[0]["fingerprint"], identity["fingerprint"], checkpoint)
    # a transform parameter the checkpoint predates: the value its transformer was fitted
    # with then (as for a saved model), compared like any other
    theirs, mine = dict(LEGACY_PARAMS, **saved[0]["params"]), identity["params"]
    width = _encoded_width(saved[0]["model_config"])  # the transformer is the checkpoint's
    then, now = effective_params(theirs, n_rows, width), effective_params(mine, n_rows, width)
    changed = [k for k in mine if k not in theirs or not _same(then[k], now[k])]
    if changed:
        key = changed[0]
        raise ConfigError(f"Cannot resume from {str(checkpoint)!r}: "
                          + _param_difference(key, theirs, mine[key],
                                              (then.get(key), now.get(key))))
    return saved


def effective_params(params: dict, n_rows: int, width: int | None) -> dict:
    """``params`` (as a checkpoint's JSON holds them) with those a fit resolves replaced by
    what a fit of ``n_rows`` rows, encoded ``width`` wide (None: unknown, the decoder stays
    as given), resolves them to: lr, beta and latent_dim (fit_plan), epochs, batch_size,
    kl_anneal_epochs and seed (train_config), latent_swap and decoder. ``params`` unchanged
    where they cannot be resolved: a checkpoint of an earlier synthvae lacking one of them
    (which the comparison then names). No DP branch: checkpoints are refused under DP."""
    view = SimpleNamespace(**params)
    try:
        plan = fit_plan(view)
        config = train_config(view, plan, fit_seed(view), n_rows)
        swap = resolved_latent_swap(view.latent_swap, n_rows)
        decoder = view.decoder if width is None else resolved_decoder(view.decoder, width)
    except (AttributeError, TypeError, ValueError):
        return params
    return dict(params, lr=plan.lr, beta=plan.beta, latent_dim=plan.latent_dim,
                epochs=config.epochs, batch_size=config.batch_size,
                kl_anneal_epochs=config.kl_anneal_epochs, seed=config.seed,
                latent_swap=swap, decoder=decoder)


def _encoded_width(model_config: dict) -> int | None:
    """The encoded width a checkpoint's model was built for (the decoder's default depends
    on it); None where the checkpoint does not say."""
    width = model_config.get("data_dim")
    return width if isinstance(width, int) and not isinstance(width, bool) else None


def _same(then, now) -> bool:
    """Whether two parameter values (JSON forms) give the same fit: NaN equals NaN, and a
    whole number the float of the same value (``loss_factor=2`` is ``loss_factor=2.0``)."""
    return _json(_whole_as_float(then)) == _json(_whole_as_float(now))


def _whole_as_float(value):
    if isinstance(value, int) and not isinstance(value, bool) and float(value) == value:
        return float(value)
    if isinstance(value, list):
        return [_whole_as_float(v) for v in value]
    if isinstance(value, dict):
        return {k: _whole_as_float(v) for k, v in value.items()}
    return value


def check_same_table(theirs: str, mine: str, checkpoint) -> None:
    """Refuse another table; say so when it holds the same rows in another order."""
    if theirs == mine:
        return
    if theirs.rsplit(":", 1)[0] == mine.rsplit(":", 1)[0]:  # all but the order agree
        raise DataError(f"The checkpoint {str(checkpoint)!r} was made from the same rows in "
                        f"another order; the held-out rows and the batches follow the row "
                        f"order, so resume with the rows in the interrupted fit's order (sort "
                        f"them the same way), or start afresh without resume.")
    raise DataError(f"The checkpoint {str(checkpoint)!r} was made from another table; "
                    f"resume with the same data, or start afresh without resume.")


def _json(value) -> str:
    """``value``'s JSON text: equal values compare equal, NaN included."""
    return json.dumps(value, sort_keys=True, default=json_values.encode)


def _param_difference(key: str, theirs: dict, now, effective: tuple) -> str:
    """Why parameter ``key`` (``now``) stops a resume from a checkpoint recording ``theirs``;
    a schema by the first column declared otherwise; a parameter left at None by the value
    the fit resolved it to (``effective``: then, now)."""
    if key not in theirs:
        return _difference(key, theirs, now)
    if key == "schema":
        then_shown, now_shown = _schema_change(theirs[key], now)
    else:
        then_shown, now_shown = _shown(theirs[key], effective[0]), _shown(now, effective[1])
    return (f"parameter {key!r} differs from the interrupted fit ({then_shown} then, "
            f"{now_shown} now); pass the interrupted fit's value, or start afresh without "
            f"resume.")


def _schema_change(then: dict | None, now: dict | None) -> tuple[str, str]:
    """(then, now) of the first column two schema parameters declare otherwise; the whole
    schemas when only their constraints or version differ."""
    before, after = _declared_columns(then), _declared_columns(now)
    for name in list(before) + [n for n in after if n not in before]:
        if _json(before.get(name)) != _json(after.get(name)):
            return (f"column {name!r} {_declared(before.get(name))}",
                    _declared(after.get(name)))
    return _shown(then), _shown(now)


def _declared_columns(schema: dict | None) -> dict:
    return {c["name"]: c for c in (schema or {}).get("columns", [])}


def _declared(column: dict | None) -> str:
    if column is None:
        return "not declared"
    return repr({k: v for k, v in column.items() if k != "name"})


def _shown(value, effective=None) -> str:
    """A parameter's value as given; one left at None by what it resolved to, if anything."""
    if value is not None:
        return repr(value)
    return "unset" if effective is None else f"{effective!r} by default"


# Training settings a checkpoint of an earlier synthvae lacks, as every fit then trained
# (a plain fit's objective has always weighed the numbers' NLL by 1; DP fits have no
# checkpoints): such a checkpoint resumes instead of being refused for the missing key.
LEGACY_TRAIN_CONFIG = {"scalar_weight": 1.0}


def restore(synth, saved, checkpoint):
    """Load the interrupted fit's weights into the generator; its training loop's state."""
    from synthvae.persistence import train_state_from_checkpoint

    state, tensors = saved
    for name, mine, legacy in (("model_config", synth.model_config_.to_dict(), {}),
                               ("train_config", synth.train_config_.to_dict(),
                                LEGACY_TRAIN_CONFIG)):
        theirs = dict(legacy, **state[name])
        changed = sorted(k for k in mine if k not in theirs or mine[k] != theirs[k])
        if changed:
            raise ConfigError(f"Cannot resume from {str(checkpoint)!r}: "
                              + _difference(changed[0], theirs, mine[changed[0]]))
    check_training_state(synth, state, tensors, checkpoint)
    weights = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        synth.model_.load_state_dict(weights)
    except RuntimeError as exc:  # names that are not the model's, or other shapes
        raise ModelFileError(f"{str(checkpoint)!r} holds weights that do not fit the model "
                             f"({str(exc).splitlines()[0]}).") from None
    return train_state_from_checkpoint(state, tensors, synth.device_, repr(str(checkpoint)))


def check_training_state(synth, state: dict, tensors: dict, checkpoint) -> None:
    """The checkpoint's optimizer covers the model's parameters, and its random state is
    one a generator on this fit's device takes."""
    where = repr(str(checkpoint))
    listed = [i for group in state["param_groups"] for i in group.get("params", [])]
    if listed != list(range(len(list(synth.model_.parameters())))):
        raise ModelFileError(f"{where} has an optimizer state that does not match the "
                             f"model's parameters.")
    try:
        torch.Generator(device=synth.device_).set_state(tensors["rng"])
    except (RuntimeError, TypeError) as exc:
        raise ModelFileError(f"{where} has a random state a generator on "
                             f"{synth.device_} cannot take ({str(exc).splitlines()[0]}); "
                             f"resume on the device the fit was interrupted on.") from None


def _difference(key: str, theirs: dict, now) -> str:
    """Why setting ``key`` (``now``) stops a resume from a checkpoint holding ``theirs``."""
    if key not in theirs:
        return (f"it was written by an earlier synthvae, which had no parameter {key!r} "
                f"(now {now!r}); start afresh without resume.")
    return (f"parameter {key!r} differs from the interrupted fit ({theirs[key]!r} then, "
            f"{now!r} now).")


def data_fingerprint(df: pd.DataFrame) -> str:
    """A hash of a table's values, column names and row order (to match a checkpoint to its
    data): ``rows x columns:names:values:order``, where ``values`` ignores the row order and
    ``order`` does not, so a resume can tell the same rows shuffled from another table."""
    rows = pd.util.hash_pandas_object(df, index=False).to_numpy()  # (rows,) uint64
    values = int(rows.sum(dtype=np.uint64))
    names = int(pd.util.hash_pandas_object(pd.Series(list(map(str, df.columns)))).sum()) % 2**64
    order = hashlib.sha256(rows.tobytes()).hexdigest()[:16]
    return f"{len(df)}x{len(df.columns)}:{names:016x}:{values:016x}:{order}"


def _train(synth, data: torch.Tensor, state, checkpoint, checkpoint_every: int,
           identity: dict | None, context) -> list[EpochStats]:
    def save(train_state):
        from synthvae.persistence import save_checkpoint

        save_checkpoint(synth, train_state, Path(checkpoint), identity)

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

"""The public estimator: ``Synthesizer().fit(df).sample(1000)``."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import torch

from synthvae.constraints import ConstraintLayer, parse_constraints
from synthvae.constraints.layer import without_constraints
from synthvae.errors import ConfigError, DataError, NotFittedError
from synthvae.fitting import PostTraining, atomic_fit
from synthvae.layout import SpanLayout
from synthvae.model import VAE, ModelConfig
from synthvae.prior import PRIORS, MixturePrior, StandardNormalPrior, posterior_latents
from synthvae.frames import as_pandas, model_frame, to_output
from synthvae.progress import EpochProgress
from synthvae.sampling import sample_matrix
from synthvae.schema import CATEGORICAL_THRESHOLD, Schema, detect_schema, schema_from_any
from synthvae.training import (KL_SCHEDULES, EpochStats, FitPlan, TrainConfig,
                               holdout_split, memory_loop, train)
from synthvae.transforms.categorical import MAX_CATEGORIES
from synthvae.transforms.continuous import DISCRETE_THRESHOLD, MIXTURE_MAX_ROWS
from synthvae.transforms.scaling import SKEW_THRESHOLD
from synthvae.transforms.table import TableTransformer

SAMPLE_BATCH_ROWS = 65_536
MIN_PRIOR_ROWS = 20
PRIOR_FIT_ROWS = 50_000  # streamed fits: reservoir rows encoded for the prior and profile
DEFAULT_BETA = 0.5  # KL weight: ML efficacy up on magic and beijing (benchmarks/results/quality.md)
DP_BETA = 1.0  # under DP: the N(0, I) prior is sampled as trained, without calibration
# Under DP, at TVAE's latent_dim 128 and lr 1e-3 the noisy fit never leaves posterior
# collapse: columns come out independent (Adult's ML AUC 0.41 at epsilon 1). Measured in
# benchmarks/results/dp.md: a smaller latent space (fewer noised weights) and a larger step.
DEFAULT_LR, DP_LR = 1e-3, 3e-3
DEFAULT_LATENT_DIM, DP_LATENT_DIM = 128, 8
FITTED_FOR_SAMPLING = ("schema_", "transformer_", "layout_", "model_", "prior_")
AUTO_STEPS = 3_500  # measured on Adult: ~60 epochs of 500 rows reach TVAE's 300-epoch quality
MAX_AUTO_EPOCHS = 300  # automatic epochs never exceed this
MIN_AUTO_BATCH, MAX_AUTO_BATCH = 50, 500  # automatic batch size: rows / 10 within these
DECODERS = (None, "autoregressive", "factorized")
MAX_AUTOREGRESSIVE_WIDTH = 1_024  # default decoder: autoregressive up to this encoded width


class Synthesizer:
    """A TVAE-style synthesizer for one table.

    Parameters are stored as given (scikit-learn convention) and validated by :meth:`fit`.

    Parameters
    ----------
    epochs : maximum training epochs; None chooses by table size (about 3,500 optimiser
        steps, between 10 and 300 epochs). Early stopping on a held-out ELBO may end sooner.
    batch_size : rows per optimisation step; None = a tenth of the training rows within
        [50, 500] (500, TVAE's, from 5,000 training rows up; always 500 under differential
        privacy): small tables get more, noisier steps (docs/training.md#small-tables).
    latent_dim, hidden : architecture (TVAE's defaults: 128 and (128, 128)); latent_dim None
        = 128, or 8 under differential privacy (see docs/privacy.md).
    decoder : "autoregressive" (each column also depends on the columns before it, see
        docs/training.md#the-decoder), "factorized" (TVAE's: columns independent given the
        latent), or None: "autoregressive" up to ``MAX_AUTOREGRESSIVE_WIDTH`` encoded
        columns, "factorized" beyond and under differential privacy.
    lr, weight_decay : Adam settings; lr None = 1e-3, or 3e-3 under differential privacy.
    beta : weight of the KL term (1.0 = the ELBO). None = 0.5 (latents that carry more of each
        row, for the learned prior to model; see docs/training.md), or 1.0 under differential
        privacy, whose N(0, I) prior needs latents kept close to it.
    kl_anneal : schedule of the KL weight: "none" (``beta`` throughout), "linear" (from 0 to
        ``beta`` over ``kl_anneal_epochs``, then held) or "cyclical" (repeated ramps, each
        cycle ``kl_anneal_epochs`` long). See docs/training.md.
    kl_anneal_epochs : ramp (linear) or cycle (cyclical) length in epochs; None = a quarter
        of the epochs.
    free_bits : nats of KL per latent dimension left unpenalised (0 = off); keeps dimensions
        from collapsing. Not available with differential privacy.
    loss_factor : weight of the reconstruction term (TVAE uses 2).
    validation_fraction : share of rows held out for early stopping (0 disables it).
    patience : epochs without a better (smoothed) held-out loss before stopping; never fewer
        than 600 optimiser steps, and no stop before 1,000 steps (see docs/training.md).
    schema : a :class:`Schema`, its dict, JSON text or a JSON file path; columns it names
        override detection, the others are detected (it may list only some columns). Its
        ``"constraints"`` list adds to ``constraints``.
    constraints : rules every sampled row meets (docs/constraints.md): a list of
        :class:`synthvae.FixedCombinations`, :class:`~synthvae.Inequality`, ... objects or
        their dicts (``{"kind": "positive", "column": "age"}``); checked on the data at fit.
    categorical_threshold : integer columns with at most this many distinct values are
        categorical.
    mixture_max_rows : rows sampled to fit each continuous column's Gaussian mixture.
    discrete_threshold : continuous and datetime columns with at most this many distinct
        values are encoded value by value (one exact mode per value, see docs/schema.md);
        0 = always a Gaussian mixture. Not used under differential privacy.
    skew_threshold : other continuous columns whose sample skewness exceeds this (in absolute
        value) are modelled on a signed log scale (heavy tails: payments, durations; see
        docs/schema.md); None = never. Not used under differential privacy.
    max_categories : categorical columns keep at most this many slots (rare values grouped).
    prior : latent distribution to sample from: "gmm" (a diagonal Gaussian mixture fitted to
        the training rows' latents, the default) or "normal" (N(0, I), as TVAE).
    prior_components : mixture components of the "gmm" prior.
    calibrate : after training, shift the decoder's category and mode logits so that rows
        drawn from the prior have the training rows' one-dimensional frequencies (see
        docs/training.md); off under differential privacy.
    epsilon : train with differential privacy at this total budget (None = no DP). Under DP
        the prior is N(0, I), nothing is held out, and no loss history is kept.
    delta : total DP delta; None = 0.1 / rows.
    max_grad_norm : DP-SGD per-sample clipping norm.
    accountant : "prv" (default) or "rdp".
    preprocess_share : share of epsilon and delta spent on bounds and category lists that
        the schema does not give (0 = refuse unless the schema gives them all).
    device : "cpu", "cuda", "cuda:1", ... or None for CUDA when available.
    distributed : train data-parallel over the processes of a ``torchrun`` launch (see
        docs/scale.md): None (when launched by torchrun with several processes), True
        (must be launched so), False (never).
    seed : seeds every random choice of fit (and the default of ``sample``).
    verbose : show a progress bar with the loss and KL per epoch.
    """

    def __init__(self, epochs: int | None = None, batch_size: int | None = None,
                 latent_dim: int | None = None, hidden: tuple[int, ...] = (128, 128),
                 decoder: str | None = None, lr: float | None = None,
                 weight_decay: float = 1e-5, beta: float | None = None, kl_anneal: str = "none",
                 kl_anneal_epochs: int | None = None, free_bits: float = 0.0,
                 loss_factor: float = 2.0,
                 validation_fraction: float = 0.1, patience: int = 20,
                 schema: Schema | dict | str | None = None, constraints: list | None = None,
                 categorical_threshold: int = CATEGORICAL_THRESHOLD,
                 mixture_max_rows: int = MIXTURE_MAX_ROWS, max_categories: int = MAX_CATEGORIES,
                 discrete_threshold: int = DISCRETE_THRESHOLD,
                 skew_threshold: float | None = SKEW_THRESHOLD,
                 prior: str = "gmm", prior_components: int = 10, calibrate: bool = True,
                 epsilon: float | None = None, delta: float | None = None,
                 max_grad_norm: float = 1.0, accountant: str = "prv",
                 preprocess_share: float = 0.1,
                 device: str | None = None, distributed: bool | None = None,
                 seed: int | None = 0, verbose: bool = True):
        self.epochs = epochs
        self.batch_size = batch_size
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.decoder = decoder
        self.lr = lr
        self.weight_decay = weight_decay
        self.beta = beta
        self.kl_anneal = kl_anneal
        self.kl_anneal_epochs = kl_anneal_epochs
        self.free_bits = free_bits
        self.loss_factor = loss_factor
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.schema = schema
        self.constraints = constraints
        self.categorical_threshold = categorical_threshold
        self.mixture_max_rows = mixture_max_rows
        self.max_categories = max_categories
        self.discrete_threshold = discrete_threshold
        self.skew_threshold = skew_threshold
        self.prior = prior
        self.prior_components = prior_components
        self.calibrate = calibrate
        self.epsilon = epsilon
        self.delta = delta
        self.max_grad_norm = max_grad_norm
        self.accountant = accountant
        self.preprocess_share = preprocess_share
        self.device = device
        self.distributed = distributed
        self.seed = seed
        self.verbose = verbose

    def __repr__(self) -> str:
        defaults = Synthesizer.__init__.__defaults__
        names = Synthesizer.__init__.__code__.co_varnames[1:1 + len(defaults)]
        changed = [f"{n}={getattr(self, n)!r}" for n, d in zip(names, defaults)
                   if getattr(self, n) != d]
        return f"Synthesizer({', '.join(changed)})"

    def _repr_html_(self) -> str:
        """Notebook display: parameters; when fitted, columns and training summary."""
        from synthvae.notebook import synthesizer_html

        return synthesizer_html(self)

    def get_params(self, deep: bool = False) -> dict:
        names = Synthesizer.__init__.__code__.co_varnames[1:1 + len(Synthesizer.__init__.__defaults__)]
        return {n: getattr(self, n) for n in names}

    # ------------------------------------------------------------------ fit
    @atomic_fit
    def fit(self, df: pd.DataFrame, checkpoint: str | Path | None = None,
            checkpoint_every: int = 0, resume: bool = False) -> "Synthesizer":
        """Learn the schema, the column transforms and the VAE from ``df``; returns self.

        With ``epsilon`` set, every step is differentially private (see docs/privacy.md).
        With ``checkpoint`` and ``checkpoint_every=N``, the training state is written there
        every N epochs; ``resume=True`` continues from it (same table, same parameters),
        giving the model an uninterrupted fit would have given.
        A fit that raises leaves the synthesizer as it was (see synthvae/fitting.py).
        """
        from synthvae import distributed

        started = time.perf_counter()
        self._validate_params()
        self.fit_plan_ = self._fit_plan()
        df = check_frame(df)
        self.device_ = resolve_device(self.device)
        context = distributed.start(self.distributed, self.device_)
        try:
            return self._fit(df, context, checkpoint, checkpoint_every, resume, started)
        finally:
            if context is not None:
                context.close()

    def _fit(self, df, context, checkpoint, checkpoint_every, resume, started) -> "Synthesizer":
        seed = 0 if self.seed is None else int(self.seed)
        self._check_distributed(context, checkpoint_every, resume)
        if context is not None:
            self.device_ = context.device(self.device_)
        saved = self._check_checkpointing(checkpoint, checkpoint_every, resume, df)
        t0 = time.perf_counter()
        modelled = df  # the table as the constraints model it
        if self.fit_plan_.private:
            matrix = self._prepare_private(df, seed)
        else:
            modelled = self._learn_transformer(df, seed, saved)
            check_memory(len(df), self.transformer_.output_width_, self.device_)
            matrix = self.transformer_.transform(modelled)
            self.privacy_ = None
        transform_seconds = time.perf_counter() - t0
        data = self._build_model(matrix, seed, len(df))
        state = self._restore(saved, checkpoint) if saved is not None else None
        t0 = time.perf_counter()
        history = self._train(data, state, checkpoint, checkpoint_every, data_fingerprint(df),
                              context)
        return self._finish_fit(data, modelled, history, seed, len(df),
                                (started, transform_seconds, t0),
                                processes=1 if context is None else context.world_size)

    def _finish_fit(self, data: torch.Tensor, df: pd.DataFrame, history: list, seed: int,
                    rows: int, timings: tuple[float, float, float], **summary
                    ) -> "Synthesizer":
        """After training: curves, latent prior, calibration, drift profile, diagnostics and
        the summary; only the prior is essential (see synthvae/fitting.py).

        ``data``/``df`` are the encoded and raw rows the prior and diagnostics read (all of
        them, or a streamed fit's reservoir head); under DP only the prior is fitted, and
        from no private row (see :meth:`_fit_prior`). ``timings``: (fit start, transform
        seconds, training start)."""
        private = self.fit_plan_.private
        started, transform_seconds, t0 = timings
        steps = PostTraining()  # the prior is essential; the rest may fail with a warning
        self.history_ = [] if private else [vars(h) for h in history]
        self.prior_ = steps.essential("fitting the latent prior", self._fit_prior, data, seed)
        self.logit_offsets_, calibration = steps.optional(
            "marginal calibration", self._calibrate, data, seed,
            len(history) * rows, fallback=(None, None),
            without=", sampling uncalibrated (as with calibrate=False)")
        self.monitoring_ = None if private else steps.optional(
            "the drift profile", self._profile, data, seed,
            without="; drift() needs reference rows")
        self.diagnostics_ = None if private else steps.optional(
            "training diagnostics", self._diagnose, data, df)
        self.training_summary_ = {
            "rows": rows, "columns": len(self.schema_.columns), "encoded_width": self.layout_.width,
            "epochs_run": len(history), "transform_seconds": round(transform_seconds, 3),
            "train_seconds": round(time.perf_counter() - t0, 3),
            "fit_seconds": round(time.perf_counter() - started, 3),
            "device": str(self.device_), "differentially_private": private,
            "calibration": calibration, "failed_steps": steps.failed, **summary}
        return self

    @atomic_fit
    def fit_parquet(self, path: str | Path, sample_rows: int = 200_000,
                    buffer_rows: int = 100_000) -> "Synthesizer":
        """Learn from a Parquet file or folder of Parquet files in bounded memory.

        One pass draws a uniform reservoir of ``sample_rows`` rows that fits the schema, the
        column transforms, the latent prior and the drift profile; training streams row
        groups in a shuffled order through a shuffle buffer of ``buffer_rows`` encoded rows.
        No rows are held out (every epoch runs); differential privacy and distributed
        training are refused here. See docs/scale.md.
        """
        from dataclasses import replace

        from synthvae import streaming

        started = time.perf_counter()
        self._validate_params()
        _check_positive_int("sample_rows", sample_rows)
        _check_positive_int("buffer_rows", buffer_rows)
        self._check_streaming()
        self.fit_plan_ = self._fit_plan()
        self.device_ = resolve_device(self.device)
        seed = 0 if self.seed is None else int(self.seed)
        source = streaming.ParquetSource(path)
        t0 = time.perf_counter()
        sample = self._learn_transformer(check_frame(source.reservoir(sample_rows, seed)),
                                         seed, None)
        self.privacy_, self.rank_ = None, 0
        # the reservoir is in random order: its head is a uniform subsample for the prior
        head = sample.iloc[:PRIOR_FIT_ROWS]
        data = self._build_model(self.transformer_.transform(head), seed, source.rows)
        epochs = self.epochs or auto_epochs(source.rows, self._batch_size(source.rows, 0.0), 0.0)
        self.train_config_ = replace(self.train_config_, validation_fraction=0.0,
                                     epochs=epochs)
        transform_seconds = time.perf_counter() - t0
        del sample
        t0 = time.perf_counter()
        encoder = self.constraints_.streamed(self.transformer_, str(path))
        batches, step = streaming.stream_loop(self.model_, source, encoder,
                                              self.layout_, self.train_config_, buffer_rows)
        with EpochProgress(epochs, enabled=self.verbose) as progress:
            history = train(step, batches, self.train_config_, progress.update)
        return self._finish_fit(data, head, history, seed, source.rows,
                                (started, transform_seconds, t0), processes=1,
                                streamed=True, reservoir_rows=min(sample_rows, source.rows))

    def _check_streaming(self) -> None:
        from synthvae import distributed

        if self.epsilon is not None:
            raise ConfigError("Streaming fits do not support differential privacy: DP-SGD's "
                              "accounting assumes Poisson sampling of rows, which a row-group "
                              "stream does not give. Fit DP models in memory.")
        if distributed.wanted(self.distributed):
            raise ConfigError("Streaming fits run in one process; distributed training "
                              "needs the table in memory on each rank (see docs/scale.md).")

    def _check_distributed(self, context, checkpoint_every: int, resume: bool) -> None:
        """Set ``rank_``; refuse what a distributed fit does not support."""
        self.rank_ = 0 if context is None else context.rank
        if context is None:
            return
        if self.free_bits > 0:
            raise ConfigError(f"The 'free_bits' parameter of Synthesizer must be 0 in a "
                              f"distributed fit. Got {self.free_bits!r} instead: free bits "
                              f"clamp the KL averaged over the whole batch, which is split "
                              f"across processes. Use beta or kl_anneal instead.")
        if checkpoint_every or resume:
            raise ConfigError("Checkpoints are not available in a distributed fit: the "
                              "ranks' states would have to be saved and restored together. "
                              "Use checkpoint_every and resume in a single-process fit.")

    def _learn_transformer(self, df: pd.DataFrame, seed: int, saved) -> pd.DataFrame:
        """Set schema_, constraints_ and transformer_: learned from ``df``, or as a checkpoint
        left them (the constraints are refitted: they depend on the rows alone). Returns the
        modelled frame (``df`` as the constraints transform it)."""
        overrides = schema_from_any(self.schema)
        detected = Schema.from_dict(saved[0]["schema"]) if saved is not None else \
            detect_schema(df, self.categorical_threshold, overrides)
        self.schema_ = without_constraints(detected)
        declared = (overrides.constraints if overrides is not None else ()) + \
            parse_constraints(self.constraints)
        self.constraints_ = ConstraintLayer(declared).fit(df, self.schema_)
        modelled = self.constraints_.transform(df)
        if saved is not None:
            self.transformer_ = TableTransformer.from_state(self.constraints_.model_schema_,
                                                            saved[0]["transformer"])
            return modelled
        self.transformer_ = TableTransformer(self.constraints_.model_schema_,
                                             self.mixture_max_rows, self.max_categories, seed,
                                             self.discrete_threshold,
                                             self.skew_threshold).fit(modelled)
        return modelled

    def _check_checkpointing(self, checkpoint, every, resume, df):
        """Validate checkpoint options; the checkpoint's (state, tensors) when resuming."""
        from synthvae.persistence import load_checkpoint

        if (every or resume) and checkpoint is None:
            raise ConfigError("checkpoint_every and resume need a checkpoint path.")
        if not isinstance(every, int) or every < 0:
            raise ConfigError(f"checkpoint_every must be a non-negative int. Got {every!r}.")
        if (every or resume) and self.fit_plan_.private:
            raise ConfigError("Checkpoints are not available with differential privacy: the "
                              "budget is planned for one uninterrupted run.")
        if not resume:
            return None
        saved = load_checkpoint(Path(checkpoint))
        if saved[0]["fingerprint"] != data_fingerprint(df):
            raise DataError(f"The checkpoint {str(checkpoint)!r} was made from another table; "
                            f"resume with the same data, or start afresh without resume.")
        return saved

    def _restore(self, saved, checkpoint):
        from synthvae.persistence import train_state_from_checkpoint

        state, tensors = saved
        for name, mine in (("model_config", self.model_config_.to_dict()),
                           ("train_config", self.train_config_.to_dict())):
            theirs = state[name]
            changed = sorted(k for k in mine if mine[k] != theirs.get(k))
            if changed:
                raise ConfigError(f"Cannot resume from {str(checkpoint)!r}: parameter "
                                  f"{changed[0]!r} differs from the interrupted fit "
                                  f"({theirs.get(changed[0])!r} then, {mine[changed[0]]!r} now).")
        weights = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
        self.model_.load_state_dict(weights)
        return train_state_from_checkpoint(state, tensors, self.device_)

    def _build_model(self, matrix: np.ndarray, seed: int, n_rows: int) -> torch.Tensor:
        """Set layout_, model_config_, train_config_ and model_; return the data on device."""
        self.layout_ = SpanLayout.from_spans(self.transformer_.spans_, self.device_)
        self.decoder_ = self._resolved_decoder(self.layout_.width)
        self.model_config_ = ModelConfig(
            data_dim=self.layout_.width, n_scalars=self.layout_.n_scalars,
            latent_dim=self.fit_plan_.latent_dim, hidden=tuple(self.hidden),
            column_rank=None if self.decoder_ == "factorized"
            else column_rank(self.transformer_.spans_))
        self.train_config_ = self._train_config(seed, n_rows)
        torch.manual_seed(seed)  # weight initialisation only; training uses its own generator
        self.model_ = VAE(self.model_config_).to(self.device_)
        return torch.as_tensor(matrix, device=self.device_)

    def _train(self, data: torch.Tensor, state=None, checkpoint=None, checkpoint_every=0,
               fingerprint: str = "", context=None) -> list[EpochStats]:
        def save(train_state):
            from synthvae.persistence import save_checkpoint

            save_checkpoint(self, train_state, Path(checkpoint), fingerprint)

        source, step, held_out = self._loop(data, context)
        verbose = self.verbose and self.rank_ == 0
        with EpochProgress(self.train_config_.epochs, enabled=verbose) as progress:
            return train(step, source, self.train_config_, progress.update, state, held_out,
                         checkpoint_every, save)

    def _loop(self, data: torch.Tensor, context):
        """(batch source, step strategy, held-out rows) of this fit's plan (see
        synthvae/training.py). Under DP every row trains: holding rows out to pick an epoch
        would be a release."""
        if self.fit_plan_.private:
            from synthvae import privacy

            return (*privacy.private_loop(self.model_, data, self.layout_,
                                          self.train_config_, self.sgd_plan_,
                                          self.dp_config_, context), None)
        train_rows, val_rows = holdout_split(len(data), self.train_config_, data.device)
        return (*memory_loop(self.model_, data[train_rows], self.layout_, self.train_config_,
                             context), data[val_rows])

    def _prepare_private(self, df: pd.DataFrame, seed: int) -> np.ndarray:
        """DP schema, transformer and budget plan; charges ``privacy_`` for every release."""
        import warnings

        from synthvae import privacy

        delta = self.delta if self.delta is not None else privacy.default_delta(len(df))
        self.dp_config_ = privacy.DPConfig(
            epsilon=float(self.epsilon), delta=float(delta),
            max_grad_norm=float(self.max_grad_norm), accountant=self.accountant,
            preprocess_share=float(self.preprocess_share))
        ledger = privacy.PrivacyLedger()
        rng = np.random.default_rng(seed)
        public = privacy.public_schema(df, schema_from_any(self.schema))
        if public.constraints or parse_constraints(self.constraints):
            raise ConfigError("Constraints are not available with differential privacy yet: "
                              "the combinations and bounds they learn from the rows would be "
                              "releases outside the budget. Fit without epsilon, or drop the "
                              "constraints.")
        self.schema_, modes = privacy.private_preprocessing(
            model_frame(df), public, self.dp_config_, ledger, _column_numbers, rng)
        self.transformer_ = TableTransformer(self.schema_, seed=seed).fit_from_schema(modes)
        self.constraints_ = ConstraintLayer.none(self.schema_)
        with warnings.catch_warnings():  # values outside the released categories are expected
            warnings.simplefilter("ignore")
            matrix = self.transformer_.transform(df)
        epochs = self._train_config(seed, len(df)).epochs
        remaining_eps = self.dp_config_.epsilon - ledger.epsilon
        remaining_delta = self.dp_config_.delta - ledger.delta
        self.sgd_plan_ = privacy.plan_sgd(len(df), self._batch_size(len(df), 0.0), epochs,
                                          remaining_eps,
                                          remaining_delta, self.accountant)
        ledger.charge(f"DP-SGD ({self.accountant} accountant)", self.sgd_plan_.epsilon,
                      remaining_delta, None, noise_multiplier=self.sgd_plan_.noise_multiplier,
                      sample_rate=self.sgd_plan_.sample_rate, steps=self.sgd_plan_.steps,
                      max_grad_norm=self.dp_config_.max_grad_norm)
        self.privacy_ = dict(ledger.to_dict(), target_epsilon=self.dp_config_.epsilon,
                             target_delta=self.dp_config_.delta, accountant=self.accountant)
        return matrix

    def _fit_prior(self, data: torch.Tensor, seed: int):
        # Under DP a mixture fitted on the latents of private rows would be a release; with
        # a handful of rows there is nothing to fit.
        if self.prior == "normal" or not self.fit_plan_.keeps_row_statistics \
                or len(data) < MIN_PRIOR_ROWS:
            return StandardNormalPrior(self.model_config_.latent_dim)
        generator = torch.Generator(device=self.device_).manual_seed(seed + 1)
        latents = posterior_latents(self.model_, data, generator)
        return MixturePrior.fit(latents, self.prior_components, seed).to(self.device_)

    def _calibrate(self, data: torch.Tensor, seed: int, trained_rows: int
                   ) -> tuple[torch.Tensor | None, dict | None]:
        """Logit offsets that give prior samples the training rows' category and mode
        frequencies (see synthvae/calibration.py), and their summary; (None, None) when off.
        ``trained_rows`` (epochs x rows) sizes the calibration sample. Under DP the
        frequencies of private rows would be a release."""
        from synthvae.calibration import calibration_rows, fit_logit_offsets, slot_frequencies

        if not self.calibrate or not self.fit_plan_.keeps_row_statistics \
                or self.layout_.n_groups == 0:
            return None, None
        started = time.perf_counter()
        generator = torch.Generator(device=self.device_).manual_seed(seed + 3)
        self.model_.eval()
        offsets, summary = fit_logit_offsets(self.model_.decoder, self.layout_, self.prior_,
                                             slot_frequencies(data, self.layout_), generator,
                                             rows=calibration_rows(trained_rows))
        return offsets, {**summary, "seconds": round(time.perf_counter() - started, 3)}

    def _profile(self, data: torch.Tensor, seed: int) -> dict:
        """The drift reference: held-out rows (all rows when none are held out)."""
        from synthvae.monitoring import PROFILE_MAX_ROWS, reference_profile

        _, rows = holdout_split(len(data), self.train_config_, data.device)
        reference = data[rows] if len(rows) >= MIN_PRIOR_ROWS else data
        reference = reference[:PROFILE_MAX_ROWS]
        elbo, latents = self._score_matrix(reference, seed + 2)
        return reference_profile(elbo, latents)

    def _diagnose(self, data: torch.Tensor, df: pd.DataFrame) -> dict:
        """Training diagnostics on held-out rows (training rows when none are held out);
        warns on posterior collapse. See synthvae/diagnostics.py."""
        from synthvae.diagnostics import MAX_ROWS, check_collapse, training_diagnostics

        _, rows = holdout_split(len(data), self.train_config_, data.device)
        source = "held-out" if len(rows) >= MIN_PRIOR_ROWS else "training"
        if source == "training":
            rows = torch.randperm(len(data), generator=torch.Generator().manual_seed(
                self.train_config_.seed))
        rows = rows[:MAX_ROWS]
        found = training_diagnostics(self.model_, self.layout_, self.transformer_, data[rows],
                                     model_frame(df.iloc[rows.cpu().numpy()]), source)
        check_collapse(found, self.train_config_.beta, self.kl_anneal,
                       self.model_config_.autoregressive)
        return found

    def _score_matrix(self, data: torch.Tensor, seed: int, k: int | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
        """(ELBO per row, latent means) of encoded rows on the device."""
        from synthvae.likelihood import latent_means, row_scores
        from synthvae.monitoring import SCORE_SAMPLES

        generator = torch.Generator(device=self.device_).manual_seed(seed)
        elbo, _ = row_scores(self.model_, self.layout_, self.prior_, data,
                             k or SCORE_SAMPLES, generator)
        return elbo.cpu().numpy(), latent_means(self.model_, data).cpu().numpy()

    def _validate_params(self) -> None:
        if self.prior not in PRIORS:
            raise ConfigError(f"The 'prior' parameter of Synthesizer must be one of {PRIORS}. "
                              f"Got {self.prior!r} instead.")
        if self.epochs is not None:
            _check_positive_int("epochs", self.epochs)
        if self.batch_size is not None:
            _check_positive_int("batch_size", self.batch_size)
        positive_ints = ("patience", "prior_components",
                         "categorical_threshold", "mixture_max_rows", "max_categories")
        for name in positive_ints + (("latent_dim",) if self.latent_dim is not None else ()):
            _check_positive_int(name, getattr(self, name))
        for name in ("loss_factor",) + (("lr",) if self.lr is not None else ()):
            _check_number(name, getattr(self, name), low=0, low_open=True)
        _check_number("weight_decay", self.weight_decay, low=0)
        if self.beta is not None:
            _check_number("beta", self.beta, low=0)
        _check_number("validation_fraction", self.validation_fraction, low=0, high=0.5)
        self._validate_objective()
        if not isinstance(self.hidden, (tuple, list)) or not self.hidden or not all(
                isinstance(h, int) and h > 0 for h in self.hidden):
            raise ConfigError("The 'hidden' parameter of Synthesizer must be a non-empty "
                              f"sequence of positive ints. Got {self.hidden!r} instead.")
        if self.distributed is not None and not isinstance(self.distributed, bool):
            raise ConfigError(f"The 'distributed' parameter of Synthesizer must be True, False "
                              f"or None. Got {self.distributed!r} instead.")
        if not isinstance(self.calibrate, bool):
            raise ConfigError(f"The 'calibrate' parameter of Synthesizer must be True or False. "
                              f"Got {self.calibrate!r} instead.")
        if self.seed is not None and not isinstance(self.seed, (int, np.integer)):
            raise ConfigError(f"The 'seed' parameter of Synthesizer must be an int or None. "
                              f"Got {self.seed!r} instead.")
        self._validate_privacy_params()
        if (isinstance(self.discrete_threshold, bool)
                or not isinstance(self.discrete_threshold, (int, np.integer))
                or self.discrete_threshold < 0):
            raise ConfigError("The 'discrete_threshold' parameter of Synthesizer must be an int "
                              f">= 0. Got {self.discrete_threshold!r} instead.")
        if self.skew_threshold is not None:
            _check_number("skew_threshold", self.skew_threshold, low=0)
        if self.max_categories < 2:
            raise ConfigError("The 'max_categories' parameter of Synthesizer must be at "
                              f"least 2. Got {self.max_categories} instead.")

    def _validate_objective(self) -> None:
        if self.kl_anneal not in KL_SCHEDULES:
            raise ConfigError(f"The 'kl_anneal' parameter of Synthesizer must be one of "
                              f"{KL_SCHEDULES}. Got {self.kl_anneal!r} instead.")
        if self.kl_anneal_epochs is not None:
            _check_positive_int("kl_anneal_epochs", self.kl_anneal_epochs)
        _check_number("free_bits", self.free_bits, low=0)
        if self.free_bits > 0 and self.epsilon is not None:
            raise ConfigError(
                f"The 'free_bits' parameter of Synthesizer must be 0 with differential privacy "
                f"(epsilon={self.epsilon!r}). Got {self.free_bits!r} instead: free bits clamp "
                f"the batch-averaged KL, which couples the rows of a batch and breaks the "
                f"per-row gradient clipping DP-SGD's guarantee rests on. Use beta or "
                f"kl_anneal instead.")

    def _validate_privacy_params(self) -> None:
        if self.decoder not in DECODERS:
            raise ConfigError(f"The 'decoder' parameter of Synthesizer must be one of "
                              f"{DECODERS}. Got {self.decoder!r} instead.")
        if self.epsilon is None:
            return
        if self.decoder not in (None, "factorized"):
            raise ConfigError(
                f"The 'decoder' parameter of Synthesizer must be 'factorized' or None with "
                f"differential privacy (epsilon={self.epsilon!r}). Got {self.decoder!r} "
                f"instead: the autoregressive term's masked weights have no per-sample "
                f"gradient rule in Opacus, so DP-SGD cannot clip them row by row.")
        _check_number("epsilon", self.epsilon, low=0, low_open=True)
        if self.delta is not None:
            _check_number("delta", self.delta, low=0, high=0.01, low_open=True)
        _check_number("max_grad_norm", self.max_grad_norm, low=0, low_open=True)
        _check_number("preprocess_share", self.preprocess_share, low=0, high=0.9)
        if self.accountant not in ("prv", "rdp"):
            raise ConfigError(f"The 'accountant' parameter of Synthesizer must be 'prv' or "
                              f"'rdp'. Got {self.accountant!r} instead.")

    def _fit_plan(self) -> FitPlan:
        """The one place that reads ``epsilon`` to decide how the fit runs. Under DP no
        private row is held out (validation would be a release) and beta defaults to 1.0
        (see :meth:`_resolved_beta`)."""
        private = self.epsilon is not None
        return FitPlan(private=private,
                       validation_fraction=0.0 if private else self.validation_fraction,
                       beta=self._resolved_beta(private),
                       lr=float(_default(self.lr, DP_LR if private else DEFAULT_LR)),
                       latent_dim=int(_default(self.latent_dim, DP_LATENT_DIM if private
                                               else DEFAULT_LATENT_DIM)))

    def _train_config(self, seed: int, n_rows: int) -> TrainConfig:
        validation = self.fit_plan_.validation_fraction
        batch_size = self._batch_size(n_rows, validation)
        epochs = self.epochs or auto_epochs(n_rows, batch_size, validation)
        anneal_epochs = 0 if self.kl_anneal == "none" else \
            self.kl_anneal_epochs or max(1, epochs // 4)
        return TrainConfig(epochs=epochs, batch_size=batch_size, lr=self.fit_plan_.lr,
                           weight_decay=self.weight_decay, beta=self.fit_plan_.beta,
                           kl_anneal=self.kl_anneal, kl_anneal_epochs=anneal_epochs,
                           free_bits=float(self.free_bits),
                           loss_factor=self.loss_factor, validation_fraction=validation,
                           patience=self.patience, seed=seed)

    def _batch_size(self, n_rows: int, validation_fraction: float) -> int:
        """``batch_size``, or its default for ``n_rows`` rows (see :func:`auto_batch_size`);
        500 under DP, whose sampling rate and noise the batch sets."""
        if self.batch_size is not None:
            return int(self.batch_size)
        if self.fit_plan_.private:
            return MAX_AUTO_BATCH
        return auto_batch_size(int(n_rows * (1 - validation_fraction)))

    def _resolved_decoder(self, width: int) -> str:
        """``decoder``, or its default: autoregressive unless the table is too wide for the
        column-by-column term (its cost per step grows with the width) or the fit
        is private (the masked term has no per-sample gradient rule in Opacus). A table with
        no modelled column (identifiers and constants only) has nothing to draw in order."""
        if width == 0:
            return "factorized"
        if self.decoder is not None:
            return self.decoder
        private = self.fit_plan_.private
        return "factorized" if private or width > MAX_AUTOREGRESSIVE_WIDTH else "autoregressive"

    def _resolved_beta(self, private: bool) -> float:
        """``beta``, or its default: 0.5 (measured in benchmarks/results/quality.md), 1.0
        under DP, where the prior stays N(0, I) and no calibration corrects its mismatch."""
        if self.beta is not None:
            return float(self.beta)
        return DP_BETA if private else DEFAULT_BETA

    # ------------------------------------------------------------------ sample
    def sample(self, n: int, seed: int | None = None, conditions: dict | None = None,
               shard: tuple[int, int] | None = None, output: str = "pandas"):
        """``n`` synthetic rows with the training table's columns, dtypes and categories.

        The same ``seed`` gives the same rows; ``seed=None`` uses the synthesizer's seed.
        ``conditions`` asks for rows meeting them all: ``{"sex": "Female"}`` (one value),
        ``{"race": ["White", "Black"]}`` (one of several), ``{"age": (30, 40)}`` (an inclusive
        range; ``(30, None)`` is open above), ``{"workclass": None}`` (an empty cell). The rows
        follow the model's conditional distribution (see docs/toolkit.md); rare conditions
        cost a few decoder passes more, never rejection loops.
        ``shard=(i, S)`` returns only shard ``i`` of ``S`` of the ``n`` rows (see
        :meth:`iter_sample` and docs/scale.md).
        ``output`` is the kind returned: "pandas" (a DataFrame), "arrow" (a PyArrow Table)
        or "polars" (a Polars DataFrame; needs the ``polars`` extra).
        """
        to_output(pd.DataFrame(), output)  # a wrong kind fails before sampling
        return to_output(pd.concat(list(self.iter_sample(n, seed=seed, conditions=conditions,
                                                         shard=shard)), ignore_index=True),
                         output)

    def iter_sample(self, n: int, chunk_size: int = SAMPLE_BATCH_ROWS, seed: int | None = None,
                    conditions: dict | None = None, shard: tuple[int, int] | None = None
                    ) -> Iterator[pd.DataFrame]:
        """Yield ``n`` rows in DataFrames of at most ``chunk_size`` rows (bounded memory).

        The rows do not depend on ``chunk_size``: a stream and ``sample(n)`` agree.
        ``conditions`` is as for :meth:`sample`. ``n = 0`` yields one empty frame with the
        training columns and dtypes.

        ``shard=(i, S)`` yields only shard ``i`` (0-based) of ``S``: rows
        ``[i*n//S, (i+1)*n//S)`` of the whole, drawn from the shard's own random stream
        (``numpy.random.SeedSequence(seed, spawn_key=(i,))``), so shards can run anywhere,
        in any order, and the union of all ``S`` is reproducible with identifiers unique
        across it. Sharding does not combine with ``conditions``.
        """
        from synthvae.sharding import check_shard

        self._check_fitted()
        n = check_n(n)
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise ConfigError(f"chunk_size must be a positive int. Got {chunk_size!r} instead.")
        shard = check_shard(shard)
        if shard is not None and conditions is not None:
            raise ConfigError("Sharded sampling does not combine with conditions: conditional "
                              "rows are drawn in redrawn batches whose identifiers cannot be "
                              "split ahead of time. Sample the conditional rows unsharded.")
        bound, residual = None, []
        if conditions is not None:
            from synthvae.conditions import bind_conditions

            modelled, residual = self.constraints_.split_conditions(conditions)
            bound = bind_conditions(modelled, self.transformer_, self.layout_) \
                if modelled or not conditions else []
        seed = (self.seed or 0) if seed is None else int(seed)
        torch_seed, numpy_seed, start = seed, seed, 0
        if shard is not None:
            start, stop = shard.rows(n)
            n = stop - start
            torch_seed, numpy_seed = shard.seeds(seed)
        if n == 0:
            yield self._empty_frame()
            return
        generator = torch.Generator(device=self.device_).manual_seed(torch_seed)
        rng = np.random.default_rng(numpy_seed)
        frames = self._conditional_frames(n, generator, rng, bound, conditions, residual) \
            if bound else self._frames(n, generator, rng, start, residual, conditions)
        yield from rechunk(frames, n, chunk_size)

    def _empty_frame(self) -> pd.DataFrame:
        """No rows, with the columns and dtypes of a sample."""
        generator = torch.Generator(device=self.device_).manual_seed(0)
        return next(self._frames(1, generator, np.random.default_rng(0))).iloc[:0]

    def _frames(self, n: int, generator, rng, offset: int = 0, residual=(),
                conditions=None) -> Iterator[pd.DataFrame]:
        """Rows from the prior; the few a constraint check refuses are redrawn (bounded,
        see synthvae/constraints/redraw.py)."""
        from synthvae.constraints.redraw import RejectionGuard, complete

        def draw(rows: int, row_offset: int):
            matrix = sample_matrix(self.model_, self.layout_, self.prior_, rows, generator,
                                   self.device_, offsets=self.logit_offsets_)
            return self.constraints_.output(self.transformer_.inverse_transform(
                matrix.cpu().numpy(), rng, row_offset=row_offset), residual)

        guard = RejectionGuard(conditions)
        for start in range(0, n, SAMPLE_BATCH_ROWS):
            rows = min(SAMPLE_BATCH_ROWS, n - start)
            yield complete(draw, rows, offset + start, self.constraints_.id_columns, guard)

    def _conditional_frames(self, n: int, generator, rng, bound: list, conditions: dict,
                            residual=()) -> Iterator[pd.DataFrame]:
        from synthvae.conditions import BATCH_ROWS, ConditionalSampler
        from synthvae.constraints.redraw import RejectionGuard

        guard = RejectionGuard(conditions)
        sampler = ConditionalSampler(self.model_, self.layout_, self.prior_, bound,
                                     self.device_, offsets=self.logit_offsets_)
        produced = decoded = empty_batches = 0
        while produced < n:
            rows = min(BATCH_ROWS, guard.rows_to_draw(n - produced))
            matrix, possible = sampler.matrix(rows, generator)
            frame = self.transformer_.inverse_transform(matrix.cpu().numpy(), rng,
                                                        row_offset=decoded)
            decoded += rows  # identifiers stay unique across redrawn rows
            for condition in bound:
                condition.finish(frame)
            keep = possible.cpu().numpy()
            for condition in bound:
                keep &= condition.holds(frame)
            frame, passed = self.constraints_.output(frame, residual)
            keep &= passed
            guard.add(rows, keep.sum())
            if not keep.any():
                empty_batches += 1
                if empty_batches >= 3:
                    raise ConfigError(f"The model gives rows meeting {conditions!r} no "
                                      f"probability; widen the conditions.")
                continue
            frame = frame[keep].iloc[:n - produced].reset_index(drop=True)
            produced += len(frame)
            yield frame
        self.conditional_effective_sizes_ = sampler.effective_sizes

    # ------------------------------------------------------------------ the VAE as a toolkit
    def encode(self, df: pd.DataFrame) -> np.ndarray:
        """The encoder's mean latent of each row of ``df``, (rows, latent_dim)."""
        from synthvae.likelihood import latent_means

        return latent_means(self.model_, self._encoded(df)).cpu().numpy()

    def decode(self, latents) -> pd.DataFrame:
        """The most likely row for each latent (rows, latent_dim): no sampling noise."""
        from synthvae.likelihood import decode_mean

        self._check_fitted()
        z = torch.as_tensor(np.asarray(latents, dtype=np.float32), device=self.device_)
        latent_dim = self.model_config_.latent_dim
        if z.ndim != 2 or z.shape[1] != latent_dim:
            raise ConfigError(f"decode takes latents of shape (rows, {latent_dim}). Got "
                              f"{tuple(z.shape)} instead.")
        matrix = decode_mean(self.model_, self.layout_, z)
        return self.constraints_.output(self.transformer_.inverse_transform(
            matrix.cpu().numpy(), np.random.default_rng(self.seed or 0)))[0]

    def interpolate(self, start: pd.DataFrame, end: pd.DataFrame, steps: int = 8
                    ) -> pd.DataFrame:
        """Rows decoded along the straight latent path from one row to another.

        ``start`` and ``end`` are one-row DataFrames with the training columns; the result
        has ``steps`` rows (the first and last are the two rows' reconstructions) and a
        leading column ``t`` from 0 to 1.
        """
        if not isinstance(steps, int) or steps < 2:
            raise ConfigError(f"steps must be an int >= 2. Got {steps!r} instead.")
        ends = [self.encode(row) for row in (start, end)]
        for name, z in zip(("start", "end"), ends):
            if len(z) != 1:
                raise DataError(f"interpolate takes one row as {name!r}. Got {len(z)} rows.")
        t = np.linspace(0.0, 1.0, steps)[:, None]
        frame = self.decode((1 - t) * ends[0] + t * ends[1])
        frame.insert(0, "t", t[:, 0])
        return frame

    def score(self, df: pd.DataFrame, samples: int = 32, seed: int | None = None
              ) -> pd.DataFrame:
        """Per-row ELBO and importance-weighted log-likelihood estimate (IWAE, ``samples``
        latents per row) under the model, in nats; low values flag unusual rows.

        Rows holding a category the model never saw (and has no 'other' slot for) score
        -inf. See docs/toolkit.md for units and caveats.
        """
        from synthvae.likelihood import row_scores

        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise ConfigError(f"samples must be a positive int. Got {samples!r} instead.")
        data = self._encoded(df)
        seed = (self.seed or 0) if seed is None else int(seed)
        generator = torch.Generator(device=self.device_).manual_seed(seed)
        elbo, iwae = row_scores(self.model_, self.layout_, self.prior_, data, samples,
                                generator)
        return pd.DataFrame({"elbo": elbo.cpu().numpy().astype(np.float64),
                             "log_likelihood": iwae.cpu().numpy().astype(np.float64)},
                            index=df.index if isinstance(df, pd.DataFrame) else None)

    def drift(self, df: pd.DataFrame, reference: pd.DataFrame | None = None,
              alpha: float = 0.01) -> dict:
        """Compare ``df`` with the training data through the model (see docs/toolkit.md).

        Tests the ELBO distribution and each latent dimension (Kolmogorov-Smirnov,
        Bonferroni-corrected at ``alpha``) against the reference profile kept at fit time,
        or against ``reference`` rows when given (required for DP models, which keep none).
        Returns a JSON-ready dict whose ``"drift"`` is True when any test rejects.
        """
        from synthvae.monitoring import drift_report, reference_profile

        _check_number("alpha", alpha, low=0, high=0.5, low_open=True)
        seed = (self.seed or 0) + 2
        if reference is not None:
            profile = reference_profile(*self._score_matrix(self._encoded(reference), seed))
        elif getattr(self, "monitoring_", None) is not None:
            profile = self.monitoring_
        else:
            raise ConfigError("This model keeps no drift reference (it was trained with "
                              "differential privacy, by an older synthvae, or its drift "
                              "profile failed at fit); pass reference rows.")
        elbo, latents = self._score_matrix(self._encoded(df), seed + 1)
        return drift_report(profile, elbo, latents, alpha)

    def _encoded(self, df: pd.DataFrame) -> torch.Tensor:
        """``df`` encoded with the fitted transformer, on the device."""
        self._check_fitted()
        df = check_frame(df, "encode, score and drift")
        self.schema_.check_frame(df)
        matrix = self.transformer_.transform(self.constraints_.transform(df), seed=self.seed or 0)
        return torch.as_tensor(matrix, device=self.device_)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the fitted synthesizer to one safetensors file (JSON header, no pickle).

        After a distributed fit only rank 0 writes (every rank holds the same model); the
        other ranks return the path without writing.
        """
        from synthvae.persistence import save_synthesizer

        self._check_fitted()
        if getattr(self, "rank_", 0) != 0:
            return Path(path)
        return save_synthesizer(self, Path(path))

    @classmethod
    def load(cls, path: str | Path, device: str | None = None,
             predicates: dict | None = None) -> "Synthesizer":
        """Read a file written by :meth:`save`; validates the format, versions and shapes.

        A model fitted with :class:`synthvae.Predicate` constraints needs their functions
        again (``predicates={name: function}``): Python code is never saved."""
        from synthvae.persistence import load_synthesizer

        return load_synthesizer(Path(path), device, predicates)

    def _check_fitted(self) -> None:
        if not all(hasattr(self, name) for name in FITTED_FOR_SAMPLING):
            raise NotFittedError("This Synthesizer is not fitted yet; call fit(df) before "
                                 "sample(), save() or other methods that need a model.")


# ---------------------------------------------------------------------------- helpers


def _column_numbers(spec, series: pd.Series) -> np.ndarray:
    """A continuous or datetime column as float64 (seconds for datetimes)."""
    from synthvae.transforms.table import make_column_transformer

    return make_column_transformer(spec).to_numbers(series)


def _default(value, default):
    """``value``, or ``default`` where the parameter was left at None."""
    return default if value is None else value


def rechunk(frames: Iterator[pd.DataFrame], n: int, chunk_size: int
            ) -> Iterator[pd.DataFrame]:
    """Regroup a stream of frames totalling ``n`` rows into frames of ``chunk_size`` rows."""
    pending: list[pd.DataFrame] = []
    buffered = seen = 0
    for frame in frames:
        pending.append(frame)
        buffered += len(frame)
        seen += len(frame)
        while buffered >= chunk_size or (seen == n and buffered):
            joined = pd.concat(pending, ignore_index=True) if len(pending) > 1 else pending[0]
            out, rest = joined.iloc[:chunk_size], joined.iloc[chunk_size:]
            yield out.reset_index(drop=True)
            pending = [rest] if len(rest) else []
            buffered = len(rest)


def column_rank(spans) -> tuple[int, ...]:
    """Each encoded position's column number, in table order: the drawing order of an
    autoregressive decoder."""
    order: dict[str, int] = {}
    return tuple(order.setdefault(span.column, len(order)) for span in spans
                 for _ in range(span.width))


def data_fingerprint(df: pd.DataFrame) -> str:
    """A hash of a table's values and column names (to match a checkpoint to its data)."""
    values = int(pd.util.hash_pandas_object(df, index=False).sum()) % 2**64
    names = int(pd.util.hash_pandas_object(pd.Series(list(map(str, df.columns)))).sum()) % 2**64
    return f"{len(df)}x{len(df.columns)}:{values:016x}:{names:016x}"


def check_memory(n_rows: int, width: int, device: torch.device) -> None:
    """Refuse, before allocating, a table whose encoded copies would not fit in memory.

    Fitting holds the encoded float32 matrix about three times at once (NumPy, the device
    tensor, its training split); on a GPU two of them live on the device.
    """
    needed = 3 * n_rows * width * 4
    available = available_memory(device)
    if available is not None and needed > 0.8 * available:
        raise DataError(
            f"The encoded table needs about {needed / 2**30:.1f} GiB ({n_rows:,} rows x "
            f"{width:,} encoded columns x 4 bytes x 3 copies) but only "
            f"{available / 2**30:.1f} GiB is free on {device}; fit on a random sample of rows, "
            f"or lower max_categories to narrow the encoding.")


def available_memory(device: torch.device) -> int | None:
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def auto_batch_size(train_rows: int) -> int:
    """A tenth of the training rows, within [MIN_AUTO_BATCH, MAX_AUTO_BATCH]: a 300-row
    table gets ~6 steps per epoch instead of one, so the step budget of small tables is not
    cut short by the epoch cap (measured in benchmarks/results/structure.md)."""
    return int(min(MAX_AUTO_BATCH, max(MIN_AUTO_BATCH, train_rows // 10)))


def auto_epochs(n_rows: int, batch_size: int, validation_fraction: float,
                max_epochs: int | None = None) -> int:
    """Epochs giving about AUTO_STEPS optimiser steps, within [10, max_epochs]."""
    steps_per_epoch = math.ceil(max(1, n_rows * (1 - validation_fraction)) / batch_size)
    cap = MAX_AUTO_EPOCHS if max_epochs is None else max_epochs
    return int(min(cap, max(10, math.ceil(AUTO_STEPS / steps_per_epoch))))


def resolve_device(device: str | None) -> torch.device:
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"The 'device' parameter of Synthesizer must be 'cpu', 'cuda', "
                          f"'cuda:N' or None. Got {device!r} instead.") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"The 'device' parameter asks for {device!r}, but no CUDA GPU is "
                          f"available here; use device='cpu' or None.")
    return resolved


def check_frame(df, method: str = "fit") -> pd.DataFrame:
    """``df`` (pandas, PyArrow or Polars) as a pandas DataFrame with a fresh index."""
    df = as_pandas(df, f"Synthesizer.{method}")
    if len(df.columns) == 0:
        raise DataError("The table has no columns.")
    if len(df) == 0:
        raise DataError("The table has no rows; there is nothing to learn from.")
    return df.reset_index(drop=True)


def check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ConfigError(f"The number of rows to sample must be a non-negative int. "
                          f"Got {n!r} instead.")
    return int(n)


def _check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"The {name!r} parameter of Synthesizer must be a positive int. "
                          f"Got {value!r} instead.")


def _check_number(name, value, low=None, high=None, low_open=False) -> None:
    ok = isinstance(value, (int, float, np.number)) and not isinstance(value, bool) \
        and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        bounds = f"{'>' if low_open else '>='} {low}" + (f" and <= {high}" if high else "")
        raise ConfigError(f"The {name!r} parameter of Synthesizer must be a number {bounds}. "
                          f"Got {value!r} instead.")

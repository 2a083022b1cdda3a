"""The public estimator: ``Synthesizer().fit(df).sample(1000)``.

A thin scikit-learn-style façade: it stores the parameters, checks its inputs and delegates.
Parameter validation and defaults live in :mod:`synthvae.params`; fitting in
:mod:`synthvae.fit_memory` (in memory, DP, distributed) and :mod:`synthvae.streaming`
(Parquet), with the shared stages in :mod:`synthvae.fitting`; the model, its prior and
calibration in :mod:`synthvae.generator`; tables of sampled rows in
:mod:`synthvae.table_sampling`; encode, decode, score and drift in :mod:`synthvae.toolkit`;
files in :mod:`synthvae.persistence`. docs/architecture.md
maps every concept to its module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from synthvae import toolkit
from synthvae.errors import ConfigError, NotFittedError
from synthvae.exclusions import UNSEEN_PAIR_ROWS
from synthvae.fit_memory import fit_in_memory
from synthvae.fitting import FITTED_FOR_SAMPLING, atomic_fit
from synthvae.frames import to_output
from synthvae.params import validate_params
from synthvae.preparation import check_frame
from synthvae.sampling import MIN_LIFT
from synthvae.schema import CATEGORICAL_THRESHOLD, Schema
from synthvae.streaming import fit_stream
from synthvae.table_sampling import (SAMPLE_BATCH_ROWS, check_n, check_output_memory, rechunk,
                                     sample_stream)
from synthvae.threads import cpu_threads
from synthvae.torch_dtype import float32_default
from synthvae.transforms.categorical import MAX_CATEGORIES
from synthvae.transforms.continuous import (DISCRETE_THRESHOLD, MIN_MODE_ROWS, MIXTURE_MAX_ROWS,
                                           TAIL_SHARE)
from synthvae.transforms.scaling import SKEW_THRESHOLD

# Importable from here as before; they live in the modules that own them.
from synthvae.devices import available_memory, resolve_device
from synthvae.fit_memory import data_fingerprint
from synthvae.fitting import MIN_PRIOR_ROWS
from synthvae.generator import DECODERS, MAX_AUTOREGRESSIVE_WIDTH, column_rank
from synthvae.params import (AUTO_STEPS, DEFAULT_BETA, DEFAULT_LATENT_DIM, DEFAULT_LR,
                             DP_BETA, DP_LATENT_DIM, DP_LR, MAX_AUTO_BATCH, MAX_AUTO_EPOCHS,
                             MIN_AUTO_BATCH, auto_batch_size, auto_epochs)
from synthvae.preparation import check_memory
from synthvae.streaming import PRIOR_FIT_ROWS

__all__ = ["Synthesizer", "FITTED_FOR_SAMPLING", "SAMPLE_BATCH_ROWS", "check_frame", "check_n",
           "rechunk", "available_memory", "resolve_device", "data_fingerprint",
           "MIN_PRIOR_ROWS", "DECODERS", "MAX_AUTOREGRESSIVE_WIDTH", "column_rank",
           "AUTO_STEPS", "DEFAULT_BETA", "DP_BETA", "DEFAULT_LR", "DP_LR",
           "DEFAULT_LATENT_DIM", "DP_LATENT_DIM", "MAX_AUTO_EPOCHS", "auto_epochs",
           "MIN_AUTO_BATCH", "MAX_AUTO_BATCH", "auto_batch_size", "check_memory",
           "PRIOR_FIT_ROWS"]


def _generator_part(name: str, doc: str, settable: bool = True) -> property:
    """A fitted attribute that is a part of ``generator_`` (absent while unfitted)."""

    def get(self):
        return getattr(self.generator_, name)

    def put(self, value):
        setattr(self.generator_, name, value)

    return property(get, put if settable else None, doc=doc)


def _differs(value, default) -> bool:
    """Whether a parameter differs from its default, for ``repr``: a value whose ``!=`` has
    no single truth (a NumPy array as ``hidden``) differs (repr raised ValueError)."""
    try:
        return bool(value != default)
    except (TypeError, ValueError):
        return True


class Synthesizer:
    """A TVAE-style synthesizer for one table.

    Parameters are stored as given (scikit-learn convention) and validated by :meth:`fit`.

    Parameters
    ----------
    epochs : maximum training epochs; None chooses by table size (about 3,500 optimiser
        steps, between 10 and 300 epochs). Early stopping on a held-out ELBO may end sooner.
    batch_size : rows per optimisation step; None = a tenth of the training rows within
        [50, 500] (500, TVAE's, from 5,000 training rows up; always 500 under differential
        privacy): small tables get more, noisier steps
        (docs/training.md#small-tables-batch_sizenone).
    latent_dim, hidden : architecture (TVAE's defaults: 128 and (128, 128)); latent_dim None
        = 128, or 8 under differential privacy (see docs/privacy.md).
    decoder : "autoregressive" (each column also depends on the columns before it, see
        docs/training.md#the-decoder-decoder), "factorized" (TVAE's: columns independent given the
        latent), or None: "autoregressive" up to ``MAX_AUTOREGRESSIVE_WIDTH`` encoded
        columns (with or without differential privacy), "factorized" beyond.
    latent_swap : autoregressive decoder only: share of each training batch trained beside
        another row's latent (docs/training.md); None = 0.25 from 5,000 rows on, else 0.
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
        values, each held by at least 5 rows on average, are encoded value by value (one
        exact mode per value, see docs/schema.md); 0 = always a Gaussian mixture. Not used
        under differential privacy.
    skew_threshold : other continuous columns whose sample skewness exceeds this (in absolute
        value) are modelled on a signed log scale (heavy tails: payments, durations; see
        docs/schema.md); None = never. Not used under differential privacy.
    min_mode_rows : a continuous column's mixture keeps only modes that hold at least this
        many of its values (and 0.5 %), lighter ones folded into the closest kept mode: small
        tables get fewer, fuller modes (docs/training.md); 0 = the 0.5 % rule alone. Not
        used under differential privacy.
    tail_share : a log-scaled (heavy-tailed) column's largest and smallest values, this share
        of them on each side, are modes of their own when they number at least
        ``min_mode_rows``, so the decoder relates one column's extremes to another's
        (docs/training.md, "Tail modes"); 0 = none. Not used under differential privacy.
    max_categories : categorical columns keep at most this many slots (rare values grouped).
    prior : latent distribution to sample from: "gmm" (a diagonal Gaussian mixture fitted to
        the training rows' latents, the default) or "normal" (N(0, I), as TVAE).
    prior_components : mixture components of the "gmm" prior.
    calibrate : after training, shift the decoder's category and mode logits so that rows
        drawn from the prior have the training rows' one-dimensional frequencies (see
        docs/training.md); under DP, noisy frequencies (``calibration_share``).
    min_lift : a category is not drawn where its probability in the row's context is below
        ``min_lift`` times its training share (docs/training.md); 0 = off.
    unseen_pairs : two values of two columns (categorical, or numbers encoded value by
        value) that no training row holds together are never drawn together when
        independence of the columns would put at least this many rows there
        (``relationship=Husband & sex=Female``) or one column determines the other
        (docs/training.md); 0 = off. Kept by the autoregressive decoder (the default up to
        1,024 encoded columns); not used under differential privacy.
    epsilon : train with differential privacy at this total budget (None = no DP). Under DP
        the prior is N(0, I), nothing is held out, no loss history is kept, and the
        numbers' NLL is weighted down in training (docs/privacy.md).
    delta : total DP delta; None = 0.1 / rows.
    max_grad_norm : DP-SGD per-sample clipping norm.
    accountant : "prv" (default) or "rdp".
    preprocess_share : share of epsilon and delta spent on bounds and category lists that
        the schema does not give (0 = refuse unless the schema gives them all).
    calibration_share : share of epsilon and delta spent on the noisy one-way frequencies
        that calibrate sampling under DP (docs/privacy.md); 0 = sample uncalibrated.
    device : "cpu", "cuda", "cuda:1", ... or None for CUDA when available.
    distributed : train data-parallel over the processes of a ``torchrun`` launch (see
        docs/scale.md): None (when launched by torchrun with several processes), True
        (must be launched so), False (never).
    n_threads : CPU threads of ``fit`` and each sampling call; None = the idle CPUs when
        the call starts (docs/training.md#cpu-threads-n_threads).
    seed : seeds every random choice of fit (and the default of ``sample``); ``None`` is
        0, so every fit is reproducible (unlike scikit-learn's ``random_state=None``):
        give different seeds for different models.
    verbose : show a progress bar with the loss and KL per epoch.
    """

    def __init__(self, epochs: int | None = None, batch_size: int | None = None,
                 latent_dim: int | None = None, hidden: tuple[int, ...] = (128, 128),
                 decoder: str | None = None, latent_swap: float | None = None,
                 lr: float | None = None,
                 weight_decay: float = 1e-5, beta: float | None = None, kl_anneal: str = "none",
                 kl_anneal_epochs: int | None = None, free_bits: float = 0.0,
                 loss_factor: float = 2.0, validation_fraction: float = 0.1, patience: int = 20,
                 schema: Schema | dict | str | None = None, constraints: list | None = None,
                 categorical_threshold: int = CATEGORICAL_THRESHOLD,
                 mixture_max_rows: int = MIXTURE_MAX_ROWS, max_categories: int = MAX_CATEGORIES,
                 discrete_threshold: int = DISCRETE_THRESHOLD,
                 skew_threshold: float | None = SKEW_THRESHOLD,
                 min_mode_rows: int = MIN_MODE_ROWS, tail_share: float = TAIL_SHARE,
                 prior: str = "gmm", prior_components: int = 10, calibrate: bool = True,
                 min_lift: float = MIN_LIFT, unseen_pairs: float = UNSEEN_PAIR_ROWS,
                 epsilon: float | None = None, delta: float | None = None,
                 max_grad_norm: float = 1.0, accountant: str = "prv",
                 preprocess_share: float = 0.1, calibration_share: float = 0.1,
                 device: str | None = None, distributed: bool | None = None,
                 n_threads: int | None = None, seed: int | None = 0, verbose: bool = True):
        self.epochs = epochs
        self.batch_size = batch_size
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.decoder = decoder
        self.latent_swap = latent_swap
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
        self.min_mode_rows = min_mode_rows
        self.tail_share = tail_share
        self.prior = prior
        self.prior_components = prior_components
        self.calibrate = calibrate
        self.min_lift = min_lift
        self.unseen_pairs = unseen_pairs
        self.epsilon = epsilon
        self.delta = delta
        self.max_grad_norm = max_grad_norm
        self.accountant = accountant
        self.preprocess_share = preprocess_share
        self.calibration_share = calibration_share
        self.device = device
        self.distributed = distributed
        self.n_threads = n_threads
        self.seed = seed
        self.verbose = verbose

    def __repr__(self) -> str:
        changed = [f"{name}={value!r}" for (name, value), default
                   in zip(self.get_params().items(), Synthesizer.__init__.__defaults__)
                   if _differs(value, default)]
        return f"Synthesizer({', '.join(changed)})"

    def _repr_html_(self) -> str:
        """Notebook display: parameters; when fitted, columns and training summary."""
        from synthvae.notebook import synthesizer_html

        return synthesizer_html(self)

    def get_params(self, deep: bool = False) -> dict:
        defaults = Synthesizer.__init__.__defaults__
        names = Synthesizer.__init__.__code__.co_varnames[1:1 + len(defaults)]
        return {n: getattr(self, n) for n in names}

    def set_params(self, **params) -> "Synthesizer":
        """scikit-learn's ``set_params``: store the given parameters (checked at the next
        ``fit``, as ``__init__``'s are); returns self. A fitted model keeps its fitted
        state until it is fitted again."""
        valid = self.get_params()
        unknown = sorted(set(params) - set(valid))
        if unknown:
            raise ConfigError(f"Synthesizer has no parameter {unknown[0]!r}; its parameters "
                              f"are {sorted(valid)}.")
        for name, value in params.items():
            setattr(self, name, value)
        return self

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
        validate_params(self)
        with cpu_threads(self.n_threads), float32_default():
            fit_in_memory(self, check_frame(df), checkpoint, checkpoint_every, resume)
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
        validate_params(self)
        with cpu_threads(self.n_threads), float32_default():
            fit_stream(self, path, sample_rows, buffer_rows)
        return self

    # ------------------------------------------------------------------ the generator's parts
    model_ = _generator_part("model", "The VAE network (a torch.nn.Module).")
    prior_ = _generator_part("prior", "The latent prior sampled from (synthvae/prior.py).")
    logit_offsets_ = _generator_part(
        "offsets", "The marginal calibration's (width,) logit offsets, or None.")
    layout_ = _generator_part("layout", "The encoded matrix's spans (synthvae/layout.py).",
                              settable=False)
    model_config_ = _generator_part("config", "The VAE's ModelConfig.", settable=False)
    decoder_ = _generator_part("decoder_kind", "'autoregressive' or 'factorized'.",
                               settable=False)

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
        check_output_memory(self, n, shard)
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
        return sample_stream(self, n, chunk_size, seed, conditions, shard)

    # ------------------------------------------------------------------ the VAE as a toolkit
    @float32_default()
    def encode(self, df: pd.DataFrame) -> np.ndarray:
        """The encoder's mean latent of each row of ``df``, (rows, latent_dim)."""
        return toolkit.encode(self, df)

    @float32_default()
    def decode(self, latents) -> pd.DataFrame:
        """The most likely row for each latent (rows, latent_dim): no sampling noise."""
        return toolkit.decode(self, latents)

    @float32_default()
    def excluded_pairs(self) -> pd.DataFrame:
        """The value pairs the sampler never draws together (``unseen_pairs``): columns,
        values and the rule, one row each (docs/training.md)."""
        return toolkit.excluded_pairs(self)

    @float32_default()
    def interpolate(self, start: pd.DataFrame, end: pd.DataFrame, steps: int = 8
                    ) -> pd.DataFrame:
        """Rows decoded along the straight latent path from one row to another.

        ``start`` and ``end`` are one-row DataFrames with the training columns; the result
        has ``steps`` rows (the first and last are the two rows' reconstructions) and a
        leading column ``t`` from 0 to 1.
        """
        return toolkit.interpolate(self, start, end, steps)

    @float32_default()
    def score(self, df: pd.DataFrame, samples: int = 32, seed: int | None = None
              ) -> pd.DataFrame:
        """Per-row ELBO and importance-weighted log-likelihood estimate (IWAE, ``samples``
        latents per row) under the model, in nats; low values flag unusual rows.

        Rows holding a category the model never saw (and has no 'other' slot for) score
        -inf. See docs/toolkit.md for units and caveats.
        """
        return toolkit.score(self, df, samples, seed)

    @float32_default()
    def drift(self, df: pd.DataFrame, reference: pd.DataFrame | None = None,
              alpha: float = 0.01) -> dict:
        """Compare ``df`` with the training data through the model (see docs/toolkit.md).

        Tests the ELBO distribution and each latent dimension (Kolmogorov-Smirnov,
        Bonferroni-corrected at ``alpha``) against the reference profile kept at fit time,
        or against ``reference`` rows when given (required for DP models, which keep none).
        Returns a JSON-ready dict whose ``"drift"`` is True when any test rejects.
        """
        return toolkit.drift(self, df, reference, alpha)

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
    @float32_default()
    def load(cls, path: str | Path, device: str | None = None,
             predicates: dict | None = None) -> "Synthesizer":
        """Read a file written by :meth:`save`; validates the format, versions and shapes.

        A model fitted with :class:`synthvae.Predicate` constraints needs their functions
        again (``predicates={name: function}``): Python code is never saved."""
        from synthvae.persistence import load_synthesizer

        return load_synthesizer(Path(path), device, predicates, factory=cls)

    def _check_fitted(self) -> None:
        if not all(hasattr(self, name) for name in FITTED_FOR_SAMPLING):
            raise NotFittedError("This Synthesizer is not fitted yet; call fit(df) before "
                                 "sample(), save() or other methods that need a model.")

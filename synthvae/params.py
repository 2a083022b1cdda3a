"""The Synthesizer's parameters: their validation, and the values a fit resolves from them.

``Synthesizer.__init__`` only stores its arguments (scikit-learn's convention); ``fit`` calls
:func:`validate_params` first, then reads what the parameters leave open through
:func:`fit_plan` (DP or not: the one place that reads ``epsilon``), :func:`train_config`
(epochs from the table size, the KL schedule) and :func:`resolved_beta`. Every function takes
the estimator as ``params`` and reads its parameters by name; none changes them. Error
messages name the parameter, the expectation and the value.
"""

from __future__ import annotations

import inspect
import math

import numpy as np

from synthvae.errors import ConfigError
from synthvae.generator import DECODERS
from synthvae.model import LATENT_SWAP, LATENT_SWAP_MIN_ROWS
from synthvae.prior import PRIORS
from synthvae.threads import check_n_threads
from synthvae.training import KL_SCHEDULES, FitPlan, TrainConfig

DEFAULT_BETA = 0.5  # KL weight: ML efficacy up on magic and beijing (benchmarks/results/quality.md)
DP_BETA = 1.0  # under DP: the N(0, I) prior is sampled as trained, without calibration
# Under DP, at TVAE's latent_dim 128 and lr 1e-3 the noisy fit never leaves posterior
# collapse: columns come out independent (Adult's ML AUC 0.41 at epsilon 1). Measured in
# benchmarks/results/dp.md: a smaller latent space (fewer noised weights) and a larger step.
DEFAULT_LR, DP_LR = 1e-3, 3e-3
DEFAULT_LATENT_DIM, DP_LATENT_DIM = 128, 8
# Under DP-SGD each row's gradient is clipped as a whole, and the numeric scalars' Gaussian
# NLL (gradient (x - mean) / sigma^2) held ~96 % of its squared norm on Adult: the softmax
# spans (categories, modes), where the relations between columns are learned, got ~4 % of
# the clipped budget. Weighting the scalars' NLL gives the spans a fair share: Adult's
# all-pairs trends at epsilon 1 0.927 -> 0.941 (benchmarks/results/dp.md, eleventh step).
DP_SCALAR_WEIGHT = 0.2
AUTO_STEPS = 3_500  # measured on Adult: ~60 epochs of 500 rows reach TVAE's 300-epoch quality
MAX_AUTO_EPOCHS = 300  # automatic epochs never exceed this
MIN_AUTO_BATCH, MAX_AUTO_BATCH = 50, 500  # automatic batch size: rows / 10 within these
MAX_DELTA = 0.01  # largest delta under DP, given or default (privacy.default_delta)
# Settings that only differential privacy reads: one away from its default (the estimator's
# own, read from its __init__) without epsilon is refused (_check_no_privacy_settings).
PRIVACY_SETTINGS = ("delta", "max_grad_norm", "accountant", "preprocess_share",
                    "calibration_share")
POSITIVE_INTS = ("patience", "prior_components",
                 "categorical_threshold", "mixture_max_rows", "max_categories")


def validate_params(params) -> None:
    """Raise ConfigError naming the first parameter out of its range."""
    if params.prior not in PRIORS:
        raise ConfigError(f"The 'prior' parameter of Synthesizer must be one of {PRIORS}. "
                          f"Got {params.prior!r} instead.")
    for name in ("epochs", "batch_size"):
        if getattr(params, name) is not None:
            check_positive_int(name, getattr(params, name))
    for name in POSITIVE_INTS + (("latent_dim",) if params.latent_dim is not None else ()):
        check_positive_int(name, getattr(params, name))
    for name in ("loss_factor",) + (("lr",) if params.lr is not None else ()):
        check_number(name, getattr(params, name), low=0, low_open=True)
    check_number("weight_decay", params.weight_decay, low=0)
    if params.beta is not None:
        check_number("beta", params.beta, low=0)
    check_number("validation_fraction", params.validation_fraction, low=0, high=0.5)
    check_number("min_lift", params.min_lift, low=0, high=1)
    check_number("unseen_pairs", params.unseen_pairs, low=0)
    if params.latent_swap is not None:
        check_number("latent_swap", params.latent_swap, low=0, high=0.9)
    check_n_threads(params.n_threads)
    _validate_objective(params)
    _validate_kinds(params)
    _validate_privacy(params)
    _validate_transforms(params)


def _validate_kinds(params) -> None:
    """The architecture and the switches."""
    if not isinstance(params.hidden, (tuple, list)) or not params.hidden or not all(
            isinstance(h, int) and h > 0 for h in params.hidden):
        raise ConfigError("The 'hidden' parameter of Synthesizer must be a non-empty "
                          f"sequence of positive ints. Got {params.hidden!r} instead.")
    if params.distributed is not None and not isinstance(params.distributed, bool):
        raise ConfigError(f"The 'distributed' parameter of Synthesizer must be True, False "
                          f"or None. Got {params.distributed!r} instead.")
    if not isinstance(params.calibrate, bool):
        raise ConfigError(f"The 'calibrate' parameter of Synthesizer must be True or False. "
                          f"Got {params.calibrate!r} instead.")
    if params.seed is not None:
        check_seed(params.seed, "The 'seed' parameter of Synthesizer")


def _validate_transforms(params) -> None:
    check_non_negative_int("discrete_threshold", params.discrete_threshold)
    check_non_negative_int("min_mode_rows", params.min_mode_rows)
    check_number("tail_share", params.tail_share, low=0)
    if params.tail_share >= 0.5:
        raise ConfigError("The 'tail_share' parameter of Synthesizer must be below 0.5 (the "
                          f"share of a column in each tail mode). Got {params.tail_share!r} "
                          "instead.")
    if params.skew_threshold is not None:
        check_number("skew_threshold", params.skew_threshold, low=0)
    if params.max_categories < 2:
        raise ConfigError("The 'max_categories' parameter of Synthesizer must be at "
                          f"least 2. Got {params.max_categories} instead.")


def _validate_objective(params) -> None:
    if params.kl_anneal not in KL_SCHEDULES:
        raise ConfigError(f"The 'kl_anneal' parameter of Synthesizer must be one of "
                          f"{KL_SCHEDULES}. Got {params.kl_anneal!r} instead.")
    if params.kl_anneal_epochs is not None:
        check_positive_int("kl_anneal_epochs", params.kl_anneal_epochs)
    check_number("free_bits", params.free_bits, low=0)
    if params.free_bits > 0 and params.epsilon is not None:
        raise ConfigError(
            f"The 'free_bits' parameter of Synthesizer must be 0 with differential privacy "
            f"(epsilon={params.epsilon!r}). Got {params.free_bits!r} instead: free bits clamp "
            f"the batch-averaged KL, which couples the rows of a batch and breaks the "
            f"per-row gradient clipping DP-SGD's guarantee rests on. Use beta or "
            f"kl_anneal instead.")


def _validate_privacy(params) -> None:
    if params.decoder not in DECODERS:
        raise ConfigError(f"The 'decoder' parameter of Synthesizer must be one of "
                          f"{DECODERS}. Got {params.decoder!r} instead.")
    if params.epsilon is None:
        _check_no_privacy_settings(params)
        return
    if params.latent_swap not in (None, 0):
        raise ConfigError(
            f"The 'latent_swap' parameter of Synthesizer must be 0 or None with differential "
            f"privacy (epsilon={params.epsilon!r}). Got {params.latent_swap!r} instead: a "
            f"swapped row is decoded beside another row's latent, so one row's gradient "
            f"would depend on another row and per-row clipping would not bound it.")
    check_number("epsilon", params.epsilon, low=0, low_open=True)
    if params.delta is not None:
        check_number("delta", params.delta, low=0, high=MAX_DELTA, low_open=True)
    check_number("max_grad_norm", params.max_grad_norm, low=0, low_open=True)
    check_number("preprocess_share", params.preprocess_share, low=0, high=0.9)
    check_number("calibration_share", params.calibration_share, low=0, high=0.5)
    if params.preprocess_share + params.calibration_share > 0.9:
        raise ConfigError(f"preprocess_share + calibration_share must leave DP-SGD at least "
                          f"10 % of the budget. Got {params.preprocess_share!r} + "
                          f"{params.calibration_share!r} instead.")
    if params.accountant not in ("prv", "rdp"):
        raise ConfigError(f"The 'accountant' parameter of Synthesizer must be 'prv' or "
                          f"'rdp'. Got {params.accountant!r} instead.")


def _init_default(cls, name: str):
    """The default of ``name`` in the ``__init__`` of ``cls`` or, where that signature does not
    list it (a subclass taking ``**kwargs``), of the first base class whose does."""
    for klass in cls.__mro__:
        parameter = inspect.signature(klass.__init__).parameters.get(name)
        if parameter is not None and parameter.default is not inspect.Parameter.empty:
            return parameter.default
    raise AttributeError(f"no __init__ of {cls.__name__} gives {name!r} a default")


def _check_no_privacy_settings(params) -> None:
    """Without epsilon, a DP setting away from its default is refused: the user meant a
    private model (a mistyped or forgotten ``--epsilon``), and would otherwise get one
    trained without differential privacy, silently."""
    for name in PRIVACY_SETTINGS:
        value, default = getattr(params, name), _init_default(type(params), name)
        if value != default:
            raise ConfigError(f"The '{name}' parameter of Synthesizer is a differential-"
                              f"privacy setting, and epsilon is not given: {name}={value!r} "
                              f"would be ignored and the model trained without differential "
                              f"privacy. Give epsilon (e.g. epsilon=3, --epsilon 3) to train "
                              f"privately, or leave {name} at its default ({default!r}).")


def fit_plan(params) -> FitPlan:
    """The one place that reads ``epsilon`` to decide how the fit runs. Under DP no private
    row is held out (validation would be a release), beta defaults to 1.0 (see
    :func:`resolved_beta`), lr to 3e-3 and latent_dim to 8 (see DP_LR above)."""
    private = params.epsilon is not None
    return FitPlan(private=private,
                   validation_fraction=0.0 if private else params.validation_fraction,
                   beta=resolved_beta(params.beta, private),
                   lr=float(_default(params.lr, DP_LR if private else DEFAULT_LR)),
                   latent_dim=int(_default(params.latent_dim, DP_LATENT_DIM if private
                                           else DEFAULT_LATENT_DIM)),
                   scalar_weight=DP_SCALAR_WEIGHT if private else 1.0)


def _default(value, default):
    """``value``, or ``default`` where the parameter was left at None."""
    return default if value is None else value


def resolved_latent_swap(latent_swap: float | None, n_rows: int) -> float:
    """``latent_swap``, or its default: LATENT_SWAP from LATENT_SWAP_MIN_ROWS training rows
    on, 0 below (measured in benchmarks/results/structure.md: on 300 to 2,500-row tables the
    swap broke more of the table's rules than it kept)."""
    if latent_swap is not None:
        return float(latent_swap)
    return LATENT_SWAP if n_rows >= LATENT_SWAP_MIN_ROWS else 0.0


def resolved_beta(beta: float | None, private: bool) -> float:
    """``beta``, or its default: 0.5 (measured in benchmarks/results/quality.md), 1.0 under
    DP, where the prior stays N(0, I) and no calibration corrects its mismatch."""
    if beta is not None:
        return float(beta)
    return DP_BETA if private else DEFAULT_BETA


def train_config(params, plan: FitPlan, seed: int, n_rows: int) -> TrainConfig:
    validation = plan.validation_fraction
    size = batch_size(params, plan, n_rows, validation)
    epochs = params.epochs or auto_epochs(n_rows, size, validation)
    anneal_epochs = 0 if params.kl_anneal == "none" else \
        params.kl_anneal_epochs or max(1, epochs // 4)
    return TrainConfig(epochs=epochs, batch_size=size, lr=plan.lr,
                       weight_decay=params.weight_decay, beta=plan.beta,
                       kl_anneal=params.kl_anneal, kl_anneal_epochs=anneal_epochs,
                       free_bits=float(params.free_bits),
                       loss_factor=params.loss_factor, scalar_weight=plan.scalar_weight,
                       validation_fraction=validation,
                       patience=params.patience, seed=seed)


def batch_size(params, plan: FitPlan, n_rows: int, validation_fraction: float) -> int:
    """``batch_size``, or its default for ``n_rows`` rows (see :func:`auto_batch_size`);
    500 under DP, whose sampling rate and noise the batch sets."""
    if params.batch_size is not None:
        return int(params.batch_size)
    if plan.private:
        return MAX_AUTO_BATCH
    return auto_batch_size(int(n_rows * (1 - validation_fraction)))


def auto_batch_size(train_rows: int) -> int:
    """A tenth of the training rows, within [MIN_AUTO_BATCH, MAX_AUTO_BATCH]: a 300-row
    table gets ~6 steps per epoch instead of one, so the step budget of small tables is not
    cut short by the epoch cap (measured in benchmarks/results/structure.md)."""
    return int(min(MAX_AUTO_BATCH, max(MIN_AUTO_BATCH, train_rows // 10)))


def fit_seed(params) -> int:
    """The seed of every random choice of fit (``seed=None`` is 0)."""
    return 0 if params.seed is None else int(params.seed)


def auto_epochs(n_rows: int, batch_size: int, validation_fraction: float,
                max_epochs: int | None = None) -> int:
    """Epochs giving about AUTO_STEPS optimiser steps, within [10, max_epochs]."""
    steps_per_epoch = math.ceil(max(1, n_rows * (1 - validation_fraction)) / batch_size)
    cap = MAX_AUTO_EPOCHS if max_epochs is None else max_epochs
    return int(min(cap, max(10, math.ceil(AUTO_STEPS / steps_per_epoch))))


MAX_SEED = 2**32 - 1  # what torch, numpy and scikit-learn's random_state all take


def check_seed(value, what: str = "seed", optional: bool = True) -> int:
    """``value`` as a seed: a whole number from 0 to MAX_SEED (``what`` names it; ``optional``:
    the caller also takes None, and the message says so)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or not 0 <= value <= MAX_SEED:
        alternative = " (or None)" if optional else ""
        raise ConfigError(f"{what} must be a whole number from 0 to 2**32 - 1{alternative}. "
                          f"Got {value!r} instead.")
    return int(value)


def model_seed(synth) -> int:
    """The seed a fitted synthesizer draws with when given none (``seed=None`` is 0),
    checked: it may have been set after the fit."""
    return check_seed(synth.seed or 0, "The 'seed' parameter of Synthesizer")


def check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"The {name!r} parameter of Synthesizer must be a positive int. "
                          f"Got {value!r} instead.")


def check_non_negative_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ConfigError(f"The {name!r} parameter of Synthesizer must be an int >= 0. "
                          f"Got {value!r} instead.")


def check_number(name, value, low=None, high=None, low_open=False, owner="Synthesizer"
                 ) -> None:
    ok = isinstance(value, (int, float, np.number)) and not isinstance(value, bool) \
        and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        bounds = f"{'>' if low_open else '>='} {low}" + (f" and <= {high}" if high else "")
        raise ConfigError(f"The {name!r} parameter of {owner} must be a number {bounds}. "
                          f"Got {value!r} instead.")

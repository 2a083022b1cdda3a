"""A fit is a transaction: its state is built aside and adopted whole, or not at all; and
the stages every fitting mode shares around its training loop.

``fit`` and ``fit_parquet`` run on an unfitted copy of the estimator (same parameters, no
attribute ending in ``_``); only when training and every essential step after it succeed
does the estimator drop its old fitted attributes and take the copy's. A fit that raises
leaves the previous model, or an unfitted object, exactly as it was: never new weights
with an old prior (docs/reliability.md, "A failed fit").

After training, :class:`PostTraining` runs each step under one of two policies:

- essential (the latent prior, without which nothing can be sampled): a failure raises
  :class:`PostTrainingError` (a ``TrainingError``), so the fit fails and nothing is
  adopted; a checkpoint written during training is kept (``fit(checkpoint=...)``), so
  ``resume=True`` continues from it instead of training again;
- optional (marginal calibration, the drift profile, training diagnostics): a failure
  becomes a :class:`PostTrainingWarning`, the step's result is left out, the failure is
  recorded in ``training_summary_["failed_steps"]``, and the fitted model is kept.

The fitting modes (:mod:`synthvae.fit_memory`: in memory, DP, distributed;
:mod:`synthvae.streaming`: Parquet) each prepare the encoded rows their own way, then call
:func:`start_generator` (a new generator and the training config) before training and
:func:`finish_fit` (the steps above, and the training summary) after it.
"""

from __future__ import annotations

import functools
import time
import warnings
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch

from synthvae.errors import PostTrainingError, PostTrainingWarning, SynthvaeError
from synthvae.frames import model_rows
from synthvae.generator import VAEGenerator, resolved_decoder, vae_config
from synthvae.layout import SpanLayout
from synthvae.params import resolved_latent_swap, train_config
from synthvae.training import holdout_split

# What sampling needs; hasattr on each tells a fitted estimator from an unfitted one.
FITTED_FOR_SAMPLING = ("schema_", "transformer_", "generator_")
MIN_PRIOR_ROWS = 20  # fewer rows: N(0, I) prior; fewer held-out rows: use training rows


def is_fitted_attribute(name: str) -> bool:
    """scikit-learn's convention: fitted state ends in ``_`` (and is not private)."""
    return name.endswith("_") and not name.startswith("_")


def unfitted_copy(estimator):
    """A new object of the estimator's class holding its parameters and no fitted state."""
    work = object.__new__(type(estimator))
    work.__dict__.update({name: value for name, value in vars(estimator).items()
                          if not is_fitted_attribute(name)})
    return work


def adopt_fitted_state(estimator, work) -> None:
    """Replace every fitted attribute of ``estimator`` with those of ``work``."""
    for name in [name for name in vars(estimator) if is_fitted_attribute(name)]:
        delattr(estimator, name)
    for name, value in vars(work).items():
        if is_fitted_attribute(name):
            setattr(estimator, name, value)


def atomic_fit(method: Callable) -> Callable:
    """Run a fitting method on an unfitted copy; adopt its state only if it returns."""

    @functools.wraps(method)
    def fit(self, *args, **kwargs):
        work = unfitted_copy(self)
        method(work, *args, **kwargs)
        work.fitted_params_ = work.get_params()  # what a save records, whatever set_params
        adopt_fitted_state(self, work)
        return self

    return fit


class PostTraining:
    """Runs the steps after training; ``failed`` maps each failed optional step to why."""

    def __init__(self) -> None:
        self.failed: dict[str, str] = {}

    def essential(self, what: str, step: Callable, *args) -> Any:
        """``step(*args)``; any failure other than a synthvae error becomes
        PostTrainingError."""
        try:
            return step(*args)
        except (SynthvaeError, Warning):
            raise
        except Exception as exc:
            raise PostTrainingError(
                f"Training finished, but {what} failed ({describe(exc)}); nothing was "
                f"fitted.") from exc

    def optional(self, what: str, step: Callable, *args, fallback: Any = None,
                 without: str = "") -> Any:
        """``step(*args)``, or ``fallback`` with a warning when it fails; ``without`` says
        what the model lacks then."""
        try:
            return step(*args)
        except Warning:  # a warning turned into an error by the caller's filters
            raise
        except Exception as exc:
            self.failed[what] = describe(exc)
            warnings.warn(f"{what.capitalize()} failed after training ({describe(exc)}); "
                          f"the model is fitted and usable{without}.", PostTrainingWarning,
                          stacklevel=2)
            return fallback


def describe(exc: BaseException) -> str:
    """``Type: first line of the message``, for one-line errors and warnings."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


# ---------------------------------------------------------------------------- the stages


def start_generator(synth, matrix: np.ndarray, seed: int, n_rows: int) -> torch.Tensor:
    """Set ``generator_`` (an untrained VAE for the fitted transformer's layout) and
    ``train_config_``; return the encoded rows ``matrix`` on the device."""
    layout = SpanLayout.from_spans(synth.transformer_.spans_, synth.device_)
    decoder = resolved_decoder(synth.decoder, layout.width)
    positions, offset, scale = synth.transformer_.value_inputs()
    private = synth.fit_plan_.private
    config = vae_config(layout, synth.transformer_.spans_, synth.fit_plan_.latent_dim,
                        synth.hidden, decoder,
                        0.0 if private  # the swap couples rows of a batch
                        else resolved_latent_swap(synth.latent_swap, n_rows), positions,
                        # under DP-SGD two-step numbers kept a 1:1 code map in 28 % of rows
                        # instead of 37 % (benchmarks/results/structure.md, twentieth step)
                        two_step_numbers=not private)
    synth.train_config_ = train_config(synth, synth.fit_plan_, seed, n_rows)
    synth.generator_ = VAEGenerator.build(config, layout, synth.device_, seed, (offset, scale))
    return torch.as_tensor(matrix, device=synth.device_)


def finish_fit(synth, data: torch.Tensor, df: pd.DataFrame, history: list, seed: int,
               rows: int, timings: tuple[float, float, float],
               frequencies=None, all_rows: bool = True, **summary) -> None:
    """After training: curves, latent prior, calibration, drift profile, diagnostics and
    the summary; only the prior is essential (see the module docstring).

    ``data``/``df`` are the encoded and modelled rows (as the constraints layer transforms
    them) the prior and diagnostics read (all of them, or a streamed fit's reservoir head,
    ``all_rows`` False). ``frequencies``: the slot frequencies of every training row where
    ``data`` is not all of them (a streamed fit's full pass), or under DP the release (None
    when there is none); under DP only the prior (from no private row) and the calibration
    (from the release) are fitted. ``timings``:
    (fit start, transform seconds, training start). The summary counts the table's columns (the
    schema's), not the modelled ones."""
    private = synth.fit_plan_.private
    started, transform_seconds, t0 = timings
    steps = PostTraining()  # the prior is essential; the rest may fail with a warning
    synth.history_ = [] if private else [vars(h) for h in history]
    steps.essential("fitting the latent prior", fit_prior, synth, data, seed)
    calibration = steps.optional(
        "marginal calibration", calibrate, synth, data, seed, len(history) * rows,
        frequencies, all_rows, without=", sampling uncalibrated (as with calibrate=False)")
    synth.monitoring_ = None if private else steps.optional(
        "the drift profile", drift_profile, synth, data, seed,
        without="; drift() needs reference rows")
    synth.diagnostics_ = None if private else steps.optional(
        "training diagnostics", diagnose, synth, data, df)
    synth.training_summary_ = {
        "rows": rows, "columns": len(synth.schema_.columns),
        "encoded_width": synth.layout_.width,
        "epochs_run": len(history), "transform_seconds": round(transform_seconds, 3),
        "train_seconds": round(time.perf_counter() - t0, 3),
        "fit_seconds": round(time.perf_counter() - started, 3),
        "device": str(synth.device_), "differentially_private": private,
        "calibration": calibration, "excluded_pairs": synth.generator_.excluded_count,
        "failed_steps": steps.failed, **summary}


def fit_prior(synth, data: torch.Tensor, seed: int) -> None:
    """The generator's latent prior. Under DP a mixture fitted on the latents of private
    rows would be a release; with a handful of rows there is nothing to fit."""
    keeps = synth.fit_plan_.keeps_row_statistics and len(data) >= MIN_PRIOR_ROWS
    synth.generator_.fit_prior(data, synth.prior if keeps else "normal",
                               synth.prior_components, seed)


def calibrate(synth, data: torch.Tensor, seed: int, trained_rows: int,
              counted=None, all_rows: bool = True) -> dict | None:
    """Set the sampler's low-lift floors (``min_lift``) and the value pairs it never
    draws together (``unseen_pairs``), and calibrate its logit offsets
    (synthvae/calibration.py) on the rows drawn with them, all from the training rows; the
    calibration's summary, or None when off. ``trained_rows`` (epochs x rows) sizes the
    calibration sample. The frequencies are ``counted`` where given: a streamed fit's, of
    every row its training pass read (``data`` is its reservoir head), or under DP the noisy
    ones released from ``calibration_share`` of the budget (None when none was: nothing is
    set), and no pairs are excluded (finding them reads the private rows). A slot no training
    row holds is never drawn when the frequencies count every training row (``all_rows``,
    or a streamed fit's pass), not under DP, where a released zero may be noise."""
    from synthvae.calibration import calibration_rows, slot_frequencies

    private = synth.fit_plan_.private
    if synth.layout_.n_groups == 0 or (private and counted is None):
        return None
    frequencies = slot_frequencies(data, synth.layout_) if counted is None else \
        torch.as_tensor(counted, dtype=torch.float32, device=data.device)
    if not private:
        synth.generator_.exclude_unseen_pairs(data, synth.transformer_.spans_,
                                              synth.unseen_pairs,
                                              synth.transformer_.code_columns(),
                                              synth.transformer_.grouped_positions())
    synth.generator_.set_low_lift_floor(frequencies, synth.min_lift)
    if not synth.calibrate:
        return None
    started = time.perf_counter()
    rows = calibration_rows(trained_rows, len(synth.layout_.slot_index))
    known_unused = (all_rows or counted is not None) and not private
    summary = synth.generator_.calibrate(frequencies, seed, rows,
                                         frequencies == 0 if known_unused else None)
    if private:
        summary["frequencies"] = "released under DP (calibration_share)"
    return {**summary, "seconds": round(time.perf_counter() - started, 3)}


def drift_profile(synth, data: torch.Tensor, seed: int) -> dict:
    """The drift reference: held-out rows (all rows when none are held out)."""
    from synthvae.monitoring import PROFILE_MAX_ROWS, reference_profile, scored

    _, rows = holdout_split(len(data), synth.train_config_, data.device)
    reference = data[rows] if len(rows) >= MIN_PRIOR_ROWS else data
    return reference_profile(*scored(synth.generator_, reference[:PROFILE_MAX_ROWS],
                                     seed + 2))


def diagnose(synth, data: torch.Tensor, df: pd.DataFrame) -> dict:
    """Training diagnostics on held-out rows (training rows when none are held out);
    warns on posterior collapse. See synthvae/diagnostics.py."""
    from synthvae.diagnostics import MAX_ROWS, check_collapse, training_diagnostics

    _, rows = holdout_split(len(data), synth.train_config_, data.device)
    source = "held-out" if len(rows) >= MIN_PRIOR_ROWS else "training"
    if source == "training":
        rows = torch.randperm(len(data), generator=torch.Generator().manual_seed(
            synth.train_config_.seed))
    rows = rows[:MAX_ROWS]
    found = training_diagnostics(synth.model_, synth.layout_, synth.transformer_, data[rows],
                                 model_rows(df, rows.cpu().numpy()), source)
    if models_values(synth.transformer_):  # else nothing for latents to carry
        check_collapse(found, synth.train_config_.beta, synth.kl_anneal,
                       synth.model_config_.autoregressive)
    return found


def models_values(transformer) -> bool:
    """Whether some column's values are modelled: not only constants and generated
    identifiers, whose encodings (if any) are missing-cell indicators."""
    from synthvae.transforms.nulls import NullOnlyEncoding
    from synthvae.transforms.passthrough import ConstantColumn

    return any(not isinstance(t, (ConstantColumn, NullOnlyEncoding))
               for t in transformer.transformers_)

"""A fit is a transaction: its state is built aside and adopted whole, or not at all.

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
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, Callable

from synthvae.errors import PostTrainingError, PostTrainingWarning, SynthvaeError


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

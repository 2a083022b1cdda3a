"""Small helpers shared by the report sections."""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pandas as pd


def as_float(value) -> float | None:
    """A plain float, or None for missing / NaN (JSON has no NaN)."""
    if value is None or value is pd.NA:
        return None
    value = float(value)
    return None if np.isnan(value) else value


@contextlib.contextmanager
def quiet_sdmetrics():
    """sdmetrics and the pandas calls inside it warn about their own internals; hide those."""
    with warnings.catch_warnings():
        for category in (FutureWarning, DeprecationWarning, UserWarning, RuntimeWarning):
            warnings.simplefilter("ignore", category)
        with contextlib.suppress(AttributeError):
            warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
        yield

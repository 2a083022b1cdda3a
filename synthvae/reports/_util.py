"""Small helpers shared by the report sections."""

from __future__ import annotations

import contextlib
import os
import warnings

import numpy as np
import pandas as pd


def first_few(values, limit: int = 10) -> str:
    """At most ``limit`` of ``values`` (in their order) and how many more there are: a
    message's list of columns or classes, which on a wide table runs to thousands."""
    values = list(values)
    more = f" and {len(values) - limit:,} more" if len(values) > limit else ""
    return f"{values[:limit]}{more}"


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


@contextlib.contextmanager
def seeded_global_numpy(seed: int):
    """NumPy's global random state seeded with ``seed`` inside the block and restored after:
    for library code that draws from it (sdmetrics' LogisticDetection shuffles its folds
    with an unseeded StratifiedKFold, so the same report gave another score each run)."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def limited_threads():
    """Cap the BLAS and OpenMP thread pools of scikit-learn code at half the cores.

    Their threads spin while they wait: on a busy 2-core machine one cross-validated
    gradient-boosting detection took 57 s with 2 threads and 3 s with 1, and sdmetrics'
    LogisticDetection 20 s against 7 s. Half the cores keeps clear of that cliff.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=max(1, (os.cpu_count() or 2) // 2))


def subsample(rows: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``limit`` rows, drawn without replacement; all rows (in order) if fewer."""
    if len(rows) <= limit:
        return rows
    return rows[rng.choice(len(rows), limit, replace=False)]

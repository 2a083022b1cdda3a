"""Durations (``timedelta64``, Arrow ``duration``): continuous nanoseconds, decoded to the
coarsest unit the training values used. Conditions on them are durations
(:mod:`synthvae.transforms.duration_values`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from synthvae.transforms.continuous import OnResolutionGrid
from synthvae.transforms.dtypes import restore_numeric
from synthvae.transforms.scaling import from_log_scale

# Units decoded durations are rounded to, coarsest first, in nanoseconds: a day ... 1 ns.
RESOLUTIONS = (86_400 * 10**9, 3_600 * 10**9, 60 * 10**9, 10**9, 10**6, 10**3, 1)


class DurationTransformer(OnResolutionGrid):
    """Duration column <-> the continuous layout, in nanoseconds; decoded values are rounded
    to the coarsest unit every training value is a whole number of (days, hours, minutes,
    seconds, milliseconds, microseconds), as datetimes are, so whole-second durations come
    back whole seconds and a condition on one duration can be met."""

    DEFAULT_RESOLUTION = 1  # a state saved before durations were rounded: nanoseconds

    def fit(self, series: pd.Series, seed: int = 0, mixture: tuple | None = None):
        super().fit(series, seed=seed, mixture=mixture)
        nanos = self.unit_numbers(series)
        nanos = nanos[~np.isnan(nanos)]
        self.resolution_ = next(r for r in RESOLUTIONS if np.all(nanos % r == 0))
        return self

    def fit_from_spec(self, modes=None):
        super().fit_from_spec(modes)
        self.resolution_ = 1  # the values' unit would be read from the private data
        return self

    def from_numbers(self, values: np.ndarray) -> pd.Series:
        scale = self._log_scale
        nanos = values if scale is None else from_log_scale(values, scale)
        return restore_numeric(np.round(nanos / self.resolution_) * self.resolution_,
                               self.spec)


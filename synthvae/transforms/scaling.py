"""A signed log scale for heavy-tailed continuous columns, chosen from the data.

Mode-specific normalization fits a Gaussian mixture to a column and decodes each value as a
mode plus a Gaussian offset. On a heavy right tail (payments, bills, durations: a few values
hundreds of times the median) the mixture spends its modes on the tail and leaves the bulk
under one wide mode, whose decoded values come out smeared. Fitting the mixture to

    y = sign(x) * log(1 + |x| / s)

instead puts the bulk and the tail on comparable footing; ``s`` is 1 % of the median non-zero
magnitude, so the transform does not depend on the column's unit. Zeros stay zeros (and keep
their point mass), signs are kept, and the inverse ``x = sign(y) * s * (exp(|y|) - 1)`` is
exact up to floating point, which the numeric restore then rounds away.
"""

from __future__ import annotations

import numpy as np

SKEW_THRESHOLD = 2.0  # |sample skewness| above this: the column gets the log scale
SCALE_SHARE = 0.01  # s = this share of the median non-zero |x|
# ... but never so small that the largest |x| / s overflows: a column of subnormal values
# (2.2e-309) beside a 1.0 got s = 2.2e-311, and 1.0 / s = inf encoded as NaN
MAX_SCALE_RATIO = 1e300


def skewness(values: np.ndarray) -> float:
    """Sample skewness of the finite ``values`` (0 for a constant column).

    Skewness does not depend on the unit, so the deviations are first divided by the largest
    of them: cubing raw deviations overflowed from a spread of about 1e102 (values up to
    ``synthvae.schema.MAX_MAGNITUDE`` are accepted), and the NaN skewness log-scaled a
    symmetric column."""
    centred = values - values.mean()
    largest = np.abs(centred).max(initial=0.0)
    if largest == 0:
        return 0.0
    unit_free = centred / largest  # in [-1, 1]: its powers cannot overflow
    spread = np.sqrt(np.mean(unit_free ** 2))
    return float(np.mean(unit_free ** 3) / spread ** 3)


def choose_log_scale(observed: np.ndarray, threshold: float | None) -> float | None:
    """``s`` for a column whose observed values are skewed past ``threshold``, else None."""
    if threshold is None or len(observed) < 2 or abs(skewness(observed)) <= threshold:
        return None
    magnitudes = np.abs(observed[observed != 0])
    if len(magnitudes) == 0:
        return None
    return float(max(SCALE_SHARE * np.median(magnitudes), magnitudes.max() / MAX_SCALE_RATIO,
                     np.finfo(np.float64).tiny))


def to_log_scale(values: np.ndarray, scale: float) -> np.ndarray:
    return np.sign(values) * np.log1p(np.abs(values) / scale)


def from_log_scale(values: np.ndarray, scale: float) -> np.ndarray:
    return np.sign(values) * scale * np.expm1(np.abs(values))

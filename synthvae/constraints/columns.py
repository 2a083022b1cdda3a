"""A column's values as numbers and back, for the constraint rules.

The rules compare and shift values in the column's own units: numbers as float64, datetimes
as seconds since 1970 (UTC). Going back, values land on the column's grid (its decimals, or
the datetime resolution the training values used) *in the direction that keeps a bound*:
:func:`at_least` never rounds a value below its lower bound. The column transformers own the
conversions (:mod:`synthvae.transforms`); this module only picks and configures them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from synthvae.errors import ConfigError
from synthvae.schema import ColumnKind, ColumnSpec
from synthvae.transforms.continuous import ModeSpecificNormalizer
from synthvae.transforms.datetime import RESOLUTIONS, DatetimeTransformer
from synthvae.transforms.dtypes import restore_numeric

NUMERIC = (ColumnKind.CONTINUOUS, ColumnKind.DATETIME)
_TOLERANCE = 1e-6  # in grid steps: a value this close to a grid point is on it


def numbers(spec: ColumnSpec, series: pd.Series) -> np.ndarray:
    """The column as float64 in its units (datetimes: seconds); NaN where missing."""
    if spec.kind is ColumnKind.DATETIME:
        return DatetimeTransformer(spec).unit_numbers(series)
    values = pd.to_numeric(series.astype(object).where(series.notna(), np.nan),
                           errors="coerce")
    return np.asarray(values, dtype=np.float64)


def check_numeric(spec: ColumnSpec, series: pd.Series, what: str) -> None:
    """Refuse a column whose present values are not numbers (a text category)."""
    values = numbers(spec, series)
    bad = series.notna().to_numpy() & np.isnan(values)
    if bad.any():
        raise ConfigError(f"The {what} constraint needs numbers in column {spec.name!r}, but "
                          f"it holds {series[bad].iloc[0]!r}.")


def grid_step(spec: ColumnSpec, values: np.ndarray) -> float:
    """The spacing of the column's values: 1 for whole numbers, 10^-d for d decimals, the
    coarsest datetime unit the values use (seconds); 0 when values are not rounded."""
    if spec.kind is ColumnKind.DATETIME:
        present = values[~np.isnan(values)]
        return float(next((r for r in RESOLUTIONS if np.all(present % r == 0)), 0))
    if spec.integer or spec.decimals == 0:
        return 1.0
    if spec.decimals is not None:
        return 10.0 ** -spec.decimals
    return 0.0


def on_grid(values: np.ndarray, step: float) -> np.ndarray:
    """``values`` rounded to a grid of ``step`` (0: as they are); a decimal grid as
    ``np.round(values, decimals)`` and pandas round it (not ``round(values / step) * step``,
    which differs at halves), so that data rounded that way stays on its values."""
    if step <= 0:
        return values
    if step < 1:
        decimals = round(-math.log10(step))
        if math.isclose(10.0 ** -decimals, step):
            return np.round(values, decimals)
    return np.round(values / step) * step


def from_numbers(spec: ColumnSpec, values: np.ndarray, step: float) -> pd.Series:
    """Numbers (on the column's grid) back to the column's model dtype."""
    if spec.kind is ColumnKind.DATETIME:
        column = DatetimeTransformer(spec)
        column.resolution_ = int(step) if step >= 1 else 0
        return column.from_numbers(values).reset_index(drop=True)
    return restore_numeric(values, spec).reset_index(drop=True)


def at_least(values: np.ndarray, bound, step: float, strict: bool) -> np.ndarray:
    """``values`` on the grid of ``step``, and at least ``bound`` (above it when strict);
    a NaN value (a missing cell) stays NaN, and a NaN bound leaves a value as it is."""
    values = np.asarray(values, dtype=np.float64)
    bound = np.broadcast_to(np.asarray(bound, dtype=np.float64), values.shape)
    with np.errstate(invalid="ignore"):
        if step > 0:
            grid = np.round(values / step)
            scaled = bound / step
            lowest = np.floor(scaled + _TOLERANCE) + 1 if strict \
                else np.ceil(scaled - _TOLERANCE)
            out = np.fmax(grid, lowest) * step
        else:
            out = np.fmax(values, bound)
            if strict:
                out = np.where(out <= bound, np.nextafter(bound, np.inf), out)
    return _no_negative_zero(np.where(np.isnan(bound) | np.isnan(values), values, out))


def at_most(values: np.ndarray, bound, step: float, strict: bool) -> np.ndarray:
    """The mirror of :func:`at_least`."""
    return _no_negative_zero(-at_least(-np.asarray(values, dtype=np.float64),
                                       -np.asarray(bound, np.float64), step, strict))


def _no_negative_zero(values: np.ndarray) -> np.ndarray:
    """``values`` with -0.0 as 0.0: a value just below a bound of 0 rounds onto the grid as
    -0.0 (and a mirrored 0 is -0.0), which a CSV writes as ``-0.0`` though no real row held
    it (a third of a ``positive`` tip column's rows)."""
    return values + 0.0


def condition_checker(spec: ColumnSpec):
    """A column transformer that answers ``contains(series, wanted)`` and ``range_bounds``
    for a numeric column without being fitted (continuous and datetime read only the
    spec)."""
    if spec.kind is ColumnKind.DATETIME:
        return DatetimeTransformer(spec)
    return ModeSpecificNormalizer(spec)


def unique_name(base: str, taken: set) -> str:
    """``base``, or ``base#2``, ``base#3``... whichever no column already has."""
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}#{k}"
    taken.add(name)
    return name


def show(number: float) -> str:
    return f"{number:g}" if math.isfinite(number) else str(number)

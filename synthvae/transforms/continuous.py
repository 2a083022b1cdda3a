"""Mode-specific normalization (TVAE/CTGAN) for continuous columns.

A variational Gaussian mixture (up to 10 modes) is fitted to a bounded random subsample of the
column; a mode is kept when it holds at least 0.5 % of the column's values and at least
``min_mode_rows`` of them (100 by default), so a small table's column gets the few modes its
rows can teach the decoder (docs/training.md, "Modes of continuous columns"), and each kept
mode is widened to reach the values of the modes dropped beside it. Each value is encoded as a
one-hot of a mode drawn from its posterior over modes and a scalar
``(x - mean_mode) / (4 * std_mode)`` in [-1, 1].
The inverse clips to the range seen at fit time and restores integer-ness and decimals.

A column with at most ``discrete_threshold`` distinct values (ages in years, counts, hours of
the day) is **discrete**: every distinct value is its own point-mass mode, weighted by its
frequency, so the mode one-hot *is* the value and the decoder picks one of the values seen
instead of a mixture position that rounding and clipping would distort (its scalar is always
0). Such a column stays numeric in the schema, dtype and reports.

A column whose values are skewed past ``skew_threshold`` (heavy tails: payments, durations)
is modelled on a signed log scale (:mod:`synthvae.transforms.scaling`): the mixture, the
modes, the bounds and the decoded values all live on that scale, and ``from_numbers`` maps
back to the column's units. Its extreme values on each side (the top and bottom
``TAIL_SHARE``, when they hold at least ``min_mode_rows`` values) are **tail modes** of their
own: a mode with a hard interval that every value inside it takes (a point mass's value
aside, which keeps its exact mode) and no other value does, decoded within it. The
mixture's outermost mode would hold them beside ten times as many bulk values, with the
position inside it a scalar; as a mode of its own, "this payment is among the largest" is a
category, which the decoder relates to the other columns' (a large bill next to a large
previous bill) as it does categories (docs/training.md, "Tail modes").

Conditions are stated in the column's units and mapped onto the modelling scale here
(:meth:`ModeSpecificNormalizer.encode_range`): the bounds go through the same scale as the
values, so a range on a log-scaled column selects the modes and scalar intervals that decode
into it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from synthvae.errors import ConfigError, DataError
from synthvae.frames import is_duration_name
from synthvae.schema import ColumnSpec, check_magnitude, check_not_complex
from synthvae.transforms.base import ColumnTransformer, EncodedRegion
from synthvae.transforms.dtypes import restore_numeric
from synthvae.transforms.duration_values import DURATION_EXAMPLES, duration_nanos, show_duration
from synthvae.transforms.mixture import MixtureFit, fit_mixtures, log_component_densities
from synthvae.transforms.nulls import decode_nulls, encode_nulls, null_span
from synthvae.transforms.scaling import (SKEW_THRESHOLD, choose_log_scale, from_log_scale,
                                         to_log_scale)
from synthvae.transforms.spans import Span, SpanKind, span_argmax

N_MODES = 10
WEIGHT_THRESHOLD = 0.005
MIN_MODE_ROWS = 100  # a kept mode holds at least this many of the column's values
STD_MULTIPLIER = 4.0
MIXTURE_MAX_ROWS = 50_000
POINT_MASS_SHARE = 0.05  # an exact value this frequent, under a narrow mode, is a point mass
POINT_MASS_WIDTH = 0.05  # "narrow": mode std below this share of the column's std
DISCRETE_THRESHOLD = 100  # at most this many distinct values: one point mass per value
DISCRETE_VALUE_ROWS = 5  # ... each held by at least this many rows on average
POINT_STD = 1e-6
TAIL_SHARE = 0.01  # a heavy-tailed column's top and bottom 1 % are modes of their own


def numeric_values(series: pd.Series) -> np.ndarray:
    """A numeric column as float64 with NaN for missing; complex numbers, infinities and
    magnitudes the model cannot standardise are refused (a column declared continuous
    skips detection's checks)."""
    check_not_complex(series, series.name)
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = series.notna().to_numpy() & np.isnan(values)
    if bad.any():
        example = series[bad].iloc[0]
        raise DataError(f"Column {series.name!r} is continuous but holds the non-numeric value "
                        f"{example!r}; fix the value or declare the column categorical.")
    check_magnitude(values, series.name)
    return values


def fit_column_mixtures(columns: np.ndarray, max_rows: int, seed: int) -> MixtureFit:
    """One mixture per column of ``columns`` (rows, C), on at most ``max_rows`` random rows."""
    rng = np.random.default_rng(seed)
    if len(columns) > max_rows:
        columns = columns[rng.choice(len(columns), size=max_rows, replace=False)]
    return fit_mixtures(columns, n_components=N_MODES, seed=seed)


class ModeSpecificNormalizer(ColumnTransformer):
    """Continuous column <-> [scalar, mode one-hot, (null one-hot)]."""

    log_scalable = True  # subclasses with their own numbers (datetimes) say False

    def __init__(self, spec: ColumnSpec, max_rows: int = MIXTURE_MAX_ROWS,
                 discrete_threshold: int = DISCRETE_THRESHOLD,
                 skew_threshold: float | None = SKEW_THRESHOLD,
                 min_mode_rows: int = MIN_MODE_ROWS, tail_share: float = TAIL_SHARE):
        self.spec = spec
        self.max_rows = max_rows
        self.discrete_threshold = discrete_threshold
        self.skew_threshold = skew_threshold
        self.min_mode_rows = min_mode_rows
        self.tail_share = tail_share

    def is_discrete(self, series: pd.Series) -> bool:
        """Whether ``series`` has few enough distinct values to encode each exactly: at most
        ``discrete_threshold``, held by DISCRETE_VALUE_ROWS rows each on average. A small
        table's measurements (125 wines, 94 distinct alcohol levels) have few distinct values
        only because they have few rows; encoded value by value, each value would be a
        category of one or two rows, and the model would learn neither the values' order
        nor their relations to other columns."""
        distinct = series.nunique(dropna=True)
        return 0 < distinct <= self.discrete_threshold and \
            series.count() >= DISCRETE_VALUE_ROWS * distinct

    def choose_scale(self, series: pd.Series) -> None:
        """Set ``log_scale_``: the signed log's ``s`` for a skewed, non-discrete column, or
        None (the column's own units)."""
        self.log_scale_ = self._scale_for(series)

    def _scale_for(self, series: pd.Series) -> float | None:
        if not self.log_scalable or self.is_discrete(series):
            return None
        values = numeric_values(series)
        return choose_log_scale(values[~np.isnan(values)], self.skew_threshold)

    def mixture_values(self, series: pd.Series) -> np.ndarray | None:
        """The column on the scale ``fit`` will choose, for the table's joint mixture fit;
        None for a discrete column (one point mass per value, no mixture)."""
        if self.is_discrete(series):
            return None
        scale = self._scale_for(series)
        values = self.unit_numbers(series)
        return values if scale is None else to_log_scale(values, scale)

    # ------------------------------------------------------------------ fit
    def fit(self, series: pd.Series, seed: int = 0, mixture: tuple | None = None):
        """Learn modes and bounds; ``mixture`` = (weights, means, stds) fitted elsewhere, on
        ``mixture_values`` of the column."""
        self.choose_scale(series)
        values = self.to_numbers(series)
        observed = values[~np.isnan(values)]
        if len(observed) == 0:
            raise DataError(f"Column {self.spec.name!r} has no values to fit.")
        if self.is_discrete(series):
            return self._fit_discrete(observed)
        if mixture is None:
            fit = fit_column_mixtures(values[:, None], self.max_rows, seed)
            mixture = (fit.weights[0], fit.means[0], fit.stds[0])
        self.set_mixture(*mixture)
        self.min_ = float(observed.min()) if self.spec.min is None else self._scaled(self.spec.min)
        self.max_ = float(observed.max()) if self.spec.max is None else self._scaled(self.spec.max)
        self.fill_ = float(np.median(observed))
        self._mark_point_masses(observed)
        self._merge_light_modes(self.min_mode_rows / len(observed))
        spread = observed[~np.isin(observed, self.means_[self.point_])]
        if len(spread) == 0:
            spread = observed
        elif self.point_.all():  # the modes off the spikes were too light to keep
            self._add_spread_mode(spread, len(observed))
        # Values decoded from a spread (non-point) mode stay within the spread values' range.
        self.spread_min_ = max(float(spread.min()), self.min_)
        self.spread_max_ = min(float(spread.max()), self.max_)
        self._no_tail_modes()
        if self._log_scale is not None and not self.point_.all():
            # within the declared bounds: a tail past one would decode beyond it
            self._add_tail_modes(np.clip(spread, self.spread_min_, self.spread_max_),
                                 len(observed))
        self._cover_values(spread[self._tail_mode_of(spread) < 0])
        return self

    def _fit_discrete(self, observed: np.ndarray):
        self.log_scale_ = None
        # Declared (public) bounds hold here too: a value beyond one is that bound, so it is
        # neither sampled nor stored in the model file.
        low = -np.inf if self.spec.min is None else self._scaled(self.spec.min)
        high = np.inf if self.spec.max is None else self._scaled(self.spec.max)
        values, counts = np.unique(np.clip(observed, low, high), return_counts=True)
        self.weights_ = counts / counts.sum()
        self.means_ = values.astype(np.float64)
        self.stds_ = np.full(len(values), POINT_STD)
        self.point_ = np.ones(len(values), dtype=bool)
        self.min_ = float(values[0]) if self.spec.min is None else float(self.spec.min)
        self.max_ = float(values[-1]) if self.spec.max is None else float(self.spec.max)
        self.fill_ = float(np.median(observed))
        self.spread_min_, self.spread_max_ = self.min_, self.max_
        self._no_tail_modes()
        return self

    @property
    def discrete(self) -> bool:
        """Every mode is a point mass: the column decodes to values seen at fit time only."""
        return bool(self.point_.all())

    def _mark_point_masses(self, observed: np.ndarray) -> None:
        """Modes that sit on one frequent exact value (capital-gain's 92 % zeros) become
        point masses: encoded with scalar 0 and decoded to exactly that value, so the
        learned output noise cannot smear a spike into its neighbours."""
        self.point_ = np.zeros(len(self.means_), dtype=bool)
        sample = observed[:: max(1, len(observed) // MIXTURE_MAX_ROWS)]
        values, counts = np.unique(sample, return_counts=True)
        spread = float(np.std(sample)) or 1.0
        for value in values[counts >= POINT_MASS_SHARE * len(sample)]:
            mode = int(np.argmin(np.abs(self.means_ - value)))
            if self.stds_[mode] < POINT_MASS_WIDTH * spread and not self.point_[mode]:
                self.point_[mode], self.means_[mode] = True, float(value)

    def _merge_light_modes(self, min_weight: float) -> None:
        """Fold each spread mode lighter than ``min_weight`` (``min_mode_rows`` of the
        values) into its closest heavier spread mode, by moment matching (pooled weight,
        mean and variance), so the kept mode sits where its rows are. Point masses stay:
        each is one exact value. When every spread mode is light, the heaviest stays."""
        light = ~self.point_ & (self.weights_ < min_weight)
        if not light.any():
            return
        if not (~self.point_ & ~light).any():
            light[np.argmax(np.where(light, self.weights_, -1.0))] = False
        weights, means, stds = self.weights_, self.means_, self.stds_
        kept = np.flatnonzero(~self.point_ & ~light)
        moved = np.flatnonzero(light)
        into = np.arange(len(weights))  # (modes,) the mode each one is pooled into
        into[moved] = kept[np.argmin(np.abs(means[moved, None] - means[kept]) / stds[kept],
                                     axis=1)]
        weight = np.bincount(into, weights, minlength=len(weights))
        pooled_mean = np.bincount(into, weights * means, minlength=len(weights)) / \
            np.where(weight > 0, weight, 1.0)
        # centred on the pooled mean: E[x^2] - E[x]^2 loses every digit on large values of
        # small spread (1e9 + N(0, 1) pooled to a std of 16, its rows decoded to the bounds)
        spread = np.bincount(into, weights * (stds ** 2 + (means - pooled_mean[into]) ** 2),
                             minlength=len(weights)) / np.where(weight > 0, weight, 1.0)
        mean = np.where(self.point_, means, pooled_mean)
        std = np.where(self.point_, stds, np.sqrt(np.maximum(spread, 1e-12)))
        keep = ~light
        self.weights_ = weight[keep] / weight[keep].sum()
        self.means_, self.stds_, self.point_ = mean[keep], std[keep], self.point_[keep]

    def _add_spread_mode(self, spread: np.ndarray, n_observed: int) -> None:
        """One mode for the values off the point masses (their mean and std), so that they
        keep their values: without it they would encode as the nearest spike."""
        self.weights_ = np.append(self.weights_ * (1 - len(spread) / n_observed),
                                  len(spread) / n_observed)
        self.means_ = np.append(self.means_, float(np.mean(spread)))
        self.stds_ = np.append(self.stds_, max(float(np.std(spread)), 1e-6))
        self.point_ = np.append(self.point_, False)

    def _no_tail_modes(self) -> None:
        """Every mode unbounded: no tail modes (discrete columns, DP, older model files)."""
        self.mode_low_ = np.full(len(self.means_), -np.inf)
        self.mode_high_ = np.full(len(self.means_), np.inf)

    def _add_tail_modes(self, spread: np.ndarray, n_observed: int) -> None:
        """Append the tail modes: the spread values at or above the ``1 - tail_share``
        quantile and those below the ``tail_share`` quantile (:func:`tail_intervals`,
        :meth:`_append_interval_modes`)."""
        if 0 < self.tail_share < 0.5:
            self._append_interval_modes(
                spread, n_observed, tail_intervals(spread, [self.tail_share],
                                                   self.min_mode_rows))

    def _append_interval_modes(self, spread: np.ndarray, n_observed: int,
                               intervals: list[tuple[float, float]]) -> None:
        """Append a mode for each interval ``[low, high)`` of the spread values that holds at
        least ``min_mode_rows`` of them (not all equal, and fewer than half), owning it. The
        mixture's modes keep their shape (their weights shrink by the new modes' share);
        each new mode is its values' mean and spread, wide enough to reach all of them."""
        members = [spread[(spread >= low) & (spread < high)] for low, high in intervals]
        kept = [(bounds, values) for bounds, values in zip(intervals, members)
                if len(values) >= max(self.min_mode_rows, 1) and np.ptp(values) > 0
                and len(values) < len(spread) / 2]
        if not kept:
            return
        shares = np.array([len(values) / n_observed for _, values in kept])
        means = np.array([values.mean() for _, values in kept])
        reach = np.array([np.abs(values - values.mean()).max() for _, values in kept])
        stds = np.maximum(np.array([values.std() for _, values in kept]),
                          reach / (STD_MULTIPLIER * 0.99))
        self.weights_ = np.append(self.weights_ * (1 - shares.sum()), shares)
        self.means_ = np.append(self.means_, means)
        self.stds_ = np.append(self.stds_, np.maximum(stds, 1e-6))
        self.point_ = np.append(self.point_, np.zeros(len(kept), dtype=bool))
        self.mode_low_ = np.append(self.mode_low_, [bounds[0] for bounds, _ in kept])
        self.mode_high_ = np.append(self.mode_high_, [bounds[1] for bounds, _ in kept])

    @property
    def _tail_modes(self) -> np.ndarray:
        """(modes,) whether each mode is a tail mode (owns an interval)."""
        return np.isfinite(self.mode_low_) | np.isfinite(self.mode_high_)

    def _tail_mode_of(self, values: np.ndarray) -> np.ndarray:
        """(n,) the tail mode whose interval holds each value, -1 for none (the bulk)."""
        tails = np.flatnonzero(self._tail_modes)
        inside = (values[:, None] >= self.mode_low_[tails]) & \
            (values[:, None] < self.mode_high_[tails])  # (n, tails)
        return np.where(inside.any(axis=1), tails[np.argmax(inside, axis=1)], -1) \
            if len(tails) else np.full(len(values), -1)

    def _cover_values(self, spread: np.ndarray) -> None:
        """Widen modes so that every value off the point masses encodes without clipping:
        a value no mode reaches (``STD_MULTIPLIER`` stds) widens its closest mode, in units
        of the modes' stds, to reach it. The outermost modes cover the column's range; a
        mode kept beside dropped ones (``min_mode_rows``) takes their values. A value some
        mode reaches needs nothing: its closest mode reaches it too."""
        if self.point_.all():
            return
        reach = STD_MULTIPLIER * 0.99
        modes = np.flatnonzero(~self.point_ & ~self._tail_modes)
        lows, highs = merged_intervals(self.means_[modes] - reach * self.stds_[modes],
                                        self.means_[modes] + reach * self.stds_[modes])
        at = np.searchsorted(lows, spread, side="right") - 1
        outside = spread[(at < 0) | (spread > highs[np.maximum(at, 0)])]
        if len(outside) == 0:
            return
        deviation = np.abs(outside[:, None] - self.means_[modes])  # (outside, modes)
        closest = np.argmin(deviation / self.stds_[modes], axis=1)
        farthest = np.where(closest[:, None] == np.arange(len(modes)), deviation, 0.0)
        self.stds_[modes] = np.maximum(self.stds_[modes], farthest.max(axis=0) / reach)

    def fit_from_spec(self, modes=None):
        """Modes from the schema's public [min, max] and, when given, DP-released ``modes``
        (``synthvae.privacy.Modes``); else one mode spanning the range. Reads no data
        (used under DP)."""
        self.log_scale_ = None  # choosing a scale would read the private values
        low, high = float(self.spec.min), float(self.spec.max)
        half = max(high - low, 1e-9) / 2
        if modes is None:
            self.set_mixture([1.0], [low + half], [half / (STD_MULTIPLIER * 0.99)])
            self.point_ = np.zeros(1, dtype=bool)
        else:  # every released mode, however light: the release already chose them
            self.set_mixture(modes.weights, modes.means, modes.stds, threshold=0.0)
            self.point_ = np.asarray(modes.point, dtype=bool)
        self.min_, self.max_, self.fill_ = low, high, low + half
        self.spread_min_, self.spread_max_ = low, high
        self._no_tail_modes()
        return self

    def set_mixture(self, weights, means, stds, threshold: float = WEIGHT_THRESHOLD) -> None:
        """Keep the modes above ``threshold`` (the heaviest one at least)."""
        keep = np.asarray(weights) > threshold
        if not keep.any():
            keep = np.asarray(weights) == np.max(weights)
        self.weights_ = np.asarray(weights, dtype=np.float64)[keep]
        self.weights_ = self.weights_ / self.weights_.sum()
        self.means_ = np.asarray(means, dtype=np.float64)[keep]
        self.stds_ = np.maximum(np.asarray(stds, dtype=np.float64)[keep], 1e-6)

    def unit_numbers(self, series: pd.Series) -> np.ndarray:
        """The column as float64 in its own units (NaN for missing)."""
        return numeric_values(series)

    def to_numbers(self, series: pd.Series) -> np.ndarray:
        """The column as float64 on the modelling scale (NaN for missing)."""
        values = self.unit_numbers(series)
        return values if self._log_scale is None else to_log_scale(values, self._log_scale)

    def from_numbers(self, values: np.ndarray) -> pd.Series:
        """Values on the modelling scale back to the column's units and dtype."""
        scale = self._log_scale
        return restore_numeric(values if scale is None else from_log_scale(values, scale),
                               self.spec)

    def _scaled(self, value: float) -> float:
        """A bound in the column's units (a schema's min or max) on the modelling scale."""
        scale = self._log_scale
        return float(value) if scale is None else float(to_log_scale(np.float64(value), scale))

    def _unscaled(self, value: float) -> float:
        """A number on the modelling scale in the column's units."""
        scale = self._log_scale
        return float(value) if scale is None else float(from_log_scale(np.float64(value),
                                                                        scale))

    @property
    def _log_scale(self) -> float | None:
        """``log_scale_`` once chosen (fit, choose_scale, set_state); None before."""
        return getattr(self, "log_scale_", None)

    # ------------------------------------------------------------------ layout
    @property
    def n_modes(self) -> int:
        return len(self.means_)

    def spans(self) -> list[Span]:
        spans = [Span(self.spec.name, SpanKind.SCALAR, 1, "value"),
                 Span(self.spec.name, SpanKind.SOFTMAX, self.n_modes, "mode")]
        if self.spec.nullable:
            spans.append(null_span(self.spec.name))
        return spans

    @property
    def width(self) -> int:
        return sum(s.width for s in self.spans())

    def slot_value(self, slot: int):
        """The value of mode slot ``slot`` (1 .. n_modes) of a column encoded value by value,
        in the column's units and dtype."""
        if not (self.discrete and 1 <= slot <= self.n_modes):
            return super().slot_value(slot)
        return self.from_numbers(self.means_[slot - 1:slot]).iloc[0]

    def value_coefficients(self) -> tuple[np.ndarray, np.ndarray]:
        """(width,) ``offset`` and ``scale`` of the encoded block such that the value in
        mode ``k`` with scalar ``s`` is ``offset[k] + scale[k] * s`` in the column's standard
        units (its mixture's mean and standard deviation): what an autoregressive decoder
        reads of the number (:class:`synthvae.model.ColumnAutoregression`). 0 outside the
        mode slots; a point mass's scale is 0 (its scalar is not part of the value)."""
        weights = self.weights_ / self.weights_.sum()
        mean = float(weights @ self.means_)
        # centred: E[x^2] - E[x]^2 loses every digit on large values of small spread
        variance = float(weights @ (self.stds_ ** 2 + (self.means_ - mean) ** 2))
        std = float(np.sqrt(variance)) if variance > 1e-12 else 1.0
        offset, scale = np.zeros(self.width), np.zeros(self.width)
        modes = slice(1, 1 + self.n_modes)
        offset[modes] = (self.means_ - mean) / std
        scale[modes] = np.where(self.point_, 0.0, STD_MULTIPLIER * self.stds_ / std)
        return offset, scale

    # ------------------------------------------------------------------ transform
    def transform(self, series: pd.Series, rng: np.random.Generator) -> np.ndarray:
        values = self.to_numbers(series)
        missing = np.isnan(values)
        filled = np.where(missing, self.fill_, values)
        if self.discrete:
            return self._encode(_nearest(self.means_, filled), np.zeros(len(values)), missing)
        log_dens = log_component_densities(filled, self.means_, self.stds_, self.weights_)
        on_point = (filled[:, None] == self.means_[None]) & self.point_  # (n, K)
        if self.point_.any() and not self.point_.all():
            log_dens[:, self.point_] = -np.inf  # other values never take a point mode
        barred = self._barred_modes(filled)
        log_dens[barred] = -np.inf
        modes = _sample_rows(log_dens, rng)  # (n,) mode drawn from each row's posterior
        exact = on_point.any(axis=1)
        modes[exact] = np.argmax(on_point[exact], axis=1)
        scaled = (filled[:, None] - self.means_) / (STD_MULTIPLIER * self.stds_)  # (n, K)
        scaled[:, self.point_] = np.where(on_point[:, self.point_], 0.0, np.inf)
        scaled[barred & ~on_point] = np.inf
        rows = np.arange(len(values))
        # A value too far from its drawn mode to encode exactly takes its closest mode.
        outside = np.abs(scaled[rows, modes]) > 0.99
        modes[outside] = np.argmin(np.abs(scaled[outside]), axis=1)
        return self._encode(modes, scaled[rows, modes], missing)

    def _barred_modes(self, values: np.ndarray) -> np.ndarray:
        """(n, K) the modes each value may not take: a value in a tail mode's interval takes
        that mode only (or its point mass: ``transform`` gives exact values theirs), and no
        other value takes a tail mode."""
        barred = np.zeros((len(values), self.n_modes), dtype=bool)
        if not self._tail_modes.any():
            return barred
        tail = self._tail_mode_of(values)
        barred[:, self._tail_modes] = True
        in_tail = np.flatnonzero(tail >= 0)
        barred[in_tail] = True
        barred[in_tail, tail[in_tail]] = False
        return barred

    def impossible(self, series: pd.Series) -> pd.Series:
        """Also, in a column encoded value by value, a value no training row held (the
        encoding would take the nearest one)."""
        reasons = super().impossible(series)
        if self.discrete:
            values = self.to_numbers(series)
            unseen = ~np.isnan(values) & ~np.isin(values, self.means_)
            reasons[unseen] = "a value no training row held (the column is modelled value " \
                              "by value)"
        return reasons

    def _encode(self, modes: np.ndarray, scalar: np.ndarray, missing: np.ndarray) -> np.ndarray:
        out = np.zeros((len(modes), self.width), dtype=np.float32)
        out[:, 0] = np.clip(scalar, -0.99, 0.99)
        out[np.arange(len(modes)), 1 + modes] = 1.0
        if self.spec.nullable:
            out[:, -2:] = encode_nulls(missing)
        return out

    def inverse_transform(self, block: np.ndarray, rng: np.random.Generator | None = None,
                          row_offset: int = 0) -> pd.Series:
        modes = span_argmax(block[:, 1:1 + self.n_modes])
        scalar = np.clip(block[:, 0], -1.0, 1.0)
        values = scalar * STD_MULTIPLIER * self.stds_[modes] + self.means_[modes]
        clip_low, clip_high = self._decoded_range()
        values = np.clip(values, clip_low[modes], clip_high[modes])
        values = np.where(self.point_[modes], self.means_[modes], values)
        if self.spec.nullable:
            values = np.where(decode_nulls(block[:, -2:]), np.nan, values)
        return self.from_numbers(values)

    def _decoded_range(self) -> tuple[np.ndarray, np.ndarray]:
        """(K,) low and high ends of each spread mode's decoded values: the spread values'
        range, and a tail mode's interval within it."""
        return (np.clip(self.mode_low_, self.spread_min_, self.spread_max_),
                np.clip(self.mode_high_, self.spread_min_, self.spread_max_))

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict:
        return {"weights": self.weights_.tolist(), "means": self.means_.tolist(),
                "stds": self.stds_.tolist(), "min": self.min_, "max": self.max_,
                "fill": self.fill_, "point": self.point_.tolist(),
                "spread_min": self.spread_min_, "spread_max": self.spread_max_,
                "log_scale": self._log_scale,
                "mode_low": [None if np.isinf(v) else float(v) for v in self.mode_low_],
                "mode_high": [None if np.isinf(v) else float(v) for v in self.mode_high_]}

    def set_state(self, state: dict):
        self.weights_ = np.asarray(state["weights"], dtype=np.float64)
        self.means_ = np.asarray(state["means"], dtype=np.float64)
        self.stds_ = np.asarray(state["stds"], dtype=np.float64)
        self.min_, self.max_, self.fill_ = (float(state[k]) for k in ("min", "max", "fill"))
        self.point_ = np.asarray(state.get("point", [False] * len(self.means_)), dtype=bool)
        self.spread_min_ = float(state.get("spread_min", self.min_))
        self.spread_max_ = float(state.get("spread_max", self.max_))
        scale = state.get("log_scale")  # absent from models saved before it existed
        if scale is not None and not (_finite_number(scale) and scale > 0):
            raise ValueError(f"column {self.spec.name!r}: log_scale must be a positive number "
                             f"or null, not {scale!r}")
        self.log_scale_ = None if scale is None else float(scale)
        self._set_mode_bounds(state)
        return self

    def _set_mode_bounds(self, state: dict) -> None:
        """The tail modes' intervals (absent from models saved before them: none)."""
        self._no_tail_modes()
        for key, attribute, infinite in (("mode_low", "mode_low_", -np.inf),
                                         ("mode_high", "mode_high_", np.inf)):
            bounds = state.get(key)
            if bounds is None:
                continue
            if not isinstance(bounds, list) or len(bounds) != len(self.means_) or not all(
                    v is None or _finite_number(v) for v in bounds):
                raise ValueError(f"column {self.spec.name!r}: {key} must list a finite number "
                                 f"or null per mode ({len(self.means_)}), not {bounds!r}")
            setattr(self, attribute, np.array([infinite if v is None else float(v)
                                               for v in bounds], dtype=np.float64))
        tails = np.flatnonzero(self._tail_modes)
        order = tails[np.argsort(self.mode_low_[tails])]
        if np.any(self.mode_low_ >= self.mode_high_) or self.point_[tails].any() or \
                np.any(self.mode_high_[order[:-1]] > self.mode_low_[order[1:]]):
            raise ValueError(f"column {self.spec.name!r}: the tail modes' intervals must be "
                             f"non-empty, disjoint and on spread modes (mode_low "
                             f"{state.get('mode_low')!r}, mode_high {state.get('mode_high')!r})")

    # ------------------------------------------------------------------ conditions
    def encode_condition(self, wanted) -> EncodedRegion:
        """An empty cell (None), one value, or a ``(low, high)`` range in the column's units
        (either end None: open), as the modes and scalar intervals that decode into it."""
        if wanted is None:
            return EncodedRegion(null=self._null_slice(), want_null=True)
        return self.encode_range(*self.range_bounds(wanted))

    def encode_range(self, low: float, high: float) -> EncodedRegion:
        """The inclusive range [low, high] of the column's units (``unit_numbers``; -inf and
        inf: open) in the model's space: per mode, whether it can decode into the range and
        the interval of its scalar that does. Bounds and values go through the same scale,
        widened by half the rounding step, so what rounds into the range is kept."""
        low_m, high_m = self._scaled(low), self._scaled(high)
        if low_m > self.max_ or high_m < self.min_:
            raise ConfigError(
                f"Column {self.spec.name!r}: no training value lies in the asked range "
                f"{self.show_value(low)}..{self.show_value(high)}; the model knows "
                f"{self.show_value(self._unscaled(self.min_))}.."
                f"{self.show_value(self._unscaled(self.max_))}.")
        half = self.rounding_half_width()
        reach_lo, reach_hi = self._scaled(low - half), self._scaled(high + half)
        # Spread modes decode clipped to the spread range (a tail mode to its interval too):
        # a bound past it is open, and a range beside it is out of their reach.
        clip_low, clip_high = self._decoded_range()  # (K,)
        lo_value = np.where(low_m <= clip_low, -math.inf, reach_lo)
        hi_value = np.where(high_m >= clip_high, math.inf, reach_hi)
        meets_spread = (high_m >= clip_low) & (low_m <= clip_high)
        scale = STD_MULTIPLIER * self.stds_
        lo, hi = (lo_value - self.means_) / scale, (hi_value - self.means_) / scale  # (K,)
        on_point = (self.means_ >= low_m) & (self.means_ <= high_m)  # decoded exactly
        allowed = np.where(self.point_, on_point, (lo < 1.0) & (hi > -1.0) & meets_spread)
        if not allowed.any():
            raise ConfigError(
                f"Column {self.spec.name!r}: the model produces no value in the asked range "
                f"{self.show_value(low)}..{self.show_value(high)}; widen it.")
        return EncodedRegion(
            slots=slice(1, 1 + self.n_modes),
            slot_log_weights=np.where(allowed, 0.0, -np.inf),
            scalar=0, scalar_low=np.where(lo <= -1.0, -np.inf, lo),
            scalar_high=np.where(hi >= 1.0, np.inf, hi), exact=self.point_.copy(),
            null=self._null_slice())

    def contains(self, series: pd.Series, wanted) -> np.ndarray:
        numbers = self.unit_numbers(series)
        if wanted is None:
            return np.isnan(numbers)
        low, high = self.range_bounds(wanted)
        with np.errstate(invalid="ignore"):
            return (numbers >= low) & (numbers <= high)

    def range_bounds(self, wanted) -> tuple[float, float]:
        """(low, high) in the column's units from one value or a (low, high) pair."""
        if isinstance(wanted, (tuple, list)) and len(wanted) == 2:
            low, high = wanted
        elif isinstance(wanted, (tuple, list)):
            raise ConfigError(f"Column {self.spec.name!r}: a range is (low, high). Got "
                              f"{wanted!r} instead.")
        else:
            low = high = wanted
        low = -math.inf if low is None else self._condition_number(low)
        high = math.inf if high is None else self._condition_number(high)
        if low > high:
            raise ConfigError(f"Column {self.spec.name!r}: the range's low end "
                              f"{self.show_value(low)} is above its high end "
                              f"{self.show_value(high)}.")
        return low, high

    def _condition_number(self, value) -> float:
        number = self.unit_value(value)
        if not math.isfinite(number):
            raise ConfigError(f"Column {self.spec.name!r} holds {self.value_noun}; the "
                              f"condition's value {value!r} is not one{self.value_hint}.")
        return number

    @property
    def _durations(self) -> bool:
        """A duration column: its units are nanoseconds, its conditions durations."""
        return is_duration_name(self.spec.dtype)

    @property
    def value_noun(self) -> str:
        """What a condition's value must be, for messages."""
        return "durations" if self._durations else "a number"

    @property
    def value_hint(self) -> str:
        return f" (give {DURATION_EXAMPLES}; a bare number has no unit)" \
            if self._durations else ""

    def unit_value(self, value) -> float:
        """One value of a condition (a number or its text; a duration for a duration
        column) in the column's units; NaN when it is not one."""
        if self._durations:
            return duration_nanos(value)
        try:
            return float(value)
        except (TypeError, ValueError):
            return math.nan

    def show_value(self, number: float) -> str:
        """A number in the column's units as a user would write it."""
        return show_duration(number) if self._durations else f"{number:g}"

    def rounding_half_width(self) -> float:
        """Half the rounding step of decoded values, in the column's units: values within
        it of a range's end round into the range."""
        if self.spec.integer or self.spec.decimals == 0:
            return 0.5
        if self.spec.decimals is not None:
            return 0.5 * 10.0 ** -self.spec.decimals
        return 0.0

    def _null_slice(self) -> slice | None:
        return slice(self.width - 2, self.width) if self.spec.nullable else None


def _finite_number(value) -> bool:
    """A finite int or float (not a bool; a JSON integer too large for a float is not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def tail_intervals(spread: np.ndarray, shares, min_rows: int) -> list[tuple[float, float]]:
    """``[low, high)`` intervals cutting each tail of ``spread`` at the quantiles of the given
    ``shares`` (the top and bottom ``share`` of the values), from the outermost in; an edge is
    kept when the values between it and the last kept edge (or the end) number at least
    ``min_rows``, so a cut too far out for the rows is merged into the next one in."""
    intervals = []
    for upper in (True, False):
        outer = np.inf if upper else -np.inf
        for share in sorted(shares):
            edge = float(np.quantile(spread, 1 - share if upper else share))
            inside = (spread >= edge) & (spread < outer) if upper else \
                (spread >= outer) & (spread < edge)
            if np.count_nonzero(inside) < max(min_rows, 1) or edge == outer:
                continue
            intervals.append((edge, outer) if upper else (outer, edge))
            outer = edge
    return intervals


def _nearest(means: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Index into ``means`` of the mean nearest each of ``values`` (ties to the lower)."""
    order = np.argsort(means, kind="stable")
    ranked = means[order]
    right = np.clip(np.searchsorted(ranked, values), 1, max(len(ranked) - 1, 1))
    left = right - 1
    right = np.minimum(right, len(ranked) - 1)
    take_right = np.abs(ranked[right] - values) < np.abs(values - ranked[left])
    return order[np.where(take_right, right, left)]


def _sample_rows(log_weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One index per row drawn from softmax(log_weights[row]) by the Gumbel-max trick."""
    gumbel = -np.log(-np.log(rng.random(log_weights.shape) + 1e-300) + 1e-300)
    return np.argmax(log_weights + gumbel, axis=1)


def merged_intervals(lows: np.ndarray, highs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The union of the intervals [lows[i], highs[i]] as sorted, disjoint intervals."""
    order = np.argsort(lows)
    lows, highs = lows[order], np.maximum.accumulate(highs[order])
    starts = np.concatenate([[True], lows[1:] > highs[:-1]])  # a gap before the interval
    ends = np.concatenate([starts[1:], [True]])
    return lows[starts], highs[ends]


class OnResolutionGrid(ModeSpecificNormalizer):
    """A number decoded onto the grid of its training values' unit, ``resolution_`` (a
    datetime's seconds, a duration's nanoseconds), kept in the column's state.
    ``DEFAULT_RESOLUTION``: before the fit, and for a state saved without one (None: such
    a state is refused)."""

    DEFAULT_RESOLUTION: int | None = None

    def rounding_half_width(self) -> float:
        return getattr(self, "resolution_", self.DEFAULT_RESOLUTION or 0) / 2

    def get_state(self) -> dict:
        return dict(super().get_state(), resolution=self.resolution_)

    def set_state(self, state: dict):
        super().set_state(state)
        self.resolution_ = int(state["resolution"] if self.DEFAULT_RESOLUTION is None
                               else state.get("resolution", self.DEFAULT_RESOLUTION))
        return self

"""Differential privacy, end to end. The only module of synthvae that imports opacus.

Three parts, each charging the same :class:`PrivacyLedger`:

1. **Preprocessing** (:func:`private_preprocessing`): every fact the transformer needs
   about the private rows (numeric bounds, category lists) comes from the user's schema
   (public, free) or from a DP mechanism paid from a declared share of epsilon: an
   approximate-bounds mechanism on a data-independent log-scale histogram (Laplace) for
   numbers, and a thresholded noisy histogram ((epsilon, delta)-DP) for categories. Each
   continuous column's modes come from a Laplace-noised histogram on a grid fixed by its
   bounds (:func:`dp_modes`), in place of the Gaussian mixture fitted without DP.
2. **DP-SGD** (:class:`DPStep`, a step strategy of the one training loop): Opacus's
   ghost clipping of per-sample gradients over the whole VAE (encoder and decoder both see
   private rows), Poisson sampling (``batches.PoissonBatches``), clipping, Gaussian noise
   calibrated to the remaining budget over the planned steps, virtual batches for memory.
   No validation, early stopping or model selection touches the private rows.
3. **Calibration frequencies** (:func:`dp_slot_frequencies`): each category's, mode's and
   null's share of the encoded rows, released once by the Gaussian mechanism from a declared
   share of epsilon and delta (spans weighted by the cube root of their slots, so wide
   spans get less noise), each span's noisy counts projected onto a distribution
   (:func:`project_span_counts`); the sampler's marginal calibration and low-lift floors
   read these noisy shares (post-processing) instead of the private ones.
4. **Accounting**: the PRV accountant by default (RDP selectable); basic composition adds
   the preprocessing and frequency releases to DP-SGD's (epsilon, delta). Noise multipliers
   come from a bounded search (:func:`solve_noise`) that counts what the accountant cannot
   price as over budget, so it never loops and never claims more than the accountant says.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field, replace
from typing import Callable

import numpy as np
import pandas as pd
import torch
from opacus.accountants import PRVAccountant, RDPAccountant
from opacus.grad_sample import GradSampleModuleFastGradientClipping, register_norm_sampler
from opacus.optimizers import DPOptimizerFastGradientClipping
from opacus.utils.fast_gradient_clipping_utils import DPTensorFastGradientClipping

from synthvae.errors import ConfigError, SchemaError, SynthvaeWarning
from synthvae.layout import SpanLayout
from synthvae.model import MaskedLinear
from synthvae.params import MAX_DELTA
from synthvae.schema import ColumnKind, ColumnSpec, Schema, complete_schema

LOG2_RANGE = 64  # approximate bounds search |x| in [2^-LOG2_RANGE, 2^LOG2_RANGE]
FALSE_BOUND_RISK = 1e-4  # chance that noise alone makes a lone empty bin set a bound
MODE_BINS = 64  # equal-width bins of a continuous column's range, before merging
DP_MODES = 4  # modes of about equal noisy mass made from them (more: fewer pair relations
#               survive the noise on Adult, benchmarks/results/dp.md)
MIN_MODE_WEIGHT = 0.005  # modes this light are dropped (as the mixtures drop them)
GAP_MODE_WEIGHT = 0.01  # weight of a mode covering a stretch of the range no mode reaches
MIN_GAP_BINS = 4  # a gap between modes this many bins wide gets a mode (an end: one bin)
MAX_NOISE = 1e6  # Opacus's MAX_SIGMA: a budget needing more noise is refused
MAX_ACCOUNTANT_CALLS = 100  # one noise search evaluates the accountant at most this often
NOISE_PRECISION = 1e-5  # the search stops once the multiplier is known to this share of it
RANGE_PRECISION = 1e-2  # ... or to this share, where below it the accountant cannot price
PRV_MAX_LOSS = math.log(np.finfo(np.float64).max)  # ~709.8: exp(t) past it overflows
PRV_MAX_GRID = 2 ** 23  # points of the PRV's loss grid: ~5 s and ~1.5 GB per evaluation


@dataclass(frozen=True)
class DPConfig:
    epsilon: float  # total budget, preprocessing included
    delta: float  # total delta
    max_grad_norm: float = 1.0  # per-sample clipping norm
    accountant: str = "prv"  # "prv" or "rdp"
    preprocess_share: float = 0.1  # share of epsilon and delta for bounds and categories
    calibration_share: float = 0.1  # share for the slot frequencies that calibrate sampling
    max_physical_batch: int = 4096  # rows per forward/backward; larger batches are split

    def to_dict(self) -> dict:
        return asdict(self)


def default_delta(n_rows: int) -> float:
    """0.1 / n, an order of magnitude below 1/n (the level at which one row could leak),
    and never above ``MAX_DELTA``, the limit a given delta is held to (tables under 10 rows
    would otherwise get more)."""
    return min(0.1 / max(n_rows, 1), MAX_DELTA)


# ----------------------------------------------------------------------------- ledger


@dataclass(frozen=True)
class LedgerEntry:
    mechanism: str
    epsilon: float
    delta: float
    column: str | None = None
    detail: dict = field(default_factory=dict)


class PrivacyLedger:
    """Every release computed from the private rows, with its cost; composed by addition."""

    def __init__(self, entries: list[LedgerEntry] | None = None):
        self.entries: list[LedgerEntry] = list(entries or [])

    def charge(self, mechanism: str, epsilon: float, delta: float = 0.0, column=None,
               **detail) -> None:
        self.entries.append(LedgerEntry(mechanism, float(epsilon), float(delta), column, detail))

    @property
    def epsilon(self) -> float:
        return float(sum(e.epsilon for e in self.entries))

    @property
    def delta(self) -> float:
        return float(sum(e.delta for e in self.entries))

    def remaining(self, target: float, spent: float) -> float:
        """What is left of ``target`` after ``spent`` (the ledger's epsilon or delta so
        far), rounded down so that adding it gives a total that never exceeds the target
        in floating point (0.01 - 0.0 + ... could sum to 0.010000000000000002)."""
        rest = max(target - spent, 0.0)
        while rest > 0 and spent + rest > target:
            rest = math.nextafter(rest, 0.0)
        return rest

    def to_dict(self) -> dict:
        return {"epsilon": self.epsilon, "delta": self.delta,
                "entries": [asdict(e) for e in self.entries]}

    @classmethod
    def from_dict(cls, data: dict) -> "PrivacyLedger":
        return cls([LedgerEntry(**e) for e in data["entries"]])


# ----------------------------------------------------------------------------- preprocessing


def public_schema(df: pd.DataFrame, overrides: Schema | None) -> Schema:
    """Column kinds from dtypes and the user's schema only: no cell value is read.

    Numbers are continuous, datetime64 datetime, everything else categorical; every column
    is nullable unless its dtype cannot hold a null (NumPy ints and bools) or the user's
    schema says otherwise. Declare integer codes, datetime
    strings, identifiers and constants in the schema.
    """
    return complete_schema(df, overrides, lambda name: _spec_from_dtype(name, df[name].dtype),
                           read_values=False)


def _spec_from_dtype(name: str, dtype) -> ColumnSpec:
    from synthvae.frames import dtype_name, zone_name

    text = dtype_name(dtype)
    if isinstance(dtype, pd.CategoricalDtype):
        # pandas builds a category dtype's list from the values (astype("category")), so it
        # is not public: the list is released like any other (declare it in the schema)
        return ColumnSpec(name, ColumnKind.CATEGORICAL, True, text, ordered=bool(dtype.ordered))
    if pd.api.types.is_bool_dtype(dtype):
        return ColumnSpec(name, ColumnKind.CATEGORICAL, text != "bool", text,
                          categories=(False, True))
    if pd.api.types.is_datetime64_any_dtype(dtype):
        tz = zone_name(dtype.tz) if getattr(dtype, "tz", None) is not None else None
        return ColumnSpec(name, ColumnKind.DATETIME, True, text, timezone=tz)
    if pd.api.types.is_numeric_dtype(dtype):
        # A NumPy integer dtype cannot hold a missing value: its non-nullness is public
        # (nullable Int64 and Arrow integers can).
        integer = pd.api.types.is_integer_dtype(dtype)
        numpy_integer = integer and isinstance(dtype, np.dtype)
        return ColumnSpec(name, ColumnKind.CONTINUOUS, not numpy_integer, text,
                          integer=integer)
    return ColumnSpec(name, ColumnKind.CATEGORICAL, True, text)


def needs_release(spec: ColumnSpec) -> bool:
    """Whether the column needs a DP estimate (bounds or categories) before training."""
    if spec.kind in (ColumnKind.CONTINUOUS, ColumnKind.DATETIME):
        return spec.min is None or spec.max is None
    if spec.kind is ColumnKind.CATEGORICAL:
        return spec.categories is None
    if spec.kind is ColumnKind.CONSTANT:
        return spec.value is None
    return False


@dataclass(frozen=True)
class Modes:
    """A continuous column's modes released under DP: what the transformer encodes with in
    place of a fitted Gaussian mixture (each mode spans its bin: mean +/- 4 std)."""

    weights: np.ndarray  # (k,) shares, summing to 1
    means: np.ndarray  # (k,)
    stds: np.ndarray  # (k,)
    point: np.ndarray  # (k,) bool: an exact value (decoded as the mean itself)


def private_preprocessing(df: pd.DataFrame, schema: Schema, config: DPConfig,
                          ledger: PrivacyLedger,
                          numbers: Callable[[ColumnSpec, pd.Series], np.ndarray],
                          rng: np.random.Generator) -> tuple[Schema, dict[str, Modes]]:
    """(the schema completed with DP bounds and categories, each continuous column's DP
    modes), every release charged to ``ledger``. The preprocessing share of epsilon is split
    evenly over the releases (bounds or categories the schema lacks, and one histogram per
    continuous column); with ``preprocess_share=0`` no modes are released (one mode from
    the bounds, as before) and every bound and category must be public.

    ``numbers(spec, series)`` converts a continuous or datetime column to float64.
    """
    check_declared_nulls(df, schema)
    share = config.preprocess_share > 0
    n_modes = sum(c.kind is ColumnKind.CONTINUOUS for c in schema.columns) if share else 0
    n_releases = sum(needs_release(c) for c in schema.columns) + n_modes
    eps_each = config.epsilon * config.preprocess_share / max(n_releases, 1)
    schema = private_schema(df, schema, config, ledger, numbers, rng, eps_each)
    modes = {}
    for spec in (c for c in schema.columns if n_modes and c.kind is ColumnKind.CONTINUOUS):
        modes[spec.name] = dp_modes(numbers(spec, df[spec.name]), spec, eps_each, rng)
        ledger.charge("mode histogram (Laplace)", eps_each, 0.0, spec.name,
                      modes=len(modes[spec.name].weights))
    return schema, modes


def check_declared_nulls(df: pd.DataFrame, schema: Schema) -> None:
    """Refuse a column with missing values that the schema declares not nullable (a schema
    column's ``nullable`` is false when left out), before anything is released.

    Without DP a column with missing values is made nullable (detection reads the data);
    under DP nullability comes from the dtype or the schema alone, so a declared column
    that leaves ``nullable`` out had its missing values dropped (a number's) or failed
    later with a message about data seen "at fit time" (a category's). The refusal, like
    any data error, goes to whoever runs the fit, and nothing leaves it.
    """
    for spec in schema.columns:
        if not spec.nullable and spec.name in df and bool(df[spec.name].isna().any()):
            raise SchemaError(
                f"Column {spec.name!r} has missing values, but the schema declares it not "
                f"nullable ('nullable' is false when left out). Under differential privacy "
                f"the schema must declare \"nullable\": true for a column with missing "
                f"values: the model cannot look at the data to find out.")


def private_schema(df: pd.DataFrame, schema: Schema, config: DPConfig, ledger: PrivacyLedger,
                   numbers: Callable[[ColumnSpec, pd.Series], np.ndarray],
                   rng: np.random.Generator, eps_each: float | None = None) -> Schema:
    """Complete ``schema`` with DP bounds and categories, charging ``ledger`` ``eps_each``
    per release (default: the preprocessing share split over them).

    ``numbers(spec, series)`` converts a continuous or datetime column to float64.
    """
    pending = [c for c in schema.columns if needs_release(c)]
    if pending and config.preprocess_share <= 0:
        column = pending[0]
        what = "min and max" if column.kind is not ColumnKind.CATEGORICAL else "categories"
        raise ConfigError(
            f"Column {column.name!r} needs public {what} under differential privacy: give "
            f"them in the schema, or allow a preprocessing budget (preprocess_share > 0).")
    if eps_each is None:
        eps_each = config.epsilon * config.preprocess_share / max(len(pending), 1)
    n_histograms = sum(c.kind in (ColumnKind.CATEGORICAL, ColumnKind.CONSTANT) for c in pending)
    delta_each = config.delta * config.preprocess_share / max(n_histograms, 1)
    columns = []
    for spec in schema.columns:
        if not needs_release(spec):
            columns.append(spec)
        elif spec.kind in (ColumnKind.CONTINUOUS, ColumnKind.DATETIME):
            low, high = dp_bounds(numbers(spec, df[spec.name]), eps_each, rng)
            ledger.charge("approximate bounds (Laplace log-histogram)", eps_each, 0.0, spec.name)
            columns.append(replace(spec, min=spec.min if spec.min is not None else low,
                                   max=spec.max if spec.max is not None else high))
        else:
            categories = in_declared_order(dp_categories(df[spec.name], eps_each, delta_each,
                                                         rng), df[spec.name].dtype)
            ledger.charge("thresholded noisy histogram", eps_each, delta_each, spec.name)
            if not categories:
                raise ConfigError(
                    f"Column {spec.name!r}: no category is frequent enough to be released at "
                    f"epsilon {eps_each:.3g}; list its categories in the schema or drop it.")
            columns.append(replace(spec, kind=ColumnKind.CATEGORICAL, categories=tuple(categories)))
    return Schema(tuple(columns))


def dp_bounds(values: np.ndarray, epsilon: float, rng: np.random.Generator
              ) -> tuple[float, float]:
    """epsilon-DP approximate range: the outermost log-scale bins whose noisy count is high.

    Bins are data independent: 0, and +/-[2^k, 2^(k+1)) for k in [-64, 64). Each row falls
    in one bin, so the histogram has sensitivity 1 and Laplace(1/epsilon) noise suffices.
    """
    values = values[np.isfinite(values)]
    edges = 2.0 ** np.arange(-LOG2_RANGE, LOG2_RANGE + 1)  # (129,)
    magnitude = np.clip(np.searchsorted(edges, np.abs(values), side="right") - 1, 0,
                        len(edges) - 2)
    positive = np.bincount(magnitude[values > 0], minlength=len(edges) - 1)
    negative = np.bincount(magnitude[values < 0], minlength=len(edges) - 1)
    # Bins from most negative to most positive: -[2^63..), ..., 0, ..., [2^63..)
    counts = np.concatenate([negative[::-1], [np.sum(values == 0)], positive])
    uppers = np.concatenate([-edges[:-1][::-1], [0.0], edges[1:]])
    lowers = np.concatenate([-edges[1:][::-1], [0.0], edges[:-1]])
    noisy = counts + rng.laplace(0.0, 1.0 / epsilon, size=counts.shape)
    kept = np.flatnonzero(bounds_bins(noisy, epsilon))
    if len(kept) == 0:
        kept = np.array([int(np.argmax(noisy))])
    return float(lowers[kept[0]]), float(uppers[kept[-1]])


def bounds_bins(noisy: np.ndarray, epsilon: float) -> np.ndarray:
    """(bins,) which bins of :func:`dp_bounds`'s noisy histogram hold data: a count over
    1 + ln(bins) / epsilon with a neighbour over it too, or alone over the threshold at which
    any of the bins' noise passes it with probability ``FALSE_BOUND_RISK``.

    The lower threshold alone let about one empty bin in two histograms through (each of 257
    passes it with probability 1 / 514), and an empty bin far out set the bound: a column of
    whole numbers 1-16 came out with a maximum of 1.4e17 and synthetic values in the 1e16s.
    Now two neighbouring empty bins both pass with probability about 1e-3 per column (256
    pairs, each 1/514 squared), and an empty bin beside the data (1/514) widens a bound by a
    factor of 2 at most. Post-processing."""
    low = noisy > 1.0 + math.log(len(noisy)) / epsilon
    high = noisy > 1.0 + math.log(len(noisy) / (2 * FALSE_BOUND_RISK)) / epsilon
    beside = np.r_[low[1:], False] | np.r_[False, low[:-1]]
    return (low & beside) | high


def dp_modes(values: np.ndarray, spec: ColumnSpec, epsilon: float,
             rng: np.random.Generator) -> Modes:
    """epsilon-DP modes of a continuous column with (public or released) bounds.

    The bins depend on the bounds alone: exact 0 when the range holds it (zero spikes:
    capital gains, counts; decoded exactly) and ``MODE_BINS`` equal-width bins. Each row
    (clipped to the bounds) falls in one bin, so Laplace(1/epsilon) noise on the counts is
    epsilon-DP. Zeroing counts under ln(bins)/epsilon (bins the noise alone would fill),
    merging neighbouring bins into ``DP_MODES`` modes of about equal noisy mass and dropping
    empty ones are post-processing. So is :func:`_with_gap_modes`: the stretches of the range
    no kept mode reaches (tails whose bins the noise threshold zeroed) get a mode each, so
    that the oldest ages and longest hours keep values there instead of being clipped to the
    edge of the last kept bin.
    """
    low, high = float(spec.min), float(spec.max)
    values = np.clip(values[np.isfinite(values)], low, high)
    zero = low <= 0.0 <= high
    edges = np.linspace(low, high, MODE_BINS + 1)
    spread = values[values != 0.0] if zero else values
    counts = np.histogram(spread, edges)[0]
    noisy = counts + rng.laplace(0.0, 1.0 / epsilon, MODE_BINS)
    # bins no noisy count clears are mostly empty ones lifted by the noise: dropped
    noisy = np.where(noisy > math.log(MODE_BINS) / epsilon, noisy, 0.0)
    weights, means, stds = _merged_bins(noisy, edges)
    if zero:
        zeros = max(0.0, np.sum(values == 0.0) + rng.laplace(0.0, 1.0 / epsilon))
        weights, means = np.append(weights, zeros), np.append(means, 0.0)
        stds = np.append(stds, 0.0)
    point = np.arange(len(weights)) >= len(weights) - int(zero)
    return _with_gap_modes(_kept_modes(weights, means, stds, point), edges)


def _merged_bins(noisy: np.ndarray, edges: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Neighbouring non-empty bins merged into about ``DP_MODES`` runs of equal mass (a run
    never spans an empty bin): (mass, centre, std such that the mode's encoding range,
    centre +/- STD_MULTIPLIER * 0.99 std, is the run)."""
    from synthvae.transforms.continuous import STD_MULTIPLIER

    mass = noisy if noisy.sum() > 0 else np.ones_like(noisy)
    middle = (np.cumsum(mass) - mass / 2) / mass.sum()  # (bins,) cumulative share at centre
    group = np.minimum((middle * DP_MODES).astype(np.int64), DP_MODES - 1)
    group = np.where(mass > 0, group, -1)  # (bins,) run of each bin; -1: empty
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])  # (runs,)
    ends = np.r_[starts[1:], len(mass)]
    runs = np.add.reduceat(mass, starts)
    filled = group[starts] >= 0
    lows, highs = edges[starts[filled]], edges[ends[filled]]
    half = np.maximum(highs - lows, 1e-12) / 2
    return runs[filled], lows + half, half / (STD_MULTIPLIER * 0.99)


def _with_gap_modes(modes: Modes, edges: np.ndarray) -> Modes:
    """``modes`` and one mode for each stretch of the range [edges[0], edges[-1]] that no
    spread mode reaches: each end (at least one bin wide; tails whose bins the noise
    threshold zeroed) and each gap between modes at least ``MIN_GAP_BINS`` bins wide (a
    lone bin the noise lifted past the threshold leaves one beside a thin tail). Each has
    weight ``GAP_MODE_WEIGHT``: the weights only steer which mode a value between two is
    encoded in; the sampler's frequencies are learned. Without them such values were
    encoded as, and decoded to, the edge of the closest kept mode: Adult at epsilon 1 came
    out with no age above 66 and no fnlwgt above 430,000 (benchmarks/results/dp.md); a
    column whose only released mode is a point mass (a zero) decoded every value as it.
    Post-processing of the released modes and the public bounds."""
    from synthvae.transforms.continuous import STD_MULTIPLIER, merged_intervals

    if edges[-1] <= edges[0]:
        return modes
    spread = ~modes.point
    reach = STD_MULTIPLIER * 0.99
    if spread.any():
        lows, highs = merged_intervals(modes.means[spread] - reach * modes.stds[spread],
                                       modes.means[spread] + reach * modes.stds[spread])
    else:  # only point masses were released: the whole range is one stretch
        lows, highs = np.array([edges[-1]]), np.array([edges[-1]])
    starts, stops = np.r_[edges[0], highs], np.r_[lows, edges[-1]]  # (gaps,) incl. ends
    bins = (stops - starts) / ((edges[-1] - edges[0]) / (len(edges) - 1))
    ends = np.zeros(len(bins), dtype=bool)
    ends[[0, -1]] = True
    wide = np.where(ends, bins >= 0.99, bins >= MIN_GAP_BINS - 0.01)
    if not wide.any():
        return modes
    starts, stops = starts[wide], stops[wide]
    half = (stops - starts) / 2
    weights = np.r_[modes.weights * (1 - GAP_MODE_WEIGHT * len(half)),
                    np.full(len(half), GAP_MODE_WEIGHT)]
    return Modes(weights, np.r_[modes.means, starts + half], np.r_[modes.stds, half / reach],
                 np.r_[modes.point, np.zeros(len(half), dtype=bool)])


def _kept_modes(weights, means, stds, point) -> Modes:
    """Modes whose share exceeds ``MIN_MODE_WEIGHT`` (the heaviest one at least)."""
    share = weights / weights.sum() if weights.sum() > 0 else np.ones_like(weights) / len(weights)
    keep = share > MIN_MODE_WEIGHT
    keep[np.argmax(share)] = True
    kept = share[keep] / share[keep].sum()
    return Modes(kept, means[keep], stds[keep], point[keep])


def in_declared_order(released: list, dtype) -> list:
    """``released`` categories of a category dtype in its order if ordered (low < mid <
    high is the column's meaning, kept among the released values), else sorted as pandas
    sorts them (a function of the released set; the dtype's own order may be the rows'
    order of appearance); other columns' as released."""
    if not isinstance(dtype, pd.CategoricalDtype):
        return released
    if dtype.ordered:
        rank = {v: i for i, v in enumerate(dtype.categories)}
        return sorted(released, key=rank.__getitem__)
    try:
        return sorted(released)
    except TypeError:  # values of several types
        return released


def dp_categories(series: pd.Series, epsilon: float, delta: float, rng: np.random.Generator
                  ) -> list:
    """(epsilon, delta)-DP category list: values whose Laplace-noised count passes
    1 + ln(1 / (2 delta)) / epsilon (stability-based histogram; unseen values are never
    released, so the domain needs no public list)."""
    counts = series.value_counts(dropna=True)
    counts = counts[counts > 0]  # a category dtype's unused categories are not candidates
    noisy = counts.to_numpy(float) + rng.laplace(0.0, 1.0 / epsilon, size=len(counts))
    threshold = 1.0 + math.log(1.0 / (2.0 * delta)) / epsilon
    kept = counts.index[noisy > threshold]
    order = np.argsort(-noisy[noisy > threshold], kind="stable")
    return [v.item() if isinstance(v, np.generic) else v for v in kept[order]]


# ----------------------------------------------------------------------------- frequencies


def dp_slot_frequencies(matrix: np.ndarray, layout: SpanLayout, epsilon: float,
                        delta: float, accountant: str, rng: np.random.Generator
                        ) -> tuple[np.ndarray, np.ndarray]:
    """((n_slots,) noisy share of the encoded rows holding each softmax slot of ``layout``,
    (n_groups,) each span's noise standard deviation in rows): :func:`noisy_slot_counts`
    (the release), each span's counts projected onto the counts a table of the released
    size can hold (:func:`project_span_counts`) and divided by their sum (post-processing)."""
    counts, stds = noisy_slot_counts(matrix, layout, epsilon, delta, accountant, rng)
    groups = layout.slot_group.numpy()
    projected = project_span_counts(counts, groups, span_totals(counts, groups, stds))
    return projected / np.bincount(groups, weights=projected)[groups], stds


def span_totals(counts: np.ndarray, groups: np.ndarray, stds: np.ndarray) -> np.ndarray:
    """(n_groups,) the rows each span's projection keeps (at least 1): the smaller of its own
    noisy sum and the number of rows estimated from every span.

    A row holds at most one slot of each span, so every span's counts sum to the rows,
    plus noise of variance ``slots * std**2``, less the rows that hold none of its slots (a
    category a DP category list did not release is encoded as no slot). The estimate
    averages the spans' sums with inverse-variance weights; a span whose own sum is below it
    keeps its own, so rows holding none of its slots are not spread over its slots.
    """
    sums = np.bincount(groups, weights=counts)
    precision = 1.0 / (np.bincount(groups) * stds ** 2)
    rows = float((sums * precision).sum() / precision.sum())
    return np.maximum(np.minimum(sums, rows), 1.0)


def span_noise_weights(layout: SpanLayout) -> np.ndarray:
    """(n_groups,) each span's weight in the frequency release: the cube root of its slots.

    The release adds the same noise to every weighted count, so a span's counts carry noise
    inversely proportional to its weight. A span's summed error grows with its slots times
    its noise (most slots of a wide span are small counts), and the total over spans, for a
    fixed L2 sensitivity, is smallest with weights proportional to the cube root of the
    slots: Adult's 42 country slots get 0.6 of the even split's noise, its two-slot spans 1.7x.
    """
    return layout.group_widths.numpy().astype(float) ** (1.0 / 3.0)


def project_span_counts(counts: np.ndarray, groups: np.ndarray, totals) -> np.ndarray:
    """The closest (Euclidean) non-negative counts summing to ``totals`` (one positive number
    for every span, or one for all) in each span (spans given by ``groups``, 0 to n_groups -
    1, slot by slot): each span's counts less one shift, negatives set to 0.

    Setting negative noisy counts to 0 alone lifts every small slot by the noise's positive
    half (about 0.4 of its standard deviation): a span of many rare categories then takes
    rows from its common ones (Adult's 42 country slots at epsilon 1: the United States 0.83
    of the rows instead of 0.90). The projection takes the excess back from every slot alike
    ("Norm-Sub", Wang et al., NDSS 2020, which compares such post-processings of noisy
    histograms). Vectorised over spans: slots sorted by count within their span, the shift
    for the k largest is ``(their sum - span total) / k``, and a span's shift is the one of its
    largest k whose smallest count stays above it.
    """
    totals = np.broadcast_to(np.asarray(totals, dtype=float), (groups.max() + 1,))
    if not (totals > 0).all():
        raise ValueError(f"Span totals must be positive; got {totals.min()}.")
    order = np.lexsort((-counts, groups))  # by span, then by count, largest first
    values, span = counts[order], groups[order]
    starts = np.searchsorted(span, np.arange(len(totals)))
    running = np.cumsum(values)
    within = running - np.where(starts > 0, running[starts - 1], 0.0)[span]
    rank = np.arange(len(values)) - starts[span] + 1
    shift = (within - totals[span]) / rank
    kept = np.bincount(span, weights=values > shift).astype(int)  # always >= 1
    return np.maximum(counts - shift[starts + kept - 1][groups], 0.0)


def noisy_slot_counts(matrix: np.ndarray, layout: SpanLayout, epsilon: float, delta: float,
                      accountant: str, rng: np.random.Generator
                      ) -> tuple[np.ndarray, np.ndarray]:
    """((n_slots,) the encoded rows holding each softmax slot of ``layout`` plus Gaussian
    noise, (n_groups,) each span's noise standard deviation): an (epsilon, delta)-DP release.

    The released vector holds each slot's count times its span's weight
    (:func:`span_noise_weights`). Each row holds at most one slot of each softmax span (a
    category, a mode, null or not), so adding or removing a row moves that vector by at
    most ``sqrt(sum of squared weights)`` in L2 norm; Gaussian noise of that times the noise
    multiplier for one release at (epsilon, delta) (the fit's accountant, a single step at
    sampling rate 1) is added to every entry, and dividing by the weights afterwards is
    post-processing. Rows that are not one-hot per span are refused before anything is
    released.
    """
    slots = torch.as_tensor(matrix, dtype=torch.float64)[:, layout.slot_index]
    if not (((slots == 0) | (slots == 1)).all() and (layout.group_sum(slots) <= 1).all()):
        raise ConfigError("The encoded rows are not one-hot in every softmax span, so the "
                          "sensitivity of their slot counts is not bounded; no frequency "
                          "was released. Fit with calibrate=False or calibration_share=0.")
    weights = span_noise_weights(layout)
    sensitivity = math.sqrt(float((weights ** 2).sum()))
    noise = gaussian_noise_multiplier(epsilon, delta, accountant) * sensitivity
    weighted = slots.sum(0).numpy() * weights[layout.slot_group.numpy()]
    noisy = weighted + rng.normal(0.0, noise, slots.shape[1])
    return noisy / weights[layout.slot_group.numpy()], noise / weights


def gaussian_noise_multiplier(epsilon: float, delta: float, accountant: str) -> float:
    """Noise standard deviation per unit of L2 sensitivity for one Gaussian release that
    the ``accountant`` ("prv" or "rdp") prices at (epsilon, delta) or less."""
    solution = solve_noise(epsilon, delta, 1.0, 1, accountant, tolerance=0.001)
    if solution is None:
        other = " or use accountant='prv'" if accountant == "rdp" else ""
        raise ConfigError(f"The frequency release cannot be priced at epsilon "
                          f"{epsilon:.3g}, delta {delta:.3g} with the {accountant!r} "
                          f"accountant (no noise multiplier up to {MAX_NOISE:.0e} fits it); "
                          f"raise calibration_share{other}.")
    return solution.noise_multiplier


# ----------------------------------------------------------------------------- accounting


@dataclass(frozen=True)
class NoiseSolution:
    noise_multiplier: float
    epsilon: float  # what the accountant certifies for it: at most the target


def solve_noise(epsilon: float, delta: float, sample_rate: float, steps: int,
                accountant: str, tolerance: float) -> NoiseSolution | None:
    """The smallest noise multiplier found whose ``steps`` Poisson-sampled Gaussian steps
    the ``accountant`` prices at (epsilon, delta) or less, with that price; None when even
    ``MAX_NOISE`` is priced over it.

    The multipliers tried are those of Opacus's ``get_noise_multiplier`` (doubling from 20,
    then bisection until the price is within ``tolerance`` under the target), with bounds:
    a multiplier the accountant cannot price (:func:`certified_epsilon` is inf) counts as
    over the target, and the bisection also stops once the bracket is narrower than
    ``NOISE_PRECISION`` of the multiplier (``RANGE_PRECISION`` where its lower end could
    not be priced: each price there is the slowest), or after ``MAX_ACCOUNTANT_CALLS``
    prices. Given a target the PRV accountant cannot price (DP-SGD's 800 of epsilon 1,000
    on 3,000 rows: it returns inf below a noise multiplier of about 0.06), Opacus's loop
    bisected forever. The price returned is the accountant's own, so it bounds what the
    release spends even where it falls short of the target.
    """
    def price(noise: float) -> float:
        return certified_epsilon(noise, sample_rate, steps, delta, accountant)

    low, high, spent, calls, unpriced = 0.0, 10.0, math.inf, 0, False
    while spent > epsilon:
        if high >= MAX_NOISE:
            return None
        high = min(high * 2, MAX_NOISE)  # MAX_NOISE itself is tried last
        spent, calls = price(high), calls + 1
    while (epsilon - spent > tolerance and calls < MAX_ACCOUNTANT_CALLS
           and high - low > (RANGE_PRECISION if unpriced else NOISE_PRECISION) * high):
        middle = (low + high) / 2
        priced, calls = price(middle), calls + 1
        if priced < epsilon:
            high, spent = middle, priced
        else:
            low, unpriced = middle, math.isinf(priced)
    return NoiseSolution(high, spent)


def certified_epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float,
                      accountant: str) -> float:
    """The epsilon at ``delta`` that the ``accountant`` certifies for ``steps``
    Poisson-sampled Gaussian steps, or inf where it cannot price them: an error of the
    accountant (Opacus's PRV raises "Discrete mean differs significantly from continuous
    mean" at small noise), a non-finite result, or a PRV grid it cannot compute on
    (:class:`BoundedPRVAccountant`)."""
    acc = ACCOUNTANTS[accountant]()
    acc.history = [(noise_multiplier, sample_rate, steps)]
    with warnings.catch_warnings(), np.errstate(all="ignore"):  # PRV at rate 1: log(0)
        warnings.simplefilter("ignore", UserWarning)  # RDP: "optimal order is the largest"
        try:
            spent = float(acc.get_epsilon(delta=delta))
        except (ArithmeticError, RuntimeError, ValueError):
            return math.inf
    return spent if math.isfinite(spent) else math.inf


class BoundedPRVAccountant(PRVAccountant):
    """Opacus's PRV accountant, refusing (OverflowError) a grid it cannot compute on.

    It discretises the privacy loss on [-L, L] (L from the RDP bound; the mesh shrinks as
    sqrt(steps) grows) and evaluates exp(t) over it. L must stay under ``PRV_MAX_LOSS``:
    past it exp overflows, and the accountant returned inf (a sampling rate of 1/6 over 6
    steps) or raised (a rate of 1); epsilons up to about 550-650 stay within. The grid must
    stay under ``PRV_MAX_GRID`` points, or one price would take minutes and gigabytes.
    """

    def _get_domain(self, *args, **kwargs):
        domain = super()._get_domain(*args, **kwargs)
        if max(-domain.t_min, domain.t_max) > PRV_MAX_LOSS or domain.size > PRV_MAX_GRID:
            raise OverflowError(f"PRV grid [{domain.t_min:.4g}, {domain.t_max:.4g}] of "
                                f"{domain.size} points")
        return domain


ACCOUNTANTS = {"prv": BoundedPRVAccountant, "rdp": RDPAccountant}


# ----------------------------------------------------------------------------- DP-SGD


@dataclass(frozen=True)
class SGDPlan:
    sample_rate: float
    steps: int
    noise_multiplier: float
    epsilon: float  # what the accountant reports for the plan
    delta: float


def plan_sgd(n_rows: int, batch_size: int, epochs: int, epsilon: float, delta: float,
             accountant: str) -> SGDPlan:
    """Poisson rate, steps and the noise multiplier that spends (epsilon, delta): within
    ``tolerance`` of it, or less where the accountant cannot price that little noise (the
    PRV past epsilon 550-650 on a few steps, less on many: :class:`BoundedPRVAccountant`),
    with a warning; the plan's epsilon is what the accountant certifies."""
    if accountant not in ACCOUNTANTS:
        raise ConfigError(f"The 'accountant' must be one of {sorted(ACCOUNTANTS)}. Got "
                          f"{accountant!r} instead.")
    sample_rate = min(1.0, batch_size / n_rows)
    steps = max(1, epochs * math.ceil(1.0 / sample_rate))
    tolerance = 0.005
    solution = solve_noise(epsilon, delta, sample_rate, steps, accountant, tolerance)
    if solution is None:
        raise ConfigError(f"DP-SGD cannot be priced at epsilon {epsilon:.3g}, delta "
                          f"{delta:.3g} with the {accountant!r} accountant: {steps} steps at "
                          f"sampling rate {sample_rate:.3g} cost more even with noise "
                          f"multiplier {MAX_NOISE:.0e}. Raise epsilon or delta, or train "
                          f"fewer epochs.")
    if epsilon - solution.epsilon > max(tolerance, 0.01 * epsilon):
        other = "; accountant='rdp' prices larger ones" if accountant == "prv" else ""
        warnings.warn(f"The {accountant!r} accountant can price DP-SGD up to epsilon "
                      f"{solution.epsilon:.4g} for this plan ({steps} steps at sampling rate "
                      f"{sample_rate:.3g}), not the {epsilon:.4g} left for it: the fit spends "
                      f"{solution.epsilon:.4g}, with the least noise priced{other}.",
                      SynthvaeWarning, stacklevel=2)
    return SGDPlan(sample_rate, steps, solution.noise_multiplier, solution.epsilon, delta)


@register_norm_sampler(MaskedLinear)
def masked_linear_norms(layer: MaskedLinear, activations: list[torch.Tensor],
                        backprops: torch.Tensor) -> dict:
    """Each row's gradient norm for a masked linear layer (the autoregressive decoder's),
    for Opacus's ghost clipping. The row's weight gradient is ``(g a^T) * M`` (backprop
    ``g``, input ``a``, mask ``M``), so its squared norm is ``sum_jk g_j^2 M_jk a_k^2``:
    ``(g^2 @ M) . a^2``, never materialised per row. (A plain linear layer's rule,
    ``|g| |a|``, would overstate it.)"""
    a, g, mask = activations[0], backprops, layer.mask
    if g.dim() != 2:
        raise ValueError(f"MaskedLinear takes (batch, features) inputs; got {g.dim()}-d.")
    a = a.to(g.dtype)
    norms = {layer.weight: torch.sqrt(((g * g) @ mask.to(g.dtype) * (a * a)).sum(1))}
    if layer.bias is not None and layer.bias.requires_grad:
        norms[layer.bias] = g.norm(dim=1)
    return norms


class DPStep:
    """DP-SGD as a step strategy of the one training loop (:mod:`synthvae.steps`).

    Per-sample clipping by Opacus's ghost clipping (Li et al. 2022, "Large language models
    can be strong differentially private learners"; Opacus ``grad_sample_mode="ghost"``):
    a first backward pass of the batch's mean loss gives every row's gradient norm without
    materialising per-sample gradients (for a linear layer it is ``|backprop| * |input|``;
    the VAE is linear layers and ReLUs only), and a second backward pass of
    ``sum(c_i * loss_i)``, with ``c_i = min(1, max_grad_norm / norm_i)``, gives the sum of
    the clipped per-sample gradients directly. The optimizer adds Gaussian noise of
    ``noise_multiplier * max_grad_norm`` and divides by ``expected_batch_size`` (Poisson
    batches vary in size): the same release as clipping materialised per-sample gradients,
    at about two plain backward passes.
    A logical batch is split into physical chunks of at most ``max_physical_batch`` rows.
    With ``parallel`` (a distributed fit) every rank gets its share of the same global
    Poisson batch (``batches.RankShare``); Opacus's distributed optimizer sums the clipped
    gradients over the ranks and rank 0 alone adds the noise, so each step releases exactly
    what one process would.
    """

    hint = "Lower the learning rate (lr={lr}) or max_grad_norm."

    def __init__(self, model, layout, config, generator: torch.Generator,
                 noise_multiplier: float, max_grad_norm: float, expected_batch_size: float,
                 max_physical_batch: int = 4096, parallel=None):
        from synthvae.steps import adam

        self.model, self.layout, self.config, self.generator = model, layout, config, generator
        self.parallel, self.max_physical_batch = parallel, max_physical_batch
        self.net, optimizer_class = _private_module(model, parallel, max_grad_norm)
        # each rank divides by its share; the all-reduce then averages: sum / global expected
        share = 1 if parallel is None else parallel.world_size
        self.optimizer = optimizer_class(
            adam(self.net.parameters(), config), noise_multiplier=noise_multiplier,
            max_grad_norm=max_grad_norm, expected_batch_size=expected_batch_size / share,
            generator=generator)

    @classmethod
    def planned(cls, model, layout, config, plan: SGDPlan, dp: DPConfig, n_rows: int,
                generator: torch.Generator, parallel=None) -> "DPStep":
        """The step that spends ``plan`` (the noise the accountant charged for)."""
        expected = max(1, round(plan.sample_rate * n_rows))  # global expected batch
        return cls(model, layout, config, generator, plan.noise_multiplier,
                   dp.max_grad_norm, expected, dp.max_physical_batch, parallel)

    def __call__(self, batch, weight: float) -> torch.Tensor:
        """One logical DP-SGD step. Chunks before the last only accumulate their sums of
        clipped gradients (Opacus's skip signal, as its BatchMemoryManager does); the last
        adds the noise and updates. Returns the batch's mean (loss, recon, kl)."""
        self.net.train()
        rows = batch.data
        if len(rows) == 0:  # an empty Poisson batch still takes a (noise-only) step
            return self._noise_only_step(rows.device)
        chunks = torch.split(rows, self.max_physical_batch)
        totals = torch.zeros(3, device=rows.device)
        for i, chunk in enumerate(chunks):
            self.optimizer.zero_grad(set_to_none=True)  # keeps the sums of skipped chunks
            terms = self._row_terms(chunk, weight)
            with warnings.catch_warnings():  # the input rows need no gradient: expected
                warnings.filterwarnings("ignore", message="Full backward hook")
                DPTensorFastGradientClipping(self.net, self.optimizer, terms.loss,
                                             "mean").backward()
            totals += torch.stack([t.detach().sum() for t in terms])
            self.optimizer.signal_skip_step(do_skip=i < len(chunks) - 1)
            self.optimizer.step()
        return totals / len(rows)

    def _row_terms(self, rows: torch.Tensor, weight: float):
        """Each row's objective under fresh latent noise, drawn as the plain step draws it."""
        from synthvae.losses import row_objective
        from synthvae.steps import latent_dim_of

        noise = torch.randn((len(rows), latent_dim_of(self.net)), generator=self.generator,
                            device=rows.device)
        return row_objective(self.net(rows, noise), rows, self.layout, self.config, weight)

    def _noise_only_step(self, device) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        for p in self.net.parameters():
            p.grad = torch.zeros_like(p)
        self.optimizer.step()
        return torch.zeros(3, device=device)

    def epoch_means(self, totals: torch.Tensor, steps: int) -> torch.Tensor:
        """The epoch's mean per-step terms (the ranks' mean; shown to the user only)."""
        if self.parallel is not None:
            torch.distributed.all_reduce(totals)
            totals = totals / self.parallel.world_size
        return totals / max(steps, 1)

    def close(self) -> None:
        """Remove Opacus's hooks from the model."""
        self.net._close()


def _private_module(model, parallel, max_grad_norm: float):
    """(the model wrapped for per-sample gradient norms, the DP optimizer class).

    Parameters with no elements (the output sigmas of a table without numeric columns) are
    frozen first: they never reach the loss, so Opacus would find no per-sample norm for them.
    Freezing them changes nothing (they hold no value)."""
    for parameter in model.parameters():
        if parameter.numel() == 0:
            parameter.requires_grad_(False)
    if parallel is None:
        return GradSampleModuleFastGradientClipping(
            model, loss_reduction="mean", max_grad_norm=max_grad_norm,
            use_ghost_clipping=True), DPOptimizerFastGradientClipping
    from opacus.distributed import DifferentiallyPrivateDistributedDataParallel
    from opacus.optimizers import DistributedDPOptimizerFastGradientClipping

    return (GradSampleModuleFastGradientClipping(
        DifferentiallyPrivateDistributedDataParallel(model), loss_reduction="mean",
        max_grad_norm=max_grad_norm, use_ghost_clipping=True),
        DistributedDPOptimizerFastGradientClipping)


def private_generators(seed: int, parallel, device) -> tuple[torch.Generator, torch.Generator]:
    """(this process's generator for latent and DP noise, the batch sampler's generator).

    One process uses one generator for both. In a distributed fit the sampler's stream is
    shared by all ranks (they must agree on the Poisson batch) and the noise streams are
    each rank's own.
    """
    generator = torch.Generator(device=device).manual_seed(seed)
    if parallel is None:
        return generator, generator
    sampler_seed = int(np.random.SeedSequence(seed, spawn_key=(0,)).generate_state(1)[0])
    rank_seed = int(np.random.SeedSequence(seed, spawn_key=(1, parallel.rank))
                    .generate_state(1)[0])
    return (torch.Generator(device=device).manual_seed(rank_seed),
            torch.Generator(device=device).manual_seed(sampler_seed))


def private_loop(model, rows: torch.Tensor, layout, config, plan: SGDPlan, dp: DPConfig,
                 parallel=None):
    """(batch source, step strategy) of a DP fit: Poisson batches at the plan's rate, its
    steps spread evenly over the epochs, and the DP-SGD step that spends the plan; in a
    distributed fit each rank's share of the same global batches."""
    from synthvae.batches import PoissonBatches, RankShare

    generator, sampler = private_generators(config.seed, parallel, rows.device)
    source = PoissonBatches(rows, plan.sample_rate, max(1, plan.steps // config.epochs),
                            sampler)
    if parallel is not None:
        source = RankShare(source, parallel.rank, parallel.world_size)
    return source, DPStep.planned(model, layout, config, plan, dp, len(rows), generator,
                                  parallel)

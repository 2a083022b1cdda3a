"""Conditions on sampled rows: ``{"sex": "Female", "age": (30, 40)}``, parsed and checked.

Each condition is bound to its column's transformer and encoded positions, and answers three
questions, all vectorized over rows:

* ``log_prob(logits, sigma)``: log P(the decoded row meets the condition | z), read off the
  decoder's output distribution for that column (softmax slots; for numbers the mode softmax
  and the truncated Gaussian of the scalar, with point-mass modes exact);
* ``impose(matrix, logits, sigma, generator)``: overwrite the column's encoded spans with a
  draw from that distribution restricted to the condition;
* ``holds(frame)``: which decoded rows meet it (a final check after rounding).

The decoder factorizes over columns given z, so restricting one column's draw and weighting z
by the condition's probability gives the model's conditional distribution of the other
columns (see :mod:`synthvae.conditional`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from synthvae.errors import ConfigError
from synthvae.schema import ColumnKind
from synthvae.transforms.categorical import OneHotEncoder
from synthvae.transforms.continuous import STD_MULTIPLIER, ModeSpecificNormalizer

RANGE_SEPARATOR = ".."


def parse_where(texts: list[str]) -> dict:
    """CLI ``--where`` texts -> a conditions dict of strings.

    ``col=value`` asks for one value; ``col=lo..hi``, ``col=lo..`` and ``col=..hi`` for an
    inclusive range; ``col=`` (nothing after the sign) for an empty cell.
    """
    conditions: dict = {}
    for text in texts:
        name, sign, value = text.partition("=")
        if not sign or not name:
            raise ConfigError(f"A --where condition reads COLUMN=VALUE or COLUMN=LOW..HIGH. "
                              f"Got {text!r} instead.")
        if name in conditions:
            raise ConfigError(f"Column {name!r} has two --where conditions; give one.")
        if value == "":
            conditions[name] = None
        elif RANGE_SEPARATOR in value:
            low, _, high = value.partition(RANGE_SEPARATOR)
            conditions[name] = (low or None, high or None)
        else:
            conditions[name] = value
    return conditions


def bind_conditions(conditions: dict, transformer, layout) -> list:
    """Check ``conditions`` against the fitted table; one bound condition per column."""
    if not isinstance(conditions, dict) or not conditions:
        raise ConfigError(f"conditions must be a non-empty dict of column -> value or "
                          f"(low, high). Got {conditions!r} instead.")
    by_name = {t.spec.name: (t, cols) for t, cols in
               zip(transformer.transformers_, transformer.slices_)}
    bound = []
    for name, wanted in conditions.items():
        if name not in by_name:
            raise ConfigError(f"Cannot condition on column {name!r}: the model has no such "
                              f"column. Its columns are {list(by_name)}.")
        column, cols = by_name[name]
        bound.append(_bind(column, cols, wanted, layout))
    return [b for b in bound if b is not None]


def _bind(column, cols: slice, wanted, layout):
    kind = column.spec.kind
    name = column.spec.name
    if wanted is None and not column.spec.nullable:
        raise ConfigError(f"Column {name!r} has no empty cells in the training data, so no "
                          f"row can meet a condition asking for one.")
    if kind is ColumnKind.CATEGORICAL:
        return CategoryCondition.bind(column, cols, wanted)
    if kind in (ColumnKind.CONTINUOUS, ColumnKind.DATETIME):
        return RangeCondition.bind(column, cols, wanted, layout)
    if kind is ColumnKind.CONSTANT:
        if wanted is None or _same_value(wanted, column.spec.value):
            return None  # every row meets it
        raise ConfigError(f"Column {name!r} is constant ({column.spec.value!r}); no row has "
                          f"{wanted!r}.")
    raise ConfigError(f"Cannot condition on column {name!r}: it is an identifier, "
                      f"regenerated as unique values rather than modelled.")


def _same_value(wanted, value) -> bool:
    return wanted == value or str(wanted) == str(value)


# ---------------------------------------------------------------------------- categorical


@dataclass
class CategoryCondition:
    """A categorical column equal to one value, or to one of several."""

    column: OneHotEncoder
    slots: torch.Tensor  # encoded positions of the allowed slots
    slot_log_weights: torch.Tensor  # within-slot log share (rare values share 'other')
    values: list  # the allowed values, as the column stores them
    rare: list  # allowed values grouped into 'other': assigned after decoding
    start: int
    stop: int

    @classmethod
    def bind(cls, column: OneHotEncoder, cols: slice, wanted) -> "CategoryCondition":
        wanted_list = list(wanted) if isinstance(wanted, (list, set, frozenset)) else [wanted]
        known = list(column.categories_)
        slots, shares, values, rare = [], [], [], []
        for item in wanted_list:
            if item is None:
                slots.append(column.width - 1)
                shares.append(1.0)
                values.append(None)
                continue
            match = _find(item, known)
            if match is not None:
                slots.append(known.index(match))
                shares.append(1.0)
                values.append(match)
                continue
            match = _find(item, column.rare_values_)
            if match is None:
                raise ConfigError(
                    f"Column {column.spec.name!r} never holds {item!r} in the training data; "
                    f"known values include {known[:8]}.")
            index = column.rare_values_.index(match)
            slots.append(len(known))  # the 'other' slot
            shares.append(column.rare_weights_[index])
            values.append(match)
            rare.append(match)
        if rare and len(wanted_list) > 1:
            raise ConfigError(f"Column {column.spec.name!r}: a list of values can only name "
                              f"modelled values, not rare ones grouped as 'other' "
                              f"({rare[0]!r}); ask for it alone.")
        return cls(column, torch.tensor(slots, dtype=torch.long) + cols.start,
                   torch.log(torch.tensor(shares, dtype=torch.float32)), values, rare,
                   cols.start, cols.stop)

    def to(self, device) -> "CategoryCondition":
        self.slots = self.slots.to(device)
        self.slot_log_weights = self.slot_log_weights.to(device)
        return self

    def _allowed_log_probs(self, logits: torch.Tensor) -> torch.Tensor:
        span = torch.log_softmax(logits[:, self.start:self.stop], dim=1)
        return span[:, self.slots - self.start] + self.slot_log_weights  # (batch, allowed)

    def log_prob(self, logits: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(self._allowed_log_probs(logits), dim=1)

    def impose(self, matrix, logits, sigma, generator) -> None:
        choice = _draw(self._allowed_log_probs(logits), generator)
        matrix[:, self.start:self.stop] = 0.0
        rows = torch.arange(len(matrix), device=matrix.device)
        matrix[rows, self.slots[choice]] = 1.0

    def finish(self, frame: pd.DataFrame) -> None:
        if self.rare:  # the 'other' slot decodes to a random rare value: set the asked one
            frame[self.column.spec.name] = _fill_like(frame[self.column.spec.name],
                                                      self.rare[0])

    def holds(self, frame: pd.DataFrame) -> np.ndarray:
        series = frame[self.column.spec.name]
        wanted = [v for v in self.values if v is not None]
        ok = series.isin(wanted).to_numpy() if wanted else np.zeros(len(series), bool)
        if None in self.values:
            ok |= series.isna().to_numpy()
        return ok


def _find(item, values: list):
    """The element of ``values`` equal to ``item``, also when item is its text (CLI input)."""
    for value in values:
        if type(item) is type(value) and item == value:
            return value
    number = _as_number(item, text_too=True)
    if number is not None:  # 1 asks for 1.0: integer columns with gaps are float64 inside
        for value in values:
            if _as_number(value) == number:
                return value
    text = str(item).strip().lower()
    for value in values:
        if str(value).strip().lower() == text:
            return value
    return None


def _as_number(value, text_too: bool = False) -> float | None:
    """``value`` as a float when it is a number (or, with ``text_too``, a number's text)."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, float, np.number)):
        return float(value)
    if text_too and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _fill_like(series: pd.Series, value) -> pd.Series:
    filled = pd.Series([value] * len(series), index=series.index, dtype=object)
    try:
        return filled.astype(series.dtype)
    except (TypeError, ValueError):
        return filled


# ---------------------------------------------------------------------------- numbers


@dataclass
class RangeCondition:
    """A continuous or datetime column within [low, high] (either end open), or empty."""

    column: ModeSpecificNormalizer
    low: float  # in the transformer's numbers (seconds for datetimes); -inf when open
    high: float
    want_null: bool
    scalar: int  # encoded position of the scalar
    scalar_index: int  # its index among the decoder's sigmas
    modes: slice  # encoded positions of the mode slots
    null: slice | None  # encoded positions of [present, missing]
    mode_lo: torch.Tensor  # (K,) scalar-space interval of each mode (+-inf when clamped)
    mode_hi: torch.Tensor
    mode_ok: torch.Tensor  # (K,) log of 1 or 0: the mode can produce an allowed value

    @classmethod
    def bind(cls, column: ModeSpecificNormalizer, cols: slice, wanted, layout
             ) -> "RangeCondition":
        name = column.spec.name
        scalar = cols.start
        scalar_index = int((layout.scalar_index.cpu() == scalar).nonzero()[0, 0])
        modes = slice(cols.start + 1, cols.start + 1 + column.n_modes)
        null = slice(cols.stop - 2, cols.stop) if column.spec.nullable else None
        if wanted is None:
            lo = hi = torch.zeros(column.n_modes)
            return cls(column, -math.inf, math.inf, True, scalar, scalar_index, modes, null,
                       lo, hi, torch.zeros(column.n_modes))
        low, high = _bounds(column, wanted)
        if low > column.max_ or high < column.min_:
            raise ConfigError(
                f"Column {name!r}: no training value lies in the asked range "
                f"{_show(column, low)}..{_show(column, high)}; the model knows "
                f"{_show(column, column.min_)}..{_show(column, column.max_)}.")
        half = _rounding_half_width(column)
        lo_value = -math.inf if low <= column.spread_min_ else low - half
        hi_value = math.inf if high >= column.spread_max_ else high + half
        means = torch.tensor(column.means_, dtype=torch.float64)
        scale = torch.tensor(STD_MULTIPLIER * column.stds_, dtype=torch.float64)
        lo = (lo_value - means) / scale
        hi = (hi_value - means) / scale
        reachable = (lo < 1.0) & (hi > -1.0)
        point = torch.tensor(column.point_)
        on_point = (means >= low - half) & (means <= high + half)
        ok = torch.where(point, on_point, reachable)
        lo = torch.where(lo <= -1.0, -math.inf, lo)
        hi = torch.where(hi >= 1.0, math.inf, hi)
        log_ok = torch.where(ok, 0.0, -math.inf)
        return cls(column, low, high, False, scalar, scalar_index, modes, null,
                   lo.float(), hi.float(), log_ok.float())

    def to(self, device) -> "RangeCondition":
        self.mode_lo, self.mode_hi = self.mode_lo.to(device), self.mode_hi.to(device)
        self.mode_ok = self.mode_ok.to(device)
        return self

    def _presence(self, logits: torch.Tensor) -> torch.Tensor:
        """log P(present) (or P(missing) when an empty cell is asked for), (batch,)."""
        if self.null is None:
            return logits.new_zeros(len(logits))
        return torch.log_softmax(logits[:, self.null], dim=1)[:, int(self.want_null)]

    def _mode_log_probs(self, logits, sigma) -> tuple[torch.Tensor, torch.Tensor,
                                                      torch.Tensor]:
        """log P(mode k and an allowed value) (batch, K), with the scalar mean and sigma."""
        mean = torch.tanh(logits[:, self.scalar])[:, None]  # (batch, 1)
        sd = sigma[:, self.scalar_index][:, None]
        point = torch.as_tensor(self.column.point_, device=logits.device)
        interval = log_normal_interval((self.mode_lo - mean) / sd, (self.mode_hi - mean) / sd)
        interval = torch.where(point, 0.0, interval)
        modes = torch.log_softmax(logits[:, self.modes], dim=1)
        return modes + interval + self.mode_ok, mean, sd

    def log_prob(self, logits: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        if self.want_null:
            return self._presence(logits)
        joint, _, _ = self._mode_log_probs(logits, sigma)
        return torch.logsumexp(joint, dim=1) + self._presence(logits)

    def impose(self, matrix, logits, sigma, generator) -> None:
        if self.null is not None:
            matrix[:, self.null] = 0.0
            matrix[:, self.null.start + int(self.want_null)] = 1.0
        if self.want_null:
            return
        joint, mean, sd = self._mode_log_probs(logits, sigma)
        mode = _draw(joint, generator)  # (batch,)
        rows = torch.arange(len(matrix), device=matrix.device)
        lo, hi = self.mode_lo[mode], self.mode_hi[mode]
        value = truncated_normal(mean[:, 0], sd[:, 0], lo, hi, generator)
        value = torch.where(torch.as_tensor(self.column.point_, device=matrix.device)[mode],
                            0.0, value)
        matrix[:, self.scalar] = value.clamp(-1.0, 1.0)
        matrix[:, self.modes] = 0.0
        matrix[rows, self.modes.start + mode] = 1.0

    def finish(self, frame: pd.DataFrame) -> None:
        return None

    def holds(self, frame: pd.DataFrame) -> np.ndarray:
        numbers = self.column.to_numbers(frame[self.column.spec.name])
        if self.want_null:
            return np.isnan(numbers)
        with np.errstate(invalid="ignore"):
            return (numbers >= self.low) & (numbers <= self.high)


def _bounds(column: ModeSpecificNormalizer, wanted) -> tuple[float, float]:
    """(low, high) in the column's numbers from a value or a (low, high) pair."""
    if isinstance(wanted, (tuple, list)) and len(wanted) == 2:
        low, high = wanted
    elif isinstance(wanted, (tuple, list)):
        raise ConfigError(f"Column {column.spec.name!r}: a range is (low, high). Got "
                          f"{wanted!r} instead.")
    else:
        low = high = wanted
    low = -math.inf if low is None else _number(column, low)
    high = math.inf if high is None else _number(column, high)
    if low > high:
        raise ConfigError(f"Column {column.spec.name!r}: the range's low end "
                          f"{_show(column, low)} is above its high end {_show(column, high)}.")
    return low, high


def _number(column: ModeSpecificNormalizer, value) -> float:
    if column.spec.kind is ColumnKind.CONTINUOUS:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
    else:
        number = _seconds(value, column.spec.timezone)
    if not math.isfinite(number):
        expected = "a number" if column.spec.kind is ColumnKind.CONTINUOUS else "a datetime"
        raise ConfigError(f"Column {column.spec.name!r} holds {expected}; the condition's "
                          f"value {value!r} is not one.")
    return number


def _seconds(value, timezone: str | None) -> float:
    """A date or datetime (text or timestamp) as seconds since the epoch, UTC; NaN if none.
    A value without a time zone is read in the column's own time zone."""
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        return math.nan
    if stamp is pd.NaT:
        return math.nan
    if stamp.tz is None and timezone:
        stamp = stamp.tz_localize(timezone)
    if stamp.tz is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.value / 1e9


def _rounding_half_width(column: ModeSpecificNormalizer) -> float:
    """Half the rounding step of decoded values: values within it round into the range."""
    if column.spec.kind is ColumnKind.DATETIME:
        return getattr(column, "resolution_", 0) / 2
    if column.spec.integer or column.spec.decimals == 0:
        return 0.5
    if column.spec.decimals is not None:
        return 0.5 * 10.0 ** -column.spec.decimals
    return 0.0


def _show(column, number: float) -> str:
    if column.spec.kind is ColumnKind.DATETIME and math.isfinite(number):
        return str(pd.Timestamp(number, unit="s"))
    return f"{number:g}"


# ---------------------------------------------------------------------------- maths


def _draw(log_weights: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One column index per row, drawn in proportion to exp(log_weights[row])."""
    probs = torch.softmax(log_weights, dim=1)
    probs = torch.nan_to_num(probs, nan=0.0)
    empty = probs.sum(1) <= 0
    probs[empty] = 1.0  # rows with nothing allowed; they fail holds() and are redrawn
    return torch.multinomial(probs, 1, generator=generator)[:, 0]


def log_normal_interval(lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """log(Phi(hi) - Phi(lo)) for standard-normal bounds, accurate in both tails."""
    upper = lo > 0  # both bounds in the upper tail: use the mirrored interval
    a = torch.where(upper, -hi, lo)
    b = torch.where(upper, -lo, hi)
    log_b, log_a = torch.special.log_ndtr(b), torch.special.log_ndtr(a)
    gap = (log_a - log_b).clamp(max=0.0)
    return log_b + torch.log1p(-torch.exp(gap).clamp(max=1.0 - 1e-7))


def truncated_normal(mean, sd, lo, hi, generator) -> torch.Tensor:
    """mean + sd * N(0, 1) restricted to [lo, hi] (scalar space), by inverse CDF."""
    a, b = (lo - mean) / sd, (hi - mean) / sd
    upper = a > 0  # sample the mirrored interval where both bounds are far up
    a2, b2 = torch.where(upper, -b, a), torch.where(upper, -a, b)
    cdf_a, cdf_b = torch.special.ndtr(a2), torch.special.ndtr(b2)
    uniform = torch.rand(mean.shape, generator=generator, device=mean.device)
    u = (cdf_a + uniform * (cdf_b - cdf_a)).clamp(1e-12, 1 - 1e-7)
    x = torch.special.ndtri(u)
    x = torch.where(upper, -x, x)
    value = mean + sd * x
    return torch.minimum(torch.maximum(value, lo), hi)

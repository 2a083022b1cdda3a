"""Conditional sampling from a fitted (unconditional) VAE, without rejection.

Conditions read ``{"sex": "Female", "age": (30, 40), "workclass": None}``. The decoder
factorizes over columns given z, so the model's rows that meet conditions C are

    p(x | C) = integral of p(z) P(C | z) p(x_rest | z) p(x_C | z, C) dz.

Values are first read as users write them (:func:`normalize_conditions`: NaN, pd.NA and NaT
are empty cells; a date on a datetime column is its whole day). Each condition is then bound
to its column: the column transformer says where the rows meeting it
lie in the encoded block (:meth:`~synthvae.transforms.base.ColumnTransformer.encode_condition`,
which maps a range in the column's units onto its own scale, log-scaled or not), and a
:class:`BoundCondition` reads, vectorized over rows,

* ``log_prob(logits, sigma)``: log P(the decoded row meets the condition | z), off the
  decoder's output distribution (softmax slots; for numbers the mode softmax and the
  truncated Gaussian of the scalar, with point-mass modes exact);
* ``impose(matrix, logits, sigma, generator)``: the column's encoded spans drawn from that
  distribution restricted to the condition;
* ``holds(frame)``: which decoded rows meet it, in the column's units (a final check after
  rounding).

:class:`ConditionalSampler` draws z from p(z | C), proportional to p(z) P(C | z), by
sampling-importance-resampling: a pool of latents from the prior, weighted by P(C | z),
resampled. Where few latents carry the weight (a rare condition: the pool's effective sample
size is below the rows asked for), a few Metropolis steps in latent space, aimed at the same
target, spread the resampled latents out again. The conditioned columns are then drawn from
the decoder restricted to C, the others from the decoder as usual. Every row meets the
conditions by construction; rows that rounding pushes out of a numeric range (rare, at the
range's edges) are redrawn.

With an autoregressive decoder P(C | z) also depends on the columns drawn before each
conditioned one, so the pool holds whole rows: each is drawn column by column with the
conditions imposed at their columns, and weighted by the product of P(C_c | z, earlier
columns) met on the way, an unbiased estimate of P(C | z). Resampling the rows by those
weights targets p(x | C) exactly as the pool grows, and the Metropolis refresh becomes
pseudo-marginal (Andrieu & Roberts 2009): a proposed latent comes with a freshly drawn row
and its estimate, and the chain's row is kept or replaced with it, which leaves p(x | C)
invariant.
"""

from __future__ import annotations

import datetime
import math
import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from synthvae.calibration import UNSEEN_OFFSET
from synthvae.errors import ConfigError, UnseenCombinationWarning
from synthvae.frames import period_frequency
from synthvae.sampling import ColumnDrawer, decode_matrix, prior_logits
from synthvae.schema import ColumnKind
from synthvae.transforms.base import ColumnTransformer, EncodedRegion
from synthvae.transforms.passthrough import constant_order

RANGE_SEPARATOR = ".."
POOL_FACTORS = (4, 16)  # prior latents per requested row: first try, and when that is short
REFRESH_STEPS = 20  # Metropolis steps when the pool's effective sample size is short
BATCH_ROWS = 4096  # rows decoded at once (the pool is POOL_FACTOR times larger)
TAIL_START = 5.0  # sds from the mean past which a truncated draw uses the exponential tail
DATE_TEXT = re.compile(r"\s*\d{4}-\d{1,2}-\d{1,2}\s*")  # a date without a time: 2019-03-31
LAST_INSTANT = pd.Timedelta(microseconds=1)  # a day ends this long before the next midnight


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
    """Check ``conditions`` against the fitted table; one bound condition per column that
    restricts anything (a condition every row meets is dropped)."""
    if not isinstance(conditions, dict) or not conditions:
        raise ConfigError(f"conditions must be a non-empty dict of column -> value or "
                          f"(low, high). Got {conditions!r} instead.")
    by_name = {t.spec.name: (t, cols) for t, cols in
               zip(transformer.transformers_, transformer.slices_)}
    conditions = normalize_conditions(conditions, [t.spec for t, _ in by_name.values()])
    bound = []
    for name, wanted in conditions.items():
        if name not in by_name:
            raise ConfigError(f"Cannot condition on column {name!r}: the model has no such "
                              f"column. Its columns are {list(by_name)}.")
        column, cols = by_name[name]
        wanted = as_column_reads(column, wanted)
        region = None if wanted is EVERY_ROW else column.encode_condition(wanted)
        if region is not None:
            bound.append(BoundCondition.bind(column, wanted, region, cols.start, layout))
    return bound


# ---------------------------------------------------------------------------- excluded pairs

LISTED_PAIRS = 5  # unseen pairs a warning names (then "and N more")


def forced_excluded_pairs(bound: list, excluded: torch.Tensor | None) -> torch.Tensor:
    """(pairs, 2) int64: the sampler's excluded value pairs (``excluded``, (pairs, 3) as
    :func:`synthvae.exclusions.unseen_pairs` gives them, or None) that the ``bound``
    conditions force into every row: both values allowed by the conditions on their two
    columns, and every combination those conditions allow of the two columns excluded
    (``relationship=Husband`` with ``sex=Female``; ``["Husband", "Wife"]`` with
    ``Female`` leaves Wife, so none). One pass over the pairs, no loop over rows."""
    deciding = [c for c in bound if c.slots is not None]
    if excluded is None or len(excluded) == 0 or len(deciding) < 2:
        return torch.zeros((0, 2), dtype=torch.long)
    pairs = torch.unique(excluded[:, :2].detach().cpu(), dim=0)
    width = max(int(pairs.max()) + 1, max(c.slots.stop for c in deciding))
    owner = torch.full((width,), -1, dtype=torch.long)  # the condition deciding a position
    allowed = torch.zeros(width, dtype=torch.bool)
    for number, condition in enumerate(deciding):  # a handful of user-named columns
        owner[condition.slots] = number
        allowed[condition.slots] = torch.isfinite(condition.slot_log_weights.cpu())
    first, second = owner[pairs[:, 0]], owner[pairs[:, 1]]
    asked = (first >= 0) & (second >= 0) & allowed[pairs[:, 0]] & allowed[pairs[:, 1]]
    k = len(deciding)
    key = (first * k + second).clamp_min(0)  # (pairs,) which two conditions, in column order
    hits = torch.bincount(key[asked], minlength=k * k)  # (k * k,) excluded asked combinations
    choices = torch.stack([torch.isfinite(c.slot_log_weights.cpu()).sum() for c in deciding])
    forced = (hits > 0) & (hits == torch.outer(choices, choices).flatten())
    return pairs[asked & forced[key]]


def warn_excluded_pairs(bound: list, excluded: torch.Tensor | None, n: int) -> None:
    """Warn, once, where the conditions force value pairs no training row holds
    (:func:`forced_excluded_pairs`): the ``n`` rows are drawn as asked, but follow a
    combination the model never saw."""
    pairs = forced_excluded_pairs(bound, excluded)
    if len(pairs) == 0:
        return
    named = [f"{_slot_text(bound, a)} with {_slot_text(bound, b)}"
             for a, b in pairs[:LISTED_PAIRS].tolist()]
    more = f" and {len(pairs) - LISTED_PAIRS} more pairs" if len(pairs) > LISTED_PAIRS else ""
    warnings.warn(
        f"The conditions ask for {'; '.join(named)}{more}: the training table has no row "
        f"holding {'this pair' if len(pairs) == 1 else 'these pairs'} (the sampler never "
        f"draws {'it' if len(pairs) == 1 else 'them'} unasked; see excluded_pairs()). The "
        f"{n:,} rows hold the values as asked, but follow a combination the model never saw, "
        f"so their other columns are its guess.", UnseenCombinationWarning, stacklevel=3)


def _slot_text(bound: list, position: int) -> str:
    """``sex='Female'``: the column and value at table ``position``, a value slot of one of
    the ``bound`` conditions (a rare value behind ``other``: the value asked)."""
    condition = next(c for c in bound if c.slots is not None
                     and c.slots.start <= position < c.slots.stop)
    value = condition.fill[0] if condition.fill else \
        condition.column.slot_value(position - condition.start)
    value = value.item() if isinstance(value, np.generic) else value  # 9, not np.int64(9)
    return f"{condition.column.spec.name}={value!r}"


# ---------------------------------------------------------------------------- values


def normalize_conditions(conditions, columns) -> dict:
    """``conditions`` with each value read as :func:`condition_value` reads it on its
    column (``columns``: the table's ColumnSpecs); anything but a dict is returned as is.
    Meant to run once, before the conditions are checked or mapped: doing it again changes
    nothing."""
    if not isinstance(conditions, dict):
        return conditions
    specs = {spec.name: spec for spec in columns}
    return {name: condition_value(specs[name], wanted) if name in specs else wanted
            for name, wanted in conditions.items()}


def condition_value(spec, wanted):
    """One column's condition as the column transformers read it.

    np.nan, pd.NA and NaT mean what None means (an empty cell; an open end of a range),
    alone, in a list or set, or at a range's end. On a datetime column a date without a
    time (text ``YYYY-MM-DD`` or a ``datetime.date``) is a whole day of the column's time
    zone: a range's low end starts at its first instant, a high end stops at its last, and
    one date alone is the range of that day. A ``pd.Timestamp`` is an instant even at
    midnight. On a column of periods every value is the whole period holding it
    (:func:`whole_periods`). A constant column of datetimes reads each of its values
    (each item of a list: any of them) so too.
    """
    if is_missing(wanted):
        return None
    if isinstance(wanted, (set, frozenset)):
        wanted = {None if is_missing(item) else item for item in wanted}
    elif isinstance(wanted, (list, tuple)):
        wanted = type(wanted)(None if is_missing(item) else item for item in wanted)
    if spec.kind is ColumnKind.CONSTANT and isinstance(wanted, (list, set, frozenset)):
        return type(wanted)(widen_days_and_periods(spec, item) for item in wanted)
    return widen_days_and_periods(spec, wanted)


def widen_days_and_periods(spec, wanted):
    """``wanted`` with its dates widened to whole days, or its values to whole periods,
    where ``spec`` holds datetimes (a datetime column, or a constant one); as it is
    elsewhere."""
    if spec.kind is ColumnKind.CONSTANT and constant_order(spec, spec.value) != "datetime":
        return wanted
    if spec.kind not in (ColumnKind.DATETIME, ColumnKind.CONSTANT) or wanted is None:
        return wanted
    freq = period_frequency(spec.dtype)
    return whole_days(wanted, spec.timezone) if freq is None else whole_periods(wanted, freq)


def is_missing(value) -> bool:
    """Whether a condition's value is a missing-value marker: None, NaN, pd.NA, NaT."""
    if value is None:
        return True
    if not pd.api.types.is_scalar(value) or isinstance(value, str):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def whole_days(wanted, timezone: str | None = None):
    """A datetime condition with its dates (not instants) widened to whole days of the
    column's ``timezone`` (None: naive)."""
    if isinstance(wanted, (tuple, list)) and len(wanted) == 2:  # a range, as columns read it
        low, high = wanted
        return (_day_start(low, timezone), _day_end(high, timezone))
    if as_date(wanted) is None:
        return wanted
    return (_day_start(wanted, timezone), _day_end(wanted, timezone))


def whole_periods(wanted, freq):
    """A condition on a column of periods (``freq``: its frequency) with each value widened
    to the whole period holding it. The model draws instants inside the periods (any day of
    a month), so ``"2005-03"``, ``pd.Period("2005-03", "M")`` and
    ``pd.Timestamp("2005-03-15")`` all mean March 2005, and a range runs from the first
    instant of its low end's period to the last of its high end's. A Period of another
    frequency is its own span (a year on a monthly column: its twelve months)."""
    if isinstance(wanted, (tuple, list)) and len(wanted) == 2:
        low, high = (as_period(end, freq) for end in wanted)
        return (wanted[0] if low is None else low.start_time,
                wanted[1] if high is None else _period_end(high))
    period = as_period(wanted, freq)
    return wanted if period is None else (period.start_time, _period_end(period))


def _period_end(period: pd.Period) -> pd.Timestamp:
    """The period's last instant as a day's is (``Period.end_time``, a nanosecond before
    the next period, is that next period's start in the float seconds conditions use)."""
    return (period + 1).start_time - LAST_INSTANT


def as_period(value, freq) -> pd.Period | None:
    """The period ``value`` (a Period, a datetime or date, or their text) names on a column
    of ``freq`` periods; None for anything else, which the column then refuses by name (a
    number would be read as a count of periods since 1970)."""
    if isinstance(value, pd.Period):
        return value
    if not isinstance(value, (str, datetime.date, np.datetime64)):
        return None
    try:
        return pd.Period(value, freq=freq)
    except (TypeError, ValueError):  # pandas' DateParseError is a ValueError
        return None


def as_date(value) -> datetime.date | None:
    """The day ``value`` names when it is a date without a time, else None."""
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value
    if isinstance(value, str) and DATE_TEXT.fullmatch(value):
        try:
            return pd.Timestamp(value.strip()).date()
        except ValueError:  # 2019-02-30: left for the column to refuse by name
            return None
    return None


def _day_start(value, timezone: str | None):
    day = as_date(value)
    return value if day is None else _midnight(day, timezone)


def _day_end(value, timezone: str | None):
    day = as_date(value)
    return value if day is None else \
        _midnight(day + datetime.timedelta(days=1), timezone) - LAST_INSTANT


def _midnight(day: datetime.date, timezone: str | None) -> pd.Timestamp:
    """The first instant of ``day`` in ``timezone``: where a daylight-saving switch makes
    midnight happen twice or not at all, its first occurrence or the instant the day
    starts."""
    stamp = pd.Timestamp(day)
    if timezone is None:
        return stamp
    return stamp.tz_localize(timezone, ambiguous=True, nonexistent="shift_forward")


EVERY_ROW = object()  # a condition every row of the column meets: nothing to bind


def lists_values(spec, wanted) -> bool:
    """Whether ``wanted`` is a list meaning "any of these values": on categories and
    constants; on a number or a datetime a two-item list is a (low, high) range as a tuple
    is, None an open end."""
    return isinstance(wanted, (list, set, frozenset)) and \
        spec.kind in (ColumnKind.CATEGORICAL, ColumnKind.CONSTANT)


def refuse_empty_cell(spec, wanted, in_lists: bool = True) -> None:
    """A condition asking for an empty cell (``None``, or with ``in_lists`` a list of
    categories holding it) on a column without any is refused by name: no row can meet it
    (on a constraint's column, sampling drew until it gave up: 'the model rarely gives such
    rows')."""
    listed = in_lists and lists_values(spec, wanted) and None in wanted
    if (wanted is None or listed) and not spec.nullable:
        raise ConfigError(f"Column {spec.name!r} has no empty cells in the training data, so "
                          f"no row can meet a condition asking for one.")


def as_column_reads(column: ColumnTransformer, wanted):
    """A condition (already normalized) in the form its column's ``encode_condition``
    takes, refused by name where no form fits: an empty cell on a column without any, an
    empty list, a range on categories. A list on a constant column becomes its value, an
    empty cell or ``EVERY_ROW``; a datetime range's ends move onto the column's grid."""
    spec = column.spec
    listed = lists_values(spec, wanted)
    refuse_empty_cell(spec, wanted)
    if listed and not wanted:
        raise ConfigError(f"Column {spec.name!r}: the condition lists no value; give at "
                          f"least one (a list means any of its values).")
    if spec.kind is ColumnKind.CATEGORICAL and isinstance(wanted, tuple):
        raise ConfigError(_no_range_on_categories(column, wanted))
    if spec.kind is ColumnKind.CONSTANT and listed:
        return _constant_choice(column, wanted)
    if spec.kind is ColumnKind.DATETIME:
        return on_grid(column, wanted)
    return wanted


def _no_range_on_categories(column: ColumnTransformer, wanted: tuple) -> str:
    """Why a tuple (a range) is refused on a categorical column, and what to give."""
    values = [column.slot_value(k) for k in range(column.width)]
    values = [v for v in values if v is not None and v != "(other)"]
    numbers = values and all(isinstance(v, (int, float, np.number)) and
                             not isinstance(v, (bool, np.bool_)) for v in values)
    hint = " (this one holds numbers: declare it continuous in the schema for ranges)" \
        if numbers else ""
    return (f"Column {column.spec.name!r} is categorical: it takes a value or a list of "
            f"values, and the tuple {wanted!r} asks for a (low, high) range, which needs a "
            f"continuous, datetime or duration column{hint}. For one of several values give "
            f"a list: {list(wanted)!r}.")


def _constant_choice(column: ColumnTransformer, wanted):
    """A list (or set) of values on a constant column: each must be its value or an empty
    cell (the column refuses any other by name); the list asks for its value, an empty
    cell, or, holding both, for every row."""
    present = [item for item in wanted if item is not None]
    for item in present:
        column.encode_condition(item)
    if len(present) == len(wanted):
        return present[0]
    return EVERY_ROW if present else None


def on_grid(column: ColumnTransformer, wanted):
    """A datetime range with its ends moved onto the instants the column decodes to (whole
    days, hours, minutes or seconds, as its training values were): the same values meet
    it, and the range's reach, widened by half a step for rounding, stops short of the
    next instant, which would be drawn and refused (a whole day asked of a column of dates
    would lose half its draws so). Left as is when no instant of the grid lies in it."""
    step = 2 * column.rounding_half_width() if hasattr(column, "rounding_half_width") else 0
    if not step or not (isinstance(wanted, tuple) and len(wanted) == 2):
        return wanted
    low, high = (None if end is None else column.unit_value(end) for end in wanted)
    if (low is not None and not math.isfinite(low)) or \
            (high is not None and not math.isfinite(high)):
        return wanted  # not a datetime: the column refuses it by name
    low = None if low is None else math.ceil(low / step) * step
    high = None if high is None else math.floor(high / step) * step
    if low is not None and high is not None and low > high:
        return wanted
    return tuple(None if end is None else pd.Timestamp(int(end), unit="s", tz="UTC")
                 for end in (low, high))


@dataclass
class BoundCondition:
    """One column's condition at its encoded positions in the table, as tensors."""

    column: ColumnTransformer
    wanted: object  # as the user gave it; the column checks decoded values against it
    want_null: bool
    fill: tuple  # (value,): the decoded column is set to it (a rare category)
    null: slice | None  # table positions of the [present, missing] span
    slots: slice | None  # table positions of the deciding softmax span
    slot_log_weights: torch.Tensor | None  # (k,) log share of each slot allowed
    scalar: int | None  # table position of the scalar refined within the slot
    scalar_index: int | None  # its index among the decoder's sigmas
    scalar_low: torch.Tensor | None  # (k,) allowed scalar interval per slot
    scalar_high: torch.Tensor | None
    exact: torch.Tensor | None  # (k,) point-mass slots: the scalar is 0
    start: int = 0  # table position of the column's block

    @classmethod
    def bind(cls, column: ColumnTransformer, wanted, region: EncodedRegion, start: int,
             layout) -> "BoundCondition":
        def at(span: slice | None) -> slice | None:
            return None if span is None else slice(start + span.start, start + span.stop)

        def tensor(values, dtype=torch.float32):
            return None if values is None else torch.as_tensor(np.asarray(values), dtype=dtype)

        scalar = scalar_index = None
        if region.scalar is not None:
            scalar = start + region.scalar
            scalar_index = int((layout.scalar_index.cpu() == scalar).nonzero()[0, 0])
        return cls(column, wanted, region.want_null, region.fill, at(region.null),
                   at(region.slots), tensor(region.slot_log_weights), scalar, scalar_index,
                   tensor(region.scalar_low), tensor(region.scalar_high),
                   tensor(region.exact, torch.bool), start)

    @property
    def position(self) -> int:
        """The first table position the condition reads."""
        return min(p for p in (None if self.null is None else self.null.start,
                               None if self.slots is None else self.slots.start,
                               self.scalar) if p is not None)

    def refuse_undrawn(self, never: torch.Tensor) -> "BoundCondition":
        """Check the condition against the table positions the sampler never draws
        (``never``, (width,) bool: slots no training row holds, such as declared, unused
        categories). An empty cell or a value asked by name there is refused, as an unseen
        value is; a numeric range keeps its other modes, and is refused when none is left."""
        name = self.column.spec.name
        if self.want_null and self.null is not None and bool(never[self.null.start + 1]):
            raise ConfigError(f"Column {name!r} has no empty cells in the training data, so "
                              f"no row can meet a condition asking for one.")
        if self.slots is None:
            return self
        unseen = never[self.slots] & torch.isfinite(self.slot_log_weights)  # (k,)
        if not unseen.any():
            return self
        if self.scalar is None:  # categories, each asked by name
            raise ConfigError(self._never_held(int(unseen.nonzero()[0, 0]), never))
        self.slot_log_weights = torch.where(unseen, -math.inf, self.slot_log_weights)
        if not torch.isfinite(self.slot_log_weights).any():
            raise ConfigError(f"Column {name!r}: the model produces no value meeting the "
                              f"condition {self.wanted!r}; widen it.")
        return self

    def _never_held(self, slot: int, never: torch.Tensor) -> str:
        """The refusal of slot ``slot`` (of the deciding span), by the value it stands for."""
        name, offset = self.column.spec.name, self.slots.start - self.start
        value = self.column.slot_value(offset + slot)
        if value is None:
            return (f"Column {name!r} has no empty cells in the training data, so no row "
                    f"can meet a condition asking for one.")
        held = [self.column.slot_value(offset + k) for k in range(len(self.slot_log_weights))
                if not bool(never[self.slots.start + k])]
        known = [v for v in held if v is not None and v != "(other)"]
        return (f"Column {name!r} never holds {value!r} in the training data (a category "
                f"its dtype or schema declares; the model never draws it); known values "
                f"include {known[:8]}.")

    def to(self, device) -> "BoundCondition":
        for name in ("slot_log_weights", "scalar_low", "scalar_high", "exact"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, value.to(device))
        return self

    def _presence(self, logits: torch.Tensor) -> torch.Tensor:
        """log P(present) (or P(missing) when an empty cell is asked for), (batch,)."""
        if self.null is None:
            return logits.new_zeros(len(logits))
        return torch.log_softmax(logits[:, self.null], dim=1)[:, int(self.want_null)]

    def _scalar_stats(self, logits, sigma, scalar_logits=None
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """The decoder's scalar mean, (batch, 1), or (batch, k) from ``scalar_logits``
        (the scalar's logit for each slot of the deciding span, where the scalar is drawn
        after the slot: an autoregressive decoder's two-step numbers), and its sigma,
        (batch, 1)."""
        raw = logits[:, self.scalar][:, None] if scalar_logits is None else scalar_logits
        return torch.tanh(raw), sigma[:, self.scalar_index][:, None]

    def _slot_log_probs(self, logits, sigma, scalar_logits=None) -> torch.Tensor:
        """log P(slot k and an allowed value), (batch, k)."""
        joint = torch.log_softmax(logits[:, self.slots], dim=1) + self.slot_log_weights
        if self.scalar is None:
            return joint
        mean, sd = self._scalar_stats(logits, sigma, scalar_logits)
        interval = log_normal_interval((self.scalar_low - mean) / sd,
                                       (self.scalar_high - mean) / sd)
        return joint + torch.where(self.exact, 0.0, interval)

    def log_prob(self, logits: torch.Tensor, sigma: torch.Tensor,
                 scalar_logits: torch.Tensor | None = None) -> torch.Tensor:
        """log P(the decoded row meets the condition | z), (batch,). ``scalar_logits``:
        see :meth:`_scalar_stats`."""
        if self.slots is None:
            return self._presence(logits)
        joint = self._slot_log_probs(logits, sigma, scalar_logits)
        return torch.logsumexp(joint, dim=1) + self._presence(logits)

    def impose(self, matrix, logits, sigma, generator, scalar_logits=None) -> None:
        """Overwrite the column's spans in ``matrix`` with a draw meeting the condition
        (the scalar from its mean for the drawn slot: see :meth:`_scalar_stats`)."""
        if self.null is not None:
            matrix[:, self.null] = 0.0
            matrix[:, self.null.start + int(self.want_null)] = 1.0
        if self.slots is None:
            return
        slot = _draw(self._slot_log_probs(logits, sigma, scalar_logits), generator)  # (batch,)
        rows = torch.arange(len(matrix), device=matrix.device)
        matrix[:, self.slots] = 0.0
        matrix[rows, self.slots.start + slot] = 1.0
        if self.scalar is None:
            return
        mean, sd = self._scalar_stats(logits, sigma, scalar_logits)
        mean = mean.expand(-1, len(self.slot_log_weights)).gather(1, slot[:, None])
        value = truncated_normal(mean[:, 0], sd[:, 0], self.scalar_low[slot],
                                 self.scalar_high[slot], generator)
        matrix[:, self.scalar] = torch.where(self.exact[slot], 0.0, value).clamp(-1.0, 1.0)

    def finish(self, frame: pd.DataFrame) -> None:
        """Set the asked value where the encoding cannot (a rare value behind 'other')."""
        if self.fill:
            name = self.column.spec.name
            frame[name] = _fill_like(frame[name], self.fill[0])

    def holds(self, frame: pd.DataFrame) -> np.ndarray:
        """(rows,) which decoded rows meet the condition."""
        return self.column.contains(frame[self.column.spec.name], self.wanted)


def _fill_like(series: pd.Series, value) -> pd.Series:
    filled = pd.Series([value] * len(series), index=series.index, dtype=object)
    try:
        return filled.astype(series.dtype)
    except (TypeError, ValueError):
        return filled


# ---------------------------------------------------------------------------- sampling


class ConditionalSampler:
    """Encoded rows meeting bound conditions (see :func:`bind_conditions`)."""

    def __init__(self, model, layout, prior, conditions: list, device: torch.device,
                 pool_factors: tuple[int, ...] = POOL_FACTORS,
                 refresh_steps: int = REFRESH_STEPS, offsets: torch.Tensor | None = None,
                 floor: torch.Tensor | None = None, excluded: torch.Tensor | None = None):
        self.model = model
        self.offsets = offsets  # marginal calibration (synthvae.calibration), or None
        self.floor = floor  # low-lift floors (synthvae.sampling.span_weights), or None
        self.excluded = excluded  # value pairs never drawn together, or None
        self.layout = layout
        self.prior = prior
        never = None if offsets is None else offsets.detach().cpu() <= UNSEEN_OFFSET / 2
        self.conditions = [(c if never is None else c.refuse_undrawn(never)).to(device)
                           for c in conditions]
        self.device = device
        self.pool_factors = pool_factors
        self.refresh_steps = refresh_steps
        self.effective_sizes: list[float] = []  # per batch: the pool's ESS / rows asked

    def _decode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = prior_logits(self.model, z, self.offsets)
        sigma = self.model.decoder.sigma(z.new_ones((len(z), 1)))
        return logits, sigma

    def _log_weight(self, logits: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """log P(all conditions | z) for each decoded row, (n,)."""
        total = logits.new_zeros(len(logits))
        for condition in self.conditions:  # a handful of user-named columns
            total = total + condition.log_prob(logits, sigma)
        return total

    @torch.no_grad()
    def latents(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """n latents from p(z | C) and their log weights log P(C | z)."""
        pools, weights, drawn = [], [], 0
        for factor in self.pool_factors:  # grow the pool while its effective size is short
            pools.append(self.prior.sample(n * factor - drawn, generator, self.device))
            weights.append(self._log_weight(*self._decode(pools[-1])))
            drawn = n * factor
            pool, log_w = torch.cat(pools), torch.cat(weights)
            probs = torch.softmax(log_w, dim=0)
            ess = 1.0 / probs.pow(2).sum()
            if ess >= n:  # one host read per pool, not per step
                break
        if not torch.isfinite(log_w).any():
            return pool[:n], log_w[:n]  # nothing allowed anywhere: caller reports it
        self.effective_sizes.append(float(ess) / n)  # one sync per batch, not per step
        picks = torch.multinomial(probs, n, replacement=True, generator=generator)
        z, log_w = pool[picks], log_w[picks]
        if ess < n:
            z, log_w = self._refresh(z, log_w, generator)
        return z, log_w

    def _refresh(self, z, log_w, generator):
        """Metropolis steps targeting p(z) P(C | z): duplicates of few pool latents spread."""
        step = self.prior.scale().to(self.device) * (2.38 / math.sqrt(z.shape[1]))
        log_target = self.prior.log_prob(z) + log_w
        for _ in range(self.refresh_steps):
            proposal = z + step * torch.randn(z.shape, generator=generator, device=self.device)
            proposal_w = self._log_weight(*self._decode(proposal))
            proposal_target = self.prior.log_prob(proposal) + proposal_w
            uniform = torch.rand(len(z), generator=generator, device=self.device)
            accept = torch.log(uniform) < proposal_target - log_target
            z = torch.where(accept[:, None], proposal, z)
            log_w = torch.where(accept, proposal_w, log_w)
            log_target = torch.where(accept, proposal_target, log_target)
        return z, log_w

    @torch.no_grad()
    def matrix(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(n, width) encoded rows meeting the conditions, and which rows could (finite
        weight): a row whose latent gives the conditions zero probability cannot."""
        if self.model.decoder.autoregression is not None:
            return self._autoregressive_matrix(n, generator)
        z, log_w = self.latents(n, generator)
        logits, sigma = self._decode(z)
        out = decode_matrix(self.model, self.layout, z, generator, logits=logits,
                            floor=self.floor)
        for condition in self.conditions:
            condition.impose(out, logits, sigma, generator)
        return out, torch.isfinite(log_w)


    # ------------------------------------------------------------ autoregressive decoder
    def _draw_rows(self, z: torch.Tensor, generator: torch.Generator
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows drawn column by column from latents ``z`` with the conditions imposed at
        their columns, and their log weights: sum of log P(C_c | z, earlier columns)."""
        drawer = ColumnDrawer(self.model.decoder, self.layout, self.floor, self.excluded)
        by_step: dict[int, list] = {}
        for condition in self.conditions:
            by_step.setdefault(drawer.step_start(condition.position), []).append(condition)
        n, layout = len(z), self.layout
        uniform = torch.rand((n, layout.n_groups), generator=generator, device=self.device)
        noise = torch.randn((n, layout.n_scalars), generator=generator, device=self.device)
        block = torch.zeros((layout.width, n), device=self.device).T  # column-major
        sigma = self.model.decoder.sigma(z.new_ones((1, 1)))
        log_w = drawer.draw(block, prior_logits(self.model, z, self.offsets), sigma, uniform,
                            noise, conditions=by_step, generator=generator)
        return block, log_w

    def _autoregressive_matrix(self, n: int, generator: torch.Generator):
        """Sampling-importance-resampling over whole rows (see the module docstring)."""
        latents, rows, weights, drawn = [], [], [], 0
        for factor in self.pool_factors:
            latents.append(self.prior.sample(n * factor - drawn, generator, self.device))
            block, log_w = self._draw_rows(latents[-1], generator)
            rows.append(block)
            weights.append(log_w)
            drawn = n * factor
            log_w = torch.cat(weights)
            probs = torch.softmax(log_w, dim=0)
            ess = 1.0 / probs.pow(2).sum()
            if ess >= n:
                break
        pool = torch.cat(rows)
        if not torch.isfinite(log_w).any():
            return pool[:n], torch.isfinite(log_w[:n])
        self.effective_sizes.append(float(ess) / n)
        picks = torch.multinomial(probs, n, replacement=True, generator=generator)
        z, block, log_w = torch.cat(latents)[picks], pool[picks], log_w[picks]
        if ess < n:
            z, block, log_w = self._refresh_rows(z, block, log_w, generator)
        out = torch.zeros((self.layout.width, n), device=self.device).T
        out.copy_(block)
        return out, torch.isfinite(log_w)

    def _refresh_rows(self, z, block, log_w, generator):
        """Pseudo-marginal Metropolis steps: each proposed latent brings a drawn row."""
        step = self.prior.scale().to(self.device) * (2.38 / math.sqrt(z.shape[1]))
        log_target = self.prior.log_prob(z) + log_w
        for _ in range(self.refresh_steps):
            proposal = z + step * torch.randn(z.shape, generator=generator, device=self.device)
            proposal_block, proposal_w = self._draw_rows(proposal, generator)
            proposal_target = self.prior.log_prob(proposal) + proposal_w
            uniform = torch.rand(len(z), generator=generator, device=self.device)
            accept = torch.log(uniform) < proposal_target - log_target
            z = torch.where(accept[:, None], proposal, z)
            block = torch.where(accept[:, None], proposal_block, block)
            log_w = torch.where(accept, proposal_w, log_w)
            log_target = torch.where(accept, proposal_target, log_target)
        return z, block, log_w


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
    """mean + sd * N(0, 1) restricted to [lo, hi] (scalar space), by inverse CDF.

    Where the whole interval lies more than ``TAIL_START`` sds from the mean, the normal CDF
    has no precision left (it underflows past about 13 sds in float32), and the draw uses
    the tail's exponential form instead: beyond bound c the density is close to
    exp(-c * t), so draws keep their shape instead of piling onto the bound.
    """
    a, b = (lo - mean) / sd, (hi - mean) / sd
    upper = a > 0  # sample the mirrored interval where both bounds are far up
    a2, b2 = torch.where(upper, -b, a), torch.where(upper, -a, b)
    cdf_a, cdf_b = torch.special.ndtr(a2), torch.special.ndtr(b2)
    uniform = torch.rand(mean.shape, generator=generator, device=mean.device)
    u = (cdf_a + uniform * (cdf_b - cdf_a)).clamp(1e-12, 1 - 1e-7)
    x = torch.special.ndtri(u)
    x = torch.where(b2 < -TAIL_START, _exponential_tail(a2, b2, uniform), x)
    x = torch.where(upper, -x, x)
    value = mean + sd * x
    return torch.minimum(torch.maximum(value, lo), hi)


def _exponential_tail(a, b, uniform) -> torch.Tensor:
    """Standard-normal draws restricted to [a, b], b << 0 (the far lower tail): b minus an
    exponential of rate |b| truncated to the interval's width."""
    rate = -b
    reach = -torch.expm1(-rate * (b - a))  # P(the exponential stays within the interval)
    return b + torch.log1p(-uniform * reach) / rate

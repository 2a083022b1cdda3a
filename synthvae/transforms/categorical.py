"""One-hot encoding of categorical columns, with nulls as their own slot.

Layout: ``[category_1 .. category_k, (other), (null)]``. A column with more than
``max_categories`` distinct values (a *high-cardinality* column) keeps as categories only the
most frequent values that at least ``MIN_VERBATIM_ROWS`` training rows hold, and groups the
rest into an ``other`` slot (with a warning naming the column). The rare values themselves are
never stored: a generated ``other`` becomes a new value of the form of the rare values, drawn
from a template that stores none of them (:mod:`synthvae.transforms.idformat`) and is never
equal to any training value of the column. A value unseen at fit time goes to the ``other``
slot when there is one, else to an all-zero row, with a warning naming the column.

Models saved before this rule stored up to 10,000 rare values (``rare_values``) and sample
them back; they still load and behave as before, and ``synthvae info`` says so.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from synthvae.errors import ConfigError, DataError, SynthvaeWarning
from synthvae.frames import fixed_binary_size
from synthvae.schema import MAX_CATEGORIES, ColumnSpec
from synthvae.transforms.base import ColumnTransformer, EncodedRegion
from synthvae.transforms.dtypes import restore_categorical
from synthvae.transforms.idformat import check_template, generate, learn_template
from synthvae.transforms.rowrandom import column_key
from synthvae.transforms.spans import Span, SpanKind, span_argmax

MIN_VERBATIM_ROWS = 5  # a high-cardinality column keeps verbatim only values this common


def _kept_text(kept: int) -> str:
    """Which values a capped column models, said so when none is (no value reached
    ``MIN_VERBATIM_ROWS`` rows: 'the 0 most frequent are modelled' read as a bug)."""
    if kept == 0:
        return f"none is held by {MIN_VERBATIM_ROWS} rows, so all are grouped"
    return f"the {kept} most frequent are modelled and the rest grouped"


class CategoricalWarning(SynthvaeWarning):
    """A categorical column was capped, or held values unseen at fit time."""


def _scalar(value):
    return value.item() if isinstance(value, np.generic) else value


class OneHotEncoder(ColumnTransformer):
    """Categorical column <-> one softmax span."""

    def __init__(self, spec: ColumnSpec, max_categories: int = MAX_CATEGORIES):
        self.spec = spec
        self.max_categories = max_categories

    def fit(self, series: pd.Series, seed: int = 0, mixture: tuple | None = None):
        counts = series.value_counts(dropna=True, sort=True)
        if self.spec.categories is not None:
            unknown = [v for v in counts.index if v not in set(self.spec.categories)]
            if unknown:
                raise DataError(f"Column {self.spec.name!r} holds {unknown[0]!r}, which is not "
                                f"among the schema's categories {list(self.spec.categories)[:10]}.")
            self.categories_ = [_scalar(v) for v in self.spec.categories]
            self.rare_values_, self.rare_weights_, self.other_template_ = [], [], None
        else:
            self._learn_categories(counts, seed)
        self.has_null_ = bool(self.spec.nullable)
        return self

    def fit_from_spec(self):
        """Slots for the schema's public categories only; reads no data (used under DP)."""
        self.categories_ = [_scalar(v) for v in self.spec.categories]
        self.rare_values_, self.rare_weights_, self.other_template_ = [], [], None
        self.has_null_ = bool(self.spec.nullable)
        return self

    def _learn_categories(self, counts: pd.Series, seed: int) -> None:
        self.rare_values_, self.rare_weights_, self.other_template_ = [], [], None
        if len(counts) == 0:
            raise DataError(f"Column {self.spec.name!r} has no values to fit.")
        if len(counts) <= self.max_categories:
            self.categories_ = [_scalar(v) for v in counts.index]
            return
        self._check_fixed_size(len(counts))
        top = counts.iloc[:self.max_categories - 1]
        top = top[top >= MIN_VERBATIM_ROWS]
        warnings.warn(f"Column {self.spec.name!r} has {len(counts)} distinct values; "
                      f"{_kept_text(len(top))} as 'other', sampled as generated values of "
                      f"the same form (no rare value is stored).",
                      CategoricalWarning, stacklevel=3)
        self.categories_ = [_scalar(v) for v in top.index]
        rare_rows = counts.to_numpy().copy()
        rare_rows[:len(top)] = 0  # forms follow the rare rows; lengths span every value
        self.other_template_ = learn_template(counts.index.astype(str), rare_rows,
                                              seed=column_key(seed, self.spec.name))

    def _check_fixed_size(self, distinct: int) -> None:
        """A sampled 'other' is a new value one character longer than the rare values (as
        an identifier is): a ``fixed_size_binary`` column cannot hold it, so a model that
        would fit and fail to sample is refused here."""
        size = fixed_binary_size(self.spec.dtype)
        if size is not None:
            raise DataError(f"Column {self.spec.name!r} ({self.spec.dtype}) has {distinct} "
                            f"distinct values, more than max_categories "
                            f"({self.max_categories}): its rare values would be sampled as new "
                            f"values of other lengths, which a fixed-size binary type of "
                            f"{size} bytes cannot hold. Raise max_categories above {distinct} "
                            f"or cast the column to variable-size binary (pa.binary()) first.")

    # ------------------------------------------------------------------ layout
    @property
    def has_other(self) -> bool:
        return len(self.rare_values_) > 0 or self.other_template_ is not None

    @property
    def width(self) -> int:
        return len(self.categories_) + int(self.has_other) + int(self.has_null_)

    def spans(self) -> list[Span]:
        return [Span(self.spec.name, SpanKind.SOFTMAX, self.width, "category")]

    def slot_value(self, slot: int):
        """A category; ``"(other)"`` for the grouped rare values; None for missing."""
        if slot < len(self.categories_):
            return _scalar(self.categories_[slot])
        return "(other)" if self.has_other and slot == len(self.categories_) else None

    # ------------------------------------------------------------------ transform
    def codes(self, series: pd.Series) -> np.ndarray:
        """Slot index of each row; -1 for a value that has no slot."""
        codes = pd.Categorical(series, categories=self.categories_).codes.astype(np.int64)
        missing = series.isna().to_numpy()
        unplaced = (codes < 0) & ~missing
        if unplaced.any():
            if self.has_other:
                codes[unplaced] = len(self.categories_)
            if not self.has_other or (self.rare_values_ and
                                      not set(series[unplaced]) <= set(self.rare_values_)):
                warnings.warn(f"Column {self.spec.name!r} holds values unseen at fit time "
                              f"(e.g. {series[unplaced].iloc[0]!r}); they are encoded as "
                              f"{'other' if self.has_other else 'no category'}.",
                              CategoricalWarning, stacklevel=3)
        if self.has_null_:
            codes[missing] = self.width - 1
        elif missing.any():
            raise DataError(f"Column {self.spec.name!r} was not nullable at fit time but has "
                            f"missing values.")
        return codes

    def transform(self, series: pd.Series, rng: np.random.Generator | None = None
                  ) -> np.ndarray:
        codes = self.codes(series)
        out = np.zeros((len(series), self.width), dtype=np.float32)
        rows = np.flatnonzero(codes >= 0)
        out[rows, codes[rows]] = 1.0
        return out

    def inverse_transform(self, block: np.ndarray, rng: np.random.Generator | None = None,
                          row_offset: int = 0) -> pd.Series:
        codes = span_argmax(block)
        n_known = len(self.categories_)
        lookup = np.empty(n_known + 1, dtype=object)
        lookup[:n_known] = self.categories_
        lookup[n_known] = None
        values = lookup[np.minimum(codes, n_known)]
        if self.has_other:
            other = np.flatnonzero(codes == n_known)
            values[other] = self._other_values(row_offset + other, rng)
        missing = (codes == self.width - 1) if self.has_null_ else np.zeros(len(codes), bool)
        return restore_categorical(values, missing, self.spec, self.categories_)

    def _other_values(self, rows: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        """Values for the 'other' slot's rows (global row numbers, so that chunks and shards
        get different values): new ones from the template, stored ones if legacy."""
        rng = rng if rng is not None else np.random.default_rng()
        if self.other_template_ is not None:
            return generate(self.other_template_, rows, rng)
        picks = rng.choice(len(self.rare_values_), size=len(rows), p=self.rare_weights_)
        return np.asarray(self.rare_values_, dtype=object)[picks]

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict:
        state = {"categories": self.categories_, "has_null": self.has_null_,
                 "other_template": self.other_template_}
        if self.rare_values_:  # only a model loaded from an older file has them
            state.update(rare_values=self.rare_values_, rare_weights=self.rare_weights_)
        return state

    def set_state(self, state: dict):
        self.categories_ = list(state["categories"])
        self.rare_values_ = list(state.get("rare_values", []))  # older files store rare values
        self.rare_weights_ = list(state.get("rare_weights", []))
        template = state.get("other_template")
        self.other_template_ = None if template is None else check_template(template)
        self.has_null_ = bool(state["has_null"])
        return self

    # ------------------------------------------------------------------ conditions
    def encode_condition(self, wanted) -> EncodedRegion:
        """One value, a list of values or None (an empty cell) as the slots allowed. A rare
        value grouped into 'other' is its share of that slot, and is set after decoding."""
        values = self._wanted_values(wanted)
        weights = np.full(self.width, -np.inf)
        rare = [v for v in values if v is not None and v not in self.categories_]
        if rare and len(values) > 1:
            raise ConfigError(f"Column {self.spec.name!r}: a list of values can only name "
                              f"modelled values, not rare ones grouped as 'other' "
                              f"({rare[0]!r}); ask for it alone.")
        for value in values:
            weights[self._slot_of(value)] = self._log_share(value)
        return EncodedRegion(slots=slice(0, self.width), slot_log_weights=weights,
                             fill=tuple(rare))

    def contains(self, series: pd.Series, wanted) -> np.ndarray:
        values = self._wanted_values(wanted)
        present = [v for v in values if v is not None]
        ok = series.isin(present).to_numpy() if present else np.zeros(len(series), bool)
        return ok | series.isna().to_numpy() if None in values else ok

    def _wanted_values(self, wanted) -> list:
        """The asked values as the column stores them (None: an empty cell)."""
        items = list(wanted) if isinstance(wanted, (list, set, frozenset)) else [wanted]
        values = []
        for item in items:
            match = None if item is None else _find(item, self.categories_)
            if match is None and item is not None:
                match = _find(item, self.rare_values_)
            if match is None and item is not None:
                raise ConfigError(f"Column {self.spec.name!r} never holds {item!r} in the "
                                  f"training data; known values include "
                                  f"{self.categories_[:8]}.")
            values.append(match)
        return values

    def _slot_of(self, value) -> int:
        if value is None:
            return self.width - 1
        if value in self.categories_:
            return self.categories_.index(value)
        return len(self.categories_)  # the 'other' slot

    def _log_share(self, value) -> float:
        """log of the share of the value's slot that is the value (rare values share)."""
        if value is None or value in self.categories_:
            return 0.0
        return float(np.log(self.rare_weights_[self.rare_values_.index(value)]))


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

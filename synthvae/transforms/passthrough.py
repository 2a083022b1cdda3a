"""Columns that are not modelled: identifiers (regenerated unique) and constants."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from synthvae.errors import ConfigError, DataError
from synthvae.frames import as_instant, is_datetime_name, model_dtype
from synthvae.schema import DATE_LIKE, ColumnSpec
from synthvae.transforms.base import ColumnTransformer, EncodedRegion
from synthvae.transforms.idformat import (TEMPLATE_VERSION, as_text, check_template,
                                          check_variable_size, generate, template_key,
                                          learn_template)
from synthvae.transforms.nulls import NullOnlyEncoding, decode_nulls, encode_nulls, null_span
from synthvae.transforms.rowrandom import column_key
from synthvae.transforms.spans import Span


class IdentifierGenerator(NullOnlyEncoding, ColumnTransformer):
    """Unique-per-row column: not modelled; regenerated as new unique values of the same form.

    Text identifiers follow a template learned from the training values that stores none of
    them (:mod:`synthvae.transforms.idformat`): ``user12@example.com`` comes back as
    ``user4817@example.com``, never as a training value. Integer identifiers count up from
    the largest absolute training value rounded up at its second significant digit
    (:func:`counter_start`), so they never repeat one. Rows are numbered across the whole
    sample (``row_offset``), so chunked and sharded sampling stay unique. A nullable
    identifier keeps its share of missing cells through a null span that the model learns
    like any other.
    """

    def __init__(self, spec: ColumnSpec):
        self.spec = spec

    def fit(self, series: pd.Series, seed: int = 0, mixture: tuple | None = None):
        check_variable_size(self.spec)
        values = series.dropna()
        if self._is_integer(values):
            largest = int(np.abs(values.to_numpy(dtype=np.float64)).max()) if len(values) else 0
            self.start_, self.template_, self.legacy_ = counter_start(largest), None, None
            self._check_counter_fits(self.start_ + len(series))
            return self
        distinct, counts = as_text(values)
        self.start_, self.legacy_ = None, None
        self.template_ = learn_template(distinct, counts, seed=column_key(seed, self.spec.name))
        return self

    def _is_integer(self, values: pd.Series) -> bool:
        return self.spec.integer or pd.api.types.is_integer_dtype(values.dtype)

    def fit_from_spec(self):
        """Reads no data (used under DP): integers count from 0, text is a 20-digit number.

        Without the data nothing guarantees that these differ from the real identifiers; a
        20-digit random-looking number makes a match astronomically unlikely for text ids.
        """
        integer = self.spec.integer or self.spec.dtype.startswith(("int", "Int", "uint", "UInt"))
        self.legacy_ = None
        if integer:
            self.start_, self.template_ = 0, None
        else:
            run = {"kind": "[0-9]", "min": 19, "max": 19}
            self.start_ = None
            key = template_key(column_key(0, self.spec.name))
            self.template_ = {"version": TEMPLATE_VERSION, "key": key,
                              "groups": [{"weight": 1.0, "runs": [run], "counter": 0}]}
        return self


    def inverse_transform(self, block: np.ndarray, rng=None, row_offset: int = 0) -> pd.Series:
        rng = rng if rng is not None else np.random.default_rng()
        rows = np.arange(row_offset, row_offset + len(block), dtype=np.int64)
        missing = decode_nulls(block) if self.width else np.zeros(len(block), dtype=bool)
        if self.legacy_ is not None:
            return self._legacy_values(rows)
        if self.template_ is None:
            return self._integers(rows, missing)
        values = generate(self.template_, rows, rng)
        values[missing] = None
        series = pd.Series(values, name=self.spec.name, dtype=object)
        if self.spec.dtype not in ("object", "str") and not missing.any():
            try:
                return series.astype(self.spec.dtype)
            except (TypeError, ValueError):
                pass
        return series

    def _integers(self, rows: np.ndarray, missing: np.ndarray) -> pd.Series:
        """New ids in the column's NumPy dtype (``int64`` for Arrow's ``int64[pyarrow]``,
        restored on output), or pandas' nullable one where cells are missing."""
        numbers = self._counter(rows)
        dtype = model_dtype(self.spec.dtype)
        if missing.any():
            out = pd.Series(numbers, name=self.spec.name).astype(
                "float64" if dtype.startswith("float") else
                "UInt64" if numbers.dtype.kind == "u" else "Int64")
            out[missing] = None
            return out
        if dtype.startswith(("int", "uint")) and numbers.max(initial=0) <= np.iinfo(dtype).max:
            return pd.Series(numbers.astype(dtype), name=self.spec.name)
        try:
            return pd.Series(numbers, name=self.spec.name).astype(dtype)
        except (TypeError, ValueError, OverflowError):
            return pd.Series(numbers, name=self.spec.name)

    def _counter(self, rows: np.ndarray) -> np.ndarray:
        """``start_`` + the global row numbers, in the column's integer dtype (int64 for
        other dtypes); a clear error where the counter would leave that dtype's range."""
        dtype = self._counter_dtype()
        self._check_counter_fits(self.start_ + int(rows.max(initial=0)))
        return rows.astype(dtype) + dtype.type(self.start_)

    def _counter_dtype(self) -> np.dtype:
        dtype = model_dtype(self.spec.dtype)  # "UInt64" counts in uint64, as it is sampled
        return np.dtype(dtype if dtype.startswith(("int", "uint")) else "int64")

    def _check_counter_fits(self, top: int) -> None:
        """New ids up to ``top`` must fit the column's integer dtype (checked at fit for as
        many rows as the table has, and again when sampling more)."""
        dtype = self._counter_dtype()
        if top > np.iinfo(dtype).max:
            raise DataError(f"Identifier column {self.spec.name!r}: new ids from "
                            f"{self.start_} to {top} do not fit its dtype {dtype}; declare "
                            f"it with dtype 'object' in the schema to get text ids.")

    def _legacy_values(self, rows: np.ndarray) -> pd.Series:
        """Models saved before templates: ``prefix`` + zero-padded counter from ``start``."""
        start, prefix, digits = self.legacy_
        if prefix is None:
            dtype = self.spec.dtype if self.spec.dtype.startswith(("int", "uint")) else "int64"
            return pd.Series((rows + start).astype(dtype), name=self.spec.name)
        text = pd.Series(rows + start, name=self.spec.name).astype(str)
        if digits:
            text = text.str.zfill(digits)
        return (prefix + text).astype(object)

    def get_state(self) -> dict:
        if self.legacy_ is not None:
            start, prefix, digits = self.legacy_
            return {"start": start, "prefix": prefix, "digits": digits}
        if self.template_ is None:
            return {"kind": "integer", "start": self.start_}
        return {"kind": "text", "template": self.template_}

    def encode_condition(self, wanted):
        raise ConfigError(f"Cannot condition on column {self.spec.name!r}: it is an "
                          f"identifier, regenerated as unique values rather than modelled.")

    def set_state(self, state: dict):
        self.start_, self.template_, self.legacy_ = None, None, None
        if "kind" not in state:  # saved before identifier templates: keep its counter
            self.legacy_ = (int(state["start"]), state["prefix"], int(state["digits"]))
        elif state["kind"] == "integer":
            self.start_ = int(state["start"])
        elif state["kind"] == "text":
            self.template_ = check_template(state["template"])
        else:
            raise ValueError(f"identifier column {self.spec.name!r} has an unknown state "
                             f"kind {state['kind']!r}")
        return self


class ConstantColumn(ColumnTransformer):
    """One value on every row; a null span when the column also has missing values."""

    def __init__(self, spec: ColumnSpec):
        self.spec = spec

    def fit(self, series: pd.Series, seed: int = 0, mixture: tuple | None = None):
        values = series.dropna()
        self.value_ = self.spec.value if not len(values) else _scalar(values.iloc[0])
        self.all_missing_ = len(values) == 0
        return self

    def fit_from_spec(self):
        """The schema's public value; reads no data (used under DP)."""
        self.value_, self.all_missing_ = self.spec.value, False
        return self

    def spans(self) -> list[Span]:
        return [null_span(self.spec.name)] if self.spec.nullable and not self.all_missing_ else []

    @property
    def width(self) -> int:
        return sum(s.width for s in self.spans())

    def transform(self, series: pd.Series, rng=None) -> np.ndarray:
        if not self.width:
            return np.zeros((len(series), 0), dtype=np.float32)
        return encode_nulls(series.isna().to_numpy())

    def impossible(self, series: pd.Series) -> pd.Series:
        """Also any value but the constant (any value at all in a column empty at fit)."""
        reasons = super().impossible(series)
        present = series.notna().to_numpy()
        if self.all_missing_:
            reasons[present] = "a value in a column that was empty at fit"
            return reasons
        values = series.astype(object)
        same = (values == self.value_).to_numpy(dtype=bool) \
            | (values.astype(str) == str(self.value_)).to_numpy()
        reasons[present & ~same] = f"a value other than the column's constant {self.value_!r}"
        return reasons

    def inverse_transform(self, block: np.ndarray, rng=None, row_offset: int = 0
                          ) -> pd.Series:
        n = len(block)
        if self.all_missing_:
            missing = np.ones(n, dtype=bool)
        elif self.width:
            missing = decode_nulls(block)
        else:
            missing = np.zeros(n, dtype=bool)
        values = np.full(n, self.value_, dtype=object)
        values[missing] = np.nan
        if self.spec.categories:  # a pandas category column: all its categories
            return pd.Series(pd.Categorical(values, categories=list(self.spec.categories),
                                            ordered=self.spec.ordered), name=self.spec.name)
        series = pd.Series(values, name=self.spec.name)
        dtype = model_dtype(self.spec.dtype)
        if missing.any() and dtype.startswith(("int", "uint", "bool")):
            return series  # restore_frame gives the nullable dtype back
        if pd.api.types.is_datetime64_any_dtype(dtype):
            return _as_datetimes(series, dtype)
        if dtype == "category" and missing.all():  # as pandas builds an empty categorical:
            series = series.astype(np.float64)  # no category, float64 categories' dtype
        try:
            return series.astype(dtype)
        except (TypeError, ValueError):
            return series

    def encode_condition(self, wanted) -> EncodedRegion | None:
        """Every row holds the value (None: nothing to steer), or is empty when asked for
        an empty cell on a column that has them. A number or datetime constant is also met
        by a ``(low, high)`` range holding it and by its value written another way (a
        date's text for a Timestamp): a range asked of a column that turned out constant
        was refused as if it named another value."""
        if wanted is not None and not self._meets(wanted):
            shown = _range_text(wanted) if isinstance(wanted, tuple) else repr(wanted)
            raise ConfigError(f"Column {self.spec.name!r} is constant ({self.value_!r}); no "
                              f"row has {shown}.")
        if not self.width:
            return None
        return EncodedRegion(null=slice(0, 2), want_null=wanted is None)

    def _meets(self, wanted) -> bool:
        """Whether the constant is ``wanted``: the same value or text, or within a range."""
        if not isinstance(wanted, tuple) and _same_value(wanted, self.value_):
            return True
        order = constant_order(self.spec, self.value_)
        value = math.nan if order is None else _position(self.value_, order)
        if not math.isfinite(value):
            return False  # text, flags, categories: only the value itself meets them
        ends = wanted if isinstance(wanted, tuple) and len(wanted) == 2 else (wanted, wanted)
        low, high = (None if end is None else self._end(end, order) for end in ends)
        return (low is None or low <= value) and (high is None or value <= high)

    def _end(self, value, order: str) -> float:
        """A condition's value on the constant's line (a datetime without a time zone read
        in the constant's); refused by name where it is no ``order``."""
        zone = pd.Timestamp(self.value_).tz if order == "datetime" else None
        found = _position(value, order, zone)
        if not math.isfinite(found):
            raise ConfigError(f"Column {self.spec.name!r} is constant ({self.value_!r}), a "
                              f"{order}; the condition's value {value!r} is not one.")
        return found

    def contains(self, series: pd.Series, wanted) -> np.ndarray:
        missing = series.isna().to_numpy()
        return missing if wanted is None else ~missing

    def get_state(self) -> dict:
        value = self.value_
        if isinstance(value, pd.Timestamp):
            value = str(value)
        return {"value": value, "all_missing": self.all_missing_}

    def set_state(self, state: dict):
        self.value_, self.all_missing_ = state["value"], bool(state["all_missing"])
        return self


def _as_datetimes(series: pd.Series, dtype: str) -> pd.Series:
    """The constant (text, or missing) in datetime ``dtype``; all-missing text parses as
    naive NaT, which a zoned dtype takes by localizing, not by astype. Zoned text under a
    naive ``dtype`` (an object column of zoned datetimes, whose dtype names no zone) keeps
    the zone its text gives."""
    stamps = pd.to_datetime(series)
    zone = getattr(pd.api.types.pandas_dtype(dtype), "tz", None)
    if zone is not None and stamps.dt.tz is None:
        stamps = stamps.dt.tz_localize(zone)
    if zone is None and stamps.dt.tz is not None:
        return stamps
    return stamps.astype(dtype)


def _same_value(wanted, value) -> bool:
    return wanted == value or str(wanted) == str(value)


def constant_order(spec: ColumnSpec, value) -> str | None:
    """How a constant compares with a condition's range: as a ``"number"`` (a real number,
    not a category), a ``"datetime"`` (a datetime dtype, or text that reads as a date, as
    a CSV file's dates do), or not at all (None: text, flags, categories)."""
    if spec.categories is not None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "number"
    if is_datetime_name(spec.dtype) or (isinstance(value, str) and DATE_LIKE.match(value)):
        return "datetime"
    return None


def _position(value, order: str, zone=None) -> float:
    """``value`` on a line ``order`` names: a real number, or a datetime's seconds since
    1970 UTC (one without a time zone read in ``zone``); NaN where it is none."""
    if order == "number":
        if isinstance(value, (bool, np.bool_)):
            return math.nan
        try:
            return float(value)
        except (TypeError, ValueError):
            return math.nan
    stamp = as_instant(value)
    if stamp is None:
        return math.nan
    if stamp.tz is None and zone is not None:
        stamp = stamp.tz_localize(zone, ambiguous=True, nonexistent="shift_forward")
    return stamp.timestamp()  # UTC seconds; a naive one's wall clock read as UTC


def _range_text(wanted: tuple) -> str:
    """A range as the CLI writes it (``0..5``, ``2020-06-01 00:00:00..``)."""
    return "a value in " + "..".join("" if end is None else str(end) for end in wanted)


def _scalar(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return str(value)
    return value


def counter_start(largest: int) -> int:
    """The first new integer id: ``largest`` (the largest absolute training id) rounded up at
    its second significant digit, 43824 -> 44000, so no new id repeats a training id and
    the model file holds a bound rather than an id."""
    unit = 10 ** max(len(str(largest)) - 2, 0)
    return (largest // unit + 1) * unit

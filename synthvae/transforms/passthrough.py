"""Columns that are not modelled: identifiers (regenerated unique) and constants."""

from __future__ import annotations

import os
import re

import numpy as np
import pandas as pd

from synthvae.errors import ConfigError
from synthvae.schema import ColumnSpec
from synthvae.transforms.base import ColumnTransformer, EncodedRegion
from synthvae.transforms.nulls import decode_nulls, encode_nulls, null_span
from synthvae.transforms.spans import Span

_TRAILING_DIGITS = re.compile(r"\d+$")


class IdentifierGenerator(ColumnTransformer):
    """Unique-per-row column: not modelled; regenerated as ``prefix`` + zero-padded counter.

    Integer identifiers count up from the smallest training value; text identifiers keep the
    common prefix of the training values and their digit width. Rows are numbered across the
    whole sample (``row_offset``), so chunked sampling stays unique.
    """

    def __init__(self, spec: ColumnSpec):
        self.spec = spec

    def fit(self, series: pd.Series, seed: int = 0, mixture: tuple | None = None):
        values = series.dropna()
        if self.spec.integer or pd.api.types.is_integer_dtype(values.dtype):
            self.start_, self.prefix_, self.digits_ = int(values.min()), None, 0
            return self
        text = values.astype(str)
        prefix = os.path.commonprefix(list(text.iloc[:1000]))
        self.prefix_ = _TRAILING_DIGITS.sub("", prefix)
        rest = text.str.slice(len(self.prefix_))
        digits = rest.str.fullmatch(r"\d+")
        self.digits_ = int(rest.str.len().max()) if digits.all() else 0
        self.start_ = 0
        return self

    def fit_from_spec(self):
        """A plain counter from 0; reads no data (used under DP)."""
        integer = self.spec.integer or self.spec.dtype.startswith(("int", "Int", "uint"))
        self.start_, self.prefix_, self.digits_ = 0, (None if integer else ""), 0
        return self

    width = 0

    def spans(self) -> list[Span]:
        return []

    def transform(self, series: pd.Series, rng=None) -> np.ndarray:
        return np.zeros((len(series), 0), dtype=np.float32)

    def inverse_transform(self, block: np.ndarray, rng=None, row_offset: int = 0) -> pd.Series:
        if self.prefix_ is None:
            dtype = np.dtype(self.spec.dtype) if self.spec.dtype.startswith(("int", "uint")) \
                else np.dtype(np.int64)
            numbers = np.arange(row_offset, row_offset + len(block)).astype(dtype) \
                + dtype.type(self.start_)
            return pd.Series(numbers, name=self.spec.name)
        numbers = np.arange(row_offset, row_offset + len(block), dtype=np.int64) + self.start_
        text = pd.Series(numbers, name=self.spec.name).astype(str)
        if self.digits_:
            text = text.str.zfill(self.digits_)
        return (self.prefix_ + text).astype(object)

    def get_state(self) -> dict:
        return {"start": self.start_, "prefix": self.prefix_, "digits": self.digits_}

    def encode_condition(self, wanted):
        raise ConfigError(f"Cannot condition on column {self.spec.name!r}: it is an "
                          f"identifier, regenerated as unique values rather than modelled.")

    def set_state(self, state: dict):
        self.start_, self.prefix_, self.digits_ = (int(state["start"]), state["prefix"],
                                                   int(state["digits"]))
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
        series = pd.Series(values, name=self.spec.name)
        if pd.api.types.is_datetime64_any_dtype(self.spec.dtype):
            return pd.to_datetime(series).astype(self.spec.dtype)
        try:
            return series.astype(self.spec.dtype)
        except (TypeError, ValueError):
            return series

    def encode_condition(self, wanted) -> EncodedRegion | None:
        """Every row holds the value (None: nothing to steer), or is empty when asked for
        an empty cell on a column that has them."""
        if wanted is not None and not _same_value(wanted, self.value_):
            raise ConfigError(f"Column {self.spec.name!r} is constant ({self.value_!r}); no "
                              f"row has {wanted!r}.")
        if not self.width:
            return None
        return EncodedRegion(null=slice(0, 2), want_null=wanted is None)

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


def _same_value(wanted, value) -> bool:
    return wanted == value or str(wanted) == str(value)


def _scalar(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return str(value)
    return value

"""One-hot encoding of categorical columns, with nulls as their own slot.

Layout: ``[category_1 .. category_k, (other), (null)]``. A column with more than
``max_categories`` distinct values keeps the most frequent ones and groups the rest into an
``other`` slot (with a warning naming the column); a generated ``other`` is replaced by a rare
value drawn in proportion to its training frequency. A value unseen at fit time goes to the
``other`` slot when there is one, else to an all-zero row, with a warning naming the column.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from synthvae.errors import DataError, SynthvaeWarning
from synthvae.schema import ColumnSpec
from synthvae.transforms.dtypes import restore_categorical
from synthvae.transforms.spans import Span, SpanKind, span_argmax

MAX_CATEGORIES = 200
MAX_RARE_VALUES_KEPT = 10_000


class CategoricalWarning(SynthvaeWarning):
    """A categorical column was capped, or held values unseen at fit time."""


def _scalar(value):
    return value.item() if isinstance(value, np.generic) else value


class OneHotEncoder:
    """Categorical column <-> one softmax span."""

    def __init__(self, spec: ColumnSpec, max_categories: int = MAX_CATEGORIES):
        self.spec = spec
        self.max_categories = max_categories

    def fit(self, series: pd.Series, seed: int = 0):
        counts = series.value_counts(dropna=True, sort=True)
        if self.spec.categories is not None:
            unknown = [v for v in counts.index if v not in set(self.spec.categories)]
            if unknown:
                raise DataError(f"Column {self.spec.name!r} holds {unknown[0]!r}, which is not "
                                f"among the schema's categories {list(self.spec.categories)[:10]}.")
            self.categories_ = [_scalar(v) for v in self.spec.categories]
            self.rare_values_, self.rare_weights_ = [], []
        else:
            self._learn_categories(counts)
        self.has_null_ = bool(self.spec.nullable)
        return self

    def fit_from_spec(self):
        """Slots for the schema's public categories only; reads no data (used under DP)."""
        self.categories_ = [_scalar(v) for v in self.spec.categories]
        self.rare_values_, self.rare_weights_ = [], []
        self.has_null_ = bool(self.spec.nullable)
        return self

    def _learn_categories(self, counts: pd.Series) -> None:
        if len(counts) == 0:
            raise DataError(f"Column {self.spec.name!r} has no values to fit.")
        if len(counts) <= self.max_categories:
            self.categories_ = [_scalar(v) for v in counts.index]
            self.rare_values_, self.rare_weights_ = [], []
            return
        keep = self.max_categories - 1
        warnings.warn(f"Column {self.spec.name!r} has {len(counts)} distinct values; the "
                      f"{keep} most frequent are modelled and the rest grouped as 'other'.",
                      CategoricalWarning, stacklevel=3)
        self.categories_ = [_scalar(v) for v in counts.index[:keep]]
        rare = counts.iloc[keep:keep + MAX_RARE_VALUES_KEPT]
        self.rare_values_ = [_scalar(v) for v in rare.index]
        self.rare_weights_ = (rare / rare.sum()).tolist()

    # ------------------------------------------------------------------ layout
    @property
    def has_other(self) -> bool:
        return len(self.rare_values_) > 0

    @property
    def width(self) -> int:
        return len(self.categories_) + int(self.has_other) + int(self.has_null_)

    def spans(self) -> list[Span]:
        return [Span(self.spec.name, SpanKind.SOFTMAX, self.width, "category")]

    # ------------------------------------------------------------------ transform
    def codes(self, series: pd.Series) -> np.ndarray:
        """Slot index of each row; -1 for a value that has no slot."""
        codes = pd.Categorical(series, categories=self.categories_).codes.astype(np.int64)
        missing = series.isna().to_numpy()
        unplaced = (codes < 0) & ~missing
        if unplaced.any():
            if self.has_other:
                codes[unplaced] = len(self.categories_)
            if not self.has_other or not set(series[unplaced]) <= set(self.rare_values_):
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

    def inverse_transform(self, block: np.ndarray, rng: np.random.Generator | None = None
                          ) -> pd.Series:
        codes = span_argmax(block)
        n_known = len(self.categories_)
        lookup = np.empty(n_known + 1, dtype=object)
        lookup[:n_known] = self.categories_
        lookup[n_known] = None
        values = lookup[np.minimum(codes, n_known)]
        if self.has_other:
            other = codes == n_known
            rng = rng if rng is not None else np.random.default_rng()
            picks = rng.choice(len(self.rare_values_), size=int(other.sum()),
                               p=self.rare_weights_)
            values[other] = np.asarray(self.rare_values_, dtype=object)[picks]
        missing = (codes == self.width - 1) if self.has_null_ else np.zeros(len(codes), bool)
        return restore_categorical(values, missing, self.spec, self.categories_)

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict:
        return {"categories": self.categories_, "rare_values": self.rare_values_,
                "rare_weights": self.rare_weights_, "has_null": self.has_null_}

    def set_state(self, state: dict):
        self.categories_ = list(state["categories"])
        self.rare_values_ = list(state["rare_values"])
        self.rare_weights_ = list(state["rare_weights"])
        self.has_null_ = bool(state["has_null"])
        return self

"""The table transformer: one column transformer per schema column, spans concatenated.

``transform(df)`` gives a float32 matrix whose layout is ``spans_``; ``inverse_transform``
takes such a matrix back to a DataFrame with the original column order and categories,
each column in its model dtype (:func:`synthvae.frames.restore_frame` gives the recorded
dtypes back). Input columns are normalised by :func:`synthvae.frames.model_frame` first.
The mixtures of all columns that ask for one (``mixture_values``) are fitted together in one
vectorized call (:func:`synthvae.transforms.mixture.fit_mixtures`). Column transformers are
seen only through :class:`synthvae.transforms.base.ColumnTransformer`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from synthvae.errors import NotFittedError
from synthvae.frames import is_duration_name, model_frame
from synthvae.schema import ColumnKind, ColumnSpec, Schema
from synthvae.transforms.base import ColumnTransformer
from synthvae.transforms.categorical import MAX_CATEGORIES, OneHotEncoder
from synthvae.transforms.continuous import (DISCRETE_THRESHOLD, MIN_MODE_ROWS, TAIL_SHARE,
                                            MIXTURE_MAX_ROWS, ModeSpecificNormalizer,
                                            fit_column_mixtures)
from synthvae.transforms.datetime import DatetimeTransformer
from synthvae.transforms.durations import DurationTransformer
from synthvae.transforms.passthrough import ConstantColumn, IdentifierGenerator
from synthvae.transforms.pii import PiiGenerator
from synthvae.transforms.scaling import SKEW_THRESHOLD
from synthvae.transforms.spans import Span


def _numbers(cls):
    return lambda spec, o: cls(spec, max_rows=o["mixture_max_rows"],
                               discrete_threshold=o["discrete_threshold"],
                               skew_threshold=o["skew_threshold"],
                               min_mode_rows=o["min_mode_rows"],
                               tail_share=o["tail_share"])


def _continuous(spec: ColumnSpec, options: dict) -> ModeSpecificNormalizer:
    cls = DurationTransformer if is_duration_name(spec.dtype) else ModeSpecificNormalizer
    return _numbers(cls)(spec, options)


# Each column kind's transformer, built from the table's options (a dict of them).
TRANSFORMERS = {
    ColumnKind.CONTINUOUS: _continuous,
    ColumnKind.DATETIME: _numbers(DatetimeTransformer),
    ColumnKind.CATEGORICAL: lambda spec, o: OneHotEncoder(spec, o["max_categories"]),
    ColumnKind.IDENTIFIER: lambda spec, o: (PiiGenerator if spec.pii else
                                            IdentifierGenerator)(spec),
    ColumnKind.CONSTANT: lambda spec, o: ConstantColumn(spec),
}


def make_column_transformer(spec: ColumnSpec, mixture_max_rows: int = MIXTURE_MAX_ROWS,
                            max_categories: int = MAX_CATEGORIES,
                            discrete_threshold: int = DISCRETE_THRESHOLD,
                            skew_threshold: float | None = SKEW_THRESHOLD,
                            min_mode_rows: int = MIN_MODE_ROWS,
                            tail_share: float = TAIL_SHARE) -> ColumnTransformer:
    options = {"mixture_max_rows": mixture_max_rows, "max_categories": max_categories,
               "discrete_threshold": discrete_threshold, "skew_threshold": skew_threshold,
               "min_mode_rows": min_mode_rows, "tail_share": tail_share}
    return TRANSFORMERS[spec.kind](spec, options)


def _from_spec(transformer: ColumnTransformer, modes) -> ColumnTransformer:
    """``fit_from_spec``, with the column's released modes where it has some."""
    return transformer.fit_from_spec() if modes is None else transformer.fit_from_spec(modes)


class TableTransformer:
    """DataFrame <-> float32 matrix with a declared span layout."""

    def __init__(self, schema: Schema, mixture_max_rows: int = MIXTURE_MAX_ROWS,
                 max_categories: int = MAX_CATEGORIES, seed: int = 0,
                 discrete_threshold: int = DISCRETE_THRESHOLD,
                 skew_threshold: float | None = SKEW_THRESHOLD,
                 min_mode_rows: int = MIN_MODE_ROWS, tail_share: float = TAIL_SHARE):
        self.schema = schema
        self.mixture_max_rows = mixture_max_rows
        self.max_categories = max_categories
        self.seed = seed
        self.discrete_threshold = discrete_threshold
        self.skew_threshold = skew_threshold
        self.min_mode_rows = min_mode_rows
        self.tail_share = tail_share

    def fit(self, df: pd.DataFrame) -> "TableTransformer":
        self.schema.check_frame(df)
        df = model_frame(df, self.schema)
        self.transformers_ = [make_column_transformer(spec, self.mixture_max_rows,
                                                      self.max_categories,
                                                      self.discrete_threshold,
                                                      self.skew_threshold,
                                                      self.min_mode_rows, self.tail_share)
                              for spec in self.schema.columns]
        mixtures = self._fit_mixtures(df)
        for t in self.transformers_:
            t.fit(df[t.spec.name], seed=self.seed, mixture=mixtures.get(t.spec.name))
        self._set_layout()
        return self

    def fit_from_schema(self, modes: dict | None = None) -> "TableTransformer":
        """Build every column transformer from the schema alone, reading no rows.

        Under differential privacy the schema holds public or DP-released bounds and
        categories, and ``modes`` the DP-released modes of continuous columns (see
        :mod:`synthvae.privacy`), so nothing here touches private data.
        """
        modes = modes or {}
        self.transformers_ = [
            _from_spec(make_column_transformer(spec, self.mixture_max_rows,
                                               self.max_categories), modes.get(spec.name))
            for spec in self.schema.columns]
        self._set_layout()
        return self

    def _fit_mixtures(self, df: pd.DataFrame) -> dict:
        """{column: (weights, means, stds)} for every column that asks for a mixture."""
        wanted = {t.spec.name: t.mixture_values(df[t.spec.name]) for t in self.transformers_}
        wanted = {name: values for name, values in wanted.items() if values is not None}
        if not wanted:
            return {}
        matrix = np.column_stack(list(wanted.values()))
        fit = fit_column_mixtures(matrix, self.mixture_max_rows, self.seed)
        return {name: (fit.weights[i], fit.means[i], fit.stds[i])
                for i, name in enumerate(wanted)}

    def _set_layout(self) -> None:
        self.spans_: list[Span] = [s for t in self.transformers_ for s in t.spans()]
        widths = [sum(s.width for s in t.spans()) for t in self.transformers_]
        ends = np.cumsum(widths)
        self.slices_ = [slice(int(e - w), int(e)) for e, w in zip(ends, widths)]
        self.output_width_ = int(ends[-1]) if len(ends) else 0

    def value_inputs(self) -> tuple[tuple[int, ...], np.ndarray, np.ndarray]:
        """The numeric columns' values as an autoregressive decoder reads them: their
        scalar positions, and (width,) per-position ``offset`` and ``scale`` (see
        :meth:`ModeSpecificNormalizer.value_coefficients`; 0 in other columns)."""
        self._check_fitted()
        positions, offset, scale = [], np.zeros(self.output_width_), np.zeros(self.output_width_)
        for t, cols in zip(self.transformers_, self.slices_):
            if isinstance(t, ModeSpecificNormalizer):
                positions.append(cols.start)  # its scalar span comes first
                offset[cols], scale[cols] = t.value_coefficients()
        return tuple(positions), offset, scale

    def code_columns(self) -> frozenset[str]:
        """Numeric (and datetime) columns encoded value by value: each mode is one exact
        value (``discrete``), so their mode slots name values as categories do."""
        self._check_fitted()
        return frozenset(t.spec.name for t in self.transformers_
                         if isinstance(t, ModeSpecificNormalizer) and t.discrete)

    def value_slot_positions(self) -> list[int]:
        """Encoded positions of the slots that name a value (categories, and the modes of
        the numbers encoded value by value), up to the first ``MAX_PAIR_SLOTS``: what
        excluded value pairs name (:func:`synthvae.exclusions.code_positions`)."""
        from synthvae.exclusions import code_positions

        self._check_fitted()
        return code_positions(self.spans_, self.code_columns())[0]

    def slot_values(self, positions) -> list[tuple[str, object]]:
        """(column, value) that each encoded value slot (``value_slot_positions``) stands
        for (a category, or a value-by-value number's value; see
        ``ColumnTransformer.slot_value``)."""
        self._check_fitted()
        starts = np.array([cols.start for cols in self.slices_])
        positions = np.asarray(positions, dtype=np.int64)
        if len(positions) and (positions.min() < 0 or positions.max() >= self.output_width_):
            raise ValueError(f"encoded positions run 0..{self.output_width_ - 1}; got "
                             f"{positions.min()}..{positions.max()}")
        found = []
        for position in positions.tolist():  # a listing, not a hot path
            number = int(np.searchsorted(starts, position, side="right")) - 1
            transformer = self.transformers_[number]
            found.append((transformer.spec.name,
                          transformer.slot_value(position - int(starts[number]))))
        return found

    def grouped_positions(self) -> frozenset[int]:
        """Encoded positions of the slots that hold several values: each high-cardinality
        categorical's ``other`` (its rare values grouped)."""
        self._check_fitted()
        return frozenset(cols.start + len(t.categories_)
                         for t, cols in zip(self.transformers_, self.slices_)
                         if isinstance(t, OneHotEncoder) and t.has_other)

    def _check_fitted(self) -> None:
        if not hasattr(self, "transformers_"):
            raise NotFittedError("This TableTransformer is not fitted yet; call fit(df) first.")

    def transform(self, df: pd.DataFrame, seed: int | None = None) -> np.ndarray:
        self._check_fitted()
        self.schema.check_frame(df)
        df = model_frame(df, self.schema)
        rng = np.random.default_rng(self.seed if seed is None else seed)
        blocks = [t.transform(df[t.spec.name], rng) for t in self.transformers_]
        return np.concatenate(blocks, axis=1).astype(np.float32, copy=False)

    def impossible(self, df: pd.DataFrame) -> pd.DataFrame:
        """The cells of ``df`` the fitted model gives probability zero, as text saying why
        (None elsewhere), one column per column of the schema (see
        :meth:`ColumnTransformer.impossible`); a category never seen is not listed: its
        encoding (no slot) already gives its row probability zero."""
        self._check_fitted()
        self.schema.check_frame(df)
        df = model_frame(df, self.schema)
        return pd.DataFrame({t.spec.name: t.impossible(df[t.spec.name]).to_numpy()
                             for t in self.transformers_}, index=df.index)

    def inverse_transform(self, matrix: np.ndarray, rng: np.random.Generator | None = None,
                          row_offset: int = 0) -> pd.DataFrame:
        self._check_fitted()
        rng = rng if rng is not None else np.random.default_rng()
        columns = {}
        for t, cols in zip(self.transformers_, self.slices_):
            columns[t.spec.name] = t.inverse_transform(matrix[:, cols], rng, row_offset)
        frame = pd.DataFrame({name: s.reset_index(drop=True) for name, s in columns.items()})
        return frame[self.schema.names]

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict:
        self._check_fitted()
        return {"mixture_max_rows": self.mixture_max_rows, "max_categories": self.max_categories,
                "seed": self.seed, "discrete_threshold": self.discrete_threshold,
                "skew_threshold": self.skew_threshold,
                "min_mode_rows": self.min_mode_rows, "tail_share": self.tail_share,
                "columns": [t.get_state() for t in self.transformers_]}

    @classmethod
    def from_state(cls, schema: Schema, state: dict) -> "TableTransformer":
        table = cls(schema, state["mixture_max_rows"], state["max_categories"], state["seed"],
                    state.get("discrete_threshold", 0),  # models before it had none
                    state.get("skew_threshold"),  # nor this: no column was log-scaled
                    state.get("min_mode_rows", 0),  # nor this: modes kept by weight alone
                    state.get("tail_share", 0.0))  # nor this: no tail modes
        if len(state["columns"]) != len(schema.columns):
            raise ValueError("transformer state does not match the schema's columns")
        table.transformers_ = [
            make_column_transformer(spec, table.mixture_max_rows, table.max_categories,
                                    table.discrete_threshold,
                                    table.skew_threshold,
                                    table.min_mode_rows,
                                    table.tail_share).set_state(column_state)
            for spec, column_state in zip(schema.columns, state["columns"])]
        table._set_layout()
        return table

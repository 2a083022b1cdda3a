"""The contract every column transformer keeps: one column <-> its encoded block.

The table transformer and conditional sampling see column transformers only through this
interface, never through their fitted internals (a mixture's means, a log scale, a category
list): what a value *means* in the model's space is the column transformer's to say.

Conditions are the example. ``encode_condition(wanted)`` answers, in the model's space,
where the rows meeting a condition lie in the column's encoded block (an
:class:`EncodedRegion`: which slots of a softmax span may be chosen, how much of each slot's
mass qualifies, and for numbers the interval of the scalar within each mode), and
``contains(series, wanted)`` checks decoded values in the column's own units. A column on a
log scale, one point mass per value, seconds since 1970 or one-hot slots all answer the same
two questions, so :mod:`synthvae.conditions` has no branch per column kind.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np
import pandas as pd

from synthvae.errors import ConfigError
from synthvae.schema import ColumnSpec
from synthvae.transforms.spans import Span


@dataclass(frozen=True)
class EncodedRegion:
    """Where, in one column's encoded block, the values meeting a condition lie.

    Positions are relative to the block. A row meets the condition when its ``null`` span
    (if any) picks ``want_null``, and, when ``slots`` is set, it picks slot ``k`` of
    ``slots`` with the scalar (if any) in ``[scalar_low[k], scalar_high[k]]``; a slot that
    is ``exact`` decodes to one value whatever the scalar.
    """

    slots: slice | None = None  # the softmax span that decides the value (categories, modes)
    slot_log_weights: np.ndarray | None = None  # (k,) log share of a slot's values allowed
    scalar: int | None = None  # position of the scalar refined within the chosen slot
    scalar_low: np.ndarray | None = None  # (k,) allowed scalar interval per slot; +-inf open
    scalar_high: np.ndarray | None = None
    exact: np.ndarray | None = None  # (k,) the slot is a point mass: the scalar is 0
    null: slice | None = None  # the [present, missing] span, when separate from ``slots``
    want_null: bool = False  # the condition asks for an empty cell
    fill: tuple = ()  # (value,): decoded rows take this value (a rare category in 'other')


class ColumnTransformer(abc.ABC):
    """One schema column <-> a float32 block laid out as ``spans()``.

    scikit-learn's life cycle: ``__init__`` stores the spec and options only; ``fit`` (or
    ``fit_from_spec``, which reads no rows, under differential privacy) learns attributes
    ending in ``_`` and returns ``self``; ``get_state``/``set_state`` carry them through a
    model file as plain JSON.
    """

    spec: ColumnSpec

    # ------------------------------------------------------------------ fit
    @abc.abstractmethod
    def fit(self, series: pd.Series, seed: int = 0, mixture: tuple | None = None
            ) -> "ColumnTransformer":
        """Learn from ``series``. ``mixture`` = (weights, means, stds) fitted by the table on
        :meth:`mixture_values` (one vectorized fit for all columns); None otherwise."""

    @abc.abstractmethod
    def fit_from_spec(self) -> "ColumnTransformer":
        """Learn from the schema's public facts only (bounds, categories); reads no rows."""

    def mixture_values(self, series: pd.Series) -> np.ndarray | None:
        """The column on the scale a Gaussian mixture is to be fitted on, when its encoding
        needs one; None when it does not (the default)."""
        return None

    # ------------------------------------------------------------------ layout
    @abc.abstractmethod
    def spans(self) -> list[Span]:
        """The encoded layout of the column, in order (empty: nothing is modelled)."""

    @property
    def width(self) -> int:
        return sum(s.width for s in self.spans())

    def slot_value(self, slot: int):
        """The value that encoded position ``slot`` of this column's block stands for (a
        category, or a value-by-value number's value), for listings such as
        ``Synthesizer.excluded_pairs``; columns without such slots have none."""
        raise ValueError(f"slot {slot} of column {self.spec.name!r} names no value (a "
                         f"category, or an exact value of a number encoded value by value)")

    # ------------------------------------------------------------------ transform
    @abc.abstractmethod
    def transform(self, series: pd.Series, rng: np.random.Generator | None = None
                  ) -> np.ndarray:
        """(rows, width) float32 block of ``series``."""

    @abc.abstractmethod
    def inverse_transform(self, block: np.ndarray, rng: np.random.Generator | None = None,
                          row_offset: int = 0) -> pd.Series:
        """The column back from a (rows, width) block, with its dtype. ``row_offset`` is the
        index of the block's first row in the whole sample (for generated identifiers)."""

    def impossible(self, series: pd.Series) -> pd.Series:
        """(rows,) the values the fitted model gives probability zero, as text (None where
        a value is possible): here, an empty cell in a column that had none at fit (a
        categorical column's encoding refuses one before: it has no slot for it). A
        value the encoding cannot tell apart from a possible one (it snaps it to one)
        would otherwise score and drift as that value."""
        return _reasons(series.isna().to_numpy() & (not self.spec.nullable),
                        "an empty cell (the column had none at fit)")

    # ------------------------------------------------------------------ state
    @abc.abstractmethod
    def get_state(self) -> dict:
        """The fitted attributes as plain JSON values."""

    @abc.abstractmethod
    def set_state(self, state: dict) -> "ColumnTransformer":
        """Restore what :meth:`get_state` gave; returns ``self``."""

    # ------------------------------------------------------------------ conditions
    def encode_condition(self, wanted) -> EncodedRegion | None:
        """Where rows meeting ``wanted`` (a value, a list of values, a ``(low, high)``
        range, or None for an empty cell) lie in the encoded block; None when every row
        meets it. Raises :class:`ConfigError` naming the column when no row can."""
        raise ConfigError(f"Cannot condition on column {self.spec.name!r}: its values are "
                          f"not modelled ({self.spec.kind.value}).")

    def contains(self, series: pd.Series, wanted) -> np.ndarray:
        """(rows,) which decoded values meet ``wanted``, compared in the column's units."""
        raise ConfigError(f"Cannot condition on column {self.spec.name!r}: its values are "
                          f"not modelled ({self.spec.kind.value}).")


def _reasons(rows: np.ndarray, reason: str) -> pd.Series:
    """``reason`` where ``rows`` is True, None elsewhere."""
    return pd.Series(np.where(rows, reason, None), dtype=object)

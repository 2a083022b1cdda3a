"""Null indicators: a two-way softmax span [present, missing] for nullable columns."""

from __future__ import annotations

import numpy as np

from synthvae.transforms.spans import Span, SpanKind


def null_span(column: str) -> Span:
    return Span(column=column, kind=SpanKind.SOFTMAX, width=2, role="null")


def encode_nulls(missing: np.ndarray) -> np.ndarray:
    """(n,) booleans -> (n, 2) one-hot [present, missing]."""
    out = np.zeros((len(missing), 2), dtype=np.float32)
    out[np.arange(len(missing)), missing.astype(np.int64)] = 1.0
    return out


def decode_nulls(block: np.ndarray) -> np.ndarray:
    """(n, 2) scores -> (n,) booleans, True where the row is missing."""
    return block[:, 1] > block[:, 0]


class NullOnlyEncoding:
    """The encoding of a column the model does not learn (generated values): only its
    null indicator when the column is nullable, nothing otherwise."""

    def spans(self) -> list:
        return [null_span(self.spec.name)] if self.spec.nullable else []

    @property
    def width(self) -> int:
        return 2 if self.spec.nullable else 0

    def transform(self, series, rng=None) -> np.ndarray:
        if not self.width:
            return np.zeros((len(series), 0), dtype=np.float32)
        return encode_nulls(series.isna().to_numpy())

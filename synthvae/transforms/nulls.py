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

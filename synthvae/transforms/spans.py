"""The encoded layout as data: each column transformer declares its output spans.

The loss, the decoder's output activations and the inverse transform are all derived from
these spans (see :mod:`synthvae.layout`), never from the transformers themselves.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np


class SpanKind(str, enum.Enum):
    SCALAR = "scalar"  # one value in [-1, 1]: Gaussian likelihood with a learned sigma
    SOFTMAX = "softmax"  # a one-hot group: categorical likelihood


@dataclass(frozen=True)
class Span:
    """``width`` consecutive encoded columns of one source column."""

    column: str
    kind: SpanKind
    width: int
    role: str  # "value", "mode", "category" or "null": what the span encodes

    def __post_init__(self):
        if self.width < 1 or (self.kind is SpanKind.SCALAR and self.width != 1):
            raise ValueError(f"Invalid span width {self.width} for {self.kind.value} span "
                             f"of column {self.column!r}.")

    def to_dict(self) -> dict:
        return {"column": self.column, "kind": self.kind.value, "width": self.width,
                "role": self.role}

    @classmethod
    def from_dict(cls, data: dict) -> "Span":
        return cls(column=data["column"], kind=SpanKind(data["kind"]), width=int(data["width"]),
                   role=data["role"])


def span_argmax(block: np.ndarray) -> np.ndarray:
    """(n, k) scores of one softmax span -> (n,) index of each row's largest (the first on
    ties). numpy's row-wise argmax over a strided view of a row-major matrix runs several
    times slower than over a contiguous block (sampled matrices are column-major, so their
    spans are), and it is the bulk of an inverse transform at sampling scale."""
    if not block.flags.f_contiguous:
        block = np.ascontiguousarray(block)
    return np.argmax(block, axis=1)

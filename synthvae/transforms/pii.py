"""PII columns: not modelled; replaced by fake values of their kind that are never real.

The column's kind (``spec.pii``: email, phone, name, ...) picks a generator from
:mod:`synthvae.transforms.fakes`; the fence (:mod:`synthvae.transforms.fence`) keeps every
generated value apart from every training value, storing none of them. Values depend only on
the column key, the sample's seed and the global row number
(:mod:`synthvae.transforms.rowrandom`): the same seed gives the same values, and chunks,
streams and shards give the values the whole sample has on those rows. A nullable column
keeps its share of missing cells through a null span the model learns.
"""

from __future__ import annotations


import numpy as np
import pandas as pd

from synthvae.errors import ConfigError
from synthvae.schema import ColumnSpec
from synthvae.transforms.base import ColumnTransformer
from synthvae.transforms.fakes import KINDS
from synthvae.transforms.fence import Fence, learn_fence
from synthvae.transforms.idformat import as_text, check_template, check_variable_size
from synthvae.transforms.nulls import NullOnlyEncoding, decode_nulls
from synthvae.transforms.rowrandom import RowRandom, column_key, sample_seed
from synthvae.transforms.vocabulary import default_source, words

STATE_VERSION = 1
PROBE_ROWS = 64  # generated at fit, so a column that cannot be generated fails there


class PiiGenerator(NullOnlyEncoding, ColumnTransformer):
    """A PII column (``spec.pii`` names its kind), regenerated as fresh fake values."""

    def __init__(self, spec: ColumnSpec):
        self.spec = spec

    def fit(self, series: pd.Series, seed: int = 0, mixture: tuple | None = None):
        check_variable_size(self.spec)
        code, learn, _, default = KINDS[self.spec.pii]
        values, counts = as_text(series)
        self.key_ = column_key(seed, self.spec.name)
        self.source_ = default_source()
        self.fence_ = learn_fence(code, values, seed)
        self.layout_ = learn(values, counts, self.fence_, seed) if len(values) else default
        self._probe()
        return self

    def fit_from_spec(self):
        """Reads no data (used under DP): the kind's default format and no fence.

        Without the data nothing keeps generated values apart from the real ones; they are
        drawn from the vocabulary and random digits, so a match is a coincidence.
        """
        self.key_ = column_key(0, self.spec.name)
        self.source_ = default_source()
        self.fence_ = None
        self.layout_ = KINDS[self.spec.pii][3]
        return self

    def _probe(self) -> None:
        self.generate(np.arange(PROBE_ROWS), seed=0)

    # ------------------------------------------------------------------ layout

    # ------------------------------------------------------------------ generation
    def generate(self, rows: np.ndarray, seed: int) -> np.ndarray:
        """One fake value per global row number of the sample drawn with ``seed``."""
        make = KINDS[self.spec.pii][2]
        random = RowRandom(self.key_, seed, np.asarray(rows, dtype=np.int64))
        return make(self.layout_, words(self.source_), random, self.fence_)

    def inverse_transform(self, block: np.ndarray, rng=None, row_offset: int = 0) -> pd.Series:
        rows = np.arange(row_offset, row_offset + len(block), dtype=np.int64)
        missing = decode_nulls(block) if self.width else np.zeros(len(block), dtype=bool)
        values = self.generate(rows, sample_seed(rng))
        values[missing] = None
        series = pd.Series(values, name=self.spec.name, dtype=object)
        if self.spec.dtype not in (None, "object", "str") and not missing.any():
            try:
                return series.astype(self.spec.dtype)
            except (TypeError, ValueError):
                pass
        return series

    def encode_condition(self, wanted):
        raise ConfigError(f"Cannot condition on column {self.spec.name!r}: it holds personal "
                          f"data ({self.spec.pii}), replaced by fake values rather than "
                          f"modelled.")

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict:
        return {"kind": "pii", "version": STATE_VERSION, "pii": self.spec.pii,
                "key": int(self.key_), "source": self.source_, "layout": self.layout_,
                "fence": None if self.fence_ is None else self.fence_.to_dict()}

    def set_state(self, state: dict):
        if state.get("kind") != "pii" or state.get("version") != STATE_VERSION:
            raise ValueError(f"column {self.spec.name!r}: not a PII generator state")
        if state.get("pii") != self.spec.pii:
            raise ValueError(f"column {self.spec.name!r}: state is for PII kind "
                             f"{state.get('pii')!r}, the schema says {self.spec.pii!r}")
        self.key_, self.source_ = int(state["key"]), str(state["source"])
        self.layout_ = dict(state["layout"])
        for name in ("template", "local_template"):
            if self.layout_.get(name) is not None:
                check_template(self.layout_[name])
        self.fence_ = None if state["fence"] is None else Fence.from_dict(state["fence"])
        return self



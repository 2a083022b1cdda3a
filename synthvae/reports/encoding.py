"""Mixed tables as numbers: comparable values, row hashes, a distance embedding, tree inputs.

Every encoder is fitted on the real (training) table and then applied unchanged to the
synthetic and holdout tables, so the three live in the same space.

* :func:`canonical_frame` makes values comparable across tables read separately: numbers as
  float64, datetimes as seconds since 1970, categories as text. Identifier columns are left
  out (the synthesizer regenerates them, so they can never match).
* :func:`row_hashes` hashes canonical rows, for exact-copy counting by a hash join.
* :class:`Embedding` is the space of every distance in the reports: standardized numbers and
  one-hot categories scaled so that one standard deviation of a numeric column and one
  differing category each add exactly 1 to the squared Euclidean distance.
* :class:`TreeEncoding` gives gradient-boosting inputs: numbers plus integer category codes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from synthvae.schema import ColumnKind, Schema

# One-hot columns kept per categorical column in the embedding; rarer values share one
# "other" slot, so a 4,000-value column does not dominate distances or memory.
MAX_ONE_HOT = 50
# Category codes kept per column for gradient boosting (HistGradientBoosting allows < 255).
MAX_TREE_CATEGORIES = 250
_NUMERIC_KINDS = (ColumnKind.CONTINUOUS, ColumnKind.DATETIME)
_ONE_HOT_SCALE = np.float32(1 / np.sqrt(2))  # a mismatch flips two entries: 2 * 0.5 = 1


def modelled_columns(schema: Schema) -> list[str]:
    """Columns that carry information (identifiers are regenerated, so they are left out)."""
    return [c.name for c in schema.columns if c.kind is not ColumnKind.IDENTIFIER]


def empty_columns(canonical: pd.DataFrame) -> list[str]:
    """Columns of a canonical frame without a single value."""
    return [name for name in canonical.columns if not canonical[name].notna().any()]


def numeric_columns(schema: Schema) -> list[str]:
    return [c.name for c in schema.columns if c.kind in _NUMERIC_KINDS]


def categorical_columns(schema: Schema) -> list[str]:
    return [c.name for c in schema.columns
            if c.kind in (ColumnKind.CATEGORICAL, ColumnKind.CONSTANT)]


def canonical_frame(df: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """The modelled columns as float64 (numbers, datetimes in seconds) or text (categories)."""
    out = {}
    for spec in schema.columns:
        if spec.kind is ColumnKind.IDENTIFIER:
            continue
        series = df[spec.name]
        if spec.kind is ColumnKind.CONTINUOUS:
            out[spec.name] = pd.to_numeric(series, errors="coerce").astype(np.float64)
        elif spec.kind is ColumnKind.DATETIME:
            out[spec.name] = datetime_seconds(series, spec.datetime_format)
        else:
            out[spec.name] = category_text(series)
    return pd.DataFrame(out, index=df.index)


def datetime_seconds(series: pd.Series, fmt: str | None) -> pd.Series:
    """Seconds since 1970-01-01 (UTC for zoned values); unparseable or missing -> NaN."""
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        stamps = series
    else:
        stamps = pd.to_datetime(series, format=fmt, errors="coerce", utc=True)  # offsets vary
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    return (stamps - pd.Timestamp(0)) / pd.Timedelta(seconds=1)


def category_text(series: pd.Series) -> pd.Series:
    """Values as text, numbers through float so 1 and 1.0 agree; missing stays NaN."""
    values = series.astype(object) if isinstance(series.dtype, pd.CategoricalDtype) else series
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
            values.dtype):
        values = pd.to_numeric(values, errors="coerce").astype(np.float64)
    text = values.astype(str).astype(object)
    text[values.isna().to_numpy()] = np.nan
    return text


def row_hashes(canonical: pd.DataFrame) -> np.ndarray:
    """One uint64 per row; equal rows of canonical frames hash equal."""
    return pd.util.hash_pandas_object(canonical, index=False).to_numpy()


def without_rows(rows: np.ndarray, remove: np.ndarray) -> np.ndarray | None:
    """Mask of ``rows`` (hashes) keeping all but one occurrence per ``remove`` hash, or None
    when ``remove`` is not contained in ``rows`` (counting repeats)."""
    order = np.argsort(rows, kind="stable")
    ordered = rows[order]
    rank = np.empty(len(rows), dtype=np.int64)  # occurrence number among equal hashes
    rank[order] = np.arange(len(rows)) - np.searchsorted(ordered, ordered, side="left")
    values, needed = np.unique(remove, return_counts=True)
    found = np.searchsorted(ordered, values, "right") - np.searchsorted(ordered, values, "left")
    if (found < needed).any():
        return None
    position = np.clip(np.searchsorted(values, rows), 0, len(values) - 1)
    wanted = np.where(values[position] == rows, needed[position], 0)  # (n_rows,)
    return rank >= wanted


@dataclass(frozen=True)
class Embedding:
    """Standardized numbers (+ missing flags) and scaled one-hot categories, fitted on real."""

    numeric: tuple[str, ...]
    means: np.ndarray  # (n_numeric,)
    scales: np.ndarray  # (n_numeric,)
    flagged: tuple[str, ...]  # numeric columns with missing values in the real table
    categories: tuple[tuple[str, tuple], ...]  # (column, kept values incl. NaN)

    @classmethod
    def fit(cls, canonical: pd.DataFrame, schema: Schema) -> "Embedding":
        numeric = tuple(c for c in numeric_columns(schema) if c in canonical)
        values = canonical[list(numeric)].to_numpy(np.float64)
        means = _nan_or(np.nanmean(values, axis=0) if values.size else np.zeros(0), 0.0)
        scales = _nan_or(np.nanstd(values, axis=0) if values.size else np.zeros(0), 1.0)
        scales[scales == 0] = 1.0
        flagged = tuple(c for c in numeric if canonical[c].isna().any())
        kept = tuple((c, _top_values(canonical[c], MAX_ONE_HOT))
                     for c in categorical_columns(schema) if c in canonical)
        return cls(numeric, means, scales, flagged, kept)

    @property
    def width(self) -> int:
        return (len(self.numeric) + len(self.flagged)
                + sum(len(values) + 1 for _, values in self.categories))

    def transform(self, canonical: pd.DataFrame) -> np.ndarray:
        """(n_rows, width) float32; missing numbers sit at the mean and raise their flag."""
        values = canonical[list(self.numeric)].to_numpy(np.float64)
        missing = np.isnan(values)
        scaled = np.where(missing, 0.0, (values - self.means) / self.scales)
        flags = canonical[list(self.flagged)].isna().to_numpy(np.float64)
        parts = [scaled.astype(np.float32), flags.astype(np.float32)]
        parts += [_one_hot(canonical[c], values) for c, values in self.categories]
        return np.ascontiguousarray(np.hstack(parts), dtype=np.float32)


def _nan_or(values: np.ndarray, fallback: float) -> np.ndarray:
    return np.where(np.isnan(values), fallback, values)


def _top_values(series: pd.Series, limit: int) -> tuple:
    counts = series.value_counts(dropna=False)
    return tuple(counts.index[:limit])


def _one_hot(series: pd.Series, kept: tuple) -> np.ndarray:
    """(n_rows, len(kept) + 1): the last slot is "any other value"."""
    codes = _codes(series, kept, other=len(kept))
    out = np.zeros((len(series), len(kept) + 1), dtype=np.float32)
    out[np.arange(len(series)), codes] = _ONE_HOT_SCALE
    return out


def _codes(series: pd.Series, kept: tuple, other: int) -> np.ndarray:
    """A distinct code per kept value (missing last among them if kept); ``other`` if absent."""
    known = [v for v in kept if not _is_nan(v)]
    codes = pd.Categorical(series, categories=known).codes.astype(np.int64)
    if len(known) < len(kept):  # missing is one of the kept values: it takes the next code
        codes[series.isna().to_numpy()] = len(known)
    codes[codes < 0] = other
    return codes


def _is_nan(value) -> bool:
    return isinstance(value, float) and np.isnan(value)


@dataclass(frozen=True)
class TreeEncoding:
    """Numbers as float64 and categories as integer codes, for HistGradientBoosting."""

    numeric: tuple[str, ...]
    categories: tuple[tuple[str, tuple], ...]

    @classmethod
    def fit(cls, canonical: pd.DataFrame, schema: Schema, exclude: tuple = ()) -> "TreeEncoding":
        numeric = tuple(c for c in numeric_columns(schema) if c in canonical and c not in exclude)
        kept = tuple((c, _top_values(canonical[c].dropna(), MAX_TREE_CATEGORIES))
                     for c in categorical_columns(schema) if c in canonical and c not in exclude)
        return cls(numeric, kept)

    @property
    def categorical_mask(self) -> np.ndarray:
        return np.array([False] * len(self.numeric) + [True] * len(self.categories), dtype=bool)

    def transform(self, canonical: pd.DataFrame) -> np.ndarray:
        """(n_rows, n_features) float64; category codes, rare values share the last code."""
        numbers = canonical[list(self.numeric)].to_numpy(np.float64)
        codes = [_tree_codes(canonical[c], kept) for c, kept in self.categories]
        return np.column_stack([numbers, *codes]) if codes else numbers


def _tree_codes(series: pd.Series, kept: tuple) -> np.ndarray:
    codes = _codes(series, kept, other=len(kept)).astype(np.float64)
    codes[series.isna().to_numpy()] = np.nan  # missing values take the trees' missing branch
    return codes

"""A generated column in the model dtype of the original column (see synthvae/frames.py).

Columns leave the transformers NumPy-backed (missing = NaN); :func:`synthvae.frames.
restore_frame` then gives them the recorded dtype (nullable, string, Arrow) in one place.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from synthvae.frames import model_dtype
from synthvae.schema import ColumnSpec


def restore_numeric(values: np.ndarray, spec: ColumnSpec) -> pd.Series:
    """Float values (NaN = missing) -> the original numeric dtype."""
    missing = np.isnan(values)
    dtype = model_dtype(spec.dtype)
    if spec.integer or spec.decimals == 0:
        values = np.round(values)
    elif spec.decimals is not None:
        values = np.round(values, spec.decimals)
    if dtype.startswith(("int", "uint")) and not missing.any():
        info = np.iinfo(np.dtype(dtype))
        return pd.Series(np.clip(values, info.min, info.max).astype(dtype), name=spec.name)
    if dtype.startswith("float"):
        return pd.Series(values, name=spec.name).astype(dtype)
    return pd.Series(values, name=spec.name)


def restore_categorical(values: np.ndarray, missing: np.ndarray, spec: ColumnSpec,
                        categories: list) -> pd.Series:
    """Object values (with ``missing`` rows) -> the original categorical-like dtype."""
    dtype = model_dtype(spec.dtype)
    if dtype == "category":
        out = values.astype(object)
        out[missing] = np.nan
        cats = list(spec.categories) if spec.categories is not None else categories
        return pd.Series(pd.Categorical(out, categories=cats, ordered=spec.ordered),
                         name=spec.name)
    out = values.astype(object)
    out[missing] = np.nan
    series = pd.Series(out, name=spec.name)
    if missing.any():  # integers and booleans with gaps stay float64 / object here
        return series.astype(dtype) if dtype.startswith("float") else series
    try:
        return series.astype(dtype)
    except (TypeError, ValueError):
        return series

"""Restore a generated column to the pandas dtype of the original column."""

from __future__ import annotations

import numpy as np
import pandas as pd

from synthvae.schema import ColumnSpec


def restore_numeric(values: np.ndarray, spec: ColumnSpec) -> pd.Series:
    """Float values (NaN = missing) -> the original numeric dtype."""
    missing = np.isnan(values)
    dtype = spec.dtype
    if spec.integer or spec.decimals == 0:
        values = np.round(values)
    elif spec.decimals is not None:
        values = np.round(values, spec.decimals)
    if dtype.startswith(("int", "uint")) and not missing.any():
        info = np.iinfo(np.dtype(dtype))
        return pd.Series(np.clip(values, info.min, info.max).astype(dtype), name=spec.name)
    if dtype in ("Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64"):
        return pd.Series(pd.array(np.where(missing, None, values), dtype=dtype), name=spec.name)
    if dtype.startswith(("float", "Float")):
        return pd.Series(values, name=spec.name).astype(dtype)
    return pd.Series(values, name=spec.name)


def restore_categorical(values: np.ndarray, missing: np.ndarray, spec: ColumnSpec,
                        categories: list) -> pd.Series:
    """Object values (with ``missing`` rows) -> the original categorical-like dtype."""
    dtype = spec.dtype
    if dtype == "category":
        out = values.astype(object)
        out[missing] = np.nan
        cats = list(spec.categories) if spec.categories is not None else categories
        return pd.Series(pd.Categorical(out, categories=cats, ordered=spec.ordered),
                         name=spec.name)
    out = values.astype(object)
    out[missing] = np.nan
    series = pd.Series(out, name=spec.name)
    if missing.any():
        if dtype.startswith("float"):
            return series.astype(dtype)
        if dtype in ("boolean", "string") or dtype.startswith(("Int", "UInt")):
            return series.astype(dtype)
        return series
    try:
        return series.astype(dtype)
    except (TypeError, ValueError):
        return series

"""Per-column distributions of real and synthetic values, as shares, for the HTML plots.

Numbers and datetimes: ``BINS`` equal-width bins between the real 0.5 % and 99.5 %
quantiles; values beyond fall into the first / last bin, so one outlier does not squeeze the
plot. ``x`` holds the bin centres (ISO text for datetimes), ``width`` the bin width (seconds
for datetimes). Categories: the ``TOP_CATEGORIES`` most frequent real values, then "(other)" and
"(missing)". Shares are over all rows of each table, missing values included.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from synthvae.reports.encoding import categorical_columns, numeric_columns
from synthvae.schema import ColumnKind, Schema

BINS = 30
TOP_CATEGORIES = 20
OTHER, MISSING = "(other)", "(missing)"


def column_distributions(real: pd.DataFrame, synthetic: pd.DataFrame,
                         schema: Schema) -> list[dict]:
    """One entry per modelled column, in table order; frames are canonical."""
    numeric, categorical = set(numeric_columns(schema)), set(categorical_columns(schema))
    out = []
    for spec in schema.columns:
        if spec.name in numeric:
            out.append(_numeric(real[spec.name], synthetic[spec.name], spec.kind))
        elif spec.name in categorical:
            out.append(_categorical(real[spec.name], synthetic[spec.name]))
    return out


def _numeric(real: pd.Series, synthetic: pd.Series, kind: ColumnKind) -> dict:
    values = real.dropna().to_numpy()
    low, high = np.quantile(values, [0.005, 0.995]) if len(values) else (0.0, 1.0)
    if high <= low:
        low, high = (values.min(), values.max()) if len(values) else (0.0, 1.0)
        high = high if high > low else low + 1.0
    edges = np.linspace(low, high, BINS + 1)
    centers = (edges[:-1] + edges[1:]) / 2
    if kind is ColumnKind.DATETIME:  # seconds -> ISO text, which plotly draws as dates
        centers = pd.to_datetime(centers, unit="s").strftime("%Y-%m-%dT%H:%M:%S").to_numpy()
    return {"column": str(real.name), "kind": kind.value,
            "x": centers.tolist(), "width": float(edges[1] - edges[0]),
            "real": _binned(real, edges), "synthetic": _binned(synthetic, edges),
            "real_missing": float(real.isna().mean()),
            "synthetic_missing": float(synthetic.isna().mean())}


def _binned(series: pd.Series, edges: np.ndarray) -> list[float]:
    values = series.dropna().to_numpy()
    index = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
    return (np.bincount(index, minlength=len(edges) - 1) / max(1, len(series))).tolist()


def _categorical(real: pd.Series, synthetic: pd.Series) -> dict:
    top = list(real.value_counts().index[:TOP_CATEGORIES])
    labels = [str(v) for v in top] + [OTHER, MISSING]
    return {"column": str(real.name), "kind": "categorical", "x": labels, "width": None,
            "real": _shares(real, top), "synthetic": _shares(synthetic, top),
            "real_missing": float(real.isna().mean()),
            "synthetic_missing": float(synthetic.isna().mean())}


def _shares(series: pd.Series, top: list) -> list[float]:
    n = max(1, len(series))
    counts = series.value_counts()
    known = [float(counts.get(v, 0)) / n for v in top]
    missing = float(series.isna().sum()) / n
    return known + [max(0.0, 1.0 - sum(known) - missing), missing]

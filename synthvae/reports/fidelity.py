"""sdmetrics' QualityReport (Column Shapes, Column Pair Trends) and DiagnosticReport.

Column Pair Trends is reported two ways. sdmetrics 0.32 by default averages only the pairs
whose real correlation exceeds 0.5 (numeric pairs) or whose real Cramer's V exceeds 0.3
(other pairs), so a synthesizer that breaks the many weak relations is not penalised; with
both thresholds set to 0 every pair counts. Per-pair scores come from the all-pairs run, with
a flag saying whether the pair passed the default thresholds.
"""

from __future__ import annotations

import pandas as pd

from synthvae.reports._util import as_float, quiet_sdmetrics

TABLE = "table"


def quality(real: pd.DataFrame, synthetic: pd.DataFrame, metadata: dict) -> dict:
    """Column Shapes and Column Pair Trends, per column and per pair (JSON-ready)."""
    default = _quality_report(real, synthetic, metadata, all_pairs=False)
    every = _quality_report(real, synthetic, metadata, all_pairs=True)
    return {
        "column_shapes": _column_shapes(every),
        "column_pair_trends": _pair_trends(default, every),
    }


def diagnostic(real: pd.DataFrame, synthetic: pd.DataFrame, metadata: dict) -> dict:
    """Data Validity (values within real bounds / categories) and Data Structure (columns)."""
    from sdmetrics.reports import DiagnosticReport

    report = DiagnosticReport()
    with quiet_sdmetrics():
        report.generate({TABLE: real}, {TABLE: synthetic}, _tables(metadata), verbose=False)
    scores = _property_scores(report)
    details = report.get_details("Data Validity")
    return {
        "data_validity": scores.get("Data Validity"),
        "data_structure": scores.get("Data Structure"),
        "columns": [{"column": row["Column"], "metric": row["Metric"],
                     "score": as_float(row["Score"])} for _, row in details.iterrows()],
    }


def _quality_report(real, synthetic, metadata, all_pairs: bool):
    from sdmetrics.reports import QualityReport

    report = QualityReport()
    if all_pairs:
        report.real_correlation_threshold = 0
        report.real_association_threshold = 0
    with quiet_sdmetrics():
        report.generate({TABLE: real}, {TABLE: synthetic}, _tables(metadata), verbose=False)
    return report


def _column_shapes(report) -> dict:
    details = report.get_details("Column Shapes")
    return {
        "score": _property_scores(report).get("Column Shapes"),
        "columns": [{"column": row["Column"], "metric": row["Metric"],
                     "score": as_float(row["Score"])} for _, row in details.iterrows()],
    }


def _pair_trends(default, every) -> dict:
    from sdmetrics.reports.utils import (DEFAULT_REAL_ASSOCIATION_THRESHOLD,
                                         DEFAULT_REAL_CORRELATION_THRESHOLD)

    thresholded = default.get_details("Column Pair Trends")
    details = every.get_details("Column Pair Trends")
    meets = _pair_index(thresholded, "Meets Threshold?")
    return {
        "score": _property_scores(default).get("Column Pair Trends"),
        "score_all_pairs": _property_scores(every).get("Column Pair Trends"),
        "thresholds": {"real_correlation": DEFAULT_REAL_CORRELATION_THRESHOLD,
                       "real_association": DEFAULT_REAL_ASSOCIATION_THRESHOLD},
        "pairs": [_pair_row(row, meets) for _, row in details.iterrows()],
    }


def _pair_row(row: pd.Series, meets: dict) -> dict:
    key = (row["Column 1"], row["Column 2"])
    return {
        "column_1": key[0], "column_2": key[1], "metric": row["Metric"],
        "score": as_float(row["Score"]),
        "real_correlation": as_float(row.get("Real Correlation")),
        "synthetic_correlation": as_float(row.get("Synthetic Correlation")),
        "meets_default_threshold": bool(meets.get(key, False)),
    }


def _pair_index(details: pd.DataFrame, column: str) -> dict:
    flags = details[column].astype("boolean").fillna(False).to_numpy(dtype=bool)
    return dict(zip(zip(details["Column 1"], details["Column 2"]), flags))


def _property_scores(report) -> dict:
    table = report.get_properties()
    return {name: as_float(score) for name, score in zip(table["Property"], table["Score"])}


def _tables(metadata: dict) -> dict:
    return {"tables": {TABLE: metadata}}

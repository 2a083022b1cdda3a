"""sdmetrics' QualityReport (Column Shapes, Column Pair Trends) and DiagnosticReport.

Column Pair Trends is reported two ways. sdmetrics 0.32 by default averages only the pairs
whose real correlation exceeds 0.5 (numeric pairs) or whose real Cramer's V exceeds 0.3
(other pairs), so a synthesizer that breaks the many weak relations is not penalised; with
both thresholds set to 0 every pair counts. Per-pair scores come from the all-pairs run, with
a flag saying whether the pair passed the default thresholds.

A third figure, ``score_real_bins``, corrects how sdmetrics 0.32's report bins numbers for
the mixed pairs: it cuts each table's numeric columns at that table's own 10 histogram edges,
so a synthetic column whose extremes differ from the real ones (one outlier more or less) is
cut elsewhere and every mixed pair with it scores low however faithful the joint
distribution is (on the Default table, real holdout rows score 0.89 against their own
training rows). SDMetrics' stated method, used by its standalone ``ContingencySimilarity``,
cuts both tables at the real data's edges opened to -inf and +inf; ``score_real_bins`` does
that over every pair (see :func:`pair_trends_real_bins`).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from synthvae.reports._util import as_float, quiet_sdmetrics

TABLE = "table"
PAIR_KINDS = ("numerical", "datetime", "categorical", "boolean")  # the pair metrics' sdtypes
# A wider table's Column Pair Trends are taken over the pairs of this many of its columns,
# drawn at random (the report's seed): the pair metrics cost ~8 ms a pair (three runs over
# every pair), so 3,000 columns' 4.5 million pairs would take ten hours; 60 columns' 1,770
# about 15 s. Every pair is equally likely to be among them, so the all-pairs means estimate
# the whole's (the thresholded score, over the few strong pairs among them, is rougher).
MAX_PAIR_COLUMNS = 60


def quality(real: pd.DataFrame, synthetic: pd.DataFrame, metadata: dict, seed: int = 0
            ) -> dict:
    """Column Shapes and Column Pair Trends, per column and per pair (JSON-ready). On a
    table with more than ``MAX_PAIR_COLUMNS`` columns that form pairs, the pair trends are
    those of a random subset of that many (``column_pair_trends["sampled_columns"]``)."""
    sampled = pair_columns(metadata, seed)
    if sampled is not None:  # every column's shape; the drawn columns' pairs below
        shapes = _column_shapes_alone(real, synthetic, metadata)
        real, synthetic = real[sampled], synthetic[sampled]
        metadata = {**metadata, "columns": {name: metadata["columns"][name]
                                            for name in sampled}}
    default = _quality_report(real, synthetic, metadata, all_pairs=False)
    every = _quality_report(real, synthetic, metadata, all_pairs=True)
    if sampled is None:
        shapes = _column_shapes(every.get_details("Column Shapes"),
                                _property_scores(every).get("Column Shapes"),
                                empty_synthetic_columns(real, synthetic))
    trends = _pair_trends(default, every)
    trends["score_real_bins"] = pair_trends_real_bins(real, synthetic, metadata)
    trends["sampled_columns"] = sampled
    return {"column_shapes": shapes, "column_pair_trends": trends}


def pair_columns(metadata: dict, seed: int) -> list[str] | None:
    """None when every pair is scored; else the ``MAX_PAIR_COLUMNS`` columns (in table
    order) drawn at random with ``seed`` among those of a pair kind."""
    names = [name for name, column in metadata["columns"].items()
             if column["sdtype"] in PAIR_KINDS]
    if len(names) <= MAX_PAIR_COLUMNS:
        return None
    chosen = np.random.default_rng(seed).choice(len(names), MAX_PAIR_COLUMNS, replace=False)
    return [names[i] for i in sorted(chosen)]


def _column_shapes_alone(real: pd.DataFrame, synthetic: pd.DataFrame, metadata: dict
                         ) -> dict:
    """Column Shapes as the QualityReport computes them, without its pairs (sdmetrics'
    ``ColumnShapes`` property, the one the report runs)."""
    from sdmetrics.reports.base_report import BaseReport
    from sdmetrics.reports.single_table._properties import ColumnShapes  # sdmetrics < 0.33

    shapes = ColumnShapes()
    real, synthetic = real.copy(deep=False), synthetic.copy(deep=False)  # columns replaced
    with quiet_sdmetrics():
        # as the report's generate() does first: datetimes held as text parsed by format
        BaseReport.convert_datetimes(real, synthetic, metadata)
        score = shapes.get_score(real, synthetic, metadata)
    return _column_shapes(shapes.details, as_float(score),
                          empty_synthetic_columns(real, synthetic))


def empty_synthetic_columns(real: pd.DataFrame, synthetic: pd.DataFrame) -> list[str]:
    """Columns the synthetic table holds no value in although the real one does: the mark of
    a synthesizer that failed on them."""
    return [name for name in real.columns
            if real[name].notna().any() and not synthetic[name].notna().any()]


def pair_trends_real_bins(real: pd.DataFrame, synthetic: pd.DataFrame, metadata: dict
                          ) -> float | None:
    """Mean over every column pair of sdmetrics' pair metric, numbers cut at real edges.

    Number pairs: ``CorrelationSimilarity`` (Pearson), as the QualityReport. Other pairs:
    ``ContingencySimilarity`` with the pair's numeric columns cut at the real column's 10
    histogram edges, the outer ones opened to -inf and +inf, in both tables. Datetimes count
    as numbers. A number pair with a constant column has no correlation and is left out, as
    the QualityReport leaves it out. None when no pair can be scored.
    """
    from sdmetrics.column_pairs import ContingencySimilarity, CorrelationSimilarity
    from sdmetrics.errors import ConstantInputError

    kinds = {name: column["sdtype"] for name, column in metadata["columns"].items()
             if column["sdtype"] in ("numerical", "datetime", "categorical", "boolean")}
    numbers = {name for name, kind in kinds.items() if kind in ("numerical", "datetime")}
    real, synthetic = (_datetimes_as_numbers(df[list(kinds)], metadata)
                       for df in (real, synthetic))
    scores = []
    with quiet_sdmetrics():
        for pair in map(list, itertools.combinations(kinds, 2)):
            continuous = [c for c in pair if c in numbers]
            if not _has_values(real[pair], synthetic[pair], continuous):
                continue
            if len(continuous) == 2:
                try:
                    score = CorrelationSimilarity.compute(real[pair], synthetic[pair])
                except ConstantInputError:
                    continue
            else:
                score = ContingencySimilarity.compute_breakdown(
                    real[pair], synthetic[pair],
                    continuous_column_names=continuous or None)["score"]
            scores.append(as_float(score))
    scores = [s for s in scores if s is not None]
    return sum(scores) / len(scores) if scores else None


def _has_values(real: pd.DataFrame, synthetic: pd.DataFrame, continuous: list[str]) -> bool:
    """Whether a pair of numbers has a correlation to compare: 2 rows holding both numbers
    in each table (a synthetic column left empty has none). The QualityReport leaves such a
    pair out (its metric fails); so does this mean. Other pairs always have a contingency
    table: missing values are a cell of their own there."""
    return len(continuous) < 2 or all(len(df.dropna()) >= 2 for df in (real, synthetic))


def _datetimes_as_numbers(df: pd.DataFrame, metadata: dict) -> pd.DataFrame:
    out = df.copy()
    for name in out.columns:
        column = metadata["columns"][name]
        if column["sdtype"] == "datetime":
            stamps = pd.to_datetime(out[name], format=column.get("datetime_format"),
                                    errors="coerce", utc=True)
            out[name] = (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    return out


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


def _column_shapes(details: pd.DataFrame, score: float | None, empty: list[str]) -> dict:
    """sdmetrics' scores (its Column Shapes ``details`` and ``score``), with 0 for a
    synthetic column without a value: KSComplement and TVComplement compare the values
    present, fail on none, and sdmetrics then leaves the column out of the mean, so an
    emptied column would raise the score. None of the real distribution is reproduced
    there, hence the worst score."""
    columns = [{"column": row["Column"], "metric": row["Metric"],
                "score": 0.0 if row["Column"] in empty else as_float(row["Score"])}
               for _, row in details.iterrows()]
    if any(column["column"] in empty for column in columns):
        scores = [column["score"] for column in columns if column["score"] is not None]
        score = sum(scores) / len(scores)
    return {"score": score, "columns": columns}


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

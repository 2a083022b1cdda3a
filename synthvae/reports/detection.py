"""Detection: how well a classifier tells real rows from synthetic rows.

* ``logistic``: sdmetrics' ``LogisticDetection`` (its own encoding and 3-fold split, whose
  shuffle draws from NumPy's global state: seeded with the report's seed for the call):
  ``1 - mean(2 * max(AUC, 0.5) - 1)``; 1 = indistinguishable, 0 = perfectly separable.
  Synthetic categories the real table lacks are replaced first (see ``_only_seen_categories``).
* ``gradient_boosting``: scikit-learn's HistGradientBoostingClassifier with native
  categorical splits, stratified ``FOLDS``-fold cross-validated ROC AUC on real (label 1) vs
  synthetic (label 0) rows, each side subsampled to at most ``MAX_ROWS``. Its ``score`` is
  ``1 - |2 * AUC - 1|``: also 1 when indistinguishable and 0 when separable, but an AUC well
  below 0.5 (the classifier systematically inverted, as happens when synthetic rows are
  copies of real ones) counts against the data instead of being clipped away.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from synthvae.reports._util import (as_float, limited_threads, quiet_sdmetrics,
                                   seeded_global_numpy, subsample)

FOLDS = 3
MAX_ROWS = 50_000  # per side; a larger table is subsampled for the classifier
# per side: each of the FOLDS folds needs rows of both sides, and so does the validation
# split (a tenth of a fold's training rows) that early stopping holds out
MIN_ROWS = 10
SDMETRICS_SDTYPES = ("numerical", "datetime", "categorical")  # what LogisticDetection reads


def rows_reason(real_rows: int, synthetic_rows: int) -> str | None:
    """Why detection cannot be cross-validated on tables this small; None when it can."""
    if min(real_rows, synthetic_rows) >= MIN_ROWS:
        return None
    return (f"Detection was not computed: it needs at least {MIN_ROWS} rows in each table "
            f"to cross-validate a classifier; found {real_rows} real and {synthetic_rows} "
            f"synthetic rows.")


def logistic_reason(real: pd.DataFrame, metadata: dict) -> str | None:
    """Why sdmetrics' LogisticDetection has no feature to learn from; None when it has one.
    It leaves out boolean and id columns, and scikit-learn drops columns without a value."""
    if any(meta.get("sdtype") in SDMETRICS_SDTYPES and real[name].notna().any()
           for name, meta in metadata["columns"].items()):
        return None
    return ("LogisticDetection was not computed: sdmetrics' detection reads only numerical, "
            "datetime and categorical columns with values, and the real table has none "
            "(boolean, identifier and empty columns are left out).")


def logistic_detection(real: pd.DataFrame, synthetic: pd.DataFrame, metadata: dict,
                       seed: int = 0) -> dict:
    """sdmetrics' score, the same for the same ``seed``; ``unseen_values_replaced`` counts
    the workaround described below."""
    from sdmetrics.single_table import LogisticDetection

    synthetic, replaced = _only_seen_categories(real, synthetic, metadata)
    real, synthetic = _signed_integers(real), _signed_integers(synthetic)
    (real, synthetic), metadata = _datetimes_in_utc((real, synthetic), metadata)
    with quiet_sdmetrics(), limited_threads(), seeded_global_numpy(seed):
        score = LogisticDetection.compute(real, synthetic, metadata)
    return {"score": as_float(score), "unseen_values_replaced": replaced}


def _only_seen_categories(real: pd.DataFrame, synthetic: pd.DataFrame, metadata: dict):
    """sdmetrics one-hot encodes text columns fitted on real only, and fails on a synthetic
    value the real table lacks (a rare category absent from a sample). Such values are set
    to the column's most frequent real value for this metric only; they are counted."""
    synthetic, replaced = synthetic.copy(), 0
    for name, meta in metadata["columns"].items():
        column = real[name].dropna().infer_objects()
        if meta.get("sdtype") != "categorical" or column.dtype.kind != "O" or not len(column):
            continue
        unseen = ~synthetic[name].isin(real[name].unique())
        if unseen.any():
            synthetic.loc[unseen, name] = column.mode().iloc[0]
            replaced += int(unseen.sum())
    return synthetic, replaced


def _datetimes_in_utc(frames: tuple, metadata: dict) -> tuple[tuple, dict]:
    """Text datetimes parsed, as naive UTC, for sdmetrics: it parses them with their format
    alone, and text whose UTC offsets differ (across daylight saving) stays objects there."""
    columns = {name: meta for name, meta in metadata["columns"].items()
               if meta.get("sdtype") == "datetime" and meta.get("datetime_format")}
    if not columns:
        return frames, metadata
    parsed = tuple(frame.assign(**{
        name: pd.to_datetime(frame[name], format=meta["datetime_format"], errors="coerce",
                             utc=True).dt.tz_localize(None)
        for name, meta in columns.items() if name in frame}) for frame in frames)
    plain = {name: {k: v for k, v in meta.items() if k != "datetime_format"}
             for name, meta in columns.items()}
    return parsed, {**metadata, "columns": {**metadata["columns"], **plain}}


def _signed_integers(frame: pd.DataFrame) -> pd.DataFrame:
    """Unsigned integer columns as float64: sdmetrics 0.32's encoder knows the kinds "i" and
    "f" but not "u", and fails with a KeyError on a uint8 column."""
    unsigned = [name for name in frame.columns if frame[name].dtype.kind == "u"]
    return frame.astype({name: np.float64 for name in unsigned}) if unsigned else frame


def boosting_detection(real: np.ndarray, synthetic: np.ndarray, categorical: np.ndarray,
                       seed: int) -> dict:
    """Cross-validated AUC of gradient boosting on tree-encoded rows (see module docs)."""
    rng = np.random.default_rng(seed)
    real, synthetic = subsample(real, MAX_ROWS, rng), subsample(synthetic, MAX_ROWS, rng)
    features = np.vstack([real, synthetic])
    labels = np.r_[np.ones(len(real)), np.zeros(len(synthetic))]
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
    aucs = [_fold_auc(features, labels, train, test, categorical, seed)
            for train, test in folds.split(features, labels)]
    auc = float(np.mean(aucs))
    return {"auc": auc, "score": 1 - abs(2 * auc - 1), "fold_aucs": aucs,
            "rows_per_side": [len(real), len(synthetic)], "folds": FOLDS}


def _fold_auc(features, labels, train, test, categorical, seed) -> float:
    model = detection_classifier(categorical, seed)
    with limited_threads():
        model.fit(features[train], labels[train])
    return float(roc_auc_score(labels[test], model.predict_proba(features[test])[:, 1]))


def detection_classifier(categorical: np.ndarray, seed: int) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        categorical_features=categorical if categorical.any() else None,
        early_stopping=True, random_state=seed)


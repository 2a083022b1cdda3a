"""Machine-learning efficacy: train on synthetic, test on real holdout rows (TSTR).

The same HistGradientBoosting model is trained twice, once on the synthetic table and once on
the real training table, and both are scored on the holdout. The task follows the schema
kind of the target: categorical -> classification (ROC AUC, one-vs-rest macro average over
the classes present in the holdout, and macro F1), continuous or datetime -> regression (R²).
Rows whose target is missing are dropped. ``ratio`` = synthetic score / real score. A target
of another kind (constant, identifier) is not scored, and ``kind_reason`` says why; what the
scores hide (one holdout class, holdout classes no training row has) ``class_notes`` says.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.metrics import f1_score, r2_score, roc_auc_score

from synthvae.reports._util import first_few, limited_threads
from synthvae.reports.encoding import (TreeEncoding, categorical_columns, category_text,
                                       numeric_columns)
from synthvae.schema import ColumnKind, Schema

MIN_ROWS = 2  # with a target value, per table: R² and AUC compare at least two rows


def task_of(schema: Schema, target: str) -> str | None:
    """The task ``target``'s kind asks for; None for a kind nothing can predict (see
    :func:`kind_reason`)."""
    kind = schema[target].kind
    if kind in (ColumnKind.CONTINUOUS, ColumnKind.DATETIME):
        return "regression"
    if kind is ColumnKind.CATEGORICAL:
        return "classification"
    return None


def kind_reason(schema: Schema, target: str) -> str | None:
    """Why ``target``'s kind cannot be predicted; None when it can. The kind is detected from
    the real rows (a column with one value or none, or any column of a one-row table, is
    'constant'), so this is a property of the tables, noted like too few rows, not an error."""
    kind = schema[target].kind
    if task_of(schema, target) is not None:
        return None
    why = ("it holds one value or none in the real table, so there is nothing to learn"
           if kind is ColumnKind.CONSTANT else "identifier values are regenerated, not learned")
    return (f"ML efficacy for target {target!r} was not computed: it needs a categorical, "
            f"continuous or datetime target; found kind {kind.value!r} ({why}).")


def rows_reason(tables: dict[str, pd.DataFrame], target: str) -> str | None:
    """Why ``target`` cannot be learned or tested on these tables; None when it can."""
    counts = {name: int(tables[name][target].notna().sum())
              for name in ("real", "synthetic", "holdout")}
    if min(counts.values()) >= MIN_ROWS:
        return None
    found = ", ".join(f"{n:,} {name}" for name, n in counts.items())
    return (f"ML efficacy for target {target!r} was not computed: it needs at least {MIN_ROWS} "
            f"rows with a value in {target!r} in each of the real, synthetic and holdout tables; "
            f"found "
            f"{found}.")


def features_reason(schema: Schema, target: str) -> str | None:
    """Why there is nothing to predict ``target`` from; None when another column is there."""
    features = [name for name in (*numeric_columns(schema), *categorical_columns(schema))
                if name != target]
    if features:
        return None
    return (f"ML efficacy for target {target!r} was not computed: it needs at least one feature "
            f"column besides the target (identifier columns are left out); the table has "
            f"none.")


def ml_efficacy(tables: dict[str, pd.DataFrame], schema: Schema, target: str,
                seed: int) -> dict:
    """``tables`` holds canonical frames under "real", "synthetic" and "holdout"."""
    task = task_of(schema, target)
    encoding = TreeEncoding.fit(tables["real"], schema, exclude=(target,))
    test_x, test_y = _xy(tables["holdout"], encoding, target, task)
    scores = {}
    for name in ("synthetic", "real"):
        train_x, train_y = _xy(tables[name], encoding, target, task)
        with limited_threads():
            scores[name] = _fit_score(train_x, train_y, test_x, test_y, task, encoding, seed)
    primary = "roc_auc" if task == "classification" else "r2"
    return {"target": target, "task": task, "primary_metric": primary,
            "synthetic": scores["synthetic"], "real": scores["real"],
            "ratio": _ratio(scores["synthetic"][primary], scores["real"][primary]),
            "holdout_rows": int(len(test_y))}


def class_notes(tables: dict[str, pd.DataFrame], schema: Schema, target: str) -> list[str]:
    """What the classification scores cannot say by themselves: ROC AUC is None when the
    holdout rows hold one class (nothing to rank it against), and a holdout class absent from
    a training table scores F1 0 and AUC 0.5 in the macro averages (no model can predict it).
    """
    if task_of(schema, target) != "classification":
        return []
    classes = {name: set(category_text(tables[name][target].dropna()))
               for name in ("holdout", "synthetic", "real")}
    notes = []
    if len(classes["holdout"]) == 1:
        notes.append(f"ML efficacy for target {target!r}: ROC AUC was not computed: the "
                     f"holdout rows with a value all hold one class, "
                     f"{min(classes['holdout'])!r}, so there is no other class to rank it "
                     f"against; macro F1 is given.")
    auc = " and 0.5 (chance) in its ROC AUC" if len(classes["holdout"]) > 1 else ""
    for name in ("synthetic", "real"):
        unseen = classes["holdout"] - classes[name]
        if unseen:
            notes.append(f"ML efficacy for target {target!r}: holdout classes "
                         f"{first_few(sorted(unseen))} never appear in the {name} training "
                         f"rows; the model trained on them cannot predict those classes, so "
                         f"each counts 0 in its macro F1{auc}.")
    return notes



def _xy(frame: pd.DataFrame, encoding: TreeEncoding, target: str, task: str):
    keep = frame[target].notna().to_numpy()
    y = frame[target].to_numpy()[keep]
    y = y.astype(np.float64) if task == "regression" else category_text(pd.Series(y)).to_numpy()
    return encoding.transform(frame)[keep], y


def _fit_score(train_x, train_y, test_x, test_y, task, encoding, seed) -> dict:
    categorical = encoding.categorical_mask
    train_x = _without_empty_numbers(train_x, categorical)
    options = {"categorical_features": categorical if categorical.any() else None,
               "random_state": seed}
    if task == "regression":
        model = HistGradientBoostingRegressor(**options).fit(train_x, train_y)
        return {"r2": float(r2_score(test_y, model.predict(test_x))),
                "train_rows": int(len(train_y))}
    return _classification_scores(train_x, train_y, test_x, test_y, options)


def _without_empty_numbers(train_x: np.ndarray, categorical: np.ndarray) -> np.ndarray:
    """A number feature without a value in the training rows (a synthetic column left empty)
    as 0: HistGradientBoosting cannot bin it (scikit-learn fails inside its binning), and a
    feature without values gives no split either way, so the model learns without it."""
    empty = ~categorical & np.isnan(train_x).all(axis=0)  # (n_features,)
    if not empty.any():
        return train_x
    train_x = train_x.copy()
    train_x[:, empty] = 0.0
    return train_x


def _classification_scores(train_x, train_y, test_x, test_y, options) -> dict:
    classes = np.unique(train_y)
    if len(classes) < 2:  # nothing to learn: predict the one class seen
        proba = np.ones((len(test_y), 1))
    else:
        model = HistGradientBoostingClassifier(**options).fit(train_x, train_y)
        classes, proba = model.classes_, model.predict_proba(test_x)
    predicted = classes[np.argmax(proba, axis=1)]
    return {"roc_auc": _macro_auc(test_y, proba, classes),
            "f1_macro": float(f1_score(test_y, predicted, average="macro", zero_division=0)),
            "train_rows": int(len(train_y))}


def _macro_auc(truth: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float | None:
    """One-vs-rest AUC averaged over holdout classes; a class never predicted scores 0.5."""
    aucs = []
    for label in np.unique(truth):
        positive = truth == label
        if positive.all():
            continue
        column = np.flatnonzero(classes == label)
        score = proba[:, column[0]] if len(column) else np.zeros(len(truth))
        aucs.append(roc_auc_score(positive, score))
    return float(np.mean(aucs)) if aucs else None


def _ratio(synthetic: float | None, real: float | None) -> float | None:
    if synthetic is None or real is None or real == 0:
        return None
    return float(synthetic / real)


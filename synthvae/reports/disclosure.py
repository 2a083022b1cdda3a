"""Attribute inference (sdmetrics DisclosureProtection) and the model's differential privacy.

``attribute_inference``: an attacker who knows a person's ``key_columns`` looks them up in
the synthetic table and guesses the ``sensitive_columns`` (the CAP attack). sdmetrics'
``DisclosureProtection.compute_breakdown`` returns ``cap_protection`` (share of wrong
guesses), ``baseline_protection`` (``1 - 1 / number of sensitive value combinations``, a
random guess) and ``score = min(cap / baseline, 1)``: 1 = no better than guessing. Numeric
and datetime columns are cut into 10 bins. Its cost grows with rows x rows, so both tables
are subsampled to ``MAX_ROWS`` rows (seeded).

``differential_privacy``: the "privacy" entry of a model file's header, written by a DP
training run: total ``epsilon`` and ``delta``, the ledger of every release (``entries``:
mechanism, column, epsilon, delta) and the accountant; absent means no DP guarantee.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from synthvae.reports._util import as_float, quiet_sdmetrics

MAX_ROWS = 2_000  # per table; CAP walks rows in Python (5,000 rows took 5-12 s)
DP_STATEMENT = ("Only differential privacy is a guarantee; the distance-based numbers "
                "in this report are sanity checks for copying.")


def attribute_inference(real: pd.DataFrame, synthetic: pd.DataFrame, key_columns: list[str],
                        sensitive_columns: list[str], numeric: list[str], seed: int) -> dict:
    """``real``/``synthetic`` are canonical frames; ``numeric`` names their number columns."""
    from sdmetrics.single_table import DisclosureProtection

    columns = list(dict.fromkeys(key_columns + sensitive_columns))
    rng = np.random.default_rng(seed)
    real, synthetic = _sample(real[columns], rng), _sample(synthetic[columns], rng)
    with quiet_sdmetrics():
        result = DisclosureProtection.compute_breakdown(
            real, synthetic, known_column_names=key_columns,
            sensitive_column_names=sensitive_columns,
            continuous_column_names=[c for c in columns if c in numeric] or None)
    return {"key_columns": key_columns, "sensitive_columns": sensitive_columns,
            "score": as_float(result["score"]),
            "cap_protection": as_float(result["cap_protection"]),
            "baseline_protection": as_float(result["baseline_protection"]),
            "rows_used": [len(real), len(synthetic)]}


def _sample(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    if len(frame) <= MAX_ROWS:
        return frame.reset_index(drop=True)
    return frame.iloc[rng.choice(len(frame), MAX_ROWS, replace=False)].reset_index(drop=True)


def differential_privacy(model_path: str | Path | None) -> dict:
    """What the model file says about DP training (nothing is executed, see persistence)."""
    if model_path is None:
        return _dp_entry(None, None, "No model file was given, so whether the synthetic data "
                                     "came from a differentially private model is unknown.")
    from synthvae.persistence import model_info

    privacy = model_info(Path(model_path))["privacy"]
    if privacy is None:
        return _dp_entry(str(model_path), None,
                         "The model was not trained with differential privacy: the synthetic "
                         "data carries no formal privacy guarantee.")
    return _dp_entry(str(model_path), privacy,
                     f"The model was trained with differential privacy: epsilon = "
                     f"{_number(privacy.get('epsilon'))}, delta = {_number(privacy.get('delta'))}"
                     f" for the whole model file (preprocessing and training).")


def value_exposure(model_path: str | Path | None) -> list[dict] | None:
    """Per categorical and identifier column: are real values stored and sampled back?

    From the model file (see :func:`synthvae.identifiers.value_exposure`); None without one.
    """
    if model_path is None:
        return None
    from synthvae.persistence import model_info

    return model_info(Path(model_path))["value_exposure"]


def personal_data(real, synthetic, schema) -> list[dict]:
    """Per PII column of the schema (see synthvae/pii.py): its kind, and how many synthetic
    values equal a real value of the column (0 when the column was replaced by synthvae)."""
    out = []
    for spec in (c for c in schema.columns if c.pii):
        fake = synthetic[spec.name].dropna().astype(str)
        copied = int(fake.isin(set(real[spec.name].dropna().astype(str))).sum())
        out.append({"column": spec.name, "pii": spec.pii, "synthetic_values": len(fake),
                    "equal_to_a_real_value": copied})
    return out


def _number(value) -> str:
    return "unknown" if value is None else f"{float(value):.3g}"


def _dp_entry(path: str | None, privacy: dict | None, statement: str) -> dict:
    trained = None if path is None else privacy is not None
    privacy = privacy or {}
    return {"model_path": path, "trained_with_dp": trained,
            "epsilon": as_float(privacy.get("epsilon")), "delta": as_float(privacy.get("delta")),
            "accountant": privacy.get("accountant"),
            "ledger": privacy.get("entries", privacy.get("ledger")), "statement": statement}

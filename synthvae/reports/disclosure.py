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
mechanism, column, epsilon, delta) and the accountant; absent means no DP guarantee. A model
file whose columns differ from the real table's (fitted on another table) is refused: its
record and stored values would describe another table than the one scored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from synthvae.errors import SchemaError
from synthvae.reports._util import as_float, first_few, quiet_sdmetrics

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


def model_record(model_path: str | Path | None, columns: list[str]) -> dict | None:
    """The model file's description (``persistence.model_info``), None without one.

    Refused when the model was fitted on other columns than the real table's: its DP record
    and the real values it stores would describe another table, not the one scored."""
    if model_path is None:
        return None
    from synthvae.persistence import model_info

    info = model_info(Path(model_path))
    _check_model_columns([c["name"] for c in info["columns"]], columns, str(model_path))
    return {**info, "path": str(model_path)}  # the path as given, as the report shows it


def _check_model_columns(modelled: list[str], columns: list[str], path: str) -> None:
    """The differing columns are named (at most 10 a side: a wide table has thousands)."""
    known, fitted = set(columns), set(modelled)
    only_model = [c for c in modelled if c not in known]
    only_real = [c for c in columns if c not in fitted]
    if not (only_model or only_real):
        return
    raise SchemaError(f"Model file {path!r} was fitted on other columns than the real table: "
                      f"expected the real table's {len(columns):,} columns; found "
                      f"{first_few(only_model)} only in the model and {first_few(only_real)} "
                      f"only in the real table. Give the model fitted on this table, or none.")


def differential_privacy(model: dict | None) -> dict:
    """What the model file (``model_record``) says about DP training (nothing is executed,
    see persistence)."""
    if model is None:
        return _dp_entry(None, None, "No model file was given, so whether the synthetic data "
                                     "came from a differentially private model is unknown.")
    privacy, path = model["privacy"], model["path"]
    if privacy is None:
        return _dp_entry(path, None,
                         "The model was not trained with differential privacy: the synthetic "
                         "data carries no formal privacy guarantee.")
    return _dp_entry(path, privacy,
                     f"The model was trained with differential privacy: epsilon = "
                     f"{_number(privacy.get('epsilon'))}, delta = {_number(privacy.get('delta'))}"
                     f" for the whole model file (preprocessing and training).")


def value_exposure(model: dict | None) -> list[dict] | None:
    """Per categorical and identifier column: are real values stored and sampled back?

    From the model file (see :func:`synthvae.identifiers.value_exposure`); None without one.
    """
    return None if model is None else model["value_exposure"]


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

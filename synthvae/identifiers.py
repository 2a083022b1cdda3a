"""Columns that identify rows or people, and which columns' real values reach the output.

Detection (used by :func:`synthvae.schema.detect_column`):

* a **text identifier** has at least ``MIN_ROWS_FOR_IDENTIFIER`` non-empty cells of which at
  least ``IDENTIFIER_UNIQUE_SHARE`` are distinct values; missing cells do not count against
  it (999 e-mail addresses and one empty cell is an identifier). Ordinary categorical columns
  are far below the threshold: on the shared benchmark tables (adult, bank, titanic, taxis,
  flights, ...) the most distinct one is titanic's ``deck`` at 3.4 % distinct, flights'
  ``tailnum`` at 1.2 %;
* an **integer identifier** has integer values only, at least ``MIN_ROWS_FOR_IDENTIFIER`` of
  them, all distinct; missing cells are allowed (a float column of whole numbers *with
  missing cells* is one too: that is how pandas reads an integer id column with gaps). Its
  name says so (a word such as ``id``, ``no`` or ``key``: ``CustomerID``, ``order_no``) or
  its values fill their grid like a counter (at most ``SEQUENCE_SPAN`` grid steps per value:
  1..500, or 5, 18, 31, ... in steps of 13). A small table's measurements are distinct by
  chance: 80 diamonds' prices or 50 bills are all different, and as identifiers they were
  not modelled at all.

Identifier columns are never modelled: they are regenerated as new unique values of the same
form (:class:`synthvae.transforms.passthrough.IdentifierGenerator`) and keep their share of
missing cells. Identifiers that hold personal data (e-mails, phones, names, ...: see
:mod:`synthvae.pii`) are replaced by fake values of their kind instead
(:class:`synthvae.transforms.pii.PiiGenerator`).

:func:`value_exposure` reads a saved model's state and lists, per column, whether real
values are stored in the model file and can be sampled back verbatim (the category domains
of categorical columns, the exact values of discrete numeric columns) or are replaced by
generated values; ``synthvae info`` and the report show it.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

MIN_ROWS_FOR_IDENTIFIER = 50  # non-empty cells; fewer cannot tell an id from a category
IDENTIFIER_UNIQUE_SHARE = 0.9  # distinct values / non-empty cells of a text identifier
SEQUENCE_SPAN = 2.0  # unique integers spanning at most this many grid steps per value
ID_WORDS = frozenset({"id", "ids", "key", "uuid", "guid", "no", "nr", "num", "number", "code",
                      "index", "idx", "ref"})


def is_text_identifier(values: pd.Series) -> bool:
    """``values``: the non-null cells of a text column."""
    n = len(values)
    return n >= MIN_ROWS_FOR_IDENTIFIER and values.nunique() >= IDENTIFIER_UNIQUE_SHARE * n


def is_integer_identifier(values: pd.Series, nullable: bool, name: str = "") -> bool:
    """``values``: the non-null cells of a numeric column named ``name``; ``nullable``: it had
    missing cells."""
    n = len(values)
    if n < MIN_ROWS_FOR_IDENTIFIER or pd.api.types.is_bool_dtype(values.dtype):
        return False
    if not pd.api.types.is_integer_dtype(values.dtype):
        if not nullable:
            return False
        numbers = values.to_numpy(dtype=np.float64)
        if not (np.isfinite(numbers).all() and np.all(numbers == np.round(numbers))):
            return False
    if values.nunique() != n:
        return False
    return names_an_identifier(name) or fills_its_grid(values)


def names_an_identifier(name: str) -> bool:
    """Whether one word of ``name`` (split at case changes, digits and punctuation) is an
    identifier's: ``CustomerID``, ``order_no``, ``Key`` but not ``width`` or ``idle``."""
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", str(name))
    return any(word.lower() in ID_WORDS for word in words)


def fills_its_grid(values: pd.Series) -> bool:
    """Whether distinct whole numbers span at most SEQUENCE_SPAN steps of their grid (the
    greatest common divisor of their gaps) per value, as a counter's do."""
    numbers = _exact_integers(values)
    if numbers is None:
        return False
    # Gaps of sorted int64 or uint64 values fit uint64, and unsigned subtraction wraps to the
    # exact gap (int64 gaps would overflow across the whole range).
    gaps = np.diff(numbers.view(np.uint64))
    step = int(np.gcd.reduce(gaps))
    span = int(numbers[-1]) - int(numbers[0])  # Python ints: exact at any size
    return span // max(step, 1) + 1 <= SEQUENCE_SPAN * len(numbers)


def _exact_integers(values: pd.Series) -> np.ndarray | None:
    """The distinct values, sorted, as int64 or uint64 read without a float round trip (which
    turned uint64 values from 2**63 into overflowing casts, all gaps 0: a counter), or None
    for floats beyond 2**53: every float there is whole, so they are no sign of a counter (and
    a nullable integer column is judged on its exact cells: schema._exact_integer_cells)."""
    if pd.api.types.is_integer_dtype(values.dtype):
        unsigned = pd.api.types.is_unsigned_integer_dtype(values.dtype)
        return np.unique(values.to_numpy(dtype=np.uint64 if unsigned else np.int64))
    numbers = values.to_numpy(dtype=np.float64)
    if np.abs(numbers).max(initial=0.0) > 2 ** 53:
        return None
    return np.unique(numbers.astype(np.int64))


# ----------------------------------------------------------------------------- exposure

VERBATIM = "verbatim"  # the model file stores real values; samples repeat them
REPLACED = "replaced"  # samples hold generated values; the model file stores none


def value_exposure(schema_columns: list[dict], transformer_columns: list[dict],
                   private: bool = False) -> list[dict]:
    """Per column of a saved model: are its real values stored and emitted?

    ``schema_columns`` and ``transformer_columns`` are the model file's JSON state; ``private``:
    the model was trained with differential privacy. Returns ``{"column", "kind", "exposure",
    "values_stored", "detail"}`` for identifier and categorical columns, and for continuous
    and datetime columns: their exact values (discrete columns, point masses such as 0) and,
    outside DP and unless the schema gave both bounds, the exact smallest and largest
    training values, which the decoder clips to and so can sample back, and the edges of
    tail modes (quantiles of the training values, clipped to likewise)."""
    out = []
    for spec, state in zip(schema_columns, transformer_columns):
        kind = spec.get("kind")
        if kind == "identifier":
            out.append(_identifier_exposure(spec, state))
        elif kind == "categorical":
            out.append(_categorical_exposure(spec, state))
        elif kind in ("continuous", "datetime"):
            entry = _number_exposure(spec, state, private)
            if entry is not None:
                out.append(entry)
    return out


def _number_exposure(spec: dict, state: dict, private: bool) -> dict | None:
    exact = int(sum(bool(p) for p in state.get("point") or []))
    extremes = not private and (spec.get("min") is None or spec.get("max") is None)
    edges = len({v for key in ("mode_low", "mode_high") for v in state.get(key) or []
                 if v is not None})
    if not exact and not extremes and not edges:
        return None
    parts = [f"{exact} exact values (a discrete column or point masses)"] if exact else []
    if extremes:
        parts.append("the exact smallest and largest training values (sampled values are "
                     "clipped to them, so they can reappear)")
    if edges:
        parts.append(f"{edges} tail-mode edges (quantiles of the training values, which "
                     "decoded values are clipped to)")
    return {"column": spec["name"], "kind": spec["kind"], "exposure": VERBATIM,
            "values_stored": exact + 2 * extremes + edges,
            "detail": " and ".join(parts) + " are stored and sampled back"}


def _identifier_exposure(spec: dict, state: dict) -> dict:
    if state.get("kind") == "pii":
        from synthvae.pii import describe

        return {"column": spec["name"], "kind": "identifier", "pii": state.get("pii"),
                "exposure": REPLACED, "values_stored": 0, "detail": describe(state)}
    if "kind" not in state:  # a model saved before identifier templates: a counter
        detail = "regenerated as a counter (older model file); may repeat real identifiers"
    elif state["kind"] == "integer":
        detail = f"regenerated as new integers from {state['start']}"
    else:
        detail = "regenerated from a format template that stores no real value"
    return {"column": spec["name"], "kind": "identifier", "exposure": REPLACED,
            "values_stored": 0, "detail": detail}


def _categorical_exposure(spec: dict, state: dict) -> dict:
    categories = len(state.get("categories") or [])
    rare = len(state.get("rare_values") or [])
    detail = f"{categories} category values are kept verbatim and sampled back"
    if rare:
        detail += (f"; {rare} rare values are stored (older model file) and sampled back")
    elif state.get("other_template") is not None:
        detail += "; rarer values are replaced by generated values of the same form"
    return {"column": spec["name"], "kind": "categorical", "exposure": VERBATIM,
            "values_stored": categories + rare, "detail": detail}

"""Validate what :func:`synthvae.reports.evaluate` is given, before any work is done."""

from __future__ import annotations

import pandas as pd

from synthvae.errors import ConfigError, DataError
from synthvae.frames import as_pandas, model_frame
from synthvae.schema import ColumnKind, Schema, detect_schema, schema_from_any


def check_frame(df, name: str) -> pd.DataFrame:
    """``df`` (pandas, PyArrow or Polars) as a pandas DataFrame."""
    try:
        df = as_pandas(df, f"The {name!r} parameter of evaluate")
    except DataError as exc:
        raise ConfigError(str(exc)) from None
    if len(df) == 0:
        raise DataError(f"The {name!r} table has no rows; a report needs at least one.")
    return df


def resolve_schema(real: pd.DataFrame, schema) -> Schema:
    """The real table's schema: detected, with the given schema (Schema, dict, JSON text or
    file; it may list only some columns) taking precedence where it names a column."""
    return detect_schema(real, overrides=schema_from_any(schema))


def align_columns(df: pd.DataFrame, names: list[str], name: str) -> pd.DataFrame:
    """``df`` with exactly the real table's columns, in its order, and a fresh index."""
    missing = [c for c in names if c not in df.columns]
    if missing:
        raise DataError(f"The {name} table has no column {missing[0]!r}; expected the real "
                        f"table's columns {names}.")
    extra = [c for c in df.columns if c not in names]
    if extra:
        raise DataError(f"Column {extra[0]!r} of the {name} table is not in the real table; "
                        f"drop it or compare tables with the same columns.")
    return model_frame(df[names].reset_index(drop=True))


def check_target(target, schema: Schema) -> str | None:
    if target is None:
        return None
    if not isinstance(target, str) or target not in schema.names:
        raise ConfigError(f"The 'target' parameter must name a column of the real table "
                          f"({schema.names}). Got {target!r} instead.")
    return target


def check_targets(target, schema: Schema) -> list[str]:
    """ML efficacy targets: one column name or a list of them; [] for None."""
    if target is None:
        return []
    names = [target] if isinstance(target, str) else target
    if not isinstance(names, (list, tuple)) or not names:
        raise ConfigError(f"The 'target' parameter must name a column of the real table or "
                          f"list several. Got {target!r} instead.")
    for name in names:
        check_target(name, schema)
    return list(dict.fromkeys(names))


def column_list(value, name: str, schema: Schema) -> list[str]:
    """A list of column names from a list or a comma-separated string; [] for None."""
    if value is None:
        return []
    names = [c.strip() for c in value.split(",")] if isinstance(value, str) else list(value)
    names = [c for c in names if c != ""]
    unknown = [c for c in names if c not in schema.names]
    if unknown:
        raise ConfigError(f"The {name!r} parameter names column {unknown[0]!r}, which is not in "
                          f"the real table; columns are {schema.names}.")
    ids = [c for c in names if schema[c].kind is ColumnKind.IDENTIFIER]
    if ids:
        raise ConfigError(f"The {name!r} parameter names identifier column {ids[0]!r}; "
                          f"identifiers are regenerated, so there is nothing to infer.")
    return list(dict.fromkeys(names))


def check_attack_columns(key_columns: list[str], sensitive_columns: list[str]) -> None:
    if bool(key_columns) != bool(sensitive_columns):
        raise ConfigError(f"The 'key_columns' and 'sensitive_columns' parameters go together; "
                          f"give both or neither. Got key_columns={key_columns} and "
                          f"sensitive_columns={sensitive_columns}.")
    both = [c for c in key_columns if c in sensitive_columns]
    if both:
        raise ConfigError(f"Column {both[0]!r} is in both 'key_columns' and "
                          f"'sensitive_columns'; an attacker cannot know and guess it at once.")


def check_seed(seed) -> None:
    from synthvae.params import check_seed as check_any_seed

    check_any_seed(seed, "The 'seed' parameter of evaluate", optional=False)

"""Column kinds: detection from a DataFrame, a JSON round trip, and sdmetrics metadata.

A :class:`Schema` is the public, editable description of a table. Detection rules:

* ``bool`` columns, strings, and pandas ``category`` columns are **categorical**;
* integer-valued numeric columns with at most ``categorical_threshold`` (default 15)
  distinct values are **categorical** too (codes such as ``SEX`` = 1/2);
* other numeric columns are **continuous**; integer-ness and the number of decimals are kept;
* ``datetime64`` columns and strings that all look like ISO dates are **datetime**, keeping
  their text format and time zone;
* strings that are distinct on nearly every non-empty row, and integers that are distinct on
  every non-empty row (at least ``MIN_ROWS_FOR_IDENTIFIER`` of them; missing cells allowed),
  are **identifier**: not modelled, regenerated as new unique values of the same form
  (rules in :mod:`synthvae.identifiers`);
* text columns holding personal data (e-mails, phone numbers, names, addresses, IPv4
  addresses, URLs, id numbers) are **identifier** with ``pii`` naming the kind: replaced
  by fake values of that kind that never equal a real one (rules in :mod:`synthvae.pii`);
* a column with one distinct value (or none) is **constant**.

Every column records whether it is ``nullable``. Users override any of this with a JSON file
(``synthvae schema data.csv > schema.json``, edit, then ``--schema schema.json``).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from synthvae.errors import DataError, SchemaError
from synthvae.identifiers import MIN_ROWS_FOR_IDENTIFIER  # noqa: F401  (kept importable)
from synthvae.identifiers import is_integer_identifier, is_text_identifier
from synthvae.pii import PII_KINDS, detect_pii

SCHEMA_FORMAT_VERSION = 1
CATEGORICAL_THRESHOLD = 15
MAX_DECIMALS = 6

# Candidate text formats for datetime strings, tried in order; the first that parses every
# sampled value and prints it back unchanged wins.
DATETIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%dT%H:%MZ",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S.%fZ",
    "%Y/%m/%d",
    "%Y/%m/%d %H:%M:%S",
)
_ISO_LIKE = re.compile(r"^\d{4}[-/]\d{2}[-/]\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?Z?)?$")


class ColumnKind(str, enum.Enum):
    CONTINUOUS = "continuous"
    CATEGORICAL = "categorical"
    DATETIME = "datetime"
    IDENTIFIER = "identifier"
    CONSTANT = "constant"


@dataclass(frozen=True)
class ColumnSpec:
    """One column: its kind, whether it has nulls, and what is needed to restore it exactly."""

    name: str
    kind: ColumnKind
    nullable: bool = False
    dtype: str | None = None  # pandas dtype restored on output (None: the table's, when merged)
    integer: bool = False  # continuous: values are whole numbers
    decimals: int | None = None  # continuous: digits after the point (None = keep all)
    min: float | None = None  # continuous / datetime (as seconds): public bounds if given
    max: float | None = None
    categories: tuple | None = None  # categorical: the known values (None = learn from data)
    ordered: bool = False  # pandas ordered category
    datetime_format: str | None = None  # datetime stored as text: strftime format
    timezone: str | None = None  # datetime64 with a time zone
    value: Any = None  # constant: the value
    pii: str | None = None  # identifier holding personal data: its kind (synthvae.pii)

    def __post_init__(self):
        if self.pii is None:
            return
        if self.pii not in PII_KINDS:
            raise SchemaError(f"Column {self.name!r}: pii must be one of {list(PII_KINDS)} "
                              f"or null. Got {self.pii!r} instead.")
        if self.kind is not ColumnKind.IDENTIFIER:
            raise SchemaError(f"Column {self.name!r}: pii ({self.pii!r}) applies to kind "
                              f"'identifier' only; the column's kind is {self.kind.value!r}. "
                              f"Set the kind to 'identifier', or drop 'pii' to model it.")

    def to_dict(self) -> dict:
        out = {"name": self.name, "kind": self.kind.value, "nullable": self.nullable,
               "dtype": self.dtype}
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        for key in ("integer", "decimals", "min", "max", "categories", "ordered",
                    "datetime_format", "timezone", "value", "pii"):
            val = getattr(self, key)
            if val != defaults[key]:
                out[key] = list(val) if isinstance(val, tuple) else val
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "ColumnSpec":
        if not isinstance(data, dict) or "name" not in data or "kind" not in data:
            raise SchemaError(f"Each schema column needs 'name' and 'kind'. Got {data!r}.")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise SchemaError(
                f"Column {data['name']!r}: unknown schema keys {sorted(unknown)}; "
                f"expected some of {sorted(known)}.")
        try:
            kind = ColumnKind(data["kind"])
        except ValueError:
            raise SchemaError(
                f"Column {data['name']!r}: kind must be one of "
                f"{[k.value for k in ColumnKind]}. Got {data['kind']!r} instead.") from None
        values = dict(data, kind=kind)
        if values.get("categories") is not None:
            values["categories"] = tuple(values["categories"])
        return cls(**values)


@dataclass(frozen=True)
class Schema:
    """The ordered columns of a table."""

    columns: tuple[ColumnSpec, ...]
    version: int = SCHEMA_FORMAT_VERSION
    extra: dict = field(default_factory=dict, compare=False)
    constraints: tuple = ()  # declared constraints (synthvae.constraints), in JSON order

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def __getitem__(self, name: str) -> ColumnSpec:
        for column in self.columns:
            if column.name == name:
                return column
        raise SchemaError(f"No column named {name!r} in the schema; columns are {self.names}.")

    def to_dict(self) -> dict:
        out = {"version": self.version, "columns": [c.to_dict() for c in self.columns]}
        if self.constraints:
            from synthvae.constraints.declared import to_dict

            out["constraints"] = [to_dict(c) for c in self.constraints]
        return out

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=_json_default)

    @classmethod
    def from_dict(cls, data: dict) -> "Schema":
        if not isinstance(data, dict) or not isinstance(data.get("columns"), list):
            raise SchemaError("A schema is a JSON object with a 'columns' list.")
        version = data.get("version", SCHEMA_FORMAT_VERSION)
        if not isinstance(version, int) or version > SCHEMA_FORMAT_VERSION:
            raise SchemaError(
                f"Schema format version {version!r} is newer than this synthvae supports "
                f"({SCHEMA_FORMAT_VERSION}); upgrade synthvae.")
        columns = tuple(ColumnSpec.from_dict(c) for c in data["columns"])
        names = [c.name for c in columns]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise SchemaError(f"The schema names columns {duplicated} more than once.")
        return cls(columns=columns, version=version,
                   constraints=_constraints(data.get("constraints")))

    @classmethod
    def from_json(cls, text: str) -> "Schema":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SchemaError(f"The schema is not valid JSON: {exc}.") from None
        return cls.from_dict(data)

    @classmethod
    def from_sdv(cls, metadata: dict | str, data: pd.DataFrame | None = None) -> "Schema":
        """The schema an SDV single-table metadata dict or JSON file describes (see
        synthvae/sdv_metadata.py); ``data`` supplies nullability and dtypes."""
        from synthvae.sdv_metadata import schema_from_sdv

        return schema_from_sdv(metadata, data)

    def to_sdv(self) -> dict:
        """SDV single-table metadata (``SINGLE_TABLE_V1``) describing this schema."""
        from synthvae.sdv_metadata import schema_to_sdv

        return schema_to_sdv(self)

    def to_sdmetrics_metadata(self) -> dict:
        """Single-table metadata in the format sdmetrics' reports take."""
        return {"columns": {c.name: _sdmetrics_column(c) for c in self.columns}}

    def check_columns_exist(self, df: pd.DataFrame) -> None:
        """Raise SchemaError naming the first schema column that ``df`` lacks."""
        missing = [n for n in self.names if n not in df.columns]
        if missing:
            raise SchemaError(f"The table has no column {missing[0]!r} named in the schema; "
                              f"its columns are {list(df.columns)}.")

    def check_frame(self, df: pd.DataFrame) -> None:
        """Raise SchemaError unless ``df`` has exactly the schema's columns."""
        self.check_columns_exist(df)
        extra = [c for c in df.columns if c not in self.names]
        if extra:
            raise SchemaError(f"Column {extra[0]!r} of the table is not in the schema; "
                              f"add it to the schema or drop it from the table.")


def _constraints(items) -> tuple:
    """The schema's "constraints" list, parsed (a "suggested_constraints" list is ignored:
    it holds proposals for the user to move into "constraints")."""
    from synthvae.constraints.declared import parse_constraints
    from synthvae.errors import ConfigError

    try:
        return parse_constraints(items)
    except ConfigError as exc:
        raise SchemaError(f"The schema's constraints are invalid: {exc}") from None


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _sdmetrics_column(column: ColumnSpec) -> dict:
    if column.kind is ColumnKind.CONTINUOUS:
        return {"sdtype": "numerical"}
    if column.kind is ColumnKind.DATETIME:
        meta = {"sdtype": "datetime"}
        if column.datetime_format:
            meta["datetime_format"] = column.datetime_format
        return meta
    if column.kind is ColumnKind.IDENTIFIER:
        return {"sdtype": "id"}
    if column.dtype == "bool":
        return {"sdtype": "boolean"}
    return {"sdtype": "categorical"}


# ----------------------------------------------------------------------------- detection


def detect_schema(df: pd.DataFrame, categorical_threshold: int = CATEGORICAL_THRESHOLD,
                  overrides: Schema | None = None) -> Schema:
    """Detect each column's kind; columns named in ``overrides`` take the user's spec.

    ``overrides`` may list any subset of the columns (a partial schema); the result has the
    table's columns in the table's order. An override without a ``dtype`` takes the
    column's, and one on a column with missing values is ``nullable``.
    """
    return complete_schema(
        df, overrides, lambda name: detect_column(df[name], categorical_threshold),
        lambda spec: dataclasses.replace(spec, nullable=spec.nullable
                                         or bool(df[spec.name].isna().any())))


def complete_schema(df: pd.DataFrame, overrides: Schema | None,
                    detect: Callable[[str], ColumnSpec],
                    adjust: Callable[[ColumnSpec], ColumnSpec] = lambda spec: spec) -> Schema:
    """The table's columns in its order: ``adjust(override)`` for the columns ``overrides``
    names, ``detect(name)`` for the others; an override's missing dtype is the column's."""
    check_column_names(df.columns)
    if overrides is None:
        return Schema(columns=tuple(detect(name) for name in df.columns))
    overrides.check_columns_exist(df)
    given = {c.name: c for c in overrides.columns}
    return Schema(columns=tuple(
        adjust(_with_dtype(given[name], df[name])) if name in given else detect(name)
        for name in df.columns), constraints=overrides.constraints)


def _with_dtype(spec: ColumnSpec, series: pd.Series) -> ColumnSpec:
    """An override without a dtype takes the column's, recorded as detection records it."""
    from synthvae.frames import series_dtype_name

    if spec.dtype is not None:
        return spec
    return dataclasses.replace(spec, dtype=series_dtype_name(series))


def check_column_names(names: Iterable) -> None:
    names = list(names)
    bad = [n for n in names if not isinstance(n, str)]
    if bad:
        raise SchemaError(f"Column names must be strings; column {bad[0]!r} is a "
                          f"{type(bad[0]).__name__}. Rename it (df.columns = df.columns.astype(str)).")
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise SchemaError(f"Column {duplicated[0]!r} appears more than once; column names "
                          f"must be unique.")


def detect_column(series: pd.Series, categorical_threshold: int = CATEGORICAL_THRESHOLD
                  ) -> ColumnSpec:
    from synthvae.frames import model_series, series_dtype_name

    name = str(series.name)
    dtype = series_dtype_name(series)  # recorded before normalising: restored on output
    series = model_series(series)
    nullable = bool(series.isna().any())
    values = series.dropna()
    check_values(values, name)
    common = {"name": name, "dtype": dtype, "nullable": nullable}
    if values.nunique() <= 1:
        value = _python_scalar(values.iloc[0]) if len(values) else None
        if isinstance(value, pd.Timestamp):
            value = str(value)
        return ColumnSpec(kind=ColumnKind.CONSTANT, value=value, **common)
    if isinstance(series.dtype, pd.CategoricalDtype):
        return ColumnSpec(kind=ColumnKind.CATEGORICAL, ordered=bool(series.cat.ordered),
                          categories=tuple(_python_scalar(v) for v in series.cat.categories),
                          **common)
    if pd.api.types.is_bool_dtype(series.dtype):
        return ColumnSpec(kind=ColumnKind.CATEGORICAL, **common)
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        tz = str(series.dt.tz) if series.dt.tz is not None else None
        return ColumnSpec(kind=ColumnKind.DATETIME, timezone=tz, **common)
    if pd.api.types.is_numeric_dtype(series.dtype):
        return _detect_numeric(values, categorical_threshold, common)
    return _detect_text(values, common)


def check_values(values: pd.Series, name: str) -> None:
    """Refuse cells no column kind can model: infinities and nested values."""
    if pd.api.types.is_float_dtype(values.dtype) and np.isinf(values.to_numpy(float)).any():
        raise DataError(f"Column {name!r} holds an infinite value; replace +/-inf with a "
                        f"finite number or an empty cell.")
    if values.dtype == object:
        nested = values.map(lambda v: isinstance(v, (list, dict, set, tuple, np.ndarray)))
        if nested.any():
            raise DataError(f"Column {name!r} holds nested values (e.g. a "
                            f"{type(values[nested].iloc[0]).__name__}); flatten it into "
                            f"scalar columns or drop it.")


def _detect_numeric(values: pd.Series, threshold: int, common: dict) -> ColumnSpec:
    array = values.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = array[np.isfinite(array)]
    integer = bool(len(finite) and np.all(finite == np.round(finite)))
    n_unique = values.nunique()
    if integer and n_unique <= threshold:
        return ColumnSpec(kind=ColumnKind.CATEGORICAL, **common)
    if is_integer_identifier(values, common["nullable"], common["name"]):
        return ColumnSpec(kind=ColumnKind.IDENTIFIER, integer=True, **common)
    return ColumnSpec(kind=ColumnKind.CONTINUOUS, integer=integer,
                      decimals=0 if integer else count_decimals(finite), **common)


def count_decimals(values: np.ndarray, limit: int = MAX_DECIMALS) -> int | None:
    """The fewest decimals that represent every value exactly (None when more than ``limit``)."""
    sample = values[:10_000]
    for decimals in range(limit + 1):
        if np.allclose(np.round(sample, decimals), sample, rtol=0, atol=1e-9):
            return decimals
    return None


def _detect_text(values: pd.Series, common: dict) -> ColumnSpec:
    strings = values.astype(str)
    datetime_format = detect_datetime_format(strings)
    if datetime_format is not None:
        return ColumnSpec(kind=ColumnKind.DATETIME, datetime_format=datetime_format,
                          timezone="UTC" if datetime_format.endswith("Z") else None, **common)
    pii = detect_pii(common["name"], strings)
    if pii is not None:
        return ColumnSpec(kind=ColumnKind.IDENTIFIER, pii=pii, **common)
    if is_text_identifier(strings):
        return ColumnSpec(kind=ColumnKind.IDENTIFIER, **common)
    return ColumnSpec(kind=ColumnKind.CATEGORICAL, **common)


def detect_datetime_format(strings: pd.Series, sample_size: int = 500) -> str | None:
    """The strftime format shared by all the (sampled) strings, or None if not dates."""
    if len(strings) == 0:
        return None
    sample = strings.iloc[:: max(1, len(strings) // sample_size)].head(sample_size)
    if not sample.str.match(_ISO_LIKE).all():
        return None
    for fmt in DATETIME_FORMATS:
        parsed = pd.to_datetime(sample, format=fmt, errors="coerce")
        if parsed.notna().all() and (parsed.dt.strftime(fmt) == sample).all():
            return fmt
    return None


def _python_scalar(value):
    return value.item() if isinstance(value, np.generic) else value


def schema_from_any(schema: Schema | dict | str | None) -> Schema | None:
    """Accept a Schema, its dict form, a JSON string or a path to a JSON file."""
    if schema is None or isinstance(schema, Schema):
        return schema
    if isinstance(schema, dict):
        return Schema.from_dict(schema)
    if isinstance(schema, str) and schema.lstrip().startswith("{"):
        return Schema.from_json(schema)
    from pathlib import Path

    path = Path(schema)
    if not path.is_file():
        raise SchemaError(f"Schema file {str(path)!r} does not exist.")
    return Schema.from_json(path.read_text(encoding="utf-8"))


def kinds(schema: Schema, kind: ColumnKind) -> Sequence[ColumnSpec]:
    return [c for c in schema.columns if c.kind is kind]

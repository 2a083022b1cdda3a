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
import datetime
import enum
import json
import os
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from synthvae.errors import DataError, DetectionWarning, SchemaError
from synthvae.identifiers import MIN_ROWS_FOR_IDENTIFIER  # noqa: F401  (kept importable)
from synthvae.identifiers import is_integer_identifier, is_text_identifier
from synthvae.pii import PII_KINDS, detect_pii

SCHEMA_FORMAT_VERSION = 1
CATEGORICAL_THRESHOLD = 15
MAX_CATEGORIES = 200  # a categorical column's values kept verbatim, at most (by default)
MAX_DECIMALS = 6
# Rounding a value to its decimals may move it by float noise: at most this much, and at
# most this share of the column's largest magnitude (values all below 1e-9 are not noise).
# An integer column beyond 2**53 is refused when float64 would merge more than this share
# of its distinct values (codes); fewer merges are a measurement's rounding (ns stamps).
MAX_MERGED_SHARE = 0.01
DECIMAL_NOISE = 1e-9
DECIMAL_NOISE_SHARE = 1e-6
# The largest magnitude a numeric column may hold: the mixture fit standardises a column by
# the sum of its squared deviations in float64, which overflows (a NaN loss) from about
# 1e154 on a few hundred rows, and sooner on more rows.
MAX_MAGNITUDE = 1e150
# Dtype names a schema keeps for object columns of Python values (synthvae.frames).
OBJECT_DTYPES = ("decimal", "date", "datetime", "timestamp", "timedelta", "text[timedelta]")

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
# Times of day without a date ("13:05:59", as Parquet's time64 is written): text a
# datetime format keeps, on the date 1900-01-01 that parsing gives them.
TIME_FORMATS = ("%H:%M:%S", "%H:%M", "%H:%M:%S.%f")
# Dates with month names, as spreadsheets export them (05-Jul-2023, Jul 05, 2023): one order
# only, so a format that prints every value back unchanged is the column's.
MONTH_NAME_FORMATS = ("%d-%b-%Y", "%d-%b-%y", "%d %b %Y", "%b %d, %Y", "%d %B %Y",
                      "%B %d, %Y")
TIME_LIKE = re.compile(r"^\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$")
# A time followed by a UTC offset ("+01:00", as pandas' to_csv writes a zoned column, or
# "+0100") is the format above of the text before it, plus "%z"; offsets come back "+01:00".
OFFSET = "%z"
# Day and month in either order (25/12/2020, 12/25/2020): the order whose values are all
# valid, when only one is (some first field above 12, or some second field); "/", "." or "-".
DAY_MONTH_TIMES = ("", " %H:%M:%S", " %H:%M", " %I:%M %p", " %I:%M:%S %p")
_ISO_LIKE = re.compile(r"^\d{4}[-/]\d{2}[-/]\d{2}"
                       r"([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")
_OFFSET_TEXT = re.compile(r"(?<=\d)[+-]\d{2}:?\d{2}$")
_OFFSET_TAIL = re.compile(r"[+-]\d{2}:?\d{2}$")  # in the last 6 characters of a value
_DAY_MONTH_LIKE = re.compile(r"^\d{2}([/.-])\d{2}\1(\d{4}|\d{2})"
                             r"( \d{2}:\d{2}(:\d{2})?( [AP]M)?)?$")
# A text column of dates but for at most MAX_DATE_WORDS words ("unknown") in at least this
# share of its cells is read as categories with a DetectionWarning saying how to keep dates.
DATES_BESIDE_WORDS_SHARE = 0.5
MAX_DATE_WORDS = 3
# Text that reads as a date: never regenerated by an identifier template, which would write
# new digits into its day or month (25/12/2020 -> 644/86/2020). Also the forms spreadsheets
# export: two-digit years with a valid day and month (07/05/23 -> 117/86/58), month names
# (05-Jul-2023, Jul 05, 2023 -> Fmn 33, 76359) and times with AM/PM.
_DAY, _MONTH = r"(0?[1-9]|[12]\d|3[01])", r"(0?[1-9]|1[0-2])"
_MONTH_NAME = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
DATE_LIKE = re.compile(r"^(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}"
                       rf"|({_DAY}[-/.]{_MONTH}|{_MONTH}[-/.]{_DAY})[-/.]\d{{2}}"
                       rf"|\d{{1,2}}[- ]{_MONTH_NAME}[- ,]+(\d{{4}}|\d{{2}})"
                       rf"|{_MONTH_NAME} \d{{1,2}},? \d{{4}})"
                       r"([ T]\d{1,2}:\d{2}\S*( ?[ap]\.?m\.?)?)?$", re.IGNORECASE)


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
    dtype: str | None = None  # pandas dtype restored on output (None: the table's, when merged;
    # "decimal" / "date" / "datetime" / "timestamp" / "timedelta": an object column of
    # decimal.Decimal / datetime.date / datetime.datetime / pd.Timestamp /
    # datetime.timedelta values; "text[timedelta]": text as to_csv writes durations)
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
        _check_bounds(self)
        _check_decimals(self)
        _check_dtype(self)
        _check_timezone(self)
        _check_categories(self)
        self._check_pii()

    def _check_pii(self) -> None:
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
            if not isinstance(values["categories"], list):
                raise SchemaError(f"Column {data['name']!r}: 'categories' must be a list of "
                                  f"values or null. Got {values['categories']!r} instead.")
            values["categories"] = tuple(values["categories"])
        return cls(**values)


def _check_bounds(spec: ColumnSpec) -> None:
    """``min`` and ``max``: numbers (a datetime's in seconds since 1970), ``min <= max``."""
    unit = " of seconds since 1970-01-01 UTC" if spec.kind is ColumnKind.DATETIME else ""
    for key in ("min", "max"):
        value = getattr(spec, key)
        if value is not None and not _is_number(value):
            raise SchemaError(f"Column {spec.name!r}: {key!r} must be a number{unit} or null. "
                              f"Got {value!r} instead.")
    bounded = spec.min is not None or spec.max is not None
    if bounded and spec.kind not in (ColumnKind.CONTINUOUS, ColumnKind.DATETIME):
        raise SchemaError(f"Column {spec.name!r}: 'min' and 'max' bound a continuous or "
                          f"datetime column; this one is {spec.kind.value!r}, whose values "
                          f"they would not bound. Declare \"kind\": \"continuous\" to bound "
                          f"its numbers, or drop them.")
    if spec.min is not None and spec.max is not None and spec.min > spec.max:
        raise SchemaError(f"Column {spec.name!r}: 'min' must be at most 'max'. Got min "
                          f"{spec.min!r} and max {spec.max!r} instead.")


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) \
        and not isinstance(value, (bool, np.bool_)) and value == value  # not NaN


def _check_decimals(spec: ColumnSpec) -> None:
    value = spec.decimals
    if value is not None and (not isinstance(value, (int, np.integer))
                              or isinstance(value, bool) or value < 0):
        raise SchemaError(f"Column {spec.name!r}: 'decimals' must be a whole number >= 0 or "
                          f"null. Got {value!r} instead.")


def _check_dtype(spec: ColumnSpec) -> None:
    """A dtype pandas can build from its name; Arrow types and the object dtypes of
    ``OBJECT_DTYPES`` as recorded."""
    name = spec.dtype
    if name is None or name in OBJECT_DTYPES or (isinstance(name, str)
                                                 and name.endswith("[pyarrow]")):
        return
    try:
        pd.api.types.pandas_dtype(name)
    except (TypeError, ValueError):
        raise SchemaError(f"Column {spec.name!r}: 'dtype' must name a pandas dtype (such as "
                          f"'float64', 'Int64', 'object', 'category', 'datetime64[ns, UTC]'), "
                          f"one of {list(OBJECT_DTYPES)} or be null. Got {name!r} "
                          f"instead.") from None


def _check_categories(spec: ColumnSpec) -> None:
    """Known categories are distinct values (a pandas category dtype takes no repeat)."""
    if spec.categories is None:
        return
    try:
        repeated = pd.Index(list(spec.categories)).duplicated()
    except TypeError:  # unhashable values: the frame checks say what is wrong with them
        return
    if repeated.any():
        raise SchemaError(f"Column {spec.name!r}: 'categories' must be distinct values. Got "
                          f"{spec.categories[int(np.argmax(repeated))]!r} more than once.")


def _check_timezone(spec: ColumnSpec) -> None:
    if spec.timezone is None:
        return
    try:
        pd.Timestamp(0, tz="UTC").tz_convert(spec.timezone)
    except Exception:  # pytz's UnknownTimeZoneError, zoneinfo's, TypeError for non-text
        raise SchemaError(f"Column {spec.name!r}: 'timezone' must name a time zone (such as "
                          f"'UTC', 'Europe/Paris' or 'UTC+01:00') or be null. Got "
                          f"{spec.timezone!r} instead.") from None


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
                    adjust: Callable[[ColumnSpec], ColumnSpec] = lambda spec: spec,
                    read_values: bool = True) -> Schema:
    """The table's columns in its order: ``adjust(override)`` for the columns ``overrides``
    names, ``detect(name)`` for the others; an override's missing dtype is the column's.
    Without ``read_values`` (differential privacy) only dtypes are read."""
    check_column_names(df.columns)
    if overrides is None:
        return Schema(columns=tuple(detect(name) for name in df.columns))
    overrides.check_columns_exist(df)
    given = {c.name: c for c in overrides.columns}
    return Schema(columns=tuple(
        adjust(_with_dtype(given[name], df[name], read_values)) if name in given
        else detect(name)
        for name in df.columns), constraints=overrides.constraints)


def _with_dtype(spec: ColumnSpec, series: pd.Series, read_values: bool = True
                ) -> ColumnSpec:
    """An override without a dtype takes the column's, recorded as detection records it
    (without ``read_values``, from the dtype alone: an ``object`` column's values would say
    whether it holds decimals, dates or durations); a declared identifier of whole numbers
    is an integer counter, as a detected one."""
    from synthvae.frames import dtype_name, series_dtype_name

    if spec.dtype is None:
        found = series_dtype_name(series) if read_values else dtype_name(series.dtype)
        spec = dataclasses.replace(spec, dtype=found)
    if _whole_number_identifier(spec, series, read_values):
        spec = dataclasses.replace(spec, integer=True)
    return spec


def _whole_number_identifier(spec: ColumnSpec, series: pd.Series, read_values: bool) -> bool:
    """A declared identifier (not personal data) held as numbers that are all whole: keys
    with blanks read as floats came back as text ``1741302554.0`` without this. Without
    ``read_values``, integer dtypes only."""
    if spec.kind is not ColumnKind.IDENTIFIER or spec.pii is not None or spec.integer \
            or pd.api.types.is_bool_dtype(series.dtype) \
            or not pd.api.types.is_numeric_dtype(series.dtype):
        return False
    if pd.api.types.is_integer_dtype(series.dtype) or not read_values:
        return pd.api.types.is_integer_dtype(series.dtype)
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = values[np.isfinite(values)]
    return bool(len(finite)) and bool(np.all(finite == np.round(finite)))


def check_column_names(names: Iterable) -> None:
    names = list(names)
    bad = [n for n in names if not isinstance(n, str)]
    if bad:
        rename = "['_'.join(map(str, c)) for c in df.columns]" if isinstance(bad[0], tuple) \
            else "df.columns.astype(str)"  # a MultiIndex cannot be cast to str
        raise SchemaError(f"Column names must be strings; column {bad[0]!r} is of type "
                          f"{type(bad[0]).__name__}. Rename the columns "
                          f"(df.columns = {rename}).")
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise SchemaError(f"Column {duplicated[0]!r} appears more than once; column names "
                          f"must be unique.")


def detect_column(series: pd.Series, categorical_threshold: int = CATEGORICAL_THRESHOLD
                  ) -> ColumnSpec:
    from synthvae.frames import (holds, holds_numbers, is_duration_name, model_series,
                                 series_dtype_name, zone_name)

    name = str(series.name)
    dtype = series_dtype_name(series)  # recorded before normalising: restored on output
    exact = _exact_integer_cells(series, dtype)
    series = model_series(series)
    nullable = bool(series.isna().any())
    values = series.dropna()
    check_values(values, name)
    if exact is not None:  # its kind is decided on exact values, not float64's
        values = exact
    common = {"name": name, "dtype": dtype, "nullable": nullable}
    if isinstance(series.dtype, pd.CategoricalDtype):  # kept on output, constant or not
        common.update(ordered=bool(series.cat.ordered),
                      categories=tuple(_python_scalar(v) for v in series.cat.categories))
    if values.nunique() <= 1:
        if exact is not None:
            _check_exact_values(exact, dtype, name)
        value = _python_scalar(values.iloc[0]) if len(values) else None
        if isinstance(value, pd.Timestamp):
            value = str(value)
        return ColumnSpec(kind=ColumnKind.CONSTANT, value=value, **common)
    if isinstance(series.dtype, pd.CategoricalDtype):
        pii = detect_pii(name, values.astype(str))  # e-mails kept as a category dtype
        if pii is not None:  # replaced by fakes: neither the values nor the categories kept
            return ColumnSpec(kind=ColumnKind.IDENTIFIER, pii=pii, name=name, dtype=dtype,
                              nullable=nullable)
        return ColumnSpec(kind=ColumnKind.CATEGORICAL, **common)
    if pd.api.types.is_bool_dtype(series.dtype):
        return ColumnSpec(kind=ColumnKind.CATEGORICAL, **common)
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        tz = zone_name(series.dt.tz) if series.dt.tz is not None else None
        return ColumnSpec(kind=ColumnKind.DATETIME, timezone=tz, **common)
    if pd.api.types.is_numeric_dtype(series.dtype):
        spec = _detect_numeric(values, categorical_threshold, common)
        if exact is not None and spec.kind is ColumnKind.CATEGORICAL:
            _check_exact_values(exact, dtype, name)
        return _as_duration(spec) if is_duration_name(dtype) else spec
    if holds_numbers(values):  # Python numbers in an object column (JSON, astype(object))
        spec = _detect_numeric(pd.to_numeric(values), categorical_threshold, common)
        if spec.kind is not ColumnKind.CATEGORICAL:  # few codes stay categories (ints kept)
            return spec  # many: numbers, not text identifiers with regenerated digits
    if holds(values, datetime.time) and values.nunique() <= categorical_threshold:
        return ColumnSpec(kind=ColumnKind.CATEGORICAL, **common)  # times kept as objects
    return _detect_text(values, common)  # more times: modelled as time text


def check_values(values: pd.Series, name: str) -> None:
    """Refuse cells no column kind can model: complex numbers, infinities, magnitudes beyond
    ``MAX_MAGNITUDE``, nested values, and bytes that are not UTF-8 (bytes are read as the
    text they encode)."""
    check_not_complex(values, name)
    if pd.api.types.is_float_dtype(values.dtype):
        check_magnitude(values.to_numpy(float), name)
    if values.dtype == object:
        nested = values.map(lambda v: isinstance(v, (list, dict, set, tuple, np.ndarray)))
        if nested.any():
            raise DataError(f"Column {name!r} holds nested values (e.g. a "
                            f"{type(values[nested].iloc[0]).__name__}); flatten it into "
                            f"scalar columns or drop it.")
        _check_bytes(values, name)


def check_not_complex(values: pd.Series, name: str) -> None:
    """Complex numbers (a ``complex128`` column, or complex objects) would lose their
    imaginary part as float64: refused."""
    present = values.dropna()
    if values.dtype.kind == "c" or (values.dtype == object and len(present) and isinstance(
            present.iloc[0], (complex, np.complexfloating))):
        example = f" (e.g. {complex(present.iloc[0])})" if len(present) else ""
        raise DataError(f"Column {name!r} holds complex numbers{example}: complex numbers are "
                        f"not supported; split it into real and imaginary columns "
                        f"(df[{name!r}].to_numpy().real and .imag).")


def check_magnitude(values: np.ndarray, name: str) -> None:
    """Refuse infinities and finite values beyond ``MAX_MAGNITUDE`` (NaN cells ignored)."""
    magnitudes = np.abs(values)
    if np.isinf(magnitudes).any():
        raise DataError(f"Column {name!r} holds an infinite value; replace +/-inf with a "
                        f"finite number or an empty cell.")
    largest = np.nanmax(magnitudes, initial=0.0)
    if largest > MAX_MAGNITUDE:
        value = values[np.nanargmax(magnitudes)]
        raise DataError(f"Column {name!r} holds {value:.4g}: the model standardises numbers "
                        f"in float64 and takes magnitudes up to {MAX_MAGNITUDE:.0e} (squares "
                        f"of larger deviations overflow). Rescale the column (divide it by a "
                        f"power of ten) or store its logarithm.")


def _exact_integer_cells(series: pd.Series, dtype: str) -> pd.Series | None:
    """The present cells of a nullable integer column with missing cells (pandas' ``Int64``,
    Arrow's ``int64``...; ``dtype`` its recorded name) in its NumPy integer dtype, None for
    any other column. The model reads such a column as float64, which rounds integers beyond
    2**53: its kind (identifier, codes, number) is decided on the exact values."""
    from synthvae.frames import model_dtype

    integer = model_dtype(dtype)
    if isinstance(series.dtype, (np.dtype, pd.CategoricalDtype)) or \
            not integer.startswith(("int", "uint")):
        return None
    present = series.dropna()
    if len(present) == len(series):  # read as exact integers already
        return None
    return pd.Series(present.to_numpy(dtype=integer), index=present.index, name=series.name)


def _check_exact_values(values: pd.Series, dtype: str, name: str) -> None:
    """A nullable integer column's codes or constant are read as float64 (its missing cells
    are NaN): values beyond 2**53, which float64 would round to others, are refused (an
    identifier is regenerated and a number modelled, so they pass)."""
    if not len(values) or (values.max() <= 2 ** 53 and values.min() >= -2 ** 53):
        return
    raise DataError(f"Column {name!r} ({dtype}, with missing cells) holds values up to "
                    f"{max(abs(int(values.max())), abs(int(values.min())))}, beyond 2**53: "
                    f"the model reads its values as float64, which cannot keep them exact. "
                    f"Convert it to text (df[{name!r}].astype('string')) or fill its missing "
                    f"cells.")


def _check_bytes(values: pd.Series, name: str) -> None:
    if pd.api.types.infer_dtype(values, skipna=True) not in ("bytes", "mixed"):
        return
    for value in pd.unique(values[values.map(lambda v: isinstance(v, bytes))]):
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            raise DataError(f"Column {name!r} holds bytes that are not UTF-8 text (e.g. "
                            f"{value[:40]!r}); bytes are read as UTF-8 text. Decode the "
                            f"column in its encoding first (df[{name!r}].str.decode("
                            f"'latin-1')) or drop it.") from None


def _detect_numeric(values: pd.Series, threshold: int, common: dict) -> ColumnSpec:
    array = values.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = array[np.isfinite(array)]
    integer = bool(len(finite) and np.all(finite == np.round(finite)))
    n_unique = values.nunique()
    if integer and n_unique <= threshold:
        return ColumnSpec(kind=ColumnKind.CATEGORICAL, **common)
    if is_integer_identifier(values, common["nullable"], common["name"]):
        return ColumnSpec(kind=ColumnKind.IDENTIFIER, integer=True, **common)
    _check_float_keeps_integers(values, common["name"])
    return ColumnSpec(kind=ColumnKind.CONTINUOUS, integer=integer,
                      decimals=0 if integer else count_decimals(finite), **common)


def _check_float_keeps_integers(values: pd.Series, name: str) -> None:
    """A number is modelled in float64, which rounds an integer beyond 2**53 to a multiple
    of a power of two: an integer column more than ``MAX_MERGED_SHARE`` of whose distinct
    values float64 would merge (codes such as ``2**60 + 3 k``) is refused, not sampled as
    one value. Large integers that float64 keeps (nearly all) apart, such as nanosecond
    timestamps, where a few of a million may share a float, are modelled as numbers."""
    if values.dtype.kind not in "iu" or not len(values) or \
            (values.max() <= 2 ** 53 and values.min() >= -2 ** 53):
        return
    distinct = np.unique(values.to_numpy())
    merged = len(np.unique(distinct.astype(np.float64)))
    if merged < (1 - MAX_MERGED_SHARE) * len(distinct):
        raise DataError(f"Column {name!r} holds integers beyond 2**53 (up to "
                        f"{max(abs(int(distinct[0])), abs(int(distinct[-1])))}) that float64, "
                        f"in which numbers are modelled, cannot tell apart: its "
                        f"{len(distinct):,} distinct values would come back as {merged:,}. "
                        f"Convert it to text (df[{name!r}].astype('string')) if its values "
                        f"are codes, or subtract an offset (df[{name!r}] - "
                        f"df[{name!r}].min()) if they are measurements.")


def _as_duration(spec: ColumnSpec) -> ColumnSpec:
    """Distinct durations are measurements, never an identifier whose new values would not
    be durations of the data (a column of distinct whole-second waits filled its grid)."""
    if spec.kind is not ColumnKind.IDENTIFIER:
        return spec
    return dataclasses.replace(spec, kind=ColumnKind.CONTINUOUS, decimals=0)


def count_decimals(values: np.ndarray, limit: int = MAX_DECIMALS) -> int | None:
    """The fewest decimals that represent every value exactly (None when more than ``limit``).

    "Exactly" allows float noise, up to ``DECIMAL_NOISE`` but never more than
    ``DECIMAL_NOISE_SHARE`` of the column's largest magnitude: a fixed 1e-9 judged a column of
    picofarads (all below 1e-9) to have 0 decimals, and every sampled value was rounded to 0."""
    sample = values[:10_000]
    largest = float(np.abs(sample).max(initial=0.0))
    noise = min(DECIMAL_NOISE, DECIMAL_NOISE_SHARE * largest)
    for decimals in range(limit + 1):
        if np.allclose(np.round(sample, decimals), sample, rtol=0, atol=noise):
            return decimals
    return None


def _detect_text(values: pd.Series, common: dict) -> ColumnSpec:
    strings = values.astype(str)
    datetime_format = detect_datetime_format(strings)
    if datetime_format is not None:
        return ColumnSpec(kind=ColumnKind.DATETIME, datetime_format=datetime_format,
                          timezone=text_timezone(strings, datetime_format), **common)
    pii = detect_pii(common["name"], strings)
    if pii is not None:
        return ColumnSpec(kind=ColumnKind.IDENTIFIER, pii=pii, **common)
    if is_text_identifier(strings) and not looks_like_dates(strings):
        return ColumnSpec(kind=ColumnKind.IDENTIFIER, **common)
    warn_dates_beside_words(strings, common["name"])
    warn_dates_without_one_format(strings, common["name"])
    return ColumnSpec(kind=ColumnKind.CATEGORICAL, **common)


def warn_dates_without_one_format(strings: pd.Series, name: str) -> None:
    """Warn where every (sampled) cell reads as a date but no one format prints them all
    back (formats mixed in one column, or day and month in an order no value tells), with
    more distinct values than a categorical column keeps: read as categories, its rarer
    dates are sampled as generated text (random words), which nothing else said."""
    if not looks_like_dates(strings) or strings.nunique() <= MAX_CATEGORIES:
        return
    warnings.warn(f"Column {name!r} reads as dates, but in no one format that prints all "
                  f"its values back (formats mixed, or day and month in an order no value "
                  f"tells), so it is read as categories: its {strings.nunique():,} distinct "
                  f"values are more than the {MAX_CATEGORIES} categories a column keeps by "
                  f"default (max_categories), and the rarer dates are sampled as generated "
                  f"text. To model it as dates, convert it first "
                  f"(pd.to_datetime(df[{name!r}], format='mixed')) or declare its "
                  f"datetime_format in a schema.", DetectionWarning, stacklevel=2)


def warn_dates_beside_words(strings: pd.Series, name: str) -> None:
    """Warn where a text column is dates in at least ``DATES_BESIDE_WORDS_SHARE`` of its
    cells but for a few words (``unknown``, ``never``), with more distinct values than a
    categorical column keeps: read as categories, its rarer dates are grouped and sampled
    as generated text, which an empty cell in place of the words would have kept as
    dates. (With fewer values every date is a category of its own: no warning.) A sample
    of the cells with no date among them ends it before the whole column is counted."""
    if not _sample(strings, 500).str.match(DATE_LIKE).any():
        return
    counts = strings.value_counts()
    if len(counts) <= MAX_CATEGORIES:
        return
    values = counts.index.to_series().astype(str)
    dates = values.str.match(DATE_LIKE).to_numpy()  # every form detection reads as dates
    share = counts[dates].sum() / counts.sum()
    words = counts[~dates]
    if share < DATES_BESIDE_WORDS_SHARE or not 1 <= len(words) <= MAX_DATE_WORDS \
            or detect_datetime_format(values[dates]) is None:
        return
    shown = ", ".join(f"{word!r} ({count:,} rows)" for word, count in words.items())
    warnings.warn(f"Column {name!r} holds dates in {share:.0%} of its cells and {shown} in "
                  f"the others, so it is read as categories: its {len(counts):,} distinct "
                  f"values are more than the {MAX_CATEGORIES} categories a column keeps by "
                  f"default (max_categories), and the rarer dates are sampled as generated "
                  f"text. To model it as "
                  f"dates, make those cells empty "
                  f"(df[{name!r}].replace({list(words.index)!r}, None)).",
                  DetectionWarning, stacklevel=2)


def detect_datetime_format(strings: pd.Series, sample_size: int = 500) -> str | None:
    """The strftime format shared by all the (sampled) strings, or None if not dates."""
    if len(strings) == 0:
        return None
    sample = _sample(strings, sample_size)
    if sample.str.match(_ISO_LIKE).all():
        return _iso_format(sample)
    if sample.str.match(_DAY_MONTH_LIKE).all():
        return _round_tripping_format(sample, _day_month_formats(strings, sample.iloc[0][2]))
    if sample.str.match(TIME_LIKE).all():
        return _round_tripping_format(sample, TIME_FORMATS)
    if sample.str.contains("[A-Za-z]").all() and sample.str.match(DATE_LIKE).all():
        return _round_tripping_format(sample, MONTH_NAME_FORMATS)
    return None


def _sample(strings: pd.Series, size: int) -> pd.Series:
    return strings.iloc[:: max(1, len(strings) // size)].head(size)


def _iso_format(sample: pd.Series) -> str | None:
    """An ISO-like format; with a UTC offset on every value, the format of the text before
    the offsets (one with a time) followed by ``%z``."""
    offsets = sample.str.contains(_OFFSET_TEXT)
    if not offsets.any():
        return _round_tripping_format(sample, DATETIME_FORMATS)
    if not offsets.all():
        return None
    local = _round_tripping_format(sample.str.replace(_OFFSET_TEXT, "", regex=True),
                                   DATETIME_FORMATS)
    if local is None or "%H" not in local or local.endswith("Z"):
        return None
    return local + OFFSET


def _day_month_formats(strings: pd.Series, separator: str) -> list[str]:
    """``%d/%m/%Y`` or ``%m/%d/%Y`` formats (also with ``%y``; with the times of
    ``DAY_MONTH_TIMES``): the order that every value of the column allows; none when both
    orders (or neither) do."""
    first = pd.to_numeric(strings.str.slice(0, 2), errors="coerce").max()
    second = pd.to_numeric(strings.str.slice(3, 5), errors="coerce").max()
    if (first > 12) == (second > 12):
        return []
    day, month = ("%d", "%m") if first > 12 else ("%m", "%d")
    return [f"{day}{separator}{month}{separator}{year}{time}" for year in ("%Y", "%y")
            for time in DAY_MONTH_TIMES]


def _round_tripping_format(sample: pd.Series, formats: Sequence[str]) -> str | None:
    """The first of ``formats`` that parses every value and prints it back unchanged."""
    for fmt in formats:
        parsed = pd.to_datetime(sample, format=fmt, errors="coerce")
        if parsed.notna().all() and (parsed.dt.strftime(fmt) == sample).all():
            return fmt
    return None


def text_timezone(strings: pd.Series, datetime_format: str) -> str | None:
    """The time zone of datetime text: UTC for a ``Z`` format; for a ``%z`` format, the one
    offset every value has (``UTC+01:00``), or UTC where offsets differ (a named zone across
    daylight saving time): such values are read as instants and written back in UTC."""
    if datetime_format.endswith("Z"):
        return "UTC"
    if not datetime_format.endswith(OFFSET):
        return None
    tails = (_OFFSET_TAIL.search(tail) for tail in pd.unique(strings.str.slice(-6)))
    offsets = {tail.group().replace(":", "") for tail in tails if tail is not None}
    if len(offsets) != 1:
        return "UTC"
    return str(pd.Timestamp("2000-01-01 00:00" + offsets.pop()).tz)


def looks_like_dates(strings: pd.Series, sample_size: int = 500) -> bool:
    """Whether every (sampled) string reads as a date (``DATE_LIKE``) or a time of day,
    whatever its format."""
    sample = _sample(strings, sample_size)
    return len(strings) > 0 and bool((sample.str.match(DATE_LIKE)
                                      | sample.str.match(TIME_LIKE)).all())


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
    if not isinstance(schema, (str, os.PathLike)):
        raise SchemaError(f"The 'schema' parameter must be a Schema, its dict form "
                          f"({{\"columns\": [...]}}), JSON text or the path of a JSON file. "
                          f"Got a {type(schema).__name__} instead.")
    from pathlib import Path

    path = Path(schema)
    if not path.is_file():
        raise SchemaError(f"Schema file {str(path)!r} does not exist.")
    return Schema.from_json(path.read_text(encoding="utf-8"))


def kinds(schema: Schema, kind: ColumnKind) -> Sequence[ColumnSpec]:
    return [c for c in schema.columns if c.kind is kind]

"""Tables at the library's edge: what users pass in, what the model reads, what comes back.

* :func:`as_pandas` takes a pandas DataFrame, a PyArrow Table or a Polars DataFrame
  (Polars is optional and never imported unless given one).
* :func:`model_frame` is the one place input columns are normalised: every column in a
  NumPy-backed dtype whose missing cells are ``NaN``/``NaT`` (``pd.NA``, ``None``, ``NaT`` of
  nullable ``Int*``/``UInt*``/``Float*``/``boolean``/``string`` and ``pd.ArrowDtype`` columns
  alike). Transforms, diagnostics, scoring, drift, conditions and reports read only this.
* :func:`restore_frame` is the one place output columns get back the dtype the schema
  recorded (``dtype_name`` of the input column); :func:`model_dtype` names the NumPy-backed
  dtype the column transformers produce on the way.
* :func:`to_output` returns rows as pandas, Arrow or Polars.
"""

from __future__ import annotations

import datetime
import decimal
import re
import uuid

import numpy as np
import pandas as pd

from synthvae.errors import ConfigError, DataError

OUTPUTS = ("pandas", "arrow", "polars")
DECIMAL = "decimal"  # the dtype name kept for an object column of decimal.Decimal values
DATE = "date"  # ... of datetime.date values (modelled as the ISO text of their days)
DATETIME = "datetime"  # ... of datetime.datetime values (modelled as datetime64[us])
TIMESTAMP = "timestamp"  # ... of pd.Timestamp values (modelled as datetime64[us])
TIMEDELTA = "timedelta"  # ... of datetime.timedelta values (modelled as nanoseconds)
TIMEDELTA_TEXT = "text[timedelta]"  # ... of durations as to_csv writes them: "0 days 00:01:02"
# The text pandas writes for a duration (str(pd.Timedelta), to_csv): "-1 days +23:59:59.5".
_TIMEDELTA_TEXT = re.compile(r"^-?\d+ days [+-]?\d{2}:\d{2}:\d{2}(\.\d{1,9})?$")
_ARROW_DECIMAL = re.compile(r"^decimal(128|256)\((\d+), (-?\d+)\)\[pyarrow\]$")
_ARROW_DICTIONARY = re.compile(r"^dictionary<.*>\[pyarrow\]$")
_ARROW_FIXED_BINARY = re.compile(r"^fixed_size_binary\[(\d+)\]\[pyarrow\]$")
ARROW_UUID = "extension<arrow.uuid>[pyarrow]"  # the dtype name of an Arrow uuid column
# Generated identifiers of a uuid column are the UUIDs this namespace gives their text.
_UUID_NAMESPACE = uuid.UUID("5f1c7a52-3d0e-4c55-9b1e-2a7c54e8d9a1")
_MASKED_NUMPY = {"Int8": "int8", "Int16": "int16", "Int32": "int32", "Int64": "int64",
                 "UInt8": "uint8", "UInt16": "uint16", "UInt32": "uint32", "UInt64": "uint64",
                 "Float32": "float32", "Float64": "float64", "boolean": "bool"}


# ---------------------------------------------------------------------------- in


def as_pandas(data, where: str) -> pd.DataFrame:
    """``data`` as a pandas DataFrame; Arrow and Polars columns keep their Arrow types."""
    if isinstance(data, pd.DataFrame):
        return data
    module = type(data).__module__.split(".")[0]
    if module == "polars" and hasattr(data, "to_arrow"):
        data = data.to_arrow()
    if module in ("pyarrow", "polars") and hasattr(data, "to_pandas") \
            and hasattr(data, "schema"):
        return _arrow_to_pandas(data)
    raise DataError(f"{where} takes a pandas DataFrame, a PyArrow Table or a Polars "
                    f"DataFrame. Got a {type(data).__name__} instead.")


def _arrow_to_pandas(table) -> pd.DataFrame:
    import pyarrow as pa

    def mapper(arrow_type):  # dictionaries become pandas categories
        return None if pa.types.is_dictionary(arrow_type) else pd.ArrowDtype(arrow_type)

    return table.to_pandas(types_mapper=mapper)


def series_dtype_name(series: pd.Series) -> str:
    """:func:`dtype_name` of the column; for an object column whose present values are all
    of one Python kind, that kind: ``"decimal"``, ``"date"`` (``datetime.date``, not
    datetimes), ``"timestamp"`` (``pd.Timestamp``), ``"datetime"`` (``datetime.datetime``,
    Timestamps among them; all naive or all with a time zone), ``"timedelta"``
    (``datetime.timedelta``) or ``"text[timedelta]"`` (text in the form pandas writes
    durations)."""
    if series.dtype != object:
        return dtype_name(series.dtype)
    missing = pd.isna(series.to_numpy())
    kinds = ((DECIMAL, _holds_decimals), (DATE, _holds_dates),
             (TIMESTAMP, _holds_timestamps), (DATETIME, _holds_datetimes),
             (TIMEDELTA, _holds_timedeltas), (TIMEDELTA_TEXT, _holds_timedelta_text))
    return next((name for name, test in kinds if test(series, missing)), "object")


def _holds_decimals(series: pd.Series, missing: np.ndarray | None = None) -> bool:
    return holds(series, decimal.Decimal, missing)


def _holds_dates(series: pd.Series, missing: np.ndarray | None = None) -> bool:
    """Only ``datetime.date`` values (a ``datetime`` is a date too, and not one here)."""
    return holds(series, datetime.date, missing) and not holds_any(
        series, datetime.datetime, missing)


def _holds_datetimes(series: pd.Series, missing: np.ndarray | None = None,
                     kind: type = datetime.datetime) -> bool:
    """Only ``kind`` values (``datetime.datetime``, or ``pd.Timestamp``), all naive or all
    with a time zone: such a column is read as ``datetime64`` (a mix of both has no instant
    in common and stays objects)."""
    if not holds(series, kind, missing):
        return False
    values = series.to_numpy()
    present = values[~(pd.isna(values) if missing is None else missing)]
    return len({value.tzinfo is None for value in present}) == 1


def _holds_timestamps(series: pd.Series, missing: np.ndarray | None = None) -> bool:
    return _holds_datetimes(series, missing, pd.Timestamp)


def _holds_timedeltas(series: pd.Series, missing: np.ndarray | None = None) -> bool:
    return holds(series, datetime.timedelta, missing)  # pd.Timedelta is one too


def _holds_timedelta_text(series: pd.Series, missing: np.ndarray | None = None) -> bool:
    """Text that all reads as pandas writes a duration ("0 days 00:01:02"), and parses."""
    if series.dtype != object:
        return False
    values = series.to_numpy()
    present = values[~(pd.isna(values) if missing is None else missing)]
    if not len(present) or not isinstance(present[0], str) \
            or not _TIMEDELTA_TEXT.match(present[0]):  # one look decides for other text
        return False
    text = pd.Series(present, dtype=object)
    return holds(text, str) and bool(text.str.fullmatch(_TIMEDELTA_TEXT).all()) \
        and bool(pd.to_timedelta(text, errors="coerce").notna().all())


def holds_numbers(series: pd.Series) -> bool:
    """Every present value of an object column a real number (int or float, Python or
    NumPy; not a bool)."""
    return holds(series, (int, float, np.integer, np.floating)) and not any(
        isinstance(v, (bool, np.bool_)) for v in series.dropna().to_numpy())


def holds(series: pd.Series, kind: type, missing: np.ndarray | None = None) -> bool:
    """Whether every present value of an object column is a ``kind``."""
    if series.dtype != object:
        return False
    values = series.to_numpy()
    present = values[~(pd.isna(values) if missing is None else missing)]
    return len(present) > 0 and isinstance(present[0], kind) and all(
        isinstance(v, kind) for v in present)  # one look decides for text


def holds_any(series: pd.Series, kind: type, missing: np.ndarray | None = None) -> bool:
    """Whether some present value of an object column is a ``kind``."""
    values = series.to_numpy()
    present = values[~(pd.isna(values) if missing is None else missing)]
    return any(isinstance(v, kind) for v in present)


def dtype_name(dtype) -> str:
    """The text a schema keeps for a column's dtype; ``pandas_dtype`` reads it back."""
    if isinstance(dtype, pd.DatetimeTZDtype):
        return f"datetime64[{dtype.unit}, {zone_name(dtype.tz)}]"
    if isinstance(dtype, pd.StringDtype) and dtype.storage != "python":
        return f"string[{dtype.storage}]"
    if isinstance(dtype, pd.ArrowDtype) and str(dtype) == "string[pyarrow]":
        return "utf8[pyarrow]"  # Arrow's string type; "string[pyarrow]" names StringDtype's
    return str(dtype)


def zone_name(tz) -> str:
    """A time zone as a name pandas reads back: its IANA key (pytz, zoneinfo, dateutil's
    zone files) or, for a fixed offset (``pytz.FixedOffset(-180)``, dateutil's ``tzutc()``),
    ``UTC-03:00`` / ``UTC``. ``str`` of dateutil's and pytz's fixed zones named nothing
    pandas can read, so such columns were refused with a message about a schema dtype."""
    key = getattr(tz, "zone", None) or getattr(tz, "key", None)
    filename = getattr(tz, "_filename", None)
    if not key and isinstance(filename, str) and "zoneinfo/" in filename:
        key = filename.split("zoneinfo/", 1)[1]
    if key:
        return str(key)
    offset = tz.utcoffset(None) if tz is not None else None
    if offset is not None and tz.utcoffset(datetime.datetime(2000, 7, 1)) == offset:
        return "UTC" if not offset else str(datetime.timezone(offset))
    return str(tz)


def model_frame(df: pd.DataFrame, schema=None) -> pd.DataFrame:
    """``df`` with every column as :func:`model_series` gives it (unchanged columns shared).
    With ``schema``, each column as its recorded dtype says (see :func:`model_series`)."""
    recorded = {} if schema is None else {c.name: c.dtype for c in schema.columns}
    columns = {name: model_series(df[name], recorded.get(name)) for name in df.columns}
    if all(columns[name] is df[name] for name in df.columns):
        return df
    return pd.DataFrame(columns, index=df.index)[list(df.columns)]


def as_instant(value) -> pd.Timestamp | None:
    """``value`` (a datetime, a date, their text) as a Timestamp; None where it reads as
    none (or as NaT)."""
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        return None
    return None if stamp is pd.NaT else stamp


def model_rows(df: pd.DataFrame, positions: np.ndarray) -> pd.DataFrame:
    """:func:`model_frame` of the rows of ``df`` at ``positions``. Arrow view columns
    (``string_view``, ``binary_view``) are read as model columns first: pyarrow has no
    ``take`` for them, so picking rows of the raw frame failed (training diagnostics)."""
    views = [name for name in df.columns if _is_view(df[name].dtype)]
    if views:
        df = df.copy(deep=False)
        for name in views:
            df[name] = model_series(df[name])
    return model_frame(df.iloc[positions])


def _is_view(dtype) -> bool:
    if not isinstance(dtype, pd.ArrowDtype):
        return False
    import pyarrow as pa

    arrow = dtype.pyarrow_dtype
    return pa.types.is_string_view(arrow) or pa.types.is_binary_view(arrow)


def model_series(series: pd.Series, recorded: str | None = None) -> pd.Series:
    """One column in a NumPy-backed dtype, missing cells as NaN / NaT (None in text).

    ``recorded``: the dtype name a schema keeps for the column, where known. Durations held
    as objects or text become nanoseconds unless it is another name: a column recorded as
    plain ``"object"`` (a DP fit's public schema, which reads no value, or a declaration)
    stays the text or objects it holds, a category like any other."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return series
    if isinstance(dtype, (pd.ArrowDtype, pd.StringDtype)) or str(dtype) in _MASKED_NUMPY:
        return _via_arrow(series)
    if dtype == object:
        return _object_series(series, recorded is None or is_duration_name(recorded),
                              recorded is None or recorded in (DATETIME, TIMESTAMP))
    if isinstance(dtype, pd.PeriodDtype):  # months, quarters...: datetimes of their starts
        return series.dt.to_timestamp()
    if dtype.kind == "m":  # durations are numbers: nanoseconds, NaN for NaT
        return pd.Series(series.to_numpy(dtype="timedelta64[ns]").astype(np.int64)
                         .astype(np.float64), index=series.index, name=series.name
                         ).where(series.notna().to_numpy(), np.nan)
    return series


def _object_series(series: pd.Series, durations: bool = True,
                   datetimes: bool = True) -> pd.Series:
    """Decimals as float64, durations (``datetime.timedelta`` objects, or text as pandas
    writes them) as float64 nanoseconds, datetime objects as ``datetime64[us]``; ``pd.NA``,
    ``None`` and ``NaT`` cells as NaN. Copies only when something changes (most text
    columns pass through untouched)."""
    missing = series.isna().to_numpy()
    if _holds_decimals(series, missing):  # exact decimals are numbers to the model
        return pd.to_numeric(series.where(~missing, np.nan)).astype(np.float64)
    if durations and (_holds_timedeltas(series, missing)
                      or _holds_timedelta_text(series, missing)):
        return _nanoseconds(series, missing)
    if datetimes and _holds_datetimes(series, missing):
        return _instants(series, missing)
    if pd.api.types.infer_dtype(series.to_numpy()[missing], skipna=False) in ("empty",
                                                                               "floating"):
        return series  # no missing cell, or only NaN
    return series.where(~missing, np.nan)


def _nanoseconds(series: pd.Series, missing: np.ndarray) -> pd.Series:
    """Durations (timedelta objects or their text) as float64 nanoseconds, NaN where
    missing, as a ``timedelta64`` column is read."""
    spans = pd.to_timedelta(series.where(~missing, None)).to_numpy(dtype="timedelta64[ns]")
    return pd.Series(np.where(missing, np.nan, spans.astype(np.int64).astype(np.float64)),
                     index=series.index, name=series.name)


def _instants(series: pd.Series, missing: np.ndarray) -> pd.Series:
    """Datetime objects as ``datetime64[us]`` (Python's resolution: years 1 to 9999), NaT
    where missing. Zoned values keep their zone when they share one; values of several
    zones (``Europe/Paris`` and ``America/New_York``) become UTC, the one zone every
    instant has. Text would need one format for all values, which objects with and without
    microseconds do not share."""
    values = series.where(~missing, None)
    present = values.to_numpy()[~missing]
    if present[0].tzinfo is None:
        return values.astype("datetime64[us]")
    try:  # pandas' own conversion, in nanoseconds: years 1677 to 2262
        stamps = pd.to_datetime(values, utc=True).dt.as_unit("us")
    except (pd.errors.OutOfBoundsDatetime, OverflowError):
        ticks = np.full(len(series), np.datetime64("NaT"), dtype="datetime64[us]")
        ticks[~missing] = [value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
                           for value in present]
        stamps = pd.Series(ticks, index=series.index, name=series.name).dt.tz_localize("UTC")
    zones = {zone_name(zone) for zone in {value.tzinfo for value in present}}
    return stamps.dt.tz_convert(zones.pop()) if len(zones) == 1 else stamps


def _via_arrow(series: pd.Series) -> pd.Series:
    import pyarrow as pa

    array = pa.array(series, from_pandas=True)
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    values = array.to_pandas(date_as_object=False)
    if values.dtype.kind == "m":  # Arrow keeps its unit (us, ms, s); durations read ns
        values = values.astype("timedelta64[ns]")  # (datetimes keep it: years past 2262)
    out = pd.Series(values.array, index=series.index, name=series.name)
    return model_series(out) if out.dtype == object or out.dtype.kind == "m" else out


# ---------------------------------------------------------------------------- out


def model_dtype(name: str | None) -> str:
    """The NumPy-backed dtype a column recorded as ``name`` has before :func:`restore_frame`.

    Integer and boolean columns become float64 and object where they hold missing values;
    the column transformers decide that, this gives the dtype without missing values.
    ``None`` (a hand-made spec that names no dtype) is ``object``; an Arrow dictionary is
    ``category``.
    """
    if name is None:
        return "object"
    if name in _MASKED_NUMPY:
        return _MASKED_NUMPY[name]
    if name in (DECIMAL, TIMEDELTA, TIMEDELTA_TEXT) or _ARROW_DECIMAL.match(name):
        return "float64"  # numbers, durations in nanoseconds
    if name == DATE:
        return "object"  # the dates' ISO text, as a text column of dates
    if name in (DATETIME, TIMESTAMP):
        return "datetime64[us]"  # zoned ones keep their zone (the timezone of the schema)
    if _ARROW_DICTIONARY.match(name):
        return "category"
    dtype = _pandas_dtype(name)
    if getattr(dtype, "kind", None) == "m":
        return "float64"  # nanoseconds
    if isinstance(dtype, pd.PeriodDtype):
        return "datetime64[ns]"  # the periods' start times, as model_series reads them
    if isinstance(dtype, pd.StringDtype):
        return "object"
    if isinstance(dtype, pd.ArrowDtype):
        return _arrow_model_dtype(dtype)
    return name


def _arrow_model_dtype(dtype: pd.ArrowDtype) -> str:
    import pyarrow as pa

    arrow = dtype.pyarrow_dtype
    if pa.types.is_integer(arrow) or pa.types.is_floating(arrow) or pa.types.is_boolean(arrow):
        return np.dtype(arrow.to_pandas_dtype()).name
    if pa.types.is_timestamp(arrow):  # in its unit: timestamp[ms] holds years past 2262
        return f"datetime64[{arrow.unit}, {arrow.tz}]" if arrow.tz else \
            f"datetime64[{arrow.unit}]"
    if pa.types.is_date(arrow):
        return "datetime64[ns]"
    if pa.types.is_duration(arrow):
        return "float64"
    return "object"


def _pandas_dtype(name: str):
    try:
        return pd.api.types.pandas_dtype(name)
    except (TypeError, ValueError, NotImplementedError):
        return _arrow_dtype(name)


def _arrow_dtype(name: str) -> pd.ArrowDtype | None:
    """The Arrow dtypes whose names pandas does not read back (it takes no parameters in a
    name, and knows no extension type): ``fixed_size_binary[4][pyarrow]`` and the ``uuid``
    extension. Without this a sample gave such a column to ``astype`` as text and failed."""
    import pyarrow as pa

    found = _ARROW_FIXED_BINARY.match(name)
    if found:
        return pd.ArrowDtype(pa.binary(int(found.group(1))))
    if name == ARROW_UUID and hasattr(pa, "uuid"):
        return pd.ArrowDtype(pa.uuid())
    return None


def fixed_binary_size(name: str | None) -> int | None:
    """The width in bytes of a recorded ``fixed_size_binary`` dtype; None for any other."""
    found = _ARROW_FIXED_BINARY.match(name) if isinstance(name, str) else None
    return int(found.group(1)) if found else None


def restore_frame(frame: pd.DataFrame, schema) -> pd.DataFrame:
    """Generated rows (model dtypes) with each column in the dtype its schema entry records.

    A column whose recorded dtype cannot be rebuilt from its name (an Arrow dictionary
    type) keeps its model dtype (``category``); docs/schema.md lists these.
    """
    columns = {spec.name: restore_series(frame[spec.name], spec.dtype, spec.integer)
               for spec in schema.columns}
    return pd.DataFrame(columns, index=frame.index)


def restore_series(series: pd.Series, name: str, integer: bool = False) -> pd.Series:
    if str(series.dtype) == name or dtype_name(series.dtype) == name:
        return series
    if name == "object" and integer and series.dtype.kind == "f":  # Python ints, as given
        return _python_integers(series)
    if name == DECIMAL or _ARROW_DECIMAL.match(name):
        return _decimals(series, name)
    if name in _PYTHON_VALUES:
        return _PYTHON_VALUES[name](series)
    if name == ARROW_UUID and series.dtype == object:
        return _uuids(series)
    dtype = _pandas_dtype(name)
    if dtype is None or isinstance(series.dtype, pd.CategoricalDtype):
        return series
    if _is_duration(dtype) and series.dtype.kind == "f":  # nanoseconds -> durations
        series = pd.Series(pd.to_timedelta(series.to_numpy(), unit="ns"), index=series.index,
                           name=series.name)
    if _is_binary(dtype) and series.dtype == object:  # text (dates) as the bytes it was read
        series = series.map(lambda v: v.encode("utf-8") if isinstance(v, str) else v)
    try:
        return series.astype(dtype)
    except (TypeError, ValueError, OverflowError, ArithmeticError):
        return series
    except Exception as exc:  # pyarrow's ArrowInvalid and friends
        if type(exc).__module__.startswith("pyarrow"):
            return series
        raise


def _python_integers(series: pd.Series) -> pd.Series:
    """Whole float values as Python ints in an object column, None where missing."""
    present = series.notna().to_numpy()
    values = np.full(len(series), None, dtype=object)
    values[present] = series.to_numpy()[present].astype(np.int64).tolist()
    return pd.Series(values, index=series.index, name=series.name)


def _decimals(series: pd.Series, name: str) -> pd.Series:
    """Float values (already rounded to the column's decimals) as decimal.Decimal objects,
    in an Arrow decimal column when ``name`` is one."""
    present = series.notna().to_numpy()
    values = np.full(len(series), None, dtype=object)
    values[present] = [decimal.Decimal(repr(float(v))) for v in series.to_numpy()[present]]
    out = pd.Series(values, index=series.index, name=series.name)
    found = _ARROW_DECIMAL.match(name)
    if found is None:
        return out
    import pyarrow as pa

    width, precision, scale = found.group(1), int(found.group(2)), int(found.group(3))
    exponent = decimal.Decimal(1).scaleb(-scale)
    values[present] = [v.quantize(exponent) for v in values[present]]
    kind = pa.decimal256 if width == "256" else pa.decimal128  # 256: precisions up to 76
    return pd.Series(pd.arrays.ArrowExtensionArray(pa.array(values, kind(precision, scale))),
                     index=series.index, name=series.name)


def _uuids(series: pd.Series) -> pd.Series:
    """Generated values of an Arrow ``uuid`` column as ``uuid.UUID`` objects, which Arrow
    writes as its ``uuid`` type and CSV as their text: categories (UUIDs, or their text from
    a saved model) as themselves; other text (a regenerated identifier, unique per row) as
    the name-based UUID of that text, so the column stays unique and new (it came back as
    text of random letters)."""
    present = series.notna().to_numpy()
    values = np.full(len(series), None, dtype=object)
    values[present] = [_uuid(value) for value in series.to_numpy()[present]]
    return pd.Series(values, index=series.index, name=series.name, dtype=object)


def _uuid(value) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    text = value.decode("utf-8") if isinstance(value, bytes) else str(value)
    try:
        return uuid.UUID(text)
    except ValueError:
        return uuid.uuid5(_UUID_NAMESPACE, text)


def _timedelta_values(series: pd.Series) -> pd.Series:
    """Nanoseconds (or durations) as ``datetime.timedelta`` objects, None where missing;
    any other column (declared another kind) as it is."""
    spans = _spans(series)
    if spans is None:
        return series
    return _objects(series, spans.to_pytimedelta())


def _timedelta_text(series: pd.Series) -> pd.Series:
    """Nanoseconds (or durations) as the text pandas writes for them ("0 days 00:01:02",
    "1 days 02:03:04.500000"), None where missing; text (a category) as it is."""
    spans = _spans(series)
    if spans is None:
        return series
    return _objects(series, spans.astype(str).to_numpy(dtype=object))


def _spans(series: pd.Series) -> pd.TimedeltaIndex | None:
    if series.dtype.kind in "iuf":
        return pd.TimedeltaIndex(pd.to_timedelta(series.to_numpy(np.float64), unit="ns"))
    if series.dtype.kind == "m":
        return pd.TimedeltaIndex(series)
    return None


def _date_values(series: pd.Series) -> pd.Series:
    """Dates (their ISO text, or datetimes at midnight) as ``datetime.date`` objects, None
    where missing; a column of other values is left as it is."""
    present = series.notna().to_numpy()
    if series.dtype.kind == "M" and series.dt.tz is None:
        stamps = pd.DatetimeIndex(series)
    elif series.dtype == object and holds(series, (str, datetime.date), ~present):
        stamps = pd.DatetimeIndex(pd.to_datetime(series.where(present, None), errors="coerce",
                                                 format="ISO8601"))
    else:
        return series
    if (stamps.isna() & present).any() or (stamps[present] != stamps[present].normalize()).any():
        return series  # not all dates: nothing is changed (or lost)
    return _objects(series, stamps.date)


def _datetime_values(series: pd.Series) -> pd.Series:
    """Datetimes as ``datetime.datetime`` objects (in the column's time zone, if it has
    one), None where missing; a column of other values is left as it is."""
    if series.dtype.kind != "M":
        return series
    if _zoned_beyond_nanoseconds(series):
        return _objects(series, _zoned_objects(series))
    return _objects(series, pd.DatetimeIndex(series).to_pydatetime())


def _timestamp_values(series: pd.Series) -> pd.Series:
    """Datetimes as ``pd.Timestamp`` objects, None where missing (see above)."""
    if series.dtype.kind != "M":
        return series
    if _zoned_beyond_nanoseconds(series):
        return _objects(series, [None if d is None else pd.Timestamp(d)
                                 for d in _zoned_objects(series)])
    return _objects(series, pd.DatetimeIndex(series).astype(object))


def _zoned_objects(series: pd.Series) -> list:
    """A zoned column's instants as ``datetime.datetime`` objects in its zone, by way of
    NumPy's naive UTC objects (pandas' own conversion is what crashes), None where
    missing."""
    zone = series.dtype.tz
    utc = series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype(object)
    return [None if d is None else d.replace(tzinfo=datetime.timezone.utc).astimezone(zone)
            for d in utc]


def _zoned_beyond_nanoseconds(series: pd.Series) -> bool:
    """A zoned column with an instant outside what nanoseconds hold (1677-2262): pandas'
    vectorised conversion to objects crashes the interpreter on it (pandas 2.3, a segfault),
    so its values are converted one at a time."""
    if getattr(series.dtype, "tz", None) is None or not series.notna().any():
        return False
    low, high = series.min(), series.max()
    return low < pd.Timestamp.min.tz_localize("UTC") or high > pd.Timestamp.max.tz_localize(
        "UTC")


def _objects(series: pd.Series, values: np.ndarray) -> pd.Series:
    """``values`` in an object column like ``series``, None where ``series`` is missing."""
    out = np.asarray(values, dtype=object).copy()
    out[series.isna().to_numpy()] = None
    return pd.Series(out, index=series.index, name=series.name, dtype=object)


# Dtype names of object columns of Python values -> how generated values become them.
_PYTHON_VALUES = {DATE: _date_values, DATETIME: _datetime_values, TIMESTAMP: _timestamp_values,
                  TIMEDELTA: _timedelta_values, TIMEDELTA_TEXT: _timedelta_text}


def is_date_name(name: str | None) -> bool:
    """Whether a recorded dtype holds whole days: ``"date"`` or an Arrow ``date32/64``."""
    if name == DATE:
        return True
    dtype = _pandas_dtype(name) if isinstance(name, str) else None
    if isinstance(dtype, pd.ArrowDtype):
        import pyarrow as pa

        return pa.types.is_date(dtype.pyarrow_dtype)
    return False


def is_datetime_name(name: str | None) -> bool:
    """Whether a recorded dtype holds datetimes: ``datetime64`` (zoned or not), periods,
    Arrow ``timestamp`` and ``date32/64``, and objects of dates, datetimes or Timestamps."""
    return is_date_name(name) or model_dtype(name).startswith("datetime64")


def period_frequency(name: str | None):
    """The frequency (a pandas offset: ``MonthEnd``) of a recorded period dtype
    (``"period[M]"``); None for any other dtype."""
    dtype = _pandas_dtype(name) if isinstance(name, str) else None
    return dtype.freq if isinstance(dtype, pd.PeriodDtype) else None


def is_duration_name(name: str | None) -> bool:
    """Whether a recorded dtype is a duration (``timedelta64``, Arrow ``duration``): the
    model reads such a column as nanoseconds. Durations held as Python objects or as text
    (``"timedelta"``, ``"text[timedelta]"``) are too."""
    if name in (TIMEDELTA, TIMEDELTA_TEXT):
        return True
    dtype = _pandas_dtype(name) if isinstance(name, str) else None
    return dtype is not None and _is_duration(dtype)


def _is_binary(dtype) -> bool:
    """An Arrow binary dtype: pandas turns no text into ``fixed_size_binary``."""
    if not isinstance(dtype, pd.ArrowDtype):
        return False
    import pyarrow as pa

    arrow = dtype.pyarrow_dtype
    return pa.types.is_binary(arrow) or pa.types.is_fixed_size_binary(arrow) \
        or pa.types.is_large_binary(arrow)


def _is_duration(dtype) -> bool:
    if isinstance(dtype, pd.ArrowDtype):
        import pyarrow as pa

        return pa.types.is_duration(dtype.pyarrow_dtype)
    return getattr(dtype, "kind", None) == "m"


ARROW_SCHEMA_KEY = "synthvae.arrow_schema"  # DataFrame.attrs key: an empty frame's schema


def declare_arrow_schema(empty: pd.DataFrame, schema) -> pd.DataFrame:
    """``empty`` (no rows) carrying the Arrow ``schema`` a sample's rows get, for
    :func:`with_declared_types`: Arrow reads no type from no values, so an empty text column
    would otherwise be written as the null type. Kept in ``DataFrame.attrs`` as base64 text
    (pandas writes attrs to Parquet as JSON)."""
    import base64

    empty.attrs[ARROW_SCHEMA_KEY] = base64.b64encode(schema.serialize().to_pybytes()
                                                     ).decode("ascii")
    return empty


def with_declared_types(table, frame: pd.DataFrame):
    """``table`` (Arrow, made from ``frame``); where ``frame`` has no rows and carries a
    declared schema (:func:`declare_arrow_schema`), each column Arrow read as null (no
    values: no type) takes its declared type, and the table the declared pandas metadata
    where the columns and types then agree; a column changed or added since keeps the type
    its dtype gives."""
    declared = frame.attrs.get(ARROW_SCHEMA_KEY) if len(frame) == 0 else None
    if not isinstance(declared, str):
        return table
    import base64

    import pyarrow as pa

    schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(declared)))
    by_name = {field.name: field for field in schema}
    fields = [by_name.get(found.name, found) if pa.types.is_null(found.type) else found
              for found in table.schema]
    agrees = pa.schema(fields).equals(schema)  # metadata aside
    return table.cast(pa.schema(fields, schema.metadata if agrees else table.schema.metadata))


def to_output(frame: pd.DataFrame, output: str):
    """``frame`` as the kind asked: "pandas" (itself), "arrow" (a Table) or "polars"."""
    if output == "pandas":
        return frame
    if output not in OUTPUTS:
        raise ConfigError(f"The 'output' parameter must be one of {OUTPUTS}. Got {output!r} "
                          f"instead.")
    import pyarrow as pa

    table = with_declared_types(pa.Table.from_pandas(frame, preserve_index=False), frame)
    if output == "arrow":
        return table
    try:
        import polars as pl
    except ImportError:
        raise ConfigError("output='polars' needs Polars: pip install 'synthvae[polars]'.") \
            from None
    return _with_enums(pl.from_arrow(table), frame)


def _with_enums(out, frame: pd.DataFrame):
    """Ordered text categories as Polars ``Enum`` s of their categories (what a Polars
    ``Enum`` is read as: an ordered category): ``pl.from_arrow`` makes every dictionary a
    ``Categorical``, which dropped the order and the unused categories."""
    import polars as pl

    enums = {name: pl.Enum(list(dtype.categories)) for name, dtype in frame.dtypes.items()
             if isinstance(dtype, pd.CategoricalDtype) and dtype.ordered
             and all(isinstance(value, str) for value in dtype.categories)}
    return out.with_columns(pl.col(name).cast(enum) for name, enum in enums.items()) \
        if enums else out

"""The synthetic and holdout tables in the real table's column types, before any comparison.

Tables read separately drift apart in type: a synthetic CSV of a Parquet table holds numbers
and dates as text, a column of ints and strings is mixed objects in one table and text in the
other. Each real column has a *form* (numbers, booleans, datetimes, text, or mixed values);
the other tables' values are converted to it where they allow it (the text "3.5" is the number
3.5), else a :class:`DataError` names the table, the column, the form expected and values
found. A real column of mixed values (ints and strings) is text in every table, so sdmetrics'
encoders, which take one type per column, can read it. Infinite numbers are refused in every
table, as the schema refuses them in the real one (JSON has no infinity).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from synthvae.errors import DataError
from synthvae.schema import Schema

_NUMBER_TYPES = ("integer", "floating", "mixed-integer-float", "decimal")
_MIXED_TYPES = ("mixed", "mixed-integer")
_TRUE, _FALSE = ("true", "1", "1.0", "yes"), ("false", "0", "0.0", "no")
EXAMPLES = 3  # offending values quoted in an error
# (real form, other form) pairs the report already compares as they are: durations are
# nanoseconds, and dates the real table holds as text are parsed with the schema's format
_COMPATIBLE = {("duration", "number"), ("text", "datetime")}


def conform_tables(frames: dict[str, pd.DataFrame], schema: Schema) -> dict[str, pd.DataFrame]:
    """``frames`` ("real" and others, same columns, model dtypes) with the others' columns
    in the real columns' forms; every table checked for infinite numbers."""
    real = frames["real"]
    forms = {spec.name: "duration" if _is_duration(spec.dtype) else column_form(real[spec.name])
             for spec in schema.columns if not _alike(frames, spec.name)}
    out = {}
    for table, frame in frames.items():
        columns = {name: conform_column(frame[name], forms[name], real[name], table)
                   for name in frame.columns if name in forms}
        out[table] = frame.assign(**columns) if columns else frame
        check_finite(out[table], table)
    return out


def _alike(frames: dict[str, pd.DataFrame], name: str) -> bool:
    """The column has one dtype in every table, and not ``object`` (which may hold mixed
    values): nothing to convert, and no values to look at."""
    dtypes = {frame[name].dtype for frame in frames.values() if name in frame}
    return len(dtypes) == 1 and next(iter(dtypes)) != object


def _is_duration(dtype: str | None) -> bool:
    """Durations are numbers (nanoseconds) to the model; a CSV writes them as "1 days 02:00"."""
    return dtype is not None and dtype.startswith(("timedelta", "duration"))


def column_form(series: pd.Series) -> str | None:
    """"number", "bool", "datetime", "text", "mixed", or None (no values, or another type:
    such a column is compared as it is)."""
    values = series.dropna()
    if not len(values):
        return None
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    if pd.api.types.is_bool_dtype(values.dtype):
        return "bool"
    if pd.api.types.is_numeric_dtype(values.dtype):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return "datetime"
    inferred = pd.api.types.infer_dtype(values, skipna=True)
    if inferred in _NUMBER_TYPES:
        return "number"
    if inferred in _MIXED_TYPES:
        return "mixed"
    return {"string": "text", "boolean": "bool"}.get(inferred)


def conform_column(series: pd.Series, form: str | None, real: pd.Series,
                   table: str) -> pd.Series:
    """``series`` in ``form`` (the real column's, see :func:`column_form`), then in the real
    column's dtype where that changes no value."""
    if form == "mixed":
        return as_text(series)
    if table == "real":
        return series
    if not series.notna().any():
        return _empty_like(series, real)
    if form is None:
        return series
    found = column_form(series)
    if found not in (None, form) and (form, found) not in _COMPATIBLE:
        series = _CONVERT[form](series, real, table)
    return in_real_dtype(series, real)


def in_real_dtype(series: pd.Series, real: pd.Series) -> pd.Series:
    """``series`` in the real column's dtype where no value changes by it (a CSV reads int8
    as int64, float32 as float64, categories as text, datetimes in another unit or time zone;
    a synthesizer returns text as categories, flags as objects); else as it is. sdmetrics
    reads the dtype itself (Data Structure compares dtypes, the detection encoders and pair
    metrics treat a category column apart), so the same values must score the same."""
    if series.dtype == real.dtype:
        return series
    if pd.api.types.is_datetime64_any_dtype(real.dtype):
        series = _same_zone(series, real)
    elif real.dtype == object:
        categorical = isinstance(series.dtype, pd.CategoricalDtype)
        return series.astype(object) if categorical else series
    elif real.dtype.kind not in "iufb" and not isinstance(real.dtype, pd.CategoricalDtype):
        return series
    try:
        cast = series.astype(real.dtype)
    except (TypeError, ValueError, OverflowError):
        return series
    return cast if _keeps_values(series, cast) else series


def _keeps_values(series: pd.Series, cast: pd.Series) -> bool:
    if cast.dtype.kind == "f":  # only digits beyond the real column's own precision go,
        finite = np.isfinite(cast.to_numpy(np.float64))  # unless a value overflows float32
        return finite.sum() == np.isfinite(series.to_numpy(np.float64)).sum()
    if isinstance(cast.dtype, pd.CategoricalDtype):  # a value outside the categories is lost
        return int(cast.isna().sum()) == int(series.isna().sum())
    if cast.dtype.kind == "M":  # another unit: sub-unit digits or out-of-range dates are lost
        return bool(cast.isna().equals(series.isna()) and (cast == series)[series.notna()].all())
    if cast.dtype.kind == "b":  # a missing cell would become True
        return not series.isna().any() and np.array_equal(cast.to_numpy(object),
                                                           series.to_numpy(object))
    return np.array_equal(cast.to_numpy(np.float64), series.to_numpy(np.float64))  # ints


def _empty_like(series: pd.Series, real: pd.Series) -> pd.Series:
    """A column without a value (a synthesizer that produced none) in the real column's dtype
    where that dtype holds missing cells (float64 for ints, objects for flags): read as
    float64 NaN, an empty text column would reach the encoders as numbers."""
    dtype = real.dtype
    if dtype.kind in "iu":
        dtype = np.dtype(np.float64)
    elif dtype.kind == "b":
        dtype = np.dtype(object)
    if series.dtype == dtype:
        return series
    empty = pd.Series(np.nan, index=series.index, name=series.name, dtype=object)
    try:
        return empty.astype(dtype)
    except (TypeError, ValueError):
        return series


def as_text(series: pd.Series) -> pd.Series:
    """Values as text, missing values kept as NaN. Whole numbers of a number column lose
    their ".0" (3.0 -> "3", as a CSV writes an int column); other values as ``str`` gives."""
    missing = series.isna().to_numpy()
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
            series.dtype):
        text = _number_text(series.to_numpy(np.float64, na_value=np.nan))
    else:
        text = series.astype(object).to_numpy().astype(str)
    out = text.astype(object)
    out[missing] = np.nan
    return pd.Series(out, index=series.index, name=series.name)


def _number_text(numbers: np.ndarray) -> np.ndarray:
    text = numbers.astype(str)
    whole = np.isfinite(numbers) & (numbers == np.round(numbers)) & (np.abs(numbers) < 2 ** 53)
    text[whole] = numbers[whole].astype(np.int64).astype(str)
    return text


def _as_numbers(series: pd.Series, real: pd.Series, table: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_datetime64_any_dtype(
            series.dtype):
        raise _mismatch(series, series.notna().to_numpy(), "numbers", real, table)
    numbers = pd.to_numeric(series, errors="coerce")
    _check_converted(series, numbers, "numbers", real, table)
    return numbers.astype(np.float64)


def _as_nanoseconds(series: pd.Series, real: pd.Series, table: str) -> pd.Series:
    """Durations as float nanoseconds, as :func:`synthvae.frames.model_series` reads them."""
    if pd.api.types.is_timedelta64_dtype(series.dtype):
        spans = series
    else:
        spans = pd.to_timedelta(series.astype(object), errors="coerce")
        _check_converted(series, spans, "durations", real, table)
    nanoseconds = spans.to_numpy("timedelta64[ns]").astype(np.int64).astype(np.float64)
    return pd.Series(np.where(spans.isna(), np.nan, nanoseconds), index=series.index,
                     name=series.name)


def _as_bools(series: pd.Series, real: pd.Series, table: str) -> pd.Series:
    text = series.astype(object).map(str).str.strip().str.lower()
    flags = pd.Series(np.where(text.isin(_TRUE), True, np.where(text.isin(_FALSE), False, None)),
                      index=series.index, name=series.name, dtype=object)
    flags[series.isna().to_numpy()] = np.nan
    _check_converted(series, flags, "booleans (True / False)", real, table)
    return flags.astype(bool) if flags.notna().all() else flags


def _as_datetimes(series: pd.Series, real: pd.Series, table: str) -> pd.Series:
    if pd.api.types.is_numeric_dtype(series.dtype):
        raise _mismatch(series, series.notna().to_numpy(), "dates and times", real, table)
    text = series.astype(object)
    stamps = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
    retry = stamps.isna() & text.notna()
    if retry.any():  # other layouts ("03/01/2021"), parsed value by value
        stamps[retry] = pd.to_datetime(text[retry], errors="coerce", utc=True, format="mixed")
    _check_converted(series, stamps, "dates and times", real, table)
    return _same_zone(stamps, real)


def _same_zone(stamps: pd.Series, real: pd.Series) -> pd.Series:
    """Datetimes in the real column's time zone. Naive values count as UTC, as the report's
    encodings count them (no daylight-saving gap or repeat to resolve); naive UTC where the
    real values are naive."""
    zone = getattr(real.dtype, "tz", None)
    if not pd.api.types.is_datetime64_any_dtype(stamps.dtype):
        return stamps
    if getattr(stamps.dtype, "tz", None) is None:
        return stamps if zone is None else stamps.dt.tz_localize("UTC").dt.tz_convert(zone)
    converted = stamps.dt.tz_convert(zone if zone is not None else "UTC")
    return converted if zone is not None else converted.dt.tz_localize(None)


def _check_converted(series: pd.Series, converted: pd.Series, expected: str,
                     real: pd.Series, table: str) -> None:
    failed = series.notna().to_numpy() & converted.isna().to_numpy()
    if failed.any():
        raise _mismatch(series, failed, expected, real, table)


def _mismatch(series: pd.Series, failed: np.ndarray, expected: str, real: pd.Series,
              table: str) -> DataError:
    found = list(dict.fromkeys(series[failed].astype(str)))[:EXAMPLES]
    return DataError(f"Column {series.name!r} of the {table} table holds {found} ({series.dtype});"
                     f" expected {expected} like the real column ({real.dtype}). Write the "
                     f"{table} table with the real table's column types.")


_CONVERT = {"number": _as_numbers, "duration": _as_nanoseconds, "bool": _as_bools,
            "datetime": _as_datetimes, "text": lambda series, real, table: as_text(series)}


def check_finite(frame: pd.DataFrame, table: str) -> None:
    """Refuse +/-inf in a number column (JSON has no infinity; the schema refuses real inf)."""
    for name in frame.columns:
        values = frame[name]
        if pd.api.types.is_float_dtype(values.dtype) and np.isinf(values.to_numpy()).any():
            found = values[np.isinf(values.to_numpy())].iloc[0]
            raise DataError(f"Column {name!r} of the {table} table holds an infinite value "
                            f"({found}); expected finite numbers or empty cells. Replace +/-inf "
                            f"before scoring.")

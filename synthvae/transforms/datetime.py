"""Datetimes: to seconds since the epoch, mode-specific normalized, and back.

Text columns keep their strftime format; ``datetime64`` columns keep their time zone; an
Arrow ``date32``/``date64`` column is rounded to whole days. A number column declared
datetime (``20190904`` with ``dtype: int64``) is read as the text of its digits in
``datetime_format`` (default ``%Y%m%d``) and written back as numbers of its dtype. Text
with UTC offsets (a format ending ``%z``) is read as instants and written back in the
column's time zone with ``+01:00`` offsets. The inverse rounds to the coarsest unit the
training values used (days, hours, minutes, seconds).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from synthvae.errors import ConfigError, DataError, SchemaError
from synthvae.frames import as_instant, is_date_name, model_dtype
from synthvae.schema import OFFSET
from synthvae.transforms.continuous import OnResolutionGrid

RESOLUTIONS = (86_400, 3_600, 60, 1)
NUMBER_DATE_FORMAT = "%Y%m%d"  # dates written as numbers: 20190904


class DatetimeTransformer(OnResolutionGrid):
    """Datetime column <-> the continuous layout, through seconds since 1970-01-01."""

    log_scalable = False  # seconds since 1970 are not a heavy-tailed quantity
    value_noun = "a datetime"

    def fit(self, series: pd.Series, seed: int = 0, mixture: tuple | None = None):
        super().fit(series, seed=seed, mixture=mixture)
        seconds = self.unit_numbers(series)
        seconds = seconds[~np.isnan(seconds)]
        wall = seconds + self._utc_offsets(seconds)  # local midnights of a zoned column
        self.resolution_ = next((r for r in RESOLUTIONS if np.all(wall % r == 0)), 0)
        return self

    def fit_from_spec(self):
        self._check_number_format()
        super().fit_from_spec()
        fmt = self.spec.datetime_format
        self.resolution_ = RESOLUTIONS[0] if is_date_name(self.spec.dtype) \
            else 1 if fmt and "%f" not in fmt else 0
        return self

    def unit_numbers(self, series: pd.Series) -> np.ndarray:
        """Seconds since 1970-01-01 UTC (NaN for missing)."""
        self._check_number_format()
        stamps = self._parse(series)
        if stamps.dt.tz is not None:
            stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
        ticks = stamps.to_numpy()  # in the column's own unit: datetime64[s] holds 9999-12-31
        if ticks.dtype.kind != "M":
            ticks = stamps.to_numpy(dtype="datetime64[ns]")
        seconds = ticks.view(np.int64) / _ticks_per_second(np.datetime_data(ticks.dtype)[0])
        return np.where(stamps.isna().to_numpy(), np.nan, seconds)

    @property
    def _stored_as_number(self) -> bool:
        return model_dtype(self.spec.dtype).startswith(("int", "uint", "float"))

    @property
    def _format(self) -> str | None:
        if self._stored_as_number:
            return self.spec.datetime_format or NUMBER_DATE_FORMAT
        return self.spec.datetime_format

    def _check_number_format(self) -> None:
        """A number column can only hold dates whose text is all digits."""
        if self._stored_as_number and not pd.Timestamp("2001-02-03 04:05:06.789").strftime(
                self._format).isdigit():
            raise SchemaError(f"Column {self.spec.name!r} is declared datetime with dtype "
                              f"{self.spec.dtype!r}, but its format {self._format!r} writes "
                              f"text that is not a number; use a format of digits only "
                              f"(e.g. '%Y%m%d') or dtype 'object'.")

    def _parse(self, series: pd.Series) -> pd.Series:
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            return series
        fmt = self._format
        if fmt is None:  # a datetime column handed over as objects (Timestamps and None)
            parsed = pd.to_datetime(series, errors="coerce",
                                    utc=self.spec.timezone is not None)
            self._check_parsed(series, parsed, "a datetime")
            return parsed
        # Parse each distinct value once: timestamps repeat (flights: 6,910 in 336,776 rows).
        if pd.api.types.is_numeric_dtype(series.dtype):  # 20190904 -> "20190904"
            codes, numbers = pd.factorize(series.to_numpy(dtype=np.float64, na_value=np.nan))
            uniques = np.char.mod("%d", numbers).astype(object)  # distinct values only
        else:  # text, or objects whose text is in the format (datetime.time: 13:05:59)
            codes, uniques = pd.factorize(series)
            uniques = [u if isinstance(u, str) else str(u) for u in uniques]  # distinct only
        parsed_uniques = parse_text(pd.Series(list(uniques) or [None], dtype=object),
                                    fmt).to_numpy()
        parsed = pd.Series(np.where(codes >= 0, parsed_uniques[np.maximum(codes, 0)],
                                    np.datetime64("NaT")), index=series.index,
                           dtype="datetime64[ns]")
        self._check_parsed(series, parsed, f"a datetime in format {fmt!r}")
        return parsed

    def _check_parsed(self, series: pd.Series, parsed: pd.Series, what: str) -> None:
        bad = series.notna() & parsed.isna()
        if bad.any():
            raise DataError(f"Column {self.spec.name!r} is {what}, but "
                            f"{series[bad].iloc[0]!r} does not match it.")

    def from_numbers(self, seconds: np.ndarray) -> pd.Series:
        missing = np.isnan(seconds)
        if self.resolution_:  # on the column's wall clock: a zoned column's days stay days
            offsets = self._utc_offsets(np.where(missing, 0.0, seconds))
            wall = np.round((seconds + offsets) / self.resolution_) * self.resolution_
            seconds = self._wall_to_utc(np.where(missing, 0.0, wall), offsets)
        unit = self._unit
        ticks = np.where(missing, 0, np.round(seconds * _ticks_per_second(unit)))
        stamps = pd.Series(ticks.astype(np.int64).astype(f"datetime64[{unit}]"),
                           name=self.spec.name)
        stamps[missing] = pd.NaT
        if self._format:
            text = format_text(stamps, self._format, self.spec.timezone).astype(object)
            text[missing] = np.nan
            return self._as_numbers(text, missing) if self._stored_as_number else text
        if self.spec.timezone:
            stamps = stamps.dt.tz_localize("UTC").dt.tz_convert(self.spec.timezone)
        try:
            return stamps.astype(model_dtype(self.spec.dtype))
        except (TypeError, ValueError):
            return stamps

    def _wall_to_utc(self, wall: np.ndarray, offsets) -> np.ndarray:
        """The instants (seconds, UTC) of the column's wall-clock times ``wall`` rounded
        from instants whose UTC offsets were ``offsets``: with the offset where each lands
        (noon of a daylight-saving switch day rounded to its midnight crosses the switch).
        A wall time the switch skips (02:30 on a spring-forward night; midnight, in a zone
        that switches then) takes the offset before the switch, which moves its clock
        forward by the gap (02:30 becomes 03:30), on the same date."""
        guess = self._utc_offsets(wall - offsets)
        landed = wall - guess
        after = self._utc_offsets(landed)
        return np.where(landed + after == wall, landed, wall - np.minimum(guess, after))

    def _utc_offsets(self, seconds: np.ndarray) -> np.ndarray | float:
        """The column's time zone's UTC offset, in seconds, at each instant ``seconds``
        (0 without a zone). Resolutions are found and kept on the wall clock: local
        midnights across a daylight-saving switch are 22:00 or 23:00 UTC, and a zoned
        column of dates came back with random hours."""
        if not self.spec.timezone or not len(seconds):
            return 0.0
        unit = self._unit
        ticks = np.round(seconds * _ticks_per_second(unit)).astype(np.int64)
        utc = pd.Series(ticks.astype(f"datetime64[{unit}]"))
        wall = utc.dt.tz_localize("UTC").dt.tz_convert(self.spec.timezone).dt.tz_localize(None)
        return (wall - utc).dt.total_seconds().to_numpy()

    @property
    def _unit(self) -> str:
        """The column's own unit (``datetime64[s]`` and Arrow ``timestamp[ms]`` columns hold
        years past 2262 that nanoseconds cannot); nanoseconds for text and numbers."""
        found = re.match(r"(?:datetime64|timestamp)\[(s|ms|us|ns)\b",
                         model_dtype(self.spec.dtype or ""))
        return found.group(1) if found else "ns"

    def _as_numbers(self, text: pd.Series, missing: np.ndarray) -> pd.Series:
        numbers = pd.to_numeric(text).astype(np.float64)
        dtype = model_dtype(self.spec.dtype)
        return numbers if missing.any() and not dtype.startswith("float") \
            else numbers.astype(dtype)

    def unit_value(self, value) -> float:
        """A date or datetime (text or timestamp) as seconds since the epoch, UTC; NaN if
        none. A value without a time zone is read in the column's own time zone."""
        stamp = as_instant(value)
        if stamp is None:
            return math.nan
        if stamp.tz is None and self.spec.timezone:
            stamp = stamp.tz_localize(self.spec.timezone, ambiguous="NaT", nonexistent="NaT")
            if stamp is pd.NaT:
                raise ConfigError(f"Column {self.spec.name!r}: {value!s} happens twice or "
                                  f"not at all in its time zone {self.spec.timezone} (a "
                                  f"daylight-saving switch); give it with a UTC offset.")
        if stamp.tz is not None:
            stamp = stamp.tz_convert("UTC").tz_localize(None)
        return stamp.value / 1e9

    def show_value(self, number: float) -> str:
        return str(pd.Timestamp(number, unit="s")) if math.isfinite(number) else f"{number:g}"



def _ticks_per_second(unit: str) -> float:
    return float(np.timedelta64(1, "s") / np.timedelta64(1, unit))


def parse_text(text: pd.Series, fmt: str) -> pd.Series:
    """``text`` in strftime format ``fmt`` as naive datetimes, NaT where it does not match;
    text with UTC offsets (``%z``, which may differ from row to row) as naive UTC."""
    if OFFSET not in fmt:
        return pd.to_datetime(text, format=fmt, errors="coerce")
    return pd.to_datetime(text, format=fmt, errors="coerce", utc=True).dt.tz_localize(None)


def format_text(stamps: pd.Series, fmt: str, timezone: str | None) -> pd.Series:
    """Naive datetimes as text in ``fmt``; with ``%z``, first converted from UTC to
    ``timezone`` (UTC if None), the offset written ``+01:00`` as pandas' to_csv writes it."""
    if OFFSET not in fmt:
        return stamps.dt.strftime(fmt)
    zoned = stamps.dt.tz_localize("UTC").dt.tz_convert(timezone or "UTC")
    offsets = zoned.dt.strftime(OFFSET).str.replace(r"^([+-]\d{2})(\d{2})", r"\1:\2",
                                                     regex=True)
    pieces = fmt.split(OFFSET)
    text = zoned.dt.strftime(pieces[0])
    for piece in pieces[1:]:
        text = text + offsets + (zoned.dt.strftime(piece) if piece else "")
    return text

"""Table values that JSON has no type for, kept in model files as tagged objects.

A category column may hold values that are not text or numbers: ``pd.cut``'s intervals,
periods (months, quarters), dates and times from Parquet, decimals, UUIDs, bytes. A model file
stores its categories (and any value a constraint names) in its JSON state, so
:func:`encode` writes each such value as a small object ``{"__value__": kind, ...}`` and
:func:`decode` (a ``json.loads`` object hook) turns it back into the same value. Nothing is
evaluated: every kind is rebuilt by its own parser, and a malformed object is a
``ValueError`` (the loader's "invalid model file"). A value of any other type is
:class:`UnstorableValue`, so the caller can name the column that holds it.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import decimal
import uuid

import numpy as np
import pandas as pd

TAG = "__value__"


class UnstorableValue(TypeError):
    """A value of a type a model file cannot store; ``.value`` is the value."""

    def __init__(self, value):
        super().__init__(f"{type(value).__name__} is not JSON serializable")
        self.value = value


def encode(value):
    """The JSON form of ``value`` (a ``json.dumps`` default hook)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, pd.Interval):
        return {TAG: "interval", "left": value.left, "right": value.right,
                "closed": value.closed}
    if isinstance(value, pd.Period):  # monthly, quarterly, yearly, weekly categories
        return {TAG: "period", "ordinal": int(value.ordinal), "freq": value.freqstr}
    if isinstance(value, pd.Timestamp):
        return {TAG: "timestamp", "iso": value.isoformat(), "tz": _zone(value)}
    if isinstance(value, datetime.datetime):
        return {TAG: "datetime", "iso": value.isoformat()}
    if isinstance(value, datetime.date):
        return {TAG: "date", "iso": value.isoformat()}
    if isinstance(value, datetime.time):
        return {TAG: "time", "iso": value.isoformat()}
    if isinstance(value, pd.Timedelta):
        return {TAG: "timedelta", "ns": value.value}
    if isinstance(value, datetime.timedelta):
        return {TAG: "timedelta", "ns": int(pd.Timedelta(value).value)}
    if isinstance(value, decimal.Decimal):
        return {TAG: "decimal", "text": str(value)}
    if isinstance(value, uuid.UUID):
        return {TAG: "uuid", "text": str(value)}
    if isinstance(value, bytes):  # a Parquet binary column's categories come back as bytes
        return {TAG: "bytes", "base64": base64.b64encode(value).decode("ascii")}
    raise UnstorableValue(value)


def _zone(stamp: pd.Timestamp) -> str | None:
    """A zoned timestamp's zone by name ("Europe/Paris"), which its ISO text (an offset) loses."""
    return None if stamp.tz is None else str(stamp.tz)


def decode(obj: dict):
    """The value a tagged object stands for; any other object as it is."""
    if TAG not in obj:
        return obj
    kind = obj[TAG]
    parser = _PARSERS.get(kind) if isinstance(kind, str) else None
    if parser is None:
        raise ValueError(f"unknown stored value kind {kind!r}")
    try:
        value = parser(obj)
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise ValueError(f"invalid stored {kind} value {obj!r} ({exc})") from None
    if _missing(value):  # "NaT", a NaN decimal: a category is a value, never a missing one
        raise ValueError(f"invalid stored {kind} value {obj!r} (a missing value)")
    return value


def check_storable_keys(state) -> None:
    """Raise UnstorableKey where a dict of ``state`` has the tag as a key (a column named so):
    :func:`decode` would read it as a stored value."""
    if isinstance(state, dict):
        if TAG in state:
            raise UnstorableKey(TAG)
        for item in state.values():
            check_storable_keys(item)
    elif isinstance(state, (list, tuple)):
        for item in state:
            check_storable_keys(item)


class UnstorableKey(ValueError):
    """A dict key a model file reserves (:data:`TAG`)."""


def _missing(value) -> bool:
    if isinstance(value, decimal.Decimal):
        return value.is_nan()
    return value is pd.NaT or (isinstance(value, pd.Timestamp) and pd.isna(value))


def _timestamp(obj: dict) -> pd.Timestamp:
    """Strict ISO text (never "now" or "today"), in its named zone when it had one."""
    stamp = pd.Timestamp(datetime.datetime.fromisoformat(_text(obj, "iso")))
    zone = obj.get("tz")
    if zone is None:
        return stamp
    if not isinstance(zone, str):
        raise TypeError("tz is not text")
    return stamp.tz_convert(zone)


def _interval(obj: dict) -> pd.Interval:
    return pd.Interval(obj["left"], obj["right"], closed=obj["closed"])


def _text(obj: dict, key: str) -> str:
    if not isinstance(obj[key], str):
        raise TypeError(f"{key} is not text")
    return obj[key]


def _whole(obj: dict, key: str) -> int:
    if not isinstance(obj[key], int) or isinstance(obj[key], bool):
        raise TypeError(f"{key} is not a whole number")
    return obj[key]


def _bytes(obj: dict) -> bytes:
    try:
        return base64.b64decode(_text(obj, "base64"), validate=True)
    except binascii.Error:
        raise ValueError("base64 is not valid") from None


_PARSERS = {
    "interval": _interval,
    "bytes": _bytes,
    "period": lambda obj: pd.Period(ordinal=_whole(obj, "ordinal"), freq=_text(obj, "freq")),
    "timestamp": _timestamp,
    "datetime": lambda obj: datetime.datetime.fromisoformat(_text(obj, "iso")),
    "date": lambda obj: datetime.date.fromisoformat(_text(obj, "iso")),
    "time": lambda obj: datetime.time.fromisoformat(_text(obj, "iso")),
    "timedelta": lambda obj: pd.Timedelta(_whole(obj, "ns"), unit="ns"),  # -2**63 is NaT
    "decimal": lambda obj: decimal.Decimal(_text(obj, "text")),
    "uuid": lambda obj: uuid.UUID(_text(obj, "text")),
}

"""Durations in conditions: a ``timedelta64`` or Arrow ``duration`` column is modelled as
continuous nanoseconds (synthvae/frames.py), but its conditions and messages are durations.

A condition's value is a ``pd.Timedelta``, a ``datetime.timedelta``, a ``np.timedelta64`` or
text pandas reads as a duration (``"00:10:00"``, ``"10min"``, ``"1 days 02:00:00"``, as the
CLI's ``--where wait=00:10:00..00:20:00`` passes it). A bare number (``600``, ``"600"``) is
refused: it names no unit, and pandas would read it as nanoseconds. Every continuous
transformer of a duration column uses these (a constraint checks conditions with a plain
:class:`~synthvae.transforms.continuous.ModeSpecificNormalizer`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

DURATION_EXAMPLES = "a pd.Timedelta, a datetime.timedelta or text such as '00:10:00'"


def duration_nanos(value) -> float:
    """A duration as nanoseconds; NaN for a bare number or anything else."""
    if _is_bare_number(value):
        return math.nan
    try:
        delta = pd.Timedelta(value)
    except (TypeError, ValueError):
        return math.nan
    return math.nan if delta is pd.NaT else float(delta.value)


def _is_bare_number(value) -> bool:
    if isinstance(value, np.timedelta64):  # a NumPy integer type, but with a unit
        return False
    if isinstance(value, (int, float, np.integer, np.floating)):
        return True
    if not isinstance(value, str):
        return False
    try:
        float(value)
    except ValueError:
        return False
    return True


def show_duration(nanos: float) -> str:
    """Nanoseconds as a user would write the duration (``0 days 00:10:00``)."""
    return str(pd.Timedelta(round(nanos), unit="ns")) if math.isfinite(nanos) \
        else f"{nanos:g}"


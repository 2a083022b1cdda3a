"""Bounded redrawing of the few sampled rows a check refuses.

Most constraints hold by construction and refuse nothing. Rows are refused only by a
predicate, by a condition on a column that is modelled through another one (``b`` of
``a <= b``), or at a bound after rounding. :func:`complete` replaces refused rows with
fresh draws in a bounded number of rounds, and :class:`RejectionGuard` stops with a clear
error when so few rows pass that redrawing would take too long: there is no unbounded loop.

Replacements take the refused rows' places, and columns numbered by row (identifiers) keep
the values of the places they fill, so chunked and sharded samples stay unique and
reproducible.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from synthvae.errors import ConfigError

MIN_SHARE = 0.01  # below this share of drawn rows passing, sampling stops with an error
# Rows drawn for each row asked, at most: twice what a passing share of MIN_SHARE needs. The
# redraw rounds go on until then (each asks at most MAX_FACTOR times the rows missing, and at
# most the batch's rows: 16 times a wide table's batch was several GiB); a fixed 8 rounds
# gave up at passing shares of 2-5 %, above MIN_SHARE.
MAX_DRAWN_PER_ROW = 2 / MIN_SHARE
MIN_DRAWN = 2_000  # rows drawn before the share is judged
MAX_FACTOR = 16  # a redraw asks for at most this many times the rows still missing


class RejectionGuard:
    """Counts drawn and passing rows; raises when the passing share is hopeless."""

    def __init__(self, conditions=None):
        self.what = "the constraints" if conditions is None else \
            f"the conditions {conditions!r} and the constraints"
        self.drawn = self.passed = 0

    def add(self, drawn: int, passed: int) -> None:
        self.drawn += int(drawn)
        self.passed += int(passed)
        if self.drawn >= MIN_DRAWN and self.passed < MIN_SHARE * self.drawn:
            raise ConfigError(
                f"Only {self.passed:,} of {self.drawn:,} sampled rows ({self.share:.2%}) meet "
                f"{self.what}; the model rarely gives such rows, so sampling stops instead of "
                f"redrawing for long. Widen the conditions or relax the constraints (see "
                f"docs/constraints.md).")

    @property
    def share(self) -> float:
        return self.passed / self.drawn if self.drawn else 1.0

    def rows_to_draw(self, missing: int) -> int:
        """Rows to draw for ``missing`` passing ones: as many when all have passed so far,
        else enough for the passing share seen, with a margin."""
        if self.passed == self.drawn:
            return missing
        return int(min(np.ceil(missing / max(self.share, MIN_SHARE) * 1.2) + 16,
                       MAX_FACTOR * missing + 16))


def complete(draw: Callable[[int, int], tuple[pd.DataFrame, np.ndarray]], rows: int,
             start: int, id_columns: list[str], guard: RejectionGuard) -> pd.DataFrame:
    """``rows`` rows that all pass, from ``draw(rows, row_offset) -> (frame, passed)``."""
    frame, passed = draw(rows, start)
    guard.add(rows, passed.sum())
    if passed.all():
        return frame
    pieces = [(np.flatnonzero(passed), frame[passed])]
    missing = np.flatnonzero(~passed)
    drawn, found = rows, int(passed.sum())  # this batch's own, not the whole sample's
    while len(missing):
        if drawn > MAX_DRAWN_PER_ROW * rows + MIN_DRAWN:
            raise ConfigError(f"Could not draw {rows:,} rows meeting {guard.what} from "
                              f"{drawn:,} drawn ({found / drawn:.2%} of them pass); widen the "
                              f"conditions or relax the constraints.")
        # at most a batch (the rows asked here, sized by the caller to fit in memory)
        ask = min(guard.rows_to_draw(len(missing)), max(rows, MIN_DRAWN))
        extra, ok = draw(ask, start)
        guard.add(ask, ok.sum())
        drawn, found = drawn + ask, found + int(ok.sum())
        good = extra[ok].iloc[:len(missing)]
        pieces.append((missing[:len(good)], good))
        missing = missing[len(good):]
    return _assemble(pieces, frame, id_columns)


def _assemble(pieces: list, first: pd.DataFrame, id_columns: list[str]) -> pd.DataFrame:
    """The passing rows in their places; identifiers as the first draw numbered them."""
    places = np.concatenate([p for p, _ in pieces])
    out = pd.concat([f for _, f in pieces], ignore_index=True)
    out = out.iloc[np.argsort(places, kind="stable")].reset_index(drop=True)
    for name in id_columns:
        out[name] = first[name].reset_index(drop=True)
    return out

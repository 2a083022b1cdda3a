"""CSV files as people write them: the delimiter and decimal mark, sniffed or given, and the
raw header checked for repeated names.

A semicolon-separated file with decimal commas (``1,5``; the default in much of Europe) is
read as such, not as one text column. The delimiter is the candidate (``,`` ``;`` tab ``|``)
that splits the header and every sampled line into the same number (> 1) of fields; the
decimal mark is ``,`` when the delimiter is not a comma and some column holds only numbers
written with a decimal comma (``1,5``, or ``1.037,01`` in groups of three: a column of
such numbers is read as numbers by synthvae.io). pandas renames a repeated header name
(``a,a`` -> ``a,a.1``), so repeated names are found in the raw header line, before pandas
sees it.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
import re
from dataclasses import dataclass
from pathlib import Path

from synthvae.errors import ConfigError, DataError

DELIMITERS = (",", ";", "\t", "|")  # in order of preference when several fit equally
DECIMALS = (".", ",")
SNIFF_BYTES = 64 * 1024
_DECIMAL_COMMA = re.compile(r"^[+-]?(\d+,\d*|,\d+)([eE][+-]?\d+)?$")
_PLAIN_NUMBER = re.compile(r"^[+-]?\d+([eE][+-]?\d+)?$")
# any number written with this decimal mark or none (``12``, ``12.5``; ``12``, ``12,5``)
UNGROUPED_NUMBER = {".": re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"),
                    ",": re.compile(r"^[+-]?(\d+,?\d*|,\d+)([eE][+-]?\d+)?$")}
# A number written in groups of three digits, by the decimal mark it goes with: "1,234.5"
# (thousands ",") and "1.037,01" (thousands "."); its first group has no leading zero
# ("0,125" is a decimal comma, "02,134" and "030.123.456" codes).
GROUPED_NUMBER = {".": re.compile(r"^[+-]?[1-9]\d{0,2}(,\d{3})+(\.\d*)?$"),
                  ",": re.compile(r"^[+-]?[1-9]\d{0,2}(\.\d{3})+(,\d*)?$")}
_SEP_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
_OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


@dataclass(frozen=True)
class Dialect:
    """How a CSV file is written: field delimiter and decimal mark."""

    sep: str = ","
    decimal: str = "."


def check_sep(sep: str | None) -> str | None:
    """``sep`` as one character (``tab``/``\\t`` accepted), or a ConfigError naming it."""
    if sep is None:
        return None
    sep = _SEP_NAMES.get(sep.lower(), sep)
    if sep not in DELIMITERS:
        raise ConfigError(f"The separator must be one of ',', ';', 'tab' or '|'. "
                          f"Got {sep!r} instead.")
    return sep


# Text that means a missing number (pandas' defaults but the empty cell). In a column that
# holds anything but numbers it stays text: "NA" is Namibia, "None" a category, and
# synthvae writes a missing cell as an empty one (synthvae.io reads tables so).
NA_TOKENS = frozenset({"#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
                       "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a",
                       "nan", "null"})


def check_decimal(decimal: str | None) -> str | None:
    if decimal is not None and decimal not in DECIMALS:
        raise ConfigError(f"The decimal mark must be '.' or ','. Got {decimal!r} instead.")
    return decimal


def sniff_dialect(path: Path, sep: str | None = None, decimal: str | None = None) -> Dialect:
    """The file's dialect: ``sep``/``decimal`` where given, sniffed from its head otherwise."""
    sep, decimal = check_sep(sep), check_decimal(decimal)
    if sep is None or decimal is None:
        text = head_text(path)
        sep = sep or _sniff_sep({d: _rows(text, d) for d in DELIMITERS})
        decimal = decimal or _sniff_decimal(_rows(text, sep), sep)
    if sep == "," and decimal == ",":
        raise ConfigError("A comma cannot be both the separator and the decimal mark; give "
                          "--sep ';' (or tab, '|') with --decimal ','.")
    return Dialect(sep, decimal)


def head_text(path: Path) -> str:
    """The first :data:`SNIFF_BYTES` of the file as text, cut at the last full line."""
    opener = _OPENERS.get(path.suffix.lower(), open)
    try:
        with opener(path, "rb") as handle:
            raw = handle.read(SNIFF_BYTES)
    except OSError:
        return ""  # unreadable here (e.g. a zip archive): pandas reports it when it reads
    text = raw.decode("utf-8-sig", errors="replace")
    if len(raw) == SNIFF_BYTES and "\n" in text:
        text = text[: text.rindex("\n")]
    return text


def _rows(text: str, sep: str) -> list[list[str]]:
    return [row for row in csv.reader(io.StringIO(text), delimiter=sep) if row]


def _sniff_sep(rows_by_sep: dict[str, list[list[str]]]) -> str:
    """The delimiter giving the same field count (> 1) on every sampled line, most fields
    first; a comma when none does (a one-column file)."""
    best, best_width = ",", 1
    for sep, rows in rows_by_sep.items():
        # The last row may be cut by the sniffing window (inside a quoted field).
        widths = {len(row) for row in (rows[:-1] if len(rows) > 2 else rows)}
        if len(widths) == 1 and (width := widths.pop()) > best_width:
            best, best_width = sep, width
    return best


def _sniff_decimal(rows: list[list[str]], sep: str) -> str:
    """``,`` when some column holds only numbers (and NA_TOKENS) and at least one has a
    decimal comma (``1,5``, or ``1.037,01`` in groups of three)."""
    if sep == "," or len(rows) < 2:
        return "."
    for column in zip(*rows[1:]):
        cells = [c.strip() for c in column if c.strip() and c.strip() not in NA_TOKENS]
        commas = [bool(_DECIMAL_COMMA.match(c) or (GROUPED_NUMBER[","].match(c) and "," in c))
                  for c in cells]
        if any(commas) and all(m or _PLAIN_NUMBER.match(c) or GROUPED_NUMBER[","].match(c)
                               for m, c in zip(commas, cells)):
            return ","
    return "."


def header_names(path: Path, sep: str) -> list[str]:
    """The column names exactly as the file's first line writes them."""
    rows = _rows(head_text(path), sep)
    return rows[0] if rows else []


def check_unique_names(names: list, source: str) -> None:
    """A DataError naming the first repeated column name of ``source``."""
    seen: set = set()
    for name in names:
        if name in seen:
            raise DataError(f"Column {name!r} appears more than once in the header of "
                            f"{source}; column names must be unique: rename or drop one.")
        seen.add(name)

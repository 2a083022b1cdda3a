"""Rules of the real table, and how often synthetic rows break them.

Discovery (:func:`discover_rules`) reads only the real table and finds three kinds of rule:

* **functional dependencies** ``A -> B``: the most common B value of each A value covers at
  least ``MIN_SUPPORT`` of the rows (``education -> education-num`` in Adult). A has at least
  ``MIN_ROWS_PER_VALUE`` rows per value on average (so a near-unique A does not "determine"
  everything) and B's most common value covers less than ``MIN_SUPPORT`` of the rows (so a
  near-constant B is not "determined" by anything). Candidates are categorical, numeric and
  datetime columns whose exact values are few enough to take part (at most the rows over
  ``MIN_ROWS_PER_VALUE`` plus the exceptions ``MIN_SUPPORT`` allows); a missing value is a
  value.
* **zero-support combinations** of two categorical columns: value pairs that no real row
  holds although independence would put at least ``MIN_EXPECTED_ROWS`` rows there
  (``relationship=Husband & sex=Female``). Column pairs joined by a dependency are left out:
  breaking the dependency is already counted there.
* **inequalities** ``a <= b`` between two numeric columns that hold in every real row where
  both are present, when pairing a's and b's values at random would break it in at least
  ``MIN_INDEPENDENT_BREAKS`` of the rows (otherwise the two ranges alone imply it and the rule
  says nothing about the rows).

Measurement (:func:`rule_violations`) gives the share of synthetic rows that break each rule
and the totals. On wide tables only the first ``MAX_RULE_COLUMNS`` candidate columns of each
kind (in table order) are examined, so the cost stays bounded (pairs grow with the square).
Everything is vectorised per column pair (``np.bincount`` over pair codes, or a hashed count
of them when the pair table would exceed ``DENSE_PAIR_CELLS``); there is no loop over rows.
The rules are plain dataclasses so a later constraint layer can reuse them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

# The sampler excludes the pairs these rules name (synthvae.exclusions): one set of thresholds.
from synthvae.exclusions import MIN_ROWS_PER_VALUE, MIN_SUPPORT
from synthvae.exclusions import UNSEEN_PAIR_ROWS as MIN_EXPECTED_ROWS
from synthvae.reports._util import as_float
from synthvae.schema import ColumnKind, Schema

# MIN_SUPPORT: A -> B holds when A's values' majority Bs together cover this share of rows;
# MIN_ROWS_PER_VALUE: mean rows per A value, so that A is not near-unique;
# MIN_EXPECTED_ROWS: a zero cell counts when independence expects this many rows there.
# Zero-support candidates have at most this many values (their pair tables stay small).
MAX_CATEGORY_VALUES = 1_000
# A dependency's pair counts are a dense (values, values) table up to this many cells, sorted
# pair codes above it: a zip code of 30,000 values may determine its city.
DENSE_PAIR_CELLS = 4_000_000
MIN_INDEPENDENT_BREAKS = 0.01  # share of random a, b pairs with a > b, for an inequality
MAX_RULE_COLUMNS = 40  # candidate columns examined per rule kind on wide tables
MAX_LISTED = 50  # rules of each kind listed in the report (all count in the totals)
_NUMERIC_KINDS = (ColumnKind.CONTINUOUS, ColumnKind.DATETIME)
_DEPENDENCY_KINDS = (ColumnKind.CATEGORICAL, *_NUMERIC_KINDS)


@dataclass(frozen=True)
class CodedColumn:
    """A column's distinct real values (missing included) and each real row's code."""

    name: str
    values: pd.Index  # distinct real values, in order of first appearance
    codes: np.ndarray  # (n_rows,) int64 index into values
    top_rows: np.ndarray  # rows of the k most common values together, k = 1, 2, ...

    @classmethod
    def of(cls, series: pd.Series) -> "CodedColumn":
        codes, values = pd.factorize(series, use_na_sentinel=False)
        counts = np.bincount(codes, minlength=len(values))
        return cls(str(series.name), pd.Index(values), codes.astype(np.int64),
                   np.cumsum(np.sort(counts)[::-1]))

    def encode(self, series: pd.Series) -> np.ndarray:
        """Codes of another table's values; -1 for values the real column never holds."""
        return self.values.get_indexer(series).astype(np.int64)


@dataclass(frozen=True)
class FunctionalDependency:
    determinant: str
    dependent: str
    determinant_values: tuple  # real values of the determinant ...
    dependent_values: tuple  # ... and the most common dependent value of each
    real_support: float  # share of real rows that follow the mapping

    def to_dict(self) -> dict:
        return {"determinant": self.determinant, "dependent": self.dependent,
                "determinant_values": len(self.determinant_values),
                "real_violation_share": round(1.0 - self.real_support, 6)}


@dataclass(frozen=True)
class ZeroSupportPair:
    columns: tuple[str, str]
    values: tuple  # (value of the first column, value of the second)
    expected_rows: float  # under independence of the two columns, in the real table

    def to_dict(self) -> dict:
        return {"columns": list(self.columns), "values": [_json_value(v) for v in self.values],
                "expected_rows": round(self.expected_rows, 1)}


@dataclass(frozen=True)
class Inequality:
    smaller: str
    larger: str

    def to_dict(self) -> dict:
        return {"smaller": self.smaller, "larger": self.larger}


@dataclass(frozen=True)
class Rules:
    """What :func:`discover_rules` found, and which columns it examined."""

    functional_dependencies: tuple[FunctionalDependency, ...]
    zero_support_pairs: tuple[ZeroSupportPair, ...]
    inequalities: tuple[Inequality, ...]
    columns_examined: dict  # rule kind -> column names examined
    columns_skipped: dict  # rule kind -> candidate columns left out by MAX_RULE_COLUMNS


# ----------------------------------------------------------------------------- discovery


def discover_rules(real: pd.DataFrame, schema: Schema,
                   max_columns: int = MAX_RULE_COLUMNS) -> Rules:
    """The rules of ``real`` (a canonical frame: numbers as float, categories as text)."""
    groups = {"functional_dependencies": dependency_candidates(real, schema),
              "zero_support_pairs": categorical_candidates(real, schema),
              "inequalities": inequality_candidates(real, schema)}
    kept = {kind: names[:max_columns] for kind, names in groups.items()}
    skipped = {kind: names[max_columns:] for kind, names in groups.items()}
    dependencies = functional_dependencies(real, kept["functional_dependencies"])
    linked = {frozenset((d.determinant, d.dependent)) for d in dependencies}
    zeros = zero_support_pairs(real, kept["zero_support_pairs"], skip=linked)
    return Rules(tuple(dependencies), tuple(zeros),
                 tuple(inequalities(real, kept["inequalities"])), kept, skipped)


def dependency_candidates(real: pd.DataFrame, schema: Schema) -> list[str]:
    """Columns that vary and have few enough values to take part in a dependency: a
    determinant has at most ``rows / MIN_ROWS_PER_VALUE`` values, and its dependent at most
    that many more than the exceptions ``MIN_SUPPORT`` allows. Columns of at most
    ``MAX_CATEGORY_VALUES`` values come first, in table order, then the others: on a wide
    table the ``MAX_RULE_COLUMNS`` examined are the codes and categories before the measured
    numbers."""
    most = len(real) * (1 / MIN_ROWS_PER_VALUE + (1 - MIN_SUPPORT))
    counts = {c.name: real[c.name].nunique(dropna=False) for c in schema.columns
              if c.kind in _DEPENDENCY_KINDS and c.name in real}
    varying = [name for name, count in counts.items() if 2 <= count <= most]
    return sorted(varying, key=lambda name: counts[name] > MAX_CATEGORY_VALUES)  # stable


def categorical_candidates(real: pd.DataFrame, schema: Schema) -> list[str]:
    return [c.name for c in schema.columns if c.kind is ColumnKind.CATEGORICAL
            and c.name in real and 2 <= real[c.name].nunique(dropna=False) <= MAX_CATEGORY_VALUES]


def inequality_candidates(real: pd.DataFrame, schema: Schema) -> list[str]:
    return [c.name for c in schema.columns if c.kind in _NUMERIC_KINDS and c.name in real
            and real[c.name].nunique() >= 2]


def functional_dependencies(real: pd.DataFrame, names: list[str]) -> list[FunctionalDependency]:
    """Every ordered pair A -> B of ``names`` that holds (see the module docstring)."""
    coded = {name: CodedColumn.of(real[name]) for name in names}
    found = []
    for a, b in itertools.permutations(names, 2):
        rule = _dependency(coded[a], coded[b], len(real))
        if rule is not None:
            found.append(rule)
    return found


def _dependency(a: CodedColumn, b: CodedColumn, n_rows: int) -> FunctionalDependency | None:
    if not _may_determine(a, b, n_rows):
        return None
    found = majorities(a, b, n_rows)
    if found is None:
        return None
    majority_rows, majority = found
    support = majority_rows.sum() / n_rows
    if support < MIN_SUPPORT:
        return None
    return FunctionalDependency(a.name, b.name, tuple(a.values), tuple(b.values[majority]),
                                float(support))


def _may_determine(a: CodedColumn, b: CodedColumn, n_rows: int) -> bool:
    """What the value counts alone allow: A is not near-unique, B not near-constant, and B's
    ``len(A)`` most common values cover ``MIN_SUPPORT`` (the rows A's majorities can reach)."""
    n_a = len(a.values)
    return (n_rows / n_a >= MIN_ROWS_PER_VALUE
            and b.top_rows[0] < MIN_SUPPORT * n_rows
            and b.top_rows[min(n_a, len(b.top_rows)) - 1] >= MIN_SUPPORT * n_rows)


def majorities(a: CodedColumn, b: CodedColumn,
               n_rows: int) -> tuple[np.ndarray, np.ndarray] | None:
    """For each value of A (in code order): the rows of its most common B value, and that B
    value's code (the first in code order among ties). None when some rows hold more distinct
    (A, B) pairs than A -> B allows (their A values plus every exception ``MIN_SUPPORT``
    allows), which only the sparse count looks at."""
    n_a, n_b = len(a.values), len(b.values)
    if n_a * n_b <= DENSE_PAIR_CELLS:
        counts = pair_counts(a.codes, b.codes, n_a, n_b)  # (n_a, n_b)
        return counts.max(axis=1), counts.argmax(axis=1)
    exceptions = (1 - MIN_SUPPORT) * n_rows
    head = slice(0, int(20 * exceptions) + 1)  # a tenth of the rows: a cheap, exact screen
    if len(pd.unique(a.codes[head] * n_b + b.codes[head])) > \
            len(pd.unique(a.codes[head])) + exceptions:
        return None
    pair_codes, pairs = pd.factorize(a.codes * n_b + b.codes)  # hashed: the rows stay unsorted
    if len(pairs) > n_a + exceptions:
        return None
    counts = np.bincount(pair_codes)
    a_of, b_of = np.divmod(pairs, n_b)
    by_count = np.lexsort((b_of, -counts, a_of))  # each A value's most common B first
    firsts = np.unique(a_of[by_count], return_index=True)[1]  # every A value occurs
    top = by_count[firsts]
    return counts[top], b_of[top]


def zero_support_pairs(real: pd.DataFrame, names: list[str],
                       skip: set = frozenset()) -> list[ZeroSupportPair]:
    """Value pairs of two categorical columns with no real row but large expected support."""
    coded = {name: CodedColumn.of(real[name]) for name in names}
    found = []
    for a, b in itertools.combinations(names, 2):
        if frozenset((a, b)) not in skip:
            found += _zero_cells(coded[a], coded[b], len(real))
    return sorted(found, key=lambda pair: -pair.expected_rows)


def _zero_cells(a: CodedColumn, b: CodedColumn, n_rows: int) -> list[ZeroSupportPair]:
    counts = pair_counts(a.codes, b.codes, len(a.values), len(b.values))  # (n_a, n_b)
    expected = np.outer(counts.sum(axis=1), counts.sum(axis=0)) / n_rows
    rows, cols = np.nonzero((counts == 0) & (expected >= MIN_EXPECTED_ROWS))
    return [ZeroSupportPair((a.name, b.name), (a.values[i], b.values[j]), float(expected[i, j]))
            for i, j in zip(rows, cols)]


def inequalities(real: pd.DataFrame, names: list[str]) -> list[Inequality]:
    """``a <= b`` in every real row where both are present, and informative: a and b paired
    at random would break it in at least MIN_INDEPENDENT_BREAKS of the pairs."""
    values = real[names].to_numpy(np.float64)  # (n_rows, n_columns)
    present = [np.sort(column[~np.isnan(column)]) for column in values.T]
    found = []
    for i, j in itertools.permutations(range(len(names)), 2):
        a, b = values[:, i], values[:, j]
        both = ~(np.isnan(a) | np.isnan(b))
        if not both.any() or (a[both] > b[both]).any():
            continue
        if random_break_share(present[i], present[j]) >= MIN_INDEPENDENT_BREAKS:
            found.append(Inequality(names[i], names[j]))
    return found


def random_break_share(a: np.ndarray, b: np.ndarray) -> float:
    """P(a > b) for a and b drawn independently from the two sorted value arrays."""
    if not len(a) or not len(b):
        return 0.0
    return float(np.searchsorted(b, a, side="left").mean() / len(b))


def pair_counts(a: np.ndarray, b: np.ndarray, n_a: int, n_b: int) -> np.ndarray:
    """(n_a, n_b) counts of the code pairs; codes outside the ranges are not counted."""
    inside = (a >= 0) & (b >= 0)
    flat = np.bincount(a[inside] * n_b + b[inside], minlength=n_a * n_b)
    return flat.reshape(n_a, n_b)


# ----------------------------------------------------------------------------- measurement


def rule_violations(rules: Rules, synthetic: pd.DataFrame) -> dict:
    """The share of ``synthetic`` rows (a canonical frame) that break each rule, and totals."""
    n_rows = len(synthetic)
    fds = [(rule, dependency_breaks(rule, synthetic)) for rule in rules.functional_dependencies]
    coded = FrameCodes(synthetic)
    zeros = [(rule, combination_rows(rule, coded)) for rule in rules.zero_support_pairs]
    ineqs = [(rule, inequality_breaks(rule, synthetic)) for rule in rules.inequalities]
    return {
        "functional_dependencies": _listed(fds, n_rows, "synthetic_violation"),
        "zero_support_pairs": _listed(zeros, n_rows, "synthetic"),
        "inequalities": _listed(ineqs, n_rows, "synthetic_violation"),
        "totals": {
            "functional_dependencies": len(fds), "zero_support_pairs": len(zeros),
            "inequalities": len(ineqs),
            "functional_dependency_violation_share": _any_share(fds, n_rows),
            "max_functional_dependency_violation_share": _max_share(fds, n_rows),
            "zero_support_share": _any_share(zeros, n_rows),
            "inequality_violation_share": _any_share(ineqs, n_rows)},
        "columns_examined": rules.columns_examined,
        "columns_skipped": rules.columns_skipped,
        "thresholds": {"min_support": MIN_SUPPORT, "min_rows_per_value": MIN_ROWS_PER_VALUE,
                       "min_expected_rows": MIN_EXPECTED_ROWS,
                       "min_independent_breaks": MIN_INDEPENDENT_BREAKS,
                       "max_rule_columns": MAX_RULE_COLUMNS, "max_listed": MAX_LISTED},
    }


def dependency_breaks(rule: FunctionalDependency, frame: pd.DataFrame) -> np.ndarray:
    """Rows whose determinant value is a real one and whose dependent value is not the one
    the real rows map it to. A determinant value the real table never holds breaks nothing."""
    keys = pd.Index(rule.determinant_values).get_indexer(frame[rule.determinant])
    expected = pd.Index(rule.dependent_values).take(np.clip(keys, 0, None))
    same = _same_values(frame[rule.dependent], expected)
    return (keys >= 0) & ~same


class FrameCodes:
    """Each column of a frame factorized once (missing is a value), for many equality tests."""

    def __init__(self, frame: pd.DataFrame):
        self.frame, self._coded = frame, {}

    def equals(self, column: str, value) -> np.ndarray:
        """(n_rows,) bool: the column holds ``value`` (NaN matches missing)."""
        if column not in self._coded:
            codes, values = pd.factorize(self.frame[column], use_na_sentinel=False)
            self._coded[column] = (codes, pd.Index(values))
        codes, values = self._coded[column]
        return codes == values.get_indexer([value])[0] if len(values) else np.zeros(0, bool)


def combination_rows(rule: ZeroSupportPair, frame: FrameCodes) -> np.ndarray:
    """Rows that hold the combination no real row holds."""
    (a, b), (x, y) = rule.columns, rule.values
    return frame.equals(a, x) & frame.equals(b, y)


def inequality_breaks(rule: Inequality, frame: pd.DataFrame) -> np.ndarray:
    a = frame[rule.smaller].to_numpy(np.float64)
    b = frame[rule.larger].to_numpy(np.float64)
    return a > b  # NaN on either side compares False: missing breaks nothing


def _same_values(series: pd.Series, expected: pd.Index) -> np.ndarray:
    left, right = series.to_numpy(), expected.to_numpy()
    return (left == right) | (pd.isna(left) & pd.isna(right))


def _listed(found: list, n_rows: int, prefix: str) -> list[dict]:
    """The rules with their synthetic shares, most broken first, at most MAX_LISTED."""
    rows = [{**rule.to_dict(), f"{prefix}_rows": int(mask.sum()),
             f"{prefix}_share": round(float(mask.mean()), 6) if n_rows else None}
            for rule, mask in found]
    return sorted(rows, key=lambda row: -row[f"{prefix}_rows"])[:MAX_LISTED]


def _any_share(found: list, n_rows: int) -> float | None:
    """Share of rows that break at least one of the rules; None without rules."""
    if not found or not n_rows:
        return None
    return round(float(np.logical_or.reduce([mask for _, mask in found]).mean()), 6)


def _max_share(found: list, n_rows: int) -> float | None:
    if not found or not n_rows:
        return None
    return round(max(float(mask.mean()) for _, mask in found), 6)


def _json_value(value):
    if isinstance(value, (float, np.floating)):
        return as_float(value)
    if isinstance(value, np.integer):
        return int(value)
    return None if pd.isna(value) else str(value)


def rules_section(real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema) -> dict:
    """The report's "rules" section: discover on ``real``, measure on ``synthetic``."""
    return rule_violations(discover_rules(real, schema), synthetic)

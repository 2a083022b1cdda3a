"""Constraints found in the real rows, proposed for the user to keep or delete.

``synthvae schema data.csv`` writes them under ``"suggested_constraints"``, which fitting
ignores: move the entries you want into ``"constraints"`` (see docs/constraints.md). Found:

* **fixed combinations** from the functional dependencies and zero-support value pairs of
  :mod:`synthvae.reports.rules` (``education -> education-num``; no row holds
  ``relationship=Husband & sex=Female``). Pairs sharing a column are merged while the merged
  columns hold at most ``MAX_COMBINATIONS`` combinations;
* **inequalities** ``a <= b`` that hold in every row where both are present and say something
  about the rows (random pairs of values would break them);
* **fixed increments**: whole-number (or fixed-decimal) columns whose values are all
  multiples of a step above the smallest unit (prices in steps of 5);
* **positive / negative** continuous columns;
* **formulas** a column obeys exactly in every row: the sum, difference or product of two
  other columns (``total = price * quantity``), or two columns' digits put together
  (``sched_dep_time = hour * 100 + minute``): the composite computed from its parts, the
  direction that keeps the parts' modelled distribution (benchmarks/results/formulas.md).
  Searched among the first ``MAX_FORMULA_COLUMNS`` numeric columns, on rows where all three
  are present (at least ``MIN_FORMULA_ROWS``).

Every proposal holds in the rows it was found in, and the proposals fit together: no
column is modelled through two of them.
"""

from __future__ import annotations

import itertools
import keyword
import math

import numpy as np
import pandas as pd

from synthvae.constraints.declared import (FixedCombinations, FixedIncrements, Formula,
                                           Inequality, Negative, Positive, to_dict)
from synthvae.constraints.formula import agree
from synthvae.frames import model_frame
from synthvae.schema import ColumnKind, Schema

MAX_COMBINATIONS = 200  # a proposed fixed combination has at most this many value tuples
MAX_INCREMENT_DECIMALS = 4
MAX_FORMULA_COLUMNS = 30  # numeric columns searched for formulas (triples grow as the cube)
MIN_FORMULA_ROWS = 20  # rows holding all three columns, for a formula to be proposed
DIGIT_SHIFTS = (10, 100, 1_000, 10_000)  # a = high * shift + low with 0 <= low < shift
SCREEN_ROWS = 256  # rows every candidate is checked on before all rows are


def suggest_constraints(df: pd.DataFrame, schema: Schema) -> list[dict]:
    """Proposed constraints (JSON dicts with a ``note`` saying why) for ``df``."""
    from synthvae.reports.encoding import canonical_frame
    from synthvae.reports.rules import discover_rules

    frame = model_frame(df)
    canonical = canonical_frame(frame, schema)
    found = discover_rules(canonical, schema)
    consumed: set = set()
    out = _formulas(frame, schema, consumed)
    out += _combinations(found, canonical, consumed)
    out += _inequalities(found, consumed)
    out += _increments(frame, schema, consumed)
    out += _signs(frame, schema)
    return [to_dict(c) for c in out]


def _combinations(found, canonical: pd.DataFrame, consumed: set) -> list:
    pairs = [((r.determinant, r.dependent),
              f"{r.determinant} -> {r.dependent} in {r.real_support:.1%} of rows")
             for r in found.functional_dependencies]
    seen = {}
    for rule in found.zero_support_pairs:  # most expected rows first
        seen.setdefault(rule.columns, f"no row holds {rule.columns[0]}={rule.values[0]!r} & "
                                      f"{rule.columns[1]}={rule.values[1]!r} (independence "
                                      f"expects {rule.expected_rows:,.0f})")
    pairs += list(seen.items())
    pairs = [(columns, note) for columns, note in pairs if not set(columns) & consumed]
    groups: list[tuple[list, list]] = []  # (columns, notes)
    for columns, note in pairs:
        _add_pair(groups, list(columns), note, canonical)
    for columns, _ in groups:
        consumed.update(columns)
    return [FixedCombinations(tuple(columns), note="; ".join(notes))
            for columns, notes in groups]


def _add_pair(groups: list, pair: list, note: str, canonical: pd.DataFrame) -> None:
    touching = [g for g in groups if set(g[0]) & set(pair)]
    columns = list(dict.fromkeys([c for g in touching for c in g[0]] + pair))
    if len(touching) and all(set(pair) <= set(g[0]) for g in touching):
        return  # already covered
    if _combination_count(canonical, columns) > MAX_COMBINATIONS:
        return
    notes = [n for g in touching for n in g[1]] + [note]
    for g in touching:
        groups.remove(g)
    groups.append((columns, notes))


def _combination_count(canonical: pd.DataFrame, columns: list) -> int:
    return len(canonical[columns].drop_duplicates())


def _inequalities(found, consumed: set) -> list:
    out, involved = [], set(consumed)
    for rule in found.inequalities:
        if rule.larger in involved or rule.smaller in consumed:
            continue
        involved.update((rule.smaller, rule.larger))
        consumed.add(rule.larger)
        out.append(Inequality(rule.smaller, rule.larger,
                              note="holds in every row where both are present"))
    return out


def _increments(frame: pd.DataFrame, schema: Schema, consumed: set) -> list:
    out = []
    for spec in schema.columns:
        if spec.kind is not ColumnKind.CONTINUOUS or spec.name in consumed:
            continue
        step = increment(frame[spec.name], spec.decimals if not spec.integer else 0)
        if step is not None:
            consumed.add(spec.name)
            out.append(FixedIncrements(spec.name, step,
                                       note=f"every value is a multiple of {step:g}"))
    return out


def increment(series: pd.Series, decimals: int | None) -> float | None:
    """The common step of the values when it is coarser than their last decimal (None if
    not, or for fewer than three distinct values)."""
    if decimals is None or decimals > MAX_INCREMENT_DECIMALS:
        return None
    values = pd.to_numeric(series, errors="coerce").dropna().unique()
    if len(values) < 3:
        return None
    units = np.round(np.abs(values) * 10 ** decimals)
    if units.max() >= 2 ** 53:
        return None
    step = int(np.gcd.reduce(units.astype(np.int64)))
    if step <= 1:
        return None
    value = step / 10 ** decimals
    return int(value) if float(value).is_integer() else value


def _signs(frame: pd.DataFrame, schema: Schema) -> list:
    out = []
    for spec in schema.columns:
        if spec.kind is not ColumnKind.CONTINUOUS:
            continue
        values = pd.to_numeric(frame[spec.name], errors="coerce").dropna()
        if not len(values):
            continue
        low, high = float(values.min()), float(values.max())
        if low >= 0:
            out.append(Positive(spec.name, note=f"smallest value {_show(low)}"))
        elif high <= 0:
            out.append(Negative(spec.name, note=f"largest value {_show(high)}"))
    return out


def _show(value: float) -> str:
    return f"{value:g}" if math.isfinite(value) else str(value)


# ----------------------------------------------------------------------------- formulas


def _formulas(frame: pd.DataFrame, schema: Schema, consumed: set) -> list:
    """Formulas every row obeys (see the module docstring); a column is computed by at most
    one, and no computed column is read by another."""
    numbers = _formula_columns(frame, schema)
    out, read = [], set()
    for target, expression, inputs, note in _exact_relations(numbers):
        if target in consumed or target in read or set(inputs) & consumed:
            continue
        consumed.add(target)
        read.update(inputs)
        out.append(Formula(target, expression, note=note))
    return out


def _formula_columns(frame: pd.DataFrame, schema: Schema) -> dict[str, np.ndarray]:
    """The varying columns of an int or float dtype (continuous, or categories of numbers)
    as float64; a name holding a backtick cannot be written in an expression."""
    out = {}
    for spec in schema.columns:
        if spec.kind not in (ColumnKind.CONTINUOUS, ColumnKind.CATEGORICAL) or \
                len(out) >= MAX_FORMULA_COLUMNS:
            continue
        column = frame[spec.name]
        numeric = pd.api.types.is_numeric_dtype(column) and not \
            pd.api.types.is_bool_dtype(column)
        if numeric and "`" not in spec.name and column.nunique() >= 2:  # else not writable
            out[spec.name] = column.to_numpy(np.float64, na_value=np.nan)
    return out


def _exact_relations(numbers: dict[str, np.ndarray]):
    """(target, expression, inputs, note) of each relation that holds in every row: digit
    compositions, then sums, products and differences (so that ``total = price + tax`` is
    proposed rather than ``tax = total - price``). Each candidate is screened on the first
    SCREEN_ROWS rows; only what passes is computed over every row."""
    names = list(numbers)
    matrix = np.column_stack([numbers[n] for n in names]) if names else np.zeros((0, 0))
    pairs = list(itertools.combinations(names, 2))
    ordered = [(a, b) for a in names for b in names if a != b]
    candidates = [(high, f"* {shift} +", low, lambda x, y, k=shift: x * k + y)
                  for high, low in ordered for shift in DIGIT_SHIFTS
                  if _digits_fit(numbers[low], shift)]
    candidates += [(a, "+", b, np.add) for a, b in pairs]
    candidates += [(a, "*", b, np.multiply) for a, b in pairs]
    candidates += [(a, "-", b, np.subtract) for a, b in ordered]
    screen = matrix[:SCREEN_ROWS]
    for first, operator, second, apply in candidates:
        inputs = (first, second)
        head = apply(numbers[first][:SCREEN_ROWS], numbers[second][:SCREEN_ROWS])
        passed = [j for j in np.flatnonzero(agree(head[:, None], screen).all(axis=0))
                  if names[j] not in inputs]
        if not passed:
            continue
        values = apply(numbers[first], numbers[second])
        for j in passed:
            both = ~np.isnan(values) & ~np.isnan(matrix[:, j])
            if both.sum() >= MIN_FORMULA_ROWS and agree(values, matrix[:, j]).all():
                target, text = names[j], f"{first} {operator} {second}"
                yield (target, f"{_name(first)} {operator} {_name(second)}", inputs,
                       f"{target} = {text} in every row")


def _digits_fit(low: np.ndarray, shift: int) -> bool:
    """``low`` holds whole numbers in [0, shift), several of them: a digit field."""
    present = low[~np.isnan(low)]
    return bool(len(present)) and present.min() >= 0 and present.max() < shift and \
        bool(np.all(present == np.round(present))) and present.max() >= shift // 10


def _name(column: str) -> str:
    """A column name as an expression reads it (backticks unless a plain name)."""
    return column if column.isidentifier() and not keyword.iskeyword(column) \
        else f"`{column}`"

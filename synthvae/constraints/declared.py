"""The constraints a user declares: small frozen dataclasses, their JSON form, SDV's form.

Each kind is a plain record of what the user said; nothing is learned here (see
:mod:`synthvae.constraints.rules` for the fitted logic). In a schema JSON file or a Python
list, a constraint is a dict with a ``"kind"``::

    {"kind": "fixed_combinations", "columns": ["relationship", "sex"]}
    {"kind": "inequality", "low": "checkin", "high": "checkout", "strict": false}
    {"kind": "inequality", "low": 0, "high": "age"}          # against a constant
    {"kind": "range", "low": "start", "middle": "mid", "high": "end"}
    {"kind": "positive", "column": "age"}                     # negative likewise
    {"kind": "fixed_increments", "column": "price", "increment": 5}
    {"kind": "one_hot", "columns": ["is_a", "is_b", "is_c"]}
    {"kind": "unique", "column": "account"}
    {"kind": "formula", "column": "total", "expression": "price * quantity"}

An optional ``"note"`` key is kept and ignored (suggested constraints carry one). SDV's
constraint dicts (``{"constraint_class": "FixedCombinations", "constraint_parameters":
{...}}``) are read too, where they map (:func:`from_sdv`). A :class:`Predicate` (a Python
function over rows) has no JSON form.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable

from synthvae.constraints.formula import parse as parse_formula
from synthvae.errors import ConfigError

Bound = Any  # a column name (str) or a constant number


@dataclass(frozen=True)
class FixedCombinations:
    """These columns only take combinations of values that real rows hold together."""

    columns: tuple[str, ...]
    note: str | None = None
    kind = "fixed_combinations"

    def __post_init__(self):
        _set_columns(self, "columns", self.columns, minimum=2)


@dataclass(frozen=True)
class Inequality:
    """``low <= high`` (``low < high`` when strict); either side may be a constant number."""

    low: Bound
    high: Bound
    strict: bool = False
    note: str | None = None
    kind = "inequality"

    def __post_init__(self):
        _check_bounds(self, ("low", "high"))
        _check_bool(self, "strict")


@dataclass(frozen=True)
class Range:
    """``low <= middle <= high``; ``low`` and ``high`` may be columns or constants."""

    low: Bound
    middle: str
    high: Bound
    strict: bool = False
    note: str | None = None
    kind = "range"

    def __post_init__(self):
        _check_bounds(self, ("low", "middle", "high"))
        if not isinstance(self.middle, str):
            raise ConfigError(f"The 'middle' of a range constraint must be a column name. Got "
                              f"{self.middle!r} instead.")
        _check_bool(self, "strict")


@dataclass(frozen=True)
class Positive:
    """``column >= 0`` (``> 0`` when strict)."""

    column: str
    strict: bool = False
    note: str | None = None
    kind = "positive"

    def __post_init__(self):
        _check_column(self, "column")
        _check_bool(self, "strict")


@dataclass(frozen=True)
class Negative:
    """``column <= 0`` (``< 0`` when strict)."""

    column: str
    strict: bool = False
    note: str | None = None
    kind = "negative"

    def __post_init__(self):
        _check_column(self, "column")
        _check_bool(self, "strict")


@dataclass(frozen=True)
class FixedIncrements:
    """Every value of ``column`` is a whole multiple of ``increment`` (e.g. 5, 0.25)."""

    column: str
    increment: float
    note: str | None = None
    kind = "fixed_increments"

    def __post_init__(self):
        _check_column(self, "column")
        value = self.increment
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or value <= 0:
            raise ConfigError(f"The 'increment' of a fixed_increments constraint on "
                              f"{self.column!r} must be a positive number. Got {value!r} "
                              f"instead.")


@dataclass(frozen=True)
class OneHot:
    """Exactly one of these 0/1 (or boolean) columns is 1 in every row."""

    columns: tuple[str, ...]
    note: str | None = None
    kind = "one_hot"

    def __post_init__(self):
        _set_columns(self, "columns", self.columns, minimum=2)


@dataclass(frozen=True)
class Unique:
    """No two rows share a value of ``column`` (regenerated as new unique values)."""

    column: str
    note: str | None = None
    kind = "unique"

    def __post_init__(self):
        _check_column(self, "column")


@dataclass(frozen=True)
class Formula:
    """``column`` equals ``expression``, arithmetic over other columns (``"price *
    quantity"``, ``"sched_dep_time // 100"``), rounded to the column's grid: the column is
    not modelled but computed from the sampled columns (see
    :mod:`synthvae.constraints.formula` for what an expression may hold)."""

    column: str
    expression: str
    note: str | None = None
    kind = "formula"

    def __post_init__(self):
        _check_column(self, "column")
        where = f"the formula constraint on {self.column!r}"
        reads = parse_formula(self.expression, where).columns
        if not reads:
            raise ConfigError(f"The expression {self.expression!r} of {where} reads no "
                              f"column; a column of one value needs no formula.")
        if self.column in reads:
            raise ConfigError(f"The expression {self.expression!r} of {where} reads "
                              f"{self.column!r} itself; a formula computes a column from "
                              f"other columns.")


@dataclass(frozen=True)
class Predicate:
    """A rule written in Python: ``function(frame)`` returns one bool per row (True = the
    row is allowed), vectorized over a DataFrame with the table's columns. Not saved with
    a model: pass it again to :meth:`Synthesizer.load` (``predicates={name: function}``)."""

    function: Callable
    name: str
    note: str | None = None
    kind = "predicate"

    def __post_init__(self):
        if not callable(self.function):
            raise ConfigError(f"A predicate constraint needs a function of a DataFrame. Got "
                              f"{self.function!r} instead.")
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"A predicate constraint needs a non-empty 'name' (to pass it "
                              f"again when loading a model). Got {self.name!r} instead.")


KINDS = {cls.kind: cls for cls in (FixedCombinations, Inequality, Range, Positive, Negative,
                                   FixedIncrements, OneHot, Unique, Formula, Predicate)}
DECLARED = tuple(KINDS.values())


def to_dict(constraint) -> dict:
    """The JSON form of a declared constraint (a Predicate has none)."""
    if isinstance(constraint, Predicate):
        raise ConfigError(f"The predicate constraint {constraint.name!r} is a Python function "
                          f"and has no JSON form; keep it in Python (Synthesizer(constraints="
                          f"[...]) and Synthesizer.load(..., predicates=...)).")
    out = {"kind": constraint.kind}
    for f in dataclasses.fields(constraint):
        value = getattr(constraint, f.name)
        if f.name == "note" and value is None:
            continue
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def parse_constraint(item):
    """One constraint from a declared object, our dict form or SDV's dict form."""
    if isinstance(item, DECLARED):
        return item
    if not isinstance(item, dict):
        raise ConfigError(f"A constraint is a dict with a 'kind' (see docs/constraints.md) or "
                          f"one of synthvae's constraint classes. Got {item!r} instead.")
    if "constraint_class" in item:
        return from_sdv(item)
    kind = item.get("kind")
    if kind == "predicate":
        raise ConfigError("A predicate constraint is Python only: pass "
                          "synthvae.Predicate(function, name) in Synthesizer(constraints=...).")
    if kind not in KINDS:
        raise ConfigError(f"Constraint kind must be one of {sorted(set(KINDS) - {'predicate'})}. "
                          f"Got {kind!r} in {item!r} instead.")
    cls = KINDS[kind]
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(item) - known - {"kind"})
    if unknown:
        raise ConfigError(f"Constraint {item!r}: unknown keys {unknown}; a {kind} constraint "
                          f"takes {sorted(known)}.")
    try:
        return cls(**{k: v for k, v in item.items() if k != "kind"})
    except TypeError as exc:
        raise ConfigError(f"Constraint {item!r} is incomplete ({exc}).") from None


def parse_constraints(items) -> tuple:
    """A tuple of declared constraints from a list (None: none)."""
    if items is None:
        return ()
    if isinstance(items, (dict, str)) or not hasattr(items, "__iter__"):
        raise ConfigError(f"constraints must be a list of constraints. Got {items!r} instead.")
    return tuple(parse_constraint(item) for item in items)


# ----------------------------------------------------------------------------- SDV


def from_sdv(item: dict):
    """An SDV constraint dict (``constraint_class`` + ``constraint_parameters``) as ours."""
    name = str(item.get("constraint_class", "")).rsplit(".", 1)[-1]
    params = item.get("constraint_parameters", {})
    if not isinstance(params, dict):
        raise ConfigError(f"SDV constraint {item!r}: constraint_parameters must be a dict.")
    build = _SDV.get(name)
    if build is None:
        raise ConfigError(f"SDV constraint class {name!r} has no synthvae equivalent; "
                          f"synthvae maps {sorted(_SDV)} (see docs/constraints.md).")
    try:
        return build(params)
    except KeyError as exc:
        raise ConfigError(f"SDV constraint {name}: parameter {exc.args[0]!r} is missing.") \
            from None


def _scalar_inequality(p: dict):
    relation, value, column = p["relation"], p["value"], p["column_name"]
    if relation not in (">", ">=", "<", "<="):
        raise ConfigError(f"SDV ScalarInequality on {column!r}: relation must be one of "
                          f"'>', '>=', '<', '<='. Got {relation!r} instead.")
    strict = relation in (">", "<")
    if relation.startswith(">"):
        return Inequality(low=value, high=column, strict=strict)
    return Inequality(low=column, high=value, strict=strict)


_SDV = {
    "FixedCombinations": lambda p: FixedCombinations(tuple(p["column_names"])),
    "Inequality": lambda p: Inequality(p["low_column_name"], p["high_column_name"],
                                       bool(p.get("strict_boundaries", False))),
    "ScalarInequality": _scalar_inequality,
    "Range": lambda p: Range(p["low_column_name"], p["middle_column_name"],
                             p["high_column_name"], bool(p.get("strict_boundaries", True))),
    "ScalarRange": lambda p: Range(p["low_value"], p["column_name"], p["high_value"],
                                   bool(p.get("strict_boundaries", True))),
    "Positive": lambda p: Positive(p["column_name"], bool(p.get("strict_boundaries", True))),
    "Negative": lambda p: Negative(p["column_name"], bool(p.get("strict_boundaries", True))),
    "FixedIncrements": lambda p: FixedIncrements(p["column_name"], p["increment_value"]),
    "OneHotEncoding": lambda p: OneHot(tuple(p["column_names"])),
    "Unique": lambda p: _sdv_unique(p["column_names"]),
}


def _sdv_unique(columns):
    names = [columns] if isinstance(columns, str) else list(columns)
    if len(names) != 1:
        raise ConfigError(f"SDV Unique on {names}: synthvae keeps one column unique per "
                          f"constraint; declare one Unique per column.")
    return Unique(names[0])


# ----------------------------------------------------------------------------- checks


def _set_columns(obj, field: str, value, minimum: int) -> None:
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        raise ConfigError(f"The {field!r} of a {obj.kind} constraint must be a list of column "
                          f"names. Got {value!r} instead.")
    names = tuple(value)
    if len(names) < minimum or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"The {field!r} of a {obj.kind} constraint must list at least "
                          f"{minimum} column names. Got {value!r} instead.")
    if len(set(names)) != len(names):
        raise ConfigError(f"The {field!r} of a {obj.kind} constraint name a column twice: "
                          f"{list(names)}.")
    object.__setattr__(obj, field, names)


def _check_column(obj, field: str) -> None:
    value = getattr(obj, field)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"The {field!r} of a {obj.kind} constraint must be a column name. "
                          f"Got {value!r} instead.")


def _check_bool(obj, field: str) -> None:
    if not isinstance(getattr(obj, field), bool):
        raise ConfigError(f"The {field!r} of a {obj.kind} constraint must be true or false. "
                          f"Got {getattr(obj, field)!r} instead.")


def _check_bounds(obj, fields: tuple[str, ...]) -> None:
    values = [getattr(obj, f) for f in fields]
    for field, value in zip(fields, values):
        number = isinstance(value, (int, float)) and not isinstance(value, bool) \
            and math.isfinite(value)
        if not (number or (isinstance(value, str) and value)):
            raise ConfigError(f"The {field!r} of a {obj.kind} constraint must be a column name "
                              f"or a finite number. Got {value!r} instead.")
    if not any(isinstance(v, str) for v in values):
        raise ConfigError(f"A {obj.kind} constraint needs at least one column. Got "
                          f"{dict(zip(fields, values))!r}.")
    names = [v for v in values if isinstance(v, str)]
    if len(set(names)) != len(names):
        raise ConfigError(f"A {obj.kind} constraint names a column twice: "
                          f"{dict(zip(fields, values))!r}.")

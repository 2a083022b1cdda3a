"""The fitted rules behind each declared constraint: a reversible change of columns.

Every rule says which original columns it ``consumes`` (replaces in the modelled table by
columns of its own, restored by :meth:`Rule.reverse`), ``reads`` (needs restored before its
reverse) and ``modifies`` (adjusts after they are restored). Declared constraints expand into
rules (:func:`expand`): ``Range(a, b, c)`` is ``b - a >= 0`` and ``c - b >= 0``,
``Positive(x)`` is ``x >= 0``.

=====================  =========================================================
rule                   modelled as, and why the rule holds by construction
=====================  =========================================================
combinations           one categorical column of the combinations seen; split back
one-hot                one categorical column naming the hot column; spread back
difference (a <= b)    ``b - a`` (clipped at 0 on the way back, rounded upward)
bound (x >= c)         ``x`` itself, clipped at c on the way back (a no-op for
                       columns whose decoded range already respects it)
increments             ``x / k`` as whole numbers; multiplied back
unique                 an identifier: regenerated unique values of the column's form
formula                nothing: the column is computed from the columns it reads,
                       on its grid (checked again: a bound on it may move it)
predicate              nothing: rows it refuses are redrawn (bounded)
=====================  =========================================================

All work is vectorized per column; nothing loops over rows.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from synthvae.constraints import declared as d
from synthvae.constraints.columns import (NUMERIC, at_least, at_most, check_numeric,
                                          condition_checker, from_numbers, grid_step, numbers,
                                          on_grid, show, unique_name)
from synthvae.constraints.formula import agree
from synthvae.constraints.formula import parse as parse_formula
from synthvae.errors import ConfigError
from synthvae.frames import model_dtype
from synthvae.schema import ColumnKind, ColumnSpec
from synthvae.transforms.categorical import OneHotEncoder
from synthvae.transforms.dtypes import restore_categorical


class Rule:
    """One reversible piece of a constraint (see the module docstring)."""

    consumes: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()
    modifies: tuple[str, ...] = ()
    checked_when_sampling = True  # False: holds exactly by construction, never rechecked
    learned_domain = False  # True: what is allowed was learned from the rows (combinations)
    on_output = False  # True: checks the restored output frame (a predicate)

    check_only = False  # True: another rule models its columns; this one only checks

    def __init__(self, source):
        self.source = source  # the declared constraint, for messages

    @property
    def columns(self) -> tuple[str, ...]:
        return getattr(self, "named_", None) or \
            tuple(dict.fromkeys(self.consumes + self.reads + self.modifies))

    def make_check_only(self) -> None:
        """Another rule already models a column of this one: only check rows (redrawing
        the few that break it) instead of transforming."""
        self.named_ = self.columns
        self.consumes = self.reads = self.modifies = ()
        self.check_only = True
        self.checked_when_sampling = True

    def describe(self) -> str:
        return describe(self.source)

    def fit(self, frame: pd.DataFrame, specs: dict, taken: set) -> "Rule":
        self.specs_ = {name: specs[name] for name in self.columns}
        return self

    def violations(self, frame: pd.DataFrame) -> np.ndarray:
        """(rows,) True where a row breaks the rule; ``frame`` holds the original columns."""
        raise NotImplementedError

    def produced(self) -> list[ColumnSpec]:
        """The modelled columns that replace the consumed ones."""
        return []

    def forward(self, frame: pd.DataFrame) -> dict:
        return {}

    def reverse(self, model: pd.DataFrame, restored: dict) -> dict:
        return {}

    def conditions(self, wanted: dict) -> tuple[dict, dict]:
        """Conditions on consumed columns -> (conditions on modelled columns, conditions
        checked on the restored rows)."""
        return {}, dict(wanted)

    def check_condition(self, column: str, wanted) -> None:
        """Raise ConfigError when no row can meet ``wanted`` on a modified column."""

    def condition_checker(self, column: str):
        """What answers ``contains(series, wanted)`` for a condition on a consumed
        ``column`` checked on the restored rows."""
        return condition_checker(self.specs_[column])

    def get_state(self) -> dict:
        return {}

    def set_state(self, state: dict, specs: dict) -> "Rule":
        self.specs_ = {name: specs[name] for name in self.columns}
        return self


# ----------------------------------------------------------------------------- joint


class JointRule(Rule):
    """Columns modelled together as one categorical column over a table of allowed rows."""

    checked_when_sampling = False

    def __init__(self, source, columns: tuple[str, ...]):
        super().__init__(source)
        self.consumes = tuple(columns)

    def fit(self, frame, specs, taken):
        super().fit(frame, specs, taken)
        for name in self.consumes:
            if self.specs_[name].kind is ColumnKind.IDENTIFIER:
                raise ConfigError(f"The {self.describe()} constraint names {name!r}, an "
                                  f"identifier (regenerated unique, not modelled); leave it "
                                  f"out or declare the column categorical in the schema.")
        self.table_ = self.learn_table(frame)
        self.name_ = unique_name(", ".join(self.consumes), taken)
        self._decode_table()
        return self

    def learn_table(self, frame: pd.DataFrame) -> dict:
        raise NotImplementedError

    def _decode_table(self) -> None:
        """The table's columns in their model dtypes, and the codes' lookup."""
        self.decoded_ = {name: _decode_column(self.specs_[name], values)
                         for name, values in self.table_.items()}
        self.size_ = len(next(iter(self.table_.values())))

    def produced(self):
        return [ColumnSpec(name=self.name_, kind=ColumnKind.CATEGORICAL, dtype="int64",
                           categories=tuple(range(self.size_)))]

    def codes(self, frame: pd.DataFrame) -> np.ndarray:
        """(rows,) each row's index in the table; -1 for combinations it lacks."""
        keys = None
        for name in self.consumes:
            table = _stored(self.specs_[name], pd.Series(self.table_[name]))
            mine = _stored(self.specs_[name], frame[name])
            codes, uniques = pd.factorize(np.concatenate([table, mine]), use_na_sentinel=False)
            keys = codes if keys is None else pd.factorize(keys * len(uniques) + codes)[0]
        table_keys, frame_keys = keys[:self.size_], keys[self.size_:]
        return pd.Index(table_keys).get_indexer(frame_keys)

    def forward(self, frame):
        return {self.name_: pd.Series(self.codes(frame), dtype=np.int64)}

    def reverse(self, model, restored):
        codes = np.asarray(model[self.name_], dtype=np.float64)
        codes = np.clip(np.nan_to_num(codes, nan=0), 0, self.size_ - 1).astype(np.int64)
        return {name: self.decoded_[name].take(codes).reset_index(drop=True)
                for name in self.consumes}

    def conditions(self, wanted):
        allowed = np.ones(self.size_, dtype=bool)
        for name, value in wanted.items():
            allowed &= _joint_checker(self.specs_[name], self.decoded_[name]).contains(
                self.decoded_[name], value)
        if not allowed.any():
            raise ConfigError(f"No combination of {list(self.consumes)} allowed by the "
                              f"{self.describe()} constraint meets the conditions {wanted!r}; "
                              f"the conditions and the constraint cannot both hold.")
        if allowed.all():
            return {}, {}
        return {self.name_: [int(k) for k in np.flatnonzero(allowed)]}, {}

    def get_state(self):
        return {"name": self.name_, "table": {k: list(v) for k, v in self.table_.items()}}

    def set_state(self, state, specs):
        super().set_state(state, specs)
        self.name_ = state["name"]
        self.table_ = {k: list(v) for k, v in state["table"].items()}
        if list(self.table_) != list(self.consumes):
            raise ValueError(f"constraint state does not match {self.describe()}")
        self._decode_table()
        return self


class CombinationRule(JointRule):
    """Fixed combinations: only the value combinations real rows hold."""

    learned_domain = True

    def learn_table(self, frame):
        rows = frame[list(self.consumes)].drop_duplicates()
        return {name: _json_values(self.specs_[name], rows[name]) for name in self.consumes}

    def violations(self, frame):
        return self.codes(frame) < 0


class OneHotRule(JointRule):
    """One-hot group: exactly one column holds 1, the others 0."""

    def learn_table(self, frame):
        table = {}
        for j, name in enumerate(self.consumes):
            spec = self.specs_[name]
            boolean = (spec.dtype or "").lower() in ("bool", "boolean")
            hot = [k == j for k in range(len(self.consumes))]
            table[name] = hot if boolean else [int(v) for v in hot]
        return table

    def violations(self, frame):
        values = np.column_stack([_zero_one(self.specs_[n], frame[n]) for n in self.consumes])
        return np.isnan(values).any(axis=1) | (np.nansum(values, axis=1) != 1)


def _zero_one(spec: ColumnSpec, series: pd.Series) -> np.ndarray:
    """0/1 (or False/True) as 0.0/1.0; anything else NaN (a violation)."""
    values = numbers(spec, series) if spec.kind in NUMERIC else pd.to_numeric(
        series.astype(object).where(series.notna(), np.nan), errors="coerce").to_numpy(float)
    return np.where((values == 0) | (values == 1), values, np.nan)


def _stored(spec: ColumnSpec, series: pd.Series) -> np.ndarray:
    """Values as the table stores them: numbers (datetimes in seconds) or objects, missing
    as NaN (so that pd.factorize puts every missing value in one group)."""
    if spec.kind in NUMERIC:
        return numbers(spec, series).astype(object)
    values = series.to_numpy(dtype=object)
    return np.where(pd.isna(values), np.nan, values)


def _json_values(spec: ColumnSpec, series: pd.Series) -> list:
    stored = _stored(spec, series)
    return [None if (isinstance(v, float) and math.isnan(v)) else
            (v.item() if isinstance(v, np.generic) else v) for v in stored]


def _decode_column(spec: ColumnSpec, values: list) -> pd.Series:
    if spec.kind in NUMERIC:
        floats = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        return from_numbers(spec, floats, grid_step(spec, floats))
    objects = np.array(values + [None], dtype=object)[:-1]  # keeps tuples of scalars flat
    missing = pd.isna(objects)
    categories = list(dict.fromkeys(v for v in values if v is not None))
    return restore_categorical(objects, missing, spec, categories).reset_index(drop=True)


def _joint_checker(spec: ColumnSpec, values: pd.Series):
    """Answers ``contains`` for one column of a joint table, in the column's units."""
    if spec.kind in NUMERIC:
        return condition_checker(spec)
    checker = OneHotEncoder(spec)
    checker.categories_ = [v.item() if isinstance(v, np.generic) else v
                           for v in pd.unique(values.dropna())]
    checker.rare_values_, checker.rare_weights_ = [], []
    return checker


# ----------------------------------------------------------------------------- numbers


class DifferenceRule(Rule):
    """``low <= high`` between two columns: ``high`` is modelled as ``high - low``."""

    def __init__(self, source, low: str, high: str, strict: bool):
        super().__init__(source)
        self.low, self.high, self.strict = low, high, strict
        self.consumes, self.reads = (high,), (low,)

    def fit(self, frame, specs, taken):
        super().fit(frame, specs, taken)
        low, high = self.specs_[self.low], self.specs_[self.high]
        if low.kind not in NUMERIC or high.kind is not low.kind:
            raise ConfigError(f"The {self.describe()} constraint compares {self.low!r} "
                              f"({low.kind.value}) with {self.high!r} ({high.kind.value}); both "
                              f"must be continuous, or both datetime (declare them so in the "
                              f"schema).")
        lows = numbers(low, frame[self.low])
        self.step_low_ = grid_step(low, lows)
        self.step_high_ = grid_step(high, numbers(high, frame[self.high]))
        present = lows[~np.isnan(lows)]
        reference = float(np.median(present)) if len(present) else 0.0
        self.reference_ = float(at_least(reference, reference, self.step_low_, False))
        self.name_ = unique_name(f"{self.high} - {self.low}", taken)
        return self

    def produced(self):
        steps = (self.step_low_, self.step_high_)
        decimals = None
        if all(s > 0 for s in steps):
            decimals = max(0, *(math.ceil(-math.log10(s) - 1e-9) for s in steps))
        return [ColumnSpec(name=self.name_, kind=ColumnKind.CONTINUOUS, dtype="float64",
                           nullable=self.specs_[self.high].nullable,
                           integer=decimals == 0, decimals=decimals)]

    def _numbers(self, frame) -> tuple[np.ndarray, np.ndarray]:
        return (numbers(self.specs_[self.low], frame[self.low]),
                numbers(self.specs_[self.high], frame[self.high]))

    def violations(self, frame):
        low, high = self._numbers(frame)
        with np.errstate(invalid="ignore"):
            return (high <= low) if self.strict else (high < low)

    def forward(self, frame):
        low, high = self._numbers(frame)
        return {self.name_: pd.Series(high - np.where(np.isnan(low), self.reference_, low))}

    def reverse(self, model, restored):
        low = numbers(self.specs_[self.low], restored[self.low])
        diff = np.asarray(model[self.name_], dtype=np.float64)
        present = ~np.isnan(low)
        high = np.where(present, low + np.maximum(diff, 0.0), self.reference_ + diff)  # NaN stays
        high = at_least(high, np.where(present, low, np.nan), self.step_high_, self.strict)
        return {self.high: from_numbers(self.specs_[self.high], high, self.step_high_)}

    def conditions(self, wanted):
        checker = condition_checker(self.specs_[self.high])
        for value in wanted.values():
            if value is not None:
                checker.range_bounds(value)  # a malformed condition fails now
        return {}, dict(wanted)

    def get_state(self):
        return {"name": self.name_, "reference": self.reference_,
                "step_low": self.step_low_, "step_high": self.step_high_}

    def set_state(self, state, specs):
        super().set_state(state, specs)
        self.name_, self.reference_ = state["name"], float(state["reference"])
        self.step_low_, self.step_high_ = float(state["step_low"]), float(state["step_high"])
        return self


class BoundRule(Rule):
    """``column >= bound`` (``above``) or ``column <= bound``, against a constant."""

    def __init__(self, source, column: str, bound: float, above: bool, strict: bool):
        super().__init__(source)
        self.column, self.bound, self.above, self.strict = column, float(bound), above, strict

    @property
    def columns(self):
        return (self.column,)

    def fit(self, frame, specs, taken):
        super().fit(frame, specs, taken)
        spec = self.specs_[self.column]
        if spec.kind in (ColumnKind.DATETIME, ColumnKind.IDENTIFIER):
            raise ConfigError(f"The {self.describe()} constraint compares {self.column!r} "
                              f"({spec.kind.value}) with a number; compare a datetime with "
                              f"another column, and leave identifiers out.")
        check_numeric(spec, frame[self.column], self.describe())
        self.step_ = grid_step(spec, numbers(spec, frame[self.column]))
        self._set_role()
        return self

    def _set_role(self) -> None:
        # Continuous columns are clipped on the way back; categories and constants only
        # ever take values the training rows held, which met the rule.
        continuous = self.specs_[self.column].kind is ColumnKind.CONTINUOUS
        self.modifies = (self.column,) if continuous else ()

    def violations(self, frame):
        values = numbers(self.specs_[self.column], frame[self.column])
        with np.errstate(invalid="ignore"):
            if self.above:
                return (values <= self.bound) if self.strict else (values < self.bound)
            return (values >= self.bound) if self.strict else (values > self.bound)

    def reverse(self, model, restored):
        if not self.modifies:
            return {}
        spec = self.specs_[self.column]
        values = numbers(spec, restored[self.column])
        snap = at_least if self.above else at_most
        values = snap(values, self.bound, self.step_, self.strict)
        return {self.column: from_numbers(spec, values, self.step_)}

    def check_condition(self, column, wanted):
        if wanted is None:
            return
        low, high = condition_checker(self.specs_[column]).range_bounds(wanted)
        outside = (high < self.bound or (self.strict and high <= self.bound)) if self.above \
            else (low > self.bound or (self.strict and low >= self.bound))
        if outside:
            raise ConfigError(f"The condition {column}={wanted!r} and the {self.describe()} "
                              f"constraint cannot both hold.")

    def get_state(self):
        return {"step": self.step_}

    def set_state(self, state, specs):
        super().set_state(state, specs)
        self.step_ = float(state["step"])
        self._set_role()
        return self


class IncrementRule(Rule):
    """Multiples of ``increment``: the column is modelled as whole numbers x / increment."""

    def __init__(self, source, column: str, increment: float):
        super().__init__(source)
        self.column, self.increment = column, float(increment)

    @property
    def columns(self):
        return (self.column,)

    def fit(self, frame, specs, taken):
        super().fit(frame, specs, taken)
        spec = self.specs_[self.column]
        if spec.kind not in (ColumnKind.CONTINUOUS, ColumnKind.CATEGORICAL,
                             ColumnKind.CONSTANT):
            raise ConfigError(f"The {self.describe()} constraint needs a numeric column; "
                              f"{self.column!r} is {spec.kind.value}.")
        check_numeric(spec, frame[self.column], self.describe())
        present = numbers(spec, frame[self.column])
        present = present[~np.isnan(present)]
        # the schema's public bounds where declared: the model file keeps no real extreme
        low = spec.min if spec.min is not None else present.min() if len(present) else None
        high = spec.max if spec.max is not None else present.max() if len(present) else None
        self.span_ = None if low is None or high is None else (float(low), float(high))
        self._set_role()
        return self

    def _set_role(self) -> None:
        continuous = self.specs_[self.column].kind is ColumnKind.CONTINUOUS
        self.consumes = (self.column,) if continuous else ()  # categories: values seen

    def produced(self):
        spec = self.specs_[self.column]
        return [ColumnSpec(name=self.column, kind=ColumnKind.CONTINUOUS, dtype="float64",
                           nullable=spec.nullable, integer=True, decimals=0)]

    def _multiples(self, frame) -> np.ndarray:
        return numbers(self.specs_[self.column], frame[self.column]) / self.increment

    def violations(self, frame):
        multiples = self._multiples(frame)
        with np.errstate(invalid="ignore"):
            return np.abs(multiples - np.round(multiples)) > 1e-6 * np.fmax(1, np.abs(multiples))

    def forward(self, frame):
        return {self.column: pd.Series(np.round(self._multiples(frame)))}

    def reverse(self, model, restored):
        values = np.round(np.asarray(model[self.column], dtype=np.float64)) * self.increment
        spec = self.specs_[self.column]
        return {self.column: from_numbers(spec, values, 0.0)}

    def conditions(self, wanted):
        value = wanted[self.column]
        if value is None:
            return {self.column: None}, {}
        low, high = condition_checker(self.specs_[self.column]).range_bounds(value)
        self._check_reach(low, high)
        k = self.increment
        low_m = math.ceil(low / k - 1e-9) if math.isfinite(low) else None
        high_m = math.floor(high / k + 1e-9) if math.isfinite(high) else None
        if low_m is not None and high_m is not None and low_m > high_m:
            raise ConfigError(f"The condition {self.column}={value!r} holds no multiple of "
                              f"{show(k)}; the condition and the {self.describe()} "
                              f"constraint cannot both hold.")
        return {self.column: (low_m, high_m)}, {}

    def _check_reach(self, low: float, high: float) -> None:
        """Refuse a range no training value lies in, in the column's units (the modelled
        column counts multiples: its own message would give those)."""
        span = getattr(self, "span_", None)
        if span is not None and (low > span[1] or high < span[0]):
            raise ConfigError(f"Column {self.column!r}: no training value lies in the asked "
                              f"range {show(low)}..{show(high)}; the model knows "
                              f"{show(span[0])}..{show(span[1])}.")

    def get_state(self):
        return {"span": None if self.span_ is None else list(self.span_)}

    def set_state(self, state, specs):
        super().set_state(state, specs)
        span = state.get("span")  # models saved before it have none
        self.span_ = None if span is None else (float(span[0]), float(span[1]))
        self._set_role()
        return self


UNIQUE_PII_KINDS = ("email", "url", "id_number")  # fakes unique when the real values are


class UniqueRule(Rule):
    """A unique column: regenerated as identifier values of its form (never copied)."""

    checked_when_sampling = False  # identifiers are unique across chunks and shards

    def __init__(self, source, column: str):
        super().__init__(source)
        self.column = column

    @property
    def columns(self):
        return (self.column,)

    def fit(self, frame, specs, taken):
        super().fit(frame, specs, taken)
        spec = self.specs_[self.column]
        values = frame[self.column].dropna()
        integer = pd.api.types.is_integer_dtype(values.dtype) or (
            pd.api.types.is_float_dtype(values.dtype)
            and bool(np.all(values.to_numpy() == np.round(values.to_numpy()))))
        text = values.dtype == object or isinstance(values.dtype, pd.CategoricalDtype)
        if spec.kind is ColumnKind.DATETIME or not (integer or text):
            raise ConfigError(f"The {self.describe()} constraint regenerates {self.column!r} "
                              f"as new unique values, which needs text or whole numbers; it "
                              f"holds {spec.kind.value} values of dtype {spec.dtype}.")
        self._check_pii(spec, values)
        self.integer_ = bool(integer and not text)
        self._set_role()
        return self

    def _check_pii(self, spec, values) -> None:
        """A personal-data column keeps its fake generator, which makes unique values only
        for e-mails, URLs and id numbers whose real values are unique: refuse the rest
        (a unique phone column came back with 17,601 repeats in 20,000 rows)."""
        if spec.pii is None or (spec.pii in UNIQUE_PII_KINDS and values.is_unique):
            return
        raise ConfigError(
            f"The {self.describe()} constraint cannot hold on {self.column!r}: it holds "
            f"personal data ({spec.pii}), replaced by fake values that may repeat (unique "
            f"only for {', '.join(UNIQUE_PII_KINDS)} columns whose real values are unique). "
            f"Declare it {{\"kind\": \"identifier\", \"pii\": null}} in the schema to "
            f"regenerate it as unique identifiers, or drop the constraint.")

    def _set_role(self) -> None:
        identifier = self.specs_[self.column].kind is ColumnKind.IDENTIFIER
        self.consumes = () if identifier else (self.column,)

    def produced(self):
        spec = self.specs_[self.column]
        return [ColumnSpec(name=self.column, kind=ColumnKind.IDENTIFIER, dtype=spec.dtype,
                           nullable=spec.nullable, integer=self.integer_)]

    def violations(self, frame):
        series = frame[self.column]
        return (series.notna() & series.duplicated(keep=False)).to_numpy()

    def forward(self, frame):
        return {self.column: frame[self.column]}

    def reverse(self, model, restored):
        return {self.column: model[self.column].reset_index(drop=True)}

    def conditions(self, wanted):
        raise ConfigError(f"Cannot condition on {self.column!r}: the {self.describe()} "
                          f"constraint regenerates it as new unique values.")

    def get_state(self):
        return {"integer": self.integer_}

    def set_state(self, state, specs):
        super().set_state(state, specs)
        self.integer_ = bool(state["integer"])
        self._set_role()
        return self


class FormulaRule(Rule):
    """``column = expression``: the column is not modelled; after sampling it is computed
    from the restored columns the expression reads and put on the column's grid (whole
    numbers, its decimals). Checked on sampled rows too: another rule (a bound) may move it
    after it is computed, and such rows are redrawn."""

    COMPUTED = (ColumnKind.CONTINUOUS, ColumnKind.CATEGORICAL, ColumnKind.CONSTANT)

    def __init__(self, source):
        super().__init__(source)
        self.column = source.column
        self.expression = parse_formula(source.expression, f"the {describe(source)} constraint")
        self.consumes, self.reads = (source.column,), self.expression.columns

    def make_check_only(self) -> None:
        raise ConfigError(f"The {self.describe()} constraint computes {self.column!r}, which "
                          f"a constraint declared before it already models; a computed "
                          f"column is not modelled: declare the formula first (the other "
                          f"rule is then checked on the computed values), or drop one.")

    def fit(self, frame, specs, taken):
        super().fit(frame, specs, taken)
        spec = self.specs_[self.column]
        dtype = model_dtype(spec.dtype) if spec.dtype else "float64"
        if spec.kind not in self.COMPUTED or not dtype.startswith(("int", "uint", "float")):
            what = spec.kind.value if spec.kind not in self.COMPUTED else f"dtype {dtype}"
            raise ConfigError(f"The {self.describe()} constraint computes {self.column!r}, "
                              f"which holds {what}; a formula computes a column of numbers "
                              f"(an int or float dtype).")
        for name in self.reads:
            if self.specs_[name].kind is ColumnKind.IDENTIFIER:
                raise ConfigError(f"The {self.describe()} constraint reads {name!r}, an "
                                  f"identifier (regenerated unique, not modelled); a formula "
                                  f"can read only modelled columns.")
        for name in self.columns:
            check_numeric(self.specs_[name], frame[name], self.describe())
        values = numbers(spec, frame[self.column])
        step = grid_step(spec, values)
        present = values[~np.isnan(values)]
        if step == 0 and len(present) and np.all(present == np.round(present)):
            step = 1.0  # a category column of whole numbers
        self.step_ = step
        return self

    def computed(self, frame) -> np.ndarray:
        """(rows,) the expression over ``frame``'s columns, on the column's grid; NaN where
        an input is missing or the result is not a finite number."""
        values = self.expression.evaluate(
            {name: numbers(self.specs_[name], frame[name]) for name in self.expression.columns})
        return on_grid(values, self.step_)

    def violations(self, frame):
        return ~agree(self.computed(frame), numbers(self.specs_[self.column],
                                                    frame[self.column]))

    def reverse(self, model, restored):
        frame = pd.DataFrame({name: restored[name] for name in self.expression.columns})
        return {self.column: from_numbers(self.specs_[self.column], self.computed(frame),
                                          self.step_)}

    def conditions(self, wanted):
        checker = self.condition_checker(self.column)
        for value in wanted.values():
            if value is not None:
                checker.contains(pd.Series([np.nan]), value)  # a malformed one fails now
        return {}, dict(wanted)

    def condition_checker(self, column):
        if self.specs_[column].kind is ColumnKind.CATEGORICAL:
            return NumberCategories(self.specs_[column])
        return super().condition_checker(column)

    def get_state(self):
        return {"step": self.step_}

    def set_state(self, state, specs):
        super().set_state(state, specs)
        self.step_ = float(state["step"])
        return self


class NumberCategories:
    """Conditions on a computed category column of numbers, as on any category column: one
    value, or a list (or set) of values any of which will do; ``None`` (alone or in the
    list) asks for a missing cell. The values a formula can give are not known in advance:
    one it never gives is found by the bounded redraws, not refused up front."""

    def __init__(self, spec: ColumnSpec):
        self.spec = spec

    def contains(self, series: pd.Series, wanted) -> np.ndarray:
        options = list(wanted) if isinstance(wanted, (list, set, frozenset)) else [wanted]
        present = [v for v in options if v is not None]
        asked = pd.to_numeric(pd.Series(present, dtype=object), errors="coerce")
        if asked.isna().any() or any(isinstance(v, bool) for v in present):
            raise ConfigError(f"Column {self.spec.name!r} holds numbers; the condition's "
                              f"value {wanted!r} is not one (or a list of them).")
        values = numbers(self.spec, series)
        found = np.isin(values, asked.to_numpy(np.float64))
        return found | np.isnan(values) if len(present) < len(options) else found


class PredicateRule(Rule):
    """A user function over rows; rows it refuses are redrawn."""

    on_output = True

    def __init__(self, source):
        super().__init__(source)

    @property
    def columns(self):
        return ()

    def violations(self, frame):
        try:
            allowed = self.source.function(frame)
        except Exception as exc:  # the user's code: say whose it is
            raise ConfigError(f"The predicate {self.source.name!r} raised "
                              f"{type(exc).__name__}: {exc}") from exc
        allowed = np.asarray(allowed)
        if allowed.shape != (len(frame),):
            raise ConfigError(f"The predicate {self.source.name!r} must return one bool per "
                              f"row ({len(frame)}); it returned shape {allowed.shape}.")
        return ~allowed.astype(bool)


# ----------------------------------------------------------------------------- expansion


def expand(constraint) -> list[Rule]:
    """The rules of one declared constraint."""
    if isinstance(constraint, d.FixedCombinations):
        return [CombinationRule(constraint, constraint.columns)]
    if isinstance(constraint, d.OneHot):
        return [OneHotRule(constraint, constraint.columns)]
    if isinstance(constraint, d.Inequality):
        return _inequality(constraint, constraint.low, constraint.high, constraint.strict)
    if isinstance(constraint, d.Range):
        return _range(constraint)
    if isinstance(constraint, (d.Positive, d.Negative)):
        return [BoundRule(constraint, constraint.column, 0.0,
                          isinstance(constraint, d.Positive), constraint.strict)]
    if isinstance(constraint, d.FixedIncrements):
        return [IncrementRule(constraint, constraint.column, constraint.increment)]
    if isinstance(constraint, d.Unique):
        return [UniqueRule(constraint, constraint.column)]
    if isinstance(constraint, d.Formula):
        return [FormulaRule(constraint)]
    if isinstance(constraint, d.Predicate):
        return [PredicateRule(constraint)]
    raise ConfigError(f"Unknown constraint {constraint!r}.")


def _inequality(source, low, high, strict: bool) -> list[Rule]:
    if isinstance(low, str) and isinstance(high, str):
        return [DifferenceRule(source, low, high, strict)]
    if isinstance(high, str):
        return [BoundRule(source, high, low, True, strict)]
    return [BoundRule(source, low, high, False, strict)]


def _range(source: d.Range) -> list[Rule]:
    low, middle, high = source.low, source.middle, source.high
    rules = _inequality(source, low, middle, source.strict) + \
        _inequality(source, middle, high, source.strict)
    if isinstance(low, str) and not isinstance(high, str):  # low <= high too
        rules.append(BoundRule(source, low, high, False, False))
    if isinstance(high, str) and not isinstance(low, str):
        rules.append(BoundRule(source, high, low, True, False))
    return rules


def describe(constraint) -> str:
    """A constraint as a user would write it, for messages."""
    if isinstance(constraint, (d.FixedCombinations, d.OneHot)):
        return f"{constraint.kind} {list(constraint.columns)}"
    if isinstance(constraint, d.Inequality):
        sign = "<" if constraint.strict else "<="
        return f"{_side(constraint.low)} {sign} {_side(constraint.high)}"
    if isinstance(constraint, d.Range):
        sign = "<" if constraint.strict else "<="
        return f"{_side(constraint.low)} {sign} {constraint.middle} {sign} " \
               f"{_side(constraint.high)}"
    if isinstance(constraint, (d.Positive, d.Negative)):
        sign = (">" if constraint.strict else ">=") if isinstance(constraint, d.Positive) \
            else ("<" if constraint.strict else "<=")
        return f"{constraint.column} {sign} 0"
    if isinstance(constraint, d.FixedIncrements):
        return f"{constraint.column} in multiples of {show(float(constraint.increment))}"
    if isinstance(constraint, d.Unique):
        return f"unique {constraint.column}"
    if isinstance(constraint, d.Formula):
        return f"{constraint.column} = {constraint.expression}"
    if isinstance(constraint, d.Predicate):
        return f"predicate {constraint.name!r}"
    return repr(constraint)


def _side(value) -> str:
    return value if isinstance(value, str) else show(float(value))

"""The constraint layer: the table as the user has it <-> the table the model learns.

``ConstraintLayer(constraints).fit(df, schema)`` checks every constraint on the real rows
(a rule they break is a :class:`DataError` naming rows), fits the rules
(:mod:`synthvae.constraints.rules`) and describes the modelled table (``model_schema_``).
:meth:`transform` gives the modelled frame the table transformer learns; :meth:`output`
takes the table transformer's decoded frame back to the user's columns and dtypes and says
which rows meet every rule (by construction all of them, except for predicates and for
conditions on a column modelled through another one). Conditions are mapped onto the
modelled columns by :meth:`split_conditions`.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd

from synthvae.conditions import refuse_empty_cell
from synthvae.constraints.columns import condition_checker
from synthvae.constraints.declared import Predicate, parse_constraints, to_dict
from synthvae.constraints.rules import Rule, describe, expand
from synthvae.errors import (ConfigError, DataError, ModelFileError, SchemaError,
                             SynthvaeWarning)
from synthvae.frames import model_frame, restore_frame
from synthvae.schema import ColumnKind, Schema

MAX_LISTED_ROWS = 5  # rows named in a "the data breaks the rule" error


class PredicateNotSavedWarning(SynthvaeWarning):
    """A model was saved with a Python predicate, which must be passed again at load."""


class ConstraintLayer:
    """Reversible column changes that make every sampled row meet the constraints."""

    def __init__(self, constraints=()):
        self.constraints = constraints

    # ------------------------------------------------------------------ fit
    def fit(self, df: pd.DataFrame, schema: Schema) -> "ConstraintLayer":
        """Check the constraints against ``schema`` and the rows of ``df``; learn the rules."""
        self.declared_ = parse_constraints(self.constraints)
        self.schema_ = schema
        self.rules_ = self._build_rules()
        frame = model_frame(df)
        taken = set(schema.names)
        for rule in self.rules_:
            rule.fit(frame, self._specs(), taken)
        self._finish()
        self.check(df, frame)
        return self

    def _specs(self) -> dict:
        return {c.name: c for c in self.schema_.columns}

    def _build_rules(self) -> list[Rule]:
        rules = [rule for constraint in self.declared_ for rule in expand(constraint)]
        names = set(self.schema_.names)
        for constraint, rule in ((r.source, r) for r in rules):
            missing = [c for c in rule.columns if c not in names]
            if missing:
                raise ConfigError(f"The {describe(constraint)} constraint names column "
                                  f"{missing[0]!r}, which the table does not have; its columns "
                                  f"are {self.schema_.names}.")
        return rules

    def _finish(self) -> None:
        """Who replaces which column, the order of the way back, the modelled schema."""
        self.consumer_ = {}
        for rule in self.rules_:
            if any(name in self.consumer_ for name in rule.consumes):
                rule.make_check_only()  # a column is modelled through an earlier rule
            for name in rule.consumes:
                self.consumer_[name] = rule
        self.order_ = [rule for rule in _reverse_order(self.rules_) if not rule.check_only]
        self.model_schema_ = self._model_schema()

    def _model_schema(self) -> Schema:
        columns, placed = [], set()
        for spec in self.schema_.columns:
            rule = self.consumer_.get(spec.name)
            if rule is None:
                columns.append(spec)
            elif id(rule) not in placed:
                placed.add(id(rule))
                columns.extend(rule.produced())
        return Schema(columns=tuple(columns))

    def check(self, df: pd.DataFrame, frame: pd.DataFrame | None = None,
              learned: bool = True, where: str = "The training data") -> None:
        """Raise DataError naming the rows of ``df`` that break a constraint. ``learned=False``
        skips rules whose allowed values were learned from rows (a streamed row group may
        hold a combination the reservoir sample did not)."""
        frame = model_frame(df) if frame is None else frame
        for rule in self.rules_:
            if rule.learned_domain and not learned:
                continue
            broken = rule.violations(df if rule.on_output else frame)
            if broken.any():
                raise DataError(_broken_message(rule, df, np.flatnonzero(broken), where))

    # ------------------------------------------------------------------ transform
    @property
    def active(self) -> bool:
        return bool(getattr(self, "rules_", []))

    def transform(self, df: pd.DataFrame) -> pd.DataFrame:
        """The modelled frame of ``df`` (the user's columns)."""
        if not self.active:
            return df
        frame = model_frame(df)
        produced: dict = {}
        for rule in self.rules_:
            if not rule.check_only:
                produced.update(rule.forward(frame))
        columns = {}
        for spec in self.model_schema_.columns:
            source = produced[spec.name] if spec.name in produced else frame[spec.name]
            columns[spec.name] = pd.Series(np.asarray(source), index=frame.index) \
                if not isinstance(source, pd.Series) else source.set_axis(frame.index)
        return pd.DataFrame(columns, index=frame.index)

    def reverse(self, model: pd.DataFrame) -> pd.DataFrame:
        """The user's columns (model dtypes) from a decoded modelled frame."""
        if not self.active:
            return model
        model = model.reset_index(drop=True)
        restored = {name: model[name] for name in self.schema_.names
                    if name not in self.consumer_}
        for rule in self.order_:
            restored.update(rule.reverse(model, restored))
        return pd.DataFrame({name: restored[name] for name in self.schema_.names})

    def output(self, model: pd.DataFrame, residual=()) -> tuple[pd.DataFrame, np.ndarray]:
        """(the user's rows with their dtypes, which rows meet every rule and residual
        condition) from a decoded modelled frame."""
        original = self.reverse(model)
        bad = np.zeros(len(original), dtype=bool)
        for rule in self.rules_:
            if rule.checked_when_sampling and not rule.on_output:
                bad |= rule.violations(original)
        for name, checker, wanted in residual:
            bad |= ~checker.contains(original[name], wanted)
        final = restore_frame(original, self.schema_)
        for rule in self.rules_:
            if rule.on_output:
                bad |= rule.violations(final)
        return final, ~bad

    def streamed(self, transformer, where: str) -> "StreamedEncoder":
        """The encoder of a streamed fit's row groups (see :class:`StreamedEncoder`)."""
        return StreamedEncoder(self, transformer, where)

    @property
    def id_columns(self) -> list[str]:
        """Columns numbered by row (identifiers): kept in place when rows are redrawn."""
        schema = self.model_schema_ if self.active else self.schema_
        return [c.name for c in schema.columns if c.kind is ColumnKind.IDENTIFIER]

    @property
    def redraws(self) -> bool:
        """Whether sampled rows may fail a check (predicates, rounding at bounds)."""
        return any(rule.checked_when_sampling for rule in getattr(self, "rules_", []))

    # ------------------------------------------------------------------ conditions
    def split_conditions(self, conditions) -> tuple[dict, list]:
        """(conditions on the modelled columns, residual checks ``(column, checker,
        wanted)`` applied to the restored rows)."""
        if not self.active or not isinstance(conditions, dict):
            return conditions, []
        model, residual, groups = {}, [], {}
        modifiers = {}
        for rule in self.rules_:
            for name in rule.modifies:
                modifiers.setdefault(name, []).append(rule)
        specs = self._specs()
        for name, wanted in conditions.items():
            rule = self.consumer_.get(name)
            if rule is not None:
                # rows are checked after the draw: a list's other values may meet it
                refuse_empty_cell(specs[name], wanted, in_lists=False)
                groups.setdefault(id(rule), (rule, {}))[1][name] = wanted
                continue
            for modifier in modifiers.get(name, []):
                modifier.check_condition(name, wanted)
                residual.append((name, condition_checker(specs[name]), wanted))
            model[name] = wanted
        for rule, wanted in groups.values():
            mapped, left = rule.conditions(wanted)
            model.update(mapped)
            residual += [(name, rule.condition_checker(name), value)
                         for name, value in left.items()]
        return model, residual

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict:
        declared = []
        for constraint in self.declared_:
            if isinstance(constraint, Predicate):
                warnings.warn(f"The predicate constraint {constraint.name!r} is Python code and "
                              f"is not saved; pass it again when loading: Synthesizer.load(path, "
                              f"predicates={{{constraint.name!r}: function}}).",
                              PredicateNotSavedWarning, stacklevel=4)
                declared.append({"kind": "predicate", "name": constraint.name})
            else:
                declared.append(to_dict(constraint))
        return {"constraints": declared, "rules": [rule.get_state() for rule in self.rules_]}

    @classmethod
    def from_state(cls, state: dict | None, schema: Schema, predicates: dict | None = None,
                   where: str = "the model file") -> "ConstraintLayer":
        """The fitted layer a model file describes; predicates come from ``predicates``."""
        predicates = {} if predicates is None else predicates
        declared = [_saved_predicate(item, predicates, where)
                    if isinstance(item, dict) and item.get("kind") == "predicate" else item
                    for item in (state or {}).get("constraints", [])]
        layer = cls(declared)
        try:
            layer.declared_ = parse_constraints(declared)
            layer.schema_ = schema
            layer.rules_ = layer._build_rules()
        except (ConfigError, SchemaError) as exc:  # the file was altered: it is the file's fault
            raise ModelFileError(f"{where} has an invalid constraint: {exc}") from None
        saved = (state or {}).get("rules", [])
        if len(saved) != len(layer.rules_):
            raise ModelFileError(f"{where} has constraint states that do not match its "
                                 f"constraints.")
        for rule, rule_state in zip(layer.rules_, saved):
            rule.set_state(rule_state, layer._specs())
        layer._finish()
        extra = sorted(set(predicates) - {c.name for c in layer.declared_
                                                if isinstance(c, Predicate)})
        if extra:
            raise ConfigError(f"predicates names {extra}, which {where} was not fitted with.")
        return layer

    def combination_values(self) -> dict[str, list]:
        """The values each column a fixed-combinations rule models takes (its only values)."""
        return {name: list(values) for rule in self.rules_
                for name, values in (getattr(rule, "table_", None) or {}).items()}

    @classmethod
    def none(cls, schema: Schema) -> "ConstraintLayer":
        """The layer of a model without constraints."""
        layer = cls(())
        layer.declared_, layer.schema_, layer.rules_ = (), schema, []
        layer._finish()
        return layer


class StreamedEncoder:
    """A streamed fit's row groups -> encoded rows, through the constraints first. A row
    group that breaks a constraint is an error; a combination the reservoir sample did not
    hold encodes like an unseen category (as in any streamed fit)."""

    def __init__(self, layer: ConstraintLayer, transformer, where: str):
        self.layer, self.transformer, self.where = layer, transformer, where

    def transform(self, df: pd.DataFrame, seed: int | None = None) -> np.ndarray:
        df = df.reset_index(drop=True)
        self.layer.check(df, learned=False, where=f"A row group of {self.where!r}")
        return self.transformer.transform(self.layer.transform(df), seed=seed)


def _saved_predicate(item: dict, predicates: dict, where: str) -> Predicate:
    name = item.get("name")
    if name not in predicates:
        raise ConfigError(f"{where} was fitted with the predicate constraint {name!r}, which is "
                          f"Python code and was not saved; pass it again: "
                          f"Synthesizer.load(path, predicates={{{name!r}: function}}).")
    return Predicate(predicates[name], name)


def _reverse_order(rules: list[Rule]) -> list[Rule]:
    """The rules in an order where every column a rule reads or modifies is restored by its
    consumer first, and modified before it is read (Kahn's algorithm, declaration order)."""
    consumer = {name: i for i, rule in enumerate(rules) for name in rule.consumes}
    before = {i: set() for i in range(len(rules))}
    for i, rule in enumerate(rules):
        for name in rule.reads + rule.modifies:
            if name in consumer and consumer[name] != i:
                before[i].add(consumer[name])
        for name in rule.reads:
            before[i] |= {j for j, other in enumerate(rules) if name in other.modifies and j != i}
    order, done = [], set()
    while len(order) < len(rules):
        ready = [i for i in range(len(rules)) if i not in done and before[i] <= done]
        if not ready:
            left = [rules[i].describe() for i in range(len(rules)) if i not in done]
            raise ConfigError(f"The constraints {left} depend on each other in a cycle; drop "
                              f"one of them.")
        order.append(ready[0])
        done.add(ready[0])
    return [rules[i] for i in order]


def _broken_message(rule: Rule, df: pd.DataFrame, rows: np.ndarray, where: str) -> str:
    shown = ", ".join(str(int(r)) for r in rows[:MAX_LISTED_ROWS])
    more = f" and {len(rows) - MAX_LISTED_ROWS} more" if len(rows) > MAX_LISTED_ROWS else ""
    columns = [c for c in rule.columns if c in df.columns]
    example = ", ".join(f"{c}={_scalar(df[c].iloc[rows[0]])!r}" for c in columns)
    example = f"; row {int(rows[0])} holds {example}" if example else ""
    noun = "row" if len(rows) == 1 else "rows"
    return (f"{where} breaks the {rule.describe()} constraint in {len(rows):,} {noun}: "
            f"{shown}{more} (0-based row numbers){example}. Fix or drop those rows, or drop "
            f"the constraint.")


def _scalar(value):
    return value.item() if isinstance(value, np.generic) else value


def without_constraints(schema: Schema) -> Schema:
    """``schema`` with no constraints (the layer owns them)."""
    return dataclasses.replace(schema, constraints=()) if schema.constraints else schema

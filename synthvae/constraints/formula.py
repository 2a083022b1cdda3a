"""Arithmetic formulas over a table's columns, parsed into a small safe expression tree.

A formula constraint (``{"kind": "formula", "column": "total", "expression": "price *
quantity"}``) names a column computed from others. Its expression is text that a model file
stores, so it is never handed to ``eval``: :func:`parse` reads it with Python's ``ast`` and
accepts only

- numbers, and column names (a name that is not a Python identifier goes in backticks:
  ``` `education-num` + 1 ```, as in ``DataFrame.eval``);
- ``+ - * / // % **``, unary ``-`` and ``+``, parentheses;
- the functions in :data:`FUNCTIONS` (``abs``, ``round``, ``floor``, ``ceil``, ``sqrt``,
  ``log``, ``exp``, ``min``, ``max``), called with positional arguments.

Anything else (attributes, subscripts, comparisons, keywords, other names of functions) is a
``ConfigError`` naming what was found. :meth:`Expression.evaluate` computes the expression over
whole columns with NumPy (float64, vectorized); a result that is not finite (a division by
zero, the log of a negative number, a missing input) is NaN, a missing value.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from synthvae.errors import ConfigError

FUNCTIONS: dict[str, tuple[Callable, int, int | None]] = {  # name: (numpy, min, max args)
    "abs": (np.abs, 1, 1),
    "round": (lambda x, digits=0.0: np.round(x, int(digits)), 1, 2),
    "floor": (np.floor, 1, 1),
    "ceil": (np.ceil, 1, 1),
    "sqrt": (np.sqrt, 1, 1),
    "log": (np.log, 1, 1),
    "exp": (np.exp, 1, 1),
    "min": (lambda *xs: np.minimum.reduce(np.broadcast_arrays(*xs)), 2, None),
    "max": (lambda *xs: np.maximum.reduce(np.broadcast_arrays(*xs)), 2, None),
}
OPERATORS: dict[type, Callable] = {
    ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.true_divide,
    ast.FloorDiv: np.floor_divide, ast.Mod: np.mod, ast.Pow: np.power,
}
SIGNS: dict[type, Callable] = {ast.USub: np.negative, ast.UAdd: np.positive}
MAX_LENGTH = 2_000  # characters: a formula is a line of arithmetic, not a program
MAX_DEPTH = 100  # nested operations: evaluation recursion stays bounded whoever calls it
MAX_DIGITS = 15  # round(x, digits): float64 holds about 15 significant decimals
TOLERANCE = 1e-9  # relative: a value this close to a formula's holds it
_QUOTED = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Expression:
    """A parsed formula: its tree and the columns it reads (in order of appearance)."""

    text: str
    tree: ast.expr
    columns: tuple[str, ...]

    def evaluate(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """The expression over ``columns`` (float64 arrays of one length); NaN where the
        result is not a finite number."""
        with np.errstate(all="ignore"):
            result = np.asarray(_evaluate(self.tree, columns), dtype=np.float64)
        length = len(next(iter(columns.values()))) if columns else 1
        result = np.broadcast_to(result, (length,)).copy()
        result[~np.isfinite(result)] = np.nan
        return result


def agree(expected: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Where ``actual`` holds ``expected`` (broadcasting): equal to a relative
    ``TOLERANCE``, or both missing; a value where the other is missing disagrees."""
    with np.errstate(invalid="ignore"):
        near = np.abs(actual - expected) <= TOLERANCE * np.fmax(1.0, np.abs(expected))
    return near | (np.isnan(actual) & np.isnan(expected))


def parse(text: str, where: str) -> Expression:
    """``text`` as an :class:`Expression`; ``where`` names the constraint in error messages."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"The 'expression' of {where} must be a non-empty formula such as "
                          f"'price * quantity'. Got {text!r} instead.")
    names: dict[str, str] = {}
    prefix = "__column_"
    while prefix in text:  # placeholders no column name in the text can equal
        prefix += "_"

    def placeholder(match: re.Match) -> str:
        token = f"{prefix}{len(names)}"
        names[token] = match.group(1)
        return f" {token} "  # spaced: two quoted names in a row are not one name

    if len(text) > MAX_LENGTH:
        raise ConfigError(f"The expression of {where} has {len(text):,} characters; a formula "
                          f"has at most {MAX_LENGTH:,}.")
    source = _QUOTED.sub(placeholder, text)
    columns: list[str] = []
    try:
        tree = ast.parse(source.strip(), mode="eval").body
        _check(tree, names, columns, text, where, depth=0)
    except SyntaxError:
        raise ConfigError(f"The expression {text!r} of {where} is not a formula (numbers, "
                          f"column names, + - * / // % ** and the functions "
                          f"{sorted(FUNCTIONS)}).") from None
    except RecursionError:
        raise ConfigError(f"The expression of {where} nests too deeply to be a formula (at "
                          f"most {MAX_DEPTH} levels).") from None
    return Expression(text=text, tree=_renamed(tree, names), columns=tuple(dict.fromkeys(columns)))


def _check(node: ast.AST, names: dict, columns: list, text: str, where: str,
           depth: int) -> None:
    """Refuse every node outside the grammar; collect the column names read."""
    if depth > MAX_DEPTH:
        raise RecursionError  # reported by parse, like the parser's own limit
    if isinstance(node, ast.Constant):
        _check_constant(node.value, text, where)
        return
    if isinstance(node, ast.Name):
        columns.append(names.get(node.id, node.id))
        return
    if isinstance(node, ast.BinOp) and type(node.op) in OPERATORS:
        _check(node.left, names, columns, text, where, depth + 1)
        _check(node.right, names, columns, text, where, depth + 1)
        return
    if isinstance(node, ast.UnaryOp) and type(node.op) in SIGNS:
        _check(node.operand, names, columns, text, where, depth + 1)
        return
    if isinstance(node, ast.Call):
        _check_call(node, names, columns, text, where, depth + 1)
        return
    raise _refused(_what(node), text, where)


def _check_constant(value, text: str, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _refused(f"the constant {value!r}", text, where)
    try:
        finite = np.isfinite(float(value))
    except OverflowError:
        finite = False
    if not finite:
        raise ConfigError(f"The expression {text!r} of {where} holds a number too large for "
                          f"a float64.")


def _check_call(node: ast.Call, names: dict, columns: list, text: str, where: str,
                depth: int) -> None:
    name = node.func.id if isinstance(node.func, ast.Name) else None
    if name not in FUNCTIONS:
        raise _refused(f"a call of {ast.unparse(node.func)!r}", text, where)
    if node.keywords:
        raise _refused(f"keyword arguments to {name}()", text, where)
    _, fewest, most = FUNCTIONS[name]
    count = len(node.args)
    if count < fewest or (most is not None and count > most):
        wanted = f"{fewest}" if fewest == most else \
            f"{fewest} to {most}" if most is not None else f"at least {fewest}"
        raise ConfigError(f"The expression {text!r} of {where} calls {name}() with {count} "
                          f"argument(s); it takes {wanted}.")
    if name == "round" and count == 2 and not (
            isinstance(node.args[1], ast.Constant) and type(node.args[1].value) is int
            and 0 <= node.args[1].value <= MAX_DIGITS):
        raise ConfigError(f"The expression {text!r} of {where}: round()'s digits must be a "
                          f"whole number from 0 to {MAX_DIGITS}, not "
                          f"{ast.unparse(node.args[1])!r}.")
    for argument in node.args:
        _check(argument, names, columns, text, where, depth)


def _what(node: ast.AST) -> str:
    kinds = {ast.Attribute: "an attribute", ast.Subscript: "a subscript",
             ast.Compare: "a comparison", ast.BoolOp: "'and' / 'or'",
             ast.IfExp: "'if ... else'", ast.Lambda: "a lambda", ast.Starred: "a star"}
    kind = next((label for cls, label in kinds.items() if isinstance(node, cls)),
                f"{type(node).__name__}")
    return f"{kind} ({ast.unparse(node)!r})"


def _refused(what: str, text: str, where: str) -> ConfigError:
    return ConfigError(f"The expression {text!r} of {where} holds {what}; a formula takes "
                       f"numbers, column names (in backticks when not plain names), "
                       f"+ - * / // % ** and the functions {sorted(FUNCTIONS)}.")


def _renamed(tree: ast.expr, names: dict) -> ast.expr:
    """The tree with backtick placeholders replaced by the column names they stand for."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in names:
            node.id = names[node.id]
    return tree


def _evaluate(node: ast.expr, columns: Mapping[str, np.ndarray]):
    if isinstance(node, ast.Constant):
        return float(node.value)
    if isinstance(node, ast.Name):
        return columns[node.id]
    if isinstance(node, ast.BinOp):
        return OPERATORS[type(node.op)](_evaluate(node.left, columns),
                                        _evaluate(node.right, columns))
    if isinstance(node, ast.UnaryOp):
        return SIGNS[type(node.op)](_evaluate(node.operand, columns))
    function = FUNCTIONS[node.func.id][0]
    return function(*(_evaluate(argument, columns) for argument in node.args))

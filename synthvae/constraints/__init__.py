"""Constraints: business rules every sampled row meets (see docs/constraints.md).

Declare them in Python (``Synthesizer(constraints=[FixedCombinations(["a", "b"])])`` or
plain dicts) or in the schema JSON (a top-level ``"constraints"`` list). The layer
(:mod:`synthvae.constraints.layer`) transforms the table before the column transformers and
reverses it after sampling, so that most rules hold by construction.
"""

from synthvae.constraints.declared import (FixedCombinations, FixedIncrements, Formula,
                                           Inequality, Negative, OneHot, Positive, Predicate,
                                           Range, Unique, parse_constraint, parse_constraints,
                                           to_dict)
from synthvae.constraints.layer import ConstraintLayer, PredicateNotSavedWarning

__all__ = ["FixedCombinations", "FixedIncrements", "Formula", "Inequality", "Negative",
           "OneHot", "Positive", "Predicate", "Range", "Unique", "ConstraintLayer",
           "PredicateNotSavedWarning", "parse_constraint", "parse_constraints", "to_dict"]

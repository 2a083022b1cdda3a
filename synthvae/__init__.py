"""synthvae: private tables in, statistically faithful synthetic tables out."""

from synthvae.constraints import (FixedCombinations, FixedIncrements, Formula, Inequality,
                                  Negative, OneHot, Positive, Predicate, Range, Unique)
from synthvae.errors import (ConfigError, DataError, DetectionWarning, ModelFileError,
                             NotFittedError, PosteriorCollapseWarning, PostTrainingError,
                             PostTrainingWarning, SchemaError, SynthvaeError, SynthvaeWarning,
                             TrainingError, UnseenCombinationWarning, ZeroProbabilityWarning)
from synthvae.schema import ColumnKind, ColumnSpec, Schema, detect_schema
from synthvae.synthesizer import Synthesizer
from synthvae.version import __version__


def evaluate(real, synthetic, holdout=None, target=None, schema=None, **options):
    """Fidelity and privacy report of ``synthetic`` against ``real`` (see docs/reports.md).

    A thin alias of :func:`synthvae.reports.evaluate`, imported on first use so that
    ``import synthvae`` does not load sdmetrics.
    """
    from synthvae.reports import evaluate as _evaluate

    return _evaluate(real, synthetic, holdout=holdout, target=target, schema=schema, **options)

__all__ = ["Synthesizer", "evaluate", "Schema", "ColumnSpec", "ColumnKind", "detect_schema",
           "FixedCombinations", "FixedIncrements", "Formula", "Inequality", "Negative",
           "OneHot", "Positive", "Predicate", "Range", "Unique",
           "SynthvaeError", "ConfigError", "DataError", "SchemaError", "NotFittedError",
           "ModelFileError", "TrainingError", "SynthvaeWarning", "DetectionWarning",
           "PosteriorCollapseWarning",
           "PostTrainingError", "PostTrainingWarning", "UnseenCombinationWarning",
           "ZeroProbabilityWarning", "__version__"]

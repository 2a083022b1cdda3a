"""synthvae: private tables in, statistically faithful synthetic tables out."""

from synthvae.errors import (ConfigError, DataError, ModelFileError, NotFittedError,
                             SchemaError, SynthvaeError, TrainingError)
from synthvae.schema import ColumnKind, ColumnSpec, Schema, detect_schema
from synthvae.synthesizer import Synthesizer

__version__ = "0.1.0"

__all__ = ["Synthesizer", "Schema", "ColumnSpec", "ColumnKind", "detect_schema",
           "SynthvaeError", "ConfigError", "DataError", "SchemaError", "NotFittedError",
           "ModelFileError", "TrainingError", "__version__"]

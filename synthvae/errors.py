"""The one exception family of synthvae.

Every error a user can cause derives from :class:`SynthvaeError`, so the CLI can turn any of
them into a one-line message and a non-zero exit code without catching programming errors.
"""


class SynthvaeError(Exception):
    """Base class of every error synthvae raises on purpose."""


class ConfigError(SynthvaeError, ValueError):
    """A parameter has an invalid value ("The 'epochs' parameter ... Got -3 instead.")."""


class DataError(SynthvaeError, ValueError):
    """The input table cannot be used: empty, unreadable, or a column has invalid values."""


class SchemaError(SynthvaeError, ValueError):
    """A schema is invalid or does not match the table it is used with."""


class NotFittedError(SynthvaeError, AttributeError):
    """A method that needs a fitted object was called before ``fit``."""


class ModelFileError(SynthvaeError):
    """A saved model is missing, corrupt, foreign, or of an unsupported format version."""


class TrainingError(SynthvaeError, RuntimeError):
    """Training diverged (NaN or infinite loss) or could not proceed."""


class PostTrainingError(TrainingError):
    """Training finished but a step the model cannot do without (the latent prior) failed;
    nothing was fitted (see synthvae/fitting.py)."""


class SynthvaeWarning(UserWarning):
    """Base class of every warning synthvae issues on purpose."""


class PosteriorCollapseWarning(SynthvaeWarning):
    """The fitted encoder's latents carry almost no information about the rows."""


class DetectionWarning(SynthvaeWarning):
    """A column was detected as one kind where a small change to the input would let it be
    modelled better (dates beside a few words such as 'unknown')."""


class PostTrainingWarning(SynthvaeWarning):
    """A step after training that the model can do without (calibration, drift profile,
    diagnostics) failed; the fit succeeded without it (see synthvae/fitting.py)."""


class ZeroProbabilityWarning(SynthvaeWarning):
    """Rows given to score or drift hold a value the model gives probability zero (a value
    no training row held in a column modelled value by value, another value in a constant
    column, an empty cell in a number, datetime or constant column that had none); they
    score -inf."""


class UnseenCombinationWarning(SynthvaeWarning):
    """Conditions ask for two values that no training row holds together (a pair the
    sampler never draws unasked, ``Synthesizer.excluded_pairs()``); the rows hold them as
    asked, but follow a combination the model never saw (see synthvae/conditions.py)."""

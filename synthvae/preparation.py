"""Before training: the rows checked, the schema, constraints and column transforms
learned, the table encoded.

Three ways to the encoded matrix: learned from the rows (:func:`learn_transformer`), as an
interrupted fit's checkpoint left them (resume), or under differential privacy
(:func:`prepare_private`): from a public schema plus DP releases of what it does not give,
each charged to the privacy ledger, with the DP-SGD budget planned from what is left.

Between the table and the transformer sits the constraints layer
(:mod:`synthvae.constraints`): the transformer learns and encodes the *modelled* frame,
the table as the constraints transform it (a fixed combination becomes one categorical
column, ``a <= b`` models ``b - a``, ...). Under DP constraints are refused.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from synthvae.constraints import ConstraintLayer, parse_constraints
from synthvae.constraints.layer import without_constraints
from synthvae.devices import available_memory
from synthvae.errors import ConfigError, DataError
from synthvae.frames import as_pandas, model_frame
from synthvae.schema import Schema, detect_schema, schema_from_any
from synthvae.transforms.table import TableTransformer


def check_frame(df, method: str = "fit") -> pd.DataFrame:
    """``df`` (pandas, PyArrow or Polars) as a pandas DataFrame with a fresh index."""
    df = as_pandas(df, f"Synthesizer.{method}")
    if len(df.columns) == 0:
        raise DataError("The table has no columns.")
    if len(df) == 0:
        raise DataError("The table has no rows; there is nothing to learn from." if
                        method == "fit" else f"Synthesizer.{method}: the table has no rows "
                        f"to read.")
    return df.reset_index(drop=True)


def check_memory(n_rows: int, width: int, device: torch.device) -> None:
    """Refuse, before allocating, a table whose encoded copies would not fit in memory.

    Fitting holds the encoded float32 matrix about three times at once (NumPy, the device
    tensor, its training split); on a GPU two of them live on the device.
    """
    needed = 3 * n_rows * width * 4
    available = available_memory(device)
    if available is not None and needed > 0.8 * available:
        raise DataError(
            f"The encoded table needs about {needed / 2**30:.1f} GiB ({n_rows:,} rows x "
            f"{width:,} encoded columns x 4 bytes x 3 copies) but only "
            f"{available / 2**30:.1f} GiB is free on {device}; fit on a random sample of rows, "
            f"or lower max_categories to narrow the encoding.")


@dataclass(frozen=True)
class LearnedTable:
    """What a fit learns of the table before training (``modelled``: ``df`` as the
    constraints transform it, the frame the transformer encodes)."""

    schema: Schema
    constraints: ConstraintLayer
    transformer: TableTransformer
    modelled: pd.DataFrame


def learn_transformer(params, df: pd.DataFrame, seed: int, saved,
                      overrides: Schema | None = None) -> LearnedTable:
    """Schema, constraints layer and table transformer: learned from ``df``, or as a
    checkpoint's (state, tensors) ``saved`` left them (the constraints are refitted: they
    depend on the rows alone); the schema's ``"constraints"`` add to ``params.constraints``.
    ``overrides`` replaces ``params.schema`` when given (a streamed fit's, completed from
    its whole pass over the rows).
    """
    overrides = overrides if overrides is not None else schema_from_any(params.schema)
    detected = Schema.from_dict(saved[0]["schema"]) if saved is not None else \
        detect_schema(df, params.categorical_threshold, overrides)
    schema = without_constraints(detected)
    declared = (overrides.constraints if overrides is not None else ()) + \
        parse_constraints(params.constraints)
    constraints = ConstraintLayer(declared).fit(df, schema)
    modelled = constraints.transform(df)
    if saved is not None:
        transformer = TableTransformer.from_state(constraints.model_schema_,
                                                  saved[0]["transformer"])
    else:
        transformer = TableTransformer(constraints.model_schema_, params.mixture_max_rows,
                                       params.max_categories, seed, params.discrete_threshold,
                                       params.skew_threshold,
                                       params.min_mode_rows,
                                       params.tail_share).fit(modelled)
    return LearnedTable(schema, constraints, transformer, modelled)


@dataclass(frozen=True)
class PrivatePreparation:
    """What a DP fit learns before training; ``privacy`` is the ledger as JSON."""

    schema: Schema
    constraints: ConstraintLayer  # none: refused under DP
    transformer: TableTransformer
    matrix: np.ndarray  # (rows, width) encoded rows
    dp_config: object  # synthvae.privacy.DPConfig
    sgd_plan: object  # synthvae.privacy.SGDPlan
    privacy: dict
    slot_frequencies: np.ndarray | None  # released for calibration; None when not asked


def prepare_private(params, df: pd.DataFrame, seed: int, epochs: int, batch_size: int
                    ) -> PrivatePreparation:
    """DP schema, transformer and budget plan for ``epochs`` of ``batch_size`` rows; every
    release (bounds, categories, mode histograms, calibration frequencies, DP-SGD) is
    charged to the ledger.
    Constraints are refused: what they learn from the rows would be releases."""
    from synthvae import privacy

    delta = params.delta if params.delta is not None else privacy.default_delta(len(df))
    dp_config = privacy.DPConfig(
        epsilon=float(params.epsilon), delta=float(delta),
        max_grad_norm=float(params.max_grad_norm), accountant=params.accountant,
        preprocess_share=float(params.preprocess_share),
        calibration_share=float(params.calibration_share) if params.calibrate else 0.0)
    ledger = privacy.PrivacyLedger()
    rng = np.random.default_rng(seed)
    public = privacy.public_schema(df, schema_from_any(params.schema))
    if public.constraints or parse_constraints(params.constraints):
        raise ConfigError("Constraints are not available with differential privacy yet: "
                          "the combinations and bounds they learn from the rows would be "
                          "releases outside the budget. Fit without epsilon, or drop the "
                          "constraints.")
    schema, modes = privacy.private_preprocessing(model_frame(df, public), public, dp_config,
                                                  ledger, _column_numbers, rng)
    transformer = TableTransformer(schema, seed=seed).fit_from_schema(modes)
    with warnings.catch_warnings():  # values outside the released categories are expected
        warnings.simplefilter("ignore")
        matrix = transformer.transform(df)
    frequencies = _released_frequencies(matrix, transformer, dp_config, ledger, rng)
    remaining_delta = ledger.remaining(dp_config.delta, ledger.delta)
    sgd_plan = privacy.plan_sgd(len(df), batch_size, epochs,
                                ledger.remaining(dp_config.epsilon, ledger.epsilon),
                                remaining_delta, params.accountant)
    ledger.charge(f"DP-SGD ({params.accountant} accountant)", sgd_plan.epsilon,
                  remaining_delta, None, noise_multiplier=sgd_plan.noise_multiplier,
                  sample_rate=sgd_plan.sample_rate, steps=sgd_plan.steps,
                  max_grad_norm=dp_config.max_grad_norm)
    return PrivatePreparation(schema, ConstraintLayer.none(schema), transformer, matrix,
                              dp_config, sgd_plan,
                              dict(ledger.to_dict(), target_epsilon=dp_config.epsilon,
                                   target_delta=dp_config.delta,
                                   accountant=params.accountant), frequencies)


def _released_frequencies(matrix: np.ndarray, transformer: TableTransformer, dp_config,
                          ledger, rng: np.random.Generator) -> np.ndarray | None:
    """The encoded rows' slot frequencies released from ``calibration_share`` of the budget
    (charged to ``ledger``), or None when none is asked for or there is no softmax span."""
    from synthvae import privacy
    from synthvae.layout import SpanLayout

    layout = SpanLayout.from_spans(transformer.spans_)
    if dp_config.calibration_share <= 0 or layout.n_groups == 0:
        return None
    epsilon = dp_config.epsilon * dp_config.calibration_share
    delta = dp_config.delta * dp_config.calibration_share
    frequencies, stds = privacy.dp_slot_frequencies(matrix, layout, epsilon, delta,
                                                    dp_config.accountant, rng)
    ledger.charge("slot frequencies for calibration (Gaussian)", epsilon, delta, None,
                  noise_std_rows_range=[round(float(stds.min()), 3),
                                        round(float(stds.max()), 3)],
                  spans=layout.n_groups, slots=len(frequencies))
    return frequencies


def _column_numbers(spec, series: pd.Series) -> np.ndarray:
    """A continuous or datetime column as float64 (seconds for datetimes)."""
    from synthvae.transforms.table import make_column_transformer

    return make_column_transformer(spec).to_numbers(series)

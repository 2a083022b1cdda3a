"""The fitted VAE as a toolkit: latents of rows, rows of latents, paths between rows,
per-row likelihoods and drift (docs/toolkit.md).

Functions of a fitted :class:`synthvae.Synthesizer` (``synth``); the estimator's methods of
the same names check nothing themselves and delegate here.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import torch

from synthvae.errors import ConfigError, DataError, ZeroProbabilityWarning
from synthvae.params import check_number, check_seed, model_seed
from synthvae.preparation import check_frame
from synthvae.transforms.categorical import OneHotEncoder


def model_rows(synth, df: pd.DataFrame) -> pd.DataFrame:
    """``df`` checked and in the columns the model reads (after the constraints')."""
    synth._check_fitted()
    df = check_frame(df, "encode, score and drift")
    synth.schema_.check_frame(df)
    return synth.constraints_.transform(df)


def encoded_rows(synth, df: pd.DataFrame, modelled: bool = False) -> torch.Tensor:
    """``df`` (already :func:`model_rows` when ``modelled``) encoded with the fitted
    transformer, on the device."""
    rows = df if modelled else model_rows(synth, df)
    matrix = synth.transformer_.transform(rows, seed=model_seed(synth))
    return torch.as_tensor(matrix, device=synth.device_)


def zero_probability_rows(synth, rows: pd.DataFrame, df: pd.DataFrame
                          ) -> tuple[np.ndarray, pd.DataFrame]:
    """((rows,) which of :func:`model_rows` ``rows`` (of the user's ``df``) hold a value
    the model gives probability zero (:meth:`TableTransformer.impossible`), ``rows`` ready
    to encode), with one warning per column that holds one, naming it and its value as
    ``df`` has them (a column the constraints model, such as an inequality's difference,
    is said to be one). Such a cell that the encoding has no slot for (an empty cell in a
    category column that had none) is set to one of the column's categories in the rows
    returned, so that the rest of the batch encodes; its row scores -inf all the same."""
    reasons = synth.transformer_.impossible(rows)
    flagged = reasons.notna()
    rows = _slotted(synth, rows, flagged)
    for column in reasons.columns[flagged.any().to_numpy()]:
        first = int(np.argmax(flagged[column].to_numpy()))
        if column in df.columns:
            where = f"Column {column!r}"
            value = df[column].iloc[first]
        else:
            where = f"The constraints' modelled column {column!r}"
            value = rows[column].iloc[first]
        value = value.item() if isinstance(value, np.generic) else value  # 87, not np.int64(87)
        warnings.warn(f"{where} holds {int(flagged[column].sum())} value(s) the model gives "
                      f"probability zero (row {first}: {value!r}, "
                      f"{reasons[column].iloc[first]}); their rows score -inf.",
                      ZeroProbabilityWarning, stacklevel=4)
    return flagged.any(axis=1).to_numpy(), rows


def _slotted(synth, rows: pd.DataFrame, flagged: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with the flagged empty cells of category columns without an empty slot
    set to the column's first category (the encoding refuses an empty cell there)."""
    slotless = [t for t in synth.transformer_.transformers_
                if isinstance(t, OneHotEncoder) and not t.has_null_ and len(t.categories_)
                and flagged[t.spec.name].any()]
    if not slotless:
        return rows
    rows = rows.copy()
    for t in slotless:  # one assignment per column holding such cells
        column = rows[t.spec.name]
        fill = flagged[t.spec.name].to_numpy() & column.isna().to_numpy()
        rows[t.spec.name] = column.astype(object).mask(fill, t.categories_[0])
    return rows


def encode(synth, df: pd.DataFrame) -> np.ndarray:
    """The encoder's mean latent of each row of ``df``, (rows, latent_dim)."""
    return synth.generator_.encode(encoded_rows(synth, df)).cpu().numpy()


def decode(synth, latents) -> pd.DataFrame:
    """The most likely row for each latent (rows, latent_dim): no sampling noise."""
    synth._check_fitted()
    latent_dim = synth.generator_.latent_dim
    try:
        z = latents.detach().to(synth.device_, torch.float32) \
            if isinstance(latents, torch.Tensor) else \
            torch.as_tensor(np.asarray(latents, dtype=np.float32), device=synth.device_)
    except (TypeError, ValueError):
        raise ConfigError(f"decode takes latents of shape (rows, {latent_dim}), numbers. Got "
                          f"a {type(latents).__name__} that is none.") from None
    if z.ndim != 2 or z.shape[1] != latent_dim:
        raise ConfigError(f"decode takes latents of shape (rows, {latent_dim}). Got "
                          f"{tuple(z.shape)} instead.")
    if not torch.isfinite(z).all():
        row = int(torch.nonzero(~torch.isfinite(z).all(1))[0])
        raise ConfigError(f"decode takes finite latents. Got NaN or infinity in row {row}.")
    matrix = synth.generator_.decode(z)
    return synth.constraints_.output(synth.transformer_.inverse_transform(
        matrix.cpu().numpy(), np.random.default_rng(model_seed(synth))))[0]


def excluded_pairs(synth) -> pd.DataFrame:
    """The value pairs the sampler never draws together (``unseen_pairs``), one row each:
    ``column_1``, ``value_1`` (the column drawn first), ``column_2``, ``value_2`` and the
    ``rule`` that excludes them: "dependency" (one column determines the other) or
    "zero support" (independence expects rows there). Columns as modelled: a fixed
    combination's columns are one."""
    from synthvae.exclusions import DEPENDENCY_LOGIT

    synth._check_fitted()
    pairs = synth.generator_.excluded
    columns = ["column_1", "value_1", "column_2", "value_2", "rule"]
    if pairs is None:
        return pd.DataFrame(columns=columns)
    pairs = pairs.cpu()
    first = synth.transformer_.slot_values(pairs[:, 0])
    second = synth.transformer_.slot_values(pairs[:, 1])
    rules = np.where(pairs[:, 2].numpy() == DEPENDENCY_LOGIT, "dependency", "zero support")
    return pd.DataFrame([(*a, *b, rule) for a, b, rule in zip(first, second, rules)],
                        columns=columns)


def interpolate(synth, start: pd.DataFrame, end: pd.DataFrame, steps: int) -> pd.DataFrame:
    """``steps`` rows decoded along the straight latent path from ``start`` to ``end``, with
    a leading column ``t`` from 0 to 1 (``_t``, ``__t``, ... where the table has a ``t``)."""
    if not isinstance(steps, int) or steps < 2:
        raise ConfigError(f"steps must be an int >= 2. Got {steps!r} instead.")
    for name, row in (("start", start), ("end", end)):
        if isinstance(row, (pd.Series, dict, list, tuple)):
            raise DataError(f"interpolate takes one-row DataFrames as 'start' and 'end' "
                            f"(df.iloc[[i]], not df.iloc[i]). Got a "
                            f"{'Series' if isinstance(row, pd.Series) else type(row).__name__} "
                            f"as {name!r}.")
    ends = [encode(synth, row) for row in (start, end)]
    for name, z in zip(("start", "end"), ends):
        if len(z) != 1:
            raise DataError(f"interpolate takes one row as {name!r}. Got {len(z)} rows.")
    t = np.linspace(0.0, 1.0, steps)[:, None]
    frame = decode(synth, (1 - t) * ends[0] + t * ends[1])
    frame.insert(0, free_name("t", frame.columns), t[:, 0])
    return frame


def free_name(name: str, taken) -> str:
    """``name``, or ``name`` behind as many underscores as make it none of ``taken``."""
    taken = set(map(str, taken))
    while name in taken:
        name = "_" + name
    return name


def score(synth, df: pd.DataFrame, samples: int, seed: int | None) -> pd.DataFrame:
    """Per-row ELBO and IWAE log-likelihood estimate (``samples`` latents a row), nats."""
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ConfigError(f"samples (--samples) must be a positive int. Got {samples!r} "
                          f"instead.")
    seed = model_seed(synth) if seed is None else check_seed(seed, "The scoring seed")
    impossible, rows = zero_probability_rows(synth, model_rows(synth, df),
                                             check_frame(df, "score"))
    data = encoded_rows(synth, rows, modelled=True)
    generator = torch.Generator(device=synth.device_).manual_seed(seed)
    elbo, iwae = synth.generator_.log_likelihood(data, samples, generator)
    return pd.DataFrame({"elbo": np.where(impossible, -np.inf, elbo.cpu().numpy()),
                         "log_likelihood": np.where(impossible, -np.inf, iwae.cpu().numpy())},
                        index=df.index if isinstance(df, pd.DataFrame) else None
                        ).astype(np.float64)


def drift(synth, df: pd.DataFrame, reference: pd.DataFrame | None, alpha: float) -> dict:
    """``df`` against the fit-time drift profile (or ``reference`` rows' profile)."""
    from synthvae.monitoring import drift_report, reference_profile

    check_number("alpha", alpha, low=0, high=0.5, low_open=True, owner="drift (--alpha)")
    seed = model_seed(synth) + 2
    if reference is not None:
        profile = reference_profile(*scored_rows(synth, reference, seed))
    elif getattr(synth, "monitoring_", None) is not None:
        profile = synth.monitoring_
    else:
        raise ConfigError("This model keeps no drift reference (it was trained with "
                          "differential privacy, by an older synthvae, or its drift "
                          "profile failed at fit); pass reference rows.")
    return drift_report(profile, *scored_rows(synth, df, seed + 1), alpha)


def scored_rows(synth, df: pd.DataFrame, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(ELBO, latent means) of ``df``'s rows for drift (:func:`synthvae.monitoring.scored`),
    -inf where a row holds a value of probability zero."""
    from synthvae.monitoring import scored

    impossible, rows = zero_probability_rows(synth, model_rows(synth, df),
                                             check_frame(df, "drift"))
    elbo, latents = scored(synth.generator_, encoded_rows(synth, rows, modelled=True), seed)
    return np.where(impossible, -np.inf, elbo), latents

"""The two synthesizers behind one small interface: ``fit(train) -> timings``, ``sample(n)``.

Both see the same column treatment: ctgan's TVAE gets synthvae's detected categorical columns
as ``discrete_columns``; datetime columns (which TVAE cannot read) are given to it as epoch
seconds and turned back into the original text format after sampling. TVAE cannot read
missing values in a continuous column (its inverse transform fails on them), so its training
rows are those without one (beijing's 2,067 missing ``pm2.5``; ``rows_dropped`` records it).
"""

from __future__ import annotations

import inspect
import re
import time

import pandas as pd

from synthvae import Synthesizer
from synthvae.errors import ConfigError
from synthvae.schema import ColumnKind, Schema

# set by the harness itself: the seed from --seeds, the detected schema, the decoder after ':'
HARNESS_PARAMS = ("seed", "schema", "verbose", "decoder")


class SynthvaeModel:
    name = "synthvae"

    def __init__(self, schema: Schema, seed: int, epochs: int | None = None,
                 decoder: str | None = None, params: dict | None = None):
        self.schema, self.seed, self.epochs, self.decoder = schema, seed, epochs, decoder
        self.params = dict(params or {})
        self.name = "synthvae" if decoder is None else f"synthvae:{decoder}"
        if self.params:
            self.name += "[" + ",".join(f"{k}={v}" for k, v in self.params.items()) + "]"

    def fit(self, train: pd.DataFrame) -> dict:
        params = {"epochs": self.epochs, **self.params}
        self.synth = Synthesizer(seed=self.seed, schema=self.schema, decoder=self.decoder,
                                 verbose=False, **params).fit(train)
        summary = self.synth.training_summary_
        return {"transformer_s": summary["transform_seconds"],
                "train_s": summary["train_seconds"], "fit_s": summary["fit_seconds"],
                "epochs": summary["epochs_run"],
                # the optimiser sees the rows left after the early-stopping split
                "rows_per_epoch": int(round(len(train) * (1 - self.synth.validation_fraction)))}

    def sample(self, n: int) -> pd.DataFrame:
        return self.synth.sample(n, seed=self.seed + 1)


class CtganModel:
    name = "ctgan"

    def __init__(self, schema: Schema, seed: int, epochs: int = 300):
        self.schema, self.seed, self.epochs = schema, seed, epochs
        self.datetimes = [c for c in schema.columns if c.kind is ColumnKind.DATETIME]

    def fit(self, train: pd.DataFrame) -> dict:
        import ctgan.synthesizers.tvae as tvae_module
        from ctgan import TVAE

        times: dict = {}
        discrete = [c.name for c in self.schema.columns if c.kind is ColumnKind.CATEGORICAL]
        continuous = [c for c in train.columns if c not in discrete]
        complete = train.dropna(subset=continuous)
        rows_dropped, train = len(train) - len(complete), complete
        self.tvae = TVAE(epochs=self.epochs)
        self.tvae.set_random_state(self.seed)
        original = tvae_module.DataTransformer
        tvae_module.DataTransformer = _timed_transformer(original, times)
        start = time.perf_counter()
        try:
            self.tvae.fit(self._to_numbers(train), discrete_columns=discrete)
        finally:
            tvae_module.DataTransformer = original
        fit_s = time.perf_counter() - start
        transformer_s = times.get("fit", 0.0) + times.get("transform", 0.0)
        return {"transformer_s": round(transformer_s, 3),
                "transformer_fit_only_s": round(times.get("fit", 0.0), 3),
                "train_s": round(fit_s - transformer_s, 3), "fit_s": round(fit_s, 3),
                "epochs": self.epochs, "rows_per_epoch": len(train),
                "rows_dropped": rows_dropped}

    def sample(self, n: int) -> pd.DataFrame:
        return self._from_numbers(self.tvae.sample(n))

    def _to_numbers(self, df: pd.DataFrame) -> pd.DataFrame:
        df = df.copy()
        for spec in self.datetimes:
            stamps = pd.to_datetime(df[spec.name], utc=True, format=spec.datetime_format)
            df[spec.name] = (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
        return df

    def _from_numbers(self, df: pd.DataFrame) -> pd.DataFrame:
        for spec in self.datetimes:
            stamps = pd.to_datetime(df[spec.name].astype(float), unit="s", utc=True)
            df[spec.name] = stamps.dt.strftime(spec.datetime_format or "%Y-%m-%d %H:%M:%S")
        return df


def _timed_transformer(base, times: dict):
    """ctgan's DataTransformer, recording the seconds of fit and transform in ``times``."""

    class TimedTransformer(base):
        def fit(self, *args, **kwargs):
            start = time.perf_counter()
            super().fit(*args, **kwargs)
            times["fit"] = time.perf_counter() - start

        def transform(self, *args, **kwargs):
            start = time.perf_counter()
            out = super().transform(*args, **kwargs)
            times["transform"] = time.perf_counter() - start
            return out

    return TimedTransformer



class CopulaModel:
    """SDV's GaussianCopulaSynthesizer (the ``bench`` extra installs sdv), with synthvae's
    detected categorical columns declared categorical."""

    name = "copula"

    def __init__(self, schema: Schema, seed: int):
        self.schema, self.seed = schema, seed

    def fit(self, train: pd.DataFrame) -> dict:
        import numpy as np
        from sdv.metadata import Metadata
        from sdv.single_table import GaussianCopulaSynthesizer

        metadata = Metadata.detect_from_dataframes({"table": train})
        for spec in self.schema.columns:
            if spec.kind in (ColumnKind.CATEGORICAL, ColumnKind.CONSTANT):
                metadata.update_column(spec.name, "table", sdtype="categorical")
        start = time.perf_counter()
        np.random.seed(self.seed)  # the copula's sampling draws from numpy's global state
        self.model = GaussianCopulaSynthesizer(metadata, enforce_min_max_values=True)
        self.model.fit({"table": train})
        fit_s = time.perf_counter() - start
        return {"fit_s": round(fit_s, 3), "train_s": round(fit_s, 3), "transformer_s": 0.0,
                "epochs": 0, "rows_per_epoch": len(train)}

    def sample(self, n: int) -> pd.DataFrame:
        rows = self.model.sample(n)
        return rows["table"] if isinstance(rows, dict) else rows


def make_model(name: str, schema: Schema, seed: int, epochs: int | None):
    """``synthvae``, ``synthvae:<decoder>`` (a ``decoder`` of :class:`Synthesizer`),
    ``ctgan`` (its TVAE) or ``copula`` (SDV's Gaussian copula). A synthvae spec may end in
    ``[param=value,...]``: keyword arguments of :class:`Synthesizer` (see
    :func:`parse_model_spec`), e.g. ``synthvae[min_lift=0,latent_swap=0]``."""
    base, params = parse_model_spec(name)
    if base in ("ctgan", "copula") and params:
        raise ConfigError(f"Model spec {name!r}: only synthvae takes [param=value] "
                          f"settings; found them on {base!r}.")
    if base == "ctgan":
        return CtganModel(schema, seed, epochs or 300)
    if base == "copula":
        return CopulaModel(schema, seed)
    head, _, decoder = base.partition(":")
    if head != "synthvae":
        raise ConfigError(f"Model spec {name!r}: expected synthvae, synthvae:<decoder>, "
                          f"ctgan or copula; found {head!r}.")
    return SynthvaeModel(schema, seed, epochs, decoder or None, params)


def parse_model_spec(spec: str) -> tuple[str, dict]:
    """``"synthvae:factorized[min_lift=0,latent_swap=0.5]"`` -> ``("synthvae:factorized",
    {"min_lift": 0, "latent_swap": 0.5})``. Values are read as int, float, true/false or
    none where they look like one, otherwise kept as text; every name must be a parameter
    of :class:`Synthesizer` that the harness does not set itself (``HARNESS_PARAMS``)."""
    match = re.fullmatch(r"([^\[\]]+?)(?:\[(.*)\])?", spec.strip())
    if match is None:
        raise ConfigError(f"Model spec {spec!r}: expected name or name[param=value,...].")
    base, body = match.group(1).strip(), match.group(2)
    params = dict(_setting(spec, item) for item in (body or "").split(",") if item.strip())
    known = set(inspect.signature(Synthesizer.__init__).parameters) - {"self"}
    for key in params:
        if key in HARNESS_PARAMS or key not in known:
            why = ("is set by the harness" if key in HARNESS_PARAMS
                   else "is not a parameter of Synthesizer")
            raise ConfigError(f"Model spec {spec!r}: {key!r} {why}; expected one of "
                              f"{', '.join(sorted(known - set(HARNESS_PARAMS)))}.")
    return base, params


def _setting(spec: str, item: str) -> tuple[str, object]:
    key, sep, text = (part.strip() for part in item.partition("="))
    if not sep or not key or not text:
        raise ConfigError(f"Model spec {spec!r}: expected param=value; found {item.strip()!r}.")
    return key, _value(text)


def _value(text: str) -> object:
    words = {"true": True, "false": False, "none": None}
    if text.lower() in words:
        return words[text.lower()]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def split_model_specs(text: str) -> list[str]:
    """``--models`` split on the commas outside ``[...]``."""
    return [spec.strip() for spec in re.split(r",(?![^\[]*\])", text) if spec.strip()]

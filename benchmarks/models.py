"""The two synthesizers behind one small interface: ``fit(train) -> timings``, ``sample(n)``.

Both see the same column treatment: ctgan's TVAE gets synthvae's detected categorical columns
as ``discrete_columns``; datetime columns (which TVAE cannot read) are given to it as epoch
seconds and turned back into the original text format after sampling.
"""

from __future__ import annotations

import time

import pandas as pd

from synthvae import Synthesizer
from synthvae.schema import ColumnKind, Schema


class SynthvaeModel:
    name = "synthvae"

    def __init__(self, schema: Schema, seed: int, epochs: int | None = None):
        self.schema, self.seed, self.epochs = schema, seed, epochs

    def fit(self, train: pd.DataFrame) -> dict:
        self.synth = Synthesizer(epochs=self.epochs, seed=self.seed, schema=self.schema,
                                 verbose=False).fit(train)
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
                "epochs": self.epochs, "rows_per_epoch": len(train)}

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



def make_model(name: str, schema: Schema, seed: int, epochs: int | None):
    if name == "ctgan":
        return CtganModel(schema, seed, epochs or 300)
    return SynthvaeModel(schema, seed, epochs)

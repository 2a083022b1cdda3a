"""Small tables (hundreds of rows) get a batch size that gives them enough optimiser steps,
and continuous columns with the few modes their rows can fill."""

import numpy as np
import pandas as pd
import pytest

from synthvae import Synthesizer
from synthvae.synthesizer import auto_batch_size


def table(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    return pd.DataFrame({"x": x, "y": 2 * x, "g": np.where(x > 0, "hi", "lo")})


@pytest.mark.parametrize("rows, expected", [(300, 50), (2_000, 200), (5_000, 500),
                                            (100_000, 500), (40, 50)])
def test_default_batch_is_a_tenth_of_the_training_rows_within_50_and_500(rows, expected):
    assert auto_batch_size(rows) == expected


def test_a_300_row_fit_takes_several_steps_per_epoch_and_an_explicit_batch_is_kept():
    small = Synthesizer(epochs=2, hidden=(32,), latent_dim=8, verbose=False).fit(table(300))
    assert small.train_config_.batch_size == 50  # 270 training rows: 6 steps per epoch
    kept = Synthesizer(epochs=2, batch_size=128, hidden=(32,), latent_dim=8,
                       verbose=False).fit(table(300))
    assert kept.train_config_.batch_size == 128 and kept.batch_size == 128


def test_private_fits_keep_the_batch_their_sampling_rate_was_planned_for():
    private = Synthesizer(epochs=1, epsilon=10.0, hidden=(32,), latent_dim=8,
                          verbose=False).fit(table(3_000))
    assert private.train_config_.batch_size == 500


def continuous_modes(synth) -> dict:
    return {t.spec.name: t.n_modes for t in synth.transformer_.transformers_
            if hasattr(t, "n_modes") and not t.discrete}


def test_a_small_table_gets_fewer_fuller_modes_and_min_mode_rows_zero_restores_them():
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(0, 1, 240), rng.normal(8, 1, 40), rng.normal(-8, 1, 20)])
    df = pd.DataFrame({"x": x, "y": 3 * x + rng.normal(0, 0.5, len(x))})
    quick = dict(epochs=2, hidden=(32,), latent_dim=8, verbose=False)
    default = Synthesizer(**quick).fit(df)
    every = Synthesizer(min_mode_rows=0, **quick).fit(df)
    assert default.min_mode_rows == 100 and every.min_mode_rows == 0
    assert all(m <= 3 for m in continuous_modes(default).values())  # 300 rows: <= 3 x 100
    assert continuous_modes(every)["x"] > continuous_modes(default)["x"]
    assert list(default.sample(200, seed=1).columns) == ["x", "y"]


def test_a_90_row_table_keeps_its_measurements_relations():
    # Every numeric column of a table this small has at most 100 distinct values; encoded
    # value by value (each a category of one or two rows), x and y came out uncorrelated
    # (0.08) and `size` agreed with x's sign in 72 % of rows.
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, 90)
    df = pd.DataFrame({"x": x.round(2), "y": (2 * x + rng.normal(0, 0.3, 90)).round(1),
                       "size": np.where(x > 0, "large", "small")})
    synth = Synthesizer(verbose=False).fit(df)
    assert not any(getattr(t, "discrete", False) for t in synth.transformer_.transformers_)
    rows = synth.sample(1000, seed=1)
    assert rows[["x", "y"]].corr().iloc[0, 1] > 0.8  # real 0.99
    assert ((rows["x"] > 0) == (rows["size"] == "large")).mean() > 0.9
    assert rows["x"].nunique() > df["x"].nunique()  # values, not copies of the training ones

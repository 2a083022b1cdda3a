"""What a pandas user feels: fit, sample, same schema back, same seed same rows."""

import warnings

import numpy as np
import pandas as pd
import pytest

from synthvae import (ConfigError, DataError, NotFittedError, SchemaError, Synthesizer,
                      SynthvaeWarning)

from conftest import dataset


def assert_same_schema(real: pd.DataFrame, synthetic: pd.DataFrame) -> None:
    """Same columns and dtypes; categorical values drawn from the real categories."""
    from synthvae import ColumnKind, detect_schema

    assert list(synthetic.columns) == list(real.columns)
    assert synthetic.dtypes.to_dict() == real.dtypes.to_dict()
    for column in detect_schema(real).columns:
        if column.kind is ColumnKind.CATEGORICAL:
            name = column.name
            assert set(synthetic[name].dropna()) <= set(real[name].dropna()), name


def test_adult_fit_sample_keeps_columns_dtypes_categories_and_bounds(fitted_adult, adult_small):
    synthetic = fitted_adult.sample(3000, seed=1)
    assert len(synthetic) == 3000
    assert_same_schema(adult_small, synthetic)
    for name in ["age", "hours-per-week", "capital-gain"]:
        assert synthetic[name].min() >= adult_small[name].min()
        assert synthetic[name].max() <= adult_small[name].max()
    # Nullable categoricals produce nulls at a similar rate.
    real_rate = adult_small["occupation"].isna().mean()
    assert abs(synthetic["occupation"].isna().mean() - real_rate) < 0.05


def test_fitted_attributes_follow_sklearn_conventions(adult_small):
    synth = Synthesizer(epochs=2, verbose=False)
    assert synth.get_params()["epochs"] == 2
    assert not [a for a in vars(synth) if a.endswith("_")]
    assert synth.fit(adult_small) is synth
    for attribute in ("schema_", "transformer_", "model_", "history_", "prior_"):
        assert hasattr(synth, attribute)
    assert len(synth.history_) == 2 and {"loss", "kl", "val_loss"} <= set(synth.history_[0])
    assert synth.epochs == 2  # parameters are never mutated by fit


def test_same_seed_same_rows_different_seed_different_rows(fitted_adult):
    a = fitted_adult.sample(500, seed=7)
    b = fitted_adult.sample(500, seed=7)
    c = fitted_adult.sample(500, seed=8)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_same_fit_seed_gives_same_model(adult_small):
    first = Synthesizer(epochs=2, verbose=False, seed=3).fit(adult_small).sample(200, seed=1)
    second = Synthesizer(epochs=2, verbose=False, seed=3).fit(adult_small).sample(200, seed=1)
    pd.testing.assert_frame_equal(first, second)


def test_fit_and_load_leave_the_callers_torch_random_stream_as_it_was(adult_small, tmp_path):
    import torch

    def next_draws(action) -> torch.Tensor:
        torch.manual_seed(1234)
        action()
        return torch.rand(4)

    expected = next_draws(lambda: None)
    synth = Synthesizer(epochs=1, verbose=False, seed=3)
    torch.testing.assert_close(next_draws(lambda: synth.fit(adult_small.head(200))), expected)
    path = synth.save(tmp_path / "m.safetensors")
    torch.testing.assert_close(next_draws(lambda: Synthesizer.load(path)), expected)


def test_a_float64_torch_default_neither_breaks_nor_changes_the_model(adult_small, tmp_path):
    import torch

    table = adult_small.head(200)
    expected = Synthesizer(epochs=1, verbose=False, seed=3).fit(table)
    torch.set_default_dtype(torch.float64)  # as scientific code often sets it
    try:
        synth = Synthesizer(epochs=1, verbose=False, seed=3).fit(table)
        pd.testing.assert_frame_equal(synth.sample(50, seed=1), expected.sample(50, seed=1))
        loaded = Synthesizer.load(synth.save(tmp_path / "m.safetensors"))
        pd.testing.assert_frame_equal(loaded.sample(50, seed=1), expected.sample(50, seed=1))
        assert len(loaded.sample(5, conditions={"sex": "Female"})) == 5
        assert len(loaded.score(table.head(3))) == 3 and "drift" in loaded.drift(table)
        assert torch.get_default_dtype() == torch.float64  # the caller's, restored
    finally:
        torch.set_default_dtype(torch.float32)


def test_calls_in_two_threads_share_the_float32_default_until_the_last_ends():
    """torch's default dtype is the process's: one thread's call ending must not give the
    caller's float64 back while another thread's call is drawing (it crashed with
    "expected m1 and m2 to have the same dtype" in concurrent conditional sampling)."""
    import threading

    import torch

    from synthvae.torch_dtype import float32_default

    first_in, first_out = threading.Event(), threading.Event()
    seen = []

    def second_call():
        with float32_default():
            first_in.set()
            first_out.wait(5)
            seen.append(torch.get_default_dtype())

    torch.set_default_dtype(torch.float64)
    try:
        with float32_default():
            worker = threading.Thread(target=second_call)
            worker.start()
            first_in.wait(5)
        first_out.set()  # the first call has ended; the second is still inside its own
        worker.join(5)
        assert seen == [torch.float32]
        assert torch.get_default_dtype() == torch.float64  # the caller's, once both ended
    finally:
        torch.set_default_dtype(torch.float32)


def test_concurrent_draws_under_a_float64_default_equal_sequential_ones(adult_small):
    from concurrent.futures import ThreadPoolExecutor

    import torch

    synth = Synthesizer(epochs=1, verbose=False, seed=3).fit(adult_small.head(300))
    conditions = {"sex": "Female", "age": (30, 40)}
    expected = synth.sample(200, seed=1, conditions=conditions)
    torch.set_default_dtype(torch.float64)
    try:
        with ThreadPoolExecutor(4) as pool:
            drawn = list(pool.map(lambda _: synth.sample(200, seed=1, conditions=conditions),
                                  range(12)))
        for rows in drawn:
            pd.testing.assert_frame_equal(rows, expected)
        assert torch.get_default_dtype() == torch.float64
    finally:
        torch.set_default_dtype(torch.float32)


def test_streamed_chunks_equal_one_sample(fitted_adult):
    whole = fitted_adult.sample(70_000, seed=2)
    chunks = list(fitted_adult.iter_sample(70_000, chunk_size=30_000, seed=2))
    assert [len(c) for c in chunks] == [30_000, 30_000, 10_000]
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)


def test_titanic_nulls_bools_and_categories(titanic):
    synth = Synthesizer(verbose=False).fit(titanic)  # automatic epochs: ~300 small steps
    synthetic = synth.sample(2000, seed=0)
    assert_same_schema(titanic, synthetic)
    assert synthetic["age"].isna().mean() == pytest.approx(titanic["age"].isna().mean(), abs=0.1)
    assert synthetic["deck"].isna().any()
    assert synthetic["alone"].dtype == bool


def test_taxis_datetimes_keep_format(taxis):
    synth = Synthesizer(epochs=3, verbose=False).fit(taxis)
    synthetic = synth.sample(500, seed=0)
    assert_same_schema(taxis, synthetic)
    parsed = pd.to_datetime(synthetic["pickup"], format="%Y-%m-%d %H:%M:%S")
    assert parsed.notna().all()
    lo, hi = pd.to_datetime(taxis["pickup"]).min(), pd.to_datetime(taxis["pickup"]).max()
    assert parsed.min() >= lo and parsed.max() <= hi


def test_identifier_and_constant_columns_are_regenerated():
    df = pd.DataFrame({"id": [f"C{i:05d}" for i in range(200)], "const": ["x"] * 200,
                       "v": np.random.default_rng(0).normal(size=200)})
    synthetic = Synthesizer(epochs=2, verbose=False).fit(df).sample(1000, seed=0)
    # same form, one digit longer than any real id, so none is a real one (docs/schema.md)
    assert synthetic["id"].is_unique and synthetic["id"].str.fullmatch(r"C\d{6}").all()
    assert not set(synthetic["id"]) & set(df["id"])
    assert (synthetic["const"] == "x").all()


def test_a_partial_schema_is_taken_in_python_with_and_without_privacy():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"v": rng.normal(size=300), "code": rng.integers(0, 40, 300),
                       "city": rng.choice(["a", "b"], 300)})
    partial = {"columns": [{"name": "code", "kind": "categorical",
                            "categories": list(range(40))}]}
    for params in ({}, {"epsilon": 10.0}):
        synth = Synthesizer(epochs=1, verbose=False, schema=partial, **params).fit(df)
        assert synth.schema_.names == ["v", "code", "city"], params
        assert synth.schema_["code"].kind.value == "categorical", params
        synthetic = synth.sample(200, seed=0)
        assert list(synthetic.columns) == ["v", "code", "city"]
        assert synthetic["code"].dtype == df["code"].dtype, params
    missing = {"columns": [{"name": "zip", "kind": "categorical"}]}
    with pytest.raises(SchemaError, match="'zip'"):
        Synthesizer(epochs=1, verbose=False, schema=missing).fit(df)


def test_pandas_category_and_tz_datetime_round_trip():
    n = 300
    rng = np.random.default_rng(0)
    df = pd.DataFrame({
        "grade": pd.Categorical(rng.choice(["lo", "mid", "hi"], n),
                                categories=["lo", "mid", "hi"], ordered=True),
        "when": pd.Timestamp("2024-01-01", tz="Europe/Paris")
        + pd.to_timedelta(rng.integers(0, 1000, n), unit="h"),
        "x": rng.normal(size=n),
    })
    synthetic = Synthesizer(epochs=2, verbose=False).fit(df).sample(100, seed=0)
    assert synthetic["grade"].dtype == df["grade"].dtype
    assert str(synthetic["when"].dt.tz) == "Europe/Paris"


def test_automatic_epochs_follow_table_size():
    from synthvae.synthesizer import auto_epochs

    assert auto_epochs(32_561, 500, 0.1) == 60
    assert auto_epochs(400, 500, 0.1) == 300
    assert auto_epochs(3_000_000, 500, 0.1) == 10


def test_sample_before_fit_says_what_to_call():
    with pytest.raises(NotFittedError, match=r"call fit\(df\)"):
        Synthesizer().sample(10)


@pytest.mark.parametrize("params,match", [
    ({"epochs": -3}, "'epochs' parameter of Synthesizer must be a positive int. Got -3"),
    ({"batch_size": 0}, "'batch_size'"),
    ({"lr": 0}, "'lr'"),
    ({"hidden": ()}, "'hidden'"),
    ({"prior": "flow"}, "'prior'"),
    ({"validation_fraction": 0.9}, "'validation_fraction'"),
    ({"device": "tpu"}, "'device'"),
    ({"discrete_threshold": -1}, "'discrete_threshold' parameter of Synthesizer must be an int"),
    ({"min_mode_rows": -5}, "'min_mode_rows' parameter of Synthesizer must be an int >= 0"),
    ({"min_mode_rows": 2.5}, "'min_mode_rows' parameter of Synthesizer must be an int >= 0"),
    ({"tail_share": -0.01}, "'tail_share' parameter of Synthesizer must be a number >= 0"),
    ({"tail_share": 0.5}, "'tail_share' parameter of Synthesizer must be below 0.5"),
    ({"tail_share": "1%"}, "'tail_share' parameter of Synthesizer must be a number"),
    ({"discrete_threshold": True}, "'discrete_threshold'"),
    ({"skew_threshold": -1.0}, "'skew_threshold' parameter of Synthesizer must be a number >= 0"),
    ({"skew_threshold": "high"}, "'skew_threshold'"),
    ({"seed": -1}, r"'seed' parameter of Synthesizer must be a whole number from 0 to 2\*\*32"),
    ({"seed": 2**64}, "'seed' parameter"),
    ({"seed": 1.5}, "'seed' parameter"),
    ({"seed": True}, "'seed' parameter"),
])
def test_bad_parameters_are_refused_with_the_parameter_named(params, match, adult_small):
    with pytest.raises(ConfigError, match=match):
        Synthesizer(verbose=False, **params).fit(adult_small)


def test_bad_tables_are_refused():
    with pytest.raises(DataError, match="no rows"):
        Synthesizer().fit(pd.DataFrame({"a": []}))
    with pytest.raises(DataError, match="DataFrame"):
        Synthesizer().fit([[1, 2]])
    with pytest.raises(DataError, match="'a'.*infinite"):
        Synthesizer(verbose=False).fit(pd.DataFrame({"a": [1.0, np.inf, 2.5] * 20}))


def test_bad_n_is_refused(fitted_adult):
    with pytest.raises(ConfigError, match="non-negative int"):
        fitted_adult.sample(-1)
    assert len(fitted_adult.sample(0)) == 0


@pytest.mark.parametrize("seed", [-1, 2**64, 1.5, "x", True])
def test_bad_sampling_and_scoring_seeds_are_refused(fitted_adult, adult_small, seed):
    with pytest.raises(ConfigError, match="The sampling seed must be a whole number from 0"):
        fitted_adult.sample(5, seed=seed)
    with pytest.raises(ConfigError, match="The scoring seed must be a whole number from 0"):
        fitted_adult.score(adult_small.head(3), seed=seed)


def test_the_largest_seed_fits_and_samples(adult_small):
    synth = Synthesizer(seed=2**32 - 1, epochs=1, verbose=False).fit(adult_small.head(300))
    assert len(synth.sample(5, seed=2**32 - 1)) == 5


@pytest.mark.parametrize("name", ["adult_train", "default", "shoppers", "magic", "beijing",
                                  "bank", "california", "titanic", "taxis", "diamonds",
                                  "flights"])
def test_every_shared_dataset_fits_and_samples_with_its_schema(name):
    df = dataset(name, rows=2000, seed=1)
    synth = Synthesizer(epochs=2, verbose=False, prior_components=5).fit(df)
    synthetic = synth.sample(500, seed=0)
    assert list(synthetic.columns) == list(df.columns)
    assert synthetic.dtypes.to_dict() == df.dtypes.to_dict()


def test_a_table_without_numbers_fits_and_samples_without_foreign_warnings(tmp_path):
    table = pd.DataFrame({"a": ["x", "y"] * 100, "b": ["p", "q", "r", "s"] * 50})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        synth = Synthesizer(epochs=1, verbose=False).fit(table)
        Synthesizer.load(synth.save(tmp_path / "m.safetensors")).sample(10)
    foreign = [w for w in caught if not issubclass(w.category, SynthvaeWarning)]
    assert not foreign, [str(w.message) for w in foreign]


def test_a_sample_too_large_for_memory_is_refused_before_drawing(fitted_adult, monkeypatch):
    import synthvae.devices

    monkeypatch.setattr(synthvae.devices, "available_memory", lambda device: 100 * 2**20)
    with pytest.raises(ConfigError, match=r"sample\(5,000,000\) would hold about .* GiB .* but "
                                          r"0\.1 GiB is free; draw the rows in chunks with "
                                          r"iter_sample"):
        fitted_adult.sample(5_000_000)
    with pytest.raises(ConfigError, match=r"sample\(2,500,000\)"):  # the shard's rows
        fitted_adult.sample(5_000_000, shard=(0, 2))
    assert len(next(fitted_adult.iter_sample(5_000_000, chunk_size=100))) == 100  # streams


def test_a_seed_set_after_fit_is_checked_when_it_is_used(adult_small):
    synth = Synthesizer(seed=3, epochs=1, verbose=False).fit(adult_small.head(200))
    synth.seed = -5
    for use in (lambda: synth.sample(5), lambda: synth.score(adult_small.head(3))):
        with pytest.raises(ConfigError, match="'seed' parameter of Synthesizer must be a whole"):
            use()


def test_set_params_stores_parameters_and_clone_and_grid_search_can_use_it():
    from sklearn.base import clone

    synth = Synthesizer(epochs=2, verbose=False)
    assert synth.set_params(epochs=3, beta=0.25) is synth
    assert synth.get_params()["epochs"] == 3 and synth.get_params()["beta"] == 0.25
    copy = clone(synth).set_params(seed=7)
    assert copy.get_params()["seed"] == 7 and synth.get_params()["seed"] != 7
    with pytest.raises(ConfigError, match="no parameter 'epoch'; its parameters are"):
        synth.set_params(epoch=3)


def test_repr_shows_parameters_whatever_their_type():
    assert repr(Synthesizer(epochs=3, verbose=False)) == "Synthesizer(epochs=3, verbose=False)"
    assert repr(Synthesizer(hidden=np.array([64, 64]))) == \
        "Synthesizer(hidden=array([64, 64]))"  # refused by fit, shown by repr


def test_a_saved_model_records_the_parameters_it_was_fitted_with(tmp_path):
    df = pd.DataFrame({"x": np.random.default_rng(0).normal(size=200)})
    synth = Synthesizer(epochs=2, verbose=False, seed=3).fit(df)
    synth.set_params(epochs=50, seed=-1)  # for a next fit: not what this model was fitted with
    loaded = Synthesizer.load(synth.save(tmp_path / "m.safetensors"))  # seed -1 was refused
    assert loaded.get_params()["epochs"] == 2 and loaded.get_params()["seed"] == 3


def test_a_subclass_whose_init_takes_keyword_arguments_fits():
    """DP settings are compared with their defaults in the first __init__ that has them
    (a subclass taking **kwargs raised KeyError: 'delta')."""
    class Tuned(Synthesizer):
        def __init__(self, extra: int = 1, **kwargs):
            super().__init__(**kwargs)
            self.extra = extra

    df = pd.DataFrame({"x": np.random.default_rng(0).normal(size=200)})
    assert len(Tuned(epochs=1, verbose=False).fit(df).sample(5)) == 5
    with pytest.raises(ConfigError, match="'delta' parameter of Synthesizer is a differential"):
        Tuned(epochs=1, verbose=False, delta=1e-6).fit(df)


def test_models_built_in_several_threads_get_their_own_seeds_weights():
    """Initial weights come from torch's one global generator: threads building models at
    once seeded it over each other (14 of 40 models differed from sequential builds)."""
    from concurrent.futures import ThreadPoolExecutor

    from synthvae.generator import _new_model
    from synthvae.model import ModelConfig

    import torch

    config = ModelConfig(data_dim=40, n_scalars=4, latent_dim=8, hidden=(64, 64))
    expected = [_new_model(config, seed).state_dict() for seed in range(8)]
    with ThreadPoolExecutor(8) as pool:
        for _ in range(3):
            built = list(pool.map(lambda seed: _new_model(config, seed).state_dict(), range(8)))
            for ours, theirs in zip(built, expected):
                assert all(torch.equal(ours[k], theirs[k]) for k in theirs)

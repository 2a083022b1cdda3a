"""Odd values in otherwise plain tables: durations in conditions, date objects, complex
numbers, Arrow dictionaries, and magnitudes too large to standardise."""

import datetime
import re
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from synthvae import Synthesizer
from synthvae.conditions import parse_where
from synthvae.errors import ConfigError, DataError, SchemaError
from synthvae.schema import MAX_MAGNITUDE, ColumnKind, Schema, detect_column, detect_schema
from synthvae.transforms.durations import DurationTransformer
from synthvae.transforms.table import make_column_transformer

ROWS = 300


def quiet_fit(df: pd.DataFrame, **params) -> Synthesizer:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Synthesizer(epochs=2, verbose=False, seed=0, **params).fit(df)


# ---------------------------------------------------------------------------- durations


@pytest.fixture(scope="module")
def waits():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=ROWS),
                       "t": pd.to_timedelta(rng.integers(0, 3600, ROWS), unit="s")})
    return df, quiet_fit(df)


def test_a_duration_condition_takes_one_duration(waits):
    _, synth = waits
    out = synth.sample(5, conditions={"t": pd.Timedelta("10min")})
    assert (out["t"] == pd.Timedelta("10min")).all() and out["t"].dtype == "timedelta64[ns]"


@pytest.mark.parametrize("wanted", [
    (pd.Timedelta("10min"), pd.Timedelta("20min")),
    (datetime.timedelta(minutes=10), datetime.timedelta(minutes=20)),
    (np.timedelta64(600, "s"), "00:20:00"),
    parse_where(["t=00:10:00..00:20:00"])["t"],  # the CLI's --where text
], ids=["Timedelta", "datetime.timedelta", "timedelta64 and text", "where"])
def test_a_duration_range_takes_durations_and_their_text(waits, wanted):
    _, synth = waits
    out = synth.sample(20, conditions={"t": wanted})
    assert out["t"].between(pd.Timedelta("10min"), pd.Timedelta("20min")).all()


def test_sampled_durations_keep_the_training_values_unit(waits):
    _, synth = waits
    out = synth.sample(200)
    assert (out["t"].dt.total_seconds() % 1 == 0).all()


@pytest.mark.parametrize("wanted", [600, "600", (0, 600)], ids=["int", "text", "range"])
def test_a_bare_number_on_a_duration_column_is_refused_naming_the_column(waits, wanted):
    _, synth = waits
    with pytest.raises(ConfigError, match=r"Column 't' holds durations.*pd\.Timedelta"):
        synth.sample(5, conditions={"t": wanted})


def test_a_duration_range_outside_the_data_is_reported_in_durations(waits):
    df, synth = waits
    with pytest.raises(ConfigError) as error:
        synth.sample(5, conditions={"t": (pd.Timedelta("2h"), None)})
    message = str(error.value)
    assert "0 days 02:00:00" in message and str(df["t"].max()) in message
    assert "e+" not in message  # no nanoseconds


def test_a_duration_transformer_loads_a_state_saved_without_its_resolution(waits):
    df, _ = waits
    spec = detect_column(df["t"])
    transformer = make_column_transformer(spec)
    assert isinstance(transformer, DurationTransformer)
    state = transformer.fit(df["t"]).get_state()
    assert state.pop("resolution") == 10**9
    loaded = make_column_transformer(spec).set_state(state)
    assert loaded.resolution_ == 1


# ---------------------------------------------------------------------------- dates


def dates_frame(missing: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    days = [datetime.date(2020, 1, 1) + datetime.timedelta(days=int(d))
            for d in rng.integers(0, 500, ROWS)]
    if missing:
        days[::10] = [None] * len(days[::10])
    return pd.DataFrame({"x": rng.normal(size=ROWS), "d": pd.Series(days, dtype=object)})


@pytest.mark.parametrize("missing", [False, True], ids=["full", "with_gaps"])
def test_date_objects_are_modelled_as_dates_and_come_back_as_iso_text(missing):
    df = dates_frame(missing)
    synth = quiet_fit(df)
    assert synth.schema_["d"].kind is ColumnKind.DATETIME
    present = synth.sample(300)["d"].dropna()
    assert len(present) and present.str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    days = pd.to_datetime(present).dt.date
    assert days.min() >= df["d"].dropna().min() and days.max() <= df["d"].dropna().max()


def test_date_is_not_a_schema_dtype():
    with pytest.raises(SchemaError, match="'dtype' must name a pandas dtype"):
        Schema.from_dict({"columns": [{"name": "d", "kind": "datetime", "dtype": "date"}]})


# ---------------------------------------------------------------------------- complex


def complex_frame() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    return pd.DataFrame({"x": rng.normal(size=ROWS),
                         "z": rng.normal(size=ROWS) + 1j * rng.normal(size=ROWS)})


@pytest.mark.parametrize("as_objects", [False, True], ids=["complex128", "objects"])
def test_complex_numbers_are_refused_at_fit_naming_the_column(as_objects):
    df = complex_frame()
    if as_objects:
        df["z"] = df["z"].astype(object)
    with pytest.raises(DataError, match="Column 'z'.*complex numbers are not supported; "
                                        "split it into real and imaginary columns"):
        quiet_fit(df)


def test_complex_numbers_declared_continuous_are_refused_too():
    schema = {"columns": [{"name": "z", "kind": "continuous"}]}
    with pytest.raises(DataError, match="Column 'z'.*complex numbers"):
        quiet_fit(complex_frame(), schema=schema)


# ---------------------------------------------------------------------------- Arrow dictionary


def test_an_arrow_dictionary_column_comes_back_as_category():
    rng = np.random.default_rng(3)
    dictionary = pd.ArrowDtype(pa.dictionary(pa.int32(), pa.string()))
    df = pd.DataFrame({"x": rng.normal(size=ROWS),
                       "k": pd.Series(rng.choice(["a", "b", "c"], ROWS)).astype(dictionary)})
    out = quiet_fit(df).sample(100)
    assert isinstance(out["k"].dtype, pd.CategoricalDtype)
    assert set(out["k"].cat.categories) == {"a", "b", "c"}


# ---------------------------------------------------------------------------- magnitudes


@pytest.mark.parametrize("top", [1.7e308, -1e200, 2 * MAX_MAGNITUDE])
def test_values_too_large_to_standardise_are_refused_naming_column_and_value(top):
    rng = np.random.default_rng(4)
    values = rng.uniform(0.5, 1.0, ROWS) * abs(top)
    values[7] = top
    df = pd.DataFrame({"x": rng.normal(size=ROWS), "big": values})
    with pytest.raises(DataError, match=re.escape(f"Column 'big' holds {top:.4g}:")):
        detect_schema(df)
    with pytest.raises(DataError, match="Column 'big'"):
        quiet_fit(df, schema={"columns": [{"name": "big", "kind": "continuous"}]})


@pytest.mark.parametrize("skew_threshold", [2.0, None], ids=["default", "no_log_scale"])
def test_values_up_to_the_limit_train_and_sample_in_range(skew_threshold):
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"x": rng.normal(size=ROWS),
                       "big": rng.uniform(-1.0, 1.0, ROWS) * MAX_MAGNITUDE})
    out = quiet_fit(df, skew_threshold=skew_threshold).sample(200)["big"]
    assert np.isfinite(out).all()
    assert out.abs().max() <= MAX_MAGNITUDE
    assert out.std() > 0.1 * MAX_MAGNITUDE


@pytest.mark.parametrize("values", [[None, 1 + 2j, 3 + 0j], [None, None, None]],
                         ids=["first_missing", "all_missing"])
def test_complex_objects_after_a_missing_cell_are_refused_too(values):
    column = pd.Series(values * 100, dtype=complex if values[1] is None else object)
    with pytest.raises(DataError, match="'z' holds complex numbers"):
        detect_schema(pd.DataFrame({"z": column, "x": np.arange(300.0)}))


def test_a_datetime_column_handed_over_as_objects_scores_like_itself():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"t": pd.Timestamp("2020-01-01")
                       + pd.to_timedelta(rng.integers(0, 10**6, 300), "s"),
                       "x": rng.normal(size=300)})
    df.loc[::10, "t"] = pd.NaT
    synth = Synthesizer(epochs=2, verbose=False, seed=0).fit(df)
    rows = df.head(5)
    as_objects = rows.astype({"t": object})
    as_objects.loc[0, "t"] = None  # raised TypeError (a format of None)
    pd.testing.assert_frame_equal(synth.score(as_objects, seed=1), synth.score(rows, seed=1))


def test_python_numbers_in_an_object_column_come_back_as_numbers(tmp_path):
    """Floats in an object column (JSON, astype(object)) were text identifiers whose
    digits were regenerated ('-2.8885177068862994780'); more ints than categories took the
    "other" slot's text ('0041', '9915', above the real maximum). They are numbers now, ints
    as ints; a few integer codes stay categories (ints kept)."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({
        "amount": pd.Series(list(rng.normal(size=300) * 10), dtype=object),
        "count": pd.Series([int(v) if i % 5 else None
                            for i, v in enumerate(rng.integers(2, 900, 300))], dtype=object),
        "code": pd.Series(list(rng.integers(1, 4, 300)), dtype=object)})
    synth = Synthesizer(epochs=2, verbose=False, seed=0).fit(df)
    out = Synthesizer.load(synth.save(tmp_path / "m.safetensors")).sample(500, seed=1)
    assert (out.dtypes == object).all()
    amounts = out["amount"]
    assert amounts.map(type).eq(float).all()
    assert amounts.min() >= min(df["amount"]) and amounts.max() <= max(df["amount"])
    counts = out["count"].dropna()
    assert counts.map(type).eq(int).all() and 2 <= counts.min() and counts.max() < 900
    assert out["count"].isna().any()
    assert out["code"].map(type).eq(int).all() and set(out["code"]) <= {1, 2, 3}

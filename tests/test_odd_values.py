"""Odd values in otherwise plain tables: durations in conditions, date objects, complex
numbers, Arrow dictionaries, and magnitudes too large to standardise."""

import datetime
import re
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from cli.main import app
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
def test_date_objects_come_back_as_date_objects_from_a_saved_model_too(missing, tmp_path):
    """datetime.date objects (Parquet date32 read by pandas) came back as ISO text."""
    df = dates_frame(missing)
    synth = quiet_fit(df)
    assert synth.schema_["d"].kind is ColumnKind.DATETIME and synth.schema_["d"].dtype == "date"
    loaded = Synthesizer.load(synth.save(tmp_path / "m.safetensors"))
    for out in (synth.sample(300, seed=1), loaded.sample(300, seed=1)):
        present = out["d"].dropna()
        assert out["d"].dtype == object and len(present)
        assert present.map(type).eq(datetime.date).all()
        assert present.min() >= df["d"].dropna().min()
        assert present.max() <= df["d"].dropna().max()
        assert out["d"].isna().any() == missing


def test_datetime_objects_are_not_read_as_dates():
    values = pd.Series([datetime.datetime(2020, 1, 1, 5), datetime.date(2020, 1, 2)] * 5,
                       dtype=object, name="d")
    assert detect_column(values).dtype == "object"


def test_declared_categorical_dates_stay_dates_and_iso_text_stays_text():
    df = dates_frame(missing=True)
    df["d"] = df["d"].where(df["d"].isna(), datetime.date(2020, 1, 2))
    df.loc[1::3, "d"] = datetime.date(2020, 1, 3)
    schema = {"columns": [{"name": "d", "kind": "categorical"}]}
    out = quiet_fit(df, schema=schema).sample(200)["d"]
    assert set(out.dropna()) <= {datetime.date(2020, 1, 2), datetime.date(2020, 1, 3)}
    text = pd.DataFrame({"d": df["d"].astype(str).where(df["d"].notna()), "x": df["x"]})
    assert detect_column(text["d"]).dtype == "object"  # ISO text stays text


def test_date_and_durations_are_schema_dtypes_and_others_are_not():
    for dtype in ("date", "timedelta", "text[timedelta]"):
        spec = {"columns": [{"name": "d", "kind": "continuous", "dtype": dtype}]}
        assert Schema.from_json(Schema.from_dict(spec).to_json())["d"].dtype == dtype
    with pytest.raises(SchemaError, match="'dtype' must name a pandas dtype"):
        Schema.from_dict({"columns": [{"name": "d", "kind": "datetime", "dtype": "dates"}]})


# ---------------------------------------------------------------------------- durations as
# Python objects and as text


def waits_frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    t = pd.to_timedelta(rng.integers(0, 10**5, ROWS), unit="s")
    t = pd.Series(t).where(np.arange(ROWS) % 10 != 0)
    return pd.DataFrame({"x": rng.normal(size=ROWS), "t": t})


def test_distinct_durations_are_measurements_not_an_identifier():
    """A timedelta64 column of all-distinct waits on a grid (whole multiples of 7 s), with
    gaps, was detected as an identifier, as distinct whole numbers filling their grid are:
    new values were counters, not waits; durations are continuous."""
    waits = pd.Series(pd.to_timedelta(np.random.default_rng(0).permutation(5000) * 7 + 3,
                                      unit="s"), name="wait")
    spec = detect_column(waits.where(np.arange(5000) % 10 != 0))
    assert spec.kind is ColumnKind.CONTINUOUS and spec.dtype == "timedelta64[ns]"


def test_timedelta_objects_are_durations_and_come_back_as_timedelta_objects(tmp_path):
    """datetime.timedelta objects were a text identifier: '1 day, 8:644:00'."""
    df = waits_frame()
    df["t"] = pd.Series([v.to_pytimedelta() if pd.notna(v) else None for v in df["t"]],
                        dtype=object)
    synth = quiet_fit(df)
    assert synth.schema_["t"].kind is ColumnKind.CONTINUOUS
    assert synth.schema_["t"].dtype == "timedelta"
    loaded = Synthesizer.load(synth.save(tmp_path / "m.safetensors"))
    for out in (synth.sample(300, seed=1), loaded.sample(300, seed=1)):
        present = out["t"].dropna()
        assert out["t"].dtype == object and out["t"].isna().any()
        assert present.map(type).eq(datetime.timedelta).all()
        real = df["t"].dropna()
        assert present.min() >= real.min() and present.max() <= real.max()
        assert all(v.microseconds == 0 for v in present)  # whole seconds, as trained


def test_durations_written_by_to_csv_come_back_in_that_text(tmp_path):
    """A timedelta64 column written to CSV ('0 days 00:01:02') and read back was an
    identifier whose digits were regenerated: '8 days 644:00:76'."""
    df = waits_frame()
    df.loc[1, "t"] = pd.Timedelta("1 days 02:03:04.5")
    df.to_csv(tmp_path / "data.csv", index=False)
    csv = pd.read_csv(tmp_path / "data.csv")
    assert csv["t"].dtype == object
    synth = quiet_fit(csv)
    assert synth.schema_["t"].kind is ColumnKind.CONTINUOUS
    assert synth.schema_["t"].dtype == "text[timedelta]"
    loaded = Synthesizer.load(synth.save(tmp_path / "m.safetensors"))
    for out in (synth.sample(300, seed=1), loaded.sample(300, seed=1)):
        out.to_csv(tmp_path / "out.csv", index=False)
        text = pd.read_csv(tmp_path / "out.csv")["t"]
        assert text.isna().any() and text.dropna().map(type).eq(str).all()
        assert text.dropna().str.fullmatch(r"\d+ days \d{2}:\d{2}:\d{2}(\.\d{6})?").all()
        spans = pd.to_timedelta(text)
        assert spans.min() >= df["t"].min() and spans.max() <= df["t"].max()


def test_under_dp_duration_text_and_objects_stay_the_categories_they_are(tmp_path):
    """A DP fit's schema reads no value, so such a column is a category of its own values:
    they came back as nanoseconds (60000000000.0) when reading durations out of objects
    and text ignored the schema; now as the text (or timedelta objects) given, from a saved
    model too."""
    rng = np.random.default_rng(0)
    spans = pd.to_timedelta(rng.choice([60, 120, 300], 3000), unit="s")
    df = pd.DataFrame({"text": spans.astype(str),
                       "objects": pd.Series(list(spans.to_pytimedelta()), dtype=object),
                       "x": rng.normal(size=3000)})
    synth = Synthesizer(epsilon=5.0, epochs=2, verbose=False, seed=0).fit(df)
    assert synth.schema_["text"].kind is ColumnKind.CATEGORICAL
    loaded = Synthesizer.load(synth.save(tmp_path / "m.safetensors"))
    for out in (synth.sample(200, seed=1), loaded.sample(200, seed=1)):
        text, objects = out["text"].dropna(), out["objects"].dropna()
        assert len(text) and text.isin(set(df["text"])).all()
        assert len(objects) and objects.map(lambda v: isinstance(v, datetime.timedelta)).all()
        assert set(objects) <= set(df["objects"])


def test_under_dp_a_declared_column_without_dtype_does_not_read_its_values_for_one():
    """Whether an object column holds decimals, dates or durations is a fact about every
    private row: a DP fit recorded it for a declared column without a ``dtype``."""
    import decimal

    rng = np.random.default_rng(0)
    amounts = [decimal.Decimal(int(v)) / 100 for v in rng.integers(100, 900, 3000)]
    df = pd.DataFrame({"amount": pd.Series(amounts, dtype=object), "x": rng.normal(size=3000)})
    declared = {"columns": [{"name": "amount", "kind": "continuous", "min": 1, "max": 9}]}
    private = Synthesizer(epsilon=5.0, epochs=1, verbose=False, schema=declared).fit(df)
    plain = Synthesizer(epochs=1, verbose=False, schema=declared).fit(df)
    assert private.schema_["amount"].dtype == "object"
    assert plain.schema_["amount"].dtype == "decimal"
    assert private.sample(50, seed=0)["amount"].between(1, 9).all()


@pytest.mark.parametrize("values", [
    ["0 days 00:01:02", "soon", "1 days 00:00:00"],  # not every value a duration
    ["00:01:02", "00:02:03", "01:00:00"],  # times of day, not pandas' duration text
    ["1h", "2h", "30min"],  # durations pandas reads, but not in the form it writes
], ids=["mixed", "times", "units"])
def test_other_text_is_not_read_as_durations(values):
    column = pd.Series(values * 100, name="t", dtype=object)
    assert detect_column(column).dtype == "object"


def test_cli_csv_round_trip_keeps_durations_as_their_text(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    waits_frame().to_csv("data.csv", index=False)
    runner = CliRunner()
    for args in (["fit", "data.csv", "--epochs", "2", "--quiet"],
                 ["sample", "-n", "100", "-o", "out.csv", "--quiet"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    text = pd.read_csv("out.csv")["t"].dropna()
    assert len(text) and text.str.fullmatch(r"\d+ days \d{2}:\d{2}:\d{2}").all()


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


def test_a_symmetric_column_spread_past_1e102_fits_without_warnings_and_samples_its_spread():
    """Cubed deviations overflowed ("overflow encountered in power" reached the user) and the
    NaN skewness put the column on a log scale."""
    huge = np.random.default_rng(6).normal(1e141, 1e140, ROWS)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        synth = Synthesizer(epochs=3, verbose=False, n_threads=1, seed=0).fit(
            pd.DataFrame({"huge": huge}))
    assert synth.transformer_.transformers_[0].log_scale_ is None
    out = synth.sample(200, seed=1)["huge"]
    assert np.isfinite(out).all() and 0.5e141 < out.mean() < 1.5e141

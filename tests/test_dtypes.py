"""Every pandas and Arrow dtype in, the same dtype out (issue 20), through the Python API and
the CLI: fit, sample, save/load, score, drift and report never see ``pd.NA``.

One small model is fitted on a wide frame holding every dtype (with and without missing
values) and shared by the per-column assertions; the CLI runs a few commands on it."""

import datetime
import decimal
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cli.main import app
from synthvae import PostTrainingWarning, SchemaError, Synthesizer, SynthvaeError, evaluate

ROWS = 240
NA_SHARE = 0.25
runner = CliRunner()


def _base_values(kind: str, rng: np.random.Generator) -> list:
    n = ROWS
    if kind == "int":
        return list(rng.integers(0, 60, n))
    if kind == "small":  # few values: a categorical-looking code
        return list(rng.integers(1, 4, n))
    if kind == "float":
        return list(np.round(rng.normal(10, 3, n), 2))
    if kind == "bool":
        return list(rng.random(n) < 0.4)
    if kind == "text":
        return list(rng.choice(["red", "green", "blue", "grey"], n))
    if kind == "time":
        return list(pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 900, n), "D"))
    raise AssertionError(kind)


# name -> (value kind, dtype); every one is also built with missing values
DTYPES = {
    "np_int64": ("int", "int64"), "np_int32": ("int", "int32"), "np_uint8": ("small", "uint8"),
    "np_float64": ("float", "float64"), "np_float32": ("float", "float32"),
    "np_bool": ("bool", "bool"),
    **{f"nullable_{d}": ("int", d) for d in ("Int8", "Int16", "Int32", "Int64", "UInt8",
                                             "UInt16", "UInt32", "UInt64")},
    "nullable_code_Int64": ("small", "Int64"),
    "nullable_Float32": ("float", "Float32"), "nullable_Float64": ("float", "Float64"),
    "nullable_boolean": ("bool", "boolean"), "nullable_string": ("text", "string"),
    "string_pyarrow": ("text", "string[pyarrow]"),
    "arrow_int64": ("int", pd.ArrowDtype(pa.int64())),
    "arrow_int8_code": ("small", pd.ArrowDtype(pa.int8())),
    "arrow_double": ("float", pd.ArrowDtype(pa.float64())),
    "arrow_bool": ("bool", pd.ArrowDtype(pa.bool_())),
    "arrow_string": ("text", pd.ArrowDtype(pa.string())),
    "arrow_large_string": ("text", pd.ArrowDtype(pa.large_string())),
    "arrow_timestamp": ("time", pd.ArrowDtype(pa.timestamp("us"))),
    "arrow_timestamp_tz": ("time", pd.ArrowDtype(pa.timestamp("us", tz="UTC"))),
    "arrow_date": ("time", pd.ArrowDtype(pa.date32())),
    "arrow_duration": ("int", pd.ArrowDtype(pa.duration("ns"))),
    "category": ("text", "category"),
    "datetime": ("time", "datetime64[ns]"),
    "datetime_tz": ("time", "datetime64[ns, Europe/Paris]"),
    "timedelta": ("int", "timedelta64[ns]"),
    "object_text": ("text", object),
}
NUMPY_WITHOUT_NA = {"np_int64", "np_int32", "np_uint8", "np_bool"}  # NaN would change dtype


def _column(kind: str, dtype, with_na: bool, rng) -> pd.Series:
    values = _base_values(kind, rng)
    if with_na:
        values = [None if m else v for v, m in zip(values, rng.random(ROWS) < NA_SHARE)]
    if str(dtype).startswith(("timedelta64", "duration")):
        return pd.Series(pd.to_timedelta([v if v is None else int(v) for v in values], "h")
                         ).astype(dtype)
    if str(dtype).startswith("datetime64[ns, "):
        return pd.Series(pd.to_datetime(values)).dt.tz_localize(str(dtype)[15:-1])
    if kind == "time" and isinstance(dtype, pd.ArrowDtype):
        stamps = pd.Series(pd.to_datetime(values))
        if dtype.pyarrow_dtype.equals(pa.timestamp("us", tz="UTC")):
            stamps = stamps.dt.tz_localize("UTC")
        return stamps.astype(dtype)
    return pd.Series(pd.array(values if dtype is not object else np.array(values, object),
                              dtype=dtype))


def wide_frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    columns = {}
    for name, (kind, dtype) in DTYPES.items():
        columns[name] = _column(kind, dtype, False, rng)
        if name not in NUMPY_WITHOUT_NA:
            columns[f"{name}_na"] = _column(kind, dtype, True, rng)
    decimals = [decimal.Decimal(f"{v:.2f}") for v in rng.normal(5, 1, ROWS)]
    columns["object_decimal"] = pd.Series(decimals, dtype=object)
    columns["object_decimal_na"] = pd.Series([None if i % 5 == 0 else d for i, d in
                                              enumerate(decimals)], dtype=object)
    columns["arrow_decimal_na"] = columns["object_decimal_na"].astype(
        pd.ArrowDtype(pa.decimal128(9, 2)))
    columns["object_mixed_na"] = pd.Series(
        [None if i % 7 == 0 else ("a" if i % 3 else i % 5) for i in range(ROWS)], dtype=object)
    columns["object_pd_na"] = pd.Series(
        [pd.NA if i % 6 == 0 else ["x", "y"][i % 2] for i in range(ROWS)], dtype=object)
    return pd.DataFrame(columns)


COLUMNS = list(wide_frame().columns)


def quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    return wide_frame()


@pytest.fixture(scope="module")
def model(real) -> Synthesizer:
    return quiet(Synthesizer(epochs=3, verbose=False, prior_components=2, seed=0).fit, real)


@pytest.fixture(scope="module")
def synthetic(model) -> pd.DataFrame:
    return model.sample(600, seed=1)


def same_dtype(a, b) -> bool:
    return a == b and repr(a) == repr(b)


@pytest.mark.parametrize("name", COLUMNS)
def test_sample_gives_the_same_dtype_back(name, real, synthetic):
    assert same_dtype(synthetic[name].dtype, real[name].dtype), \
        (name, real[name].dtype, synthetic[name].dtype)


@pytest.mark.parametrize("name", COLUMNS)
def test_sample_keeps_the_share_of_missing_values(name, real, synthetic):
    real_share, synth_share = real[name].isna().mean(), synthetic[name].isna().mean()
    if real_share == 0:
        assert synth_share == 0, name
    else:
        assert abs(synth_share - real_share) < 0.12, (name, real_share, synth_share)


@pytest.mark.parametrize("name", COLUMNS)
def test_sampled_values_are_of_the_real_kind(name, real, synthetic):
    present = synthetic[name].dropna()
    seen = set(real[name].dropna().astype(str))
    if "decimal" in name:
        assert present.map(lambda v: isinstance(v, decimal.Decimal)).all(), name
    elif real[name].dtype == object or isinstance(real[name].dtype, pd.CategoricalDtype) \
            or pd.api.types.is_string_dtype(real[name].dtype) \
            or pd.api.types.is_bool_dtype(real[name].dtype):
        assert set(present.astype(str)) <= seen, name


def test_the_issue_examples_fit_and_sample():
    for dtype, values in (("Int64", [1, None, 3]), ("string", ["a", None, "b"]),
                          ("boolean", [True, None, False]), ("Float64", [1.5, None, 3.0])):
        d = pd.DataFrame({"c": pd.array(values * 40, dtype=dtype), "v": np.arange(120) * 0.5})
        out = quiet(Synthesizer(epochs=2, verbose=False).fit, d).sample(60)
        assert out["c"].dtype == d["c"].dtype and out["c"].isna().any(), dtype


def test_save_load_samples_the_same_rows_and_dtypes(model, tmp_path):
    path = model.save(tmp_path / "m.safetensors")
    loaded = Synthesizer.load(path)
    pd.testing.assert_frame_equal(loaded.sample(80, seed=3), model.sample(80, seed=3))


def test_decode_and_conditions_give_the_recorded_dtypes(model, real):
    decoded = model.decode(np.zeros((4, model.model_config_.latent_dim)))
    assert decoded.dtypes.to_dict() == real.dtypes.to_dict()
    out = model.sample(30, seed=2, conditions={"nullable_string_na": None})
    assert out["nullable_string_na"].isna().all()
    assert out.dtypes.to_dict() == real.dtypes.to_dict()


def test_conditions_on_a_nullable_integer_column_take_its_integers():
    d = pd.DataFrame({"c": pd.array([1, None, 3] * 40, dtype="Int64"), "v": np.arange(120.0)})
    synth = quiet(Synthesizer(epochs=2, verbose=False).fit, d)
    for asked, allowed in ((1, {1}), ([1, 3], {1, 3}), ("3", {3})):
        out = synth.sample(20, conditions={"c": asked})
        assert out["c"].dtype == "Int64" and set(out["c"]) <= allowed, asked
    codes = pd.DataFrame({"f": [1.0, np.nan, 2.0] * 40, "v": np.arange(120.0)})  # CSV ints
    synth = quiet(Synthesizer(epochs=2, verbose=False).fit, codes)
    assert set(synth.sample(20, conditions={"f": 2})["f"]) == {2.0}


def test_score_and_drift_read_every_dtype(model, real):
    scores = model.score(real.head(50))
    assert np.isfinite(scores["elbo"]).all() and len(scores) == 50
    report = model.drift(real.head(120))
    assert set(report) >= {"drift", "elbo", "latent"}


def test_diagnostics_read_every_dtype(model):
    categorical = {c.name for c in model.schema_.columns if c.kind.value == "categorical"}
    assert {"nullable_boolean_na", "string_pyarrow_na", "arrow_bool_na"} <= categorical
    assert categorical <= set(model.diagnostics_["columns"])


def test_report_reads_every_dtype(real, synthetic):
    cols = [c for c in COLUMNS if c.endswith("_na")][:12] + ["np_float64", "category"]
    report = quiet(evaluate, real[cols], synthetic[cols], seed=0)
    assert report.summary and report.fidelity


# ---------------------------------------------------------------------------- Polars, Arrow


def test_an_arrow_table_comes_back_as_the_same_arrow_schema(real):
    cols = ["arrow_int64_na", "arrow_double_na", "arrow_string_na", "arrow_bool_na",
            "arrow_timestamp_na", "arrow_date_na", "nullable_Int64_na", "category_na"]
    table = pa.Table.from_pandas(real[cols], preserve_index=False)
    synth = quiet(Synthesizer(epochs=2, verbose=False).fit, table)
    out = synth.sample(40, output="arrow")
    assert isinstance(out, pa.Table)
    assert out.schema.remove_metadata().equals(table.schema.remove_metadata()), \
        (out.schema, table.schema)
    assert out.num_rows == 40


def test_a_polars_frame_comes_back_as_the_same_polars_schema(real):
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame({"i": [1, None, 3, 4] * 30, "f": [0.5, 1.5, None, 2.5] * 30,
                          "s": ["a", "b", None, "a"] * 30, "b": [True, False, None, True] * 30,
                          "c": pl.Series(["x", "y", "x", None] * 30, dtype=pl.Categorical)})
    synth = quiet(Synthesizer(epochs=2, verbose=False).fit, frame)
    out = synth.sample(50, output="polars")
    assert isinstance(out, pl.DataFrame) and out.schema == frame.schema, out.schema
    assert out.null_count().sum_horizontal().item() > 0
    assert isinstance(synth.sample(5, output="pandas"), pd.DataFrame)
    report = quiet(evaluate, frame, out, seed=0)
    assert report.fidelity
    assert len(synth.score(frame)) == len(frame)


def test_an_unknown_output_kind_is_refused_before_sampling(model):
    with pytest.raises(SynthvaeError, match="'output' parameter must be one of"):
        model.sample(5, output="excel")


def test_fit_refuses_other_objects_naming_what_it_takes():
    with pytest.raises(SynthvaeError, match="pandas DataFrame, a PyArrow Table or a Polars"):
        Synthesizer(verbose=False).fit({"a": [1, 2]})


# ---------------------------------------------------------------------------- schema dtype


def yyyymmdd_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    days = pd.Timestamp("2019-01-01") + pd.to_timedelta(rng.integers(0, 365, 300), "D")
    return pd.DataFrame({"d": days.strftime("%Y%m%d").astype(np.int64),
                         "v": rng.normal(size=300)})


@pytest.mark.parametrize("fmt", ["%Y%m%d", None])
def test_a_number_column_declared_datetime_comes_back_in_its_declared_dtype(fmt):
    spec = {"name": "d", "kind": "datetime", "dtype": "int64"}
    if fmt:
        spec["datetime_format"] = fmt
    schema = {"columns": [spec, {"name": "v", "kind": "continuous", "dtype": "float64"}]}
    out = quiet(Synthesizer(epochs=3, verbose=False, schema=schema).fit,
                yyyymmdd_frame()).sample(200)
    assert out["d"].dtype == np.int64
    dates = pd.to_datetime(out["d"].astype(str), format="%Y%m%d")  # every value is a date
    assert dates.min() >= pd.Timestamp("2019-01-01") and dates.max() <= pd.Timestamp("2019-12-31")
    assert dates.nunique() > 20  # spread over the year, not a handful of nanoseconds


def test_a_number_column_with_a_text_date_format_is_refused_naming_it():
    schema = {"columns": [{"name": "d", "kind": "datetime", "dtype": "int64",
                           "datetime_format": "%Y-%m-%d"},
                          {"name": "v", "kind": "continuous", "dtype": "float64"}]}
    with pytest.raises(SchemaError, match="'d'.*dtype 'int64'.*not a number"):
        quiet(Synthesizer(epochs=1, verbose=False, schema=schema).fit, yyyymmdd_frame())


# ---------------------------------------------------------------------------- CLI


def invoke(*args) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.output


@pytest.fixture(scope="module")
def cli_model(real, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    data = folder / "nullable.parquet"
    real.drop(columns="object_mixed_na").to_parquet(data)  # Arrow refuses int-and-text cells
    invoke("fit", data, "-q", "--epochs", 2, "-o", folder / "m.safetensors")
    return folder, data


def test_cli_parquet_fit_sample_keeps_dtypes_and_missing_values(cli_model, real):
    folder, data = cli_model
    invoke("sample", "-n", 300, "-m", folder / "m.safetensors", "-o", folder / "s.parquet",
           "-q")
    written, given = pd.read_parquet(folder / "s.parquet"), pd.read_parquet(data)
    assert written.dtypes.to_dict() == given.dtypes.to_dict()
    with_na = [c for c in given.columns if given[c].isna().any()]
    assert written[with_na].isna().any().all()


def test_cli_score_drift_and_report_on_nullable_parquet(cli_model):
    folder, data = cli_model
    invoke("score", data, "-m", folder / "m.safetensors", "-o", folder / "scores.csv")
    assert len(pd.read_csv(folder / "scores.csv")) == ROWS
    result = runner.invoke(app, ["drift", str(folder / "m.safetensors"), str(data)])
    assert result.exit_code in (0, 3) and "Traceback" not in result.output, result.output
    invoke("sample", "-n", 200, "-m", folder / "m.safetensors", "-o", folder / "r.parquet",
           "-q")
    cols = ["nullable_Int64_na", "nullable_boolean_na", "string_pyarrow_na", "np_float64"]
    pd.read_parquet(data)[cols].to_parquet(folder / "real4.parquet")
    pd.read_parquet(folder / "r.parquet")[cols].to_parquet(folder / "synth4.parquet")
    invoke("report", folder / "real4.parquet", folder / "synth4.parquet", "-q",
           "-o", folder / "r.html")


def test_cli_csv_round_trip_keeps_missing_values(real, tmp_path):
    cols = ["nullable_Int64_na", "nullable_boolean_na", "nullable_string_na", "np_float64",
            "datetime_na"]
    real[cols].to_csv(tmp_path / "d.csv", index=False)
    invoke("fit", tmp_path / "d.csv", "-q", "--epochs", 2, "-o", tmp_path / "m.safetensors")
    invoke("sample", "-n", 200, "-m", tmp_path / "m.safetensors", "-o", tmp_path / "s.csv",
           "-q")
    given, written = pd.read_csv(tmp_path / "d.csv"), pd.read_csv(tmp_path / "s.csv")
    assert written.dtypes.to_dict() == given.dtypes.to_dict()
    assert written.isna().any().all() == given.isna().any().all()


# ---------------------------------------------------------------------------- fuzzing

FUZZ_DTYPES = ["Int64", "UInt16", "Float32", "boolean", "string", "string[pyarrow]",
               "category", pd.ArrowDtype(pa.int32()), pd.ArrowDtype(pa.float64()),
               pd.ArrowDtype(pa.string()), pd.ArrowDtype(pa.bool_()), "float64", object]


@st.composite
def typed_frames(draw):
    n = draw(st.integers(1, 40))
    columns = {}
    for i in range(draw(st.integers(1, 3))):
        dtype = draw(st.sampled_from(FUZZ_DTYPES))
        name = str(dtype)
        if "bool" in name:
            element = st.booleans()
        elif any(k in name for k in ("int", "Int", "float", "Float", "double")):
            element = st.integers(0, 1000)
        else:
            element = st.text(max_size=3)
        values = draw(st.lists(st.one_of(st.none(), element), min_size=n, max_size=n))
        columns[f"c{i}"] = pd.Series(pd.array(values, dtype=dtype) if dtype is not object
                                     else np.array(values, dtype=object))
    return pd.DataFrame(columns)


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(typed_frames())
def test_fuzzed_nullable_and_arrow_frames_keep_their_dtypes(df):
    try:
        synth = quiet(Synthesizer(epochs=1, verbose=False, prior_components=2).fit, df)
    except SynthvaeError:
        return
    out = synth.sample(20, seed=0)
    for name in df.columns:
        assert same_dtype(out[name].dtype, df[name].dtype), (name, df[name].dtype,
                                                              out[name].dtype)
        if not df[name].isna().any():
            assert not out[name].isna().any(), name


def test_an_all_missing_category_column_keeps_its_empty_categories_dtype():
    # Found by the fuzz test above: the empty categories came back as object, not float64.
    df = pd.DataFrame({"c0": pd.Series([None, None, None], dtype="category"),
                       "x": [1.0, 2.0, 3.5]})
    synth = quiet(Synthesizer(epochs=1, verbose=False, prior_components=2).fit, df)
    out = synth.sample(5, seed=0)
    assert same_dtype(out["c0"].dtype, df["c0"].dtype) and out["c0"].isna().all()


@pytest.mark.parametrize("column", [
    pd.Categorical(["lo"] * 40, categories=["lo", "mid", "hi"], ordered=True),
    pd.Categorical(["lo"] * 36 + [None] * 4, categories=["lo", "mid"]),
    pd.Categorical([None] * 40, categories=["lo", "hi"], ordered=True)],
    ids=["constant-ordered", "constant-with-missing", "all-missing-ordered"])
def test_a_constant_category_column_keeps_its_categories_and_order(column, tmp_path):
    df = pd.DataFrame({"c": column, "x": np.linspace(0, 1, 40)})
    synth = quiet(Synthesizer(epochs=1, verbose=False, prior_components=2).fit, df)
    for out in (synth.sample(20, seed=0),
                Synthesizer.load(synth.save(tmp_path / "m.safetensors")).sample(20, seed=0)):
        assert out["c"].dtype == df["c"].dtype  # same categories, same order flag
        assert set(out["c"].dropna()) <= set(df["c"].dropna())


@pytest.mark.parametrize("dtype", ["datetime64[s]", "datetime64[ms]", "timestamp[ms][pyarrow]",
                                   "datetime64[s, Europe/Paris]"])
def test_datetimes_past_2262_keep_their_century(dtype, tmp_path):
    """datetime64[s] / [ms] and Arrow timestamps hold years nanoseconds cannot: the
    open-ended 9999-12-31 of a validity table came back as 1816-03-29 (read and written
    through nanoseconds), an Arrow column raised pandas' OutOfBoundsDatetime. They are
    read and written in their own unit."""
    rng = np.random.default_rng(0)
    start = np.datetime64("2020-01-01", "s") + rng.integers(0, 86_400 * 900, 400).astype(
        "timedelta64[s]")
    stamps = pd.Series(np.where(rng.random(400) < 0.5, np.datetime64("9999-12-31", "s"),
                                start), dtype="datetime64[s]")
    stamps = stamps.dt.tz_localize("Europe/Paris") if "Paris" in dtype else stamps.astype(dtype)
    df = pd.DataFrame({"valid_to": stamps, "x": rng.normal(size=400)})
    synth = quiet(Synthesizer(epochs=2, verbose=False, prior_components=2).fit, df)
    for out in (synth.sample(300, seed=0),
                Synthesizer.load(synth.save(tmp_path / "m.safetensors")).sample(300, seed=0)):
        assert out["valid_to"].dtype == df["valid_to"].dtype
        assert out["valid_to"].min() >= df["valid_to"].min()
        assert out["valid_to"].max() <= df["valid_to"].max()
        assert out["valid_to"].max().year == 9999  # the sentinel is drawn


def test_a_zoned_column_of_dates_comes_back_as_local_midnights():
    """Local midnights across a daylight-saving switch are 22:00 or 23:00 UTC: the unit was
    found on UTC instants (hours), and 196 of 200 sampled dates had a random hour."""
    days = pd.Series(pd.date_range("2021-01-01", "2021-12-31", freq="D", tz="Europe/Paris"))
    df = pd.DataFrame({"day": days.sample(400, replace=True, random_state=0).to_numpy(),
                       "x": np.random.default_rng(0).normal(size=400)})
    out = quiet(Synthesizer(epochs=2, verbose=False, prior_components=2).fit, df).sample(
        300, seed=1)
    assert str(out["day"].dt.tz) == "Europe/Paris"
    assert (out["day"] == out["day"].dt.normalize()).all()


def test_a_zoned_date_rounded_across_a_daylight_saving_switch_is_a_local_midnight():
    """Noon of 2021-03-28 in Paris (+02:00) rounds to that day's midnight, which is +01:00:
    the offset is the one where the rounded instant lands, not the drawn one's."""
    from synthvae import detect_schema
    from synthvae.transforms.table import TableTransformer

    days = pd.Series(pd.date_range("2021-03-20", "2021-04-05", freq="D", tz="Europe/Paris"))
    frame = pd.DataFrame({"day": days})
    transformer = TableTransformer(detect_schema(frame)).fit(frame)
    column = transformer.transformers_[0]
    drawn = pd.Series(pd.to_datetime(["2021-03-28 11:50+02:00", "2021-03-28 12:10+02:00",
                                      "2021-10-31 11:50+01:00"], utc=True))
    out = column.from_numbers(drawn.astype("int64").to_numpy() / 1e9)
    assert (out == out.dt.normalize()).all(), out.tolist()
    assert out.dt.strftime("%Y-%m-%d").tolist() == ["2021-03-28", "2021-03-29", "2021-10-31"]


def test_a_zoned_hour_rounded_into_a_daylight_saving_gap_moves_forward():
    """Hourly Paris times: 01:40+01:00 on the spring-forward night rounds to 02:00, which
    does not exist there: it becomes 03:00+02:00 (the same instant as 02:00+01:00); on the
    fall-back night 02:40+02:00 rounds to 03:00, which is +01:00."""
    from synthvae import detect_schema
    from synthvae.transforms.table import TableTransformer

    hours = pd.Series(pd.date_range("2021-03-27", "2021-11-01", freq="h", tz="Europe/Paris"))
    frame = pd.DataFrame({"hour": hours})
    column = TableTransformer(detect_schema(frame)).fit(frame).transformers_[0]
    drawn = pd.Series(pd.to_datetime(["2021-03-28 01:40+01:00", "2021-10-31 02:40+02:00",
                                      "2021-06-01 10:20+02:00"], utc=True))
    out = column.from_numbers(drawn.astype("int64").to_numpy() / 1e9)
    assert [stamp.isoformat() for stamp in out] == [
        "2021-03-28T03:00:00+02:00", "2021-10-31T03:00:00+01:00", "2021-06-01T10:00:00+02:00"]


def test_a_zoned_date_rounded_onto_a_skipped_midnight_keeps_its_date():
    """Sao Paulo switched at midnight (2018-11-04 00:00 did not exist): a date drawn on
    that day keeps it, at 01:00, the first hour the day had."""
    from synthvae import detect_schema
    from synthvae.transforms.table import TableTransformer

    days = pd.Series(pd.date_range("2018-10-01", "2018-10-30", freq="D",
                                   tz="America/Sao_Paulo"))
    column = TableTransformer(detect_schema(pd.DataFrame({"day": days}))).fit(
        pd.DataFrame({"day": days})).transformers_[0]
    drawn = pd.Series(pd.to_datetime(["2018-11-04 10:00-02:00", "2018-11-04 12:30-02:00"],
                                     utc=True))
    out = column.from_numbers(drawn.astype("int64").to_numpy() / 1e9)
    assert [stamp.isoformat() for stamp in out] == ["2018-11-04T01:00:00-02:00",
                                                    "2018-11-05T00:00:00-02:00"]


@pytest.mark.parametrize("freq, periods", [("M", 300), ("Q", 20), ("W", 60), ("D", 400)])
def test_period_columns_come_back_as_periods_of_their_frequency(freq, periods, tmp_path):
    """Monthly, quarterly and weekly periods were categories a model file could not store
    (save refused after the fit), or, past 200 of them, identifiers whose digits were
    regenerated ('99693-13'). They are modelled as the datetimes of their starts."""
    values = pd.Series(pd.period_range("2000-01", periods=periods, freq=freq))
    df = pd.DataFrame({"p": values.sample(400, replace=True, random_state=0).to_numpy(),
                       "x": np.random.default_rng(0).normal(size=400)})
    synth = quiet(Synthesizer(epochs=2, verbose=False, prior_components=2).fit, df)
    out = Synthesizer.load(synth.save(tmp_path / "m.safetensors")).sample(300, seed=1)
    assert out["p"].dtype == df["p"].dtype
    assert out["p"].min() >= df["p"].min() and out["p"].max() <= df["p"].max()


def datetime_objects(kind: str, n: int = 300) -> pd.Series:
    """An object column of naive ``datetime.datetime`` values with gaps, or of
    ``pd.Timestamp`` values in two time zones (what pandas keeps as objects)."""
    import datetime

    rng = np.random.default_rng(0)
    start = datetime.datetime(2020, 1, 1)
    times = [start + datetime.timedelta(minutes=int(m)) for m in rng.integers(0, 130_000, n)]
    if kind == "datetime":
        return pd.Series([None if i % 10 == 0 else t for i, t in enumerate(times)],
                         dtype=object)
    zones = ("Europe/Paris", "America/New_York")
    return pd.Series([pd.Timestamp(t, tz=zones[i % 2]) for i, t in enumerate(times)],
                     dtype=object)


@pytest.mark.parametrize("kind, zone", [("datetime", None), ("timestamp", "UTC")],
                         ids=["datetime", "timestamps_in_two_zones"])
def test_datetime_objects_come_back_as_datetime_objects_from_a_saved_model_too(kind, zone,
                                                                               tmp_path):
    """300 datetime.datetime objects came back as text ('2020-02-03 06:50:00'); Timestamps
    in two zones as text with UTC offsets. They come back as the objects they were, those
    of several zones in UTC, the one zone every instant has."""
    df = pd.DataFrame({"t": datetime_objects(kind), "x": np.arange(300.0)})
    synth = quiet(Synthesizer(epochs=2, verbose=False, prior_components=2).fit, df)
    assert synth.schema_["t"].dtype == kind and synth.schema_["t"].timezone == zone
    loaded = Synthesizer.load(synth.save(tmp_path / "m.safetensors"))
    for out in (synth.sample(200, seed=1), loaded.sample(200, seed=1)):
        present = out["t"].dropna()
        assert out["t"].dtype == object and out["t"].isna().any() == (kind == "datetime")
        assert present.map(type).eq(pd.Timestamp if zone else datetime.datetime).all()
        assert {str(v.tzinfo) if v.tzinfo else None for v in present} == {zone}
        real = pd.to_datetime(df["t"].dropna(), utc=zone is not None)
        assert real.min() <= pd.Timestamp(present.min()) <= pd.Timestamp(present.max()) \
            <= real.max()


@pytest.mark.parametrize("zone", ["dateutil", "pytz-fixed", "dateutil-utc"])
def test_dateutil_and_fixed_offset_zones_are_kept_by_name(zone):
    """str() of dateutil's zone files and of pytz's fixed offsets names nothing pandas
    reads back: such columns were refused with a message about a schema dtype the user
    never wrote. They are recorded as Europe/Paris, UTC-03:00, UTC."""
    import dateutil.tz
    import pytz

    tz, name = {"dateutil": (dateutil.tz.gettz("Europe/Paris"), "Europe/Paris"),
                "pytz-fixed": (pytz.FixedOffset(-180), "UTC-03:00"),
                "dateutil-utc": (dateutil.tz.tzutc(), "UTC")}[zone]
    stamps = pd.Series(pd.date_range("2021-03-01", periods=300, freq="7h")).dt.tz_localize(tz)
    df = pd.DataFrame({"t": stamps, "x": np.random.default_rng(0).normal(size=300)})
    synth = quiet(Synthesizer(epochs=1, verbose=False, prior_components=2).fit, df)
    assert synth.schema_["t"].timezone == name
    out = synth.sample(50, seed=0)
    assert str(out["t"].dt.tz) == name and out["t"].min() >= df["t"].min()


def arrow_written_parquet(path, columns: dict) -> None:
    """A Parquet file as Spark, DuckDB, Polars or pyarrow write it: no pandas metadata."""
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path)


def test_cli_keeps_the_arrow_types_of_a_parquet_file_pandas_did_not_write(tmp_path):
    """pd.read_parquet read nullable integers of such files as floats (the synthetic file
    had `double`), narrowed decimal128(10, 2) to the sample's precision and wrote
    large_string as string; the CLI reads them as fit(pa.Table) does."""
    rng = np.random.default_rng(0)
    blanks = rng.random(ROWS) < 0.2
    arrow_written_parquet(tmp_path / "d.parquet", {
        "x": pa.array(rng.normal(size=ROWS)),
        "count": pa.array([None if b else int(v) for b, v in
                           zip(blanks, rng.integers(0, 900, ROWS))], pa.int64()),
        "big": pa.array([None if b else int(v) for b, v in
                         zip(blanks[::-1], rng.integers(0, 2**40, ROWS))], pa.uint64()),
        "price": pa.array([decimal.Decimal(f"{v:.2f}") for v in rng.uniform(0, 90, ROWS)],
                          pa.decimal128(10, 2)),
        "label": pa.array(list(rng.choice(["a", "b", "c"], ROWS)), pa.large_string()),
    })
    invoke("fit", tmp_path / "d.parquet", "-q", "--epochs", 1, "-o", tmp_path / "m.safetensors")
    invoke("sample", "-n", 200, "-m", tmp_path / "m.safetensors", "-o", tmp_path / "s.parquet",
           "-q")
    import pyarrow.parquet as pq

    given, written = pq.read_schema(tmp_path / "d.parquet"), pq.read_schema(tmp_path / "s.parquet")
    assert {f.name: f.type for f in written} == {f.name: f.type for f in given}
    assert pq.read_table(tmp_path / "s.parquet")["count"].null_count > 0


def test_a_binary_column_is_saved_and_comes_back_as_bytes(tmp_path):
    """A model with bytes categories (a Parquet `binary` column) trained to the end, then
    could not be saved ("holds values of type bytes ... which a model file cannot store")."""
    rng = np.random.default_rng(1)
    codes = [bytes(v, "ascii") for v in rng.choice(["ab", "cd", "ef"], ROWS)]
    arrow_written_parquet(tmp_path / "b.parquet", {"code": pa.array(codes, pa.binary()),
                                                   "x": pa.array(rng.normal(size=ROWS))})
    invoke("fit", tmp_path / "b.parquet", "-q", "--epochs", 1, "-o", tmp_path / "m.safetensors")
    invoke("sample", "-n", 100, "-m", tmp_path / "m.safetensors", "-o", tmp_path / "s.parquet",
           "-q")
    import pyarrow.parquet as pq

    sampled = pq.read_table(tmp_path / "s.parquet")
    assert sampled.schema.field("code").type == pa.binary()
    assert set(sampled["code"].to_pylist()) <= set(codes)
    df = pd.DataFrame({"code": pd.Series(codes, dtype=object), "x": rng.normal(size=ROWS)})
    synth = quiet(Synthesizer(epochs=1, verbose=False, prior_components=2).fit, df)
    loaded = Synthesizer.load(synth.save(tmp_path / "api.safetensors"))
    pd.testing.assert_frame_equal(loaded.sample(50, seed=2), synth.sample(50, seed=2))
    assert {type(v) for v in loaded.sample(50, seed=2)["code"]} == {bytes}


def test_cli_wide_decimal_fixed_size_binary_and_uuid_parquet_columns_come_back(tmp_path):
    """decimal256 and fixed_size_binary columns fitted, then every sample crashed (decimals
    were rebuilt as decimal128, which holds 38 digits; pandas reads no fixed_size_binary[4]
    from its name), also from the CLI with -o out.csv. A uuid identifier came back as
    string of random letters."""
    import uuid

    import pyarrow.parquet as pq

    rng = np.random.default_rng(3)
    keys = [uuid.UUID(int=int(v)) for v in rng.integers(0, 2**62, ROWS)]
    columns = {
        "x": pa.array(rng.normal(size=ROWS)),
        "amount": pa.array([decimal.Decimal(f"{v:.2f}") for v in rng.uniform(0, 99, ROWS)],
                           pa.decimal256(40, 2)),
        "code": pa.array([v.encode() * 4 for v in rng.choice(list("abc"), ROWS)], pa.binary(4)),
        "key": pa.array([k.bytes for k in keys], pa.uuid()),
        "group": pa.array([keys[i].bytes for i in rng.integers(0, 3, ROWS)], pa.uuid()),
    }
    arrow_written_parquet(tmp_path / "d.parquet", columns)
    invoke("fit", tmp_path / "d.parquet", "-q", "--epochs", 1, "-o", tmp_path / "m.safetensors")
    for out in ("s.parquet", "s.csv"):
        invoke("sample", "-n", 100, "-m", tmp_path / "m.safetensors", "-o", tmp_path / out, "-q")
    given, sampled = pq.read_table(tmp_path / "d.parquet"), pq.read_table(tmp_path / "s.parquet")
    assert {f.name: f.type for f in sampled.schema} == {f.name: f.type for f in given.schema}
    assert set(sampled["code"].to_pylist()) <= {b"aaaa", b"bbbb", b"cccc"}
    assert set(sampled["group"].to_pylist()) <= set(keys)
    new_keys = sampled["key"].to_pylist()
    assert len(set(new_keys)) == 100 and not set(new_keys) & set(keys)
    text = pd.read_csv(tmp_path / "s.csv")
    assert text["key"].map(lambda v: str(uuid.UUID(v)) == v).all()


def test_an_identifier_in_a_fixed_size_binary_column_is_refused_at_fit():
    """Identifiers, and rare values grouped as 'other', are regenerated one character longer
    than any training value: such a model fitted and could never sample."""
    rng = np.random.default_rng(4)
    table = pa.table({"x": rng.normal(size=ROWS),
                      "tag": pa.array([f"{i:04d}".encode() for i in range(ROWS)], pa.binary(4))})
    with pytest.raises(SchemaError, match=r"'tag' \(fixed_size_binary\[4\]\[pyarrow\]\) is an "
                                          r"identifier.*exactly 4 bytes.*variable-size"):
        Synthesizer(epochs=1, verbose=False).fit(table)
    emails = pa.array([f"u{i:03d}@x.io".encode() for i in range(ROWS)], pa.binary(9))
    with pytest.raises(SchemaError, match=r"'mail' \(fixed_size_binary\[9\]\[pyarrow\]\) is "
                                          r"an identifier"):  # its fakes crashed every sample
        Synthesizer(epochs=1, verbose=False).fit(table.drop(["tag"]).append_column("mail", emails))
    assert evaluate(table.to_pandas(), table.to_pandas()) is not None  # a report fits nothing
    categorical = {"columns": [{"name": "tag", "kind": "categorical"}]}
    with pytest.raises(SynthvaeError, match=r"'tag' .* more than max_categories \(200\)"):
        quiet(Synthesizer(epochs=1, verbose=False, schema=categorical).fit, table)
    declared = Synthesizer(epochs=1, verbose=False, schema=categorical, max_categories=ROWS)
    out = quiet(declared.fit, table).sample(20, output="arrow")
    assert out.schema.field("tag").type == pa.binary(4)


def test_a_polars_enum_comes_back_as_the_same_enum_with_its_unused_values():
    pl = pytest.importorskip("polars")
    rng = np.random.default_rng(5)
    size = pl.Enum(["S", "M", "L", "XL"])
    frame = pl.DataFrame({"x": rng.normal(size=ROWS),
                          "size": pl.Series(list(rng.choice(["S", "M", "L"], ROWS)), dtype=size),
                          "c": pl.Series(list(rng.choice(["a", "b"], ROWS)),
                                         dtype=pl.Categorical)})
    out = quiet(Synthesizer(epochs=1, verbose=False).fit, frame).sample(30, output="polars")
    assert out.schema == frame.schema, out.schema


@pytest.mark.parametrize("kind", [pa.string_view(), pa.binary_view()])
def test_a_view_column_is_read_by_training_diagnostics(kind):
    """pyarrow has no take for view types: training diagnostics failed with a warning."""
    rng = np.random.default_rng(6)
    values = list(rng.choice(["red", "green", "blue"], ROWS))
    table = pa.table({"x": rng.normal(size=ROWS),
                      "colour": pa.array(values if kind == pa.string_view() else
                                         [v.encode() for v in values], kind)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", category=PostTrainingWarning)
        synth = Synthesizer(epochs=1, verbose=False).fit(table)
    assert synth.diagnostics_ is not None
    assert synth.sample(20, output="arrow").schema.field("colour").type == kind


def test_zoned_datetime_objects_beyond_nanosecond_years_sample_without_crashing():
    """pandas' vectorised conversion of a zoned column with years before 1677 to objects
    crashed the interpreter (a segfault) when such a column was sampled."""
    from zoneinfo import ZoneInfo

    paris = ZoneInfo("Europe/Paris")
    rng = np.random.default_rng(0)
    years = rng.integers(1500, 2200, 200)
    df = pd.DataFrame({"when": pd.Series([datetime.datetime(int(y), 6, 1, 12, tzinfo=paris)
                                          for y in years], dtype=object),
                       "x": rng.normal(size=200)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = Synthesizer(epochs=1, verbose=False).fit(df).sample(300, seed=1)
    present = out["when"].dropna()
    assert out["when"].dtype == object and len(present) > 250
    assert all(type(v) is datetime.datetime and v.utcoffset() is not None for v in present)
    assert min(v.year for v in present) < 1677

"""Odd input columns a tester found: datetimes with UTC offsets or day-first dates in text,
zoned columns with no value, unchecked schema values, bytes that are not UTF-8 and integer
ids too large for their dtype. Each gives a correct synthetic column or a SynthvaeError
naming the column."""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app
from synthvae import ColumnKind, DataError, SchemaError, Synthesizer, detect_schema
from synthvae.schema import ColumnSpec, schema_from_any
from synthvae.transforms.idformat import generate, learn_template

runner = CliRunner()
OFFSET_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$")


def fit(df: pd.DataFrame, **params) -> Synthesizer:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Synthesizer(epochs=1, verbose=False, prior_components=2, **params).fit(df)


def zoned(start: str, tz: str = "Europe/Paris", n: int = 200) -> pd.DataFrame:
    return pd.DataFrame({"x": np.random.default_rng(0).normal(size=n),
                         "z": pd.date_range(start, periods=n, freq="7h", tz=tz)})


# ----------------------------------------------------------------- 1. datetimes as text


def test_text_with_one_utc_offset_is_a_zoned_datetime(tmp_path):
    path = tmp_path / "t.csv"
    zoned("2020-01-01").to_csv(path, index=False)  # winter only: "+01:00" on every row
    spec = detect_schema(pd.read_csv(path))["z"]
    assert spec.kind is ColumnKind.DATETIME
    assert (spec.datetime_format, spec.timezone) == ("%Y-%m-%d %H:%M:%S%z", "UTC+01:00")
    out = fit(pd.read_csv(path)).sample(50, seed=0)["z"]
    assert out.str.match(OFFSET_TEXT).all() and out.str.endswith("+01:00").all()
    assert pd.to_datetime(out, utc=True).between("2019-12-01", "2020-03-01", "both").all()


def test_offsets_that_change_across_daylight_saving_are_read_as_utc(tmp_path):
    path = tmp_path / "t.csv"
    zoned("2020-03-20").to_csv(path, index=False)  # +01:00, then +02:00 from March 29
    real = pd.read_csv(path)
    assert {"+01:00", "+02:00"} <= set(real["z"].str[-6:])
    spec = detect_schema(real)["z"]
    assert (spec.kind, spec.timezone) == (ColumnKind.DATETIME, "UTC")
    out = fit(real).sample(50, seed=0)["z"]
    assert out.str.match(OFFSET_TEXT).all() and out.str.endswith("+00:00").all()


def test_schema_suggestions_and_the_report_read_offsets_that_change(tmp_path):
    from synthvae.reports import evaluate

    path = tmp_path / "t.csv"
    zoned("2020-03-20").to_csv(path, index=False)
    shown = runner.invoke(app, ["schema", str(path)])  # suggestions on by default
    assert shown.exit_code == 0, shown.output
    real = pd.read_csv(path)
    report = evaluate(real, fit(real).sample(200, seed=0))
    assert report.fidelity["column_shapes"] is not None
    assert report.fidelity["detection"]["logistic"]["score"] is not None


def test_a_named_zone_in_the_schema_writes_its_own_offsets():
    real = zoned("2020-03-20").astype({"z": str})
    schema = {"columns": [{"name": "z", "kind": "datetime", "timezone": "Europe/Paris",
                           "datetime_format": "%Y-%m-%d %H:%M:%S%z"}]}
    out = fit(real, schema=schema).sample(200, seed=0)["z"]
    stamps = pd.to_datetime(out, utc=True).dt.tz_convert("Europe/Paris")
    assert (stamps.dt.strftime("%z").str[:3] + ":" + stamps.dt.strftime("%z").str[3:]
            == out.str[-6:]).all()


def test_the_cli_samples_zoned_text_back_with_offsets(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    zoned("2020-01-01").to_csv("t.csv", index=False)
    result = runner.invoke(app, ["fit", "t.csv", "-q", "--epochs", "1", "-o", "m.safetensors"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["sample", "-m", "m.safetensors", "-n", "30", "-o", "o.csv",
                                 "-q"])
    assert result.exit_code == 0, result.output
    assert pd.read_csv("o.csv")["z"].str.match(OFFSET_TEXT).all()


@pytest.mark.parametrize("fmt", ["%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y %H:%M",
                                 # as spreadsheets export them; these were identifiers, and
                                 # 07/05/23 came back as 117/86/58, Jul 05, 2023 as Fmn 33, 76359
                                 "%m/%d/%y", "%d.%m.%y", "%d-%b-%Y", "%d-%b-%y", "%b %d, %Y",
                                 "%m/%d/%Y %I:%M %p"])
def test_day_and_month_in_either_order_when_the_values_tell(fmt):
    days = pd.date_range("2020-01-01", periods=200, freq="D") + pd.Timedelta(hours=9)
    real = pd.DataFrame({"x": np.arange(200.0), "d": days.strftime(fmt)})
    assert detect_schema(real)["d"].datetime_format == fmt
    out = fit(real).sample(50, seed=0)["d"]
    assert pd.to_datetime(out, format=fmt, errors="coerce").notna().all()


def test_dates_of_ambiguous_order_are_never_regenerated_as_invalid_dates():
    # Every first and second field is <= 12: either order reads; no format is guessed.
    days = [f"{d:02d}/{m:02d}/2020" for m in range(1, 13) for d in range(1, 13)]
    real = pd.DataFrame({"x": np.arange(150.0), "d": days + days[:6]})  # 96 % distinct
    assert detect_schema(real)["d"].kind is ColumnKind.CATEGORICAL  # not an identifier
    out = fit(real).sample(100, seed=0)["d"]
    assert out.isin(days).all()


def test_identifier_templates_never_write_date_like_text():
    days = pd.date_range("2020-01-01", periods=300).strftime("%d/%m/%Y").tolist()
    values = generate(learn_template(days), np.arange(100), np.random.default_rng(0))
    assert not any(re.match(r"^\d+/\d+/\d+$", v) for v in values)


# ----------------------------------------------------------------- 2. zoned, all missing


@pytest.mark.parametrize("tz", ["UTC", "Europe/Paris"])
def test_a_zoned_column_with_no_value_samples_as_one(tz):
    dtype = f"datetime64[ns, {tz}]"
    real = pd.DataFrame({"x": np.arange(200.0), "z": pd.Series([pd.NaT] * 200, dtype=dtype)})
    with warnings.catch_warnings():
        warnings.simplefilter("error", category=Warning)
        warnings.filterwarnings("ignore", message="Posterior collapse")
        model = Synthesizer(epochs=1, verbose=False, prior_components=2).fit(real)
    out = model.sample(5, seed=0)
    assert str(out["z"].dtype) == dtype and out["z"].isna().all()


# ----------------------------------------------------------------- 3. schema values


@pytest.mark.parametrize("column, words", [
    ({"name": "x", "kind": "continuous", "min": "a"}, ["'x'", "'min'", "number", "'a'"]),
    ({"name": "x", "kind": "continuous", "max": True}, ["'x'", "'max'", "number", "True"]),
    ({"name": "x", "kind": "continuous", "min": 10, "max": -10},
     ["'x'", "'min'", "at most 'max'", "10", "-10"]),
    ({"name": "x", "kind": "continuous", "dtype": "floaty"}, ["'x'", "'dtype'", "'floaty'"]),
    ({"name": "x", "kind": "continuous", "decimals": -1}, ["'x'", "'decimals'", "-1"]),
    ({"name": "t", "kind": "datetime", "timezone": "Mars/Base"},
     ["'t'", "'timezone'", "time zone", "'Mars/Base'"]),
    ({"name": "t", "kind": "datetime", "min": "2020-01-01"},
     ["'t'", "'min'", "seconds since 1970", "'2020-01-01'"]),
    ({"name": "c", "kind": "categorical", "categories": "abc"},
     ["'c'", "'categories'", "list", "'abc'"]),
])
def test_bad_schema_values_are_schema_errors_naming_column_and_field(column, words):
    with pytest.raises(SchemaError) as caught:
        schema_from_any({"columns": [column]})
    for word in words:
        assert word in str(caught.value)


def test_bad_schema_values_fail_before_training():
    real = pd.DataFrame({"x": np.arange(100.0)})
    with pytest.raises(SchemaError, match="'x'.*'min'"):
        fit(real, schema={"columns": [{"name": "x", "kind": "continuous", "min": "a"}]})


def test_a_schema_of_another_type_is_a_schema_error():
    with pytest.raises(SchemaError, match="'schema' parameter.*Got a list"):
        fit(pd.DataFrame({"x": np.arange(100.0)}),
            schema=[{"name": "x", "kind": "continuous"}])


def test_valid_schema_values_still_pass():
    spec = ColumnSpec(name="t", kind=ColumnKind.DATETIME, dtype="datetime64[ns, UTC+01:00]",
                      timezone="UTC+01:00", min=0, max=np.float64(1e9))
    assert spec.timezone == "UTC+01:00"
    assert ColumnSpec(name="d", kind=ColumnKind.CONTINUOUS, dtype="decimal", decimals=2)
    assert ColumnSpec(name="a", kind=ColumnKind.CATEGORICAL, dtype="utf8[pyarrow]")


# ----------------------------------------------------------------- 4. bytes


def test_bytes_that_are_not_utf8_are_a_data_error_naming_the_column():
    real = pd.DataFrame({"z": [b"a", b"b\xff"] * 100, "x": np.arange(200.0)})
    with pytest.raises(DataError, match="'z'.*not UTF-8"):
        fit(real)


def test_utf8_bytes_are_still_categories():
    out = fit(pd.DataFrame({"z": [b"a", b"b"] * 100, "x": np.arange(200.0)})).sample(20)
    assert set(out["z"]) <= {b"a", b"b"}


# ----------------------------------------------------------------- 5. large integer ids


def near_top(n: int = 200) -> np.ndarray:
    return np.uint64(2 ** 64 - 1000) - np.arange(n, dtype=np.uint64)


@pytest.mark.parametrize("dtype", ["uint64", "UInt64", "uint64[pyarrow]"])
def test_ids_that_cannot_count_on_in_their_dtype_fail_at_fit(dtype):
    real = pd.DataFrame({"x": np.arange(200.0), "u": pd.Series(near_top(), dtype=dtype)})
    with pytest.raises(DataError, match="'u'.*do not fit its dtype uint64"):
        fit(real)


def test_a_nullable_uint64_id_that_counts_on_in_uint64_samples():
    ids = np.uint64(17_900_000_000_000_000_000) + np.arange(200, dtype=np.uint64)
    real = pd.DataFrame({"x": np.arange(200.0), "u": pd.Series(ids, dtype="UInt64")})
    out = fit(real).sample(20, seed=0)["u"]
    assert str(out.dtype) == "UInt64" and out.is_unique and (out > ids.max()).all()


def test_ids_beyond_float64_precision_with_missing_cells_are_judged_on_exact_values():
    """A nullable id column is read as float64, which merges ids beyond 2**53; its kind is
    decided on the exact values: near uint64's top it is refused as the full column is."""
    values = pd.array(list(near_top(199)) + [None], dtype="UInt64")
    real = pd.DataFrame({"x": np.arange(200.0), "u": values})
    with pytest.raises(DataError, match="'u'.*do not fit its dtype uint64"):
        fit(real)


@pytest.mark.parametrize("dtype", ["Int64", "int64[pyarrow]", "uint64[pyarrow]"])
def test_nullable_snowflake_ids_sample_new_ids_in_their_dtype(dtype):
    """Tweet-style ids (~1.4e18, beyond 2**53) in a nullable or Arrow column with missing
    cells are identifiers: new unique ids in the column's dtype, missing cells kept (they
    were refused as integers float64 cannot keep; an Arrow id column crashed sampling)."""
    ids = np.int64(1_400_000_000_000_000_000) + np.sort(
        np.random.default_rng(0).choice(10**15, 400, replace=False))
    column = pd.Series(ids, dtype=dtype)
    column[::4] = None
    real = pd.DataFrame({"x": np.arange(400.0), "tweet_id": column})
    assert detect_schema(real).columns[1].kind is ColumnKind.IDENTIFIER
    out = fit(real).sample(200, seed=0)["tweet_id"]
    assert str(out.dtype) == dtype and out.isna().any() and out.dropna().is_unique
    assert not set(out.dropna()) & set(ids) and (out.dropna() > ids.max()).all()


@pytest.mark.parametrize("values", [[2**60, 2**60 + 1, None], [2**60 + 1, None]])
def test_codes_or_a_constant_beyond_float64_precision_with_missing_cells_are_refused(values):
    real = pd.DataFrame({"x": np.arange(150.0), "c": pd.array(values * (150 // len(values)),
                                                                 dtype="Int64")})
    with pytest.raises(DataError, match=r"'c' \(Int64, with missing cells\) holds values up "
                                        r"to 1152921504606846977, beyond 2\*\*53"):
        detect_schema(real)
    full = real.assign(c=real["c"].fillna(2**60 + 1))  # no missing cell: read exactly
    assert set(fit(full).sample(50, seed=0)["c"]) <= {2**60, 2**60 + 1}


def test_nullable_large_integers_float64_keeps_apart_are_numbers_as_full_columns_are():
    """Nanosecond stamps in an Int64 column with missing cells: modelled as numbers, as the
    same column without missing cells is; codes float64 merges are refused in both."""
    rng = np.random.default_rng(0)
    stamps = pd.array(np.int64(1_600_000_000_000_000_000) + rng.integers(0, 10**15, 300),
                      dtype="Int64")
    stamps[::5] = None
    assert detect_schema(pd.DataFrame({"ns": stamps})).columns[0].kind is ColumnKind.CONTINUOUS
    codes = pd.array(np.int64(2**60) + 3 * rng.integers(0, 1_000, 300), dtype="Int64")
    codes[::5] = None
    with pytest.raises(DataError, match="'code' holds integers beyond 2\\*\\*53"):
        detect_schema(pd.DataFrame({"code": codes}))


def test_repeated_categories_in_a_schema_are_a_schema_error():
    with pytest.raises(SchemaError, match="'c': 'categories' must be distinct values. Got 'a' "
                                          "more than once"):
        ColumnSpec.from_dict({"name": "c", "kind": "categorical", "categories": ["a", "b", "a"]})


def test_times_of_day_come_back_as_valid_times_never_regenerated_digits():
    import datetime

    rng = np.random.default_rng(0)
    seconds = rng.integers(0, 86_400, 600)
    times = [datetime.time(s // 3600, (s // 60) % 60, s % 60) for s in seconds]
    df = pd.DataFrame({"x": rng.normal(size=600), "at": times,
                       "text": [t.isoformat() for t in times],
                       "few": [datetime.time(i % 4, 30) for i in range(600)]})
    kinds = {c.name: (c.kind.value, c.datetime_format) for c in detect_schema(df).columns}
    assert kinds["at"] == kinds["text"] == ("datetime", "%H:%M:%S")  # not identifiers
    assert kinds["few"] == ("categorical", None)  # few times: kept as the objects they are
    out = Synthesizer(epochs=2, verbose=False, seed=0).fit(df).sample(300, seed=1)
    for column in ("at", "text"):  # 13:05:59, never 644:86:69
        assert pd.to_datetime(out[column], format="%H:%M:%S", errors="coerce").notna().all()
    assert {type(v) for v in out["few"]} == {datetime.time}

"""Category values that are not text or numbers (``pd.cut``'s intervals, dates, times,
decimals, UUIDs) survive a model file; a value no model file can store is refused by column."""

from __future__ import annotations

import datetime
import decimal
import json
import uuid

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app
from conftest import rewrite_model_file, rewrite_model_state
from synthvae import DataError, ModelFileError, Synthesizer
from synthvae import json_values

FAST = dict(epochs=1, verbose=False, seed=0)


@pytest.fixture(scope="module")
def typed_table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 300
    table = pd.DataFrame({"age": rng.integers(18, 90, n)})
    table["band"] = pd.cut(table["age"], [0, 30, 60, 100])
    table["day"] = pd.Categorical([datetime.date(2020, 1, 1 + i % 5) for i in range(n)])
    table["start"] = [datetime.time(i % 4, 30) for i in range(n)]
    table["price"] = [decimal.Decimal("1.50"), "free"] * (n // 2)
    table["key"] = [uuid.UUID(int=i % 3) for i in range(n)]
    table["stamp"] = pd.Categorical(pd.to_datetime(["2020-01-01", "2021-06-01"] * (n // 2),
                                                   utc=True))
    return table


def test_typed_categories_come_back_from_a_model_file(typed_table, tmp_path):
    fitted = Synthesizer(**FAST).fit(typed_table)
    loaded = Synthesizer.load(fitted.save(tmp_path / "m.safetensors"))
    before, after = fitted.sample(200, seed=1), loaded.sample(200, seed=1)
    pd.testing.assert_frame_equal(before, after)
    assert list(after["band"].cat.categories) == list(typed_table["band"].cat.categories)
    kinds = {column: {type(v) for v in after[column].dropna()} for column in after}
    assert kinds["start"] == {datetime.time}
    assert kinds["key"] == {uuid.UUID}
    assert kinds["price"] <= {decimal.Decimal, str}
    assert isinstance(after["stamp"].cat.categories, pd.DatetimeIndex)


def test_a_value_no_model_file_can_store_is_refused_by_column(tmp_path):
    class Token:
        def __repr__(self):
            return "Token()"

    table = pd.DataFrame({"x": np.arange(200.0), "token": [Token(), "a"] * 100})
    fitted = Synthesizer(**FAST).fit(table)
    with pytest.raises(DataError, match=r"Column 'token' holds values of type Token \(Token\(\)\)"
                                        r", which a model file cannot store; convert them to "
                                        r"text \(for example df\['token'\]\.astype\(str\)\)"):
        fitted.save(tmp_path / "m.safetensors")
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_a_tampered_stored_value_makes_the_file_invalid(typed_table, tmp_path):
    path = Synthesizer(**FAST).fit(typed_table[["age", "band"]]).save(tmp_path / "m.safetensors")

    def tamper(state):
        band = next(c for c in state["schema"]["columns"] if c["name"] == "band")
        band["categories"][0] = {json_values.TAG: "interval", "left": "__import__", "right": 1,
                                 "closed": "right"}

    rewrite_model_state(path, tamper)
    with pytest.raises(ModelFileError, match="has no valid JSON state"):
        Synthesizer.load(path)


@pytest.mark.parametrize("stored", [
    {json_values.TAG: "pickle", "data": "..."},
    {json_values.TAG: "date", "iso": 20200101},
    {json_values.TAG: "timedelta", "ns": "5"},
    {json_values.TAG: "decimal", "text": "one"},
    {json_values.TAG: "bytes", "base64": "not base64!"},
    {json_values.TAG: "bytes", "base64": 12},
    {json_values.TAG: "period", "ordinal": "5", "freq": "M"},
])
def test_unknown_or_malformed_stored_values_are_refused(stored):
    with pytest.raises(ValueError, match="stored value kind|invalid stored"):
        json.loads(json.dumps([stored]), object_hook=json_values.decode)


def test_the_cli_describes_such_a_model_and_refuses_parquet_it_cannot_write(typed_table,
                                                                            tmp_path):
    model = Synthesizer(**FAST).fit(typed_table[["age", "band"]]).save(tmp_path / "m.safetensors")
    runner = CliRunner()
    described = runner.invoke(app, ["info", str(model), "--json"])
    assert described.exit_code == 0
    band = next(c for c in json.loads(described.output)["columns"] if c["name"] == "band")
    assert band["categories"] == ["(0, 30]", "(30, 60]", "(60, 100]"]
    out = tmp_path / "rows.parquet"
    written = runner.invoke(app, ["sample", "-m", str(model), "-n", "100", "-o", str(out)])
    assert written.exit_code == 1
    assert "Column 'band' holds Interval values, which Parquet cannot store" in written.output
    assert "Traceback" not in written.output and not out.exists()
    as_csv = runner.invoke(app, ["sample", "-m", str(model), "-n", "100", "-o",
                                 str(tmp_path / "rows.csv")])
    assert as_csv.exit_code == 0
    assert set(pd.read_csv(tmp_path / "rows.csv")["band"]) <= {"(0, 30]", "(30, 60]",
                                                                 "(60, 100]"}


def test_zoned_timestamp_categories_keep_their_named_zone(tmp_path):
    stamps = pd.to_datetime(["2020-03-20 10:00", "2020-07-01 10:00"] * 150).tz_localize(
        "Europe/Paris")  # +01:00 and +02:00: a named zone, not an offset
    table = pd.DataFrame({"x": np.arange(300.0), "when": pd.Categorical(stamps)})
    fitted = Synthesizer(**FAST).fit(table)
    loaded = Synthesizer.load(fitted.save(tmp_path / "m.safetensors"))
    pd.testing.assert_frame_equal(fitted.sample(100, seed=1), loaded.sample(100, seed=1))
    assert str(loaded.sample(5)["when"].cat.categories.tz) == "Europe/Paris"


@pytest.mark.parametrize("stored", [
    {json_values.TAG: "timestamp", "iso": "now"},
    {json_values.TAG: "timestamp", "iso": "NaT"},
    {json_values.TAG: "timedelta", "ns": -2**63},
    {json_values.TAG: "decimal", "text": "sNaN"},
    {json_values.TAG: "timestamp", "iso": "2020-01-01T00:00:00", "tz": "Mars/Base"},
])
def test_stored_values_that_are_missing_or_not_strict_iso_are_refused(stored):
    with pytest.raises(ValueError, match="invalid stored"):
        json_values.decode(stored)


def test_a_column_named_as_the_stored_value_tag_is_refused_at_save(tmp_path):
    from synthvae import FixedCombinations

    table = pd.DataFrame({json_values.TAG: ["a", "b"] * 100, "y": ["p", "q"] * 100,
                          "x": np.arange(200.0)})
    fitted = Synthesizer(constraints=[FixedCombinations([json_values.TAG, "y"])],
                         **FAST).fit(table)
    with pytest.raises(DataError, match="cannot be stored in a model file"):
        fitted.save(tmp_path / "m.safetensors")


@pytest.mark.parametrize("seed", [-1, 1.5, True, 2**70])
def test_a_model_file_with_an_invalid_seed_is_refused(typed_table, tmp_path, seed):
    path = Synthesizer(**FAST).fit(typed_table[["age"]]).save(tmp_path / "m.safetensors")
    rewrite_model_state(path, lambda state: state["params"].update(seed=seed))
    with pytest.raises(ModelFileError, match="its 'seed' must be a whole number"):
        Synthesizer.load(path)


def test_a_model_file_whose_state_is_not_an_object_is_refused(typed_table, tmp_path):
    path = Synthesizer(**FAST).fit(typed_table[["age"]]).save(tmp_path / "m.safetensors")

    def replace_state(meta, tensors):
        meta["state"] = "[]"

    rewrite_model_file(path, replace_state)
    with pytest.raises(ModelFileError, match="has no valid JSON state"):
        Synthesizer.load(path)


def test_a_model_file_with_repeated_categories_is_refused_by_column(typed_table, tmp_path):
    from synthvae import SchemaError

    path = Synthesizer(**FAST).fit(typed_table[["age", "band"]]).save(tmp_path / "m.safetensors")

    def repeat(state):
        band = next(c for c in state["schema"]["columns"] if c["name"] == "band")
        band["categories"][1] = band["categories"][0]

    rewrite_model_state(path, repeat)
    with pytest.raises(SchemaError, match="'band': 'categories' must be distinct"):
        Synthesizer.load(path)


def test_period_categories_are_stored_and_read_back():
    for value in (pd.Period("2000Q3", freq="Q"), pd.Period("2000-03-13", freq="W-WED")):
        stored = json.loads(json.dumps(value, default=json_values.encode),
                            object_hook=json_values.decode)
        assert stored == value and stored.freqstr == value.freqstr

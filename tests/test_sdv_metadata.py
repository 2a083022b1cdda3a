"""An SDV user brings their metadata file and gets the same column kinds (issue 17.3)."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app
from synthvae import Synthesizer
from synthvae.errors import SchemaError
from synthvae.schema import ColumnKind, Schema, detect_schema
from synthvae.sdv_metadata import SdvMetadataWarning

from conftest import TEST_DATA

runner = CliRunner()
SINGLE = TEST_DATA / "sdv_single_table.json"
MULTI_ONE = TEST_DATA / "sdv_multi_table_one.json"
MULTI_TWO = TEST_DATA / "sdv_multi_table_two.json"
EXPECTED_KINDS = {"user_id": "identifier", "age": "continuous", "paid_amt": "continuous",
                  "tier": "categorical", "active": "categorical", "renew_date": "datetime",
                  "contact": "identifier", "phone": "identifier"}


def users(n: int = 150, seed: int = 0) -> pd.DataFrame:
    """A table the fixtures describe (dates written '07 Mar 2021', as the metadata says)."""
    rng = np.random.default_rng(seed)
    dates = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D")
    return pd.DataFrame({
        "user_id": [f"U_{i:04d}" for i in range(n)],
        "age": rng.integers(18, 90, n),
        "paid_amt": np.round(rng.gamma(2.0, 30.0, n), 2),
        "tier": rng.choice(["free", "pro", "team"], n),
        "active": rng.random(n) < 0.7,
        "renew_date": dates.strftime("%d %b %Y"),
        "contact": [f"person{i}@example.com" for i in range(n)],
        "phone": [f"+1-555-{i:04d}" for i in range(n)],
    })


def kinds_of(schema: Schema) -> dict:
    return {c.name: c.kind.value for c in schema.columns}


@pytest.mark.parametrize("path", [SINGLE, MULTI_ONE])
def test_reads_single_table_and_one_table_v1_metadata(path):
    schema = Schema.from_sdv(path)
    assert kinds_of(schema) == EXPECTED_KINDS
    assert schema["age"].integer and not schema["paid_amt"].integer
    assert schema["renew_date"].datetime_format == "%d %b %Y"
    assert Schema.from_sdv(json.loads(path.read_text())) == schema  # a dict works too


def test_several_tables_are_a_clear_error():
    with pytest.raises(SchemaError, match=r"2 tables \['users', 'orders'\]"):
        Schema.from_sdv(MULTI_TWO)


def test_unknown_sdtype_is_an_error_naming_it_and_pii_marked_ones_are_replaced():
    meta = {"columns": {"x": {"sdtype": "numerica"}}}
    with pytest.raises(SchemaError, match="'x' has sdtype 'numerica'"):
        Schema.from_sdv(meta)
    meta = {"columns": {"x": {"sdtype": "numerical", "computer_representation": "Int128"}}}
    with pytest.raises(SchemaError, match="'x': computer_representation"):
        Schema.from_sdv(meta)
    meta = {"columns": {"badge": {"sdtype": "employee_badge", "pii": True},
                        "city": {"sdtype": "city", "pii": False}}}
    assert kinds_of(Schema.from_sdv(meta)) == {"badge": "identifier", "city": "categorical"}


def test_constraints_and_relationships_that_do_not_map_warn_naming_them():
    meta = json.loads(SINGLE.read_text())
    meta["constraints"] = [{"constraint_class": "Inequality"}]
    meta["column_relationships"] = [{"type": "address", "column_names": ["tier"]}]
    with pytest.warns(SdvMetadataWarning, match="constraints, column_relationships"):
        Schema.from_sdv(meta)


def test_primary_key_is_an_identifier_and_a_missing_one_is_an_error():
    meta = {"primary_key": "k", "columns": {"k": {"sdtype": "numerical"},
                                            "v": {"sdtype": "numerical"}}}
    assert Schema.from_sdv(meta)["k"].kind is ColumnKind.IDENTIFIER
    with pytest.raises(SchemaError, match="primary key 'nope'"):
        Schema.from_sdv(dict(meta, primary_key="nope"))
    with pytest.raises(SchemaError, match="one column name.*composite key"):  # a TypeError
        Schema.from_sdv(dict(meta, primary_key=["k", "v"]))


def test_with_data_the_dtypes_and_nulls_come_from_the_table():
    df = users()
    df.loc[3, "paid_amt"] = np.nan
    schema = Schema.from_sdv(SINGLE, data=df)
    assert kinds_of(schema) == EXPECTED_KINDS
    assert schema["age"].dtype == "int64" and not schema["age"].nullable
    assert schema["paid_amt"].nullable and schema["paid_amt"].decimals == 2
    assert schema["active"].dtype == "bool"
    with pytest.raises(SchemaError, match="no column 'phone'"):
        Schema.from_sdv(SINGLE, data=df.drop(columns="phone"))


def test_fit_with_sdv_metadata_gives_the_metadata_kinds_and_formats(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    df = users()
    df.to_csv("users.csv", index=False)
    result = runner.invoke(app, ["fit", "users.csv", "--metadata", str(SINGLE),
                                 "--epochs", "2", "-q"])
    assert result.exit_code == 0, result.output
    synth = Synthesizer.load("synthvae-model.safetensors")
    assert kinds_of(synth.schema_) == EXPECTED_KINDS
    synthetic = synth.sample(200, seed=0)
    assert list(synthetic.columns) == list(df.columns)
    pd.to_datetime(synthetic["renew_date"], format="%d %b %Y")  # the metadata's format
    assert not set(synthetic["contact"]) & set(df["contact"])  # PII never copied
    assert synthetic["age"].dtype == np.int64 and synthetic["active"].dtype == bool


def test_schema_format_sdv_writes_metadata_sdv_documents(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    users().to_csv("users.csv", index=False)
    result = runner.invoke(app, ["schema", "users.csv", "--format", "sdv"])
    assert result.exit_code == 0, result.output
    meta = json.loads(result.stdout)  # stderr notes the PII columns
    assert meta["METADATA_SPEC_VERSION"] == "SINGLE_TABLE_V1"
    assert meta["primary_key"] == "user_id"
    assert meta["columns"]["age"] == {"sdtype": "numerical", "computer_representation": "Int64"}
    assert meta["columns"]["paid_amt"] == {"sdtype": "numerical",
                                           "computer_representation": "Float"}
    assert meta["columns"]["active"] == {"sdtype": "boolean"}
    assert meta["columns"]["tier"] == {"sdtype": "categorical"}


def test_round_trip_schema_to_sdv_to_schema_keeps_the_kinds(titanic, taxis):
    for frame in (users(), titanic, taxis):
        detected = detect_schema(frame)
        back = Schema.from_sdv(detected.to_sdv(), data=frame)
        assert kinds_of(back) == kinds_of(detected)
        assert [c.datetime_format for c in back.columns] == \
            [c.datetime_format for c in detected.columns]
    read = Schema.from_sdv(SINGLE)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = Schema.from_sdv(read.to_sdv())
    assert kinds_of(again) == EXPECTED_KINDS
    assert read.to_sdv()["columns"]["user_id"]["regex_format"] == "U_[0-9]{4}"
    assert read.to_sdv()["columns"]["contact"] == {"sdtype": "email", "pii": True}

"""The report on odd tables: what cannot be computed is null with a note, wrong input is a
DataError naming the column, and the JSON is always valid.

Tiny tables, a column of ints and strings, tables with no column to compare rows by, a
synthetic table whose columns came back in other types (a CSV of a Parquet table, categories
for text), infinite synthetic values, a synthetic column left empty, a table whose only
column is the target, targets that cannot be learned or classes the models never saw, and
another table's model file. Small tables throughout: the whole file runs in about a minute.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app
from synthvae.errors import DataError
from synthvae.reports import evaluate

ROW_SECTIONS = (("fidelity", "coverage"), ("privacy", "exact_copies"), ("privacy", "dcr"),
                ("privacy", "membership_inference"))
runner = CliRunner()


def quiet_evaluate(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return evaluate(*args, **kwargs)


def valid_json(report) -> dict:
    """The report as JSON (strict: no NaN or infinity), its HTML rendered too."""
    assert report.to_html().startswith("<!DOCTYPE html>")
    return json.loads(report.to_json())


def invoke(*args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return runner.invoke(app, [str(a) for a in args])


def numbers_and_labels(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(size=rows).round(3), "c": rng.choice(["a", "b"], rows)})


# ----------------------------------------------------------------------------- tiny tables


@pytest.mark.parametrize("rows", [1, 2, 3, 9])
def test_detection_on_a_tiny_table_is_null_and_noted(rows):
    table = pd.DataFrame({"x": np.arange(1.0, rows + 1), "c": (["a", "b"] * rows)[:rows]})
    data = valid_json(quiet_evaluate(table, table))
    assert data["fidelity"]["detection"] == {"logistic": None, "gradient_boosting": None}
    assert data["summary"]["logistic_detection"] is None
    assert any("at least 10 rows in each table" in n and f"found {rows} real" in n
               for n in data["notes"])
    assert data["summary"]["column_shapes"] is not None


def test_coverage_needs_two_real_rows():
    table = pd.DataFrame({"x": [1.0], "c": ["a"]})
    data = valid_json(quiet_evaluate(table, numbers_and_labels(5)))
    assert data["fidelity"]["coverage"] is None
    assert any("at least 2 real rows" in n for n in data["notes"])


def test_ml_efficacy_without_enough_target_values_is_null_and_noted():
    table = pd.DataFrame({"x": [1.5, 2.0, 3.25, 4.0, 5.5, 6.0], "c": ["a", "b"] * 3})
    holdout = table.tail(2).assign(x=np.nan)
    data = valid_json(quiet_evaluate(table.head(4), table, holdout=holdout, target=["x", "c"]))
    assert data["fidelity"]["ml_efficacy"] is None
    assert data["fidelity"]["ml_efficacy_by_target"][0] is None
    assert data["fidelity"]["ml_efficacy_by_target"][1]["task"] == "classification"
    assert any("target 'x' was not computed" in n and "0 holdout" in n for n in data["notes"])


def test_cli_report_on_tiny_tables_with_a_holdout(tmp_path):
    table = pd.DataFrame({"x": [1.5, 2.0, 3.25, 4.0, 5.5], "c": ["a", "b", "a", "b", "a"]})
    table.to_csv(tmp_path / "rows5.csv", index=False)
    table.head(1).to_csv(tmp_path / "rows1.csv", index=False)
    table.head(2).to_csv(tmp_path / "rows2.csv", index=False)
    model = tmp_path / "m.safetensors"
    for args in (("fit", tmp_path / "rows5.csv", "--holdout-fraction", 0.2, "-o", model,
                  "--epochs", 1, "-q"),
                 ("sample", "-n", 5, "-m", model, "-o", tmp_path / "synth.csv", "-q")):
        assert invoke(*args).exit_code == 0
    for real in ("rows5.csv", "rows1.csv", "rows2.csv"):
        result = invoke("report", tmp_path / real, tmp_path / "synth.csv", "-m", model,
                        "-o", tmp_path / "r.html", "--json", tmp_path / "r.json", "-q")
        assert result.exit_code == 0, result.output
        notes = json.loads((tmp_path / "r.json").read_text())["notes"]
        assert any(n.startswith("Detection was not computed") for n in notes)


# ----------------------------------------------------------------------------- mixed values


def mixed_table(rows: int = 100) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame({"x": rng.normal(size=rows).round(3), "m": [1, "a"] * (rows // 2)})


def test_a_column_of_ints_and_strings_is_compared_as_text():
    real = mixed_table()
    data = valid_json(quiet_evaluate(real, real.sample(frac=1, random_state=0)))
    assert data["fidelity"]["detection"]["logistic"]["score"] is not None
    assert data["summary"]["exact_copy_share"] == 1.0
    shapes = {c["column"]: c["score"] for c in data["fidelity"]["column_shapes"]["columns"]}
    assert shapes["m"] == pytest.approx(1.0)


def test_a_mixed_column_read_back_from_csv_matches_the_real_values(tmp_path):
    real = mixed_table()
    real.to_csv(tmp_path / "s.csv", index=False)
    synthetic = pd.read_csv(tmp_path / "s.csv")  # "1" and "a": text now
    assert synthetic["m"].map(type).eq(str).all()
    report = quiet_evaluate(real, synthetic)
    assert report.summary["exact_copy_share"] == 1.0
    assert report.summary["column_shapes"] == pytest.approx(1.0)


# ----------------------------------------------------------------------------- nothing to compare


@pytest.mark.parametrize("table", [
    pd.DataFrame({"a": [np.nan] * 40}),
    pd.DataFrame({"a": [np.nan] * 40, "b": pd.Series([None] * 40, dtype=object)}),
    pd.DataFrame({"email": [f"person{i}@example.com" for i in range(40)]}),
    pd.DataFrame({"email": [f"person{i}@example.com" for i in range(40)], "a": [np.nan] * 40}),
], ids=["all-null", "all-null-two", "identifiers", "identifiers-and-null"])
def test_a_table_with_no_column_to_compare_rows_by(table):
    data = valid_json(quiet_evaluate(table, table))
    assert data["fidelity"]["detection"] == {"logistic": None, "gradient_boosting": None}
    for section, key in ROW_SECTIONS:
        assert data[section][key] is None, key
    note = next(n for n in data["notes"] if "no column can tell rows apart" in n)
    assert ("email" in note) == ("email" in table.columns)
    assert ("'a'" in note) == ("a" in table.columns)


def test_a_table_of_booleans_has_no_logistic_detection_but_boosting_runs():
    table = pd.DataFrame({"flag": [True, False, True] * 20})
    data = valid_json(quiet_evaluate(table, table.sample(frac=1, random_state=1)))
    assert data["fidelity"]["detection"]["logistic"] is None
    assert data["fidelity"]["detection"]["gradient_boosting"]["auc"] is not None
    assert any(n.startswith("LogisticDetection was not computed") for n in data["notes"])


def test_a_metric_sdmetrics_cannot_compute_is_null_and_noted(monkeypatch):
    from sdmetrics.errors import IncomputableMetricError

    from synthvae.reports import detection

    def incomputable(*args):
        raise IncomputableMetricError("DetectionMetric: Unable to be fit\nwith details")

    monkeypatch.setattr(detection, "logistic_detection", incomputable)
    data = valid_json(quiet_evaluate(numbers_and_labels(40), numbers_and_labels(40, seed=1)))
    assert data["fidelity"]["detection"]["logistic"] is None
    assert "LogisticDetection was not computed: DetectionMetric: Unable to be fit" in data["notes"]


# ----------------------------------------------------------------------------- other types


def test_numbers_written_as_text_are_read_as_numbers():
    real = numbers_and_labels(200)
    as_text = real.assign(x=real["x"].astype(str))
    report, reference = quiet_evaluate(real, as_text), quiet_evaluate(real, real)
    for key in ("column_shapes", "exact_copy_share", "data_structure", "dcr_synthetic_median"):
        assert report.summary[key] == reference.summary[key], key


def test_text_where_the_real_column_holds_numbers_is_a_data_error():
    real = numbers_and_labels(50)
    synthetic = real.assign(x=["abc"] * 25 + list(real["x"][25:]))
    with pytest.raises(DataError) as caught:
        quiet_evaluate(real, synthetic)
    message = str(caught.value)
    assert all(part in message for part in ("'x'", "synthetic", "'abc'", "numbers"))


def test_a_holdout_of_other_types_is_conformed_too():
    real = numbers_and_labels(60)
    holdout = numbers_and_labels(40, seed=2)
    text_holdout = holdout.assign(x=holdout["x"].astype(str))
    report = quiet_evaluate(real, real, holdout=text_holdout)
    reference = quiet_evaluate(real, real, holdout=holdout)
    assert report.summary["holdout_exact_copy_share"] == \
        reference.summary["holdout_exact_copy_share"]
    assert report.summary["dcr_holdout_median"] == reference.summary["dcr_holdout_median"]
    with pytest.raises(DataError, match="Column 'x' of the holdout table holds \\['n/a'\\]"):
        quiet_evaluate(real, real, holdout=text_holdout.assign(x="n/a"))


def typed_table(rows: int = 120) -> pd.DataFrame:
    """Columns a CSV cannot keep the type of: small ints, float32, categories, zoned
    datetimes (two UTC offsets), nullable booleans and ints, durations."""
    rng = np.random.default_rng(3)
    stamps = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 360, rows), "D")
    flags = pd.array(rng.random(rows) < 0.4, dtype="boolean")
    flags[::7] = pd.NA
    counts = pd.array(rng.integers(0, 50, rows), dtype="Int64")
    counts[::5] = pd.NA
    return pd.DataFrame({
        "small": rng.integers(0, 3, rows).astype("int8"),
        "uint": rng.integers(0, 200, rows).astype("uint8"),
        "ratio": rng.normal(size=rows).astype("float32"),
        "colour": pd.Categorical(rng.choice(["red", "green", "blue"], rows)),
        "when": pd.Series(stamps).dt.tz_localize("Europe/Paris"),
        "flag": flags, "count": counts,
        "wait": pd.to_timedelta(rng.integers(1, 500, rows), "h"),
    })


@pytest.fixture(scope="module")
def typed_files(tmp_path_factory):
    from synthvae import Synthesizer

    folder = tmp_path_factory.mktemp("typed")
    real = typed_table()
    real.to_parquet(folder / "types.parquet")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = Synthesizer(epochs=1, verbose=False, seed=0).fit(real)
    model.save(folder / "m.safetensors")
    synthetic = model.sample(120, seed=1)
    synthetic.to_parquet(folder / "synthetic.parquet")
    synthetic.to_csv(folder / "synthetic.csv", index=False)
    return folder


def test_a_csv_synthetic_table_scores_as_its_parquet_twin(typed_files):
    from synthvae.io import read_table

    real = read_table(typed_files / "types.parquet")
    from_csv = quiet_evaluate(real, read_table(typed_files / "synthetic.csv"))
    from_parquet = quiet_evaluate(real, read_table(typed_files / "synthetic.parquet"))
    for key in ("column_shapes", "column_pair_trends_all_pairs", "data_validity",
                "data_structure", "exact_copies", "gb_detection_auc", "alpha_precision"):
        assert from_csv.summary[key] == pytest.approx(from_parquet.summary[key], abs=1e-6), key


def test_cli_report_of_a_parquet_table_against_a_csv_sample(typed_files):
    result = invoke("report", typed_files / "types.parquet", typed_files / "synthetic.csv",
                    "-m", typed_files / "m.safetensors", "-o", typed_files / "r.html",
                    "--json", typed_files / "r.json", "-q")
    assert result.exit_code == 0, result.output
    data = json.loads((typed_files / "r.json").read_text())
    assert data["summary"]["data_structure"] == 1.0
    assert data["fidelity"]["detection"]["logistic"] is not None


# ----------------------------------------------------------------------------- infinity


@pytest.mark.parametrize("table", ["synthetic", "holdout"])
def test_an_infinite_value_outside_the_real_table_is_a_data_error(table):
    real = numbers_and_labels(60)
    tables = {"synthetic": real.copy(), "holdout": numbers_and_labels(30, seed=4)}
    tables[table]["x"] = np.inf
    with pytest.raises(DataError, match=rf"Column 'x' of the {table} table holds an infinite"):
        quiet_evaluate(real, tables["synthetic"], holdout=tables["holdout"])


def test_infinity_written_as_text_is_refused_too():
    real = numbers_and_labels(30)
    with pytest.raises(DataError, match="Column 'x' of the synthetic table holds an infinite"):
        quiet_evaluate(real, real.assign(x=["-inf"] + list(real["x"][1:].astype(str))))


def test_cli_report_with_infinite_synthetic_values_is_one_line(tmp_path):
    real = numbers_and_labels(60)
    real.to_csv(tmp_path / "real.csv", index=False)
    real.assign(x=np.inf).to_csv(tmp_path / "synthetic.csv", index=False)
    result = invoke("report", tmp_path / "real.csv", tmp_path / "synthetic.csv",
                    "-o", tmp_path / "r.html", "--json", tmp_path / "r.json")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Column 'x' of the synthetic"), \
        result.output
    assert not (tmp_path / "r.json").exists()


# ----------------------------------------------------------------------------- empty columns


def three_kinds(rows: int, seed: int) -> pd.DataFrame:
    """Two number columns (so a number pair exists), a text column with missing cells (as
    Adult's workclass: its categories then hold NaN) and a count."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows).round(3)
    return pd.DataFrame({"x": x, "y": (x + rng.normal(size=rows)).round(3),
                         "c": rng.choice(["a", "b", "c", None], rows, p=[0.4, 0.3, 0.25, 0.05]),
                         "k": rng.integers(0, 30, rows)})


@pytest.fixture(scope="module")
def three_tables():
    return three_kinds(150, 0), three_kinds(150, 1), three_kinds(60, 2)


def conformed(real: pd.DataFrame, synthetic: pd.DataFrame) -> pd.DataFrame:
    """The synthetic table as the report reads it: model dtypes, then the real ones."""
    from synthvae.reports.conform import conform_tables
    from synthvae.reports.inputs import align_columns
    from synthvae.schema import detect_schema

    frames = {"real": real, "synthetic": align_columns(synthetic, list(real.columns), "s")}
    return conform_tables(frames, detect_schema(real))["synthetic"]


@pytest.mark.parametrize("column", ["x", "c"])
def test_a_synthetic_column_left_empty_scores_badly_and_is_noted(three_tables, column):
    """Crashed in scipy (number pair) or scikit-learn (text encoder, boosting bins)."""
    real, synthetic, holdout = three_tables
    emptied = synthetic.assign(**{column: np.nan})
    data = valid_json(quiet_evaluate(real, emptied, holdout=holdout, target="k"))
    shapes = {c["column"]: c["score"] for c in data["fidelity"]["column_shapes"]["columns"]}
    assert shapes[column] == 0.0
    others = [score for name, score in shapes.items() if name != column]
    assert data["summary"]["column_shapes"] == pytest.approx((sum(others)) / len(shapes))
    assert data["summary"]["column_pair_trends_real_bins"] is not None
    assert data["summary"]["gb_detection_auc"] > 0.9  # an empty column is easy to tell
    assert data["fidelity"]["ml_efficacy"]["synthetic"]["r2"] is not None
    assert any(n.startswith(f"Column {column!r} has no value in the synthetic table")
               for n in data["notes"])


def test_an_empty_synthetic_text_column_takes_the_real_type():
    real = three_kinds(20, 0)
    synthetic = conformed(real, real.assign(c=np.nan, x=None))
    assert synthetic["c"].dtype == object  # was float64: numbers to the encoders
    assert synthetic["x"].dtype == np.float64


# ----------------------------------------------------------------------------- same values


def dtype_table(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    days = pd.to_timedelta(rng.integers(0, 900, rows), "D")
    return pd.DataFrame({"x": rng.normal(size=rows).round(2), "k": rng.integers(0, 9, rows),
                         "c": rng.choice(["a", "b", "c"], rows), "d": rng.choice(["u", "v"], rows),
                         "b": rng.choice([True, False], rows),
                         "t": pd.Timestamp("2020-01-01") + days})


RETYPED = {
    "text as category": lambda df: df.astype({"c": "category", "d": "category"}),
    "text as string": lambda df: df.astype({"c": "string"}),
    "whole numbers as float": lambda df: df.astype({"k": "float64"}),
    "whole numbers as Int64": lambda df: df.astype({"k": "Int64"}),
    "flags as objects": lambda df: df.astype({"b": object}),
    "flags as category": lambda df: df.astype({"b": "category"}),
    "datetimes in microseconds": lambda df: df.astype({"t": "datetime64[us]"}),
}


@pytest.mark.parametrize("retype", list(RETYPED), ids=list(RETYPED))
def test_the_other_tables_take_the_real_dtypes_for_the_same_values(retype):
    real, synthetic = dtype_table(50, 0), dtype_table(50, 1)
    pd.testing.assert_frame_equal(conformed(real, RETYPED[retype](synthetic)), synthetic)


@pytest.mark.parametrize("retype", ["text as category", "datetimes in microseconds"])
def test_the_same_values_score_the_same_whatever_their_dtype(retype):
    """A category text column scored data_structure 0.25 instead of 1, and pair trends
    differed; datetimes in microseconds lost Column Shapes and LogisticDetection."""
    real, synthetic, holdout = dtype_table(150, 0), dtype_table(150, 1), dtype_table(60, 2)
    reference = quiet_evaluate(real, synthetic, holdout=holdout).summary
    retyped = quiet_evaluate(real, RETYPED[retype](synthetic), holdout=holdout).summary
    # LogisticDetection splits its folds unseeded (sdmetrics), whatever the types
    for key in (k for k in reference if k != "logistic_detection"):
        assert retyped[key] == reference[key], key
    assert retyped["data_structure"] == 1.0


# ----------------------------------------------------------------------------- target only


@pytest.mark.parametrize("column", ["x", "c"])
def test_a_table_whose_only_column_is_the_target_has_no_ml_efficacy(three_tables, column):
    real, synthetic, holdout = (df[[column]] for df in three_tables)
    data = valid_json(quiet_evaluate(real, synthetic, holdout=holdout, target=column))
    assert data["fidelity"]["ml_efficacy"] is None
    assert data["fidelity"]["ml_efficacy_by_target"] == [None]
    assert any(f"target {column!r} was not computed" in n and "feature column" in n
               for n in data["notes"])
    assert data["summary"]["column_shapes"] is not None


# ----------------------------------------------------------------------------- odd targets


def with_column(table: pd.DataFrame, name: str, value) -> pd.DataFrame:
    return table.assign(**{name: value})


@pytest.mark.parametrize("value", ["k", np.nan], ids=["constant", "all-missing"])
def test_a_target_that_cannot_be_learned_is_null_and_noted(three_tables, value):
    """A constant or empty target raised ConfigError and discarded every other section."""
    real, synthetic, holdout = (with_column(df, "t", value) for df in three_tables)
    data = valid_json(quiet_evaluate(real, synthetic, holdout=holdout, target=["c", "t"]))
    first, second = data["fidelity"]["ml_efficacy_by_target"]
    assert first["task"] == "classification" and second is None
    assert any("target 't' was not computed" in n and "'constant'" in n for n in data["notes"])
    assert data["summary"]["column_shapes"] is not None
    assert data["privacy"]["dcr"] is not None


def test_a_one_row_real_table_with_a_target_is_null_and_noted(three_tables):
    real, synthetic, holdout = three_tables
    data = valid_json(quiet_evaluate(real.head(1), synthetic, holdout=holdout, target="c"))
    assert data["fidelity"]["ml_efficacy"] is None and data["data"]["task"] is None
    assert any("target 'c' was not computed" in n for n in data["notes"])


def test_a_target_naming_no_column_is_still_an_error(three_tables):
    from synthvae.errors import ConfigError

    real, synthetic, holdout = three_tables
    with pytest.raises(ConfigError, match="'nope'"):
        quiet_evaluate(real, synthetic, holdout=holdout, target=["c", "nope"])


def test_cli_report_with_a_constant_target_notes_it(tmp_path):
    table = numbers_and_labels(60).assign(k="same")
    table.to_csv(tmp_path / "t.csv", index=False)
    result = invoke("report", tmp_path / "t.csv", tmp_path / "t.csv", "--holdout",
                    tmp_path / "t.csv", "--target", "k", "-o", tmp_path / "r.html", "-q")
    assert result.exit_code == 0, result.output
    assert "note: ML efficacy for target 'k' was not computed" in result.output


def test_a_holdout_of_one_class_has_no_auc_and_says_why():
    table = numbers_and_labels(200)
    report = quiet_evaluate(table, table, holdout=table.head(30).assign(c="a"), target="c")
    scores = valid_json(report)["fidelity"]["ml_efficacy"]
    assert scores["synthetic"]["roc_auc"] is None and scores["synthetic"]["f1_macro"] > 0
    assert any("ROC AUC was not computed" in n and "one class, 'a'" in n for n in report.notes)
    assert not any("never appear" in n for n in report.notes)


def test_holdout_classes_no_training_row_has_are_noted():
    """F1 0 came without a word when the holdout held classes the models never saw."""
    table = numbers_and_labels(200)
    holdout = numbers_and_labels(40, seed=1)
    holdout.loc[:9, "c"] = "z"
    report = quiet_evaluate(table, table.assign(c="a"), holdout=holdout, target="c")
    scores = valid_json(report)["fidelity"]["ml_efficacy"]
    assert scores["real"]["roc_auc"] is not None
    unseen = [n for n in report.notes if "never appear" in n]
    assert len(unseen) == 2
    assert "['b', 'z']" in unseen[0] and "synthetic training rows" in unseen[0]
    assert "['z']" in unseen[1] and "real training rows" in unseen[1]


# ----------------------------------------------------------------------------- model files


@pytest.fixture(scope="module")
def other_model(tmp_path_factory):
    """A model fitted on a table with a column 'z' where the scored tables have 'c'."""
    from synthvae import Synthesizer

    path = tmp_path_factory.mktemp("model") / "other.safetensors"
    other = numbers_and_labels(60).rename(columns={"c": "z"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Synthesizer(epochs=1, verbose=False).fit(other).save(path)
    return path


def test_a_model_fitted_on_other_columns_is_refused(other_model):
    from synthvae.errors import SchemaError

    table = numbers_and_labels(60)
    with pytest.raises(SchemaError, match=r"\['z'\] only in the model and \['c'\] only in"):
        quiet_evaluate(table, table, model_path=other_model)


def test_cli_report_with_another_tables_model_is_one_line(other_model, tmp_path):
    numbers_and_labels(60).to_csv(tmp_path / "t.csv", index=False)
    result = invoke("report", tmp_path / "t.csv", tmp_path / "t.csv", "-m", other_model,
                    "-o", tmp_path / "r.html", "-q")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "'z'" in lines[0], lines

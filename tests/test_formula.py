"""Formula constraints: a column computed from others holds its formula in every sampled row,
keeps its dtype and missing cells, survives saving, conditions and the CLI; expressions are
parsed, never evaluated as Python, and anything outside their grammar is a clear error.

The rules are counted here with pandas arithmetic written out independently of synthvae's
expression code, on rows of a small model that fits in seconds.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app
from conftest import cli_fit_and_sample, rewrite_model_state
from synthvae import FixedIncrements, Formula, Positive, Schema, Synthesizer
from synthvae.constraints.formula import parse
from synthvae.errors import ConfigError, DataError, ModelFileError, SchemaError

pytestmark = pytest.mark.filterwarnings("ignore::synthvae.errors.PosteriorCollapseWarning")
FAST = dict(epochs=3, hidden=(32, 32), latent_dim=8, batch_size=250, verbose=False, seed=0)
ROWS = 20_000
FORMULAS = [
    Formula("total", "price * quantity"),
    Formula("net", "round(total * (1 - `discount rate`), 2)"),  # reads another formula
    Formula("nights", "(checkout - checkin) / 86400"),  # datetimes are read in seconds
    Formula("hour", "slot // 100"),  # a category column of whole numbers
]


def orders(n: int = 1500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    price = rng.integers(1, 60, n) * 5
    quantity = rng.integers(1, 9, n).astype(float)
    quantity[rng.random(n) < 0.05] = np.nan  # a missing input leaves the result missing
    rate = rng.choice([0.0, 0.05, 0.1, 0.25], n)
    total = price * quantity
    checkin = pd.Timestamp("2022-03-01") + pd.to_timedelta(rng.integers(0, 300, n), "D")
    stay = rng.integers(1, 15, n)
    slot = rng.choice([800, 930, 1215, 1400, 1745, 2010], n)
    return pd.DataFrame({
        "price": price, "quantity": quantity, "discount rate": rate, "total": total,
        "net": np.round(total * (1 - rate), 2),
        "checkin": checkin, "checkout": checkin + pd.to_timedelta(stay, "D"),
        "nights": stay, "slot": slot, "hour": slot // 100,
    })


def broken_rows(out: pd.DataFrame) -> dict:
    """Rows breaking each formula, written out with pandas (missing must match missing)."""
    def count(actual: pd.Series, expected: pd.Series) -> int:
        same = np.isclose(actual.astype(float), expected.astype(float), rtol=1e-9, atol=1e-9)
        return int((~(same | (actual.isna() & expected.isna()))).sum())

    nights = (out["checkout"] - out["checkin"]).dt.days
    return {"total": count(out["total"], out["price"] * out["quantity"]),
            "net": count(out["net"], (out["total"] * (1 - out["discount rate"])).round(2)),
            "nights": count(out["nights"], nights),
            "hour": count(out["hour"], out["slot"] // 100)}


def fit(data: pd.DataFrame, rules) -> Synthesizer:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a 3-epoch model of few rows warns of its fit
        return Synthesizer(constraints=rules, **FAST).fit(data)


@pytest.fixture(scope="module")
def real():
    return orders()


@pytest.fixture(scope="module")
def fitted(real):
    return fit(real, FORMULAS)


def test_every_formula_holds_with_the_tables_dtypes_and_missing_cells(real, fitted):
    out = fitted.sample(ROWS, seed=1)
    assert broken_rows(out) == dict.fromkeys(broken_rows(out), 0)
    assert out.dtypes.to_dict() == real.dtypes.to_dict()
    assert list(out.columns) == list(real.columns)
    missing = out["quantity"].isna()
    assert missing.mean() > 0.01 and out.loc[missing, ["total", "net"]].isna().all().all()
    assert out.loc[~missing, "total"].notna().all()


def test_computed_columns_are_not_modelled(fitted):
    modelled = fitted.constraints_.model_schema_.names
    assert not {"total", "net", "nights", "hour"} & set(modelled)
    assert {"price", "quantity", "checkin", "checkout", "slot"} <= set(modelled)


def test_saved_models_keep_the_formulas_as_text_and_give_the_same_rows(fitted, tmp_path):
    path = fitted.save(tmp_path / "m.safetensors")
    header = path.read_bytes()
    assert b"price * quantity" in header and b"pickle" not in header.lower()
    loaded = Synthesizer.load(path)
    assert loaded.sample(3_000, seed=5).equals(fitted.sample(3_000, seed=5))
    shown = CliRunner().invoke(app, ["info", str(path)], terminal_width=200)
    assert shown.exit_code == 0 and "net = round(total * (1 - `discount rate`), 2)" in \
        shown.output
    described = json.loads(CliRunner().invoke(app, ["info", str(path), "--json"]).output)
    assert {"kind": "formula", "column": "total", "expression": "price * quantity",
            "rule": "total = price * quantity"} in described["constraints"]


def test_conditions_on_a_computed_column_and_on_its_inputs(fitted):
    out = fitted.sample(4_000, seed=2, conditions={"total": (100, 400)})
    assert out["total"].between(100, 400).all() and broken_rows(out)["total"] == 0
    out = fitted.sample(4_000, seed=2, conditions={"hour": [8, 20]})  # one of several
    assert set(out["hour"]) == {8, 20} and (out["hour"] == out["slot"] // 100).all()
    with pytest.raises(ConfigError, match="'hour' holds numbers"):
        fitted.sample(100, conditions={"hour": "noon"})
    out = fitted.sample(4_000, seed=3, conditions={"price": (50, 60)})
    assert out["price"].between(50, 60).all()
    assert broken_rows(out) == dict.fromkeys(broken_rows(out), 0)


def test_a_bound_on_a_computed_column_holds_with_the_formula(real):
    rules = [Formula("total", "price * quantity - 40"), Positive("total")]
    data = real.assign(total=real["price"] * real["quantity"] - 40)
    data = data[~(data["total"] < 0)]
    out = fit(data, rules).sample(10_000, seed=4)
    assert (out["total"].dropna() >= 0).all()
    expected = out["price"] * out["quantity"] - 40
    assert np.allclose(out["total"].dropna(), expected[out["total"].notna()])


def test_data_breaking_a_formula_is_an_error_naming_the_rows(real):
    first, second, third = real.index[real["quantity"].notna()][:3]
    broken = real.copy()
    broken.loc[[first, third], "total"] += 1
    with pytest.raises(DataError, match=rf"total = price \* quantity constraint in 2 rows: "
                                        rf"{first}, {third} "):
        Synthesizer(constraints=[Formula("total", "price * quantity")], **FAST).fit(broken)
    broken = real.copy()
    broken.loc[second, "total"] = np.nan  # its inputs are present: the formula gives a value
    with pytest.raises(DataError, match=rf"in 1 row: {second} .*total=nan"):
        Synthesizer(constraints=[Formula("total", "price * quantity")], **FAST).fit(broken)


@pytest.mark.parametrize("rules, message", [
    ([Formula("total", "price * nope")], "column 'nope', which the table does not have"),
    ([Formula("price", "total / quantity"), Formula("total", "price * quantity")], "cycle"),
    ([Formula("checkout", "checkin + 86400")], "computes 'checkout', which holds datetime"),
])
def test_formulas_the_table_cannot_hold_are_config_errors(real, rules, message):
    with pytest.raises(ConfigError, match=message):
        Synthesizer(constraints=rules, **FAST).fit(real)


def test_expressions_compute_like_numpy():
    columns = {"a": np.array([1.0, 4.0, -9.0, np.nan]), "b c": np.array([2.0, 0.0, 3.0, 1.0])}
    got = parse("-a ** 2 + `b c` // 2 * 3 % 5 + abs(a) - max(a, `b c`, 0) + round(a / 3, 1)",
                "a test").evaluate(columns)
    a, b = columns["a"], columns["b c"]
    expected = -a ** 2 + b // 2 * 3 % 5 + np.abs(a) - np.maximum.reduce([a, b, 0 * a]) \
        + np.round(a / 3, 1)
    assert np.allclose(got[:3], expected[:3]) and np.isnan(got[3])
    ratio = parse("a / `b c` + sqrt(a) + log(a)", "a test").evaluate(columns)
    assert np.isnan(ratio[1:]).all()  # division by zero and negative roots are missing
    assert parse("floor(a) + ceil(a) + exp(min(a, 1))", "a test").columns == ("a",)


@pytest.mark.parametrize("expression, message", [
    ("price.__class__", "an attribute"),
    ("__import__('os').system('true')", "a call of"),
    ("open(price)", "a call of 'open'"),
    ("price[0]", "a subscript"),
    ("price > 3", "a comparison"),
    ("(lambda: 1)()", "a call of"),
    ("round(price, ndigits=2)", "keyword arguments"),
    ("round(price, quantity)", "digits must be a whole number"),
    ("sqrt(price, 2)", r"calls sqrt\(\) with 2 argument"),
    ("price * True", "the constant True"),
    ("price + 'x'", "the constant 'x'"),
    ("price *", "is not a formula"),
    ("", "non-empty formula"),
    ("total + 1", "reads 'total' itself"),
    ("2 * 3", "reads no column"),
    ("-" * 1_500 + "price", "nests too deeply"),
    ("-" * 150 + "price", "at most 100 levels"),
    ("price * 1" + "0" * 400, "too large for a float64"),
    ("round(price, 16)", "from 0 to 15"),
    ("`price``quantity`", "is not a formula"),
    ("price" + " + price" * 400, "at most 2,000"),
])
def test_expressions_outside_the_grammar_are_refused(expression, message):
    with pytest.raises(ConfigError, match=message):
        Formula("total", expression)
    with pytest.raises(SchemaError, match=message):
        Schema.from_dict({"columns": [], "constraints": [
            {"kind": "formula", "column": "total", "expression": expression}]})


def test_schema_json_and_the_cli_fit_and_sample_with_a_formula(real, tmp_path):
    data = tmp_path / "orders.csv"
    real[["price", "quantity", "total", "slot", "hour"]].to_csv(data, index=False)
    schema = {"columns": [], "constraints": [
        {"kind": "formula", "column": "total", "expression": "price * quantity"},
        {"kind": "formula", "column": "hour", "expression": "slot // 100",
         "note": "kept and ignored"}]}
    assert Schema.from_dict(Schema.from_dict(schema).to_dict()) == Schema.from_dict(schema)
    out = cli_fit_and_sample(data, schema, 5_000, ["total=50..200"], tmp_path)
    assert len(out) == 5_000 and out["total"].between(50, 200).all()
    assert np.allclose(out["total"], out["price"] * out["quantity"])
    assert (out["hour"] == out["slot"] // 100).all()
    bad = dict(schema, constraints=[{"kind": "formula", "column": "total",
                                     "expression": "price.real"}])
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    result = CliRunner().invoke(app, ["fit", str(data), "--schema", str(tmp_path / "bad.json"),
                                      "-o", str(tmp_path / "bad.safetensors"), "-q"])
    assert result.exit_code != 0 and "an attribute" in result.output


def test_parquet_fits_compute_the_formulas_and_refuse_a_row_group_breaking_one(real, tmp_path):
    path = tmp_path / "orders.parquet"
    real.to_parquet(path, row_group_size=300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        synth = Synthesizer(constraints=FORMULAS, **FAST).fit_parquet(path, sample_rows=600)
    out = synth.sample(5_000, seed=7)
    assert broken_rows(out) == dict.fromkeys(broken_rows(out), 0)
    shards = pd.concat([synth.sample(5_000, seed=7, shard=(i, 3)) for i in range(3)],
                       ignore_index=True)
    assert broken_rows(shards) == dict.fromkeys(broken_rows(shards), 0)
    broken = real.copy()
    row = broken.index[broken["quantity"].notna()][-1]  # in the last row group
    broken.loc[row, "total"] += 5
    broken.to_parquet(path, row_group_size=300)
    with pytest.raises(DataError, match=r"row group .*total = price \* quantity"):
        Synthesizer(constraints=FORMULAS, **FAST).fit_parquet(path, sample_rows=100)


def composed(n: int = 800, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    hour, minute = rng.integers(5, 23, n), rng.integers(0, 60, n)
    price = rng.integers(100, 5_000, n) / 100
    tax = np.round(price * rng.choice([0.0, 0.07, 0.2], n), 2)
    width, height = rng.integers(1, 30, n), rng.integers(1, 30, n)
    return pd.DataFrame({"total": np.round(price + tax, 2), "hhmm": hour * 100 + minute,
                         "price": price, "tax": tax, "hour": hour, "minute": minute,
                         "width": width, "height": height, "area": width * height,
                         "noise": rng.normal(size=n), "count": rng.integers(0, 9, n)})


def test_schema_suggestions_propose_the_composites_as_formulas_that_fit_and_hold():
    from synthvae import detect_schema
    from synthvae.constraints.suggest import suggest_constraints

    real = composed()
    suggested = suggest_constraints(real, detect_schema(real))
    formulas = {c["column"]: c["expression"] for c in suggested if c["kind"] == "formula"}
    assert formulas == {"total": "price + tax", "hhmm": "hour * 100 + minute",
                        "area": "width * height"}  # the composite from its parts
    out = fit(real, suggested).sample(5_000, seed=1)
    assert np.allclose(out["total"], out["price"] + out["tax"])
    assert (out["hhmm"] == out["hour"] * 100 + out["minute"]).all()
    assert (out["area"] == out["width"] * out["height"]).all()


def test_a_relation_one_row_breaks_is_not_proposed():
    from synthvae import detect_schema
    from synthvae.constraints.suggest import suggest_constraints

    real = composed()
    real.loc[500, "area"] += 1
    suggested = suggest_constraints(real, detect_schema(real))
    assert {c["column"] for c in suggested if c["kind"] == "formula"} == {"total", "hhmm"}


def test_suggested_formulas_quote_names_an_expression_cannot_read_bare():
    from synthvae import detect_schema
    from synthvae.constraints.suggest import suggest_constraints

    rng = np.random.default_rng(0)
    start, length = rng.integers(0, 50, 300), rng.integers(1, 9, 300)
    real = pd.DataFrame({"from": start, "length": length, "to end": start + length})
    suggested = suggest_constraints(real, detect_schema(real))
    assert {"kind": "formula", "column": "to end", "expression": "`from` + length",
            "note": "to end = from + length in every row"} in suggested


@pytest.mark.parametrize("rules", [
    [FixedIncrements("total", 5), Formula("total", "price * quantity")],
    [Formula("total", "price * quantity"), Formula("total", "quantity * price")],
])
def test_a_column_modelled_by_an_earlier_constraint_cannot_also_be_computed(real, rules):
    with pytest.raises(ConfigError, match="computes 'total', which a constraint declared "
                                          "before it already models"):
        Synthesizer(constraints=rules, **FAST).fit(real)


def test_a_formula_declared_first_is_checked_by_the_later_rule(real):
    out = fit(real, [Formula("total", "price * quantity"), FixedIncrements("total", 5)]
              ).sample(5_000, seed=3)
    assert broken_rows(out)["total"] == 0 and (out["total"].dropna() % 5 == 0).all()


def test_decimal_grids_round_as_numpy_and_pandas_do():
    rng = np.random.default_rng(0)
    x = rng.integers(1, 200, 2_000) / 100
    data = pd.DataFrame({"x": x, "y": (pd.Series(x) * 1.5).round(2)})
    assert (np.round(data["x"] * 1.5 / 0.01) * 0.01 != data["y"]).any()  # halves differ
    out = fit(data, [Formula("y", "x * 1.5")]).sample(2_000, seed=1)
    assert (out["y"] == (out["x"] * 1.5).round(2)).all()


@pytest.mark.parametrize("dtype", ["category", "object"])
def test_a_computed_column_must_hold_numbers_in_a_number_dtype(real, dtype):
    data = real.assign(hour=(real["slot"] // 100).astype(dtype))
    if dtype == "object":
        data["hour"] = data["hour"].map(lambda v: f"{v:02d}")
    with pytest.raises(ConfigError, match="computes 'hour', which holds dtype"):
        Synthesizer(constraints=[Formula("hour", "slot // 100")], **FAST).fit(data)


def test_conditions_on_a_computed_category_column_may_ask_for_missing_cells(fitted):
    out = fitted.sample(2_000, seed=4, conditions={"hour": [8, 9, None]})
    assert set(out["hour"]) <= {8, 9}


def test_a_model_file_whose_formula_was_altered_is_refused_by_name(fitted, tmp_path):
    path = fitted.save(tmp_path / "m.safetensors")

    def alter(state):
        for item in state["constraints"]["constraints"]:
            if item["column"] == "total":
                item["expression"] = "price.__class__"

    rewrite_model_state(path, alter)
    with pytest.raises(ModelFileError, match="has an invalid constraint: The expression "
                                             "'price.__class__' of "
                                             "the formula constraint on 'total' holds an "
                                             "attribute"):
        Synthesizer.load(path)
    shown = CliRunner().invoke(app, ["info", str(path)])
    assert shown.exit_code != 0 and "holds an attribute" in shown.output
    assert shown.output.count("m.safetensors") == 1, shown.output


@pytest.mark.parametrize("column, message", [
    ("code", "reads 'code', an identifier"),
    ("label", "needs numbers in column 'label', but it holds '(a1|b2)'"),
])
def test_a_formula_reading_a_column_that_is_not_a_number_is_refused(real, column, message):
    rng = np.random.default_rng(0)
    data = real.assign(code=[f"ORD-{i:05d}" for i in range(len(real))],
                       label=rng.choice(["a1", "b2"], len(real)))
    data["total"] = data["price"]
    with pytest.raises(ConfigError, match=message):
        Synthesizer(constraints=[Formula("total", f"price + 0 * {column}")], **FAST).fit(data)

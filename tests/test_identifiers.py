"""Identifiers and near-unique text: detected with nulls, never stored, never emitted verbatim,
regenerated in the real values' form (issues 22 and 24.2)."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import DATASETS, dataset, resigned

from synthvae import Synthesizer
from synthvae.schema import ColumnKind, detect_column, detect_schema
from synthvae.transforms.idformat import generate, learn_template

N = 1000


def emails_with_one_empty_cell() -> list:
    emails = [f"user{i}@example.com" for i in range(N - 1)]
    return emails[:500] + [None] + emails[500:]


def table(column: str, values: list, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({column: values, "age": rng.integers(18, 80, len(values)),
                         "group": rng.choice(["a", "b", "c"], len(values))})


def fit(df: pd.DataFrame) -> Synthesizer:
    return Synthesizer(epochs=2, verbose=False, seed=0).fit(df)


def training_values(series: pd.Series) -> set:
    return set(series.dropna().astype(str))


def stored_values(path, values: set) -> list:
    """The training values whose bytes occur anywhere in the saved model file."""
    raw = path.read_bytes()
    return [v for v in values if v.encode() in raw or json.dumps(v)[1:-1].encode() in raw]


# ----------------------------------------------------------------------------- issue 22


def test_email_column_with_one_empty_cell_is_an_identifier():
    spec = detect_column(pd.Series(emails_with_one_empty_cell(), name="email"))
    assert spec.kind is ColumnKind.IDENTIFIER and spec.nullable


def test_no_real_email_in_the_model_file_nor_in_100000_sampled_rows(tmp_path):
    df = table("email", emails_with_one_empty_cell())
    path = fit(df).save(tmp_path / "m.safetensors")
    real = training_values(df["email"])
    assert stored_values(path, real) == []
    out = Synthesizer.load(path).sample(100_000, seed=1)
    assert not set(out["email"].dropna()) & real
    assert out["email"].dropna().is_unique


@pytest.mark.parametrize("kind", ["free_text", "text_id", "integer_id"])
def test_columns_with_nulls_are_not_stored_nor_emitted_and_keep_their_null_share(kind, tmp_path):
    rng = np.random.default_rng(3)
    if kind == "free_text":  # near-unique notes: a few repeat
        words = np.array(["called", "about", "the", "bill", "again", "left", "a", "message"])
        values = [" ".join(rng.choice(words, rng.integers(3, 9))) + f" {i % 950}"
                  for i in range(N)]
    elif kind == "text_id":
        values = [f"INV-2024-{i * 7 + 3:06d}" for i in range(N)]
    else:
        values = list(rng.permutation(N) * 13 + 5)
    values = pd.Series(values, dtype=object if kind != "integer_id" else "float64")
    values[rng.random(N) < 0.2] = None  # a float column of whole numbers with gaps
    df = table("col", list(values) if kind != "integer_id" else values)
    assert detect_schema(df)["col"].kind is ColumnKind.IDENTIFIER
    synth = fit(df)
    path = synth.save(tmp_path / "m.safetensors")
    real = training_values(df["col"])
    out = Synthesizer.load(path).sample(20_000, seed=2)
    share = out["col"].isna().mean()
    assert abs(share - df["col"].isna().mean()) < 0.05, share
    if kind == "integer_id":
        real_numbers = set(df["col"].dropna().astype(np.int64))
        assert not set(out["col"].dropna().astype(np.int64)) & real_numbers
        assert out["col"].dtype == df["col"].dtype
        return
    assert stored_values(path, real) == []
    assert not set(out["col"].dropna()) & real
    assert out["col"].dropna().is_unique


def test_high_cardinality_column_stores_no_rare_value(tmp_path):
    # 60 % distinct: too repetitive for an identifier, too many values for a category list
    rng = np.random.default_rng(5)
    common = [f"CITY-{i:03d}" for i in range(40)]
    rare = [f"{rng.choice(['north', 'south'])}-{i:05d}" for i in range(900)]
    values = list(rng.choice(common, 1100)) + rare
    df = table("place", values)
    assert detect_schema(df)["place"].kind is ColumnKind.CATEGORICAL
    with pytest.warns(Warning, match="'place' has 940 distinct"):
        synth = Synthesizer(epochs=2, verbose=False, seed=0, max_categories=50).fit(df)
    path = synth.save(tmp_path / "m.safetensors")
    assert stored_values(path, set(rare)) == []
    out = Synthesizer.load(path).sample(20_000, seed=0)["place"]
    assert not set(out) & set(rare)
    others = out[~out.isin(common)]
    assert len(others) > 0 and others.str.fullmatch(r"[a-z]+-\d{6}").all()
    # generated per global row number: chunks and shards do not repeat each other's values
    column = next(t for t in synth.transformer_.transformers_ if t.spec.name == "place")
    block = np.zeros((50, column.width), dtype=np.float32)
    block[:, len(column.categories_)] = 1.0  # every row in the 'other' slot
    first, second = (column.inverse_transform(block, np.random.default_rng(0), row_offset=o)
                     for o in (0, 50))
    assert not set(first) & set(second)


def test_info_and_report_list_verbatim_and_replaced_columns(tmp_path):
    from typer.testing import CliRunner

    from cli.main import app
    from synthvae.persistence import model_info
    from synthvae.reports import evaluate

    df = table("email", emails_with_one_empty_cell())
    path = fit(df).save(tmp_path / "m.safetensors")
    exposure = {e["column"]: e for e in model_info(path)["value_exposure"]}
    assert exposure["email"]["exposure"] == "replaced"
    assert exposure["email"]["values_stored"] == 0
    assert exposure["group"]["exposure"] == "verbatim"
    assert exposure["group"]["values_stored"] == 3
    result = CliRunner().invoke(app, ["info", str(path)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert re.search(r"email\s.*no, replaced", result.output)
    assert re.search(r"group\s.*yes, verbatim", result.output)
    synthetic = Synthesizer.load(path).sample(500, seed=0)
    report = evaluate(df, synthetic, model_path=path)
    assert {e["column"]: e["exposure"] for e in report.privacy["value_exposure"]} == {
        "email": "replaced", "group": "verbatim", "age": "verbatim"}  # age: 62 exact values
    assert "yes, verbatim" in report.to_html()


def test_ordinary_categoricals_of_shared_tables_are_not_identifiers():
    for name in ("adult_train", "bank", "titanic", "taxis", "flights"):
        df = dataset(name, rows=20_000)
        schema = detect_schema(df)
        text = [c.name for c in schema.columns if c.kind is ColumnKind.IDENTIFIER
                and not pd.api.types.is_numeric_dtype(df[c.name])]
        assert text == [], (name, text)


# ----------------------------------------------------------------------------- issue 24.2


def test_text_ids_keep_prefix_digits_and_suffix_and_never_reuse_a_real_id():
    real = [f"user{i}@example.com" for i in range(N)]
    df = table("email", real)
    # An identifier without "pii" (e-mails are personal data by default: tests/test_pii.py).
    plain = {"columns": [{"name": "email", "kind": "identifier"}]}
    synth = Synthesizer(epochs=2, verbose=False, seed=0, schema=plain).fit(df)
    out = synth.sample(5000, seed=0)["email"]
    assert out.str.fullmatch(r"user\d{4}@example\.com").all()  # one digit longer than 999
    assert out.is_unique and not set(out) & set(real)
    assert synth.sample(5000, seed=0)["email"].equals(out)  # same seed, same ids


def test_template_stores_only_characters_shared_by_many_rows():
    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    real = ["".join(rng.choice(letters, rng.integers(3, 9))) + "."
            + "".join(rng.choice(letters, rng.integers(3, 9))) + "@"
            + ["gmail.com", "corp.org"][i % 2] for i in range(2000)]
    template = learn_template(real)
    text = json.dumps(template)
    assert not [v for v in real if v.split("@")[0] in text]
    out = generate(template, np.arange(50_000), np.random.default_rng(1))
    assert pd.Series(out).str.fullmatch(r"[a-z]{3,9}\.[a-z]{3,9}@[a-z]{4,5}\.[a-z]{3}").all()
    assert len(set(out)) == len(out) and not set(out) & set(real)


def test_generated_ids_are_unique_across_widths_and_chunks():
    template = learn_template([f"A{i}" for i in range(20)])  # 'A' + up to 2 digits
    whole = generate(template, np.arange(0, 5000), np.random.default_rng(0))
    assert len(set(whole)) == 5000 and {len(v) for v in whole} == {4, 5}
    chunks = np.concatenate([generate(template, np.arange(s, s + 1000),
                                      np.random.default_rng(s)) for s in range(0, 5000, 1000)])
    assert (chunks == whole).all()  # a counter-only id depends on its global row alone


def test_integer_ids_never_reuse_a_real_id():
    df = pd.DataFrame({"id": np.arange(1, 301), "v": np.random.default_rng(0).normal(size=300)})
    out = fit(df).sample(1000, seed=0)["id"]
    assert out.is_unique and out.min() > 300 and out.dtype == df["id"].dtype


def test_models_saved_before_templates_still_load_and_say_they_store_rare_values(tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    from synthvae.persistence import model_info

    df = pd.DataFrame({"id": [f"C{i:05d}" for i in range(300)],
                       "code": [f"k{i % 260}" for i in range(300)],
                       "v": np.random.default_rng(0).normal(size=300)})
    with pytest.warns(Warning, match="'code' has 260 distinct"):
        synth = Synthesizer(epochs=2, verbose=False, seed=0).fit(df)
    path = synth.save(tmp_path / "m.safetensors")
    with safe_open(str(path), "pt") as handle:
        meta, tensors = handle.metadata(), {k: handle.get_tensor(k) for k in handle.keys()}
    state = json.loads(meta["state"])
    columns = state["transformer"]["columns"]
    columns[0] = {"start": 0, "prefix": "C", "digits": 5}  # the old identifier counter
    del columns[1]["other_template"]  # the old categorical: rare values in the file
    columns[1].update(rare_values=["k250", "k251"], rare_weights=[0.5, 0.5])
    meta["state"] = json.dumps(state)
    save_file(tensors, str(path), metadata=resigned(meta, tensors))
    out = Synthesizer.load(path).sample(400, seed=0)
    assert out["id"].str.fullmatch(r"C\d{5}").all() and out["id"].is_unique
    exposure = {e["column"]: e["detail"] for e in model_info(path)["value_exposure"]}
    assert "older model file" in exposure["id"] and "older model file" in exposure["code"]


def test_integer_ids_start_above_every_training_id_and_refuse_to_overflow():
    from synthvae.errors import DataError
    from synthvae.schema import ColumnSpec
    from synthvae.transforms.passthrough import IdentifierGenerator, counter_start

    assert [counter_start(v) for v in (0, 7, 99, 437, 43824)] == [1, 8, 100, 440, 44000]
    spec = ColumnSpec("id", ColumnKind.IDENTIFIER, dtype="int64")
    near_top = pd.Series(np.iinfo(np.int64).max - np.arange(50) * 10**16, dtype=np.int64)
    with pytest.raises(DataError, match="'id'.*dtype 'object'"):  # at fit, not at sample
        IdentifierGenerator(spec).fit(near_top)
    generator = IdentifierGenerator(spec).fit(near_top.iloc[10:] - 10**18)
    with pytest.raises(DataError, match="'id'.*dtype 'object'"):  # sampling past the range
        generator.inverse_transform(np.zeros((10, 0), dtype=np.float32), row_offset=2**62)


def test_numeric_extremes_are_listed_as_stored_outside_dp_only(tmp_path):
    from synthvae.identifiers import value_exposure
    from synthvae.persistence import model_info

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"pay": rng.lognormal(8, 1, 300), "g": rng.choice(list("ab"), 300)})
    path = Synthesizer(epochs=1, verbose=False, seed=0).fit(df).save(tmp_path / "m.safetensors")
    listed = {e["column"]: e for e in model_info(path)["value_exposure"]}
    assert "smallest and largest" in listed["pay"]["detail"]
    from synthvae.persistence import read_model_file

    state, _ = read_model_file(path)
    private = {e["column"] for e in value_exposure(state["schema"]["columns"],
                                                   state["transformer"]["columns"], True)}
    assert "pay" not in private


def test_tail_mode_edges_are_listed_as_stored_values():
    from synthvae.identifiers import value_exposure

    schema = [{"name": "pay", "kind": "continuous", "min": 0.0, "max": 1e6}]  # bounds given
    state = {"point": [False, False, False], "mode_low": [None, 9.2, None],
             "mode_high": [None, None, 0.4]}
    (entry,) = value_exposure(schema, [state])
    assert entry["values_stored"] == 2
    assert "2 tail-mode edges (quantiles of the training values" in entry["detail"]
    older = {"point": [False, False]}  # no tail modes: nothing listed for bounded columns
    assert value_exposure(schema, [older]) == []


# ----------------------------------------------------------------------------- small tables


def test_a_small_tables_distinct_measurements_are_numbers_and_counters_stay_identifiers():
    rng = np.random.default_rng(0)
    prices = pd.Series(rng.choice(np.arange(300, 19_000), 80, replace=False), name="price")
    assert prices.is_unique and detect_column(prices).kind is ColumnKind.CONTINUOUS
    named = pd.Series(rng.choice(10**9, 80, replace=False), name="OrderNo")
    counter = pd.Series(rng.permutation(np.arange(1, 81)) * 10, name="row")
    assert detect_column(named).kind is ColumnKind.IDENTIFIER  # its name says so
    assert detect_column(counter).kind is ColumnKind.IDENTIFIER  # 80 values on 80 steps
    assert detect_column(named.rename("total")).kind is ColumnKind.CONTINUOUS


def test_an_80_row_tables_prices_are_modelled_with_what_sets_them():
    # 80 distinct prices were an identifier: regenerated as random unique numbers, unrelated
    # to the carats that set them.
    rng = np.random.default_rng(1)
    carat = rng.uniform(0.3, 2.0, 80).round(2)
    price = (4000 * carat ** 1.5 + rng.normal(0, 200, 80)).round().astype(np.int64) + \
        np.arange(80)  # distinct
    df = pd.DataFrame({"carat": carat, "price": price})
    assert df["price"].is_unique
    rows = Synthesizer(verbose=False).fit(df).sample(1000, seed=1)
    assert rows["price"].dtype == np.int64
    assert rows[["carat", "price"]].corr(method="spearman").iloc[0, 1] > 0.8  # real 0.99


@pytest.mark.parametrize("name", ["diamonds", "adult_train", "default"])
def test_a_50_to_80_row_slice_of_a_shared_table_has_no_identifier(name):
    # diamonds' price, adult's fnlwgt and default's BILL_AMT1 are all distinct in so few
    # rows; they are measurements, and diamonds' price is its target.
    for rows in (50, 80):
        kinds = {c.kind for c in detect_schema(dataset(name, rows=rows)).columns}
        assert ColumnKind.IDENTIFIER not in kinds


@pytest.mark.skipif(not DATASETS.exists(), reason="shared datasets not available")
def test_the_shared_tables_identifiers_are_beijings_row_number_alone():
    from conftest import all_dataset_names

    found = {(name, c.name) for name in all_dataset_names()
             for c in detect_schema(dataset(name, rows=5000)).columns
             if c.kind is ColumnKind.IDENTIFIER}
    assert found <= {("beijing", "No")}


def test_a_declared_identifier_of_whole_numbers_with_blanks_stays_whole_numbers(tmp_path):
    """A key column with blanks (pandas reads it as floats; Int64 in Python) declared
    `{"kind": "identifier"}` came back as text ("1741302554.0", "'5422.0'"): the declared
    spec lacked the integer flag detection sets. Now it is an integer counter in its dtype;
    under DP (dtypes only) an Int64 column is one too."""
    from typer.testing import CliRunner

    from cli.main import app

    rng = np.random.default_rng(0)
    keys = rng.choice(10**9, 300, replace=False)
    df = pd.DataFrame({"cust": pd.array([int(k) if i % 10 else None for i, k in enumerate(keys)],
                                        dtype="Int64"), "x": rng.normal(size=300)})
    schema = {"columns": [{"name": "cust", "kind": "identifier"}]}
    out = Synthesizer(epochs=1, verbose=False, schema=schema).fit(df).sample(50, seed=0)
    assert out["cust"].dtype == "Int64" and out["cust"].dropna().is_unique
    private_schema = {"columns": [{"name": "cust", "kind": "identifier", "nullable": True}]}
    private = Synthesizer(epochs=1, verbose=False, schema=private_schema, epsilon=8).fit(df)
    assert private.schema_["cust"].integer
    df.to_csv(tmp_path / "keys.csv", index=False)
    (tmp_path / "schema.json").write_text(json.dumps(schema))
    runner = CliRunner()
    for args in (["fit", str(tmp_path / "keys.csv"), "--schema", str(tmp_path / "schema.json"),
                  "--epochs", "1", "-q", "-o", str(tmp_path / "m.safetensors")],
                 ["sample", "-m", str(tmp_path / "m.safetensors"), "-n", "40", "-q",
                  "-o", str(tmp_path / "out.csv")]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    written = (tmp_path / "out.csv").read_text().splitlines()[1:]
    assert all(re.fullmatch(r"\d*,[-0-9.e]+", line) for line in written), written[:3]


@pytest.mark.parametrize("base", [2**62, 2**63, 2**64 - 10**13], ids=["2**62", "2**63", "top"])
def test_uint64_readings_from_2_63_are_modelled_numbers_without_a_cast_warning(base):
    """Readings from 2**63 overflowed a float -> int64 cast, all gaps became 0 and the column
    passed for a counter: regenerated as 9300000000000000000, ...001, with a RuntimeWarning."""
    noise = np.random.default_rng(0).integers(0, 10**12, 200).astype(np.uint64)
    df = pd.DataFrame({"reading": np.uint64(base) + noise})
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert detect_column(df["reading"]).kind is ColumnKind.CONTINUOUS
        synth = Synthesizer(epochs=3, verbose=False, n_threads=1, seed=0).fit(df)
    assert synth.schema_["reading"].kind is ColumnKind.CONTINUOUS
    out = synth.sample(200, seed=1)["reading"]
    assert out.dtype == np.uint64
    assert out.min() >= df["reading"].min() and out.max() <= df["reading"].max()


COUNTERS = {"one_to_500": np.arange(1, 501), "step_13": 5 + 13 * np.arange(500)}


@pytest.mark.parametrize("dtype", ["int64", "uint64", "int32", "Int64", "float64"])
@pytest.mark.parametrize("counter", list(COUNTERS))
def test_counters_of_every_integer_dtype_stay_identifiers(counter, dtype):
    values = pd.Series(np.random.default_rng(0).permutation(COUNTERS[counter]), dtype=dtype,
                       name="row")
    if dtype == "float64":  # whole floats are an integer column with gaps, as pandas reads it
        values = values.where(np.arange(len(values)) % 10 != 3)
    assert detect_column(values).kind is ColumnKind.IDENTIFIER


@pytest.mark.parametrize("start", [2**63, -2**63, 2**64 - 1000], ids=["2**63", "min", "top"])
def test_counters_at_the_ends_of_64_bit_integers_stay_identifiers(start):
    dtype = np.int64 if start < 0 else np.uint64
    values = pd.Series(np.arange(500, dtype=dtype) + dtype(start), name="row")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert detect_column(values).kind is ColumnKind.IDENTIFIER


def test_two_identifier_columns_of_one_form_get_different_values():
    """Order and customer ids written alike came out equal row by row (one key per fit):
    a 1:1 relation between the columns that the real table does not have."""
    rng = np.random.default_rng(0)
    n = 600
    df = pd.DataFrame({"x": rng.normal(size=n),
                       "order_id": [f"ORD-{i:06d}" for i in rng.permutation(n)],
                       "cust_id": [f"ORD-{i:06d}" for i in rng.permutation(n) + n],
                       "note": [f"n{i % 300:04d}" for i in range(n)],  # 'other' slots:
                       "memo": [f"n{i % 299:04d}" for i in range(n)]})  # rare, one form
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = Synthesizer(epochs=1, verbose=False).fit(df).sample(1_000, seed=1)
    assert out["order_id"].str.match(r"^ORD-\d{7}$").all()
    assert (out["order_id"] != out["cust_id"]).all()
    generated = ~out["note"].isin(df["note"]) & ~out["memo"].isin(df["memo"])
    assert generated.sum() > 50 and (out["note"] != out["memo"])[generated].all()

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from synthvae import ColumnKind, Schema, SchemaError, Synthesizer, detect_schema
from synthvae.schema import CATEGORICAL_THRESHOLD, count_decimals, detect_column

from conftest import DATASETS, all_dataset_names, dataset

C, K, D, I, X = (ColumnKind.CONTINUOUS, ColumnKind.CATEGORICAL, ColumnKind.DATETIME,
                 ColumnKind.IDENTIFIER, ColumnKind.CONSTANT)

ADULT_KINDS = {
    "age": C, "workclass": K, "fnlwgt": C, "education": K, "education-num": C,
    "marital-status": K, "occupation": K, "relationship": K, "race": K, "sex": K,
    "capital-gain": C, "capital-loss": C, "hours-per-week": C, "native-country": K, "income": K,
}
TAXIS_KINDS = {
    "pickup": D, "dropoff": D, "passengers": K, "distance": C, "fare": C, "tip": C, "tolls": C,
    "total": C, "color": K, "payment": K, "pickup_zone": K, "dropoff_zone": K,
    "pickup_borough": K, "dropoff_borough": K,
}


def kinds_of(schema: Schema) -> dict:
    return {c.name: c.kind for c in schema.columns}


def test_adult_kinds_and_nullability():
    schema = detect_schema(dataset("adult_train"))
    assert kinds_of(schema) == ADULT_KINDS
    nullable = {c.name for c in schema.columns if c.nullable}
    assert nullable == {"workclass", "occupation", "native-country"}
    assert schema["age"].integer and schema["age"].dtype == "int64"


def test_taxis_kinds_and_datetime_format():
    schema = detect_schema(dataset("taxis"))
    assert kinds_of(schema) == TAXIS_KINDS
    assert schema["pickup"].datetime_format == "%Y-%m-%d %H:%M:%S"
    assert schema["fare"].decimals == 2


@pytest.mark.skipif(not DATASETS.exists(), reason="shared datasets not available")
@pytest.mark.parametrize("name", all_dataset_names())
def test_every_shared_dataset_gets_a_schema_that_round_trips(name):
    df = dataset(name, rows=5000)
    schema = detect_schema(df)
    assert schema.names == list(df.columns)
    assert Schema.from_json(schema.to_json()) == schema
    meta = schema.to_sdmetrics_metadata()
    assert set(meta["columns"]) == set(df.columns)


def test_flights_and_beijing_special_columns():
    flights = detect_schema(dataset("flights", rows=3000))
    assert flights["time_hour"].kind is D
    assert flights["time_hour"].datetime_format == "%Y-%m-%dT%H:%M:%SZ"
    assert flights["year"].kind is X
    beijing = detect_schema(dataset("beijing"))
    assert beijing["No"].kind is I


def test_integer_threshold_is_documented_and_applied():
    few = pd.Series(np.arange(200) % CATEGORICAL_THRESHOLD, name="code")
    many = pd.Series(np.arange(200) % (CATEGORICAL_THRESHOLD + 1), name="count")
    schema = detect_schema(pd.DataFrame({"code": few, "count": many}))
    assert schema["code"].kind is K and schema["count"].kind is C


def test_bool_category_and_datetime64_dtypes():
    df = pd.DataFrame({
        "flag": [True, False] * 50,
        "grade": pd.Categorical(["a", "b", "c", "a"] * 25, categories=["c", "b", "a"],
                                ordered=True),
        "when": pd.date_range("2024-01-01", periods=100, freq="h", tz="Europe/Paris"),
    })
    schema = detect_schema(df)
    assert schema["flag"].kind is K and schema["flag"].dtype == "bool"
    assert schema["grade"].categories == ("c", "b", "a") and schema["grade"].ordered
    assert schema["when"].kind is D and schema["when"].timezone == "Europe/Paris"


def test_override_from_json_takes_precedence():
    df = pd.DataFrame({"a": np.arange(100), "b": ["x", "y"] * 50})
    override = Schema.from_dict({"columns": [
        {"name": "a", "kind": "categorical", "dtype": "int64"},
        {"name": "b", "kind": "categorical", "dtype": "object"}]})
    assert detect_schema(df, overrides=override)["a"].kind is K


def test_a_schema_listing_one_column_overrides_it_and_detects_the_others():
    df = pd.DataFrame({"score": np.linspace(0, 1, 120), "code": np.arange(120) % 40,
                       "city": ["a", "b", "c"] * 40})
    df.loc[5, "code"] = None
    partial = Schema.from_dict({"columns": [{"name": "code", "kind": "categorical"}]})
    schema = detect_schema(df, overrides=partial)
    assert schema.names == ["score", "code", "city"]  # the table's order
    assert kinds_of(schema) == {"score": C, "code": K, "city": K}
    # what the user left out of the override comes from the column
    assert schema["code"].dtype == "float64" and schema["code"].nullable
    assert schema["score"] == detect_schema(df)["score"]


def test_schema_errors_name_the_problem():
    with pytest.raises(SchemaError, match="kind must be one of"):
        Schema.from_dict({"columns": [{"name": "a", "kind": "banana"}]})
    with pytest.raises(SchemaError, match="more than once"):
        Schema.from_dict({"columns": [{"name": "a", "kind": "continuous"}] * 2})
    with pytest.raises(SchemaError, match="not valid JSON"):
        Schema.from_json("{nope")
    with pytest.raises(SchemaError, match="newer"):
        Schema.from_dict({"version": 99, "columns": []})
    override = Schema.from_dict({"columns": [{"name": "zzz", "kind": "continuous"}]})
    with pytest.raises(SchemaError, match="'zzz'"):
        detect_schema(pd.DataFrame({"a": [1.0, 2.0]}), overrides=override)


def test_non_string_and_duplicate_column_names_are_refused():
    with pytest.raises(SchemaError, match="must be strings"):
        detect_schema(pd.DataFrame({0: [1.0, 2.0]}))
    dup = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(SchemaError, match="more than once"):
        detect_schema(dup)


def test_schema_json_is_plain_json():
    schema = detect_schema(pd.DataFrame({"a": [1.5, 2.25, 3.0] * 10, "b": ["u", "v", "w"] * 10}))
    data = json.loads(schema.to_json())
    assert data["columns"][0] == {"name": "a", "kind": "continuous", "nullable": False,
                                  "dtype": "float64", "decimals": 2}


def test_a_partial_override_without_dtype_records_the_dtype_as_detection_would():
    df = pd.DataFrame({"code": pd.array(["a", "b", None] * 20, dtype="string[pyarrow]"),
                       "v": np.arange(60.0)})
    partial = Schema.from_dict({"columns": [{"name": "code", "kind": "categorical"}]})
    assert detect_schema(df, overrides=partial)["code"].dtype == \
        detect_schema(df)["code"].dtype == "string[pyarrow]"


@pytest.mark.parametrize("entry, message", [
    ({"name": "c", "kind": "categorical", "min": 0, "max": 3},
     "'c': 'min' and 'max' bound a continuous or datetime column; this one is 'categorical'"),
    ({"name": "k", "kind": "constant", "max": 3, "value": 1}, "this one is 'constant'"),
    ({"name": "x", "kind": "continuous", "min": 5, "max": 1}, "'min' must be at most 'max'")])
def test_bounds_that_would_bound_nothing_or_cross_are_schema_errors(entry, message):
    with pytest.raises(SchemaError, match=message):
        Schema.from_dict({"columns": [entry]})


def _noisy_zero_beside_prices() -> np.ndarray:
    values = np.round(np.random.default_rng(0).uniform(1, 500, 200), 2)
    values[0] = 0.3 - 0.1 - 0.2  # -2.8e-17: float noise at the column's scale, a zero
    return values


@pytest.mark.parametrize("values, expected", [
    (np.round(np.random.default_rng(0).uniform(1, 500, 200), 2), 2),  # prices
    (np.random.default_rng(0).integers(1, 100, 200) / 100, 2),  # cents, some below 0.1
    (np.arange(200, dtype=np.float64), 0),  # whole numbers stored as floats
    (np.round(np.random.default_rng(0).uniform(0, 1e-3, 200), 6), 6),  # micro-units
    (_noisy_zero_beside_prices(), 2),
    (np.random.default_rng(0).lognormal(0, 1, 300) * 1e-12, None),  # picofarads
    (np.random.default_rng(0).lognormal(0, 1, 300) * 1e-7, None),
], ids=["prices", "cents", "whole", "micro", "noisy_zero", "pico", "tenth_micro"])
def test_decimals_are_counted_at_the_columns_own_scale(values, expected):
    """Values all below 1e-9 were judged to have 0 decimals: every sample came out 0."""
    assert count_decimals(values) == expected


def test_a_column_of_picofarads_samples_nonzero_values_at_its_scale():
    capacitance = np.random.default_rng(0).lognormal(0, 1, 300) * 1e-12
    df = pd.DataFrame({"capacitance_F": capacitance})
    synth = Synthesizer(epochs=3, verbose=False, n_threads=1, seed=0).fit(df)
    assert synth.schema_["capacitance_F"].decimals is None
    out = synth.sample(200, seed=1)["capacitance_F"]
    assert (out > 0).all()
    assert 0.1 < out.median() / np.median(capacitance) < 10


def test_dates_in_mixed_formats_are_categories_with_a_warning_saying_how_to_keep_dates():
    """Every cell a date but no one format for them all: read as categories, so the rarer
    dates came back as random words, and nothing said why."""
    from synthvae import DetectionWarning

    days = pd.date_range("2020-01-01", periods=300)
    mixed = pd.Series([d.strftime("%Y-%m-%d" if k % 2 else "%d/%m/%Y")
                       for k, d in enumerate(days)], name="when")
    with pytest.warns(DetectionWarning, match=r"Column 'when' reads as dates, but in no one "
                                              r"format .* its 300 distinct values .* "
                                              r"\(pd\.to_datetime\(df\['when'\], "
                                              r"format='mixed'\)"):
        assert detect_column(mixed).kind is ColumnKind.CATEGORICAL
    converted = pd.to_datetime(mixed, format="mixed", dayfirst=True).rename("when")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # as the warning says; and few values are quiet
        assert detect_column(converted).kind is ColumnKind.DATETIME
        assert detect_column(mixed.head(150)).kind is ColumnKind.CATEGORICAL


def test_dates_beside_a_few_words_are_categories_with_a_warning_saying_how_to_keep_dates():
    from synthvae import DetectionWarning

    days = pd.date_range("2020-01-01", periods=300).strftime("%Y-%m-%d")
    signup = pd.Series([d if k % 3 else "unknown" for k, d in enumerate(days)], name="signup")
    with pytest.warns(DetectionWarning, match=r"Column 'signup' holds dates in 67% of its "
                                              r"cells and 'unknown' \(100 rows\) .* its 201 "
                                              r"distinct values are more than the 200 .* make "
                                              r"those cells empty \(df\['signup'\]\.replace\("
                                              r"\['unknown'\], None\)\)"):
        assert detect_column(signup).kind is ColumnKind.CATEGORICAL
    named = pd.Series([pd.Timestamp(d).strftime("%d-%b-%Y") if k % 3 else "unknown"
                       for k, d in enumerate(days)], name="signup")  # month names too
    with pytest.warns(DetectionWarning, match=r"Column 'signup' holds dates in 67% of its"):
        assert detect_column(named).kind is ColumnKind.CATEGORICAL
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # as the warning says: dates, with missing cells
        assert detect_column(signup.replace(["unknown"], None)).kind is ColumnKind.DATETIME
        mostly_words = pd.Series(["none", "some", "2020-01-05"] * 100, name="w")
        assert detect_column(mostly_words).kind is ColumnKind.CATEGORICAL  # a third: quiet
        many_words = pd.Series([d if k % 3 else f"w{k % 7}" for k, d in enumerate(days)])
        assert detect_column(many_words).kind is ColumnKind.CATEGORICAL  # not a few words
        few_dates = signup.head(60)  # 40 dates: every one kept as a category of its own
        assert detect_column(few_dates).kind is ColumnKind.CATEGORICAL

"""Constraints: every sampled row meets every rule, also with conditions, shards, streams,
Parquet fits, saved models and the CLI; rules the data breaks are refused at fit.

Violations are counted here independently of synthvae's own rule code (set membership,
comparisons, modulo), on 100,000 sampled rows per kind, from a small model that fits in
seconds (its rows are poor; the rules must hold anyway).
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app
from conftest import cli_fit_and_sample
from synthvae import (FixedCombinations, FixedIncrements, Inequality, Negative, OneHot,
                      Positive, Predicate, Range, Schema, Synthesizer, Unique)
from synthvae.constraints import PredicateNotSavedWarning
from synthvae.errors import ConfigError, DataError, SchemaError

pytestmark = pytest.mark.filterwarnings("ignore::synthvae.errors.PosteriorCollapseWarning")
ROWS = 100_000
FAST = dict(epochs=3, hidden=(32, 32), latent_dim=8, batch_size=250, verbose=False, seed=0)
PLACES = [("Paris", "FR"), ("Lyon", "FR"), ("Berlin", "DE"), ("Munich", "DE"), ("Rome", "IT")]


def table(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    place = rng.choice(len(PLACES), n, p=[0.3, 0.2, 0.2, 0.2, 0.1])
    start = rng.integers(0, 100, n).astype(float)
    end = start + rng.exponential(10, n).round(1)
    checkin = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 365, n), "D")
    checkout = checkin + pd.to_timedelta(rng.integers(0, 15, n), "D")
    age = rng.integers(18, 80, n)
    hot = rng.integers(0, 3, n)
    df = pd.DataFrame({
        "city": [PLACES[i][0] for i in place], "country": [PLACES[i][1] for i in place],
        "start": start, "mid": (start + (end - start) * rng.random(n)).round(2), "end": end,
        "checkin": checkin.strftime("%Y-%m-%d"), "checkout": checkout.strftime("%Y-%m-%d"),
        "price": rng.integers(1, 40, n) * 5,
        "amount": rng.lognormal(3, 1, n).round(2),
        "loss": -rng.exponential(50, n).round(),
        "score": np.minimum(rng.normal(70, 15, n), 100).round(1),
        "is_a": (hot == 0).astype(int), "is_b": (hot == 1).astype(int),
        "is_c": (hot == 2).astype(int),
        "uid": rng.permutation(n) * 7 + 100_000,
        "age": age, "hours": np.minimum(rng.integers(10, 70, n), age + 30),
    })
    df.loc[rng.random(n) < 0.05, "checkin"] = None  # the rule applies where both are present
    return df


def hours_rule(frame: pd.DataFrame):
    return (frame["hours"] <= frame["age"] + 30).to_numpy()


CONSTRAINTS = [
    FixedCombinations(["city", "country"]),
    Inequality("checkin", "checkout"),
    Inequality("start", "end"),
    Range("start", "mid", "end"),  # start <= end again: checked, never broken
    Inequality("score", 100),
    Positive("amount"),
    Negative("loss", strict=False),
    FixedIncrements("price", 5),
    OneHot(["is_a", "is_b", "is_c"]),
    Unique("uid"),
    Predicate(hours_rule, "hours"),
]


def violations(real: pd.DataFrame, out: pd.DataFrame) -> dict:
    """Rows breaking each rule, counted from first principles."""
    pairs = set(zip(real["city"], real["country"]))
    dates = {c: pd.to_datetime(out[c]) for c in ("checkin", "checkout")}
    hot = out[["is_a", "is_b", "is_c"]]
    return {
        "fixed_combinations": int((~pd.Series(list(zip(out["city"], out["country"])))
                                   .isin(pairs)).sum()),
        "inequality (dates)": int((dates["checkout"] < dates["checkin"]).sum()),
        "inequality": int((out["end"] < out["start"]).sum()),
        "range": int(((out["mid"] < out["start"]) | (out["mid"] > out["end"])).sum()),
        "inequality (constant)": int((out["score"] > 100).sum()),
        "positive": int((out["amount"] < 0).sum()),
        "negative": int((out["loss"] > 0).sum()),
        "fixed_increments": int((out["price"] % 5 != 0).sum()),
        "one_hot": int(((hot.sum(axis=1) != 1) | ~hot.isin([0, 1]).all(axis=1)).sum()),
        "unique": int(out["uid"].duplicated().sum() + out["uid"].isin(real["uid"]).sum()),
        "predicate": int((~hours_rule(out)).sum()),
    }


@pytest.fixture(scope="module")
def real():
    return table()


@pytest.fixture(scope="module")
def fitted(real):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Synthesizer(constraints=CONSTRAINTS, **FAST).fit(real)


def assert_none_broken(real, out, n):
    assert len(out) == n
    assert violations(real, out) == dict.fromkeys(violations(real, out), 0)


def test_every_kind_holds_on_100000_rows_with_the_tables_columns_and_dtypes(real, fitted):
    out = fitted.sample(ROWS, seed=1)
    assert_none_broken(real, out, ROWS)
    assert list(out.columns) == list(real.columns)
    assert out.dtypes.to_dict() == real.dtypes.to_dict()
    assert out["checkin"].isna().mean() > 0.01  # missing cells are still modelled
    assert set(zip(out["city"], out["country"])) == set(PLACES)  # all combinations used


def test_shards_and_streams_meet_every_constraint_and_agree(real, fitted):
    shards = pd.concat([fitted.sample(ROWS, seed=2, shard=(i, 4)) for i in range(4)],
                       ignore_index=True)
    assert_none_broken(real, shards, ROWS)
    assert shards["uid"].is_unique
    stream = pd.concat(fitted.iter_sample(ROWS, chunk_size=7_000, seed=3), ignore_index=True)
    assert_none_broken(real, stream, ROWS)
    assert stream.equals(fitted.sample(ROWS, seed=3))


@pytest.mark.parametrize("conditions, rows", [
    ({"country": "DE", "price": (100, 150)}, ROWS),  # mapped onto the modelled columns
    ({"city": ["Paris", "Rome"]}, 20_000),
    ({"end": (50, 60)}, 20_000),  # modelled as end - start: checked after sampling
    ({"checkout": ("2021-06-01", "2021-06-30")}, 5_000),
    ({"is_b": 1, "amount": (0, 20)}, 20_000),
])
def test_conditions_and_constraints_hold_together(real, fitted, conditions, rows):
    out = fitted.sample(rows, seed=4, conditions=conditions)
    assert_none_broken(real, out, rows)
    if "country" in conditions:
        assert set(out["city"]) <= {"Berlin", "Munich"} and out["price"].between(100, 150).all()
    if "city" in conditions:
        assert set(out["country"]) <= {"FR", "IT"}
    if "end" in conditions:
        assert out["end"].between(50, 60).all()
    if "checkout" in conditions:
        assert pd.to_datetime(out["checkout"]).between("2021-06-01", "2021-06-30").all()
    if "is_b" in conditions:
        assert (out["is_b"] == 1).all() and (out["is_a"] == 0).all()


@pytest.mark.parametrize("conditions, message", [
    ({"city": "Paris", "country": "DE"}, "cannot both hold"),
    ({"price": (101, 104)}, "no multiple of 5"),
    ({"amount": (-10, -1)}, "cannot both hold"),
    ({"score": (101, 120)}, "cannot both hold"),
    ({"uid": 3}, "uid"),
])
def test_a_condition_no_constrained_row_can_meet_is_a_clear_error(fitted, conditions, message):
    with pytest.raises(ConfigError, match=message):
        fitted.sample(10, conditions=conditions)


def test_rows_the_model_rarely_allows_stop_with_an_error_not_an_endless_loop(real):
    pairs = pd.MultiIndex.from_frame(real[["start", "amount"]])
    rare = Predicate(lambda f: pd.MultiIndex.from_frame(f[["start", "amount"]]).isin(pairs),
                     "real (start, amount) pairs only")
    synth = Synthesizer(constraints=[rare], **FAST).fit(real)
    with pytest.raises(ConfigError, match="rarely gives such rows"):
        synth.sample(5_000)


def test_data_breaking_a_rule_is_an_error_naming_the_rows(real):
    broken = real.copy()
    broken.loc[[7, 11], "end"] = broken.loc[[7, 11], "start"] - 1
    with pytest.raises(DataError, match=r"start <= end constraint in 2 rows: 7, 11"):
        Synthesizer(constraints=[Inequality("start", "end")], **FAST).fit(broken)
    broken = real.copy()
    broken.loc[3, "price"] = 12
    with pytest.raises(DataError, match=r"multiples of 5 constraint in 1 row: 3 .*price=12\b"):
        Synthesizer(constraints=[FixedIncrements("price", 5)], **FAST).fit(broken)
    with pytest.raises(ConfigError, match="column 'nope'"):
        Synthesizer(constraints=[Positive("nope")], **FAST).fit(real)
    with pytest.raises(ConfigError, match="both must be continuous, or both datetime"):
        Synthesizer(constraints=[Inequality("start", "checkout")], **FAST).fit(real)


def test_saved_models_keep_their_constraints_and_a_predicate_must_be_passed_again(
        real, fitted, tmp_path):
    path = tmp_path / "m.safetensors"
    with pytest.warns(PredicateNotSavedWarning, match="predicates=\\{'hours'"):
        fitted.save(path)
    with pytest.raises(ConfigError, match="predicate constraint 'hours'.*pass it again"):
        Synthesizer.load(path)
    loaded = Synthesizer.load(path, predicates={"hours": hours_rule})
    assert loaded.sample(3_000, seed=5).equals(fitted.sample(3_000, seed=5))
    with pytest.raises(ConfigError, match="'other'"):
        Synthesizer.load(path, predicates={"hours": hours_rule, "other": hours_rule})


def test_schema_json_carries_constraints_and_cli_fit_and_where_use_them(real, tmp_path):
    columns = ["city", "country", "start", "end", "price"]
    data = tmp_path / "t.csv"
    real[columns].to_csv(data, index=False)
    schema = {"columns": [], "constraints": [
        {"kind": "fixed_combinations", "columns": ["city", "country"]},
        {"kind": "inequality", "low": "start", "high": "end"},
        {"kind": "fixed_increments", "column": "price", "increment": 5,
         "note": "kept and ignored"}]}
    assert Schema.from_dict(Schema.from_dict(schema).to_dict()) == Schema.from_dict(schema)
    out = cli_fit_and_sample(data, schema, 20_000, ["country=FR", "end=20..40"], tmp_path)
    assert len(out) == 20_000 and set(out["city"]) <= {"Paris", "Lyon"}
    assert out["end"].between(20, 40).all() and (out["end"] >= out["start"]).all()
    assert (out["price"] % 5 == 0).all()


@pytest.mark.parametrize("bad, message", [
    ({"kind": "inequalty", "low": "a", "high": "b"}, "kind must be one of"),
    ({"kind": "predicate", "name": "x"}, "Python only"),
    ({"kind": "range", "low": "a", "middle": 3, "high": "b"}, "'middle'"),
    ({"kind": "fixed_combinations", "columns": ["a"]}, "at least 2"),
    ({"kind": "positive", "column": "a", "strict": "yes"}, "'strict'"),
])
def test_malformed_constraints_in_a_schema_are_schema_errors(bad, message):
    with pytest.raises(SchemaError, match=message):
        Schema.from_dict({"columns": [], "constraints": [bad]})


def test_parquet_fits_keep_the_constraints_and_refuse_a_row_group_breaking_one(real, tmp_path):
    path = tmp_path / "t.parquet"
    real.to_parquet(path, row_group_size=500)
    rules = [c for c in CONSTRAINTS if not isinstance(c, Predicate)]
    synth = Synthesizer(constraints=rules, **FAST).fit_parquet(path, sample_rows=800)
    out = synth.sample(ROWS, seed=6)
    counted = violations(real, out)
    counted.pop("predicate")
    assert counted == dict.fromkeys(counted, 0)
    broken = real.copy()
    broken.loc[1500, "loss"] = 3.0  # outside the reservoir's first rows
    broken.to_parquet(path, row_group_size=500)
    with pytest.raises(DataError, match="row group .* loss <= 0"):
        Synthesizer(constraints=[Negative("loss")], **FAST).fit_parquet(path, sample_rows=100)


def test_differential_privacy_refuses_constraints(real):
    with pytest.raises(ConfigError, match="not available with differential privacy"):
        Synthesizer(constraints=[Positive("amount")], epsilon=1.0, **FAST).fit(real)


def test_scores_and_encodings_read_the_tables_own_columns(real, fitted):
    scores = fitted.score(real.head(50), samples=4)
    assert len(scores) == 50 and np.isfinite(scores["elbo"]).all()
    assert fitted.encode(real.head(5)).shape == (5, 8)


def test_sdv_constraints_and_alternate_keys_map(real):
    meta = {"columns": {c: {"sdtype": "categorical"} for c in ("city", "country")} | {
        "start": {"sdtype": "numerical"}, "end": {"sdtype": "numerical"},
        "uid": {"sdtype": "numerical", "computer_representation": "Int64"}},
        "alternate_keys": ["uid"],
        "constraints": [
            {"constraint_class": "FixedCombinations",
             "constraint_parameters": {"column_names": ["city", "country"]}},
            {"constraint_class": "Inequality",
             "constraint_parameters": {"low_column_name": "start", "high_column_name": "end"}},
            {"constraint_class": "ScalarInequality", "constraint_parameters": {
                "column_name": "start", "relation": ">=", "value": 0}}]}
    schema = Schema.from_sdv(meta, data=real[list(meta["columns"])])
    assert schema.constraints == (FixedCombinations(("city", "country")),
                                  Inequality("start", "end"), Inequality(0, "start"),
                                  Unique("uid"))
    assert schema.to_sdv()["alternate_keys"] == ["uid"]


def test_schema_command_suggests_rules_that_fit_and_hold(adult_small, tmp_path):
    data = tmp_path / "adult.csv"
    adult_small.to_csv(data, index=False)
    result = CliRunner().invoke(app, ["schema", str(data)])
    assert result.exit_code == 0, result.output
    proposed = json.loads(result.output)
    suggested = proposed["suggested_constraints"]
    combos = [set(c["columns"]) for c in suggested if c["kind"] == "fixed_combinations"]
    assert {"education", "education-num"} in combos
    assert any({"relationship", "sex"} <= c for c in combos)
    assert {"kind": "positive", "column": "age", "strict": False} in \
        [{k: v for k, v in c.items() if k != "note"} for c in suggested]
    assert Schema.from_dict(proposed).constraints == ()  # suggestions are not applied ...
    proposed["constraints"] = suggested  # ... until the user moves them
    synth = Synthesizer(schema=proposed, **FAST).fit(adult_small)
    out = synth.sample(20_000, seed=7)
    for group in combos:
        seen = set(map(tuple, adult_small[sorted(group)].astype(str).to_numpy()))
        assert set(map(tuple, out[sorted(group)].astype(str).to_numpy())) <= seen
    plain = CliRunner().invoke(app, ["schema", str(data), "--no-suggest"])
    assert "suggested_constraints" not in json.loads(plain.output)


def test_suggested_increments_and_inequalities(real):
    from synthvae.constraints.suggest import suggest_constraints
    from synthvae.schema import detect_schema

    found = suggest_constraints(real, detect_schema(real))
    kinds = {(c["kind"], c.get("column"), c.get("low"), c.get("high"),
              c.get("increment")) for c in found}
    assert ("fixed_increments", "price", None, None, 5) in kinds
    assert ("inequality", None, "start", "end", None) in kinds
    assert ("negative", "loss", None, None, None) in kinds


def test_a_resumed_fit_keeps_the_schemas_constraints(real, tmp_path, monkeypatch):
    from synthvae import persistence

    schema = {"columns": [], "constraints": [
        {"kind": "fixed_combinations", "columns": ["city", "country"]}]}
    data, checkpoint = real[["city", "country", "start", "end"]], tmp_path / "fit.ckpt"
    options = dict(FAST, epochs=4, schema=schema)
    whole = Synthesizer(**options).fit(data)
    real_save = persistence.save_checkpoint

    def save_then_die(synth, state, path, fingerprint):
        real_save(synth, state, path, fingerprint)
        if state.epoch == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(persistence, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        Synthesizer(**options).fit(data, checkpoint=checkpoint, checkpoint_every=1)
    monkeypatch.setattr(persistence, "save_checkpoint", real_save)
    resumed = Synthesizer(**options).fit(data, checkpoint=checkpoint, resume=True)
    out = resumed.sample(20_000, seed=8)
    assert set(zip(out["city"], out["country"])) <= set(PLACES)
    pd.testing.assert_frame_equal(out, whole.sample(20_000, seed=8))


def with_missing_cells(seed: int = 2, n: int = 600) -> pd.DataFrame:
    """Numbers with empty cells: ``p`` positive, ``lo <= hi``, ``a <= m <= b``."""
    rng = np.random.default_rng(seed)
    low = rng.integers(0, 100, n).astype(float)
    middle = low + rng.integers(0, 10, n)
    frame = pd.DataFrame({"p": rng.normal(50, 10, n), "lo": low,
                          "hi": low + rng.integers(1, 10, n), "a": low, "m": middle,
                          "b": middle + rng.integers(0, 10, n)})
    for column in ("p", "hi", "m"):
        frame.loc[rng.random(n) < 0.2, column] = np.nan
    return frame


@pytest.mark.parametrize("rule, column", [
    (Positive("p"), "p"), (Inequality(0, "p"), "p"), (Inequality("p", 100), "p"),
    (Inequality("lo", "hi"), "hi"), (Range("a", "m", "b"), "m"), (Range(0, "m", 200), "m")])
def test_a_rule_keeps_a_columns_empty_cells_empty(rule, column):
    real = with_missing_cells()
    synthetic = Synthesizer(**FAST, constraints=[rule]).fit(real).sample(4000, seed=1)
    # the empty cells come back (not replaced by the bound or by the low column's value)
    assert synthetic[column].isna().mean() == pytest.approx(real[column].isna().mean(),
                                                            abs=0.06)
    present = synthetic.dropna(subset=[column])
    assert not present.empty
    if column == "hi":
        assert (synthetic["hi"] == synthetic["lo"]).mean() < 0.05  # real rows: never equal
    empty = Synthesizer(**FAST, constraints=[rule]).fit(real).sample(
        10, seed=1, conditions={column: None})
    assert empty[column].isna().all()


def test_a_range_beyond_an_increment_columns_values_is_refused_in_its_own_units(tmp_path):
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"p": rng.integers(1, 20, 400) * 5, "x": rng.normal(size=400)})
    synth = Synthesizer(**FAST, constraints=[FixedIncrements("p", 5)]).fit(df)
    for model in (synth, Synthesizer.load(synth.save(tmp_path / "m.safetensors"))):
        with pytest.raises(ConfigError, match=r"asked range 100\.\.150; the model knows "
                                              r"5\.\.95\."):
            model.sample(5, conditions={"p": (100, 150)})
        assert model.sample(20, seed=0, conditions={"p": (20, 30)})["p"].isin(
            [20, 25, 30]).all()


def test_an_increment_columns_declared_bounds_keep_its_real_extremes_out_of_the_model():
    import dataclasses

    from synthvae import detect_schema

    rng = np.random.default_rng(2)
    df = pd.DataFrame({"salary": rng.integers(22, 1976, 300) * 500, "x": rng.normal(size=300)})
    schema = Schema([dataclasses.replace(c, min=0, max=2_000_000) if c.name == "salary" else c
                     for c in detect_schema(df).columns])
    synth = Synthesizer(**FAST, schema=schema,
                        constraints=[FixedIncrements("salary", 500)]).fit(df)
    (rule,) = synth.constraints_.rules_
    assert rule.span_ == (0.0, 2_000_000.0)  # the real 11,000 and 987,500 are not stored
    with pytest.raises(ConfigError, match=r"the model knows 0\.\.2e\+06"):
        synth.sample(5, conditions={"salary": (3_000_000, 4_000_000)})


def test_a_condition_few_rows_meet_is_still_drawn_above_the_one_percent_floor():
    """A range on an inequality's upper column, met by ~1.5 % of drawn rows, gave up after 8
    redraw rounds of at most 16 times the missing rows, though only shares below 1 % stop."""
    rng = np.random.default_rng(0)
    low = rng.uniform(0, 100, 2_000)
    df = pd.DataFrame({"a": low, "b": low + rng.uniform(0, 1, 2_000)})
    synth = Synthesizer(constraints=[Inequality("a", "b")], epochs=10, verbose=False).fit(df)
    assert 0.01 < synth.sample(20_000, seed=1)["b"].between(50, 51.5).mean() < 0.02
    rows = synth.sample(500, conditions={"b": (50, 51.5)}, seed=2)
    assert len(rows) == 500 and rows["b"].between(50, 51.5).all() and (rows.a <= rows.b).all()


def test_a_redraw_never_asks_for_more_than_a_batch_of_rows():
    """One round asked for up to 16 times the missing rows: several GiB on a wide table
    whose batch was sized to fit in memory. Rounds now take at most a batch each."""
    from synthvae.constraints.redraw import MIN_DRAWN, RejectionGuard, complete

    asked, rng = [], np.random.default_rng(0)

    def draw(rows, offset):
        asked.append(rows)
        return pd.DataFrame({"v": np.arange(rows)}), rng.random(rows) < 0.03  # 3 % pass

    rows = 5_000
    out = complete(draw, rows, 0, [], RejectionGuard())
    assert len(out) == rows and max(asked) <= max(rows, MIN_DRAWN) and len(asked) > 8


def test_a_batch_that_earlier_batches_hid_stops_with_its_own_passing_share():
    """Earlier batches that passed keep the sample's share above 1 %; a later batch whose
    rows nearly never pass stops after its budget, saying its own share, not the sample's."""
    from synthvae.constraints.redraw import RejectionGuard, complete

    guard, rng = RejectionGuard(), np.random.default_rng(0)
    guard.add(1_000_000, 1_000_000)  # earlier batches: every row passed

    def draw(rows, offset):
        return pd.DataFrame({"v": np.arange(rows)}), rng.random(rows) < 0.003

    with pytest.raises(ConfigError, match=r"Could not draw 500 rows meeting the constraints "
                                          r"from [\d,]+ drawn \(0\.[0-9]+% of them pass\)"):
        complete(draw, 500, 0, [], guard)


@pytest.mark.parametrize("rule, sign", [(Positive("tip"), 1), (Negative("tip"), -1)])
def test_a_bound_of_zero_never_gives_negative_zero(rule, sign):
    """Values just beyond a bound of 0 are snapped onto it: as 0.0, which a CSV writes as
    ``0.0``; they came back as -0.0 (a third of a tip column's rows written ``-0.0``)."""
    rng = np.random.default_rng(3)
    tips = np.where(rng.random(2000) < 0.4, 0.0, rng.gamma(2.0, 2.0, 2000).round(2))
    real = pd.DataFrame({"tip": sign * tips, "x": rng.normal(size=2000)})
    synthetic = Synthesizer(**FAST, constraints=[rule]).fit(real).sample(4000, seed=1)
    zeros = synthetic["tip"][synthetic["tip"] == 0]
    assert len(zeros) > 100 and not np.signbit(zeros).any()
    asked = Synthesizer(**FAST, constraints=[rule]).fit(real).sample(
        50, seed=1, conditions={"tip": 0})
    assert (asked["tip"] == 0).all() and not np.signbit(asked["tip"]).any()


def test_an_empty_cell_asked_of_an_inequalitys_upper_column_is_refused_by_name():
    """The upper column of an inequality is modelled as a gap above the lower one; asking
    it for an empty cell it never had drew until sampling gave up ('the model rarely gives
    such rows'), where the lower column's refusal names the column."""
    rng = np.random.default_rng(0)
    fare = rng.gamma(2.0, 5.0, 600).round(2)
    real = pd.DataFrame({"fare": fare, "total": (fare + rng.gamma(1.0, 2.0, 600)).round(2)})
    synth = Synthesizer(**FAST, constraints=[Inequality("fare", "total")]).fit(real)
    for column in ("fare", "total"):
        with pytest.raises(ConfigError, match=f"Column '{column}' has no empty cells in the "
                                              f"training data"):
            synth.sample(10, conditions={column: None})
    assert (synth.sample(20, seed=0, conditions={"total": (10, None)})["total"] >= 10).all()

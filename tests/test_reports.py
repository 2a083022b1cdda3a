"""synthvae.reports: floors, failure modes that must show, stable JSON, offline HTML, CLI.

Uses 2,000-row slices of the shared Adult files (../shared/datasets from the repository root);
skipped with a reason when they are absent. The whole file runs in well under 90 s on 2 cores.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthvae.errors import ConfigError, DataError, SchemaError
from synthvae.reports import Report, evaluate
from synthvae.reports.neighbors import nearest
from synthvae.reports.summary import SUMMARY_PATHS

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
TRAIN, TEST = DATASETS / "adult_train.csv.gz", DATASETS / "adult_test.csv.gz"
ROWS = 2_000
NUMERIC = ["age", "fnlwgt", "education-num", "hours-per-week"]

needs_adult = pytest.mark.skipif(
    not (TRAIN.is_file() and TEST.is_file()),
    reason=f"Adult benchmark files not found in {DATASETS} (shared datasets folder absent)")


@pytest.fixture(scope="module")
def adult():
    """Training slice, a same-size "synthetic" slice of the test file, and holdout rows."""
    if not (TRAIN.is_file() and TEST.is_file()):
        pytest.skip(f"Adult benchmark files not found in {DATASETS}")
    train = pd.read_csv(TRAIN, nrows=ROWS)
    test = pd.read_csv(TEST, nrows=2 * ROWS)
    return train, test.iloc[:ROWS].reset_index(drop=True), test.iloc[ROWS:].reset_index(drop=True)


@pytest.fixture(scope="module")
def floor(adult):
    """Real test rows scored as if synthetic: what a perfect synthesizer would get."""
    train, synthetic, holdout = adult
    return evaluate(train, synthetic, holdout=holdout, target="income",
                    key_columns=["age", "sex"], sensitive_columns=["income"])


@pytest.fixture(scope="module")
def copies(adult):
    train, _, holdout = adult
    return evaluate(train, train.sample(frac=1.0, random_state=0), holdout=holdout)


# ----------------------------------------------------------------------------- scores


@needs_adult
def test_real_data_scores_near_the_floor(floor):
    s = floor.summary
    assert s["column_shapes"] > 0.95
    assert s["column_pair_trends_all_pairs"] > 0.9
    assert s["logistic_detection"] > 0.9
    assert 0.4 < s["gb_detection_auc"] < 0.6
    assert s["exact_copies"] == 0
    assert 0.4 < s["dcr_train_share"] < 0.6
    assert 0.4 < s["mia_distance_auc"] < 0.6 and 0.4 < s["mia_domias_auc"] < 0.6
    assert s["ml_efficacy_synthetic"] > 0.85 and s["ml_efficacy_real"] > 0.85
    assert 0 < s["disclosure_protection"] <= 1


@needs_adult
@pytest.mark.parametrize("damage", ["noise", "shuffle"])
def test_damaged_synthetic_data_scores_clearly_worse(adult, floor, damage):
    train, synthetic, holdout = adult
    rng = np.random.default_rng(0)
    damaged = synthetic.copy()
    if damage == "noise":  # marginals and correlations blur
        for column in NUMERIC:
            damaged[column] = damaged[column] + rng.normal(0, damaged[column].std(), ROWS)
    else:  # every column shuffled on its own: marginals kept, every relation broken
        for column in damaged.columns:
            damaged[column] = rng.permutation(damaged[column].to_numpy())
    s, base = evaluate(train, damaged, holdout=holdout).summary, floor.summary
    assert s["column_pair_trends_all_pairs"] < base["column_pair_trends_all_pairs"] - 0.03
    assert s["column_pair_trends"] < base["column_pair_trends"] - 0.05
    assert s["gb_detection_auc"] > 0.9
    assert s["beta_recall"] < base["beta_recall"] - 0.2
    if damage == "noise":
        assert s["column_shapes"] < base["column_shapes"] - 0.03
        assert s["alpha_precision"] < base["alpha_precision"] - 0.2


@needs_adult
def test_copies_of_training_rows_are_flagged(copies):
    s = copies.summary
    assert s["exact_copies"] == ROWS and s["exact_copy_share"] == 1.0
    assert s["dcr_train_share"] > 0.95
    assert s["dcr_synthetic_median"] == 0.0
    assert s["mia_distance_auc"] > 0.9 and s["mia_distance_tpr_at_1pct_fpr"] > 0.5
    assert s["mia_domias_auc"] > 0.9
    assert s["authenticity"] < 0.1
    assert s["gb_detection_score"] < 0.8  # cross-validation inverts on copies: AUC << 0.5


@needs_adult
def test_ml_efficacy_is_scored_for_every_target_asked(adult):
    train, synthetic, holdout = (df.head(800) for df in adult)
    report = evaluate(train, synthetic, holdout=holdout, target=["income", "sex", "age"])
    by_target = report.fidelity["ml_efficacy_by_target"]
    assert [m["target"] for m in by_target] == ["income", "sex", "age"]
    assert [m["primary_metric"] for m in by_target] == ["roc_auc", "roc_auc", "r2"]
    assert report.fidelity["ml_efficacy"] == by_target[0]
    assert report.summary["ml_efficacy_real"] == by_target[0]["real"]["roc_auc"]
    assert by_target[1]["real"]["roc_auc"] > 0.7  # sex is predictable from relationship
    assert "predict sex" in report.to_html()
    with pytest.raises(ConfigError, match="'target'"):
        evaluate(train, synthetic, holdout=holdout, target=["income", "nope"])


@needs_adult
def test_without_holdout_the_attacks_are_skipped_and_say_why(adult):
    train, synthetic, _ = adult
    report = evaluate(train.head(500), synthetic.head(500), target="income")
    assert report.privacy["membership_inference"] is None
    assert report.fidelity["ml_efficacy"] is None
    assert report.summary["dcr_train_share"] is None
    assert report.summary["dcr_synthetic_median"] is not None
    assert any("holdout" in note for note in report.notes)
    assert report.privacy["differential_privacy"]["trained_with_dp"] is None


@needs_adult
def test_holdout_rows_left_in_the_real_table_are_taken_out(adult):
    train, synthetic, holdout = (df.head(400) for df in adult)
    report = evaluate(pd.concat([train, holdout]), synthetic, holdout=holdout)
    assert report.data["real_rows"] == 400
    assert any("were also in the real table" in note for note in report.notes)


def test_nearest_matches_brute_force_and_finds_exact_copies():
    rng = np.random.default_rng(1)
    query = rng.standard_normal((300, 12)).astype(np.float32)
    reference = np.vstack([query[:50] + 0, rng.standard_normal((900, 12))]).astype(np.float32)
    distances, index = nearest(query, reference, k=3)
    brute = np.linalg.norm(query[:, None, :] - reference[None, :, :], axis=2)
    np.testing.assert_allclose(distances, np.sort(brute, axis=1)[:, :3], atol=1e-4)
    assert (distances[:50, 0] == 0).all() and (index[:50, 0] == np.arange(50)).all()


def heavy_tailed_table(seed: int, rows: int = 3_000) -> pd.DataFrame:
    """A balance with a long right tail, a spend that follows it, and a band derived from it."""
    rng = np.random.default_rng(seed)
    balance = rng.lognormal(10, 1.2, rows)
    spend = 0.3 * balance + rng.lognormal(8, 1.0, rows)
    band = np.where(balance > np.exp(10), "high", "low")
    return pd.DataFrame({"balance": balance, "spend": spend, "band": band})


TAIL_METADATA = {"columns": {"balance": {"sdtype": "numerical"},
                             "spend": {"sdtype": "numerical"},
                             "band": {"sdtype": "categorical"}}}


def test_real_bins_trends_ignore_where_the_extremes_fall_but_not_broken_relations():
    from synthvae.reports.fidelity import quality

    # A second sample of the same law: its longest balances end elsewhere than the real
    # ones, so the report cuts its balance column at other edges and the mixed pairs lose.
    real, fresh = heavy_tailed_table(0), heavy_tailed_table(1)
    trends = quality(real, fresh, TAIL_METADATA)["column_pair_trends"]
    assert trends["score_real_bins"] > 0.96
    assert trends["score_all_pairs"] < trends["score_real_bins"] - 0.05
    broken = heavy_tailed_table(1).assign(band=lambda d: np.random.default_rng(2).permutation(
        d["band"].to_numpy()))
    shuffled = quality(real, broken, TAIL_METADATA)["column_pair_trends"]["score_real_bins"]
    assert shuffled < trends["score_real_bins"] - 0.05


def test_real_bins_trends_leave_out_a_number_pair_whose_synthetic_column_is_constant():
    from synthvae.reports.fidelity import pair_trends_real_bins

    real = heavy_tailed_table(0)
    real["visits"] = np.random.default_rng(3).poisson(4, len(real)).astype(float)
    flat = real.assign(visits=2.0)  # a generator that learned only one value
    metadata = {"columns": {**TAIL_METADATA["columns"], "visits": {"sdtype": "numerical"}}}
    score = pair_trends_real_bins(real, flat, metadata)  # used to raise ConstantInputError
    assert score is not None and score < pair_trends_real_bins(real, real, metadata)


# ----------------------------------------------------------------------------- outputs

TOP_LEVEL = ["format", "format_version", "data", "summary", "fidelity", "privacy", "rules",
             "distributions", "notes", "timing", "versions"]
FIDELITY = ["column_shapes", "column_pair_trends", "diagnostic", "detection", "ml_efficacy",
            "ml_efficacy_by_target", "coverage"]
PRIVACY = ["exact_copies", "dcr", "membership_inference", "attribute_inference",
           "differential_privacy", "statement", "value_exposure", "personal_data"]


@needs_adult
def test_json_keys_are_stable_and_round_trip(floor):
    data = json.loads(floor.to_json())
    assert list(data) == TOP_LEVEL
    assert data["format"] == "synthvae-report" and data["format_version"] == 1
    assert list(data["summary"]) == list(SUMMARY_PATHS)
    assert list(data["fidelity"]) == FIDELITY and list(data["privacy"]) == PRIVACY
    assert set(data["privacy"]["membership_inference"]) == {
        "members", "non_members", "reference_rows", "distance", "domias"}
    assert set(data["privacy"]["membership_inference"]["distance"]) == {
        "auc", "tpr_at_1pct_fpr", "roc"}
    assert set(data["fidelity"]["column_pair_trends"]["pairs"][0]) == {
        "column_1", "column_2", "metric", "score", "real_correlation",
        "synthetic_correlation", "meets_default_threshold"}
    assert all(value is None or isinstance(value, float) for value in data["timing"].values())
    assert Report.from_json(floor.to_json()) == floor


@needs_adult
def test_html_is_self_contained(floor):
    from plotly.offline import get_plotlyjs

    page = floor.to_html()
    plotly_js = get_plotlyjs()
    assert page.count(plotly_js) == 1  # plotly's JavaScript embedded exactly once
    assert "<script src=" not in page
    outside_plotly = page.replace(plotly_js, "")
    assert "cdn.plot.ly" not in outside_plotly and "https://" not in outside_plotly
    for text in ("Column distributions", "Membership inference ROC", "Pair trend error",
                 "Only differential privacy is a guarantee"):
        assert text in page


def small_table() -> pd.DataFrame:
    return pd.DataFrame({"a": np.arange(60) * 0.5, "b": ["x", "y"] * 30})


def test_input_errors_name_the_parameter():
    real = small_table()
    with pytest.raises(DataError, match="'b'"):
        evaluate(real, real[["a"]])
    with pytest.raises(ConfigError, match="'target'"):
        evaluate(real, real, target="c")
    with pytest.raises(ConfigError, match="'sensitive_columns'"):
        evaluate(real, real, key_columns=["a"])
    with pytest.raises(ConfigError, match="'synthetic'"):
        evaluate(real, real.to_numpy())
    with pytest.raises(SchemaError, match="'zip'"):
        evaluate(real, real, schema={"columns": [{"name": "zip", "kind": "categorical"}]})


def test_evaluate_takes_a_schema_that_lists_some_columns():
    real = small_table()
    report = evaluate(real, real, schema={"columns": [{"name": "a", "kind": "categorical"}]})
    assert report.data["columns"] == [{"name": "a", "kind": "categorical"},
                                      {"name": "b", "kind": "categorical"}]


# ----------------------------------------------------------------------------- CLI


@pytest.fixture()
def cli_app():
    import typer

    from cli.report import register

    app = typer.Typer()
    app.command("noop")(lambda: None)  # a second command keeps "report" a named subcommand
    register(app)
    return app


@needs_adult
def test_cli_report_writes_html_and_json_and_finds_the_holdout(adult, cli_app, tmp_path):
    from typer.testing import CliRunner

    from synthvae import Synthesizer

    train, synthetic, holdout = (df.head(600) for df in adult)
    paths = {name: tmp_path / f"{name}.csv" for name in ("train", "synthetic")}
    train.to_csv(paths["train"], index=False)
    synthetic.to_csv(paths["synthetic"], index=False)
    model = tmp_path / "m.safetensors"
    Synthesizer(epochs=1, verbose=False).fit(train).save(model)
    holdout.to_csv(f"{model}.holdout.csv", index=False)
    result = CliRunner().invoke(cli_app, [
        "report", str(paths["train"]), str(paths["synthetic"]), "-m", str(model),
        "--target", "income", "--target", "age", "-o", str(tmp_path / "r.html"), "--json",
        str(tmp_path / "r.json"), "--key-columns", "age,sex", "--sensitive-columns", "income",
        "--quiet"])
    assert result.exit_code == 0, result.output
    assert "m.safetensors.holdout.csv" in result.output and "Column Shapes" in result.output
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["data"]["holdout_rows"] == 600
    assert data["data"]["targets"] == ["income", "age"]
    assert [m["task"] for m in data["fidelity"]["ml_efficacy_by_target"]] == [
        "classification", "regression"]
    assert data["privacy"]["differential_privacy"]["trained_with_dp"] is False
    assert data["privacy"]["attribute_inference"]["key_columns"] == ["age", "sex"]
    assert (tmp_path / "r.html").stat().st_size > 1_000_000


def test_cli_report_errors_are_one_line(cli_app, tmp_path):
    from typer.testing import CliRunner

    table = tmp_path / "t.csv"
    small_table().to_csv(table, index=False)
    for args in (["report", str(tmp_path / "missing.csv"), str(table)],
                 ["report", str(table), str(table), "--target", "nope"],
                 ["report", str(table), str(table), "-o", str(tmp_path / "no" / "r.html")]):
        result = CliRunner().invoke(cli_app, args)
        assert result.exit_code == 1, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:"), result.output


def test_cli_report_says_why_a_target_got_no_ml_efficacy(cli_app, tmp_path):
    """Without holdout rows the table left ML efficacy out and only the JSON said why."""
    from typer.testing import CliRunner

    table = tmp_path / "t.csv"
    small_table().to_csv(table, index=False)
    result = CliRunner().invoke(cli_app, ["report", str(table), str(table), "--target", "b",
                                          "-q", "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    assert "note: ML efficacy was not computed: it needs holdout rows" in result.output


def test_alpha_precision_and_beta_recall_count_tied_rows_as_typical():
    from synthvae.reports.coverage import alpha_precision_beta_recall

    rng = np.random.default_rng(0)
    # few distinct rows (a flag and a dominant category): distances to the centre tie
    real = np.repeat(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0]]), [250, 45, 5], axis=0)
    faithful = real[rng.permutation(len(real))]
    scores = alpha_precision_beta_recall(real, faithful, seed=0)
    assert scores["alpha_precision"] > 0.95 and scores["beta_recall"] > 0.95  # were 0.28
    # rows piled nearer the centre than any real row (a value no real row holds)
    central = np.tile(real.mean(axis=0), (len(real), 1))
    assert alpha_precision_beta_recall(real, central, seed=0)["alpha_precision"] < 0.1
    blurred = faithful + rng.normal(0, 1.5, faithful.shape)
    worse = alpha_precision_beta_recall(real, blurred, seed=0)
    assert worse["alpha_precision"] < scores["alpha_precision"] - 0.2
    # distinct values: the diagonal is alpha itself, and a faithful sample scores near 1
    normal = rng.normal(size=(2000, 3))
    assert alpha_precision_beta_recall(normal, rng.normal(size=(2000, 3)), seed=0)[
        "alpha_precision"] > 0.9


def test_dcr_train_share_of_copies_is_the_figure_the_report_gives():
    """A table of copies scores 0.5 + 0.5 * holdout / train, not 1 (the training side is
    sampled to the holdout's size); the JSON and the HTML give that figure."""
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"x": rng.normal(size=250).round(3), "y": rng.normal(size=250),
                          "c": rng.choice(list("abcdef"), 250)})
    train, holdout = table.iloc[:200], table.iloc[200:]
    report = evaluate(train, train, holdout=holdout)
    dcr = report.privacy["dcr"]
    assert dcr["train_share_if_copied"] == pytest.approx(0.5 + 0.5 * 50 / 200)
    assert dcr["train_share"] == pytest.approx(dcr["train_share_if_copied"], abs=0.07)
    assert "copies of training rows give about 0.625" in report.to_html()
    assert "1 = copying" not in report.to_html()
    equal = evaluate(train.iloc[:50], train.iloc[:50], holdout=holdout).privacy["dcr"]
    assert equal["train_share_if_copied"] == 1.0 and equal["train_share"] == 1.0


def test_logistic_detection_gives_the_same_score_for_the_same_seed():
    """sdmetrics shuffles LogisticDetection's folds from NumPy's global state: the same
    report gave another score on each run. Now the call is seeded (and the caller's global
    state left as it was)."""
    from synthvae.reports.detection import logistic_detection

    rng = np.random.default_rng(0)
    def table(shift):
        return pd.DataFrame({"x": rng.normal(shift, 1, 300),
                             "c": rng.choice(["a", "b", "c"], 300)})
    real, synthetic = table(0.0), table(0.3)
    metadata = {"columns": {"x": {"sdtype": "numerical"}, "c": {"sdtype": "categorical"}}}
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    scores = [logistic_detection(real, synthetic, metadata, seed=5)["score"] for _ in range(3)]
    assert scores[0] == scores[1] == scores[2]
    assert np.array_equal(np.random.get_state()[1], before)


def test_a_wide_tables_pair_trends_are_those_of_a_random_subset_of_its_columns(monkeypatch):
    # 3,000 columns' 4.5 million pairs would take a day: a wide table's pairs are sampled
    from synthvae.reports import fidelity

    rng = np.random.default_rng(0)
    base = rng.normal(size=(400, 3))
    real = pd.DataFrame({f"x{j}": base[:, j % 3] + rng.normal(0, 0.5, 400) for j in range(7)})
    real["k"] = np.where(real["x0"] > 0, "up", "down")
    # a date held as text (as a CSV is read): scored once parsed, as the report parses it
    real["day"] = (pd.Timestamp("2020-01-01") + pd.to_timedelta(
        (real["x2"] * 30).round() + 100, unit="D")).dt.strftime("%d/%m/%Y")
    synthetic = real.sample(frac=1.0, random_state=1).reset_index(drop=True)
    synthetic["x1"] = rng.permutation(synthetic["x1"].to_numpy())  # its relations broken
    synthetic["day"] = synthetic["day"].where(synthetic["x0"] > -1, "01/01/2020")
    metadata = {"columns": {**{f"x{j}": {"sdtype": "numerical"} for j in range(7)},
                            "k": {"sdtype": "categorical"},
                            "day": {"sdtype": "datetime", "datetime_format": "%d/%m/%Y"}}}
    whole = fidelity.quality(real, synthetic, metadata)
    assert whole["column_pair_trends"]["sampled_columns"] is None
    monkeypatch.setattr(fidelity, "MAX_PAIR_COLUMNS", 4)
    sampled = fidelity.quality(real, synthetic, metadata, seed=3)
    columns = sampled["column_pair_trends"]["sampled_columns"]
    assert len(columns) == 4 and columns == [c for c in real.columns if c in columns]
    assert columns == fidelity.pair_columns(metadata, 3) != fidelity.pair_columns(metadata, 4)
    pairs = {(p["column_1"], p["column_2"]): p["score"]
             for p in whole["column_pair_trends"]["pairs"]}
    assert len(sampled["column_pair_trends"]["pairs"]) == 6
    for pair in sampled["column_pair_trends"]["pairs"]:  # each scored as in the whole run
        assert pair["score"] == pytest.approx(pairs[(pair["column_1"], pair["column_2"])])
    assert sampled["column_shapes"] == whole["column_shapes"]  # every column, the same way
    day = next(c for c in whole["column_shapes"]["columns"] if c["column"] == "day")
    assert day["score"] is not None and day["score"] < 0.99
    with_x1 = next(seed for seed in range(50) if "x1" in fidelity.pair_columns(metadata, seed))
    without = next(seed for seed in range(50) if "x1" not in fidelity.pair_columns(metadata, seed))
    trends = {seed: fidelity.quality(real, synthetic, metadata, seed)["column_pair_trends"]
              for seed in (with_x1, without)}
    assert trends[with_x1]["score_all_pairs"] < trends[without]["score_all_pairs"] == 1.0


def test_a_report_says_when_its_pair_trends_are_sampled(monkeypatch, cli_app, tmp_path):
    from typer.testing import CliRunner

    from synthvae.reports import fidelity

    monkeypatch.setattr(fidelity, "MAX_PAIR_COLUMNS", 3)
    rng = np.random.default_rng(0)
    real = pd.DataFrame(rng.normal(size=(300, 5)), columns=list("abcde"))
    synthetic = real.sample(frac=1.0, random_state=0).reset_index(drop=True)
    report = evaluate(real, synthetic)
    assert len(report.fidelity["column_pair_trends"]["sampled_columns"]) == 3
    said = "Column Pair Trends are over the 3 pairs of 3 columns drawn at random"
    assert any(said in note for note in report.notes)
    assert len(report.fidelity["column_shapes"]["columns"]) == 5
    real.to_csv(tmp_path / "real.csv", index=False)
    synthetic.to_csv(tmp_path / "synthetic.csv", index=False)
    result = CliRunner().invoke(cli_app, ["report", str(tmp_path / "real.csv"),
                                          str(tmp_path / "synthetic.csv"), "-q",
                                          "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    assert f"note: {said}" in " ".join(result.output.split())

"""The fitted VAE as a toolkit: conditional sampling, latents, scores, drift, curves."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from cli.main import app
from conftest import resigned
from synthvae import Synthesizer
from synthvae.conditions import log_normal_interval, parse_where, truncated_normal
from synthvae.errors import ConfigError, DataError, ModelFileError

runner = CliRunner()
GROUPS = {"a": ("x", 0.0), "b": ("y", 10.0), "c": ("z", 20.0), "d": ("w", 30.0)}


def structured(n: int, seed: int, shares=(0.5, 0.3, 0.18, 0.02)) -> pd.DataFrame:
    """A table with strong structure: group fixes kind and the centre of value."""
    rng = np.random.default_rng(seed)
    group = rng.choice(list(GROUPS), size=n, p=shares)
    kind = [GROUPS[g][0] for g in group]
    value = np.array([GROUPS[g][1] for g in group]) + rng.normal(0, 1, n)
    return pd.DataFrame({"group": group, "kind": kind, "value": value.round(2),
                         "age": rng.integers(20, 61, n)})


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return structured(2000, seed=0)


@pytest.fixture(scope="module")
def synth(table) -> Synthesizer:
    return Synthesizer(epochs=60, batch_size=200, hidden=(64, 64), latent_dim=8,
                       verbose=False, seed=0).fit(table)


@pytest.fixture(scope="module")
def model_file(synth, tmp_path_factory):
    path = tmp_path_factory.mktemp("toolkit") / "model.safetensors"
    synth.save(path)
    return path


# ---------------------------------------------------------------------------- conditions


def test_conditional_rows_meet_a_category_and_follow_its_structure(synth):
    out = synth.sample(400, conditions={"group": "c"})
    assert len(out) == 400 and (out["group"] == "c").all()
    assert (out["kind"] == "z").mean() > 0.8  # the other columns follow the condition
    assert abs(out["value"].mean() - 20) < 3


def test_conditional_rows_meet_a_range_and_follow_its_structure(synth):
    out = synth.sample(400, conditions={"value": (5, 15)})
    assert len(out) == 400 and out["value"].between(5, 15).all()
    assert (out["group"] == "b").mean() > 0.8


def test_rare_condition_gives_all_rows_and_the_models_conditional_law(synth):
    # Group d is 2 % of the training rows: the model's own rows with group d, found by
    # rejection from a large unconditional sample, are the law the conditional rows follow.
    out = synth.sample(600, conditions={"group": "d"})
    assert len(out) == 600 and (out["group"] == "d").all()
    reference = synth.sample(60_000, seed=11)
    reference = reference[reference["group"] == "d"]
    assert len(reference) > 150
    shares = out["kind"].value_counts(normalize=True)
    expected = reference["kind"].value_counts(normalize=True)
    total_variation = 0.5 * shares.sub(expected, fill_value=0).abs().sum()
    assert total_variation < 0.1
    assert abs(out["value"].mean() - reference["value"].mean()) < 1.5


def test_conditions_combine_and_integer_ranges_are_inclusive(synth, table):
    out = synth.sample(300, conditions={"group": ["a", "b"], "age": (30, 32)})
    assert out["group"].isin(["a", "b"]).all()
    assert out["age"].between(30, 32).all() and set(out["age"]) == {30, 31, 32}
    assert out.dtypes.equals(table.dtypes)


def test_open_ended_range(synth):
    out = synth.sample(200, conditions={"value": (None, 3)})
    assert (out["value"] <= 3).all()


def test_same_seed_same_conditional_rows(synth):
    first = synth.sample(150, seed=4, conditions={"group": "b"})
    again = synth.sample(150, seed=4, conditions={"group": "b"})
    other = synth.sample(150, seed=5, conditions={"group": "b"})
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(other)


@pytest.mark.parametrize("conditions, message", [
    ({"nope": "a"}, "no such column"),
    ({"group": "q"}, "never holds 'q'"),
    ({"value": (20, 10)}, "above its high end"),
    ({"value": (500, 600)}, "no training value lies"),
    ({"value": "big"}, "not one"),
    ({"group": None}, "no empty cells"),
    ({}, "non-empty dict"),
])
def test_bad_conditions_name_the_column_and_the_problem(synth, conditions, message):
    with pytest.raises(ConfigError, match=message):
        synth.sample(10, conditions=conditions)


def test_parse_where_reads_values_ranges_and_empty_cells():
    assert parse_where(["sex=Female", "age=30..40", "hours=..20", "gain=5..", "work="]) == {
        "sex": "Female", "age": ("30", "40"), "hours": (None, "20"), "gain": ("5", None),
        "work": None}
    with pytest.raises(ConfigError, match="COLUMN=VALUE"):
        parse_where(["age"])


def test_truncated_normal_stays_in_its_interval_far_in_the_tails():
    import torch

    generator = torch.Generator().manual_seed(0)
    mean, sd = torch.zeros(1000), torch.full((1000,), 0.05)
    lo, hi = torch.full((1000,), 0.6), torch.full((1000,), 0.7)  # 12 sd above the mean
    x = truncated_normal(mean, sd, lo, hi, generator)
    assert bool(((x >= 0.6) & (x <= 0.7)).all())
    mass = log_normal_interval(torch.tensor([12.0, -1.0]), torch.tensor([14.0, 1.0]))
    assert torch.isfinite(mass).all() and abs(float(mass[1].exp()) - 0.6827) < 1e-3


def test_cli_where_writes_only_matching_rows(model_file, tmp_path):
    out = tmp_path / "cond.csv"
    result = runner.invoke(app, ["sample", "-n", "120", "-m", str(model_file), "-o", str(out),
                                 "--where", "group=c", "--where", "age=40..45", "-q"])
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(out)
    assert len(rows) == 120 and (rows["group"] == "c").all() and rows["age"].between(40, 45).all()


def test_cli_bad_where_is_one_line_and_writes_nothing(model_file, tmp_path):
    out = tmp_path / "cond.csv"
    result = runner.invoke(app, ["sample", "-n", "10", "-m", str(model_file), "-o", str(out),
                                 "--where", "group=zzz"])
    assert result.exit_code == 1
    assert "never holds 'zzz'" in result.output and "Traceback" not in result.output
    assert not out.exists()


# ---------------------------------------------------------------------------- latents


def test_encode_decode_round_trip_keeps_the_structure(synth, table):
    latents = synth.encode(table.head(300))
    assert latents.shape == (300, 8)
    decoded = synth.decode(latents)
    assert list(decoded.columns) == list(table.columns)
    assert (decoded["group"] == table["group"].head(300)).mean() > 0.9


def test_interpolation_runs_from_one_row_to_the_other(synth, table):
    a = table[table.group == "a"].iloc[[0]]
    c = table[table.group == "c"].iloc[[0]]
    path = synth.interpolate(a, c, steps=6)
    assert list(path["t"]) == pytest.approx(np.linspace(0, 1, 6))
    assert path["group"].iloc[0] == "a" and path["group"].iloc[-1] == "c"
    assert path["value"].iloc[0] < path["value"].iloc[-1]


def test_decode_refuses_latents_of_the_wrong_width(synth):
    with pytest.raises(ConfigError, match=r"\(rows, 8\)"):
        synth.decode(np.zeros((2, 3)))
    with pytest.raises(ConfigError, match=r"\(rows, 8\), numbers. Got a str that is none"):
        synth.decode("abc")
    import torch

    assert len(synth.decode(torch.zeros(2, 8))) == 2  # a tensor, on any device


def test_interpolation_of_a_table_with_a_column_named_t():
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"t": rng.normal(size=300), "x": rng.normal(size=300)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = Synthesizer(epochs=1, verbose=False).fit(table)
    path = fitted.interpolate(table.iloc[[0]], table.iloc[[1]], steps=3)
    assert list(path.columns) == ["_t", "t", "x"]
    assert list(path["_t"]) == pytest.approx([0.0, 0.5, 1.0])


def test_decode_refuses_non_finite_latents(synth):
    latents = np.zeros((3, 8))
    latents[2, 5] = np.nan
    with pytest.raises(ConfigError, match="finite latents. Got NaN or infinity in row 2"):
        synth.decode(latents)


def test_rows_of_none_are_refused_as_such_not_as_a_fit(synth, table):
    with pytest.raises(DataError, match="score and drift: the table has no rows to read"):
        synth.score(table.head(0))


def test_interpolate_names_itself_when_given_a_series_for_a_row(synth, table):
    with pytest.raises(DataError, match=r"interpolate takes one-row DataFrames.*'start'"):
        synth.interpolate(table.iloc[0], table.iloc[[1]])
    with pytest.raises(DataError, match=r"one-row DataFrames.*Got a dict as 'end'"):
        synth.interpolate(table.iloc[[0]], table.iloc[1].to_dict())


# ---------------------------------------------------------------------------- scores


def test_rows_from_a_different_table_score_lower(synth):
    real = structured(500, seed=1)
    rng = np.random.default_rng(2)
    # Same columns, another law: each group has another group's kind and value centre.
    rotate = {"a": "b", "b": "c", "c": "a", "d": "a"}
    other = structured(500, seed=2)
    other["group"] = other["group"].map(rotate)
    other["age"] = rng.integers(20, 61, len(other))
    auc = _auc(synth.score(real)["log_likelihood"], synth.score(other)["log_likelihood"])
    assert auc >= 0.9


def test_corrupted_rows_score_lower(synth):
    real = structured(500, seed=3)
    corrupted = real.copy()
    shifted = {"a": "y", "b": "z", "c": "x", "d": "x"}
    corrupted["kind"] = corrupted["group"].map(shifted)  # one cell contradicts the others
    scores = synth.score(real)
    auc = _auc(scores["elbo"], synth.score(corrupted)["elbo"])
    assert auc >= 0.9


def test_iwae_bound_is_at_least_the_elbo_and_scores_keep_the_index(synth, table):
    rows = table.iloc[10:60]
    scores = synth.score(rows, samples=16)
    assert list(scores.index) == list(rows.index)
    assert (scores["log_likelihood"] >= scores["elbo"] - 1e-4).all()


def test_unseen_category_without_other_slot_has_zero_probability(synth, table):
    rows = table.head(3).copy()
    rows.loc[0, "kind"] = "never-seen"
    with pytest.warns(UserWarning, match="unseen"):
        scores = synth.score(rows)
    assert scores["log_likelihood"].iloc[0] == -np.inf
    assert np.isfinite(scores["log_likelihood"].iloc[1:]).all()


def test_cli_score_writes_a_row_per_input_row(model_file, table, tmp_path):
    data, out = tmp_path / "rows.csv", tmp_path / "scores.csv"
    table.head(40).to_csv(data, index=False)
    result = runner.invoke(app, ["score", str(data), "-m", str(model_file), "-o", str(out),
                                 "--samples", "4"])
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out)
    assert list(scores.columns) == ["elbo", "log_likelihood"] and len(scores) == 40


def test_cli_encode_and_interpolate(model_file, table, tmp_path):
    data = tmp_path / "rows.csv"
    table.head(20).to_csv(data, index=False)
    result = runner.invoke(app, ["encode", str(data), "-m", str(model_file),
                                 "-o", str(tmp_path / "z.csv")])
    assert result.exit_code == 0, result.output
    assert pd.read_csv(tmp_path / "z.csv").shape == (20, 8)
    result = runner.invoke(app, ["interpolate", str(data), "--from", "0", "--to", "5",
                                 "--steps", "4", "-m", str(model_file),
                                 "-o", str(tmp_path / "path.csv")])
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(tmp_path / "path.csv")) == 4
    result = runner.invoke(app, ["interpolate", str(data), "--from", "0", "--to", "99",
                                 "-m", str(model_file)])
    assert result.exit_code == 1 and "--to must be a row number from 0 to 19" in result.output


# ---------------------------------------------------------------------------- drift


def test_fresh_rows_of_the_same_law_do_not_drift(synth):
    report = synth.drift(structured(1500, seed=7))
    assert report["drift"] is False
    assert report["tests"] == 8 + 1


def test_shifted_rows_drift(synth):
    shifted = structured(1500, seed=8, shares=(0.1, 0.2, 0.5, 0.2))  # other group mix
    report = synth.drift(shifted)
    assert report["drift"] is True
    assert report["latent"]["drifted_dimensions"] > 0


def test_ks_statistic_counts_a_shared_value_once_on_both_sides():
    from synthvae.monitoring import LEVELS, QUANTILE_SLACK, ks_against_quantiles

    rng = np.random.default_rng(0)
    reference = (rng.random(5000) < 0.3).astype(float)  # an atom at 0 (70 %) and at 1
    quantiles = np.quantile(reference, LEVELS)[None]
    same = (rng.random((400, 1)) < 0.3).astype(float)
    shifted = (rng.random((400, 1)) < 0.6).astype(float)
    assert ks_against_quantiles(same, quantiles)[0] < 0.05  # was ~0.6: a false alarm
    assert ks_against_quantiles(shifted, quantiles)[0] == pytest.approx(
        abs(0.7 - (shifted == 0).mean()) - QUANTILE_SLACK, abs=0.011)
    # distinct values: the usual statistic
    normal = rng.normal(size=(3000, 1))
    assert ks_against_quantiles(normal, np.quantile(rng.normal(size=20000), LEVELS)[None]
                                )[0] < 0.03


def test_a_flags_only_table_does_not_drift_from_its_own_law():
    def flags(seed, rows):
        rng = np.random.default_rng(seed)
        return pd.DataFrame({"b": rng.random(rows) < 0.5, "c": rng.random(rows) < 0.1})

    synth = Synthesizer(epochs=3, verbose=False, seed=0).fit(flags(3, 300))
    assert not any(synth.drift(flags(100 + i, 200))["drift"] for i in range(5))
    assert synth.drift(flags(9, 200).assign(b=True))["drift"]


def test_values_of_probability_zero_score_minus_infinity_with_a_warning(synth, table):
    from synthvae import ZeroProbabilityWarning

    assert synth.transformer_.transformers_[3].discrete  # 'age' is modelled value by value
    rows = table.head(40).reset_index(drop=True)
    broken = rows.assign(age=np.where(rows.index < 10, 200, rows["age"]))
    broken.loc[30:, "value"] = np.nan  # 'value' had no empty cell at fit
    broken.loc[20:21, "group"] = None  # nor the category 'group' (a DataError for the call)
    with pytest.warns(ZeroProbabilityWarning) as caught:
        scores = synth.score(broken, samples=4, seed=0)
    messages = " ".join(str(w.message) for w in caught)
    assert "Column 'age' holds 10 value(s)" in messages and "200" in messages
    assert "Column 'value' holds 10 value(s)" in messages and "empty cell" in messages
    assert "Column 'group' holds 2 value(s)" in messages
    impossible = (broken.index < 10) | (broken.index >= 30) | broken.index.isin([20, 21])
    assert np.isneginf(scores.loc[impossible, "elbo"]).all()
    assert np.isneginf(scores.loc[impossible, "log_likelihood"]).all()
    assert np.isfinite(scores.loc[~impossible].to_numpy()).all()
    clean = synth.score(rows, samples=4, seed=0)  # the other rows score as without them
    assert np.allclose(scores.loc[~impossible, "elbo"], clean.loc[~impossible, "elbo"])


def test_a_zero_probability_warning_names_the_users_column_and_value():
    from synthvae import FixedIncrements, ZeroProbabilityWarning

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"p": rng.integers(1, 20, 400) * 5, "x": rng.normal(size=400)})
    synth = Synthesizer(epochs=2, verbose=False, seed=0,
                        constraints=[FixedIncrements("p", 5)]).fit(df)
    with pytest.warns(ZeroProbabilityWarning, match=r"Column 'p' holds 1 value.*row 1: "
                                                    r"5000, "):  # not np.int64(5000)
        synth.score(df.head(3).assign(p=[5, 5000, 10]))


def test_a_batch_of_impossible_values_drifts(synth):
    with pytest.warns(Warning, match="'age' holds 1500 value"):
        report = synth.drift(structured(1500, seed=7).assign(age=200))
    assert report["drift"] is True and report["elbo"]["zero_probability_rows"] == 1500
    assert report["elbo"]["median"] is None  # JSON has no -inf: drift --json stays valid
    with pytest.warns(Warning, match="'group' holds 1500 value"):
        assert synth.drift(structured(1500, seed=7).assign(group=None))["drift"] is True
    json.loads(json.dumps(report), parse_constant=lambda name: pytest.fail(name))


def test_reference_rows_of_probability_zero_keep_the_elbo_test_working(synth):
    """One impossible row in the reference made its ELBO quantiles -inf and NaN: the test's
    statistic was NaN, it never fired, and `drift --json` printed bare NaN."""
    reference = structured(1500, seed=8)
    reference.loc[0, "age"] = 200  # no training row is 200: probability zero
    with pytest.warns(Warning, match="'age' holds 1 value"):
        same = synth.drift(structured(1500, seed=9), reference=reference)
        moved = synth.drift(structured(1500, seed=9).assign(age=200), reference=reference)
    for report in (same, moved):
        json.loads(json.dumps(report), parse_constant=lambda name: pytest.fail(name))
    assert same["elbo"]["drift"] is False and moved["elbo"]["drift"] is True


def test_another_value_in_a_constant_column_has_probability_zero():
    from synthvae import ZeroProbabilityWarning

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"colour": ["yellow"] * 300, "x": rng.normal(size=300)})
    synth = Synthesizer(epochs=2, verbose=False, seed=0).fit(df)
    with pytest.warns(ZeroProbabilityWarning, match="other than the column's constant"):
        scores = synth.score(df.head(4).assign(colour=["yellow", "green", "yellow", "x"]))
    assert list(np.isneginf(scores["elbo"])) == [False, True, False, True]


def test_drift_profile_is_saved_and_validated(synth, model_file, tmp_path):
    loaded = Synthesizer.load(model_file)
    assert loaded.monitoring_ == json.loads(json.dumps(synth.monitoring_))
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(model_file), framework="pt") as handle:
        metadata = handle.metadata()
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    state = json.loads(metadata["state"])
    state["monitoring"]["latent_quantiles"] = [[0.0]]
    tampered = tmp_path / "tampered.safetensors"
    save_file(tensors, str(tampered),
              metadata=resigned(dict(metadata, state=json.dumps(state)), tensors))
    with pytest.raises(ModelFileError, match="drift reference"):
        Synthesizer.load(tampered)


def test_cli_drift_exit_codes_and_json(model_file, tmp_path):
    same, shifted = tmp_path / "same.csv", tmp_path / "shifted.csv"
    structured(1500, seed=9).to_csv(same, index=False)
    structured(1500, seed=10, shares=(0.1, 0.2, 0.5, 0.2)).to_csv(shifted, index=False)
    result = runner.invoke(app, ["drift", str(model_file), str(same)])
    assert result.exit_code == 0 and "no drift" in result.output
    result = runner.invoke(app, ["drift", str(model_file), str(shifted), "--json"])
    assert result.exit_code == 3
    assert json.loads(result.output)["drift"] is True


def test_dp_model_keeps_no_profile_and_needs_reference_rows(table):
    dp = Synthesizer(epochs=2, epsilon=5.0, verbose=False, hidden=(32,), latent_dim=4,
                     schema={"columns": [
                         {"name": "group", "kind": "categorical", "categories": list(GROUPS)},
                         {"name": "kind", "kind": "categorical",
                          "categories": [v[0] for v in GROUPS.values()]},
                         {"name": "value", "kind": "continuous", "min": -5, "max": 35,
                          "dtype": "float64"},
                         {"name": "age", "kind": "continuous", "min": 20, "max": 60,
                          "integer": True, "dtype": "int64"}]}).fit(table)
    assert dp.monitoring_ is None
    with pytest.raises(ConfigError, match="pass reference rows"):
        dp.drift(table)
    assert dp.drift(table.head(500), reference=table.tail(500))["drift"] in (True, False)


def test_score_and_drift_refuse_non_frames(synth):
    with pytest.raises(DataError, match="takes a pandas DataFrame"):
        synth.score([1, 2, 3])


# ---------------------------------------------------------------------------- curves


@pytest.mark.parametrize("suffix", [".html", ".png"])
def test_info_plots_the_training_curves(model_file, tmp_path, suffix):
    out = tmp_path / f"curves{suffix}"
    result = runner.invoke(app, ["info", str(model_file), "--plot", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 1000
    if suffix == ".png":
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert "held-out objective" in out.read_text()


def test_drawing_the_curves_keeps_the_callers_matplotlib_backend(tmp_path):
    import matplotlib

    from synthvae.plots import plot_training_curves

    previous = matplotlib.get_backend()
    matplotlib.use("svg")  # a notebook's or a script's own backend
    try:
        history = [{"epoch": e, "loss": 3.0 - e, "kl": 0.5, "val_loss": 3.1 - e} for e in range(3)]
        out = plot_training_curves(history, tmp_path / "curves.png")
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert matplotlib.get_backend() == "svg"  # was switched to Agg for the process
    finally:
        matplotlib.use(previous)


def test_info_plot_refuses_an_unknown_format(model_file, tmp_path):
    result = runner.invoke(app, ["info", str(model_file), "--plot", str(tmp_path / "c.gif")])
    assert result.exit_code == 1 and ".html, .png, .svg or .pdf" in result.output


def _auc(normal_scores, unusual_scores) -> float:
    labels = np.r_[np.zeros(len(normal_scores)), np.ones(len(unusual_scores))]
    return roc_auc_score(labels, -np.r_[np.asarray(normal_scores), np.asarray(unusual_scores)])


def test_datetime_range_condition_from_text(taxis):
    synth = Synthesizer(epochs=3, verbose=False, hidden=(32,), latent_dim=4).fit(taxis)
    out = synth.sample(60, conditions={"pickup": ("2019-03-05", "2019-03-09 12:00")})
    stamps = pd.to_datetime(out["pickup"])
    assert len(out) == 60 and out["pickup"].dtype == taxis["pickup"].dtype
    assert ((stamps >= "2019-03-05") & (stamps <= "2019-03-09 12:00")).all()
    with pytest.raises(ConfigError, match="'pickup' holds a datetime"):
        synth.sample(5, conditions={"pickup": "yesterday-ish"})

"""The benchmark harness's quick mode runs end to end (issue 4: CI runs it)."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import DATASETS, ROOT


@pytest.mark.skipif(not DATASETS.exists(), reason="shared datasets not available")
def test_quick_benchmark_runs_both_models_side_by_side(tmp_path):
    pytest.importorskip("ctgan", reason="install the 'bench' extra to run the harness")
    env = dict(os.environ, SYNTHVAE_BENCH_RESULTS=str(tmp_path))
    subprocess.run([sys.executable, "-m", "benchmarks.run", "--quick", "--max-wait", "0"],
                   cwd=ROOT, env=env, check=True, capture_output=True, timeout=600)
    results = json.loads((tmp_path / "run-quick.json").read_text())
    text = json.dumps(results)
    assert "synthvae" in text and "ctgan" in text
    assert (tmp_path / "run-quick.md").read_text().count("|") > 20


def test_ablation_summary_averages_the_seeds_of_each_variant():
    from benchmarks.ablation import summary

    run = {"dataset": "adult", "variant": "linear", "fit_s": 100.0, "load_at_start": 1.0,
           "active_units": 40}
    table = summary([{"machine": {}},
                     dict(run, seed=0, shapes_error=0.02, trends_error=0.06),
                     dict(run, seed=1, shapes_error=0.03, trends_error=0.08, active_units=50)])
    row = table.splitlines()[-1]
    assert row.startswith("| adult | linear | 2 | 2.50 % | 7.00 % | - % | 2.00/6.00/-, 3.00/8.00/- | "
                          "- | - | - / - | 45 | 100 | 1.0 |")


def test_ablation_summary_reports_real_bins_and_privacy_columns():
    from benchmarks.ablation import summary

    run = {"dataset": "shoppers", "variant": "default", "fit_s": 50.0, "load_at_start": 2.0,
           "trends_real_bins_error": 0.04, "exact_copies": 3}
    table = summary([dict(run, seed=0, shapes_error=0.03, trends_error=0.05, dcr_train_share=0.50),
                     dict(run, seed=1, shapes_error=0.03, trends_error=0.05, dcr_train_share=0.52,
                          exact_copies=5)])
    header, row = table.splitlines()[0], table.splitlines()[-1]
    assert "DCR train share" in header and "exact copies" in header
    assert "| 4.00 % |" in row and "| 0.510 | 4.0 |" in row


def test_ablation_summary_averages_ml_efficacy_beside_the_real_score():
    from benchmarks.ablation import summary

    run = {"dataset": "magic", "variant": "beta0.5", "fit_s": 50.0, "load_at_start": 2.0,
           "shapes_error": 0.01, "trends_error": 0.04, "ml_real": 0.938}
    table = summary([dict(run, seed=0, ml_synthetic=0.89), dict(run, seed=1, ml_synthetic=0.90)])
    assert "ML efficacy synthetic / real" in table.splitlines()[0]
    assert "| 0.895 / 0.938 |" in table.splitlines()[-1]


@pytest.mark.skipif(not DATASETS.exists(), reason="shared datasets not available")
def test_ml_efficacy_scores_drop_when_the_target_is_shuffled():
    import numpy as np

    from benchmarks.common import ml_efficacy_scores
    from benchmarks.data import load_dataset
    from synthvae import detect_schema

    data = load_dataset("adult-quick")
    schema = detect_schema(data.train)
    copied = ml_efficacy_scores(data, data.train, schema, seed=0)
    shuffled = data.train.assign(income=np.random.default_rng(0).permutation(
        data.train["income"].to_numpy()))
    broken = ml_efficacy_scores(data, shuffled, schema, seed=0)
    assert copied["metric"] == "roc_auc" and copied["synthetic"] == copied["real"] > 0.85
    assert broken["synthetic"] < 0.6


def test_ablation_epochs_scale_multiplies_the_automatic_epochs():
    from benchmarks.ablation import synthesizer_params
    from synthvae.synthesizer import auto_epochs

    assert synthesizer_params("steps2x", 30_000) == {"epochs": 2 * auto_epochs(30_000, 500, 0.1)}
    assert synthesizer_params("hidden256", 30_000) == {"hidden": [256, 256]}


def test_gpu_script_dry_run_measures_every_step_on_the_cpu(tmp_path):
    # benchmarks/gpu.sh is the one prepared script a lent GPU runs; its dry run takes the
    # same steps, tiny, on the CPU, so the script is known to work before a device is lent.
    pytest.importorskip("ctgan", reason="install the 'bench' extra to run the GPU script")
    env = dict(os.environ, PYTHON=sys.executable)
    subprocess.run(["bash", "benchmarks/gpu.sh", "--dry-run", "--out", str(tmp_path)],
                   cwd=ROOT, env=env, check=True, capture_output=True, timeout=240)
    result = json.loads((tmp_path / "gpu.json").read_text())
    assert result["dry_run"] is True
    steps = result["steps"]
    for name in ("adult_fit", "sample_parquet", "sample_dataframe", "dp_fit_eps3",
                 "ctgan_tvae_fit", "ctgan_tvae_sample_dataframe"):
        assert "error" not in steps[name], steps[name]
        assert steps[name]["seconds"] >= 0, name
    assert steps["sample_parquet"]["rows"] == 10_000
    assert 0 < steps["dp_fit_eps3"]["epsilon_spent"] <= 3.0
    assert steps["ctgan_over_synthvae_fit"] > 0
    ctgan = steps["ctgan_tvae_fit"]  # 1 epoch timed, scaled to ctgan's default 300
    assert ctgan["seconds"] == pytest.approx(300 * ctgan["measured_seconds"], abs=0.02)
    assert steps["sample_dataframe"]["rows"] == steps["ctgan_tvae_sample_dataframe"]["rows"]
    assert "dry run on the CPU" in (tmp_path / "gpu.md").read_text()


def test_structure_markdown_gives_the_median_violation_shares_over_seeds():
    import pandas as pd

    from benchmarks.structure import markdown
    from synthvae import detect_schema
    from synthvae.reports.encoding import canonical_frame
    from synthvae.reports.rules import rules_section

    real = pd.DataFrame({"grade": list("ABCD") * 50, "rate": [1, 2, 3, 4] * 50})
    schema = detect_schema(real)
    runs = []
    for seed, broken in ((0, 10), (1, 20), (2, 30)):  # 5 %, 10 %, 15 % of rows break it
        synthetic = real.copy()
        synthetic.loc[: broken - 1, "rate"] = 9
        rules = rules_section(canonical_frame(real, schema), canonical_frame(synthetic, schema),
                              schema)
        runs.append({"dataset": "toy", "seed": seed, "real_rows": 200, "synthetic_rows": 200,
                     "fit_s": 1.0, "rules": rules})
    text = markdown(runs, {"name": "t", "command": "c", "machine": "m", "seeds": "0,1,2"})
    row = next(line for line in text.splitlines() if line.startswith("| toy"))
    assert "| 2 | 10.00% | 10.00% |" in row  # grade -> rate and rate -> grade; median seed
    assert "`grade` → `rate`" in text


def test_constraints_benchmark_counts_rows_holding_a_pair_no_real_row_holds():
    import pandas as pd

    from benchmarks.constraints import unseen_combinations

    real = pd.DataFrame({"relationship": ["Husband", "Wife"], "sex": ["Male", "Female"],
                         "education": ["HS", "BA"], "education-num": [9, 13]})
    synthetic = pd.DataFrame({"relationship": ["Husband", "Husband", "Wife"],
                              "sex": ["Female", "Male", "Female"],
                              "education": ["HS", "HS", "BA"], "education-num": [9, 13, 9]})
    assert unseen_combinations(real, synthetic) == {
        "relationship & sex": 1, "education & education-num": 2, "any": 3}


@pytest.mark.skipif(not DATASETS.exists(), reason="shared datasets not available")
def test_structure_harness_puts_decoders_and_the_copula_side_by_side_on_a_small_table():
    pytest.importorskip("sdv", reason="install the 'bench' extra to run the copula")
    from benchmarks.data import load_dataset
    from benchmarks.structure import table_run

    small = load_dataset("titanic@120")
    assert len(small.train) == 120 and len(small.test) == len(load_dataset("titanic").test)
    runs = {model: table_run("titanic@120", 0, model)
            for model in ("copula", "synthvae:factorized")}
    for model, run in runs.items():
        assert run["model"] == model and run["synthetic_rows"] == 120
        assert run["ml_efficacy"]["metric"] == "roc_auc"
        assert 0 <= run["rules"]["totals"]["functional_dependency_violation_share"] <= 1


def test_strong_pair_trends_average_only_pairs_over_sdmetrics_default_thresholds():
    import pandas as pd

    from benchmarks.common import mean_of_strong_pairs

    details = pd.DataFrame({"Score": [0.9, 0.5, 0.7, 0.1],
                            "Meets Threshold?": [True, False, True, False]})
    assert mean_of_strong_pairs(details) == pytest.approx(0.8)
    assert mean_of_strong_pairs(details.iloc[[1, 3]]) is None
    # sdmetrics leaves the flag empty (pd.NA) for a pair it could not score
    unscored = details.assign(**{"Meets Threshold?": pd.array([True, None, True, False],
                                                              dtype="boolean")})
    assert mean_of_strong_pairs(unscored) == pytest.approx(0.8)


def test_strong_pairs_of_adult_include_relationship_and_sex():
    import pandas as pd

    from benchmarks.common import strong_pair_trends
    from synthvae import detect_schema

    real = pd.read_csv(ROOT / "examples" / "adult.csv.gz").head(2000)
    metadata = detect_schema(real).to_sdmetrics_metadata()
    broken = real.assign(sex=real["sex"].sample(frac=1, random_state=0).to_numpy())
    assert strong_pair_trends(real, real, metadata) == pytest.approx(1.0)
    assert strong_pair_trends(real, broken, metadata) < 0.99


def test_gpu_step_that_fails_is_recorded_and_saved_so_the_others_still_run():
    # A lent device's minutes are few: one broken step must not lose the figures of the rest.
    from benchmarks.gpu import ratio, step

    results, saves = {}, []

    def broken():
        raise RuntimeError("CUDA error: out of memory")

    step("fit", lambda: {"epochs_run": 3}, "cpu", results, lambda: saves.append(dict(results)))
    step("sample", broken, "cpu", results, lambda: saves.append(dict(results)))
    assert results["fit"]["epochs_run"] == 3
    assert results["sample"]["error"] == "RuntimeError: CUDA error: out of memory"
    assert [sorted(s) for s in saves] == [["fit"], ["fit", "sample"]]
    assert ratio(results, "sample", "fit") is None


def test_model_spec_sets_synthesizer_parameters_and_names_the_variant():
    from benchmarks.models import make_model, parse_model_spec, split_model_specs

    assert parse_model_spec("synthvae:factorized[min_lift=0,latent_swap=0.5,prior=normal]") == (
        "synthvae:factorized", {"min_lift": 0, "latent_swap": 0.5, "prior": "normal"})
    assert parse_model_spec("synthvae") == ("synthvae", {})
    assert split_model_specs("synthvae,synthvae[min_lift=0,latent_swap=0],ctgan") == [
        "synthvae", "synthvae[min_lift=0,latent_swap=0]", "ctgan"]
    model = make_model("synthvae[min_lift=0,latent_swap=0]", None, 0, None)
    assert model.name == "synthvae[min_lift=0,latent_swap=0]"
    assert model.params == {"min_lift": 0, "latent_swap": 0}


@pytest.mark.parametrize("spec, says", [
    ("synthvae[min_lfit=0]", "'min_lfit' is not a parameter of Synthesizer"),
    ("synthvae[seed=3]", "'seed' is set by the harness"),
    ("synthvae[min_lift]", "expected param=value; found 'min_lift'"),
    ("ctgan[epochs=10]", "only synthvae takes [param=value]"),
])
def test_model_spec_with_an_unknown_or_malformed_setting_is_refused_by_name(spec, says):
    from benchmarks.models import make_model
    from synthvae.errors import ConfigError

    with pytest.raises(ConfigError, match=re.escape(says)):
        make_model(spec, None, 0, None)


@pytest.mark.skipif(not DATASETS.exists(), reason="shared datasets not available")
def test_structure_harness_fits_a_variant_with_its_settings_and_records_them():
    from benchmarks.data import load_dataset
    from benchmarks.models import make_model
    from benchmarks.structure import table_run
    from synthvae import detect_schema

    spec = "synthvae[min_lift=0,latent_swap=0,epochs=3]"
    train = load_dataset("titanic@120").train
    model = make_model(spec, detect_schema(train), 0, None)
    assert model.fit(train)["epochs"] == 3
    assert {k: model.synth.get_params()[k] for k in ("min_lift", "latent_swap")} == {
        "min_lift": 0, "latent_swap": 0}
    run = table_run("titanic@120", 0, spec)
    assert run["model"] == spec and run["params"] == {"min_lift": 0, "latent_swap": 0,
                                                      "epochs": 3}
    assert run["epochs"] == 3
    assert set(run["column_shapes"]) == set(train.columns)
    assert all(0 <= score <= 1 for score in run["column_shapes"].values())


def test_structure_markdown_puts_variants_side_by_side_with_the_gap_to_real():
    from benchmarks.structure import markdown

    totals = {"functional_dependencies": 1, "zero_support_pairs": 1, "inequalities": 0,
              "functional_dependency_violation_share": 0.01,
              "max_functional_dependency_violation_share": 0.01, "zero_support_share": 0.02,
              "inequality_violation_share": None}
    rules = {"totals": totals, "functional_dependencies": [], "zero_support_pairs": [],
             "inequalities": []}

    def run(model, seed, synthetic, shapes):
        return {"dataset": "toy", "model": model, "seed": seed, "real_rows": 10,
                "synthetic_rows": 10, "fit_s": 2.0, "rules": rules,
                "ml_efficacy": {"metric": "roc_auc", "synthetic": synthetic, "real": 0.9},
                "quality": {"column_shapes": shapes, "column_pair_trends": 0.9,
                            "column_pair_trends_strong": None}}

    runs = [run("synthvae", 0, 0.80, 0.97), run("synthvae", 1, 0.84, 0.99),
            run("synthvae[min_lift=0]", 0, 0.70, 0.95)]
    text = markdown(runs, {"name": "t", "command": "c", "machine": "m", "seeds": "0,1"})
    side = text.split("### Models side by side")[1]
    assert "| synthvae | 0,1 | 0.820 | 0.080 | 1.00% | 2.00% | – | 0.980 | 0.900 | – | 2 |" in side
    assert "| synthvae[min_lift=0] | 0 | 0.700 | 0.200 |" in side


def test_the_day_split_holds_whole_days_out_and_keeps_every_row():
    from benchmarks.ceiling import day_split
    from benchmarks.data import Dataset

    hours = pd.date_range("2012-01-01", periods=24 * 40, freq="h")
    rows = pd.DataFrame({"year": hours.year, "month": hours.month, "day": hours.day,
                         "hour": hours.hour, "pm2.5": np.arange(len(hours), dtype=float)})
    data = Dataset("series", rows.iloc[:800], rows.iloc[800:], "pm2.5", "regression")
    split = day_split(data)
    day = lambda df: set(zip(df["year"], df["month"], df["day"]))  # noqa: E731
    assert not day(split.train) & day(split.test)  # no test day has a training hour
    assert len(day(split.test)) == 4  # a tenth of the 40 days
    assert sorted(pd.concat([split.train, split.test])["pm2.5"]) == list(rows["pm2.5"])


def test_wide_step_benchmark_times_both_reductions_on_the_same_loss():
    import torch

    from benchmarks.wide_step import measure, reference_group_max, reference_nll
    from synthvae.layout import SpanLayout
    from synthvae.losses import reconstruction_nll
    from synthvae.transforms.spans import Span, SpanKind

    # the side by side compares equal computations: the reference gives the same loss
    layout = SpanLayout.from_spans([Span("a", SpanKind.SCALAR, 1, "value")] + [
        Span(f"c{i}", SpanKind.SOFTMAX, 2 + i % 5, "mode") for i in range(40)])
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(6, layout.width, generator=generator) * 5
    x = (torch.rand(6, layout.width, generator=generator) < 0.3).float()
    sigma = torch.full((1,), 0.3)
    assert torch.allclose(reference_nll(logits, x, sigma, layout),
                          reconstruction_nll(logits, x, sigma, layout), rtol=1e-5)
    assert torch.equal(reference_group_max(layout, logits[:, layout.slot_index]),
                       layout.group_max(logits[:, layout.slot_index]))
    run = measure(rows=300, columns=30, rounds=1)
    assert run["step_s"]["current"] > 0 and run["step_s"]["reference"] > 0
    assert 0 < run["matmul_share"] < 1 and run["spans"] >= 30


def test_probe_drawer_gives_the_default_drawers_rows_and_draws_a_deeper_term(adult_small):
    """benchmarks.decoder_probes' naive drawer (one masked pass per column) must give the
    default drawer's rows on the default model, or its deep variant's figures mean nothing."""
    from benchmarks.common import patched
    from benchmarks.decoder_probes import deep_decoder, naive_drawer_class
    import synthvae.sampling as sampling
    from synthvae import Synthesizer

    df = adult_small.head(400)
    synth = Synthesizer(epochs=3, verbose=False, seed=0).fit(df)
    default = synth.sample(500, seed=1)
    with patched(sampling, "ColumnDrawer", naive_drawer_class()):
        naive = synth.sample(500, seed=1)
    categorical = [c for c in df.columns if df[c].dtype == object]
    pd.testing.assert_frame_equal(naive[categorical], default[categorical])
    numeric = [c for c in df.columns if c not in categorical]
    assert (naive[numeric] - default[numeric]).abs().max().max() <= 1  # float32 sum order
    with deep_decoder():
        deep = Synthesizer(epochs=2, verbose=False, seed=0).fit(df)
        rows = deep.sample(200, seed=1)
    assert hasattr(deep.generator_.model.decoder.autoregression, "mid")
    assert list(rows.columns) == list(df.columns) and len(rows) == 200


def test_tail_levels_probe_cuts_nested_tails_and_fits_inside_its_block_only():
    from benchmarks.tail_levels import nested_tails
    from synthvae.schema import detect_schema
    from synthvae.transforms.continuous import tail_intervals
    from synthvae.transforms.table import TableTransformer

    rng = np.random.default_rng(0)
    spread = rng.lognormal(5, 1.5, 20_000)
    intervals = tail_intervals(spread, [0.1, 0.03, 0.01, 0.003], min_rows=100)
    upper = sorted(i for i in intervals if i[1] > np.median(spread))
    # 0.3 % of 20,000 rows is 60, under 100: that edge is merged into the next one in
    assert [round(float(np.mean(spread >= low)), 3) for low, _ in upper] == [0.1, 0.03, 0.01]
    assert upper[-1][1] == np.inf and all(a[1] == b[0] for a, b in zip(upper, upper[1:]))
    df = pd.DataFrame({"pay": spread})
    with nested_tails([0.1, 0.03, 0.01]):
        nested = TableTransformer(detect_schema(df)).fit(df).transformers_[0]
    default = TableTransformer(detect_schema(df)).fit(df).transformers_[0]
    assert nested._tail_modes.sum() == 6 and default._tail_modes.sum() == 2
    small = df.head(5000)  # its top 1 % is 50 values: a gate of 1 % keeps no tail mode
    for gate, expected in ((0.0, 4), (0.01, 0)):  # ungated: cut at 10 and 3 %
        with nested_tails([0.1, 0.03, 0.01], gate):
            column = TableTransformer(detect_schema(small)).fit(small).transformers_[0]
        assert column._tail_modes.sum() == expected


def test_coupled_modes_probe_keeps_each_columns_modes_and_couples_them_inside_its_block():
    from benchmarks.coupled_modes import coupled_draw, coupled_modes
    from synthvae.schema import detect_schema
    from synthvae.transforms.table import TableTransformer

    rng = np.random.default_rng(0)
    posterior = np.log(np.tile([0.2, 0.3, 0.5], (100_000, 1)))
    drawn = coupled_draw(posterior, np.array([2, 0, 1]), rng.random(100_000))
    assert np.allclose(np.bincount(drawn) / 100_000, [0.2, 0.3, 0.5], atol=0.01)
    a = rng.lognormal(size=5000)
    df = pd.DataFrame({"a": a, "b": a * rng.lognormal(0, 0.05, 5000)})
    transformer = TableTransformer(detect_schema(df)).fit(df)

    def same_ranked_mode(matrix):
        first, second = transformer.transformers_
        ranks = []
        for column, start in ((first, 0), (second, first.width)):
            modes = matrix[:, start + 1:start + 1 + column.n_modes].argmax(1)
            ranks.append(np.argsort(np.argsort(column.means_))[modes])
        return float(np.mean(ranks[0] == ranks[1]))

    with coupled_modes():
        coupled = transformer.transform(df, seed=0)
    independent = transformer.transform(df, seed=0)  # the block is left: as before
    assert same_ranked_mode(coupled) > 0.8 > 0.5 > same_ranked_mode(independent)
    assert np.array_equal(independent, transformer.transform(df, seed=0))


def test_argmax_ab_switches_the_inverse_argmax_and_the_rows_stay_the_same():
    from benchmarks.argmax_ab import numpy_argmax, with_numpy_argmax
    from synthvae import Synthesizer
    from synthvae.transforms import categorical, continuous

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.lognormal(size=400), "k": rng.choice(list("abcde"), 400)})
    synth = Synthesizer(epochs=2, seed=0, n_threads=1, verbose=False).fit(df)
    with with_numpy_argmax(True):
        assert continuous.span_argmax is categorical.span_argmax is numpy_argmax
        before = synth.sample(3000, seed=1)
    assert continuous.span_argmax is not numpy_argmax
    assert before.equals(synth.sample(3000, seed=1))


def test_drawer_ab_reference_draws_what_the_default_drawer_draws():
    """The sampling A/B's reference drawer (one product per column) and the default one
    (each degree's units fed at once) give the same rows, two-step numbers included."""
    import torch

    from benchmarks.drawer_ab import per_column_drawer_class
    from synthvae import Synthesizer
    from synthvae.sampling import ColumnDrawer

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.lognormal(size=400), "k": rng.choice(list("abcde"), 400),
                       "y": rng.normal(size=400)})
    synth = Synthesizer(epochs=2, seed=0, n_threads=1, verbose=False).fit(df)
    decoder, layout = synth.model_.decoder, synth.layout_
    z = torch.randn(500, synth.model_config_.latent_dim,
                    generator=torch.Generator().manual_seed(1))
    uniform = torch.rand(500, layout.n_groups, generator=torch.Generator().manual_seed(2))
    noise = torch.randn(500, layout.n_scalars, generator=torch.Generator().manual_seed(3))
    sigma = decoder.sigma(torch.ones(1, 1))
    blocks = []
    with torch.no_grad():
        for drawer in (ColumnDrawer, per_column_drawer_class()):
            block = torch.zeros(500, layout.width)
            drawer(decoder, layout).draw(block, decoder(z), sigma, uniform, noise)
            blocks.append(block)
    assert torch.allclose(blocks[0], blocks[1], atol=1e-4)


def test_two_step_ab_fits_numbers_in_one_step_inside_its_block():
    from benchmarks.two_step_ab import numbers_in_one_step
    from synthvae import Synthesizer

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.lognormal(size=300), "k": rng.choice(list("abc"), 300),
                       "y": rng.normal(size=300)})
    with numbers_in_one_step():
        one = Synthesizer(epochs=1, seed=0, verbose=False).fit(df)
    two = Synthesizer(epochs=1, seed=0, verbose=False).fit(df)
    assert len(set(one.model_config_.column_rank)) == 3
    assert len(set(two.model_config_.column_rank)) == 5  # x and y: modes, then scalar


def test_survey_tables_answer_in_five_levels_and_their_scores_see_broken_relations():
    from benchmarks.survey_decoders import ANSWERS, survey_scores, survey_table

    table = survey_table(600, 12)
    assert table.shape == (600, 12) and set(np.unique(table.to_numpy())) <= set(ANSWERS)
    same = survey_scores(table, table)
    assert same["column_shapes"] == same["pair_trends"] == same["strong_pair_trends"] == 1.0
    assert same["strong_pairs"] > 0  # the factors relate some questions
    rng = np.random.default_rng(0)  # each column its own order: the relations are gone
    shuffled = table.apply(lambda column: rng.permutation(column.to_numpy()))
    broken = survey_scores(table, shuffled)
    assert broken["column_shapes"] == 1.0  # the same answers, unrelated
    assert broken["strong_pair_trends"] < broken["pair_trends"] < 1.0


def test_probe_runs_write_a_header_and_one_line_per_fit_made_inside_the_block(tmp_path,
                                                                             monkeypatch):
    from contextlib import contextmanager

    from benchmarks import structure

    entered = []

    @contextmanager
    def block():
        entered.append(True)
        yield

    def fake_run(table, seed, model):
        assert entered and model == "synthvae"
        return {"dataset": table, "seed": seed, "model": model, "ml_efficacy": {},
                "quality": {}}

    monkeypatch.setattr(structure, "RESULTS", tmp_path)
    monkeypatch.setattr(structure, "table_run", fake_run)
    structure.probe_runs("p", "python -m x", "v=1", "a,b@100", "0,1", block)
    lines = [json.loads(line) for line in (tmp_path / "structure-p.jsonl").read_text()
             .splitlines()]
    assert lines[0]["header"]["command"] == "python -m x" and len(entered) == 4
    assert [(r["dataset"], r["seed"], r["model"]) for r in lines[1:]] == [
        ("a", 0, "synthvae[v=1]"), ("b@100", 0, "synthvae[v=1]"), ("a", 1, "synthvae[v=1]"),
        ("b@100", 1, "synthvae[v=1]")]


def test_probe_learning_rate_schedules_start_at_lr_and_end_at_the_floor():
    from benchmarks.decoder_probes import LR_FLOOR, learning_rate_share

    for variant in ("lr-cos", "lr-tail"):
        shares = [learning_rate_share(variant, e, 60) for e in range(1, 61)]
        assert shares[0] == 1.0 and shares[-1] == pytest.approx(LR_FLOOR)
        assert all(a >= b for a, b in zip(shares, shares[1:]))
    assert learning_rate_share("lr-tail", 30, 60) == 1.0  # constant for the first 60 %


def test_calibration_width_benchmark_times_each_latent_count_and_scores_it(tmp_path):
    env = dict(os.environ, SYNTHVAE_BENCH_RESULTS=str(tmp_path))
    subprocess.run([sys.executable, "-m", "benchmarks.calibration_width", "--rows", "300",
                    "--columns", "12", "--latents", "1500,1000", "--name", "cw"],
                   cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)
    result = json.loads((tmp_path / "cw.json").read_text())
    assert [run["latents"] for run in result["calibrations"]] == [1500, 1000]
    for run in result["calibrations"]:
        assert run["seconds"] > 0 and run["summary"]["rows"] == run["latents"]
        assert 0 <= run["fresh_max_error"] < 0.05  # calibrated: near the training shares


def test_exclusions_cost_times_the_search_on_independent_random_columns():
    """Random independent columns hold every pair, so the timed search excludes none."""
    from benchmarks.exclusions_cost import search_seconds

    result = search_seconds(3000, 3, 4)
    assert result["slots"] == 12 and result["pairs"] == 0 and result["seconds"] >= 0


def test_the_bundled_small_tables_split_with_their_target_as_labels_and_keep_every_row():
    from benchmarks.data import SKLEARN, TEST_FRACTION_SMALL, load_dataset, sklearn_table

    for name, (_, target, task, _) in SKLEARN.items():
        data, whole = load_dataset(name), sklearn_table(name)
        assert data.target == target and data.task == task and target in data.train
        assert len(data.train) + len(data.test) == len(whole)
        assert len(data.test) == round(len(whole) * TEST_FRACTION_SMALL)
    assert set(load_dataset("wine").train["cultivar"]) == {"class_0", "class_1", "class_2"}
    assert load_dataset("diabetes").train["progression"].dtype == np.float64


def test_discrete_rows_benchmark_sets_the_rule_for_its_run_only(monkeypatch):
    import benchmarks.discrete_rows as probe
    import benchmarks.structure as structure
    import synthvae.transforms.continuous as continuous

    seen = {}

    def fake_structure(argv, command):
        seen.update(argv=argv, command=command, rows=continuous.DISCRETE_VALUE_ROWS)

    monkeypatch.setattr(structure, "main", fake_structure)
    probe.main(["0", "--datasets", "wine", "--name", "x"])
    assert seen == {"argv": ["--datasets", "wine", "--name", "x"],
                    "command": "python -m benchmarks.discrete_rows 0", "rows": 0.0}
    assert continuous.DISCRETE_VALUE_ROWS == 5


def test_wide_budget_table_is_correlated_and_its_scores_react_to_shuffled_rows():
    from benchmarks.wide_budget import factor_table, scores

    df = factor_table(400, 12)
    assert df.shape == (400, 12) and (df["x2"] > 0).all()  # every third column skewed
    same = scores(df, df)
    assert same["column_shapes"] == 1 and same["pair_trends"] == 1
    assert same["strong_pair_error"] == 0
    rng = np.random.default_rng(0)
    shuffled = df.apply(lambda column: rng.permutation(column.to_numpy()))
    broken = scores(df, shuffled)  # same marginals, no correlation left
    assert broken["column_shapes"] == 1 and broken["pair_trends"] < 0.9
    assert broken["strong_pair_error"] > 0.1


def test_dp_step_timing_times_a_plain_and_a_dp_step_on_the_same_model():
    """benchmarks.dp --speed's step timing runs on a public schema's encoding with the
    default decoder (autoregressive, reading the numbers' values)."""
    from benchmarks.dp import adult_public_schema, step_ms

    rows = pd.read_csv(ROOT / "examples" / "adult.csv.gz", nrows=300)
    schema = adult_public_schema(rows, rows)
    times = step_ms(rows, schema, steps=2, batch=100)
    assert set(times) == {"plain", "dp"} and min(times.values()) > 0


def test_dp_bounds_check_counts_bounds_far_beyond_the_data():
    from benchmarks.dp_bounds import far, single_threshold

    values = np.array([1.0, 5.0, 16.0])
    assert not far(0.0, 32.0, values) and far(0.0, 128.0, values) and far(-8.0, 32.0, values)
    noisy = np.array([0.0, 100.0, 2.0])  # threshold 1 + ln(3) = 2.1
    assert single_threshold(noisy, 1.0).tolist() == [False, True, False]


def test_flights_formulas_hold_on_consistent_rows_and_broken_ones_are_counted():
    from benchmarks.formulas import VARIANTS, broken_shares
    from synthvae.constraints.formula import parse

    rng = np.random.default_rng(0)
    n = 400
    sched = rng.integers(5, 24, n) * 100 + rng.integers(0, 60, n)
    delay = rng.integers(-20, 300, n).astype(float)
    clock = (sched // 100 * 60 + sched % 100 + delay - 1) % 1440 + 1
    frame = pd.DataFrame({"sched_dep_time": sched, "hour": sched // 100, "minute": sched % 100,
                          "dep_delay": delay, "dep_time": clock // 60 * 100 + clock % 60,
                          "sched_arr_time": sched, "arr_delay": delay,
                          "arr_time": clock // 60 * 100 + clock % 60})
    assert broken_shares(frame) == dict.fromkeys(broken_shares(frame), 0.0)
    columns = {c: frame[c].to_numpy(float) for c in frame.columns}
    for formulas in filter(None, VARIANTS.values()):
        for formula in formulas:
            computed = parse(formula.expression, "a test").evaluate(columns)
            assert np.array_equal(computed, columns[formula.column]), formula
    late = frame.assign(hour=np.where(np.arange(n) < 100, frame["hour"] + 1, frame["hour"]))
    assert broken_shares(late)["hour"] == 0.25 and broken_shares(late)["any"] == 0.25


def test_dp_variant_masked_width_sets_the_layer_for_its_block_only():
    from benchmarks.dp_variants import masked_width
    from synthvae import Synthesizer

    rng = np.random.default_rng(0)
    table = pd.DataFrame({"a": rng.choice(list("xyz"), 300), "b": rng.normal(size=300)})

    def width() -> int:
        synth = Synthesizer(epochs=1, hidden=(16,), latent_dim=4, decoder="autoregressive",
                            verbose=False, seed=0).fit(table)
        return synth.model_.decoder.autoregression.inner.weight.shape[0]

    with masked_width(["arh32"]):
        assert width() == 32
    assert width() == 256


def test_dp_gradient_share_splits_the_output_gradient_and_scores_a_code_map():
    """benchmarks.dp_gradient_share (dp.md's eleventh step): on one model, the numbers'
    part of the output gradient scales with the weight and the spans' part does not; the
    row norms are what clipping sees; a 1:1 map kept in every row scores 1."""
    from benchmarks.dp_gradient_share import (output_gradient_parts, pair_agreement,
                                              row_gradient_norms)
    from synthvae import Synthesizer

    rng = np.random.default_rng(0)
    grade = rng.choice(list("abc"), 300)
    table = pd.DataFrame({"grade": grade, "code": pd.Series(grade).map({"a": 1, "b": 2,
                                                                        "c": 3}),
                          "amount": rng.lognormal(3, 1, 300)})
    synth = Synthesizer(epochs=1, epsilon=5.0, seed=0, verbose=False).fit(table)
    full = output_gradient_parts(synth, table.head(50), 1.0)
    fifth = output_gradient_parts(synth, table.head(50), 0.2)
    assert fifth["spans_median"] == full["spans_median"] > 0
    assert fifth["scalars_median"] == pytest.approx(0.2 * full["scalars_median"], rel=0.01)
    assert 0 < fifth["scalar_share_of_squared_norm"] < full["scalar_share_of_squared_norm"] < 1
    norms = row_gradient_norms(synth, table.head(5))
    assert norms.shape == (5,) and np.isfinite(norms).all() and (norms > 0).all()
    assert pair_agreement(table, table, "grade", "code") == 1.0
    assert pair_agreement(table, table.assign(code=4 - table["code"]), "grade", "code") < 0.5

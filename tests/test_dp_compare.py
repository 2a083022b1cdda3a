"""The side-by-side DP harness (benchmarks/dp_compare.py) without smartnoise itself."""

import numpy as np
import pandas as pd
import pytest

from benchmarks.dp_compare import (BINS, MISSING, categorical_names, column_domain, from_smartnoise,
                                   medians, numeric_bins, to_smartnoise)


def _frame():
    return pd.DataFrame({
        "job": ["clerk", None, "nurse", "clerk"],
        "weekend": [True, False, False, True],
        "code": [1, 3, 2, 1],
        "age": [17, 40, 90, 33],
        "rate": [0.1, 0.25, 0.0, 1.5]})


def _schema(df):
    return {"columns": [column_domain(name, df[name]) for name in df.columns]}


def test_a_sample_written_for_smartnoise_comes_back_as_the_training_frame(tmp_path):
    df = _frame()
    schema = _schema(df)
    path = tmp_path / "train.csv"
    to_smartnoise(df, categorical_names(schema)).to_csv(path, index=False)
    lines = path.read_text().splitlines()
    assert lines[2].startswith(MISSING + ",")  # no empty cell reaches smartnoise
    assert all(",," not in line and not line.startswith(",") for line in lines)
    text = pd.read_csv(path, dtype={c: str for c in categorical_names(schema)},
                       keep_default_na=False)
    back = from_smartnoise(text, schema)
    pd.testing.assert_frame_equal(back, df)


def test_smartnoise_values_outside_the_schema_and_fractions_are_mended():
    schema = _schema(_frame())
    sample = pd.DataFrame({"job": ["nurse", MISSING], "weekend": ["False", "True"],
                           "code": ["2", "3"], "age": [17.4, 89.6], "rate": [0.3, 1.0]})
    back = from_smartnoise(sample, schema)
    assert back["job"].tolist()[0] == "nurse" and pd.isna(back["job"].tolist()[1])
    assert back["weekend"].dtype == bool and back["weekend"].tolist() == [False, True]
    assert back["age"].tolist() == [17, 90] and back["age"].dtype == np.int64


def test_public_domain_and_bins_cover_every_value():
    schema = _schema(_frame())
    assert categorical_names(schema) == ["job", "weekend"]  # bools are categories
    bins = numeric_bins(schema)
    # a narrow integer column: one bin per value, centred on it (midpoints are the values)
    low, high, n = bins["code"]
    assert n == 3 and [low + (k + 0.5) * (high - low) / n for k in range(n)] == [1, 2, 3]
    assert bins["age"] == [17, 90, BINS] and bins["rate"] == [0.0, 1.5, BINS]


def test_medians_take_the_median_seed_of_each_table_epsilon_and_method():
    rows = [{"table": "t", "epsilon": 1.0, "method": m, "seed": s, "fit_s": 1.0 + s,
             "ml_synthetic": auc, "column_shapes": 0.9, "column_pair_trends": 0.8}
            for m, s, auc in [("aim", 0, 0.7), ("synthvae", 0, 0.8), ("synthvae", 1, 0.6),
                              ("synthvae", 2, 0.9)]]
    out = medians(rows)
    assert [r["method"] for r in out] == ["synthvae", "aim"]
    assert out[0]["ml_synthetic"] == 0.8 and out[0]["seeds"] == [0, 1, 2]
    assert out[0]["fit_s"] == 2.0 and out[1]["ml_synthetic"] == 0.7


def test_markdown_bolds_the_best_method_of_each_table_and_epsilon():
    from benchmarks.dp_compare import markdown

    rows = [{"table": "adult", "epsilon": 1.0, "method": m, "seeds": [0, 1, 2],
             "ml_synthetic": auc, "column_shapes": shapes, "column_pair_trends": 0.8,
             "fit_s": 12.0} for m, auc, shapes in [("synthvae", 0.84, 0.90),
                                                  ("mst", 0.80, 0.95)]]
    synthvae, mst = markdown(rows).splitlines()[2:]
    assert synthvae.startswith("| adult | 1 | synthvae | 3 | **0.840** | 0.900 | **0.800**")
    assert mst.startswith("| adult | 1 | mst | 3 | 0.800 | **0.950** | **0.800**")


def test_dp_variants_turn_parts_of_the_release_back_only_inside_their_block():
    """benchmarks.dp_variants: ``clamp`` swaps the calibration post-processing, ``even`` the
    span weights and ``nogap`` the gap modes for the block's fits, and all come back after
    it; parts set parameters."""
    from benchmarks.common import gap_modes_enabled
    from benchmarks.dp_variants import clipped_frequencies, even_span_noise, variant_params
    from synthvae import privacy
    from synthvae.layout import SpanLayout
    from synthvae.transforms.spans import Span, SpanKind

    projected, with_gaps = privacy.dp_slot_frequencies, privacy._with_gap_modes
    weighted = privacy.span_noise_weights
    with clipped_frequencies(True), gap_modes_enabled(False), even_span_noise(True):
        assert privacy.dp_slot_frequencies is not projected
        assert privacy._with_gap_modes is not with_gaps
        assert privacy.span_noise_weights is not weighted
        layout = SpanLayout.from_spans([Span("a", SpanKind.SOFTMAX, 3, "category")])
        matrix = np.eye(3)[np.random.default_rng(0).integers(0, 3, 500)]
        shares, _ = privacy.dp_slot_frequencies(matrix, layout, 1.0, 1e-6, "prv",
                                                np.random.default_rng(1))
        assert abs(shares.sum() - 1.0) < 1e-9 and (shares >= 0).all()
    assert privacy.dp_slot_frequencies is projected and privacy._with_gap_modes is with_gaps
    assert privacy.span_noise_weights is weighted
    assert variant_params("ar+cal0.2+clamp+epochs90".split("+")) == {
        "decoder": "autoregressive", "calibration_share": 0.2, "epochs": 90}
    assert variant_params(["fact"]) == {"decoder": "factorized"}
    with pytest.raises(SystemExit, match="nogaps"):
        variant_params(["nogaps"])
    with pytest.raises(SystemExit, match="two decoders"):
        variant_params(["ar", "fact"])


def test_dp_variants_scalar_weight_part_sets_the_dp_fits_weight_inside_its_block():
    """``scalarwW`` (the eleventh step's probe): DP fits in the block weigh the numbers' NLL
    by W, read by the fit plan; the default comes back after it."""
    from benchmarks.dp_variants import scalar_weight, variant_params
    from synthvae import params
    from synthvae import Synthesizer
    from synthvae.params import DP_SCALAR_WEIGHT, fit_plan

    private = Synthesizer(epsilon=1.0)
    assert variant_params(["scalarw1"]) == {}
    with scalar_weight(["default", "scalarw1"]):
        assert fit_plan(private).scalar_weight == 1.0
        assert fit_plan(Synthesizer()).scalar_weight == 1.0
    assert params.DP_SCALAR_WEIGHT == DP_SCALAR_WEIGHT
    assert fit_plan(private).scalar_weight == DP_SCALAR_WEIGHT
    with scalar_weight(["default"]):
        assert fit_plan(private).scalar_weight == DP_SCALAR_WEIGHT

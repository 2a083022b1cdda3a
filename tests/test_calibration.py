"""Marginal calibration: prior samples get the training rows' category and mode frequencies."""

import numpy as np
import pandas as pd
import pytest
import torch

from synthvae import ConfigError, Synthesizer
from synthvae.calibration import (UNSEEN_OFFSET, fit_logit_offsets, prior_slot_probabilities,
                                  slot_frequencies)
from synthvae.layout import SpanLayout
from synthvae.prior import StandardNormalPrior
from synthvae.transforms.spans import Span, SpanKind


def _layout():
    spans = [Span("x", SpanKind.SCALAR, 1, "value"), Span("x", SpanKind.SOFTMAX, 3, "mode"),
             Span("c", SpanKind.SOFTMAX, 2, "category")]
    return SpanLayout.from_spans(spans)


def _biased_decoder(latent_dim=4):
    decoder = torch.nn.Linear(latent_dim, 6)
    torch.nn.init.normal_(decoder.weight, std=0.5, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        decoder.bias.copy_(torch.tensor([0.3, 2.0, 0.0, -1.0, -0.5, 0.5]))
    return decoder


def test_offsets_move_every_span_onto_its_target_frequencies():
    layout, decoder, prior = _layout(), _biased_decoder(), StandardNormalPrior(4)
    target = torch.tensor([0.2, 0.5, 0.3, 0.9, 0.1])
    generator = torch.Generator().manual_seed(1)
    offsets, summary = fit_logit_offsets(decoder, layout, prior, target, generator, rows=20_000)

    z = prior.sample(20_000, torch.Generator().manual_seed(2), "cpu")  # fresh latents
    before = prior_slot_probabilities(decoder, layout, z, torch.zeros(6))
    after = prior_slot_probabilities(decoder, layout, z, offsets)
    assert (before - target).abs().max() > 0.2
    assert (after - target).abs().max() < 0.01
    assert offsets[0] == 0  # the scalar column's logit is untouched
    assert summary["max_frequency_error_after"] < 0.005 < summary["max_frequency_error_before"]


def test_a_slot_no_row_holds_is_not_drawn_and_the_others_take_its_share():
    layout, decoder, prior = _layout(), _biased_decoder(), StandardNormalPrior(4)
    target = torch.tensor([0.6, 0.4, 0.0, 0.5, 0.5])
    offsets, summary = fit_logit_offsets(decoder, layout, prior, target,
                                         torch.Generator().manual_seed(1), rows=5_000,
                                         never_drawn=target == 0)
    assert offsets[3] == UNSEEN_OFFSET and torch.isfinite(offsets).all()
    probs = prior_slot_probabilities(decoder, layout, prior.sample(
        20_000, torch.Generator().manual_seed(2), "cpu"), offsets)
    assert probs[2] < 1e-6
    assert torch.allclose(probs, target, atol=0.02)
    assert summary["max_frequency_error_before"] > 0.1  # the decoder alone, before the offsets
    kept, _ = fit_logit_offsets(decoder, layout, prior, target,  # a sample's or a DP zero
                                torch.Generator().manual_seed(1), rows=5_000)
    assert kept[3] == 0


def test_slot_frequencies_are_the_one_hot_shares():
    layout = _layout()
    data = torch.tensor([[0.1, 1, 0, 0, 0, 1], [-0.2, 0, 1, 0, 0, 1],
                         [0.5, 1, 0, 0, 1, 0], [0.0, 1, 0, 0, 0, 1]])
    assert slot_frequencies(data, layout).tolist() == [0.75, 0.25, 0.0, 0.25, 0.75]


def _skewed_table(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "green", "blue", "violet"], size=n, p=[0.55, 0.3, 0.1, 0.05])
    size = np.where(colour == "red", rng.normal(10, 2, n), rng.normal(20, 3, n))
    return pd.DataFrame({"colour": colour, "size": size.round(2)})


def _total_variation(real: pd.Series, fake: pd.Series) -> float:
    p, q = real.value_counts(normalize=True), fake.value_counts(normalize=True)
    return 0.5 * float(p.subtract(q, fill_value=0).abs().sum())


def test_calibrated_samples_keep_the_categories_frequencies():
    df = _skewed_table()
    params = dict(epochs=3, verbose=False, seed=0)
    calibrated = Synthesizer(**params).fit(df)
    plain = Synthesizer(calibrate=False, **params).fit(df)
    errors = [_total_variation(df["colour"], s.sample(20_000, seed=1)["colour"])
              for s in (calibrated, plain)]
    assert errors[0] < 0.015 and errors[0] < errors[1]
    assert calibrated.training_summary_["calibration"]["max_frequency_error_after"] < 0.01
    assert plain.training_summary_["calibration"] is None and plain.logit_offsets_ is None


def test_calibration_leaves_the_trained_weights_and_reconstructions_alone():
    df = _skewed_table(1000)
    calibrated = Synthesizer(epochs=2, verbose=False, seed=3).fit(df)
    plain = Synthesizer(epochs=2, verbose=False, seed=3, calibrate=False).fit(df)
    for a, b in zip(calibrated.model_.parameters(), plain.model_.parameters()):
        assert torch.equal(a, b)
    pd.testing.assert_frame_equal(calibrated.score(df.head(50), seed=0),
                                  plain.score(df.head(50), seed=0))
    assert not calibrated.sample(200, seed=0).equals(plain.sample(200, seed=0))


def test_conditional_samples_use_the_calibration():
    df = _skewed_table()
    synth = Synthesizer(epochs=3, verbose=False, seed=0).fit(df)
    big = synth.sample(4000, seed=2, conditions={"size": (15, None)})
    assert (big["size"] >= 15).all()
    synth.logit_offsets_ = torch.full_like(synth.logit_offsets_, 0.0)
    synth.logit_offsets_[synth.layout_.slot_index[0]] = 30.0  # force the first slot
    forced = synth.sample(500, seed=2, conditions={"size": (15, None)})
    assert forced["colour"].nunique() == 1


def test_calibrate_must_be_a_bool(adult_small):
    with pytest.raises(ConfigError, match="'calibrate' parameter of Synthesizer must be True"):
        Synthesizer(calibrate="yes", verbose=False).fit(adult_small)


def test_a_short_fit_calibrates_on_a_share_of_its_training_rows_not_a_fixed_50000():
    # Calibration stays a small part of any fit: 200 rows x 2 epochs processed 400 rows,
    # so it draws the floor of prior rows, not the 50,000 a long fit uses.
    from synthvae.calibration import CALIBRATION_ROWS, MIN_CALIBRATION_ROWS, calibration_rows

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=200), "c": rng.choice(list("abc"), 200)})
    synth = Synthesizer(epochs=2, seed=0, verbose=False).fit(df)
    assert synth.training_summary_["calibration"]["rows"] == MIN_CALIBRATION_ROWS
    assert calibration_rows(10**9) == CALIBRATION_ROWS
    assert calibration_rows(1_750_000) == CALIBRATION_ROWS  # a default Adult fit: unchanged


def test_a_wide_layout_calibrates_on_fewer_rows_within_the_cell_budget():
    # A pass sweeps a (rows, slots) block: a wide table's calibration draws fewer latents so
    # that it stays a small part of the fit; narrow tables keep theirs, never below the floor.
    from synthvae.calibration import (CALIBRATION_CELLS, CALIBRATION_ROWS,
                                      MIN_CALIBRATION_ROWS, calibration_rows)

    assert calibration_rows(1_750_000, 440) == CALIBRATION_ROWS  # Adult at defaults
    assert calibration_rows(1_750_000, 12_000) == CALIBRATION_ROWS
    wide = calibration_rows(1_950_000, 28_697)  # 10,000 x 3,000 numeric columns
    assert wide == CALIBRATION_CELLS // 28_697 and wide * 28_697 <= CALIBRATION_CELLS
    assert calibration_rows(1_950_000, 10**8) == MIN_CALIBRATION_ROWS
    assert calibration_rows(10_000, 28_697) == 1_000  # a short fit: the training share


def test_fit_sizes_its_calibration_by_the_layouts_slots(monkeypatch):
    import synthvae.calibration as calibration

    monkeypatch.setattr(calibration, "CALIBRATION_CELLS", 9_000)
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"c": rng.choice(list("abcd"), 1_000), "d": rng.choice(list("xy"), 1_000)})
    synth = Synthesizer(epochs=40, seed=0, verbose=False).fit(df)  # 40,000 rows: share 2,000
    slots = len(synth.layout_.slot_index)
    assert slots == 6
    assert synth.training_summary_["calibration"]["rows"] == 9_000 // 6  # the budget binds


def test_declared_categories_no_training_row_uses_are_never_sampled():
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"x": rng.normal(size=400),
                          "c": pd.Categorical(rng.choice(["a", "b"], 400),
                                              categories=["a", "b", "c", "d"])})
    short = Synthesizer(epochs=1, verbose=False, seed=0).fit(table)  # decoder alone: ~1/3 c, d
    rows = short.sample(4_000, seed=1)
    assert set(rows["c"]) == {"a", "b"}
    assert list(rows["c"].cat.categories) == ["a", "b", "c", "d"]  # the dtype is kept
    uncalibrated = Synthesizer(epochs=1, verbose=False, seed=0, calibrate=False).fit(table)
    assert uncalibrated.sample(4_000, seed=1)["c"].isin(["c", "d"]).mean() > 0.05


def test_a_streamed_fit_leaves_categories_its_sample_missed_drawable(tmp_path, monkeypatch):
    import synthvae.streaming

    rng = np.random.default_rng(0)
    n = 4_000
    table = pd.DataFrame({"x": rng.normal(size=n),
                          "c": np.where(np.arange(n) % 2_000 == 7, "rare", "common")})
    table.sample(frac=1, random_state=0).to_parquet(tmp_path / "t.parquet")
    monkeypatch.setattr(synthvae.streaming, "PRIOR_FIT_ROWS", 200)  # calibrates on 200 rows
    synth = Synthesizer(epochs=1, verbose=False, seed=0).fit_parquet(tmp_path / "t.parquet")
    assert not (synth.generator_.offsets == UNSEEN_OFFSET).any()
    in_memory = Synthesizer(epochs=1, verbose=False, seed=0).fit(table)
    assert not (in_memory.generator_.offsets == UNSEEN_OFFSET).any()  # every category held

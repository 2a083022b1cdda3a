"""Low-lift truncation (``min_lift``): a category the row's context makes far rarer than it
is in the training rows is not drawn there, so combinations the real table never has stop
leaking into the synthetic rows; marginals stay calibrated."""

import numpy as np
import pandas as pd
import pytest
import torch

from synthvae import Synthesizer
from synthvae.errors import ConfigError, ModelFileError
from synthvae.layout import SpanLayout
from synthvae.sampling import draw_from_weights, span_weights

from conftest import rewrite_model_file

FLOOR_KEY = "sampler.low_lift_floor"


def test_slots_below_their_floor_get_no_weight_and_the_likeliest_slot_is_kept():
    probs = torch.tensor([[0.60, 0.30, 0.09, 0.01], [0.01, 0.01, 0.01, 0.97]])
    weights = span_weights(torch.log(probs), torch.tensor([0.05, 0.05, 0.05, 0.05]))
    normalised = weights / weights.sum(1, keepdim=True)
    assert torch.equal(weights[0] > 0, torch.tensor([True, True, True, False]))
    assert torch.allclose(normalised[0, :3], probs[0, :3] / 0.99)
    assert torch.equal(weights[1] > 0, torch.tensor([False, False, False, True]))
    # a floor above every slot's probability still leaves the row its likeliest slot
    alone = span_weights(torch.log(probs), torch.ones(4))
    assert torch.equal(alone > 0, torch.nn.functional.one_hot(probs.argmax(1), 4).bool())


def test_a_truncated_slot_is_never_drawn_whatever_the_uniform():
    weights = torch.tensor([[0.0, 1.0, 0.0, 0.5, 0.0]]).expand(1001, -1)
    uniform = torch.cat([torch.linspace(0, 1 - 1e-7, 1000), torch.tensor([0.0])])
    drawn = draw_from_weights(weights, uniform)
    assert set(drawn.tolist()) == {1, 3}
    assert (drawn == 1).float().mean().item() == pytest.approx(2 / 3, abs=0.01)


def test_the_all_spans_form_truncates_as_the_one_span_form():
    from synthvae.transforms.spans import Span, SpanKind

    spans = [Span("a", SpanKind.SOFTMAX, 3, "category"), Span("b", SpanKind.SCALAR, 1, "value"),
             Span("c", SpanKind.SOFTMAX, 4, "category")]
    layout = SpanLayout.from_spans(spans)
    generator = torch.Generator().manual_seed(0)
    slots = torch.randn((64, 7), generator=generator) * 3
    floor = torch.rand(7, generator=generator) * 0.3
    together = layout.group_weights(slots, floor)
    for first, width in ((0, 3), (3, 4)):  # among the slots (the scalar is not one)
        alone = span_weights(slots[:, first:first + width], floor[first:first + width])
        assert torch.allclose(together[:, first:first + width], alone)
    # the draw of every span at once draws only what the truncation kept, as from the
    # truncated logits
    truncated = torch.where(together > 0, slots, -torch.inf)
    uniform = torch.rand((64, 2), generator=generator)
    assert torch.equal(layout.group_sample(slots, uniform, floor),
                       layout.group_sample(truncated, uniform))
    drawn = layout.group_sample(slots.expand(4, -1, -1).reshape(-1, 7), uniform.repeat(4, 1),
                                floor)
    assert (together.repeat(4, 1).gather(1, drawn) > 0).all()


CITY = dict(zip("ABCDEF", ["Paris", "Lyon", "Nice", "Lille", "Metz", "Brest"]))


def _code_table(rows: int = 3000, seed: int = 0) -> pd.DataFrame:
    """``code`` determines ``city`` (a 1:1 map); ``x`` is noise."""
    rng = np.random.default_rng(seed)
    code = rng.choice(list(CITY), rows, p=[0.3, 0.25, 0.2, 0.1, 0.1, 0.05])
    return pd.DataFrame({"code": code, "city": pd.Series(code).map(CITY),
                         "x": rng.normal(size=rows)})


def _broken_share(df: pd.DataFrame) -> float:
    return float((df["city"] != df["code"].map(CITY)).mean())


def test_truncation_removes_combinations_the_real_rows_never_have_and_keeps_marginals():
    df = _code_table(1500)
    params = dict(epochs=40, seed=0, verbose=False, unseen_pairs=0)  # min_lift alone
    plain = Synthesizer(min_lift=0, **params).fit(df).sample(20_000, seed=1)
    kept = Synthesizer(min_lift=0.1, **params).fit(df).sample(20_000, seed=1)
    assert _broken_share(plain) > 0.01  # a short fit leaks a little (the control)
    assert _broken_share(kept) < _broken_share(plain) / 3
    real = df["city"].value_counts(normalize=True)
    synthetic = kept["city"].value_counts(normalize=True).reindex(real.index)
    assert (synthetic - real).abs().max() < 0.02  # calibrated on the rows drawn so


def test_the_floors_are_saved_with_the_model_and_checked_on_load(tmp_path):
    synth = Synthesizer(epochs=1, seed=0, verbose=False, min_lift=0.1).fit(_code_table(400))
    path = synth.save(tmp_path / "m.safetensors")
    loaded = Synthesizer.load(path)
    assert torch.equal(loaded.generator_.floor, synth.generator_.floor)
    pd.testing.assert_frame_equal(loaded.sample(500, seed=2), synth.sample(500, seed=2))
    rewrite_model_file(path, lambda meta, t: t.update({FLOOR_KEY: t[FLOOR_KEY] + 2.0}))
    with pytest.raises(ModelFileError, match="low-lift floors"):
        Synthesizer.load(path)


def test_min_lift_zero_means_no_floors_and_out_of_range_is_refused():
    df = _code_table(400)
    assert Synthesizer(epochs=1, verbose=False, min_lift=0).fit(df).generator_.floor is None
    with pytest.raises(ConfigError, match="'min_lift' parameter of Synthesizer"):
        Synthesizer(epochs=1, verbose=False, min_lift=1.5).fit(df)


def test_floors_under_differential_privacy_come_from_the_released_frequencies():
    """Under DP the floors are min_lift times the noisy shares released for calibration (each
    span's shares sum to 1), not the private rows' shares; with nothing released, none."""
    from synthvae.calibration import slot_frequencies

    df = _code_table(400)
    synth = Synthesizer(epochs=1, verbose=False, epsilon=5.0, min_lift=0.1).fit(df)
    layout, floor = synth.layout_, synth.generator_.floor[synth.layout_.slot_index]
    assert torch.allclose(layout.group_sum(floor[None])[0], torch.full((layout.n_groups,), 0.1))
    data = torch.as_tensor(synth.transformer_.transform(df), dtype=torch.float32)
    assert not torch.allclose(floor, 0.1 * slot_frequencies(data, layout), atol=1e-3)
    synth = Synthesizer(epochs=1, verbose=False, epsilon=5.0, min_lift=0.1,
                        calibration_share=0).fit(df)
    assert synth.generator_.floor is None


def test_a_latent_swap_out_of_range_is_refused_naming_the_parameter():
    with pytest.raises(ConfigError, match="'latent_swap' parameter of Synthesizer"):
        Synthesizer(epochs=1, verbose=False, latent_swap=1.5).fit(_code_table(200))


@pytest.mark.parametrize("rows, given, expected", [
    (400, None, 0.0),     # small tables kept fewer rules with the swap: off by default
    (400, 0.25, 0.25),    # a value given is kept whatever the size
    (5_000, None, 0.25),  # from 5,000 rows on, the default swaps a quarter of each batch
])
def test_latent_swap_default_depends_on_the_table_size(rows, given, expected):
    synth = Synthesizer(epochs=1, batch_size=500, latent_swap=given, verbose=False)
    synth.fit(_code_table(rows))
    assert synth.model_.decoder.latent_swap == expected
    assert synth.latent_swap == given  # the parameter is stored as given

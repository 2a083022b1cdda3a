"""Objective options as a user meets them: beta, KL annealing and free bits, from the API and
the CLI, validated, saved with the model, and doing what they say to the KL term."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from cli.main import app
from synthvae import ConfigError, Synthesizer
from synthvae.layout import SpanLayout
from synthvae.model import VAE, ModelConfig
from synthvae.steps import PlainStep
from synthvae.training import TrainConfig, kl_weight


def correlated(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    return pd.DataFrame({"a": a, "b": 2 * a + rng.normal(scale=0.1, size=n),
                         "c": np.where(a + rng.normal(scale=0.3, size=n) > 0, "hi", "lo")})


def weights(config: TrainConfig, epochs: int) -> list[float]:
    return [kl_weight(e, config) for e in range(1, epochs + 1)]


def test_no_annealing_keeps_beta_throughout():
    assert weights(TrainConfig(beta=0.7), 5) == [0.7] * 5


def test_linear_annealing_ramps_from_zero_to_beta_then_holds():
    config = TrainConfig(beta=2.0, kl_anneal="linear", kl_anneal_epochs=4)
    assert weights(config, 8) == [0.0, 0.5, 1.0, 1.5, 2.0, 2.0, 2.0, 2.0]


def test_cyclical_annealing_repeats_a_ramp_over_half_of_each_cycle():
    config = TrainConfig(beta=1.0, kl_anneal="cyclical", kl_anneal_epochs=4)
    assert weights(config, 9) == [0.0, 0.5, 1.0, 1.0, 0.0, 0.5, 1.0, 1.0, 0.0]


@pytest.mark.parametrize("params, message", [
    ({"kl_anneal": "sigmoid"}, "'kl_anneal' parameter .* must be one of .*'sigmoid'"),
    ({"kl_anneal": "linear", "kl_anneal_epochs": 0}, "'kl_anneal_epochs' .* positive int"),
    ({"free_bits": -0.5}, "'free_bits' .* >= 0. Got -0.5"),
    ({"beta": float("nan")}, "'beta'"),
])
def test_bad_objective_parameters_are_refused_by_fit(params, message):
    with pytest.raises(ConfigError, match=message):
        Synthesizer(epochs=1, verbose=False, **params).fit(correlated(50))


def test_free_bits_are_refused_under_differential_privacy():
    synth = Synthesizer(epochs=1, verbose=False, epsilon=5.0, free_bits=0.1)
    with pytest.raises(ConfigError, match="'free_bits'.*differential privacy.*clipping"):
        synth.fit(correlated(50))


def test_annealing_lets_the_kl_grow_while_its_weight_is_low():
    df = correlated()
    plain = Synthesizer(epochs=6, verbose=False, seed=0).fit(df)
    annealed = Synthesizer(epochs=6, verbose=False, seed=0, kl_anneal="linear",
                           kl_anneal_epochs=6).fit(df)
    kl = [np.mean([h["kl"] for h in s.history_[:3]]) for s in (plain, annealed)]
    assert kl[1] > kl[0]
    assert annealed.train_config_.kl_anneal == "linear"


def test_default_ramp_is_a_quarter_of_the_epochs():
    synth = Synthesizer(epochs=8, verbose=False, kl_anneal="cyclical").fit(correlated(200))
    assert synth.train_config_.kl_anneal_epochs == 2


def test_free_bits_keep_latent_dimensions_from_collapsing():
    df = correlated()
    plain = Synthesizer(epochs=6, verbose=False, seed=0, beta=4.0).fit(df)
    freed = Synthesizer(epochs=6, verbose=False, seed=0, beta=4.0, free_bits=0.05).fit(df)
    assert freed.history_[-1]["kl"] > 2 * plain.history_[-1]["kl"]


def test_held_out_loss_ignores_annealing_and_free_bits():
    """Early stopping compares full-weight ELBOs, so a low KL weight cannot fool it."""
    layout = SpanLayout.from_spans([], "cpu")  # no spans needed: the KL side is compared
    model = VAE(ModelConfig(data_dim=4, n_scalars=0, latent_dim=3, hidden=(8,)))
    data = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
    losses = [PlainStep(model, layout, config, torch.Generator().manual_seed(1)).evaluate(data)
              for config in (TrainConfig(), TrainConfig(kl_anneal="linear", kl_anneal_epochs=9),
                             TrainConfig(free_bits=5.0))]
    assert losses[0] == losses[1] == losses[2]


def test_early_stopping_waits_for_the_ramp_to_end():
    synth = Synthesizer(epochs=8, patience=1, verbose=False, kl_anneal="linear",
                        kl_anneal_epochs=6).fit(correlated(300))
    assert synth.training_summary_["epochs_run"] >= 7


def test_objective_options_survive_save_and_load(tmp_path):
    synth = Synthesizer(epochs=2, verbose=False, beta=0.5, kl_anneal="cyclical",
                        kl_anneal_epochs=3, free_bits=0.02).fit(correlated(200))
    loaded = Synthesizer.load(synth.save(tmp_path / "m.safetensors"))
    for name in ("beta", "kl_anneal", "kl_anneal_epochs", "free_bits"):
        assert getattr(loaded, name) == getattr(synth, name)
    assert loaded.train_config_ == synth.train_config_


def test_annealing_works_under_differential_privacy():
    """A schedule of the epoch alone reads no private row: allowed with epsilon."""
    from conftest import EXAMPLE_ADULT

    df = pd.read_csv(EXAMPLE_ADULT)
    synth = Synthesizer(epochs=2, verbose=False, epsilon=5.0, kl_anneal="linear").fit(df)
    assert synth.train_config_.kl_anneal == "linear"
    assert synth.train_config_.beta == 1.0  # the default under DP: the N(0, I) prior's ELBO
    assert synth.privacy_["epsilon"] <= 5.0 + 1e-9


def test_scalar_weight_scales_the_numbers_nll_in_the_loss_and_not_the_reported_nll():
    """``scalar_weight`` reweighs the numeric scalars' Gaussian NLL in what the optimiser
    minimises (per batch and per row, as DP-SGD clips it); the reconstruction NLL reported
    and compared by early stopping stays the model's true one."""
    from synthvae.losses import nll_parts, objective, row_objective
    from synthvae.schema import detect_schema
    from synthvae.transforms.table import TableTransformer

    df = correlated(300)
    table = TableTransformer(detect_schema(df)).fit(df)
    x = torch.as_tensor(table.transform(df.iloc[:40]))
    layout = SpanLayout.from_spans(table.spans_)
    torch.manual_seed(0)
    model = VAE(ModelConfig(layout.width, layout.n_scalars, latent_dim=4, hidden=(8,)))
    outputs = model(x, torch.randn(len(x), 4))
    scalars, spans = nll_parts(outputs[0], x, outputs[1], layout)
    assert float(scalars.abs().min()) > 0 and float(spans.min()) > 0  # both parts present
    plain, weighted = TrainConfig(), TrainConfig(scalar_weight=0.2)
    for terms in (objective(outputs, x, layout, plain),
                  row_objective(outputs, x, layout, plain)):
        torch.testing.assert_close(terms.recon.sum() / terms.recon.numel(),
                                   (scalars + spans).mean())
    full, part = objective(outputs, x, layout, plain), objective(outputs, x, layout, weighted)
    torch.testing.assert_close(full.recon, part.recon)
    torch.testing.assert_close(full.loss - part.loss, 2.0 * 0.8 * scalars.mean())
    rows = row_objective(outputs, x, layout, weighted)
    torch.testing.assert_close(rows.loss - rows.kl, 2.0 * (spans + 0.2 * scalars))


def test_dp_fits_weigh_the_numbers_nll_down_and_plain_fits_do_not(tmp_path):
    """Under DP-SGD the scalars' gradients used to fill each row's clipped norm (see
    synthvae.params.DP_SCALAR_WEIGHT); a plain fit keeps the likelihood's own weights. The
    weight is saved with the model."""
    from synthvae.params import DP_SCALAR_WEIGHT

    plain = Synthesizer(epochs=1, verbose=False).fit(correlated(200))
    private = Synthesizer(epochs=1, verbose=False, epsilon=5.0).fit(correlated(200))
    assert plain.train_config_.scalar_weight == 1.0
    assert private.train_config_.scalar_weight == DP_SCALAR_WEIGHT < 1.0
    loaded = Synthesizer.load(private.save(tmp_path / "m.safetensors"))
    assert loaded.train_config_.scalar_weight == DP_SCALAR_WEIGHT


def test_beta_defaults_to_half_and_an_explicit_value_is_kept():
    default = Synthesizer(epochs=1, verbose=False).fit(correlated(200))
    explicit = Synthesizer(epochs=1, verbose=False, beta=1.0).fit(correlated(200))
    assert default.beta is None and default.train_config_.beta == 0.5
    assert explicit.beta == 1.0 and explicit.train_config_.beta == 1.0


def test_cli_flags_reach_the_saved_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    correlated(300).to_csv("data.csv", index=False)
    runner = CliRunner()
    result = runner.invoke(app, ["fit", "data.csv", "--epochs", "2", "-q", "--beta", "0.25",
                                 "--kl-anneal", "linear", "--kl-anneal-epochs", "3",
                                 "--free-bits", "0.05"])
    assert result.exit_code == 0, result.output
    config = json.loads(runner.invoke(app, ["info", "--json"]).output)["train_config"]
    assert (config["beta"], config["kl_anneal"], config["kl_anneal_epochs"],
            config["free_bits"]) == (0.25, "linear", 3, 0.05)


def test_cli_refuses_an_unknown_schedule_in_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    correlated(100).to_csv("data.csv", index=False)
    result = CliRunner().invoke(app, ["fit", "data.csv", "-q", "--kl-anneal", "cosine"])
    assert result.exit_code == 1
    assert "'kl_anneal'" in result.output and "Traceback" not in result.output


def test_span_cross_entropy_and_its_gradient_match_a_per_span_log_softmax():
    # The loss of the softmax spans is one autograd function with a hand-written gradient:
    # its value and gradient must equal a span-by-span log_softmax, also for a row that holds
    # no slot of a span (an unseen category: that span adds nothing), with few spans and with
    # many (the two group_max paths), and a second backward pass (Opacus' ghost clipping
    # takes two) must give the same gradient.
    from synthvae.losses import reconstruction_nll
    from synthvae.transforms.spans import Span, SpanKind

    generator = torch.Generator().manual_seed(3)
    for n_spans in (4, 50):
        widths = [1 + i % 7 for i in range(n_spans)]
        layout = SpanLayout.from_spans(
            [Span("v", SpanKind.SCALAR, 1, "value")]
            + [Span(f"c{i}", SpanKind.SOFTMAX, w, "category") for i, w in enumerate(widths)])
        rows = 6
        hot = (torch.rand(rows, n_spans, generator=generator) * torch.tensor(widths)).long()
        targets = [torch.nn.functional.one_hot(hot[:, g], w).float()
                   for g, w in enumerate(widths)]
        targets[1][0] = 0.0  # row 0 holds no category of span 1
        x = torch.cat([torch.rand(rows, 1, generator=generator)] + targets, 1)
        logits = (torch.randn(rows, layout.width, generator=generator) * 15).requires_grad_()
        sigma = torch.tensor([0.4])
        weights = torch.randn(rows, generator=generator)

        nll = reconstruction_nll(logits, x, sigma, layout)
        (gradient,) = torch.autograd.grad((nll * weights).sum(), logits, retain_graph=True)
        (again,) = torch.autograd.grad((nll * weights).sum(), logits)

        parts = torch.split(logits[:, 1:], widths, dim=1)
        mean = torch.tanh(logits[:, 0])
        expected = (0.5 * ((x[:, 0] - mean) / sigma) ** 2 + torch.log(sigma)
                    + 0.5 * np.log(2 * np.pi))
        expected = expected - sum((torch.log_softmax(p, 1) * t).sum(1)
                                  for p, t in zip(parts, targets))
        (expected_gradient,) = torch.autograd.grad((expected * weights).sum(), logits)
        assert torch.allclose(nll, expected, rtol=1e-5, atol=1e-4)
        assert torch.allclose(gradient, expected_gradient, atol=1e-5)
        assert torch.equal(gradient, again)


def test_span_cross_entropy_refuses_a_second_order_derivative_instead_of_a_wrong_one():
    # With a scalar span the gradient has a graph (through tanh); the softmax spans' part of
    # a second derivative must raise, not come out as zeros.
    from synthvae.losses import reconstruction_nll
    from synthvae.transforms.spans import Span, SpanKind

    layout = SpanLayout.from_spans([Span("v", SpanKind.SCALAR, 1, "value"),
                                    Span("c", SpanKind.SOFTMAX, 3, "category")])
    logits = torch.randn(1, 4, requires_grad=True)
    x = torch.tensor([[0.2, 0.0, 1.0, 0.0]])
    nll = reconstruction_nll(logits, x, torch.tensor([0.5]), layout)
    with pytest.raises(RuntimeError, match="differentiable once"):
        torch.autograd.grad(nll.sum(), logits, create_graph=True)
    (gradient,) = torch.autograd.grad(nll.sum(), logits)  # a first derivative is fine
    assert gradient.shape == logits.shape

"""A fit is all or nothing, and a failure after training loses nothing it need not lose.

A failed fit (or refit) leaves the Synthesizer exactly as it was: the previous model keeps
sampling the same rows, an object never fitted stays unfitted. A failure in a step after
training that the model can do without (diagnostics, drift profile, calibration) is a
warning, and the fitted model works; a failure in the latent prior fails the fit cleanly.
"""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from synthvae import NotFittedError, Synthesizer, SynthvaeError, TrainingError

DIVERGING_LR = 1e30  # the loss becomes NaN within two epochs


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"amount": rng.lognormal(3, 1, 300),
                         "kind": rng.choice(["a", "b", "c"], 300),
                         "age": rng.integers(18, 90, 300)})


def fitted(table, **params) -> Synthesizer:
    return Synthesizer(epochs=2, verbose=False, **params).fit(table)


def fitted_state(synth) -> dict:
    return {k: v for k, v in vars(synth).items() if k.endswith("_")}


def fail_with(exc):
    def fail(*args, **kwargs):
        raise exc
    return fail


def test_failed_refit_keeps_the_previous_model(table):
    synth = fitted(table)
    before, state = synth.sample(50, seed=1), fitted_state(synth)
    synth.lr = DIVERGING_LR
    with pytest.raises(TrainingError, match="Lower the learning rate"):
        synth.fit(table)
    after = synth.sample(50, seed=1)
    assert after.notna().all().all(), "rows from broken weights with the old prior"
    pd.testing.assert_frame_equal(after, before)
    assert all(getattr(synth, k) is v for k, v in state.items())


def test_failed_first_fit_leaves_an_unfitted_synthesizer(table, tmp_path):
    synth = Synthesizer(epochs=2, lr=DIVERGING_LR, verbose=False)
    with pytest.raises(TrainingError):
        synth.fit(table)
    assert fitted_state(synth) == {}
    with pytest.raises(NotFittedError, match="call fit"):
        synth.sample(5)
    with pytest.raises(NotFittedError):
        synth.save(tmp_path / "m.safetensors")


def test_failed_fit_parquet_keeps_the_previous_model(table, tmp_path):
    pytest.importorskip("pyarrow")
    table.to_parquet(tmp_path / "t.parquet")
    synth = fitted(table)
    before = synth.sample(50, seed=1)
    synth.lr = DIVERGING_LR
    with pytest.raises(TrainingError):
        synth.fit_parquet(tmp_path / "t.parquet", sample_rows=200)
    pd.testing.assert_frame_equal(synth.sample(50, seed=1), before)
    assert "streamed" not in synth.training_summary_


def test_failed_private_refit_keeps_the_previous_model_and_ledger(table):
    synth = fitted(table, epsilon=5.0)
    ledger, before = synth.privacy_, synth.sample(50, seed=1)
    synth.lr = DIVERGING_LR
    with pytest.raises(TrainingError):
        synth.fit(table)
    assert synth.privacy_ is ledger
    pd.testing.assert_frame_equal(synth.sample(50, seed=1), before)


def test_successful_refit_replaces_all_fitted_state(table):
    synth = fitted(table)
    synth.sample(20, conditions={"kind": "a"})
    assert hasattr(synth, "conditional_effective_sizes_")
    old_model = synth.model_
    synth.fit(table.head(200))
    assert synth.model_ is not old_model and synth.training_summary_["rows"] == 200
    assert not hasattr(synth, "conditional_effective_sizes_")


def test_failed_diagnostics_warn_and_the_model_is_usable(table, tmp_path, monkeypatch):
    import synthvae.diagnostics
    from synthvae import PostTrainingWarning
    from synthvae.persistence import model_info

    monkeypatch.setattr(synthvae.diagnostics, "training_diagnostics",
                        fail_with(TypeError("boolean value of NA is ambiguous")))
    with pytest.warns(PostTrainingWarning, match="Training diagnostics failed.*NA"):
        synth = fitted(table)
    assert synth.diagnostics_ is None
    assert "boolean value of NA" in synth.training_summary_["failed_steps"]["training diagnostics"]
    assert len(synth.sample(100)) == 100
    synth.save(tmp_path / "m.safetensors")
    note = model_info(tmp_path / "m.safetensors")["diagnostics_note"]
    assert "failed after training (TypeError: boolean value of NA" in note
    loaded = Synthesizer.load(tmp_path / "m.safetensors")
    pd.testing.assert_frame_equal(loaded.sample(30, seed=2), synth.sample(30, seed=2))


def test_failed_calibration_and_drift_profile_warn_and_sampling_works(table, monkeypatch):
    import synthvae.calibration
    import synthvae.monitoring
    from synthvae import ConfigError, PostTrainingWarning

    monkeypatch.setattr(synthvae.calibration, "fit_logit_offsets", fail_with(MemoryError()))
    monkeypatch.setattr(synthvae.monitoring, "reference_profile",
                        fail_with(ValueError("bad latents")))
    with pytest.warns(PostTrainingWarning) as caught:
        synth = fitted(table)
    assert {"marginal calibration", "the drift profile"} <= set(
        synth.training_summary_["failed_steps"])
    assert any("uncalibrated" in str(w.message) for w in caught)
    assert synth.logit_offsets_ is None and synth.monitoring_ is None
    assert synth.sample(100).notna().all().all()
    with pytest.raises(ConfigError, match="pass reference rows"):
        synth.drift(table)


def test_failed_prior_fails_the_fit_and_keeps_the_previous_state(table, monkeypatch):
    from synthvae.prior import MixturePrior

    synth = fitted(table)
    before, state = synth.sample(50, seed=1), fitted_state(synth)
    monkeypatch.setattr(MixturePrior, "fit", fail_with(RuntimeError("singular covariance")))
    with pytest.raises(SynthvaeError, match="latent prior failed.*singular covariance"):
        synth.fit(table)
    assert all(getattr(synth, k) is v for k, v in state.items())
    pd.testing.assert_frame_equal(synth.sample(50, seed=1), before)
    with pytest.raises(TrainingError):
        Synthesizer(epochs=2, verbose=False).fit(table)


def test_diagnostics_warnings_pass_through_when_made_errors(table, monkeypatch):
    import warnings

    import synthvae.diagnostics
    from synthvae import PosteriorCollapseWarning

    def collapse(*args):
        warnings.warn("Posterior collapse", PosteriorCollapseWarning)

    monkeypatch.setattr(synthvae.diagnostics, "check_collapse", collapse)
    synth = Synthesizer(epochs=1, verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PosteriorCollapseWarning)
        with pytest.raises(PosteriorCollapseWarning):
            synth.fit(table)
    assert fitted_state(synth) == {}


def test_cli_fit_survives_failed_diagnostics_and_reports_failed_prior_in_one_line(
        table, tmp_path, monkeypatch):
    import synthvae.diagnostics
    from cli.main import app
    from synthvae.prior import MixturePrior

    monkeypatch.chdir(tmp_path)
    table.to_csv("data.csv", index=False)
    runner = CliRunner()
    monkeypatch.setattr(synthvae.diagnostics, "training_diagnostics",
                        fail_with(TypeError("boolean value of NA is ambiguous")))
    result = runner.invoke(app, ["fit", "data.csv", "--epochs", "2", "-q", "-o", "a.st"])
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and (tmp_path / "a.st").exists()
    monkeypatch.setattr(MixturePrior, "fit", fail_with(RuntimeError("singular covariance")))
    result = runner.invoke(app, ["fit", "data.csv", "--epochs", "2", "-q", "-o", "b.st"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "error:" in result.output and "latent prior" in result.output
    assert "No model was written" in result.output and not (tmp_path / "b.st").exists()


def fit_failing_after_a_checkpoint(table, tmp_path, monkeypatch):
    """(runner, fit arguments, result) of a CLI fit in ``tmp_path`` whose latent prior
    fails after training, keeping its checkpoint ``m.st.ckpt``."""
    from cli.main import app
    from synthvae.prior import MixturePrior

    monkeypatch.chdir(tmp_path)
    table.to_csv("data.csv", index=False)
    fit = ["fit", "data.csv", "--epochs", "2", "--checkpoint-every", "1", "-q", "-o", "m.st"]
    runner = CliRunner()
    with monkeypatch.context() as patch:
        patch.setattr(MixturePrior, "fit", fail_with(RuntimeError("singular covariance")))
        return runner, fit, runner.invoke(app, fit)


def test_cli_keeps_the_training_for_resume_when_the_prior_fails(table, tmp_path, monkeypatch):
    from cli.main import app

    runner, fit, result = fit_failing_after_a_checkpoint(table, tmp_path, monkeypatch)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "--resume" in result.output and (tmp_path / "m.st.ckpt").exists()
    result = runner.invoke(app, fit + ["--resume"])
    assert result.exit_code == 0, result.output
    assert "(2 epochs" in result.output and not (tmp_path / "m.st.ckpt").exists()
    assert Synthesizer.load(tmp_path / "m.st").training_summary_["epochs_run"] == 2


def test_a_damaged_checkpoint_is_refused_on_resume(table, tmp_path, monkeypatch):
    from cli.main import app
    from test_persistence import flip_one_weight_byte

    runner, fit, result = fit_failing_after_a_checkpoint(table, tmp_path, monkeypatch)
    assert result.exit_code == 1
    flip_one_weight_byte(tmp_path / "m.st.ckpt")
    result = runner.invoke(app, fit + ["--resume"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "damaged: its checkpoint file does not match" in result.output


# ------------------------------------------------------------- resuming an interrupted fit

RESUMED = dict(epochs=3, verbose=False, n_threads=1)


def interrupted_at(epoch: int):
    """A stand-in for persistence.save_checkpoint that writes, then stops the fit (Ctrl-C)
    once the checkpoint of ``epoch`` is on disk."""
    from synthvae import persistence

    real_save = persistence.save_checkpoint

    def save_then_stop(synth, state, path, identity):
        real_save(synth, state, path, identity)
        if state.epoch == epoch:
            raise KeyboardInterrupt

    return save_then_stop


@pytest.fixture(scope="module")
def interrupted(table, tmp_path_factory):
    """The checkpoint of a fit of ``table`` with RESUMED options, stopped after epoch 1."""
    from synthvae import persistence

    checkpoint = tmp_path_factory.mktemp("resume") / "fit.ckpt"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(persistence, "save_checkpoint", interrupted_at(1))
        with pytest.raises(KeyboardInterrupt):
            Synthesizer(**RESUMED).fit(table, checkpoint=checkpoint, checkpoint_every=1)
    return checkpoint


@pytest.mark.parametrize("name", ["max_categories", "discrete_threshold", "min_mode_rows",
                                  "mixture_max_rows", "categorical_threshold"])
def test_resume_refuses_a_changed_transform_option_naming_both_values(table, interrupted,
                                                                       name):
    """These options shape the column transforms, which a resume takes from the checkpoint:
    accepting a new value would silently ignore it (they used to be accepted)."""
    from synthvae import ConfigError

    before = Synthesizer().get_params()[name]
    with pytest.raises(ConfigError, match=f"parameter '{name}' differs from the interrupted "
                                          f"fit \\({before!r} then, {before + 1!r} now\\)"):
        Synthesizer(**RESUMED, **{name: before + 1}).fit(table, checkpoint=interrupted,
                                                         resume=True)


def test_resume_refuses_a_changed_schema_naming_the_column(table, interrupted):
    """Bounds declared only for the resume used to be accepted and ignored: sampled ages
    fell outside them."""
    from synthvae import ConfigError

    schema = {"columns": [{"name": "age", "kind": "continuous", "min": 30, "max": 50}]}
    with pytest.raises(ConfigError, match="parameter 'schema' differs from the interrupted "
                                          "fit \\(column 'age' not declared then, .*'min': 30, "
                                          "'max': 50.* now\\)"):
        Synthesizer(**RESUMED, schema=schema).fit(table, checkpoint=interrupted, resume=True)


def test_resume_refuses_the_same_rows_in_another_order(table, interrupted):
    """The held-out rows and batches follow the row order: shuffled rows used to resume into
    a model equal to neither uninterrupted fit."""
    from synthvae import DataError

    shuffled = table.sample(frac=1, random_state=1).reset_index(drop=True)
    with pytest.raises(DataError, match="same rows in another order"):
        Synthesizer(**RESUMED).fit(shuffled, checkpoint=interrupted, resume=True)


def test_resume_with_the_same_options_continues(table, interrupted, tmp_path):
    """What the checks leave possible: same table, same options (the run-only ones may
    change) resume to the uninterrupted fit."""
    import shutil

    checkpoint = shutil.copy(interrupted, tmp_path / "fit.ckpt")
    whole = Synthesizer(**RESUMED).fit(table)
    resumed = Synthesizer(**dict(RESUMED, verbose=True, n_threads=None)).fit(
        table, checkpoint=checkpoint, resume=True)
    pd.testing.assert_frame_equal(resumed.sample(100, seed=3), whole.sample(100, seed=3))


@pytest.fixture(scope="module")
def uninterrupted(table) -> Synthesizer:
    """The fit ``interrupted`` was stopped in, run to its end."""
    return Synthesizer(**RESUMED).fit(table)


# What the fit of ``table`` with RESUMED options resolved each parameter left at None to
# (kl_anneal_epochs: nothing, without a KL schedule; loss_factor: 2.0 given as a whole number).
RESOLVED = {"lr": lambda fit: fit.train_config_.lr, "beta": lambda fit: fit.train_config_.beta,
            "batch_size": lambda fit: fit.train_config_.batch_size,
            "latent_dim": lambda fit: fit.model_config_.latent_dim,
            "latent_swap": lambda fit: fit.model_config_.latent_swap,
            "decoder": lambda fit: fit.decoder_, "seed": lambda fit: None,
            "kl_anneal_epochs": lambda fit: 7, "loss_factor": lambda fit: 2}


@pytest.mark.parametrize("name", sorted(RESOLVED))
def test_resume_accepts_a_parameter_given_as_the_value_it_resolved_to(
        table, interrupted, uninterrupted, tmp_path, name):
    """A fit started with lr=None (resolved to 1e-3) used to refuse a resume with lr=1e-3
    ("'lr' differs ... unset then, 0.001 now") although the fit is the same."""
    import shutil

    checkpoint = shutil.copy(interrupted, tmp_path / "fit.ckpt")
    value = RESOLVED[name](uninterrupted)
    resumed = Synthesizer(**RESUMED, **{name: value}).fit(table, checkpoint=checkpoint,
                                                          resume=True)
    pd.testing.assert_frame_equal(resumed.sample(100, seed=3),
                                  uninterrupted.sample(100, seed=3))


def test_resume_accepts_epochs_given_as_the_automatic_count(table, tmp_path):
    """epochs=None trains for a count set from the table size; giving that count on resume
    is the same fit. The resumed fit is stopped after its next epoch (the count is 300)."""
    from synthvae import persistence

    checkpoint = tmp_path / "fit.ckpt"
    automatic = dict(RESUMED, epochs=None)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(persistence, "save_checkpoint", interrupted_at(1))
        with pytest.raises(KeyboardInterrupt):
            Synthesizer(**automatic).fit(table, checkpoint=checkpoint, checkpoint_every=1)
        epochs = persistence.load_checkpoint(checkpoint)[0]["train_config"]["epochs"]
        patch.setattr(persistence, "save_checkpoint", interrupted_at(2))
        with pytest.raises(KeyboardInterrupt):  # not a ConfigError: it trained on
            Synthesizer(**dict(automatic, epochs=epochs)).fit(
                table, checkpoint=checkpoint, checkpoint_every=1, resume=True)
    state = persistence.load_checkpoint(checkpoint)[0]
    assert (state["epoch"], state["train_config"]["epochs"]) == (2, epochs)


@pytest.mark.parametrize("change, shown", [
    ({"lr": 2e-3}, "'lr' differs from the interrupted fit (0.001 by default then, 0.002 now)"),
    ({"beta": 1.0}, "'beta' differs from the interrupted fit (0.5 by default then, 1.0 now)"),
    ({"epochs": None}, "'epochs' differs from the interrupted fit (3 then, 300 by default now)"),
])
def test_resume_refuses_a_parameter_that_resolves_otherwise_naming_both_values(
        table, interrupted, change, shown):
    """Compared as resolved, a real change is still refused, with the value a parameter
    left at None resolved to (it used to say "unset")."""
    from synthvae import ConfigError

    with pytest.raises(ConfigError) as caught:
        Synthesizer(**dict(RESUMED, **change)).fit(table, checkpoint=interrupted, resume=True)
    assert shown in str(caught.value)


def test_cli_interrupt_says_which_epoch_the_checkpoint_holds(table, tmp_path, monkeypatch):
    """Ctrl-C after a checkpoint used to say "nothing was written" although MODEL.ckpt was
    there to resume from."""
    from cli.main import app
    from synthvae import persistence

    monkeypatch.chdir(tmp_path)
    table.to_csv("data.csv", index=False)
    fit = ["fit", "data.csv", "--epochs", "3", "--checkpoint-every", "1", "-q", "-o", "m.st"]
    with monkeypatch.context() as patch:
        patch.setattr(persistence, "save_checkpoint", interrupted_at(2))
        result = CliRunner().invoke(app, fit)
    assert result.exit_code == 130 and "nothing was written" not in result.output
    assert "the checkpoint m.st.ckpt holds epoch 2 of 3; resume with --resume" in \
        " ".join(result.output.split()).lower()
    result = CliRunner().invoke(app, fit + ["--resume"])
    assert result.exit_code == 0, result.output
    assert Synthesizer.load(tmp_path / "m.st").training_summary_["epochs_run"] == 3


def test_cli_interrupt_says_when_the_checkpoint_cannot_be_resumed_from(table, tmp_path,
                                                                       monkeypatch):
    """A damaged checkpoint lies where a fresh --checkpoint-every fit would write; Ctrl-C
    before that fit's first checkpoint leaves it there: the message says it cannot be
    resumed from, and why, in one line, instead of offering --resume."""
    from cli.main import app
    from synthvae import persistence
    from test_persistence import flip_one_weight_byte

    monkeypatch.chdir(tmp_path)
    table.to_csv("data.csv", index=False)
    fit = ["fit", "data.csv", "--epochs", "3", "--checkpoint-every", "1", "-q", "-o", "m.st"]
    with monkeypatch.context() as patch:
        patch.setattr(persistence, "save_checkpoint", interrupted_at(1))
        assert CliRunner().invoke(app, fit).exit_code == 130
    flip_one_weight_byte(tmp_path / "m.st.ckpt")
    with monkeypatch.context() as patch:
        patch.setattr(persistence, "save_checkpoint", fail_with(KeyboardInterrupt()))
        result = CliRunner().invoke(app, fit)
    assert result.exit_code == 130 and "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("interrupted; no model was written. The checkpoint m.st.ckpt "
                               "cannot be resumed from: 'm.st.ckpt' is damaged: its "
                               "checkpoint file does not match the checksum"), lines[0]
    assert "--resume" not in lines[0]

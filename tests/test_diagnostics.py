"""Training diagnostics as a user meets them: present and sane after a fit, a warning when the
posterior collapses, nothing computed from private rows under DP, kept in the model file and
shown by ``synthvae info``."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app
from conftest import rewrite_model_state
from synthvae import ModelFileError, PosteriorCollapseWarning, Synthesizer, SynthvaeWarning
from synthvae.diagnostics import normalized_error

# Small and quick, but long enough to use its latents. The factorized decoder: it must carry
# the columns' dependence through the latents (the autoregressive one leans on them less, so
# a short fit reconstructs less through them; see docs/training.md#the-decoder-decoder). 20 epochs:
# with the two or three modes 1,000 rows now get (min_mode_rows), 10 reconstructed `c` from
# the latents at 58 % accuracy, 20 at 70 % (10 modes each: 73 % after 10).
LEARNS = dict(epochs=20, batch_size=100, latent_dim=16, hidden=(64, 64), seed=0,
              verbose=False, decoder="factorized")


def correlated(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    return pd.DataFrame({"a": a, "b": 2 * a + rng.normal(scale=0.1, size=n),
                         "c": np.where(a + rng.normal(scale=0.3, size=n) > 0, "hi", "lo"),
                         "id": [f"r{i}" for i in range(n)]})


@pytest.fixture(scope="module")
def learned():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        synth = Synthesizer(**LEARNS).fit(correlated())
    return synth, [w for w in caught if issubclass(w.category, SynthvaeWarning)]


def test_a_fit_that_uses_its_latents_reports_them_and_does_not_warn(learned):
    synth, caught = learned
    found = synth.diagnostics_
    assert caught == []
    assert not found["collapsed"]
    assert found["rows_from"] == "held-out" and found["rows"] == 100
    assert len(found["kl_per_dim"]) == found["latent_dim"] == 16
    assert found["kl_total"] == pytest.approx(sum(found["kl_per_dim"]), rel=1e-4)
    assert 1 < found["active_units"] <= 16
    # "id" is detected as an identifier: generated, not learned, so no figure for it
    assert set(found["columns"]) == {"a", "b", "c"}
    assert found["columns"]["c"]["metric"] == "accuracy"
    assert found["columns"]["c"]["value"] > 0.6  # better than the 50 % chance of a coin
    assert found["columns"]["a"]["metric"] == "error" and found["columns"]["a"]["value"] >= 0


def test_posterior_collapse_is_warned_about_with_what_to_do():
    with pytest.warns(PosteriorCollapseWarning, match="0 of 16 latent dimensions active.*beta"):
        synth = Synthesizer(**dict(LEARNS, epochs=5, beta=50.0)).fit(correlated())
    assert synth.diagnostics_["collapsed"] and synth.diagnostics_["kl_total"] < 0.1


def test_a_period_column_is_diagnosed_like_a_datetime():
    """Every fit with a column of Periods warned "Training diagnostics failed after training
    (DataError: Column 'month' is a datetime, but Period('2005-04', 'M') does not match
    it.)" and kept no diagnostics: the rebuilt rows were Periods, not datetimes."""
    months = pd.Series(pd.period_range("2000-01", periods=120, freq="M"))
    df = pd.DataFrame({"month": months.sample(300, replace=True, random_state=0).to_numpy(),
                       "x": np.arange(300.0)})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        synth = Synthesizer(epochs=3, verbose=False, n_threads=1).fit(df)
    assert not [w for w in caught if "diagnostics failed" in str(w.message)]
    assert synth.diagnostics_["columns"]["month"]["metric"] == "error"


def test_normalized_error_is_in_standard_deviations_and_skips_empty_cells():
    real = np.array([0.0, 2.0, np.nan, 4.0])
    back = np.array([1.0, 2.0, 5.0, np.nan])
    assert normalized_error(real, back) == pytest.approx(0.5 / np.std([0.0, 2.0, 4.0]))
    assert normalized_error(np.array([np.nan]), np.array([1.0])) is None


def test_diagnostics_survive_save_and_load_and_info_shows_them(learned, tmp_path):
    synth, _ = learned
    path = synth.save(tmp_path / "m.safetensors")
    assert Synthesizer.load(path).diagnostics_ == synth.diagnostics_
    runner = CliRunner()
    shown = runner.invoke(app, ["info", str(path)])
    assert shown.exit_code == 0, shown.output
    text = flat(shown.output)
    assert f"{synth.diagnostics_['active_units']} of 16 latent dimensions active" in text
    assert f"{synth.diagnostics_['columns']['c']['value']:.1%} exact" in text and " std" in text
    details = json.loads(runner.invoke(app, ["info", str(path), "--json"]).output)
    assert details["diagnostics"] == synth.diagnostics_ and details["diagnostics_note"] is None


def flat(text: str) -> str:
    """Terminal output with the line wrapping undone."""
    return " ".join(text.split())


def test_models_saved_before_diagnostics_still_load_and_say_so(learned, tmp_path):
    path = learned[0].save(tmp_path / "old.safetensors")
    rewrite_model_state(path, lambda state: state.pop("diagnostics"))
    assert Synthesizer.load(path).diagnostics_ is None
    shown = CliRunner().invoke(app, ["info", str(path)])
    assert "Training diagnostics: none: saved by a synthvae without" in flat(shown.output)


def test_tampered_diagnostics_are_refused(learned, tmp_path):
    path = learned[0].save(tmp_path / "bad.safetensors")
    rewrite_model_state(path, lambda state: state["diagnostics"].update(kl_per_dim=[0.1, 0.2]))
    with pytest.raises(ModelFileError, match="invalid training diagnostics"):
        Synthesizer.load(path)
    assert CliRunner().invoke(app, ["info", str(path)]).exit_code == 1


def test_nothing_is_computed_from_private_rows_and_info_says_why(tmp_path):
    from conftest import EXAMPLE_ADULT

    pd.read_csv(EXAMPLE_ADULT).to_csv(tmp_path / "adult.csv", index=False)
    model = tmp_path / "dp.safetensors"
    runner = CliRunner()
    fitted = runner.invoke(app, ["fit", str(tmp_path / "adult.csv"), "-o", str(model),
                                 "--epochs", "1", "--epsilon", "5", "-q"])
    assert fitted.exit_code == 0, fitted.output
    assert Synthesizer.load(model).diagnostics_ is None
    shown = runner.invoke(app, ["info", str(model)])
    assert "Training diagnostics: none: trained with differential privacy" in flat(shown.output)

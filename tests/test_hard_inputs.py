"""Messy tables: each gives a correct synthetic table or a one-line SynthvaeError naming the
column and the problem. The matrix is documented in docs/reliability.md."""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.pandas import column, data_frames, range_indexes
from typer.testing import CliRunner

from cli.main import app
from conftest import resigned, rewrite_model_state
from synthvae import ColumnKind, DataError, SchemaError, Synthesizer, SynthvaeError
from synthvae.schema import detect_column

runner = CliRunner()


def fit_sample(df: pd.DataFrame, n: int = 50) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = Synthesizer(epochs=1, verbose=False, prior_components=2).fit(df).sample(n, seed=0)
    assert list(out.columns) == list(df.columns)
    assert out.dtypes.to_dict() == df.dtypes.to_dict()
    return out


def cli_error(tmp_path, name: str, content: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(content)
    result = runner.invoke(app, ["fit", str(path), "-q", "--epochs", "1",
                                 "-o", str(tmp_path / "m.safetensors")])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and result.output.startswith("error:")
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "m.safetensors").exists()
    return result.output


def test_one_row_table():
    out = fit_sample(pd.DataFrame({"a": [1.5], "b": ["x"]}))
    assert (out["a"] == 1.5).all() and (out["b"] == "x").all()


def test_column_all_empty_and_constant_column():
    df = pd.DataFrame({"empty": [np.nan] * 40, "const": ["k"] * 40,
                       "v": np.arange(40, dtype=float)})
    out = fit_sample(df)
    assert out["empty"].isna().all() and (out["const"] == "k").all()


def test_a_table_with_nothing_to_model_fits_and_samples_without_warnings(tmp_path):
    """Only a constant and an identifier: no torch warning about empty layers, and no
    posterior-collapse advice to train longer, at fit, sample or load."""
    df = pd.DataFrame({"const": ["k"] * 50 + [None] * 10, "id": range(60)})  # a null span
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        synth = Synthesizer(epochs=2, verbose=False).fit(df)
        out = synth.sample(5, seed=0)
        synth.save(tmp_path / "m.safetensors")
        again = Synthesizer.load(tmp_path / "m.safetensors").sample(5, seed=0)
    assert set(out["const"].dropna()) <= {"k"} and out["id"].min() >= 60  # new identifiers
    pd.testing.assert_frame_equal(out, again)


def test_integers_float64_cannot_tell_apart_are_refused_naming_the_column():
    rng = np.random.default_rng(0)
    codes = np.int64(2**60) + 3 * np.arange(20, dtype=np.int64)  # 20 codes, one float64
    with pytest.raises(DataError, match=r"Column 'code' holds integers beyond 2\*\*53 .* "
                                        r"its 20 distinct values would come back as 1\. "
                                        r"Convert it to text"):
        Synthesizer(verbose=False).fit(pd.DataFrame({"code": rng.choice(codes, 300),
                                                     "v": rng.normal(size=300)}))
    stamps = np.int64(1_600_000_000_000_000_000) + rng.integers(0, 10**15, 300)
    out = fit_sample(pd.DataFrame({"ns": stamps, "v": rng.normal(size=300)}))  # kept apart
    assert out["ns"].between(stamps.min(), stamps.max()).all()
    hour = np.int64(1_700_000_000_000_000_000) + rng.integers(0, 3_600 * 10**9, 200_000)
    assert len(np.unique(hour.astype(np.float64))) < len(np.unique(hour))  # a few merge
    assert detect_column(pd.Series(hour, name="ns")).kind is ColumnKind.CONTINUOUS


def test_infinite_values_are_refused_naming_the_column():
    with pytest.raises(DataError, match="'v'.*infinite"):
        Synthesizer(verbose=False).fit(pd.DataFrame({"v": [1.0, -np.inf] * 30}))


def test_mixed_types_in_one_column_are_categorical():
    df = pd.DataFrame({"mixed": ["a", 1, 2.5, "b"] * 20, "v": np.arange(80.0)})
    out = fit_sample(df)
    assert set(map(str, out["mixed"])) <= {"a", "1", "2.5", "b"}


def test_duplicate_and_non_string_column_names():
    with pytest.raises(SchemaError, match="'a' appears more than once"):
        Synthesizer().fit(pd.DataFrame([[1, 2]] * 5, columns=["a", "a"]))
    with pytest.raises(SchemaError, match="must be strings"):
        Synthesizer().fit(pd.DataFrame({1: [1.0, 2.0]}))
    wide = pd.DataFrame([[1.0, 2.0]] * 5, columns=pd.MultiIndex.from_tuples([("a", 1), ("b", 2)]))
    with pytest.raises(SchemaError, match=r"\('a', 1\) is of type tuple.*df.columns = "
                                          r"\['_'.join") as refused:
        Synthesizer().fit(wide)
    assert "['_'.join(map(str, c)) for c in df.columns]" in str(refused.value)
    wide.columns = ['_'.join(map(str, c)) for c in wide.columns]  # the advice, as given, works
    assert len(Synthesizer(epochs=1, verbose=False).fit(wide).sample(3)) == 3


def test_unicode_names_and_values():
    df = pd.DataFrame({"größe 📏": np.linspace(1, 2, 60), "città": ["Zürich", "東京", "São"] * 20})
    out = fit_sample(df)
    assert set(out["città"]) <= {"Zürich", "東京", "São"}


def test_column_with_100000_distinct_values_is_capped():
    n = 100_000
    df = pd.DataFrame({"code": [f"c{i}" for i in np.random.default_rng(0).integers(0, 10**9, n)],
                       "v": np.random.default_rng(1).normal(size=n)})
    df.loc[::2, "code"] = "common"  # not unique: a real high-cardinality categorical
    with pytest.warns(UserWarning, match="'code' has"):
        synth = Synthesizer(epochs=1, verbose=False, prior_components=2).fit(df)
    assert synth.transformer_.output_width_ < 400
    assert len(synth.sample(100, seed=0)) == 100


def test_huge_integers_keep_their_dtype():
    base = 2**62
    df = pd.DataFrame({"big": base + np.arange(0, 300 * 1000, 1000, dtype=np.int64) * 7919})
    out = fit_sample(df)
    assert out["big"].dtype == np.int64 and out["big"].min() >= df["big"].min()


def test_uint64_beyond_int64_is_kept_or_refused_cleanly():
    df = pd.DataFrame({"u": np.array([2**63 + i * 10**6 for i in range(60)], dtype=np.uint64)})
    out = fit_sample(df)
    assert out["u"].dtype == np.uint64


def test_tz_aware_datetimes():
    df = pd.DataFrame({"t": pd.date_range("2024-03-30", periods=80, freq="7h",
                                          tz="America/New_York")})
    out = fit_sample(df)
    assert str(out["t"].dt.tz) == "America/New_York"


def test_nested_parquet_column_is_refused_naming_it(tmp_path):
    df = pd.DataFrame({"nested": [[1, 2], [3]] * 10, "v": np.arange(20.0)})
    df.to_parquet(tmp_path / "n.parquet")
    output = cli_error(tmp_path, "n2.parquet", (tmp_path / "n.parquet").read_bytes())
    assert "'nested'" in output and "nested" in output


def test_wrong_delimiter_still_gives_a_table(tmp_path):
    path = tmp_path / "semi.csv"
    pd.DataFrame({"a": np.arange(60.0), "b": ["x", "y"] * 30}).to_csv(path, sep=";", index=False)
    result = runner.invoke(app, ["fit", str(path), "-q", "--epochs", "1",
                                 "-o", str(tmp_path / "m.safetensors")])
    assert result.exit_code == 0  # one column named "a;b": modelled as it is, not a crash


def test_not_a_csv_at_all(tmp_path):
    output = cli_error(tmp_path, "binary.csv", bytes(range(256)) * 50)
    assert "Cannot read" in output or "no rows" in output or "column" in output


def test_empty_and_header_only_files(tmp_path):
    assert "is empty" in cli_error(tmp_path, "e.csv", b"")
    assert "no rows" in cli_error(tmp_path, "h.csv", b"a,b\n")


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data_frames(columns=[
    column("num", elements=st.floats(allow_nan=True, allow_infinity=True, width=32)),
    column("txt", elements=st.one_of(st.none(), st.text(max_size=3))),
    column("int", elements=st.integers(-2**40, 2**40)),
    column("flag", elements=st.booleans()),
], index=range_indexes(min_size=1, max_size=40)))
def test_fuzzed_frames_never_raise_anything_but_synthvae_errors(df):
    try:
        fit_sample(df, n=20)
    except SynthvaeError:
        pass


def test_memory_preflight_refuses_before_allocating(monkeypatch):
    import synthvae.preparation as module

    monkeypatch.setattr(module, "available_memory", lambda device: 1000)
    df = pd.DataFrame({"v": np.arange(100.0), "k": ["a", "b"] * 50})
    with pytest.raises(DataError, match=r"needs about .* GiB .*100 rows x .* free"):
        Synthesizer(epochs=1, verbose=False).fit(df)


def test_sigterm_during_fit_leaves_no_model(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from conftest import EXAMPLE_ADULT, ROOT

    model = tmp_path / "m.safetensors"
    proc = subprocess.Popen([sys.executable, "-m", "synthvae", "fit", str(EXAMPLE_ADULT),
                             "--epochs", "300", "--checkpoint-every", "1", "-q",
                             "-o", str(model)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # The first checkpoint says training is under way, however slow the machine is.
    deadline = time.monotonic() + 240
    while not any(tmp_path.glob("*.ckpt")) and proc.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, "fit ended before it could be interrupted"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    # No model, complete or partial: only the checkpoint to resume from is left.
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".ckpt"]


def test_nan_loss_stops_with_a_hint():
    from synthvae import TrainingError

    df = pd.DataFrame({"v": np.linspace(0, 1, 200), "k": ["a", "b"] * 100})
    with pytest.raises(TrainingError, match="Lower the learning rate"):
        Synthesizer(epochs=3, lr=1e30, verbose=False).fit(df)


def test_resume_after_interrupt_equals_uninterrupted_fit(tmp_path, monkeypatch, adult_small):
    import synthvae.persistence as persistence

    df = adult_small.head(600)
    ckpt = tmp_path / "m.ckpt"
    whole = Synthesizer(epochs=6, verbose=False, seed=4).fit(df)
    real_save = persistence.save_checkpoint

    def save_then_die(synth, state, path, fingerprint):
        real_save(synth, state, path, fingerprint)
        if state.epoch == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(persistence, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        Synthesizer(epochs=6, verbose=False, seed=4).fit(df, checkpoint=ckpt,
                                                          checkpoint_every=2)
    monkeypatch.setattr(persistence, "save_checkpoint", real_save)
    resumed = Synthesizer(epochs=6, verbose=False, seed=4).fit(df, checkpoint=ckpt,
                                                               resume=True)
    assert [h["epoch"] for h in resumed.history_] == list(range(1, 7))
    pd.testing.assert_frame_equal(resumed.sample(300, seed=1), whole.sample(300, seed=1))


def test_resume_refuses_other_data_and_options(tmp_path, adult_small):
    from synthvae import ConfigError

    ckpt = tmp_path / "m.ckpt"
    Synthesizer(epochs=2, verbose=False).fit(adult_small.head(300), checkpoint=ckpt,
                                             checkpoint_every=1)
    with pytest.raises(DataError, match="another table"):
        Synthesizer(epochs=2, verbose=False).fit(adult_small.head(200), checkpoint=ckpt,
                                                 resume=True)
    with pytest.raises(ConfigError, match="'lr' differs"):
        Synthesizer(epochs=2, lr=0.01, verbose=False).fit(adult_small.head(300),
                                                          checkpoint=ckpt, resume=True)


def test_resume_from_an_older_checkpoint_names_the_missing_parameter(tmp_path, adult_small):
    """A checkpoint written before a model parameter existed (here: its value inputs) is
    refused with a message that says so, not one that shows the parameter as None."""
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    from synthvae import ConfigError

    ckpt = tmp_path / "m.ckpt"
    Synthesizer(epochs=2, verbose=False).fit(adult_small.head(300), checkpoint=ckpt,
                                             checkpoint_every=1)
    with safe_open(str(ckpt), framework="pt") as handle:
        metadata = handle.metadata()
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    state = json.loads(metadata["state"])
    del state["model_config"]["value_inputs"]
    save_file(tensors, str(ckpt), metadata=resigned(dict(metadata, state=json.dumps(state)),
                                                     tensors))
    with pytest.raises(ConfigError, match="earlier synthvae, which had no parameter 'value_inputs'") as caught:
        Synthesizer(epochs=2, verbose=False).fit(adult_small.head(300), checkpoint=ckpt,
                                                 resume=True)
    assert "None" not in str(caught.value)


def test_a_checkpoint_written_before_tail_modes_resumes_only_as_it_was_fitted(tmp_path):
    """A checkpoint's parameters lacking ``tail_share`` (written before tail modes) crashed
    the resume with a KeyError; its transformer has no tail modes, so it compares as
    ``tail_share=0``: refused at the new default, naming both values, resumed at 0."""
    from synthvae import ConfigError

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=300), "k": rng.choice(list("ab"), 300)})
    ckpt = tmp_path / "m.ckpt"
    Synthesizer(epochs=2, verbose=False).fit(df, checkpoint=ckpt, checkpoint_every=1)
    rewrite_model_state(ckpt, lambda state: state["params"].pop("tail_share"))
    with pytest.raises(ConfigError, match=r"'tail_share' differs from the interrupted fit "
                                          r"\(0\.0 then, 0\.01 now\)"):
        Synthesizer(epochs=2, verbose=False).fit(df, checkpoint=ckpt, resume=True)
    resumed = Synthesizer(epochs=2, tail_share=0, verbose=False).fit(df, checkpoint=ckpt,
                                                                     resume=True)
    assert len(resumed.sample(10, seed=0)) == 10


def test_resume_from_a_checkpoint_written_before_the_scalar_weight(tmp_path, adult_small):
    """Checkpoints written before ``TrainConfig.scalar_weight`` existed trained with weight 1
    (DP fits have no checkpoints): they resume to the uninterrupted fit's model instead of
    being refused for the missing setting."""
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    rows, ckpt = adult_small.head(300), tmp_path / "m.ckpt"
    whole = Synthesizer(epochs=2, seed=0, verbose=False).fit(rows)
    interrupted = Synthesizer(epochs=1, seed=0, verbose=False)
    interrupted.fit(rows, checkpoint=ckpt, checkpoint_every=1)
    with safe_open(str(ckpt), framework="pt") as handle:
        metadata = handle.metadata()
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    state = json.loads(metadata["state"])
    assert state["train_config"].pop("scalar_weight") == 1.0
    state["train_config"]["epochs"] = 2  # as if the 2-epoch fit had stopped after one
    state["params"]["epochs"] = 2
    save_file(tensors, str(ckpt), metadata=resigned(dict(metadata, state=json.dumps(state)),
                                                     tensors))
    resumed = Synthesizer(epochs=2, seed=0, verbose=False).fit(rows, checkpoint=ckpt,
                                                               resume=True)
    assert resumed.train_config_.scalar_weight == 1.0
    pd.testing.assert_frame_equal(resumed.sample(50, seed=3), whole.sample(50, seed=3))


def test_cli_checkpoint_then_resume(tmp_path, monkeypatch, adult_small):
    monkeypatch.chdir(tmp_path)
    adult_small.head(300).to_csv("d.csv", index=False)
    result = runner.invoke(app, ["fit", "d.csv", "--epochs", "2", "-q", "--checkpoint-every", "1"])
    assert result.exit_code == 0 and not (tmp_path / "synthvae-model.safetensors.ckpt").exists()
    result = runner.invoke(app, ["fit", "d.csv", "--resume", "-q"])
    assert result.exit_code == 1 and "No checkpoint" in result.output

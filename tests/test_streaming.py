"""Fitting from Parquet larger than memory, as a user meets it: a file or a folder of files,
a uniform reservoir for the transforms, every row streamed once per epoch, clear refusals."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cli.main import app
from synthvae import ConfigError, DataError, Synthesizer
from synthvae.streaming import ParquetSource


def write_parquet(df, path, row_group_size):
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path,
                   row_group_size=row_group_size)
    return path


@pytest.fixture()
def numbered(tmp_path):
    """10,000 numbered rows in row groups of 1,000."""
    df = pd.DataFrame({"i": np.arange(10_000), "x": np.random.default_rng(0).normal(size=10_000)})
    return write_parquet(df, tmp_path / "numbered.parquet", 1_000)


class FirstColumn:
    """Encodes a row as its number, so a test can see which rows a batch holds."""

    def transform(self, df, seed=None):
        return df[["i"]].to_numpy(np.float32)


def test_reservoir_is_a_uniform_sample_without_repeats(numbered):
    source = ParquetSource(numbered)
    sample = source.reservoir(2_000, seed=1)
    assert len(sample) == 2_000 and sample["i"].is_unique
    # uniform over the file: each tenth of it holds about a tenth of the sample
    counts = np.bincount(sample["i"] // 1_000, minlength=10)
    assert counts.min() > 120 and counts.max() < 280
    pd.testing.assert_frame_equal(sample, source.reservoir(2_000, seed=1))
    assert not sample["i"].equals(source.reservoir(2_000, seed=2)["i"])
    assert sorted(source.reservoir(50_000, seed=0)["i"]) == list(range(10_000))


def test_an_epoch_streams_every_row_once_in_shuffled_batches(numbered):
    source = ParquetSource(numbered)
    batches = list(source.encoded_batches(FirstColumn(), 300, 2_500,
                                          np.random.default_rng(0), "cpu"))
    rows = np.concatenate([b.numpy()[:, 0] for b in batches]).astype(int)
    assert sorted(rows) == list(range(10_000))
    assert all(len(b) == 300 for b in batches[:-1]) and 0 < len(batches[-1]) <= 300
    # the shuffle buffer mixes row groups: a batch is not one group's run of rows
    assert len(set(batches[0].numpy()[:, 0].astype(int) // 1_000)) > 1
    again = list(source.encoded_batches(FirstColumn(), 300, 2_500,
                                        np.random.default_rng(1), "cpu"))
    assert not np.array_equal(again[0].numpy(), batches[0].numpy())


@pytest.fixture(scope="module")
def adult_folder(tmp_path_factory, adult_small):
    folder = tmp_path_factory.mktemp("adult-dataset")
    write_parquet(adult_small.iloc[:1200], folder / "part-0.parquet", 250)
    write_parquet(adult_small.iloc[1200:], folder / "part-1.parquet", 250)
    return folder


def test_streamed_fit_from_a_folder_learns_the_table(adult_folder, adult_small):
    synth = Synthesizer(epochs=2, verbose=False, seed=0)
    synth.fit_parquet(adult_folder, sample_rows=600, buffer_rows=700)
    summary = synth.training_summary_
    assert summary["rows"] == 2_000 and summary["streamed"] and summary["reservoir_rows"] == 600
    assert len(synth.history_) == 2
    synthetic = synth.sample(500, seed=0)
    assert list(synthetic.columns) == list(adult_small.columns)
    assert set(synthetic["sex"].dropna()) <= set(adult_small["sex"])
    assert synthetic["age"].between(adult_small["age"].min(), adult_small["age"].max()).all()


def test_same_seed_same_streamed_model(adult_folder):
    fits = [Synthesizer(epochs=1, verbose=False, seed=3).fit_parquet(
        adult_folder, sample_rows=400, buffer_rows=500) for _ in range(2)]
    pd.testing.assert_frame_equal(fits[0].sample(100), fits[1].sample(100))


def test_streaming_refuses_what_it_does_not_support(adult_folder, tmp_path):
    with pytest.raises(ConfigError, match="differential privacy"):
        Synthesizer(epsilon=1.0, verbose=False).fit_parquet(adult_folder)
    csv = tmp_path / "t.csv"
    csv.write_text("a\n1\n")
    with pytest.raises(DataError, match="Parquet"):
        Synthesizer(verbose=False).fit_parquet(csv)
    with pytest.raises(DataError, match="does not exist"):
        Synthesizer(verbose=False).fit_parquet(tmp_path / "missing.parquet")


def test_cli_stream_fits_a_parquet_folder_and_refuses_holdout(adult_folder, tmp_path,
                                                            monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["fit", str(adult_folder), "--stream", "--sample-rows", "500",
                                 "--epochs", "1", "-q", "-o", "m.safetensors"])
    assert result.exit_code == 0, result.output
    assert Synthesizer.load("m.safetensors").training_summary_["streamed"]
    result = runner.invoke(app, ["fit", str(adult_folder), "--stream", "--holdout-fraction",
                                 "0.2", "-q"])
    assert result.exit_code == 1 and "--stream does not combine" in result.output


@pytest.mark.parametrize("name, message", [
    ("missing.parquet", "does not exist"),
    ("table.csv", "Streaming reads Parquet"),
])
def test_streaming_a_missing_or_non_parquet_file_is_a_clear_error(tmp_path, name, message):
    (tmp_path / "table.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match=message):
        Synthesizer(verbose=False).fit_parquet(tmp_path / name)

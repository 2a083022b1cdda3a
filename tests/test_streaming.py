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
    sample = source.reservoir(2_000, seed=1).rows
    assert len(sample) == 2_000 and sample["i"].is_unique
    # uniform over the file: each tenth of it holds about a tenth of the sample
    counts = np.bincount(sample["i"] // 1_000, minlength=10)
    assert counts.min() > 120 and counts.max() < 280
    pd.testing.assert_frame_equal(sample, source.reservoir(2_000, seed=1).rows)
    assert not sample["i"].equals(source.reservoir(2_000, seed=2).rows["i"])
    assert sorted(source.reservoir(50_000, seed=0).rows["i"]) == list(range(10_000))


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


def test_a_hive_partitioned_folder_keeps_its_partition_columns(adult_small, tmp_path):
    folder = tmp_path / "hive"
    pq.write_to_dataset(pa.Table.from_pandas(adult_small.iloc[:400], preserve_index=False),
                        folder, partition_cols=["sex"])  # sex=Male/, sex=Female/ folders
    synth = Synthesizer(epochs=1, verbose=False, seed=0).fit_parquet(folder, sample_rows=300)
    synthetic = synth.sample(200, seed=0)
    assert set(synthetic.columns) == set(pd.read_parquet(folder).columns)  # as pandas reads
    assert set(synthetic["sex"].dropna()) <= {"Male", "Female"}
    assert synthetic["sex"].nunique() == 2


def test_a_missing_cell_outside_the_reservoir_is_encoded_not_a_crash(adult_small, tmp_path):
    df = adult_small.iloc[:600].copy()
    df["workclass"] = df["workclass"].fillna("Private")
    df.loc[597, "workclass"] = None  # the table's one empty cell in this column
    path = write_parquet(df, tmp_path / "one-empty.parquet", 150)
    reservoir = ParquetSource(path).reservoir(50, seed=0)
    assert reservoir.rows["workclass"].notna().all() and "workclass" in reservoir.missing
    synth = Synthesizer(epochs=1, verbose=False, seed=0).fit_parquet(path, sample_rows=50)
    assert synth.schema_["workclass"].nullable and not synth.schema_["age"].nullable


def test_stream_with_sdv_metadata_reads_the_schema_the_in_memory_fit_reads(adult_small,
                                                                          tmp_path):
    data = tmp_path / "adult.parquet"
    adult_small.iloc[:300].to_parquet(data)
    runner = CliRunner()
    metadata = runner.invoke(app, ["schema", str(data), "--format", "sdv"])
    assert metadata.exit_code == 0, metadata.output
    (tmp_path / "m.json").write_text(metadata.output)
    schemas = []
    for stream in ([], ["--stream"]):
        model = tmp_path / f"m{len(schemas)}.safetensors"
        result = runner.invoke(app, ["fit", str(data), *stream, "--metadata",
                                     str(tmp_path / "m.json"), "--epochs", "1", "-q",
                                     "-o", str(model)])
        assert result.exit_code == 0, result.output
        schemas.append([(c.name, c.nullable, c.dtype)
                        for c in Synthesizer.load(model).schema_.columns])
    assert schemas[1] == schemas[0]  # nullable only where the data has missing cells
    assert ("age", False, "int64") in schemas[1]


def write_parts(folder, parts):
    folder.mkdir()
    for i, part in enumerate(parts):
        part.to_parquet(folder / f"part-{i}.parquet")
    return folder


def test_parts_whose_types_differ_compatibly_are_read_in_one_type(adult_small, tmp_path):
    first, second = adult_small.iloc[:300].copy(), adult_small.iloc[300:600].copy()
    first["note"] = None  # all empty here: Arrow type null
    second["note"] = ["kept" if i % 3 else None for i in range(300)]
    second["hours-per-week"] = second["hours-per-week"] + 0.5  # int64 here, double there
    folder = write_parts(tmp_path / "parts", [first, second])
    synth = Synthesizer(epochs=1, verbose=False, seed=0).fit_parquet(folder, sample_rows=400)
    synthetic = synth.sample(300, seed=0)
    assert set(synthetic["note"].dropna()) == {"kept"}
    assert synthetic["hours-per-week"].dtype == np.float64


@pytest.mark.parametrize("category_part", [0, 1])
def test_a_column_that_is_a_category_in_one_part_and_text_in_another_is_read_as_pandas_does(
        adult_small, tmp_path, category_part):
    """A ``category`` (Arrow dictionary) in one file, text in another: pandas reads the
    folder in its first file's type; the streamed fit was a DataError asking to cast the
    column."""
    parts = [adult_small.iloc[:300].copy(), adult_small.iloc[300:600].copy()]
    parts[category_part]["sex"] = parts[category_part]["sex"].astype("category")
    parts[1]["workclass"] = parts[1]["workclass"].astype("category")
    folder = write_parts(tmp_path / "parts", parts)
    synth = Synthesizer(epochs=1, verbose=False, seed=0).fit_parquet(folder, sample_rows=400)
    synthetic = synth.sample(300, seed=0)
    # the first file's type, as pd.read_parquet gives it
    wanted = {"sex": "category" if category_part == 0 else object, "workclass": object}
    for column, dtype in wanted.items():
        assert synthetic[column].dtype == dtype
        assert set(synthetic[column].dropna()) <= set(adult_small[column].dropna())


def test_parts_whose_types_disagree_are_one_line_naming_column_and_files(adult_small,
                                                                         tmp_path):
    first, second = adult_small.iloc[:300].copy(), adult_small.iloc[300:600].copy()
    second["age"] = second["age"].astype(str)  # text in one file, numbers in the other
    second.iloc[0, second.columns.get_loc("age")] = "unknown"
    folder = write_parts(tmp_path / "parts", [first, second])
    with pytest.raises(DataError, match=r"Column 'age' is int64 in .*part-0\.parquet.* but "
                                        r"string in .*part-1\.parquet"):
        Synthesizer(epochs=1, verbose=False).fit_parquet(folder)
    result = CliRunner().invoke(app, ["fit", str(folder), "--stream", "--epochs", "1", "-q",
                                      "-o", str(tmp_path / "m.safetensors")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "Column 'age' is int64" in result.output


def test_a_parquet_file_pandas_did_not_write_streams_in_its_arrow_types(tmp_path):
    rng = np.random.default_rng(0)
    counts = [None if i % 5 == 0 else int(v) for i, v in enumerate(rng.integers(0, 90, 400))]
    pq.write_table(pa.table({"count": pa.array(counts, pa.int64()),  # no pandas metadata
                             "x": pa.array(rng.normal(size=400))}), tmp_path / "a.parquet")
    synth = Synthesizer(epochs=1, verbose=False, seed=0).fit_parquet(tmp_path / "a.parquet")
    column = synth.sample(200, seed=0, output="arrow")["count"]
    assert column.type == pa.int64() and column.null_count > 0  # not double


def test_a_streamed_fit_calibrates_on_every_row_not_only_its_reservoir(tmp_path):
    """The training pass reads every row, so the calibration matches the whole table: a
    declared category no row uses is never drawn (13 % of rows after one epoch, when only
    the reservoir was known), and an empty cell outside the reservoir keeps its share (one
    in 600 rows came back as 8 % of them)."""
    rng = np.random.default_rng(0)
    n = 600
    real = pd.DataFrame({"x": rng.normal(size=n),
                         "c": pd.Categorical(rng.choice(["a", "b"], n),
                                             categories=["a", "b", "never", "unused"]),
                         "y": rng.normal(size=n)})
    real.loc[n - 1, "y"] = np.nan  # in the last row group only: outside the reservoir
    write_parquet(real, tmp_path / "t.parquet", row_group_size=100)
    synth = Synthesizer(epochs=1, verbose=False, seed=0).fit_parquet(tmp_path / "t.parquet",
                                                                     sample_rows=100)
    out = synth.sample(20_000, seed=1)
    assert not out["c"].isin(["never", "unused"]).any()
    assert list(out["c"].cat.categories) == ["a", "b", "never", "unused"]
    assert out["y"].isna().mean() < 0.01


def test_streamed_slot_frequencies_are_shares_among_the_rows_holding_a_slot():
    """A category its reservoir never saw is encoded as no slot (a column without "other"):
    the known values' shares are among the rows that hold one, as the sampler always draws
    one (as shares of every row they summed below 1 and calibration reported an error)."""
    import torch

    from synthvae.batches import StreamedBatches
    from synthvae.layout import SpanLayout
    from synthvae.transforms.spans import Span, SpanKind

    layout = SpanLayout.from_spans([Span("x", SpanKind.SCALAR, 1, "value"),
                                    Span("c", SpanKind.SOFTMAX, 2, "category"),
                                    Span("d", SpanKind.SOFTMAX, 3, "category")])
    batches = StreamedBatches(None, None, 10, 10, np.random.default_rng(0), "cpu")
    assert batches.slot_frequencies(layout) is None  # before a complete epoch
    # 100 rows: c holds 'a' or 'b' in 60 of them (40 unseen values), d a slot in every row
    batches.column_sums = torch.tensor([3.0, 45.0, 15.0, 20.0, 30.0, 50.0], dtype=torch.float64)
    batches.rows_read = 100
    shares = batches.slot_frequencies(layout)
    assert torch.allclose(shares, torch.tensor([0.75, 0.25, 0.2, 0.3, 0.5]))

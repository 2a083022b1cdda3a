"""Sharded sampling as a cluster user meets it: shards run anywhere, in any order, and
together make exactly the sample asked for, reproducibly, with unique identifiers."""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app
from synthvae import ConfigError, Synthesizer


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    n = 600
    df = pd.DataFrame({"order_id": [f"ORD{i:06d}" for i in range(n)],
                       "amount": rng.lognormal(3, 1, n).round(2),
                       "score": rng.normal(size=n),
                       "shop": rng.choice(["north", "south", "east"], n),
                       "items": rng.integers(1, 40, n)})
    return Synthesizer(epochs=2, verbose=False, seed=0).fit(df)


def all_shards(synth, n, count, seed=5):
    return [synth.sample(n, seed=seed, shard=(i, count)) for i in range(count)]


def test_shards_reassemble_to_the_requested_rows_with_sizes_within_one(fitted):
    parts = all_shards(fitted, 1003, 7)
    sizes = [len(p) for p in parts]
    assert sum(sizes) == 1003 and max(sizes) - min(sizes) <= 1
    whole = pd.concat(parts, ignore_index=True)
    assert list(whole.columns) == ["order_id", "amount", "score", "shop", "items"]
    assert whole["order_id"].is_unique  # identifiers numbered by global row


def test_shards_are_disjoint_streams(fitted):
    parts = all_shards(fitted, 4000, 4)
    scores = [set(p["score"]) for p in parts]
    for i in range(4):
        for j in range(i + 1, 4):
            # overlapping streams would repeat full-precision draws; independent ones never do
            assert not scores[i] & scores[j]
    firsts = [tuple(p.drop(columns="order_id").iloc[0]) for p in parts]
    assert len(set(firsts)) == 4


def test_same_seed_same_shard_whatever_the_order_or_chunking(fitted):
    forward = all_shards(fitted, 2000, 3)
    backward = [fitted.sample(2000, seed=5, shard=(i, 3)) for i in (2, 1, 0)][::-1]
    chunked = pd.concat(fitted.iter_sample(2000, chunk_size=97, seed=5, shard=(1, 3)),
                        ignore_index=True)
    for a, b in zip(forward, backward):
        pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(forward[1], chunked)
    other_seed = fitted.sample(2000, seed=6, shard=(1, 3))
    assert not other_seed["amount"].equals(forward[1]["amount"])


def test_one_shard_is_the_unsharded_sample(fitted):
    pd.testing.assert_frame_equal(fitted.sample(500, seed=3, shard=(0, 1)),
                                  fitted.sample(500, seed=3))


def test_more_shards_than_rows_gives_empty_shards_with_the_columns(fitted):
    parts = all_shards(fitted, 3, 5)
    assert [len(p) for p in parts] == [0, 1, 0, 1, 1]
    assert list(parts[0].dtypes) == list(parts[1].dtypes)
    empty = list(fitted.iter_sample(0))
    assert len(empty) == 1 and len(empty[0]) == 0 and list(empty[0].columns) == \
        list(parts[1].columns)


@pytest.mark.parametrize("shard, message", [((3, 3), "in [0, 2]"), ((-1, 3), "in [0, 2]"),
                                             ((0, 0), "positive"), ((1,), "pair")])
def test_bad_shards_are_refused_with_what_was_expected(fitted, shard, message):
    with pytest.raises(ConfigError) as raised:
        fitted.sample(10, shard=shard)
    assert message in str(raised.value)


def test_shards_do_not_combine_with_conditions(fitted):
    with pytest.raises(ConfigError, match="conditions"):
        fitted.sample(10, conditions={"shop": "north"}, shard=(0, 2))


# ---------------------------------------------------------------------------- CLI

runner = CliRunner()


@pytest.fixture()
def model_file(fitted, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fitted.save("model.safetensors")
    return tmp_path / "model.safetensors"


def sample_shard(*args):
    return runner.invoke(app, ["sample", "-m", "model.safetensors", "-q",
                               *map(str, args)])


def test_cli_shards_write_a_parquet_dataset_that_reads_back_whole(model_file, fitted):
    for i in (2, 0, 1):  # any order, as a scheduler would run them
        result = sample_shard("-n", 1000, "--shards", 3, "--shard-index", i, "-o", "out/",
                              "--seed", 5)
        assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (model_file.parent / "out").iterdir())
    assert names == [f"part-0000{i}-of-00003.parquet" for i in range(3)]
    whole = pd.read_parquet(model_file.parent / "out")
    assert len(whole) == 1000 and whole["order_id"].is_unique
    expected = pd.concat(all_shards(fitted, 1000, 3), ignore_index=True)
    pd.testing.assert_frame_equal(whole[expected.columns].astype(expected.dtypes),
                                  expected, check_categorical=False)


@pytest.mark.parametrize("args, message", [
    (["--shards", 4, "--shard-index", 4, "-o", "out/"], "in [0, 3]"),
    (["--shards", 4, "-o", "out/"], "go together"),
    (["--shard-index", 1, "-o", "out/"], "go together"),
    (["--shards", 4, "--shard-index", 1, "-o", "part.parquet"], "folder"),
    (["--shards", 4, "--shard-index", 1, "-o", "out/", "--where", "shop=north"], "--where"),
])
def test_cli_refuses_bad_shard_options_in_one_line(model_file, args, message):
    result = sample_shard("-n", 100, *args)
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    assert not (model_file.parent / "out").exists() or not any(
        (model_file.parent / "out").iterdir())


def test_cli_refuses_a_file_where_the_shard_folder_should_be(model_file):
    (model_file.parent / "out").write_text("not a folder")
    result = sample_shard("-n", 100, "--shards", 2, "--shard-index", 0, "-o", "out")
    assert result.exit_code == 1 and "is a file" in result.output


def test_cli_an_empty_shard_file_has_the_schema_of_a_full_one(model_file):
    import pyarrow.parquet as pq

    for i in (0, 1):  # 1 row in 2 shards: shard 0 is empty, shard 1 holds it
        result = sample_shard("-n", 1, "--shards", 2, "--shard-index", i, "-o", "out/")
        assert result.exit_code == 0, result.output
    folder = model_file.parent / "out"
    empty, full = (pq.read_schema(folder / f"part-0000{i}-of-00002.parquet") for i in (0, 1))
    assert str(full.field("order_id").type) == "string" and str(full.field("shop").type) \
        == "string"
    assert empty.equals(full, check_metadata=True)
    assert len(pd.read_parquet(folder)) == 1  # the dataset reads back whole

"""Sampling on a Dask cluster: each partition is the CLI's shard for the same seed."""

import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster
from typer.testing import CliRunner

import synthvae.dask
from cli.main import app
from synthvae import ConfigError, Synthesizer


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    rng = np.random.default_rng(0)
    n = 400
    df = pd.DataFrame({"order_id": [f"ORD{i:06d}" for i in range(n)],
                       "amount": rng.lognormal(3, 1, n).round(2),
                       "shop": rng.choice(["north", "south", "east"], n),
                       "items": rng.integers(1, 40, n)})
    path = tmp_path_factory.mktemp("dask") / "model.safetensors"
    Synthesizer(epochs=2, verbose=False, seed=0).fit(df).save(path)
    return path


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as c:
        yield c


def test_each_partition_is_the_cli_shard_for_the_same_seed(model_path, client, tmp_path,
                                                          monkeypatch):
    ddf = synthvae.dask.sample(model_path, 1000, partitions=3, seed=5)
    assert ddf.npartitions == 3 and ddf.divisions == (0, 333, 666, 999)
    whole = ddf.compute()
    assert len(whole) == 1000 and whole["order_id"].is_unique
    assert list(whole.index) == list(range(1000))
    monkeypatch.chdir(tmp_path)
    for i in range(3):
        result = CliRunner().invoke(app, ["sample", "-m", str(model_path), "-q", "-n", "1000",
                                          "--shards", "3", "--shard-index", str(i),
                                          "-o", "out/", "--seed", "5"])
        assert result.exit_code == 0, result.output
        cli = pd.read_parquet(tmp_path / "out" / f"part-0000{i}-of-00003.parquet")
        part = ddf.get_partition(i).compute().reset_index(drop=True)
        pd.testing.assert_frame_equal(part, cli[part.columns].astype(part.dtypes),
                                      check_categorical=False)


def test_a_fitted_synthesizer_samples_the_same_rows_as_its_saved_file(model_path, client):
    synth = Synthesizer.load(model_path)
    from_object = synthvae.dask.sample(synth, 500, partitions=2, seed=1).compute()
    from_file = synthvae.dask.sample(model_path, 500, partitions=2, seed=1).compute()
    pd.testing.assert_frame_equal(from_object, from_file)
    expected = pd.concat([synth.sample(500, seed=1, shard=(i, 2)) for i in range(2)],
                         ignore_index=True)
    # Dask's own convention turns text columns into string[pyarrow] (dataframe.convert-string)
    pd.testing.assert_frame_equal(from_object.reset_index(drop=True),
                                  expected.astype(from_object.dtypes))


def test_more_partitions_than_rows_and_bad_counts(model_path, client):
    few = synthvae.dask.sample(model_path, 2, partitions=4).compute()
    assert len(few) == 2
    with pytest.raises(ConfigError, match="partitions must be a positive int"):
        synthvae.dask.sample(model_path, 10, partitions=0)


def test_a_model_refitted_to_the_same_path_is_sampled_afresh(client, tmp_path):
    """Workers cached a loaded model by its path: after a refit saved to the same file, a
    new graph computed the old model's rows (15 columns where the new model has 2)."""
    rng = np.random.default_rng(1)
    path = tmp_path / "model.safetensors"
    first = pd.DataFrame({"a": rng.normal(size=200), "b": rng.choice(["x", "y"], 200)})
    Synthesizer(epochs=1, verbose=False, seed=0).fit(first).save(path)
    assert list(synthvae.dask.sample(path, 50, partitions=2, seed=1).compute()) == ["a", "b"]
    second = pd.DataFrame({"c": rng.integers(0, 5, 200)})
    Synthesizer(epochs=1, verbose=False, seed=0).fit(second).save(path)
    assert list(synthvae.dask.sample(path, 50, partitions=2, seed=1).compute()) == ["c"]
    Synthesizer(epochs=1, verbose=False, seed=1).fit(first).save(path)
    graph = synthvae.dask.sample(path, 50, partitions=2, seed=1)  # for this file...
    Synthesizer(epochs=1, verbose=False, seed=2).fit(first).save(path)  # ...replaced
    with pytest.raises(ConfigError, match="changed after synthvae.dask.sample built"):
        graph.compute()

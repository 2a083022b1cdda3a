"""Distributed training as a cluster user runs it: ``torchrun ... -m synthvae fit`` on two CPU
processes (gloo) gives the model a single-process fit of the same data and seed gives."""

import os
import subprocess
import sys

import pandas as pd
import pytest
import torch

from synthvae import ConfigError, Synthesizer

from conftest import ROOT, TEST_DATA

# latent_swap pairs rows within each process's share of a batch, so only without it is the
# two-process fit the single-process one weight for weight (docs/scale.md).
FIT = dict(epochs=2, batch_size=100, seed=0, latent_swap=0.0)


def torchrun_fit(tmp_path, *extra, data=TEST_DATA / "titanic_400.csv"
                 ) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc-per-node", "2", "-m", "synthvae", "fit",
               str(data), "-o", str(tmp_path / "model.safetensors"),
               "--epochs", str(FIT["epochs"]), "--batch-size", str(FIT["batch_size"]),
               "--seed", str(FIT["seed"]), "--latent-swap", str(FIT["latent_swap"]),
               "--quiet", *extra]
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def two_process_model(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("ddp")
    result = torchrun_fit(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("model written") == 1  # rank 0 alone writes and reports
    return Synthesizer.load(tmp_path / "model.safetensors")


def test_two_gloo_processes_fit_the_single_process_model(two_process_model, titanic):
    torch.set_num_threads(1)
    single = Synthesizer(verbose=False, **FIT).fit(titanic)
    assert two_process_model.training_summary_["processes"] == 2
    assert single.training_summary_["processes"] == 1
    theirs = two_process_model.model_.state_dict()
    for name, weight in single.model_.state_dict().items():
        # same batches, same noise, gradients averaged: equal up to float summation order
        torch.testing.assert_close(theirs[name], weight, rtol=1e-4, atol=1e-5, msg=name)
    for a, b in zip(two_process_model.history_, single.history_):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-4)
    pd.testing.assert_frame_equal(two_process_model.sample(200, seed=1).drop(columns="fare"),
                                  single.sample(200, seed=1).drop(columns="fare"))


def test_two_processes_under_dp_spend_the_budget_one_process_would(tmp_path, adult_small):
    table = adult_small[["age", "sex", "race", "hours-per-week", "income"]]
    table.to_csv(tmp_path / "adult.csv", index=False)
    result = torchrun_fit(tmp_path, "--epsilon", "10", data=tmp_path / "adult.csv")
    assert result.returncode == 0, result.stdout + result.stderr
    distributed = Synthesizer.load(tmp_path / "model.safetensors")
    torch.set_num_threads(1)
    single = Synthesizer(verbose=False, epsilon=10.0, **FIT).fit(table)
    # every rank makes the same seeded preprocessing releases (one release, not two), and
    # DP-SGD keeps the single-process sampling rate, noise and steps: the same ledger
    theirs, ours = distributed.privacy_, single.privacy_
    assert theirs["epsilon"] == pytest.approx(ours["epsilon"]) and theirs["epsilon"] <= 10.0
    assert [(e["mechanism"], e["column"], round(e["epsilon"], 9)) for e in theirs["entries"]] \
        == [(e["mechanism"], e["column"], round(e["epsilon"], 9)) for e in ours["entries"]]
    assert distributed.schema_.to_dict() == single.schema_.to_dict()  # the same releases
    assert distributed.training_summary_["processes"] == 2
    synthetic = distributed.sample(300, seed=0)
    assert list(synthetic.columns) == list(table.columns)
    assert set(synthetic["sex"].dropna()) <= set(table["sex"])


def test_asking_for_distributed_without_a_launcher_says_how_to_launch(titanic, monkeypatch):
    for name in ("RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="torchrun"):
        Synthesizer(epochs=1, distributed=True, verbose=False).fit(titanic)


def test_free_bits_are_refused_in_a_distributed_fit():
    from types import SimpleNamespace

    from synthvae.fit_memory import check_distributed

    context = SimpleNamespace(rank=0, world_size=2)  # what distributed.start would return
    with pytest.raises(ConfigError, match="'free_bits' .* must be 0 in a distributed fit"):
        check_distributed(Synthesizer(free_bits=0.1), context, 0, False)


def test_rank_shares_split_every_batch_between_the_ranks():
    """Each rank trains on its share of the batch a single process would draw: together the
    shares hold every row of it once, with or without DP's Poisson sampling."""
    from synthvae.batches import PermutedBatches, PoissonBatches, RankShare

    data = torch.arange(1000, dtype=torch.float32).unsqueeze(1)
    sources = {"permutation": lambda g: PermutedBatches(data, 128, g),
               "poisson": lambda g: PoissonBatches(data, 0.05, 4, g)}
    for make in sources.values():
        whole = list(make(torch.Generator().manual_seed(0)).epoch())
        shares = [list(RankShare(make(torch.Generator().manual_seed(0)), rank, 3).epoch())
                  for rank in range(3)]
        for i, batch in enumerate(whole):
            parts = torch.cat([share[i].data for share in shares])
            assert sorted(parts[:, 0].tolist()) == sorted(batch.data[:, 0].tolist())
            assert all(share[i].size == len(batch.data) for share in shares)


@pytest.mark.parametrize("environment, message", [
    ({"RANK": "0", "WORLD_SIZE": "2"}, "needs MASTER_ADDR and MASTER_PORT .* but MASTER_ADDR "
                                       "and MASTER_PORT are not"),
    ({"RANK": "0", "WORLD_SIZE": "abc"}, "WORLD_SIZE must be a whole number >= 1 .* got 'abc'"),
    ({"RANK": "2", "WORLD_SIZE": "2"}, "RANK must be a whole number from 0 to 1 .* got '2'"),
])
def test_launcher_variables_set_by_another_tool_are_named(titanic, monkeypatch, environment,
                                                          message):
    """RANK and WORLD_SIZE exported by a job environment (not torchrun) make a plain fit
    distributed; what is missing or malformed used to reach torch as a raw traceback."""
    for name in ("MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        Synthesizer(epochs=1, verbose=False).fit(titanic)


def test_cli_fit_with_rank_but_no_master_address_is_one_line(tmp_path, monkeypatch, titanic):
    from typer.testing import CliRunner

    from cli.main import app

    monkeypatch.chdir(tmp_path)
    titanic.to_csv("data.csv", index=False)
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    result = CliRunner().invoke(app, ["fit", "data.csv", "--epochs", "1", "-q"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "MASTER_ADDR" in result.output and "--no-distributed" in result.output

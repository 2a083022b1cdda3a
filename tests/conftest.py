"""Shared fixtures: the bundled slices, and the workplace datasets when they exist."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
EXAMPLE_ADULT = ROOT / "examples" / "adult.csv.gz"
TEST_DATA = Path(__file__).resolve().parent / "data"
# Fits compared bit for bit must run on as many threads: pin the idle-CPU default
# (synthvae/threads.py) for the suite; tests/test_threads.py tests the probe itself.
os.environ.setdefault("SYNTHVAE_THREADS", "2")


def dataset(name: str, rows: int | None = None, seed: int = 0) -> pd.DataFrame:
    """A shared dataset (or a random slice of it); skips the test when it is absent."""
    path = DATASETS / f"{name}.csv.gz"
    if not path.exists():
        pytest.skip(f"{path} is not available (the shared datasets live beside the repo)")
    df = pd.read_csv(path, low_memory=False)
    if rows is not None and rows < len(df):
        df = df.sample(rows, random_state=seed).reset_index(drop=True)
    return df


def all_dataset_names() -> list[str]:
    return sorted(p.name[: -len(".csv.gz")] for p in DATASETS.glob("*.csv.gz"))


@pytest.fixture(scope="session")
def adult_small() -> pd.DataFrame:
    """2,000 rows of the bundled Adult slice (always present)."""
    return pd.read_csv(EXAMPLE_ADULT).head(2000)


@pytest.fixture(scope="session")
def titanic() -> pd.DataFrame:
    return pd.read_csv(TEST_DATA / "titanic_400.csv")


@pytest.fixture(scope="session")
def taxis() -> pd.DataFrame:
    return pd.read_csv(TEST_DATA / "taxis_400.csv")


@pytest.fixture(scope="session")
def fitted_adult(adult_small):
    """A quickly fitted synthesizer shared by read-only tests."""
    from synthvae import Synthesizer

    return Synthesizer(epochs=3, verbose=False, seed=0).fit(adult_small)


def cli_fit_and_sample(data: Path, schema: dict, rows: int, where: list[str],
                       tmp_path: Path) -> pd.DataFrame:
    """``synthvae fit DATA --schema`` (2 epochs) then ``synthvae sample -n ROWS --where ...``
    into a CSV, each asserted to exit 0; the sampled rows."""
    import json

    from typer.testing import CliRunner

    from cli.main import app

    (tmp_path / "schema.json").write_text(json.dumps(schema))
    runner, model, out = CliRunner(), tmp_path / "m.safetensors", tmp_path / "out.csv"
    result = runner.invoke(app, ["fit", str(data), "--schema", str(tmp_path / "schema.json"),
                                 "-o", str(model), "--epochs", "2", "-q"])
    assert result.exit_code == 0, result.output
    options = [arg for condition in where for arg in ("--where", condition)]
    result = runner.invoke(app, ["sample", "-n", str(rows), "-m", str(model), "-o", str(out),
                                 *options, "-q"])
    assert result.exit_code == 0, result.output
    return pd.read_csv(out)


def rewrite_model_file(path: Path, edit) -> None:
    """Rewrite a saved model in place after ``edit(metadata, tensors)`` changed them (a
    tampered or damaged file)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), "pt") as handle:
        meta = handle.metadata()
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    edit(meta, tensors)
    save_file(tensors, str(path), metadata=resigned(meta, tensors))


def resigned(meta: dict, tensors: dict) -> dict:
    """A rewritten model file's header signed again (when it was signed), so that loading
    reaches the check under test rather than refusing the file as damaged."""
    from synthvae.persistence import CHECKSUM_KEY, signed

    return signed(meta, tensors) if CHECKSUM_KEY in meta else meta


def rewrite_model_state(path: Path, edit) -> None:
    """Rewrite a saved model's JSON state in place after ``edit(state)`` changed it."""
    import json

    def edit_metadata(meta, tensors):
        state = json.loads(meta["state"])
        edit(state)
        meta["state"] = json.dumps(state)

    rewrite_model_file(path, edit_metadata)

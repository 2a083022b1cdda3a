"""Same seed, same model: fingerprint fits of one code version, compare two versions.

``PYTHONPATH=CHECKOUT python benchmarks/same_seed.py fit OUT`` fits small models on the
bundled Adult slice (plain, annealing with free bits, early stopping, DP, streamed,
checkpoint-resumed) and writes their weights and 300 sampled rows to OUT; ``python benchmarks/same_seed.py compare A B`` says
which of them are bit-identical between two such folders. Run ``fit`` once per version
(``CHECKOUT`` = the version's source tree) to check that a refactor keeps every fit.
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

import pandas as pd
import torch

ADULT = Path(__file__).resolve().parents[1] / "examples" / "adult.csv.gz"
CASES = {
    "plain": dict(epochs=8, seed=3),
    "anneal_free_bits": dict(epochs=5, seed=1, kl_anneal="linear", free_bits=0.05),
    "early_stop": dict(epochs=40, seed=2, patience=2),
    "dp": dict(epochs=2, seed=0, epsilon=5.0),
}


def fingerprint(out: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from synthvae import Synthesizer

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    out.mkdir(parents=True, exist_ok=True)
    full = pd.read_csv(ADULT)
    df = full.iloc[:2000]
    fits = {name: Synthesizer(verbose=False, **kw).fit(full if "epsilon" in kw else df)
            for name, kw in CASES.items()}
    work = Path(tempfile.mkdtemp())
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), work / "a.parquet",
                   row_group_size=250)
    fits["streamed"] = Synthesizer(epochs=2, verbose=False, seed=4).fit_parquet(
        work, sample_rows=600, buffer_rows=700)
    Synthesizer(epochs=4, verbose=False, seed=5).fit(df, checkpoint=work / "m.ckpt",
                                                     checkpoint_every=2)
    fits["resumed"] = Synthesizer(epochs=4, verbose=False, seed=5).fit(
        df, checkpoint=work / "m.ckpt", resume=True)
    for name, synth in fits.items():
        torch.save(dict(synth.model_.state_dict()), out / f"{name}.pt")
        synth.sample(300, seed=1).to_csv(out / f"{name}.csv", index=False)


def compare(a: Path, b: Path) -> None:
    for name in [*CASES, "streamed", "resumed"]:
        wa, wb = torch.load(a / f"{name}.pt"), torch.load(b / f"{name}.pt")
        diff = max(float((wa[k] - wb[k]).abs().max()) for k in wa)
        rows = pd.read_csv(a / f"{name}.csv").equals(pd.read_csv(b / f"{name}.csv"))
        print(f"{name:18s} weights max |diff| {diff:.2e}   sampled rows identical: {rows}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["fit"]:
        fingerprint(Path(sys.argv[2]))
    else:
        compare(Path(sys.argv[2]), Path(sys.argv[3]))

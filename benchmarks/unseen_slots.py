"""How many encoded slots (categories, modes) no training row holds, which calibration now
never draws (synthvae/calibration.py ``never_drawn``), on the shared tables, their small
subsamples and scikit-learn's bundled tables; one-epoch fits (the slots depend on the
encoding, not on training)::

    python -m benchmarks.unseen_slots --name unseen-slots

Writes ``benchmarks/results/<name>.json``.
"""
from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import torch

from benchmarks.common import machine
from benchmarks.data import load_dataset
from synthvae import Synthesizer
from synthvae.calibration import UNSEEN_OFFSET

RESULTS = Path(__file__).parent / "results"
TABLES = ("adult,default,shoppers,magic,beijing,bank,california,titanic,taxis,diamonds,"
          "adult@300,adult@1000,diamonds@300,magic@500,bank@500,california@500,taxis@1000,"
          "flights@1000,iris,wine,cancer,diabetes")


def unseen(name: str) -> dict:
    train = load_dataset(name).train
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        synth = Synthesizer(epochs=1, verbose=False, seed=0).fit(train)
    offsets = synth.generator_.offsets
    count = 0 if offsets is None else int((offsets == UNSEEN_OFFSET).sum())
    return {"table": name, "rows": len(train), "slots": len(synth.layout_.slot_index),
            "unseen_slots": count}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default=TABLES)
    parser.add_argument("--name", default="unseen-slots")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    found = []
    for name in args.tables.split(","):
        found.append(unseen(name))
        print(json.dumps(found[-1]), flush=True)
    out = {"tables": found, "machine": machine()}
    (RESULTS / f"{args.name}.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()

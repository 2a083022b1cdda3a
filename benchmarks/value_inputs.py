"""The autoregressive decoder reading numbers as values (issue 16), against the same decoder
without them, in one process (the transformer's ``value_inputs`` patched to none for the
"before" side)::

    python -m benchmarks.value_inputs structure magic,adult 0,1 --name values-before
    python -m benchmarks.value_inputs classifier magic 0 >> benchmarks/results/value-classifier.jsonl
    python -m benchmarks.value_inputs speed --rows 100000 --repeats 5

* ``structure``: ``benchmarks.structure``'s per-table run (defaults, train-size sample:
  scores, rules, ML efficacy) with the values *off*, appended to
  ``results/structure-<name>.jsonl`` as model ``synthvae[no-values]``; the default's rows
  come from ``python -m benchmarks.structure --models synthvae``.
* ``classifier``: one fit each way; the model's own classifier of the target, ``p(y | x) =
  p(x, y) / sum_y' p(x, y')`` by importance-weighted likelihood (``Synthesizer.score``, 32
  latents a row) on up to 3,000 test rows, its ROC AUC, the held-out ELBO, and the ML
  efficacy of a train-size sample (categorical targets only).
* ``speed``: both fitted 1 epoch on adult's training split, then ``sample(rows)``
  alternating (sampling cost depends on the layout, not the training length).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from contextlib import nullcontext

import numpy as np

from benchmarks.common import machine, ml_efficacy_scores, patched, timed, write_json
from benchmarks.data import load_dataset


def without_values():
    """A block in which fits read no values (the decoder as it was before them)."""
    from synthvae.transforms.table import TableTransformer

    with_values = TableTransformer.value_inputs
    return patched(TableTransformer, "value_inputs",
                   lambda self: ((),) + tuple(with_values(self)[1:]))


def fitted(data, seed: int, values: bool, **params):
    from synthvae import Synthesizer, detect_schema

    with warnings.catch_warnings(), (nullcontext() if values else without_values()):
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        synth = Synthesizer(seed=seed, schema=detect_schema(data.train), verbose=False,
                            **params).fit(data.train)
    return synth, time.perf_counter() - start


def model_classifier_auc(synth, data, seed: int) -> float:
    """ROC AUC of the model's own p(y | x) for the minority class on <= 3,000 test rows."""
    from sklearn.metrics import roc_auc_score

    test = data.test.dropna(subset=[data.target])
    test = test.sample(min(3_000, len(test)), random_state=0).reset_index(drop=True)
    counts = data.train[data.target].value_counts()
    classes, positive = list(counts.index), counts.index[-1]
    scores = np.stack([synth.score(test.assign(**{data.target: c}), samples=32,
                                   seed=seed)["log_likelihood"].to_numpy() for c in classes], 1)
    posterior = np.exp(scores - scores.max(1, keepdims=True))
    posterior /= posterior.sum(1, keepdims=True)
    return float(roc_auc_score(test[data.target] == positive,
                               posterior[:, classes.index(positive)]))


def run_classifier(table: str, seed: int) -> None:
    data = load_dataset(table)
    if data.task != "classification":
        raise SystemExit(f"{table}: the classifier probe needs a categorical target")
    for values in (False, True):
        synth, fit_s = fitted(data, seed, values)
        sample = synth.sample(len(data.train), seed=seed + 1)
        print(json.dumps({
            "dataset": table, "seed": seed, "values": values, "fit_s": round(fit_s, 1),
            "model_classifier_auc": round(model_classifier_auc(synth, data, seed), 4),
            "validation_loss": round(float(synth.history_[-1]["val_loss"]), 4),
            "ml": ml_efficacy_scores(data, sample, synth.schema_, seed)}), flush=True)


def run_structure(tables: list[str], seeds: list[int], name: str) -> None:
    from benchmarks import structure

    path = structure.RESULTS / f"structure-{name}.jsonl"
    if not path.exists():
        path.write_text(json.dumps({"header": {
            "name": name, "seeds": ",".join(map(str, seeds)),
            "machine": structure._machine_text(),
            "command": "python -m benchmarks.value_inputs " + " ".join(sys.argv[1:])}}) + "\n")
    for seed in seeds:
        for table in tables:
            with without_values():
                record = structure.table_run(table, seed, "synthvae")
            record["model"] = "synthvae[no-values]"
            with path.open("a") as handle:
                handle.write(json.dumps(record) + "\n")
            print(table, seed, record["ml_efficacy"], record["quality"], flush=True)


def run_speed(rows: int, repeats: int, name: str) -> None:
    import torch

    torch.set_num_threads(1)
    data = load_dataset("adult")
    models = {"values": fitted(data, 0, True, epochs=1)[0],
              "no values": fitted(data, 0, False, epochs=1)[0]}
    runs = {key: [] for key in models}
    for _ in range(repeats):
        for key, synth in models.items():
            runs[key].append(round(timed(synth.sample, rows, seed=1)[1], 3))
    medians = {key: statistics.median(r) for key, r in runs.items()}
    result = {"machine": machine(), "rows": rows, "runs_s": runs, "median_s": medians,
              "ratio_values_to_none": round(medians["values"] / medians["no values"], 3)}
    print(json.dumps(result))
    write_json(name, result)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.value_inputs",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("structure", "classifier", "speed"))
    parser.add_argument("tables", nargs="?", default="magic")
    parser.add_argument("seeds", nargs="?", default="0")
    parser.add_argument("--name", default=None)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.what == "structure":
        run_structure(args.tables.split(","), seeds, args.name or "values-before")
    elif args.what == "classifier":
        for table in args.tables.split(","):
            for seed in seeds:
                run_classifier(table, seed)
    else:
        run_speed(args.rows, args.repeats, args.name or "sampling-value-inputs")


if __name__ == "__main__":
    main()

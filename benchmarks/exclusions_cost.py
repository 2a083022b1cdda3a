"""What the sampler's excluded value pairs (``unseen_pairs``) cost: finding them at fit time,
and sampling with them against the same model without them, in one process, alternating::

    python -m benchmarks.exclusions_cost --dataset adult --rows 100000 --repeats 5
    python -m benchmarks.exclusions_cost --random 100000,40,50

Fits the table's training split for one epoch (the pairs come from the training rows, not
the model, and sampling cost depends on the layout), times ``unseen_pairs`` on the encoded
training rows, then ``sample(rows)`` with the exclusions and with them removed (the same
offsets: only the draw differs). ``--random ROWS,COLUMNS,VALUES`` times only the search, on
random categorical columns (the widest case: COLUMNS x VALUES slots, up to the 2,048
examined). Writes ``results/<name>.json``; training.md quotes it.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch

from benchmarks.common import machine, write_json
from benchmarks.data import load_dataset


def main(argv=None) -> None:
    from synthvae import Synthesizer, detect_schema
    from synthvae.exclusions import unseen_pairs

    p = argparse.ArgumentParser(prog="python -m benchmarks.exclusions_cost")
    p.add_argument("--dataset", default="adult")
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--random", default=None, help="ROWS,COLUMNS,VALUES: time the search alone")
    p.add_argument("--name", default="exclusions-cost")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.random:
        result = {"random": search_seconds(*map(int, args.random.split(","))),
                  "machine": machine()}
        print(result)
        write_json(args.name, result)
        return
    data = load_dataset(args.dataset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        synth = Synthesizer(epochs=1, seed=0, n_threads=1, verbose=False,
                            schema=detect_schema(data.train)).fit(data.train)
    encoded = torch.as_tensor(synth.transformer_.transform(data.train), dtype=torch.float32)
    started = time.perf_counter()
    pairs = unseen_pairs(encoded, synth.transformer_.spans_,
                         code_columns=synth.transformer_.code_columns(),
                         grouped=synth.transformer_.grouped_positions())
    find_s = time.perf_counter() - started
    excluded = synth.generator_.excluded
    times = {"with": [], "without": []}
    for _ in range(args.repeats):
        for label in times:
            synth.generator_.excluded = excluded if label == "with" else None
            started = time.perf_counter()
            synth.sample(args.rows, seed=1)
            times[label].append(time.perf_counter() - started)
    synth.generator_.excluded = excluded
    medians = {k: statistics.median(v) for k, v in times.items()}
    result = {"dataset": args.dataset, "training_rows": len(data.train),
              "encoded_width": synth.layout_.width, "excluded_pairs": len(pairs),
              "find_seconds": round(find_s, 3), "rows": args.rows,
              "sample_seconds": {k: [round(t, 3) for t in v] for k, v in times.items()},
              "median_seconds": {k: round(v, 3) for k, v in medians.items()},
              "ratio_with_over_without": round(medians["with"] / medians["without"], 3),
              "machine": machine()}
    print(result)
    write_json(args.name, result)


def search_seconds(rows: int, columns: int, values: int) -> dict:
    """Seconds ``unseen_pairs`` takes on ``rows`` random rows of ``columns`` independent
    categorical columns of ``values`` values each (one-hot encoded)."""
    from synthvae.exclusions import unseen_pairs
    from synthvae.transforms.spans import Span, SpanKind

    spans = [Span(f"c{i}", SpanKind.SOFTMAX, values, "category") for i in range(columns)]
    codes = torch.randint(0, values, (rows, columns), generator=torch.Generator().manual_seed(0))
    data = torch.zeros((rows, columns * values))
    data.scatter_(1, codes + torch.arange(columns) * values, 1.0)
    started = time.perf_counter()
    pairs = unseen_pairs(data, spans)
    return {"rows": rows, "columns": columns, "values": values, "slots": columns * values,
            "pairs": len(pairs), "seconds": round(time.perf_counter() - started, 3)}


if __name__ == "__main__":
    main()

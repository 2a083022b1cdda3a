"""The inverse transform's span argmax read off column reductions, against numpy's row-wise
``argmax``, in one process, alternating (issue 19.1)::

    python -m benchmarks.argmax_ab --rows 100000 --repeats 7

Fits adult's training split for one epoch (sampling cost depends on the layout, not the
training length), then ``sample(rows)`` with each argmax in turn; records the medians, and
whether the rows of the same seed are the same. Writes ``results/<name>.json``; sampling.md
quotes it.
"""

from __future__ import annotations

import os
import statistics
import time
from contextlib import ExitStack

import numpy as np

from benchmarks.common import (adult_one_epoch, alternating_sample_seconds, machine, patched,
                               sampling_ab_arguments, write_json)


def numpy_argmax(block: np.ndarray) -> np.ndarray:
    """The span argmax before: numpy's row-wise argmax of the block as it comes."""
    return np.argmax(block, axis=1)


def with_numpy_argmax(when: bool) -> ExitStack:
    """A block in which the column transformers' inverse uses :func:`numpy_argmax`."""
    from synthvae.transforms import categorical, continuous

    stack = ExitStack()
    for module in (categorical, continuous):
        stack.enter_context(patched(module, "span_argmax", numpy_argmax, when=when))
    return stack


def main(argv=None) -> None:
    args = sampling_ab_arguments("argmax_ab", "sampling-argmax", argv)
    synth = adult_one_epoch()
    times = alternating_sample_seconds(synth, args.rows, args.repeats, {
        "numpy_argmax": lambda: with_numpy_argmax(True),
        "column_reductions": lambda: with_numpy_argmax(False)})
    with with_numpy_argmax(True):
        before = synth.sample(args.rows, seed=1)
    medians = {label: statistics.median(runs) for label, runs in times.items()}
    result = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": machine(),
              "load_at_start": round(os.getloadavg()[0], 2), "rows": args.rows,
              "seconds": times, "median_s": medians,
              "speed_up": round(medians["numpy_argmax"] / medians["column_reductions"], 3),
              "same_rows": bool(before.equals(synth.sample(args.rows, seed=1)))}
    write_json(args.name, result)
    print(result)


if __name__ == "__main__":
    main()

"""What two-step numbers cost the sampler: the autoregressive decoder drawing each number
in two steps (its modes, then its position within the drawn mode; the default) against one
step a column (as before), in one process, alternating (issue 16, twentieth step)::

    python -m benchmarks.two_step_ab --rows 100000 --repeats 7

Fits adult's training split for one epoch twice, with and without two-step numbers
(sampling cost depends on the layout and the drawing steps, not the training length), then
``sample(rows)`` from each in turn. Writes ``results/<name>.json``; structure.md and
docs/training.md quote it.
"""

from __future__ import annotations

import os
import statistics
import time

from benchmarks.common import (adult_one_epoch, alternating_seconds, machine, patched,
                               sampling_ab_arguments, write_json)


def numbers_in_one_step():
    """A block in which fits build their decoder with one drawing step a column."""
    from synthvae import generator

    return patched(generator, "drawing_steps",
                   lambda spans, two_step_numbers=True: generator.column_rank(spans, False))


def main(argv=None) -> None:
    args = sampling_ab_arguments("two_step_ab", "sampling-two-step", argv)
    with numbers_in_one_step():
        one = adult_one_epoch()
    two = adult_one_epoch()
    times = alternating_seconds({"one_step": lambda: one.sample(args.rows, seed=1),
                                 "two_steps": lambda: two.sample(args.rows, seed=1)},
                                args.repeats)
    medians = {label: statistics.median(runs) for label, runs in times.items()}
    steps = {label: len(set(synth.model_config_.column_rank))
             for label, synth in (("one_step", one), ("two_steps", two))}
    result = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": machine(),
              "load_at_start": round(os.getloadavg()[0], 2), "rows": args.rows,
              "drawing_steps": steps, "seconds": times, "median_s": medians,
              "cost": round(medians["two_steps"] / medians["one_step"], 3)}
    write_json(args.name, result)
    print(result)


if __name__ == "__main__":
    main()

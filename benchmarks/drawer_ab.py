"""The autoregressive drawer feeding each degree's units into every later column at once,
against the drawer as it was (one product per column over the units of lower degree), in
one process, alternating (issue 19.1)::

    python -m benchmarks.drawer_ab --rows 100000 --repeats 7

Fits adult's training split for one epoch (sampling cost depends on the layout, not the
training length), then ``sample(rows)`` with each drawer in turn; records the medians, and
how far the rows of the same seed differ (the sums are taken in another order).
Writes ``results/<name>.json``; sampling.md quotes it.
"""

from __future__ import annotations

import os
import statistics
import time
from contextlib import nullcontext

import torch

from benchmarks.common import (adult_one_epoch, alternating_sample_seconds, machine, patched,
                               sampling_ab_arguments, write_json)


def per_column_drawer_class():
    """The drawer before: at each column's step, one product of the units of lower degree
    into that column's own positions."""
    from synthvae.sampling import ColumnDrawer, DrawnBag

    class PerColumnDrawer(ColumnDrawer):
        def draw(self, block, base, sigma, uniform=None, noise=None, conditions=None,
                 generator=None, slot_totals=None):
            if conditions:
                raise NotImplementedError("the reference drawer takes no conditions")
            logits, n = base, len(base)
            bag = DrawnBag(n, [len(step.values) + len(step.groups) + len(step.scalars)
                               for step in self.steps], base.device, base.dtype)
            active = base.new_empty((n, self.unit_start[-1]))
            sigma = sigma.expand(n, -1)
            for number, step in enumerate(self.steps):
                if self.unit_start[number]:
                    columns = slice(step.start, step.stop)
                    prefix = self.unit_start[number]
                    logits[:, columns].addmm_(active[:, :prefix],
                                              self.outer_rows[:prefix, columns])
                choices = self._draw_column(step, block, logits, sigma, uniform, noise,
                                            slot_totals)
                bag.add_drawn(step, choices, block)
                if self.exclusions is not None:  # the excluded value pairs, as the default
                    self.exclusions.apply(number, step, block, logits)
                for number_of_value, scalar in step.values:
                    bag.add(self.layout.width + number_of_value,
                            self._value(self.value_columns[number_of_value], scalar, block))
                units = slice(self.unit_start[number], self.unit_start[number + 1])
                if units.start < units.stop and number + 1 < len(self.steps):
                    inputs = bag.sum(self.unit_weights[number]) + self.unit_bias[number]
                    torch.clamp(inputs, min=0, out=active[:, units])
            return base.new_zeros(n)

    return PerColumnDrawer


def main(argv=None) -> None:
    import synthvae.sampling as sampling

    args = sampling_ab_arguments("drawer_ab", "sampling-drawer-feed", argv)
    synth = adult_one_epoch()
    reference = per_column_drawer_class()
    times = alternating_sample_seconds(synth, args.rows, args.repeats, {
        "per_column": lambda: patched(sampling, "ColumnDrawer", reference),
        "feed_later": nullcontext})
    with patched(sampling, "ColumnDrawer", reference):
        before = synth.sample(args.rows, seed=1)
    after = synth.sample(args.rows, seed=1)
    differing = {c: int((before[c].astype(str) != after[c].astype(str)).sum())
                 for c in before.columns}
    medians = {label: statistics.median(runs) for label, runs in times.items()}
    result = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": machine(),
              "load_at_start": round(os.getloadavg()[0], 2), "rows": args.rows,
              "seconds": times, "median_s": medians,
              "speed_up": round(medians["per_column"] / medians["feed_later"], 3),
              "rows_differing_by_column": {c: n for c, n in differing.items() if n}}
    write_json(args.name, result)
    print(result)


if __name__ == "__main__":
    main()

"""Four more changes to the autoregressive decoder's conditionals, probed against the default
(issue 16, structure.md "December, eighth step"); none is kept::

    python -m benchmarks.decoder_probes target-last titanic,taxis 0,1 --name order-last
    python -m benchmarks.decoder_probes lr-cos magic,adult 0,1 --name lr-cos
    python -m benchmarks.decoder_probes deep magic,adult 0,1 --name deep-a

Each runs ``benchmarks.structure``'s per-table fit (defaults, train-size sample: scores,
rules, ML efficacy) with one change, appended to ``results/structure-<name>.jsonl`` as
model ``synthvae[<variant>]``; the default's rows come from ``python -m benchmarks.structure
--models synthvae`` (fits are deterministic for a seed on one thread: the same rows).

* ``target-last``: the benchmark's target column moved to the end of the table (train and
  test), so the decoder draws it last, from every other column.
* ``lr-cos`` / ``lr-tail``: Adam's learning rate set at each epoch's start, on a cosine from
  ``lr`` to ``lr / 20`` over the fit's planned epochs, or constant and then linear to
  ``lr / 20`` over the last 40 % of them.
* ``deep``: a second masked ReLU layer of the same width in the autoregressive term,
  residual (``h + relu(W h)``, a unit reading units of its degree or lower: a ResMADE
  block); drawn by one masked forward pass per column (:class:`NaiveDrawer`, which gives
  the default drawer's rows for the default model).
* ``scalarw0.5`` / ``scalarw0.2``: the numeric scalars' Gaussian NLL weighted by 0.5 or 0.2
  in the objective of a fit without DP (DP fits weigh it by ``DP_SCALAR_WEIGHT`` since
  issue 18's eleventh step; dp.md), probed on the ML gap (structure.md, sixteenth step).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from contextlib import ExitStack, contextmanager

import torch

from benchmarks.common import patched

LR_FLOOR = 0.05  # the schedules end at this share of the learning rate
TAIL = 0.4  # lr-tail: the share of the epochs over which it decays


def learning_rate_share(variant: str, epoch: int, epochs: int) -> float:
    """The share of ``lr`` at ``epoch`` (1-based) of ``epochs`` planned."""
    t = (epoch - 1) / max(epochs - 1, 1)
    if variant == "lr-cos":
        return LR_FLOOR + (1 - LR_FLOOR) * 0.5 * (1 + math.cos(math.pi * t))
    if variant == "lr-tail":
        return 1.0 if t < 1 - TAIL else LR_FLOOR + (1 - LR_FLOOR) * (1 - t) / TAIL
    raise ValueError(f"not a learning-rate variant: {variant!r}")


def scheduled_learning_rate(variant: str):
    """A block in which every fit sets Adam's learning rate by the epoch."""
    import synthvae.training as training

    run_epoch = training.run_epoch

    def run_scheduled(step, batches, epoch, config, held_out=None):
        for group in step.optimizer.param_groups:
            group["lr"] = config.lr * learning_rate_share(variant, epoch, config.epochs)
        return run_epoch(step, batches, epoch, config, held_out)

    return patched(training, "run_epoch", run_scheduled)


def deep_autoregression_class():
    from synthvae.model import ColumnAutoregression, MaskedLinear

    class DeepColumnAutoregression(ColumnAutoregression):
        """The masked term with a second, residual masked layer of the same units."""

        def __init__(self, rank, hidden, value_inputs=()):
            super().__init__(rank, hidden, value_inputs)
            self.mid = MaskedLinear((self.degree[:, None] >= self.degree[None, :]).float())

        def forward(self, x):
            if self.n_values:
                x = torch.cat([x, self.values(x)], 1)
            hidden = torch.relu(self.inner(x))
            return self.outer(hidden + torch.relu(self.mid(hidden)))

    return DeepColumnAutoregression


def naive_drawer_class():
    from synthvae.exclusions import StepExclusions
    from synthvae.sampling import ColumnDrawer, column_steps, span_slot_starts

    class NaiveDrawer(ColumnDrawer):
        """Draws column by column with one forward pass of the whole masked term per column
        (the masks make a column's term independent of the columns not drawn yet): any
        masked network, at ~columns times the default drawer's cost. No conditions. The
        excluded value pairs lower later logits as in the default drawer."""

        def __init__(self, decoder, layout, floor=None, excluded=None):
            self.layout, self.floor = layout, floor
            self.autoregression = decoder.autoregression
            self.steps = column_steps(layout, self.autoregression.rank,
                                      self.autoregression.value_scalars)
            self.slot_start = span_slot_starts(layout)
            self.exclusions = None if excluded is None or len(excluded) == 0 else \
                StepExclusions(excluded, self.steps, self.autoregression.rank.device)

        def draw(self, block, base, sigma, uniform=None, noise=None, conditions=None,
                 generator=None, slot_totals=None):
            if conditions:
                raise NotImplementedError("the probe's drawer takes no conditions")
            latent, sigma = base.clone(), sigma.expand(len(base), -1)
            excluded = torch.zeros_like(base)  # the exclusions' terms so far
            for number, step in enumerate(self.steps):
                columns = slice(step.start, step.stop)
                if number:
                    base[:, columns] = (latent[:, columns] + excluded[:, columns]
                                        + self.autoregression(block)[:, columns])
                self._draw_column(step, block, base, sigma, uniform, noise, slot_totals)
                if self.exclusions is not None:
                    self.exclusions.apply(number, step, block, excluded)
            return base.new_zeros(len(base))

    return NaiveDrawer


@contextmanager
def deep_decoder():
    """A block in which fits build the deep masked term and sampling uses the naive drawer
    (unconditional sampling only: conditional sampling keeps the default drawer)."""
    import synthvae.model as model
    import synthvae.sampling as sampling

    with ExitStack() as stack:
        stack.enter_context(patched(model, "ColumnAutoregression",
                                    deep_autoregression_class()))
        stack.enter_context(patched(sampling, "ColumnDrawer", naive_drawer_class()))
        yield


@contextmanager
def target_last():
    """A block in which ``benchmarks.structure`` loads each table with its target last."""
    from benchmarks import structure

    load = structure.load_dataset

    def reordered(name):
        data = load(name)
        columns = [c for c in data.train.columns if c != data.target] + [data.target]
        return dataclasses.replace(data, train=data.train[columns], test=data.test[columns])

    with patched(structure, "load_dataset", reordered):
        yield


@contextmanager
def scalar_weight(weight: float):
    """A block in which fits without DP weigh the numbers' NLL by ``weight``."""
    from synthvae import fit_memory

    plan = fit_memory.fit_plan

    def weighted(params):
        found = plan(params)
        return found if found.private else dataclasses.replace(found, scalar_weight=weight)

    with patched(fit_memory, "fit_plan", weighted):
        yield


VARIANTS = {"scalarw0.5": lambda: scalar_weight(0.5), "scalarw0.2": lambda: scalar_weight(0.2),
            "target-last": target_last, "lr-cos": lambda: scheduled_learning_rate("lr-cos"),
            "lr-tail": lambda: scheduled_learning_rate("lr-tail"), "deep": deep_decoder}


def main(argv=None) -> None:
    from benchmarks import structure

    p = argparse.ArgumentParser(prog="python -m benchmarks.decoder_probes")
    p.add_argument("variant", choices=sorted(VARIANTS))
    p.add_argument("tables", help="comma-separated benchmark tables (name or name@rows)")
    p.add_argument("seeds", help="comma-separated seeds")
    p.add_argument("--name", required=True, help="results/structure-<name>.jsonl")
    args = p.parse_args(argv)
    structure.probe_runs(args.name, f"python -m benchmarks.decoder_probes {args.variant} "
                         f"{args.tables} {args.seeds} --name {args.name}", args.variant,
                         args.tables, args.seeds, VARIANTS[args.variant])


if __name__ == "__main__":
    main()

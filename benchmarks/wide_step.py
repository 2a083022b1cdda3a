"""One training step on a wide table, and where its time goes:
``python -m benchmarks.wide_step [--rows N] [--columns C ...]``.

For each width, fits a Synthesizer for one epoch on ``--rows`` rows of ``C`` numeric columns
(:func:`benchmarks.scale.mixture_table`), then times full training steps (forward, loss,
backward, Adam) on random 500-row batches of the encoded rows, side by side in one process,
alternating:

- ``current``: the library as it is;
- ``reference``: the softmax spans' loss as it was before 2026-12-05 (autograd over its
  gathers, by advanced indexing, and its per-span reductions, each span's maximum by
  ``scatter_reduce``), swapped in for the side by side only.

Then a torch profile of the current step gives the share of its time in the linear layers'
matrix products (``mm``/``addmm``), the part that grows with width x hidden units and that no
change to the reductions can shrink. Writes benchmarks/results/NAME.json; scale.md quotes it.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
import warnings

from benchmarks.common import machine, patched, write_json
from benchmarks.scale import mixture_table

BATCH = 500
STEPS_PER_ROUND = 10


def reference_nll(logits, x, sigma, layout):
    """synthvae.losses.reconstruction_nll before 2026-12-05 (autograd over advanced-index
    gathers and the layout's reductions; the layout's ``group_logsumexp`` is today's, which
    since 2b3df68 exponentiates a copy in place instead of a new tensor)."""
    import torch

    nll = logits.new_zeros(logits.shape[0])
    if layout.n_scalars:
        mean = torch.tanh(logits[:, layout.scalar_index])
        target = x[:, layout.scalar_index]
        nll = nll + (0.5 * ((target - mean) / sigma) ** 2 + torch.log(sigma)
                     + 0.5 * math.log(2 * math.pi)).sum(1)
    if layout.n_groups:
        slots, target = logits[:, layout.slot_index], x[:, layout.slot_index]
        nll = nll + (layout.group_logsumexp(slots) * layout.group_sum(target)).sum(1) \
            - (target * slots).sum(1)
    return nll


def reference_group_max(layout, slots):
    """SpanLayout.group_max before 2026-12-05 (``scatter_reduce`` by span at every width)."""
    import torch

    out = slots.new_full((slots.shape[0], layout.n_groups), -torch.inf)
    index = layout.slot_group.expand(slots.shape[0], -1)
    return out.scatter_reduce(1, index, slots, reduce="amax", include_self=True)


def measure(rows: int, columns: int, rounds: int) -> dict:
    """Step times of both variants and the matrix products' share on one table."""
    import torch

    from synthvae import Synthesizer
    from synthvae.steps import PlainStep
    from synthvae.training import TrainConfig

    df = mixture_table(rows, columns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a one-epoch fit warns of posterior collapse
        synth = Synthesizer(epochs=1, seed=0, verbose=False).fit(df)
    data = torch.as_tensor(synth.transformer_.transform(df), dtype=torch.float32)
    step = PlainStep(synth.generator_.model, synth.layout_, TrainConfig(),
                     torch.Generator().manual_seed(0))
    seconds = timed_steps(step, data, rounds)
    medians = {name: statistics.median(v) for name, v in seconds.items()}
    return {"rows": rows, "columns": columns, "encoded_width": synth.layout_.width,
            "spans": synth.layout_.n_groups,
            "step_s": {k: round(v, 4) for k, v in medians.items()},
            "step_s_runs": {k: [round(x, 4) for x in v] for k, v in seconds.items()},
            "speed_up": round(medians["reference"] / medians["current"], 3),
            "matmul_share": round(matmul_share(step, data), 3)}


def random_batches(data, generator, steps: int = STEPS_PER_ROUND) -> list:
    import torch

    from synthvae.batches import Batch

    picks = torch.randint(0, len(data), (steps, BATCH), generator=generator)
    return [Batch(data[pick], BATCH) for pick in picks]


def timed_steps(step, data, rounds: int) -> dict[str, list[float]]:
    """Seconds per step of ``current`` and ``reference``, alternating round by round."""
    import torch

    from synthvae import losses
    from synthvae.layout import SpanLayout

    generator = torch.Generator().manual_seed(1)
    seconds = {"current": [], "reference": []}
    for _ in range(rounds):
        for name in seconds:
            reference = name == "reference"
            with patched(losses, "reconstruction_nll", reference_nll, reference), \
                    patched(SpanLayout, "group_max", reference_group_max, reference):
                start = time.perf_counter()  # the batches' gather is part of a step
                batches = random_batches(data, generator)
                for batch in batches:
                    step(batch, 0.5)
                seconds[name].append((time.perf_counter() - start) / len(batches))
    return seconds


def matmul_share(step, data, steps: int = 5) -> float:
    """Share of the current step's CPU time in ``mm``/``addmm`` (torch profiler)."""
    import torch

    batches = random_batches(data, torch.Generator().manual_seed(2), steps)
    with torch.profiler.profile() as profile:
        for batch in batches:
            step(batch, 0.5)
    self_us = {e.key: e.self_cpu_time_total for e in profile.key_averages()}
    matmul = sum(self_us.get(k, 0) for k in ("aten::mm", "aten::addmm"))
    return matmul / max(sum(self_us.values()), 1)


def main() -> None:
    import torch

    p = argparse.ArgumentParser(prog="python -m benchmarks.wide_step")
    p.add_argument("--rows", type=int, default=2_000)
    p.add_argument("--columns", type=int, nargs="+", default=[30, 300, 1000, 3000])
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds of 10 steps")
    p.add_argument("--name", default="wide-step")
    args = p.parse_args()
    result = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": machine(),
              "threads": torch.get_num_threads(), "load_at_start": round(os.getloadavg()[0], 2),
              "batch": BATCH, "runs": []}
    for columns in args.columns:
        result["runs"].append(measure(args.rows, columns, args.rounds))
        print(result["runs"][-1], flush=True)
        write_json(args.name, result)


if __name__ == "__main__":
    main()

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

from benchmarks.common import machine, write_json
from benchmarks.scale import mixture_table

BATCH = 500
STEPS_PER_ROUND = 10


def reference_nll(logits, x, sigma, layout):
    """synthvae.losses.reconstruction_nll before 2026-12-05 (autograd over advanced-index
    gathers and the layout's reductions)."""
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
    import torch

    from synthvae import Synthesizer, losses
    from synthvae.batches import Batch
    from synthvae.layout import SpanLayout
    from synthvae.steps import PlainStep
    from synthvae.training import TrainConfig

    df = mixture_table(rows, columns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a one-epoch fit warns of posterior collapse
        synth = Synthesizer(epochs=1, seed=0, verbose=False).fit(df)
    data = torch.as_tensor(synth.transformer_.transform(df), dtype=torch.float32)
    layout = synth.layout_
    step = PlainStep(synth.generator_.model, layout, TrainConfig(),
                     torch.Generator().manual_seed(0))
    current = (losses.reconstruction_nll, SpanLayout.group_max)
    variants = {"current": current, "reference": (reference_nll, reference_group_max)}
    generator = torch.Generator().manual_seed(1)
    seconds = {name: [] for name in variants}
    try:
        for _ in range(rounds):
            for name, (nll, group_max) in variants.items():
                losses.reconstruction_nll, SpanLayout.group_max = nll, group_max
                picks = torch.randint(0, len(data), (STEPS_PER_ROUND, BATCH), generator=generator)
                start = time.perf_counter()
                for pick in picks:
                    step(Batch(data[pick], BATCH), 0.5)
                seconds[name].append((time.perf_counter() - start) / STEPS_PER_ROUND)
        losses.reconstruction_nll, SpanLayout.group_max = current
        with torch.profiler.profile() as profile:
            for pick in picks[:5]:
                step(Batch(data[pick], BATCH), 0.5)
    finally:
        losses.reconstruction_nll, SpanLayout.group_max = current
    self_us = {e.key: e.self_cpu_time_total for e in profile.key_averages()}
    matmul = sum(self_us.get(k, 0) for k in ("aten::mm", "aten::addmm"))
    medians = {name: statistics.median(v) for name, v in seconds.items()}
    return {"rows": rows, "columns": columns, "encoded_width": layout.width,
            "spans": layout.n_groups,
            "step_s": {k: round(v, 4) for k, v in medians.items()},
            "step_s_runs": {k: [round(x, 4) for x in v] for k, v in seconds.items()},
            "speed_up": round(medians["reference"] / medians["current"], 3),
            "matmul_share": round(matmul / max(sum(self_us.values()), 1), 3)}


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

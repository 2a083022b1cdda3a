"""Probe of a learning-rate schedule under DP (issue 18): Adult, public schema, defaults, the
learning rate decayed by a cosine from ``lr`` at the first epoch to ``lr * FLOOR`` at the
last (set at the start of each epoch, in this process only)::

    python -m benchmarks.dp_lr_probe FLOOR EPSILON SEED   # appends to dp-lr-schedule.jsonl

Not a setting of synthvae: it did not help (benchmarks/results/dp.md, sixth step).
"""

from __future__ import annotations

import json
import math
import sys
import time
import warnings

import synthvae.training as training
from benchmarks.common import RESULTS, load, patched, quality
from benchmarks.dp import adult_public_schema, ml_efficacy
from synthvae import Synthesizer


def cosine_factor(epoch: int, epochs: int, floor: float) -> float:
    """1 at epoch 1, ``floor`` at the last epoch, a half cosine between."""
    progress = (epoch - 1) / max(epochs - 1, 1)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def with_schedule(floor: float):
    """``training.run_epoch`` setting each epoch's learning rate first."""
    run_epoch, base = training.run_epoch, {}

    def scheduled(step, batches, epoch, config, *args, **kwargs):
        groups = step.optimizer.param_groups
        base.setdefault("lr", groups[0]["lr"])
        for group in groups:
            group["lr"] = base["lr"] * cosine_factor(epoch, config.epochs, floor)
        return run_epoch(step, batches, epoch, config, *args, **kwargs)

    scheduled.base = base
    return scheduled


def main() -> None:
    """One scheduled DP fit; its scores appended to dp-lr-schedule.jsonl."""
    import torch

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    floor, epsilon, seed = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    train, test = load("adult_train"), load("adult_test")
    scheduled = with_schedule(floor)
    with patched(training, "run_epoch", scheduled):
        start = time.perf_counter()
        synth = Synthesizer(epsilon=epsilon, verbose=False, seed=seed,
                            schema=adult_public_schema(train, test)).fit(train)
        fit_s = time.perf_counter() - start
    base_lr = scheduled.base.get("lr")
    synthetic = synth.sample(len(train), seed=seed + 1)
    row = {"lr_floor": floor, "eps": epsilon, "seed": seed, "fit_s": round(fit_s, 1),
           "base_lr": base_lr,
           **quality(train, synthetic, synth.schema_.to_sdmetrics_metadata()),
           "ml_auc": round(ml_efficacy(synthetic, test, "income"), 4)}
    print(json.dumps(row), flush=True)
    with open(RESULTS / "dp-lr-schedule.jsonl", "a") as out:
        out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()

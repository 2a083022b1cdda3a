"""Where synthvae spends its time: ``python -m benchmarks.profiling [--steps 60]``.

Fits synthvae on adult for 1 epoch (to build the model), then profiles with torch.profiler
(a) ``--steps`` training steps of the real loop's step strategy (``steps.PlainStep``) and
(b) sampling 100,000 rows (decoder + inverse transform). Writes the top operators by self CPU time to
benchmarks/results/profile.txt. For Python-level hot spots run it under py-spy:
``py-spy record --format raw -o results/pyspy.txt -- python -m benchmarks.profiling``,
then ``python -m benchmarks.profiling --pyspy-summary results/pyspy.txt``.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from benchmarks.common import RESULTS
from benchmarks.data import load_dataset
from synthvae import Synthesizer
from synthvae.batches import Batch
from synthvae.steps import PlainStep


def training_steps(synth: Synthesizer, steps: int) -> None:
    model, layout, config = synth.model_, synth.layout_, synth.train_config_
    data = torch.as_tensor(synth.transformer_.transform(load_dataset("adult").train))
    generator = torch.Generator().manual_seed(0)
    step = PlainStep(model, layout, config, generator)  # the training loop's step
    for _ in range(steps):
        batch = data[torch.randint(len(data), (config.batch_size,), generator=generator)]
        step(Batch(batch, len(batch)), config.beta)


def profiled(label: str, fn, row_limit: int) -> str:
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=False) as prof:
        fn()
    seconds = time.perf_counter() - start
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=row_limit)
    return f"== {label}: {seconds:.2f} s under the profiler ==\n{table}\n"


def pyspy_summary(path: Path, top: int = 20) -> str:
    """Self and inclusive sample counts per function from ``py-spy record --format raw``."""
    own, inclusive, total = Counter(), Counter(), 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f.split(" (")[0] + " (" + f.split(" (")[-1].split(":")[0].rsplit("/", 1)[-1]
                  + ")" for f in stack.split(";")]
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
    lines = [f"{path.name}: {total} samples", "self:"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines += ["inclusive (synthvae functions):"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common()
              if "synthvae" in f or ".py)" in f and any(m in f for m in MODULES)][:top]
    return "\n".join(lines)


MODULES = ("training.py", "losses.py", "layout.py", "model.py", "sampling.py", "table.py",
           "continuous.py", "categorical.py", "mixture.py", "synthesizer.py", "prior.py",
           "generator.py", "table_sampling.py", "fitting.py", "fit_memory.py")


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.profiling")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--pyspy-summary", type=Path, help="summarise a py-spy raw file and exit")
    args = p.parse_args()
    if args.pyspy_summary:
        print(pyspy_summary(args.pyspy_summary))
        return
    synth = Synthesizer(epochs=1, seed=0, verbose=False).fit(load_dataset("adult").train)
    training_steps(synth, 5)  # warm-up
    start = time.perf_counter()
    training_steps(synth, args.steps)
    plain = time.perf_counter() - start
    text = f"threads: {torch.get_num_threads()}; {args.steps} steps without profiler: " \
           f"{plain:.2f} s ({1000 * plain / args.steps:.1f} ms/step)\n\n"
    text += profiled(f"{args.steps} training steps", lambda: training_steps(synth, args.steps), 25)
    text += profiled(f"sample {args.rows:,} rows", lambda: synth.sample(args.rows), 25)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "profile.txt").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

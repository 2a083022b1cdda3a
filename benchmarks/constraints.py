"""Constraints on Adult (issue 17): ``python -m benchmarks.constraints``.

Fits the synthesizer at defaults twice on the same rows, without constraints and with the
fixed combinations (relationship, sex) and (education, education-num), and records for each:
the synthetic rows holding a combination no real row holds (counted here, from the real
pairs), the sdmetrics Column Shapes / Column Pair Trends scores (synthetic rows as many as
real ones), fit time, and the median time of ``sample(--rows)`` over three repeats. Writes
``results/constraints.json`` and ``results/constraints.md``. Options: ``--data demo`` (the
bundled examples/adult.csv.gz) or ``--data adult`` (the full training split in
../shared/datasets), ``--seeds 0,1``, ``--rows 100000``. ``--controlled`` instead fits both
models briefly (``--epochs``, default 8) and times ``sample(--rows)`` alternating between
them five times, so that other load on the machine falls on both alike; it writes
``results/constraints-controlled.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import pandas as pd

from benchmarks.common import RESULTS, ROOT, machine, quality, timed, write_json
from synthvae import FixedCombinations, Synthesizer

PAIRS = (("relationship", "sex"), ("education", "education-num"))
CONSTRAINTS = [FixedCombinations(list(pair)) for pair in PAIRS]
REPEATS = 3


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("demo", "adult"), default="adult")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--controlled", action="store_true")
    parser.add_argument("--epochs", type=int, default=8)
    return parser.parse_args(argv)


def controlled(real: pd.DataFrame, rows: int, epochs: int) -> dict:
    """Fit and sampling seconds of both models, measured alternately (five rounds)."""
    models, fits = {}, {"without": [], "with": []}
    for _ in range(2):
        for key, constraints in (("without", None), ("with", CONSTRAINTS)):
            models[key] = Synthesizer(epochs=epochs, verbose=False,
                                      constraints=constraints).fit(real)
            fits[key].append(models[key].training_summary_["train_seconds"])
    times = {"without": [], "with": []}
    for model in models.values():
        model.sample(1_000, seed=99)
    for _ in range(5):
        for key, model in models.items():
            times[key].append(round(timed(model.sample, rows, seed=1)[1], 3))
    ratio = statistics.median(times["with"]) / statistics.median(times["without"])
    return {"epochs": epochs, "rows": rows, "train_seconds": fits, "sample_seconds": times,
            "sample_ratio": round(ratio, 3),
            "encoded_width": {k: m.layout_.width for k, m in models.items()}}


def load_real(which: str) -> pd.DataFrame:
    if which == "demo":
        return pd.read_csv(ROOT / "examples" / "adult.csv.gz")
    from benchmarks.data import load_dataset

    return load_dataset("adult").train


def unseen_combinations(real: pd.DataFrame, synthetic: pd.DataFrame) -> dict:
    """Synthetic rows whose (a, b) pair no real row holds, per pair and in all."""
    counts, any_broken = {}, pd.Series(False, index=synthetic.index)
    for pair in PAIRS:
        seen = pd.MultiIndex.from_frame(real[list(pair)].astype(str))
        broken = ~pd.MultiIndex.from_frame(synthetic[list(pair)].astype(str)).isin(seen)
        counts[" & ".join(pair)] = int(broken.sum())
        any_broken |= broken
    counts["any"] = int(any_broken.sum())
    return counts


def run(real: pd.DataFrame, seed: int, rows: int, constrained: bool) -> dict:
    synth, fit_s = timed(Synthesizer(seed=seed, verbose=False,
                                     constraints=CONSTRAINTS if constrained else None).fit,
                         real)
    synth.sample(1_000, seed=99)  # warm-up: first-call costs out of the timing
    times = [timed(synth.sample, rows, seed=1)[1] for _ in range(REPEATS)]
    synthetic = synth.sample(rows, seed=1)
    scores = quality(real, synthetic.iloc[:len(real)], synth.schema_.to_sdmetrics_metadata())
    return {"seed": seed, "constraints": constrained, "fit_s": round(fit_s, 1),
            "epochs_run": synth.training_summary_["epochs_run"],
            "sample_s": round(statistics.median(times), 3),
            "sample_runs_s": [round(t, 3) for t in times],
            "unseen_combinations": unseen_combinations(real, synthetic), **scores}


def markdown(payload: dict) -> str:
    runs = payload["runs"]
    lines = [
        "# Constraints on Adult (issue 17)", "",
        f"Command: `{payload['command']}`; data: {payload['data']} ({payload['real_rows']:,} "
        f"rows); {payload['rows']:,} synthetic rows per run, seed 1; defaults otherwise. "
        f"Machine: {payload['machine']['cpu_model']}, {payload['machine']['cores']} cores "
        f"(shared with other sessions: {payload['load']}), torch "
        f"{payload['machine']['torch']}, threads {payload['threads']}.", "",
        "Constraints: fixed combinations (relationship, sex) and (education, education-num). "
        "*Unseen* counts synthetic rows whose pair no real row holds (counted by the "
        "benchmark from the real pairs). Scores: sdmetrics QualityReport on as many "
        "synthetic rows as real ones. Sampling: median of three `sample(N)` calls.", "",
        "| seed | constraints | unseen relationship & sex | unseen education & num | "
        "unseen any | Column Shapes | Column Pair Trends | epochs | fit s | sample s |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in runs:
        u = r["unseen_combinations"]
        lines.append(f"| {r['seed']} | {'yes' if r['constraints'] else 'no'} | "
                     f"{u['relationship & sex']:,} | {u['education & education-num']:,} | "
                     f"{u['any']:,} ({u['any'] / payload['rows']:.2%}) | "
                     f"{r['column_shapes']:.4f} | {r['column_pair_trends']:.4f} | "
                     f"{r['epochs_run']} | {r['fit_s']} | {r['sample_s']} |")
    lines += ["", "Sampling time with / without constraints (same seed): " + ", ".join(
        f"seed {s}: {ratio:.2f}x" for s, ratio in payload["sample_ratio"].items()) +
        " (goal <= 1.5x).", ""]
    return "\n".join(lines)


def main(argv=None) -> None:
    import torch

    args = parse_args(argv)
    torch.set_num_threads(1)
    real = load_real(args.data)
    if args.controlled:
        result = dict(controlled(real, args.rows, args.epochs), data=args.data,
                      machine=machine(), load=f"load average {os.getloadavg()[0]:.1f}")
        write_json("constraints-controlled", result)
        print(result)
        return
    seeds = [int(s) for s in args.seeds.split(",")]
    runs = [run(real, seed, args.rows, constrained) for seed in seeds
            for constrained in (False, True)]
    by = {(r["seed"], r["constraints"]): r for r in runs}
    payload = {
        "command": "python -m benchmarks.constraints " + " ".join(argv or sys.argv[1:]),
        "data": args.data, "real_rows": len(real), "rows": args.rows, "runs": runs,
        "sample_ratio": {s: round(by[(s, True)]["sample_s"] / by[(s, False)]["sample_s"], 3)
                         for s in seeds},
        "machine": machine(), "threads": torch.get_num_threads(),
        "load": f"load average {os.getloadavg()[0]:.1f} at the end",
        "finished": time.strftime("%Y-%m-%d %H:%M")}
    write_json("constraints", payload)
    (RESULTS / "constraints.md").write_text(markdown(payload))
    print(markdown(payload))


if __name__ == "__main__":
    main()

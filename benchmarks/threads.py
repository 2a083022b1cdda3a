"""CPU threads beside a busy core: ``python -m benchmarks.threads``.

Fits the demo table (examples/adult.csv.gz, ``--epochs``) and samples ``--rows`` rows from it
with ``n_threads`` = torch's default (all cores), 1, and None (synthvae's default: the idle
CPUs), first on the machine as it is, then beside ``--busy`` processes that each spin one
core (what another job on a shared machine, a CI neighbour or a notebook kernel does).
Writes ``results/threads.json`` and ``results/threads.md``. Run it on a machine with nothing
else running: the "quiet" rows assume so.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager

import pandas as pd
import torch

from benchmarks.common import RESULTS, ROOT, machine, write_json
from synthvae import Synthesizer

SPIN = "while True: pass"


@contextmanager
def busy_cores(n: int):
    """``n`` processes spinning one core each, stopped on exit."""
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(n)]
    try:
        time.sleep(0.5 if n else 0)
        yield
    finally:
        for process in spinners:
            process.kill()
            process.wait()


def one_run(df: pd.DataFrame, n_threads: int | None, epochs: int, rows: int) -> dict:
    start = time.perf_counter()
    synth = Synthesizer(epochs=epochs, seed=0, n_threads=n_threads, verbose=False).fit(df)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    synth.sample(rows, seed=1)
    return {"fit_s": round(fit_s, 2), "sample_s": round(time.perf_counter() - start, 3)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--busy", type=int, default=1, help="cores kept busy in the second part")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--summary", action="store_true",
                        help="only rewrite threads.md's table from threads.json")
    args = parser.parse_args(argv)
    if args.summary:
        write_table(json.loads((RESULTS / "threads.json").read_text()))
        return
    df = pd.read_csv(ROOT / "examples" / "adult.csv.gz")
    cores = torch.get_num_threads()
    settings = {f"{cores} (torch's default)": cores, "1": 1, "None (synthvae's default)": None}
    results = []
    for busy in (0, args.busy):
        with busy_cores(busy):
            for label, n_threads in settings.items():
                runs = [one_run(df, n_threads, args.epochs, args.rows)
                        for _ in range(args.repeats)]
                entry = {"busy_cores": busy, "n_threads": label, "runs": runs,
                         "fit_s": round(statistics.median(r["fit_s"] for r in runs), 2),
                         "sample_s": round(statistics.median(r["sample_s"] for r in runs), 3)}
                results.append(entry)
                print(entry, flush=True)
    out = {"machine": machine(), "epochs": args.epochs, "rows": args.rows,
           "repeats": args.repeats, "results": results}
    write_json("threads", out)
    write_table(out)


def write_table(out: dict) -> None:
    """threads.md: the table from ``out``, above any notes written below it."""
    path = RESULTS / "threads.md"
    notes = path.read_text().split("\n\n", 3)[3:] if path.exists() else []
    path.write_text(markdown(out) + ("\n" + notes[0] if notes else ""))


def markdown(out: dict) -> str:
    m = out["machine"]
    lines = ["# CPU threads beside a busy core", "",
             f"`python -m benchmarks.threads --epochs {out['epochs']} --rows {out['rows']} "
             f"--repeats {out['repeats']}` on {m['cores']} cores ({m.get('cpu_model')}), torch "
             f"{m['torch']}: the demo table's fit ({out['epochs']} epochs) and "
             f"`sample({out['rows']:,})`, medians of {out['repeats']}.", "",
             "| other busy cores | n_threads | fit s | sample s | runs |", "|---|---|---|---|---|"]
    for r in out["results"]:
        r = {**r, "fit_s": round(r["fit_s"], 2), "sample_s": round(r["sample_s"], 3)}
        runs = "; ".join(f"{x['fit_s']} / {x['sample_s']}" for x in r["runs"])
        lines.append(f"| {r['busy_cores']} | {r['n_threads']} | {r['fit_s']} | "
                     f"{r['sample_s']} | {runs} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

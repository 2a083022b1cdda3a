"""synthvae vs ctgan's TVAE, side by side in one run: ``python -m benchmarks.run``.

    python -m benchmarks.run --quick                      # adult slice, 3 epochs, < 2 min
    python -m benchmarks.run --datasets adult --seeds 0,1,2 --ctgan-seeds 0
    python -m benchmarks.run --datasets magic,beijing --epochs-ctgan 100 --name others

Every (dataset, model, seed) runs in its own process (benchmarks/worker.py) so peak RSS is
per model. Results go to benchmarks/results/run-<name>.json and .md (see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time

from benchmarks.common import RESULTS, machine, write_json
from benchmarks.report import markdown

SAMPLE_SIZES = (100_000, 1_000_000)
LADDER = (5, 10, 20, 30, 45)  # synthvae epoch budgets for the time-to-quality curve


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run",
                                description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="adult slice, few epochs, no 1M sample")
    p.add_argument("--datasets", default="adult")
    p.add_argument("--models", default="synthvae,ctgan")
    p.add_argument("--seeds", default="0,1,2", help="synthvae seeds")
    p.add_argument("--ctgan-seeds", default="0", help="ctgan seeds (it is slow)")
    p.add_argument("--epochs-synthvae", type=int, default=None, help="default: automatic")
    p.add_argument("--epochs-ctgan", type=int, default=300)
    p.add_argument("--sample-sizes", default=",".join(map(str, SAMPLE_SIZES)))
    p.add_argument("--no-quality", action="store_true", help="timings only")
    p.add_argument("--no-ladder", action="store_true", help="skip the time-to-quality curve")
    p.add_argument("--threads", type=int, default=1,
                   help="torch / OpenMP threads per process (0 = library defaults); 1 is far "
                        "steadier on a shared machine")
    p.add_argument("--max-load", type=float, default=1.5, help="wait for this 1-min load")
    p.add_argument("--max-wait", type=float, default=120, help="seconds to wait for it")
    p.add_argument("--name", default=None)
    p.add_argument("--report-only", action="store_true",
                   help="rewrite run-<name>.md from run-<name>.json (after an interruption)")
    args = p.parse_args(argv)
    if args.quick:
        args.datasets, args.seeds, args.ctgan_seeds = "adult-quick", "0", "0"
        args.epochs_synthvae, args.epochs_ctgan = args.epochs_synthvae or 3, 3
        args.sample_sizes, args.no_ladder, args.max_wait = "10000", True, 0
        args.name = args.name or "quick"
    args.name = args.name or datetime.datetime.now().strftime("%Y%m%d-%H%M")
    return args


def jobs(args) -> list[dict]:
    seeds = {"synthvae": _ints(args.seeds), "ctgan": _ints(args.ctgan_seeds)}
    epochs = {"synthvae": args.epochs_synthvae, "ctgan": args.epochs_ctgan}
    models = args.models.split(",")
    out = []
    for dataset in args.datasets.split(","):
        for model in sorted(models, key=lambda m: m != "ctgan"):  # ctgan first: the ladder needs it
            out += [{"dataset": dataset, "model": model, "seed": seed, "epochs_cap": epochs[model],
                     "sample_sizes": _ints(args.sample_sizes), "quality": not args.no_quality,
                     "threads": args.threads}
                    for seed in seeds[model]]
        if not args.no_ladder and not args.no_quality and set(models) >= {"synthvae", "ctgan"}:
            out.append({"dataset": dataset, "model": "synthvae", "seed": 0, "ladder": LADDER,
                        "threads": args.threads})
    return out


def run_worker(job: dict, max_load: float, max_wait: float) -> dict:
    """The worker's JSON, plus wall seconds, the load when it started and its peak RSS."""
    load = wait_for_quiet(max_load, max_wait)
    env = dict(os.environ)
    if job.get("threads"):  # also caps scikit-learn's OpenMP in the quality scores
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(job["threads"])
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.worker", json.dumps(job)],
                            stdout=subprocess.PIPE, text=True, env=env)
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    result = {**job, "load_at_start": load, "wall_s": round(time.perf_counter() - start, 1),
              "process_peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}
    if proc.returncode != 0:
        return {**result, "error": f"worker exited with {proc.returncode}"}
    return {**result, **json.loads(stdout.strip().splitlines()[-1])}


def ladder_goal(runs: list[dict], dataset: str) -> dict | None:
    """ctgan's median Column Shapes and all-pairs Column Pair Trends on ``dataset``."""
    keys = ("column_shapes", "column_pair_trends_all_pairs")
    scored = [r["scores"] for r in runs
              if r["dataset"] == dataset and r["model"] == "ctgan" and r.get("scores")]
    if not scored:
        return None
    return {k: statistics.median(s[k] for s in scored) for k in keys}


def wait_for_quiet(max_load: float, max_wait: float) -> float:
    """Sleep (up to max_wait s) until the 1-minute load average is below max_load."""
    deadline = time.monotonic() + max_wait
    while os.getloadavg()[0] >= max_load and time.monotonic() < deadline:
        time.sleep(10)
    return round(os.getloadavg()[0], 2)


def versions() -> dict:
    from importlib.metadata import version

    return {p: version(p) for p in ("synthvae", "ctgan", "torch", "sdmetrics", "scikit-learn")}


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.report_only:
        payload = json.loads((RESULTS / f"run-{args.name}.json").read_text())
        (RESULTS / f"run-{args.name}.md").write_text(markdown(payload))
        return payload
    payload = {"name": args.name, "started": datetime.datetime.now().isoformat(timespec="seconds"),
               "command": " ".join(["python -m benchmarks.run", *(argv or sys.argv[1:])]),
               "machine": machine(), "versions": versions(), "runs": []}
    for job in jobs(args):
        if "ladder" in job:
            job["goal"] = ladder_goal(payload["runs"], job["dataset"])
        print(f"running {job}", file=sys.stderr, flush=True)
        payload["runs"].append(run_worker(job, args.max_load, args.max_wait))
        print(json.dumps(payload["runs"][-1], default=str)[:400], file=sys.stderr, flush=True)
        write_json(f"run-{args.name}", payload)  # kept as it grows: a crash loses one run
    (RESULTS / f"run-{args.name}.md").write_text(markdown(payload))
    print(RESULTS / f"run-{args.name}.md")
    return payload


def _ints(text: str) -> list[int]:
    return [int(v) for v in str(text).split(",") if v != ""]


if __name__ == "__main__":
    main()

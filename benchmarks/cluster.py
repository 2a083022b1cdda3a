"""Figures for docs/scale.md: ``python -m benchmarks.cluster [--parts ddp,shards,stream]``.

Every measurement runs the CLI in a child process, timed from outside, its peak RSS read from
``wait4`` (for torchrun: the largest of the launcher and its workers):

- ddp: ``synthvae fit`` of adult for 2 epochs, one process vs ``torchrun --nproc-per-node 2``;
- shards: 1,000,000 rows sampled as 4 shards run one after another vs one process;
- stages: a streamed fit of flights x10, stage by stage (reservoir pass, transformer fit,
  the first ``--batches`` training steps), with the peak RSS after each;
- stream: flights (336,776 rows) fitted for 1 epoch in memory vs ``--stream``, and flights
  stacked 10 times (3,367,760 rows, written to a temporary folder) in memory vs streamed
  (``--stream-limit S`` stops that streamed fit after S seconds: its memory is steady once
  the reservoir pass and the first buffers are done; the peak so far is reported).
Parts merge into benchmarks/results/cluster.json; cluster.md is rewritten from it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import DATASETS, RESULTS, ROOT, machine

CLI = [sys.executable, "-m", "synthvae"]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone"]


def run(command: list[str], timeout: float = 1800) -> dict:
    """Wall seconds, exit code, peak RSS (MB) and the last line of stderr of one command."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()  # reported as a negative exit code: stopped at the limit
        stdout, stderr = proc.communicate()
    seconds = time.perf_counter() - start
    # the children's peak (RUSAGE_CHILDREN keeps the largest waited-for descendant)
    import resource

    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    lines = [line for line in (stderr or "").splitlines() if line.strip()]
    error = next((line for line in lines if line.startswith("error:")), None)
    return {"seconds": round(seconds, 1), "exit_code": proc.returncode,
            "peak_rss_mb_so_far": round(peak_kb / 1024), "stdout": stdout.strip()[-300:],
            "error": error}


def isolated(command: list[str], timeout: float = 1800) -> dict:
    """:func:`run` in a fresh interpreter, so the peak RSS is this command's alone."""
    code = ("import json,sys; from benchmarks.cluster import run; "
            f"print(json.dumps(run({command!r}, {timeout})))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["peak_rss_mb"] = result.pop("peak_rss_mb_so_far")
    return result


def median_of(runs: list[dict]) -> dict:
    ok = [r for r in runs if r["exit_code"] == 0]
    return {"median_s": statistics.median(r["seconds"] for r in ok) if ok else None,
            "runs_s": [r["seconds"] for r in runs], "exit_codes": [r["exit_code"] for r in runs]}


def ddp(work: Path, repeats: int) -> dict:
    data = str(DATASETS / "adult_train.csv.gz")
    fit = ["fit", data, "--epochs", "2", "--quiet", "--seed", "0"]
    one = [isolated([*CLI, *fit, "-o", str(work / "one.safetensors")]) for _ in range(repeats)]
    # torchrun gives each worker one thread; the same for one process, for a fair comparison
    one_thread = [isolated(["env", "OMP_NUM_THREADS=1", *CLI, *fit, "-o",
                            str(work / "one.safetensors")]) for _ in range(repeats)]
    two = [isolated([*TORCHRUN, "--nproc-per-node", "2", "-m", "synthvae", *fit, "-o",
                     str(work / "two.safetensors")]) for _ in range(repeats)]
    result = {"table": "adult_train (32,561 rows), 2 epochs, batch 500",
              "one_process": median_of(one), "one_process_one_thread": median_of(one_thread),
              "two_processes_gloo": median_of(two)}
    b = result["two_processes_gloo"]["median_s"]
    for key in ("one_process", "one_process_one_thread"):
        a = result[key]["median_s"]
        result[f"speedup_vs_{key}"] = round(a / b, 2) if a and b else None
    return result


def shards(work: Path, repeats: int, rows: int = 1_000_000, count: int = 4) -> dict:
    model = work / "one.safetensors"
    if not model.exists():
        isolated([*CLI, "fit", str(DATASETS / "adult_train.csv.gz"), "--epochs", "2", "-q",
                  "-o", str(model)])
    sample = [*CLI, "sample", "-n", str(rows), "-m", str(model), "-q", "--seed", "1"]
    whole, sharded = [], []
    for _ in range(repeats):
        whole.append(isolated([*sample, "-o", str(work / "whole.parquet")]))
        parts = [isolated([*sample, "--shards", str(count), "--shard-index", str(i), "-o",
                           str(work / "parts")]) for i in range(count)]
        sharded.append({"seconds": round(sum(p["seconds"] for p in parts), 1),
                        "exit_code": max(p["exit_code"] for p in parts),
                        "per_shard_s": [p["seconds"] for p in parts]})
    import pyarrow.dataset as pads

    return {"rows": rows, "shards": count, "one_process": median_of(whole),
            "shards_one_after_another": median_of(sharded),
            "per_shard_s": sharded[-1]["per_shard_s"],
            "rows_read_back": pads.dataset(str(work / "parts")).count_rows()}


def flights_parquet(work: Path, copies: int) -> Path:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = work / f"flights-x{copies}.parquet"
    table = pa.Table.from_pandas(pd.read_csv(DATASETS / "flights.csv.gz", low_memory=False),
                                 preserve_index=False)
    with pq.ParquetWriter(path, table.schema) as writer:
        for _ in range(copies):
            writer.write_table(table, row_group_size=65_536)
    return path


def stream(work: Path, limit: float = 1800) -> dict:
    result = {}
    for copies in (1, 10):
        path = flights_parquet(work, copies)
        fit = ["fit", str(path), "--epochs", "1", "--quiet", "-o", str(work / "f.safetensors")]
        memory = isolated([*CLI, *fit])
        streamed = isolated([*CLI, *fit, "--stream"], limit if copies > 1 else 1800)
        result[f"flights_x{copies}"] = {
            "rows": 336_776 * copies, "file_mb": round(path.stat().st_size / 1e6, 1),
            "in_memory": {k: memory[k] for k in ("seconds", "exit_code", "peak_rss_mb", "error")},
            "streamed": {k: streamed[k] for k in ("seconds", "exit_code", "peak_rss_mb",
                                                  "error")}}
        print(result, flush=True)
        path.unlink()
    return result


def stream_stages(path: str, batches: int = 300) -> dict:
    """The stages of a streamed fit, timed, with the peak RSS after each (run in a child):
    the reservoir pass, the transformer fit on it, then ``batches`` training steps."""
    import resource

    import numpy as np
    import torch

    from synthvae import Synthesizer
    from synthvae.batches import Batch
    from synthvae.fitting import start_generator
    from synthvae.params import fit_plan
    from synthvae.preparation import learn_transformer
    from synthvae.steps import PlainStep
    from synthvae.streaming import ParquetSource

    def mark(name, start):
        out[name] = {"seconds": round(time.perf_counter() - start, 1),
                     "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                          / 1024)}
        return time.perf_counter()

    out, start = {}, time.perf_counter()
    source = ParquetSource(path)
    sample = source.reservoir(200_000, 0)
    start = mark("reservoir_pass", start)
    synth = Synthesizer(verbose=False, epochs=1)
    synth.device_ = torch.device("cpu")
    synth.fit_plan_ = fit_plan(synth)
    synth.schema_, synth.transformer_ = learn_transformer(synth, sample, 0, None)
    start_generator(synth, synth.transformer_.transform(sample.iloc[:50_000]), 0, source.rows)
    del sample
    start = mark("transformer_fit", start)
    step = PlainStep(synth.model_, synth.layout_, synth.train_config_,
                     torch.Generator().manual_seed(0))  # the training loop's step
    stream = source.encoded_batches(synth.transformer_, 500, 100_000,
                                    np.random.default_rng(0), "cpu")
    for _, batch in zip(range(batches), stream):
        step(Batch(batch, len(batch)), synth.train_config_.beta)
    mark(f"first_{batches}_batches", start)
    out["rows"] = source.rows
    return out


def stages(work: Path, batches: int) -> dict:
    path = flights_parquet(work, 10)
    code = ("import json; from benchmarks.cluster import stream_stages; "
            f"print(json.dumps(stream_stages({str(path)!r}, {batches})))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    path.unlink()
    if done.returncode:
        raise SystemExit(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def markdown(r: dict) -> str:
    m = r["machine"]
    lines = [f"# Cluster benchmark ({r['started']})", "",
             f"Machine: {m['cores']} cores, {m.get('cpu_model')}, {m.get('memory_gb')} GB, "
             f"GPU: {m['gpu'] or 'none'}. 1-minute load average at start "
             f"{r['load_at_start']} (another job shared the machine: figures are noisy).", "",
             "| measurement | result |", "|---|---|"]
    if "ddp" in r:
        d = r["ddp"]
        lines.append(f"| fit {d['table']}: 1 process (torch's default threads) | "
                     f"{d['one_process']['median_s']} s (runs {d['one_process']['runs_s']}) |")
        if "one_process_one_thread" in d:
            lines.append(f"| same, 1 process, OMP_NUM_THREADS=1 | "
                         f"{d['one_process_one_thread']['median_s']} s (runs "
                         f"{d['one_process_one_thread']['runs_s']}) |")
        speedups = ", ".join(f"{v}x vs {k[len('speedup_vs_'):].replace('_', ' ')}"
                             for k, v in d.items() if k.startswith("speedup_vs_"))
        lines.append(f"| same, torchrun 2 processes (gloo, 1 thread each) | "
                     f"{d['two_processes_gloo']['median_s']} s (runs "
                     f"{d['two_processes_gloo']['runs_s']}); speed-up {speedups} |")
    if "shards" in r:
        s = r["shards"]
        lines.append(f"| sample {s['rows']:,} rows, 1 process | "
                     f"{s['one_process']['median_s']} s (runs {s['one_process']['runs_s']}) |")
        lines.append(f"| same as {s['shards']} shards run one after another | "
                     f"{s['shards_one_after_another']['median_s']:.1f} s (per shard "
                     f"{s['per_shard_s']}); {s['rows_read_back']:,} rows read back |")
    for key, block in r.get("stream", {}).items():
        for mode in ("in_memory", "streamed"):
            b = block[mode]
            if b["exit_code"] == 0:
                outcome = f"{b['seconds']} s, peak RSS {b['peak_rss_mb']:,} MB"
            elif b["exit_code"] < 0:
                outcome = (f"stopped at the time limit after {b['seconds']} s, peak RSS "
                           f"{b['peak_rss_mb']:,} MB so far")
            else:
                outcome = f"refused in {b['seconds']} s: {b['error']}"
            lines.append(f"| fit {key} ({block['rows']:,} rows), 1 epoch, "
                         f"{mode.replace('_', ' ')} | {outcome} |")
    if "stages" in r:
        st = r["stages"]
        steps = next(k for k in st if k.startswith("first_"))
        lines.append(f"| streamed fit of flights x10 ({st['rows']:,} rows), by stage | "
                     f"reservoir pass {st['reservoir_pass']['seconds']} s (peak RSS "
                     f"{st['reservoir_pass']['peak_rss_mb']:,} MB); transformer fit "
                     f"{st['transformer_fit']['seconds']} s ({st['transformer_fit']['peak_rss_mb']:,}"
                     f" MB); {steps.replace('_', ' ')} of 500 rows {st[steps]['seconds']} s "
                     f"({st[steps]['peak_rss_mb']:,} MB) |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.cluster")
    p.add_argument("--parts", default="ddp,shards,stream")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batches", type=int, default=300,
                   help="training steps timed by the 'stages' part")
    p.add_argument("--stream-limit", type=float, default=1800,
                   help="seconds allowed to the streamed fit of flights x10")
    args = p.parse_args()
    path = RESULTS / "cluster.json"
    r = json.loads(path.read_text()) if path.exists() else {}
    r.update({"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": machine(),
              "load_at_start": round(os.getloadavg()[0], 2)})
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        work = Path(tmp)
        for part in args.parts.split(","):
            if part == "ddp":
                r["ddp"] = ddp(work, args.repeats)
            elif part == "shards":
                r["shards"] = shards(work, args.repeats)
            elif part == "stages":
                r["stages"] = stages(work, args.batches)
            elif part == "stream":
                r["stream"] = stream(work, args.stream_limit)
            else:
                raise SystemExit(f"unknown part {part!r}: ddp, shards, stream or stages")
            print(part, json.dumps(r[part]), flush=True)
            RESULTS.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(r, indent=2))
            (RESULTS / "cluster.md").write_text(markdown(r))
    print(markdown(r))


if __name__ == "__main__":
    main()

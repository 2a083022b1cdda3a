"""The GPU run as one prepared script (called by benchmarks/gpu.sh; ``--dry-run`` on the CPU).

Steps, each timed and its peak GPU memory read from ``torch.cuda.max_memory_allocated``:
adult fit at the Synthesizer's defaults; 10,000,000 rows sampled to Parquet the way the CLI
does it (``iter_sample`` streamed by ``write_table_chunks``); a differentially private fit at
epsilon = 3; ctgan's TVAE fit on the same adult rows, for the ratio: it trains a fixed 300
epochs at its defaults, each as long as the last (no early stopping), so 100 are timed and
its 300-epoch time is three times theirs (the measured seconds are recorded beside it): the
whole 300 took 308 s of an 8-minute budget on an H200. Writes ``gpu.json`` and ``gpu.md`` into the results folder. ``--dry-run`` runs the
same steps tiny (300 rows, 1 epoch, 10,000 sampled rows) on the CPU and writes into
``--out`` (a temporary folder by default), so CI checks the script without a GPU.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from benchmarks.common import RESULTS, machine

FULL = {"device": "cuda", "rows": None, "epochs": None, "sample_rows": 10_000_000,
        "frame_rows": 1_000_000, "dp_epochs": None, "ctgan_epochs": 100}
DRY = {"device": "cpu", "rows": 300, "epochs": 1, "sample_rows": 10_000, "frame_rows": 1_000,
       "dp_epochs": 1, "ctgan_epochs": 1}


def adult(rows: int | None):
    """Adult's published training split (rows: its head), or the bundled 8,000-row slice
    where the shared datasets are absent (CI); and the DP benchmark's public schema of it."""
    import pandas as pd

    from benchmarks.common import DATASETS, ROOT
    from benchmarks.dp import adult_public_schema

    if (DATASETS / "adult_train.csv.gz").exists():
        from benchmarks.data import load_dataset

        data = load_dataset("adult")
        train, test = data.train, data.test
    else:
        train = test = pd.read_csv(ROOT / "examples" / "adult.csv.gz")
    train = train if rows is None else train.head(rows)
    return train, adult_public_schema(train, test)


def step(name: str, fn, device: str, results: dict, save) -> None:
    """Run ``fn`` and record its seconds (and peak GPU memory) under ``name``. A step that
    fails is recorded with its error and the run goes on: a lent device's minutes are few, so
    one broken step must not cost the others' figures. ``save`` writes what is known so far."""
    import torch

    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    try:
        extra = fn() or {}
        if device == "cuda":
            torch.cuda.synchronize()
    except Exception as exc:  # noqa: BLE001 - recorded in the results, the run goes on
        extra = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    entry = {"seconds": round(time.perf_counter() - start, 2), **extra}
    if device == "cuda":
        entry["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20)
    results[name] = entry
    print(name, entry, flush=True)
    save()


def ratio(results: dict, slower: str, faster: str) -> float | None:
    a, b = results.get(slower, {}), results.get(faster, {})
    if "error" in a or "error" in b or not a or not b:
        return None
    return round(a["seconds"] / b["seconds"], 2)


def run(plan: dict, workdir: Path, results: dict, save) -> None:
    """Every step of the plan, each recorded into ``results`` as it ends."""
    from synthvae import Synthesizer
    from synthvae.io import write_table_chunks

    train, public_schema = adult(plan["rows"])
    device = plan["device"]
    synth = Synthesizer(epochs=plan["epochs"], device=device, seed=0, verbose=False)
    step("adult_fit", lambda: {"epochs_run": synth.fit(train).training_summary_["epochs_run"]},
         device, results, save)
    parquet = workdir / "sample.parquet"
    n = plan["sample_rows"]
    step("sample_parquet", lambda: {"rows": write_table_chunks(
        synth.iter_sample(n, chunk_size=1_000_000), parquet)}, device, results, save)
    if "error" not in results["sample_parquet"]:
        results["sample_parquet"]["rows_per_s"] = round(n / results["sample_parquet"]["seconds"])
    m = plan["frame_rows"]
    step("sample_dataframe", lambda: {"rows": len(synth.sample(m))}, device, results, save)
    private = Synthesizer(epochs=plan["dp_epochs"], epsilon=3.0, device=device, seed=0,
                          schema=public_schema, verbose=False)  # as benchmarks/dp.py
    step("dp_fit_eps3", lambda: {"epsilon_spent": round(private.fit(train).privacy_.get(
        "epsilon", float("nan")), 3)}, device, results, save)
    ctgan: dict = {}
    step("ctgan_tvae_fit", lambda: ctgan_fit(train, plan["ctgan_epochs"], device, ctgan),
         device, results, save)
    step("ctgan_tvae_sample_dataframe", lambda: {"rows": len(ctgan["model"].sample(m))},
         device, results, save)
    ctgan_300_epochs(results["ctgan_tvae_fit"])
    results["ctgan_over_synthvae_fit"] = ratio(results, "ctgan_tvae_fit", "adult_fit")
    results["ctgan_over_synthvae_sample"] = ratio(results, "ctgan_tvae_sample_dataframe",
                                                  "sample_dataframe")


def ctgan_300_epochs(entry: dict) -> None:
    """ctgan's default fit is 300 epochs of equal length: scale the timed ones to it."""
    if "error" in entry or entry["epochs"] == 300:
        return
    entry["measured_seconds"] = entry["seconds"]
    entry["seconds"] = round(entry["seconds"] * 300 / entry["epochs"], 2)
    entry["seconds_note"] = f"300 epochs = 300/{entry['epochs']} x the measured seconds"


def ctgan_fit(train, epochs: int, device: str, keep: dict) -> dict:
    """ctgan's TVAE at ``epochs``; it trains on CUDA whenever torch sees a device."""
    from benchmarks.models import make_model
    from synthvae import detect_schema

    keep["model"] = make_model("ctgan", detect_schema(train), 0, epochs)
    keep["model"].fit(train)
    return {"epochs": epochs, "ctgan_device": device}


def markdown(r: dict) -> str:
    m, s = r["machine"], r["steps"]
    lines = [f"# GPU benchmark ({r['started']}, {'dry run on the CPU' if r['dry_run'] else 'CUDA'})",
             "", f"Machine: {m['cores']} cores, {m.get('cpu_model')}, GPU: {m['gpu'] or 'none'}; "
             f"torch {m['torch']}. Command: `bash benchmarks/gpu.sh{' --dry-run' if r['dry_run'] else ''}`.",
             "", "| step | seconds | peak GPU MB | notes | goal |", "|---|---|---|---|---|"]
    goals = {"adult_fit": "≤ 15 s", "sample_parquet": "≤ 20 s (10M rows)",
             "sample_dataframe": "≥ 3× ctgan's rows/s"}
    for name, entry in s.items():
        if not isinstance(entry, dict):
            continue
        notes = ", ".join(f"{k} {v}" for k, v in entry.items()
                          if k not in ("seconds", "peak_gpu_mb"))
        lines.append(f"| {name} | {entry['seconds']} | {entry.get('peak_gpu_mb', '–')} | "
                     f"{notes} | {goals.get(name, '–')} |")
    lines.append(f"\nctgan TVAE fit / synthvae fit: {s.get('ctgan_over_synthvae_fit')}×; "
                 f"ctgan TVAE sampling seconds / synthvae's (same rows, into a DataFrame): "
                 f"{s.get('ctgan_over_synthvae_sample')}×.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    import torch

    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu")
    p.add_argument("--dry-run", action="store_true", help="the same steps, tiny, on the CPU")
    p.add_argument("--out", type=Path, help="results folder (default: benchmarks/results, "
                                            "or a temporary folder for a dry run)")
    args = p.parse_args(argv)
    if not args.dry_run and not torch.cuda.is_available():
        raise SystemExit("No CUDA device: run with --dry-run to check the steps on the CPU.")
    out = args.out or (Path(tempfile.mkdtemp(prefix="synthvae-gpu-")) if args.dry_run
                       else RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    result = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "dry_run": args.dry_run,
              "machine": machine()}
    result["steps"] = {}

    def save() -> None:  # after every step, so a run cut short keeps its figures
        (out / "gpu.json").write_text(json.dumps(result, indent=2))
        (out / "gpu.md").write_text(markdown(result))

    with tempfile.TemporaryDirectory() as tmp:
        run(DRY if args.dry_run else FULL, Path(tmp), result["steps"], save)
    save()
    failed = [k for k, v in result["steps"].items() if isinstance(v, dict) and "error" in v]
    print(f"wrote {out / 'gpu.md'}")
    if failed:
        raise SystemExit(f"steps failed: {', '.join(failed)} (errors in gpu.json)")


if __name__ == "__main__":
    main()

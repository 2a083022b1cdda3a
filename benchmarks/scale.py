"""Large-table figures: ``python -m benchmarks.scale [--skip-ctgan-x10] [--rows-parquet N]``.

- synthvae's table transformer fit on 1,000,000 rows × 10 continuous columns (numpy mixtures);
- synthvae's transformer vs ctgan's ``DataTransformer`` (SDV's, used by TVAE) fit on adult
  and on adult stacked 10 times (325,610 rows), same categorical columns;
- 10,000,000 rows streamed to Parquet by the CLI (``synthvae sample -o x.parquet``) in a child
  process, its peak RSS read from ``wait4``.
Writes benchmarks/results/scale.json and scale.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.common import DATASETS, RESULTS, machine, median_seconds, timed, write_json
from benchmarks.data import load_dataset
from synthvae import detect_schema
from synthvae.schema import ColumnKind
from synthvae.transforms.table import TableTransformer


def mixture_table(rows: int, columns: int, seed: int = 0) -> pd.DataFrame:
    """Each column: 1-4 Gaussian modes of random weight, place and width, some skewed."""
    rng = np.random.default_rng(seed)
    out = {}
    for j in range(columns):
        k = rng.integers(1, 5)
        mode = rng.choice(k, size=rows, p=rng.dirichlet(np.ones(k)))
        values = rng.normal(rng.uniform(-50, 50, k)[mode], rng.uniform(0.5, 10, k)[mode])
        out[f"x{j}"] = np.exp(values / 25) if j % 3 == 2 else values  # every third skewed
    return pd.DataFrame(out)


def synthvae_fit_s(df: pd.DataFrame, repeats: int) -> dict:
    schema = detect_schema(df)
    median, runs = median_seconds(lambda: TableTransformer(schema).fit(df), repeats)
    return {"median_s": round(median, 3), "runs_s": [round(r, 3) for r in runs]}


def ctgan_fit_s(df: pd.DataFrame) -> dict:
    from ctgan.data_transformer import DataTransformer

    schema = detect_schema(df)
    discrete = [c.name for c in schema.columns if c.kind is ColumnKind.CATEGORICAL]
    _, seconds = timed(lambda: DataTransformer().fit(df, discrete))
    return {"median_s": round(seconds, 3), "runs_s": [round(seconds, 3)]}


def parquet_10m(rows: int, workdir: Path) -> dict:
    """Fit a small model on adult through the CLI, then time and measure the sample."""
    model = workdir / "adult.safetensors"
    cli = [sys.executable, "-m", "synthvae"]
    subprocess.run([*cli, "fit", str(DATASETS / "adult_train.csv.gz"), "-o", str(model),
                    "--epochs", "5", "--quiet"], check=True, capture_output=True)
    out = workdir / "x.parquet"
    start = time.perf_counter()
    proc = subprocess.Popen([*cli, "sample", "-n", str(rows), "-o", str(out), "-m", str(model),
                             "--quiet"])
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    import pyarrow.parquet as pq

    return {"rows": rows, "exit_code": os.waitstatus_to_exitcode(status),
            "seconds": round(seconds, 1), "rows_per_s": round(rows / seconds),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "file_mb": round(out.stat().st_size / 1e6, 1),
            "rows_in_file": pq.ParquetFile(out).metadata.num_rows}


def markdown(r: dict) -> str:
    m = r["machine"]
    big, adult, x10, pq = (r.get(k) for k in ("continuous_1m_x10", "adult", "adult_x10",
                                              "parquet_10m"))
    lines = [f"# Scale benchmark ({r['started']})", "",
             f"Machine: {m['cores']} cores, {m.get('cpu_model')}, GPU: {m['gpu'] or 'none'}; "
             f"torch threads {r['threads']}; 1-minute load at start {r['load_at_start']}.", "",
             "| measurement | synthvae | ctgan DataTransformer | ratio | target | met? |",
             "|---|---|---|---|---|---|"]
    if big:
        s = big["synthvae"]["median_s"]
        lines.append(f"| transformer fit, 1,000,000 × 10 continuous | {s:.2f} s | – | – | "
                     f"≤ 10 s | {'yes' if s <= 10 else f'no (+{s - 10:.1f} s)'} |")
    for label, block, target in (("transformer fit, adult 32,561 rows", adult, 1.0),
                                 ("transformer fit, adult ×10 325,610 rows", x10, None)):
        if not block:
            continue
        s, c = block["synthvae"]["median_s"], (block.get("ctgan") or {}).get("median_s")
        ratio = f"{c / s:.0f}× faster" if c else "–"
        met = "–" if target is None else ("yes" if s <= target else f"no (+{s - target:.2f} s)")
        lines.append(f"| {label} | {s:.2f} s | {f'{c:.1f} s' if c else '–'} | {ratio} | "
                     f"{f'≤ {target:g} s' if target else '–'} | {met} |")
    if pq:
        gb = pq["peak_rss_mb"] / 1024
        lines.append(f"| CLI sample {pq['rows']:,} rows → Parquet | {pq['seconds']:.0f} s, "
                     f"{pq['rows_per_s']:,} rows/s, peak RSS {pq['peak_rss_mb']:,.0f} MB, "
                     f"file {pq['file_mb']:,.0f} MB | – | – | ≤ 2 GB | "
                     f"{'yes' if gb <= 2 else f'no (+{gb - 2:.2f} GB)'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    import torch

    p = argparse.ArgumentParser(prog="python -m benchmarks.scale")
    p.add_argument("--skip-ctgan-x10", action="store_true", help="ctgan on 325k rows: ~90+ s")
    p.add_argument("--rows-parquet", type=int, default=10_000_000)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    r = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": machine(),
         "threads": torch.get_num_threads(), "load_at_start": round(os.getloadavg()[0], 2)}
    big = mixture_table(1_000_000, 10)
    r["continuous_1m_x10"] = {"synthvae": synthvae_fit_s(big, 3)}
    print(r["continuous_1m_x10"], flush=True)
    del big
    adult = load_dataset("adult").train
    r["adult"] = {"synthvae": synthvae_fit_s(adult, 3), "ctgan": ctgan_fit_s(adult)}
    print(r["adult"], flush=True)
    x10 = pd.concat([adult] * 10, ignore_index=True)
    r["adult_x10"] = {"synthvae": synthvae_fit_s(x10, 3)}
    if not args.skip_ctgan_x10:
        r["adult_x10"]["ctgan"] = ctgan_fit_s(x10)
    print(r["adult_x10"], flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        r["parquet_10m"] = parquet_10m(args.rows_parquet, Path(tmp))
    print(r["parquet_10m"], flush=True)
    write_json("scale", r)
    (RESULTS / "scale.md").write_text(markdown(r))
    print(markdown(r))


if __name__ == "__main__":
    main()

"""Rows/s of ``synthvae.dask.sample`` on a local Dask cluster of 1 and 2 worker processes:
``python -m benchmarks.dask_sampling [--rows N] [--partitions P] [--repeats R]``.

The model is fitted for 1 epoch on the bundled adult slice (sampling cost depends on the
layout, not on training length) and saved; each worker (one thread) loads it once. The
partitions are generated and counted on the workers (``map_partitions(len)``), so the figure
is generation throughput, not transfer to the client. Prints a JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd


def main() -> None:
    from distributed import Client, LocalCluster

    import synthvae.dask
    from benchmarks.common import ROOT, machine
    from synthvae import Synthesizer

    p = argparse.ArgumentParser(prog="python -m benchmarks.dask_sampling")
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--partitions", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"  # inherited by the worker processes
    result = {"machine": machine(), "rows": args.rows, "partitions": args.partitions,
              "load_at_start": round(os.getloadavg()[0], 2), "workers": {}}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "adult.safetensors"
        df = pd.read_csv(ROOT / "examples" / "adult.csv.gz")
        Synthesizer(epochs=1, seed=0, verbose=False).fit(df).save(path)
        for workers in (1, 2):
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                              dashboard_address=None) as cluster, Client(cluster) as client:
                client.submit(len, [0]).result()  # workers up
                runs = []
                for _ in range(args.repeats):
                    ddf = synthvae.dask.sample(path, args.rows, args.partitions, seed=0)
                    start = time.perf_counter()
                    assert int(ddf.map_partitions(len).compute().sum()) == args.rows
                    runs.append(time.perf_counter() - start)
                median = statistics.median(runs)
                result["workers"][workers] = {"runs_s": [round(r, 2) for r in runs],
                                              "median_s": round(median, 2),
                                              "rows_per_s": round(args.rows / median)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()

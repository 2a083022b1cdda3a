"""Sampling a wide table: time and peak memory of ``sample(n)`` against the width (issue 19)::

    python -m benchmarks.wide_sampling --rows 1000 --columns 300,1000,3000 --sample 65536

For each width, a fresh process fits :func:`benchmarks.scale.mixture_table` (``--rows``
rows, one epoch: sampling cost depends on the encoded layout, not on the training length;
tables this wide get the factorized decoder) and draws ``--sample`` rows, one torch thread;
records the encoded width, the rows drawn per batch, the seconds, the process's peak
resident memory before and after the draw, and the DataFrame's size. Writes
``results/<name>.json``; scale.md quotes it. Run the same command on another commit to
compare (the script reads the batch size only where the library has one).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import time
import warnings

from benchmarks.common import machine, write_json


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(rows: int, columns: int, n: int) -> dict:
    """One width, in the calling process (meant to be a fresh one)."""
    import torch

    from benchmarks.scale import mixture_table
    from synthvae import Synthesizer
    from synthvae import table_sampling

    torch.set_num_threads(1)
    df = mixture_table(rows, columns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        synth = Synthesizer(epochs=1, seed=0, n_threads=1, verbose=False).fit(df)
    width = synth.transformer_.output_width_
    batch = getattr(table_sampling, "sample_batch_rows", lambda w: None)(width)
    before = peak_rss_mb()
    start = time.perf_counter()
    frame = synth.sample(n, seed=1)
    seconds = time.perf_counter() - start
    return {"columns": columns, "encoded_width": width, "batch_rows": batch,
            "decoder": synth.decoder_, "sample_s": round(seconds, 2),
            "rows_per_s": round(n / seconds), "peak_rss_before_mb": round(before),
            "peak_rss_after_mb": round(peak_rss_mb()),
            "frame_mb": round(frame.memory_usage(deep=True).sum() / 2**20)}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.wide_sampling")
    p.add_argument("--rows", type=int, default=1000)
    p.add_argument("--columns", default="300,1000,3000")
    p.add_argument("--sample", type=int, default=65_536)
    p.add_argument("--name", default="wide-sampling")
    args = p.parse_args(argv)
    runs = []
    context = multiprocessing.get_context("spawn")  # a fresh process: its own peak memory
    for columns in (int(c) for c in args.columns.split(",")):
        with context.Pool(1) as pool:
            runs.append(pool.apply(measure, (args.rows, columns, args.sample)))
        print(runs[-1], flush=True)
    write_json(args.name, {"started": time.strftime("%Y-%m-%dT%H:%M:%S"),
                           "machine": machine(), "load": round(os.getloadavg()[0], 2),
                           "rows": args.rows, "sample": args.sample, "runs": runs})


if __name__ == "__main__":
    main()

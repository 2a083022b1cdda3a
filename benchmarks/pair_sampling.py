"""How close a wide report's sampled Column Pair Trends come to every pair's (issue 19)::

    python -m benchmarks.pair_sampling --questions 150 --seeds 0,1,2,3,4

A survey-shaped table (:func:`benchmarks.survey_decoders.survey_table`, 2,000 rows) and a
synthvae sample of it (defaults, seed 0, one torch thread); the report's pair figures over
every pair, then over the pairs of ``MAX_PAIR_COLUMNS`` columns drawn with each report seed.
Writes ``results/<name>.json``; docs/reports.md quotes it.
"""

from __future__ import annotations

import argparse
import time
import warnings

from benchmarks.common import machine, patched, write_json

FIGURES = ("score", "score_all_pairs", "score_real_bins")


def timed_trends(real, synthetic, metadata, seed: int = 0) -> dict:
    from synthvae.reports import fidelity

    start = time.perf_counter()
    trends = fidelity.quality(real, synthetic, metadata, seed)["column_pair_trends"]
    return {"seconds": round(time.perf_counter() - start, 1),
            **{name: trends[name] for name in FIGURES}}


def main(argv=None) -> None:
    import torch

    from benchmarks.survey_decoders import survey_table
    from synthvae import Synthesizer
    from synthvae.reports import fidelity

    p = argparse.ArgumentParser(prog="python -m benchmarks.pair_sampling")
    p.add_argument("--questions", type=int, default=150)
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--name", default="pair-sampling")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    real = survey_table(2000, args.questions)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        synthetic = Synthesizer(seed=0, n_threads=1, verbose=False).fit(real).sample(
            len(real), seed=1)
    metadata = {"columns": {name: {"sdtype": "categorical"} for name in real.columns}}
    with patched(fidelity, "MAX_PAIR_COLUMNS", len(real.columns)):
        every = timed_trends(real, synthetic, metadata)
    sampled = [{"seed": int(seed), **timed_trends(real, synthetic, metadata, int(seed))}
               for seed in args.seeds.split(",")]
    result = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": machine(),
              "questions": args.questions, "max_pair_columns": fidelity.MAX_PAIR_COLUMNS,
              "every_pair": every, "sampled": sampled,
              "largest_gap": {name: round(max(abs(s[name] - every[name]) for s in sampled), 4)
                              for name in FIGURES}}
    write_json(args.name, result)
    print(result)


if __name__ == "__main__":
    main()

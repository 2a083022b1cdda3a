"""Declared formulas on flights (issue 16, rules a user declares): ``python -m
benchmarks.formulas``.

flights (nycflights13, held out of every tuning) holds arithmetic a model does not learn
from rows: ``hour`` and ``minute`` are the scheduled departure's HHMM split, and the actual
departure and arrival times are the scheduled ones plus the delays, on a clock that writes
midnight as 2400 (every one of the 294,611 training rows holds these). The synthesizer is
fitted at defaults on the same rows without formulas (``without``), and with the rules
declared as :class:`synthvae.Formula` constraints in three directions: the composites
computed from their parts (``composites``: ``sched_dep_time`` from ``hour`` and ``minute``,
the actual times from schedule and delay), ``hour`` and ``minute`` computed from a modelled
``sched_dep_time`` and the actual times as before (``times``), and the delays computed from
the times (``delays``). For each fit the script records the share of
synthetic rows breaking each rule (counted here with pandas, not with synthvae's expression
code), sdmetrics Column Shapes / all-pairs / strong-pair trends, ML efficacy (R² of
``arr_delay``, harness HistGB), the Pearson correlation of the two delays, and fit seconds.

    python -m benchmarks.formulas --dataset flights@20000 --seeds 0 --variants without,composites
    python -m benchmarks.formulas --summary     # the table of results/formulas.md

Runs append to ``results/formulas-<dataset>.jsonl`` (so seeds can run in parallel). Two more
measurements:

    python -m benchmarks.formulas --speed     # sample(100,000) without / with the formulas
    python -m benchmarks.formulas --suggest flights,adult,...   # what `synthvae schema`
                                                                # proposes, and its seconds

``--speed`` fits both models briefly (``--epochs``, sampling cost does not depend on training
length) and times ``sample(--rows)`` alternating between them, medians of ``--repeats``
(``results/formulas-speed.json``); ``--suggest`` writes ``results/formulas-suggest.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings

import numpy as np
import pandas as pd

from benchmarks.common import (RESULTS, machine, ml_efficacy_scores, quality, timed,
                               write_json)
from benchmarks.data import load_dataset
from synthvae import Formula, Synthesizer, detect_schema

WRAP = 120  # minutes: no flight leaves or lands more than two hours early


def minutes(column: str) -> str:
    """The expression of an HHMM clock column in minutes after midnight."""
    return f"({column} // 100 * 60 + {column} % 100)"


def clock_time(scheduled: str, delay: str) -> str:
    """HHMM of ``scheduled`` + ``delay`` minutes; midnight is 2400, as in the data."""
    time = f"(({minutes(scheduled)} + {delay} - 1) % 1440 + 1)"
    return f"{time} // 60 * 100 + {time} % 60"


def clock_difference(actual: str, scheduled: str) -> str:
    return f"({minutes(actual)} - {minutes(scheduled)} + {WRAP}) % 1440 - {WRAP}"


SPLIT = [Formula("hour", "sched_dep_time // 100"), Formula("minute", "sched_dep_time % 100")]
TIMES = [Formula("dep_time", clock_time("sched_dep_time", "dep_delay")),
         Formula("arr_time", clock_time("sched_arr_time", "arr_delay"))]
VARIANTS = {
    "without": None,
    # the parts modelled, the composites computed: HHMM from hour and minute, actual times
    # from schedule and delay (dep_time reads sched_dep_time, itself computed)
    "composites": [Formula("sched_dep_time", "hour * 100 + minute")] + TIMES,
    "times": SPLIT + TIMES,  # hour and minute computed from a modelled HHMM
    "delays": SPLIT + [Formula("dep_delay", clock_difference("dep_time", "sched_dep_time")),
                       Formula("arr_delay", clock_difference("arr_time", "sched_arr_time"))],
}


def broken_shares(frame: pd.DataFrame) -> dict:
    """Share of rows breaking each rule, written out in pandas."""
    def clock(scheduled: str, delay: str) -> pd.Series:
        hhmm = frame[scheduled] // 100 * 60 + frame[scheduled] % 100
        time = (hhmm + frame[delay] - 1) % 1440 + 1
        return time // 60 * 100 + time % 60

    checks = {"hour": frame["hour"] != frame["sched_dep_time"] // 100,
              "minute": frame["minute"] != frame["sched_dep_time"] % 100,
              "departure": frame["dep_time"] != clock("sched_dep_time", "dep_delay"),
              "arrival": frame["arr_time"] != clock("sched_arr_time", "arr_delay")}
    shares = {name: round(float(broken.mean()), 4) for name, broken in checks.items()}
    shares["any"] = round(float(np.logical_or.reduce(list(checks.values())).mean()), 4)
    return shares


def run(dataset: str, seed: int, variant: str) -> dict:
    data = load_dataset(dataset)
    schema = detect_schema(data.train)
    constraints = VARIANTS[variant]
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        synth = Synthesizer(seed=seed, verbose=False, constraints=constraints).fit(data.train)
    fit_s = time.perf_counter() - start
    synthetic = synth.sample(len(data.train), seed=seed + 1)
    pearson = {name: round(float(np.corrcoef(f["dep_delay"], f["arr_delay"])[0, 1]), 3)
               for name, f in (("real", data.train), ("synthetic", synthetic))}
    return {"dataset": dataset, "seed": seed, "variant": variant, "fit_s": round(fit_s, 1),
            "broken": broken_shares(synthetic), "real_broken": broken_shares(data.train),
            "ml": ml_efficacy_scores(data, synthetic, schema, seed),
            "delay_pearson": pearson,
            **quality(data.train, synthetic, schema.to_sdmetrics_metadata())}


def summary() -> str:
    rows = [json.loads(line) for path in sorted(RESULTS.glob("formulas-*.jsonl"))
            for line in path.read_text().splitlines() if line.strip()]
    lines = ["| table | formulas declared | seeds | rows breaking hour / minute / departure / "
             "arrival / any | Column Shapes | all-pairs trends | strong trends | ML R² "
             "synthetic / real | delays' Pearson synthetic / real | fit s |",
             "|" + "---|" * 10]
    groups: dict = {}
    seed = lambda row: row["seed"]  # noqa: E731
    for row in rows:
        groups.setdefault((row["dataset"], row["variant"]), []).append(row)
    order = {name: i for i, name in enumerate(VARIANTS)}
    for (dataset, variant), group in sorted(groups.items(),
                                            key=lambda kv: (kv[0][0], order[kv[0][1]])):
        med = lambda get: statistics.median(get(r) for r in group)  # noqa: E731
        broken = " / ".join(f"{100 * med(lambda r, k=k: r['broken'][k]):.2f} %"
                            for k in ("hour", "minute", "departure", "arrival", "any"))
        seeds = ",".join(str(r["seed"]) for r in sorted(group, key=seed))
        lines.append(
            f"| {dataset} | {variant} | {seeds} | {broken} | "
            f"{med(lambda r: r['column_shapes']):.3f} | "
            f"{med(lambda r: r['column_pair_trends']):.3f} | "
            f"{med(lambda r: r['column_pair_trends_strong']):.3f} | "
            f"{med(lambda r: r['ml']['synthetic']):.3f} / {med(lambda r: r['ml']['real']):.3f} | "
            f"{med(lambda r: r['delay_pearson']['synthetic']):.3f} / "
            f"{group[0]['delay_pearson']['real']:.3f} | {med(lambda r: r['fit_s']):.0f} |")
    return "\n".join(lines)


def speed(dataset: str, epochs: int, rows: int, repeats: int) -> dict:
    """Seconds of ``sample(rows)`` without and with the composites' formulas, alternating."""
    data = load_dataset(dataset)
    models = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for variant in ("without", "composites"):
            models[variant] = Synthesizer(seed=0, epochs=epochs, verbose=False,
                                          constraints=VARIANTS[variant]).fit(data.train)
    for model in models.values():
        model.sample(1_000, seed=99)  # warm up
    seconds = {variant: [] for variant in models}
    for _ in range(repeats):
        for variant, model in models.items():
            seconds[variant].append(round(timed(model.sample, rows, seed=1)[1], 3))
    medians = {variant: statistics.median(times) for variant, times in seconds.items()}
    return {"dataset": dataset, "epochs": epochs, "rows": rows, "seconds": seconds,
            "median_seconds": medians,
            "ratio_with_to_without": round(medians["composites"] / medians["without"], 3),
            "machine": machine()}


def suggested(tables: list[str]) -> dict:
    """The formulas ``suggest_constraints`` proposes on each table's training split, the
    seconds every suggestion took, and the rules report's functional dependencies."""
    from synthvae.constraints.suggest import suggest_constraints
    from synthvae.reports.encoding import canonical_frame
    from synthvae.reports.rules import discover_rules

    out = {}
    for name in tables:
        data = load_dataset(name).train
        schema = detect_schema(data)
        found, seconds = timed(suggest_constraints, data, schema)
        rules = discover_rules(canonical_frame(data, schema), schema)
        out[name] = {"rows": len(data), "seconds": round(seconds, 2),
                     "formulas": [f"{c['column']} = {c['expression']}" for c in found
                                  if c["kind"] == "formula"],
                     "dependencies": [f"{d.determinant} -> {d.dependent}"
                                      for d in rules.functional_dependencies]}
    return {"tables": out, "machine": machine()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="flights@20000")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--variants", default="without,composites")
    parser.add_argument("--summary", action="store_true", help="only print the table")
    parser.add_argument("--speed", action="store_true", help="time sampling instead")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--suggest", help="comma-separated tables: list the suggestions")
    args = parser.parse_args(argv)
    if args.summary:
        print(summary())
        return
    if args.speed or args.suggest:
        name, result = ("formulas-speed", speed(args.dataset, args.epochs, args.rows,
                                                args.repeats)) if args.speed else \
            ("formulas-suggest", suggested(args.suggest.split(",")))
        write_json(name, result)
        print(json.dumps(result), flush=True)
        return
    path = RESULTS / f"formulas-{args.dataset.replace('@', '-')}.jsonl"
    for seed in (int(s) for s in args.seeds.split(",")):
        for variant in args.variants.split(","):
            row = {**run(args.dataset, seed, variant), "machine": machine()}
            with path.open("a") as out:
                out.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

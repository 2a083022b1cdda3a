"""Rules the synthetic rows break (issue 16): ``python -m benchmarks.structure``.

For ``make demo``'s set-up (examples/adult.csv.gz, defaults, ``--demo-rows`` sampled with seed
1, as ``synthvae sample --seed 1``) and for each benchmark table (train split, defaults, a
train-size sample), the rules of :mod:`synthvae.reports.rules` are discovered on the training
rows and the share of synthetic rows breaking each is measured; ML efficacy (HistGB on the test
split) and the all-pairs quality scores are recorded with it. Every fit is one JSON line in
``results/structure-<name>.jsonl`` (kept as it grows); the markdown section
``results/structure-<name>.md`` gives medians over the seeds run. Options:
``--datasets adult,default,shoppers,magic,beijing --seeds 0,1,2 --demo-rows 100000 --name X``;
``--summary --name X`` rewrites the markdown from the JSON lines. Each table's line also
holds ``test_split_rules``: the rules found afresh in the test split (rows the model never
saw) and the synthetic rows' breaks of them, since the sampler keeps the training rows'
zero-support pairs by construction (``unseen_pairs``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import pandas as pd

from benchmarks.common import RESULTS, ROOT, machine, ml_efficacy_scores, quality
from benchmarks.data import load_dataset
from benchmarks.models import make_model, parse_model_spec, split_model_specs
from synthvae import Synthesizer, detect_schema
from synthvae.reports.encoding import canonical_frame
from synthvae.reports.rules import rules_section

DATASETS = ("adult", "default", "shoppers", "magic", "beijing")
DEMO = ROOT / "examples" / "adult.csv.gz"
LISTED = 8  # rules of each kind shown per table in the markdown


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--models", default="synthvae",
                        help="comma-separated: synthvae, synthvae:<decoder> (factorized, "
                        "autoregressive, ...), either with [param=value,...] Synthesizer "
                        "settings (synthvae[min_lift=0,latent_swap=0]), ctgan (its TVAE, 300 "
                        "epochs), copula (SDV's GaussianCopulaSynthesizer); all see the same "
                        "rows")
    parser.add_argument("--demo-rows", type=int, default=100_000)
    parser.add_argument("--no-demo", action="store_true")
    parser.add_argument("--name", default="baseline")
    parser.add_argument("--summary", action="store_true", help="only rewrite the markdown")
    parser.add_argument("--merge", default="", help="names of runs made in parallel processes "
                        "(comma-separated): their JSON lines become run --name")
    return parser.parse_args(argv)


def demo_run(seed: int, rows: int) -> dict:
    """``make demo``: fit examples/adult.csv.gz at defaults, sample ``rows`` with seed 1."""
    real = pd.read_csv(DEMO)
    start = time.perf_counter()
    synth = Synthesizer(seed=seed, verbose=False).fit(real)
    fit_s = time.perf_counter() - start
    synthetic = synth.sample(rows, seed=1)
    schema = synth.schema_
    rules = rules_section(canonical_frame(real, schema), canonical_frame(synthetic, schema),
                          schema)
    return {"dataset": "demo (examples/adult.csv.gz)", "seed": seed, "real_rows": len(real),
            "synthetic_rows": rows, "fit_s": round(fit_s, 1), "rules": rules}


def table_run(name: str, seed: int, model_name: str = "synthvae") -> dict:
    """A benchmark table (``name@rows``: a sample of its train split): the model (at its
    defaults, or with the settings of its spec) on the train split, a train-size sample."""
    data = load_dataset(name)
    schema = detect_schema(data.train)
    model = make_model(model_name, schema, seed, None)
    start = time.perf_counter()
    fitted = model.fit(data.train)
    fit_s = time.perf_counter() - start
    synthetic = model.sample(len(data.train))
    rules = rules_section(canonical_frame(data.train, schema),
                          canonical_frame(synthetic, schema), schema)
    # the same rules found afresh in the test split, which the model never saw: whether the
    # rows keep the population's rules, not only those of the rows the sampler excludes from
    test_rules = rules_section(canonical_frame(data.test, schema),
                               canonical_frame(synthetic, schema), schema)["totals"]
    metadata = schema.to_sdmetrics_metadata()
    return {"dataset": name, "model": model.name, "params": getattr(model, "params", {}),
            "seed": seed, "real_rows": len(data.train),
            "synthetic_rows": len(synthetic), "fit_s": round(fit_s, 1),
            "epochs": fitted.get("epochs"), "rules": rules, "test_split_rules": test_rules,
            "ml_efficacy": ml_efficacy_scores(data, synthetic, schema, seed),
            "quality": quality(data.train, synthetic, metadata),
            "column_shapes": column_shapes(data.train, synthetic, metadata)}


def column_shapes(real: pd.DataFrame, synthetic: pd.DataFrame, metadata: dict) -> dict:
    """Each column's score in sdmetrics' Column Shapes (KSComplement for numbers and
    datetimes, TVComplement for categories); the property is their mean."""
    from sdmetrics.single_column import KSComplement, TVComplement

    scores = {}
    for column, meta in metadata["columns"].items():
        pair = real[column], synthetic[column]
        if meta["sdtype"] == "datetime":
            pair = tuple((pd.to_datetime(v, format=meta.get("datetime_format"), errors="coerce")
                          - pd.Timestamp(0)) / pd.Timedelta(seconds=1) for v in pair)
        metric = KSComplement if meta["sdtype"] in ("numerical", "datetime") else TVComplement
        scores[column] = round(float(metric.compute(*pair)), 4)
    return scores


# ----------------------------------------------------------------------------- markdown


def markdown(runs: list[dict], header: dict) -> str:
    by_table: dict[str, list[dict]] = {}
    for run in runs:
        model = run.get("model", "synthvae")
        label = run["dataset"] if model == "synthvae" else f"{run['dataset']} · {model}"
        by_table.setdefault(label, []).append(run)
    lines = [f"## Rules baseline at current defaults ({header['name']})", "",
             f"Command: `{header['command']}`. Machine: {header['machine']}. Seeds: "
             f"{header['seeds']} (medians over seeds where more than one). Rules are discovered "
             f"on the training rows (synthvae.reports.rules: A → B where each A value's "
             f"majority B covers ≥ 99.5 % of rows, ≥ 5 rows per A value; zero-support pairs "
             f"of categorical columns with ≥ 10 expected rows under independence; a ≤ b in "
             f"every row, informative). Shares are of synthetic rows.", "",
             "| table | rows real / synthetic | FDs | FD violation (any) | worst FD | zero-"
             "support pairs | rows in one (any) | inequalities | broken (any) | ML efficacy "
             "synthetic / real | Column Shapes / all-pairs trends | fit s |", "|" + "---|" * 12]
    lines += [_summary_row(name, group) for name, group in by_table.items()]
    if len({run.get("model", "synthvae") for run in runs}) > 1:
        lines += ["", "### Models side by side", ""] + variants_section(runs)
    for name, group in by_table.items():
        lines += ["", f"### {name}", ""] + _details(group[0]["rules"])
    return "\n".join(lines) + "\n"


def variants_section(runs: list[dict]) -> list[str]:
    """One table per dataset, a row per model (or variant): medians over its seeds."""
    by_dataset: dict[str, dict[str, list[dict]]] = {}
    for run in runs:
        models = by_dataset.setdefault(run["dataset"], {})
        models.setdefault(run.get("model", "synthvae"), []).append(run)
    lines = []
    for dataset, models in by_dataset.items():
        metric = next(iter(models.values()))[0]["ml_efficacy"]["metric"]
        lines += [f"**{dataset}**", "", f"| model | seeds | ML {metric} synthetic | gap to real "
                  "| FD violation (any) | zero-support rows (any) | inequality broken (any) | "
                  "Column Shapes | all-pairs trends | strong trends | fit s |", "|" + "---|" * 11]
        lines += [_variant_row(model, group) for model, group in models.items()] + [""]
    return lines


def _variant_row(model: str, group: list[dict]) -> str:
    ml = [run["ml_efficacy"] for run in group]
    totals = [run["rules"]["totals"] for run in group]
    return (f"| {model} | {','.join(str(run['seed']) for run in group)} | "
            f"{_median([m['synthetic'] for m in ml]):.3f} | "
            f"{_median([m['real'] - m['synthetic'] for m in ml]):.3f} | "
            f"{_pct(totals, 'functional_dependency_violation_share')} | "
            f"{_pct(totals, 'zero_support_share')} | "
            f"{_pct(totals, 'inequality_violation_share')} | "
            f"{_score(group, 'column_shapes')} | {_score(group, 'column_pair_trends')} | "
            f"{_score(group, 'column_pair_trends_strong')} | "
            f"{_median([run['fit_s'] for run in group]):.0f} |")


def _score(group: list[dict], key: str) -> str:
    values = [run["quality"][key] for run in group if run["quality"].get(key) is not None]
    return f"{_median(values):.3f}" if values else "–"


def _summary_row(name: str, group: list[dict]) -> str:
    totals = [run["rules"]["totals"] for run in group]
    first = group[0]
    ml = [run.get("ml_efficacy") for run in group if run.get("ml_efficacy")]
    ml_text = (f"{_median([m['synthetic'] for m in ml]):.3f} / "
               f"{_median([m['real'] for m in ml]):.3f} {ml[0]['metric']}" if ml else "–")
    scores = [run["quality"] for run in group if run.get("quality")]
    quality_text = "–"
    if scores:  # column_pair_trends here counts every pair (benchmarks.common.quality)
        quality_text = (f"{_median([q['column_shapes'] for q in scores]):.3f} / "
                        f"{_median([q['column_pair_trends'] for q in scores]):.3f}")
    return (f"| {name} | {first['real_rows']:,} / {first['synthetic_rows']:,} | "
            f"{totals[0]['functional_dependencies']} | "
            f"{_pct(totals, 'functional_dependency_violation_share')} | "
            f"{_pct(totals, 'max_functional_dependency_violation_share')} | "
            f"{totals[0]['zero_support_pairs']} | {_pct(totals, 'zero_support_share')} | "
            f"{totals[0]['inequalities']} | {_pct(totals, 'inequality_violation_share')} | "
            f"{ml_text} | {quality_text} | {_median([run['fit_s'] for run in group]):.0f} |")


def _details(rules: dict) -> list[str]:
    """The most broken rules of one run (the first seed)."""
    lines = []
    for fd in rules["functional_dependencies"][:LISTED]:
        lines.append(f"- FD `{fd['determinant']}` → `{fd['dependent']}` "
                     f"({fd['determinant_values']} values; real {fd['real_violation_share']:.2%}"
                     f"): broken by {fd['synthetic_violation_share']:.2%} of synthetic rows")
    for zero in rules["zero_support_pairs"][:LISTED]:
        (a, b), (x, y) = zero["columns"], ("(missing)" if v is None else v
                                          for v in zero["values"])
        lines.append(f"- zero-support `{a}={x}` & `{b}={y}` (expected {zero['expected_rows']:,.0f}"
                     f" real rows): {zero['synthetic_share']:.2%} of synthetic rows")
    for ineq in rules["inequalities"][:LISTED]:
        lines.append(f"- `{ineq['smaller']}` ≤ `{ineq['larger']}`: broken by "
                     f"{ineq['synthetic_violation_share']:.2%} of synthetic rows")
    return lines or ["- no rules found"]


def _pct(totals: list[dict], key: str) -> str:
    values = [t[key] for t in totals if t[key] is not None]
    return f"{_median(values):.2%}" if values else "–"


def _median(values: list[float]) -> float:
    return statistics.median(values)


# ----------------------------------------------------------------------------- main


def main(argv=None, command: str = "python -m benchmarks.structure") -> None:
    """``command``: how the run was started, for the header (a wrapper names itself)."""
    args = parse_args(argv)
    lines_path = RESULTS / f"structure-{args.name}.jsonl"
    header = {"name": args.name, "seeds": args.seeds, "machine": _machine_text(),
              "command": " ".join([command, *(argv or sys.argv[1:])])}
    if args.merge:
        _merge(args.merge.split(","), lines_path)
    elif not args.summary:
        for spec in split_model_specs(args.models):  # a typo fails here, not in every job
            parse_model_spec(spec)
        RESULTS.mkdir(parents=True, exist_ok=True)
        lines_path.write_text(json.dumps({"header": header}) + "\n")
        for seed in (int(s) for s in args.seeds.split(",")):
            jobs = [] if args.no_demo else [lambda s=seed: demo_run(s, args.demo_rows)]
            jobs += [lambda n=n, s=seed, m=m: table_run(n, s, m)
                     for n in args.datasets.split(",") if n
                     for m in split_model_specs(args.models)]
            for job in jobs:
                try:
                    _append(lines_path, job())
                except Exception as exc:  # a peer failing on a table must not stop the run
                    print(f"failed: {exc!r}", file=sys.stderr, flush=True)
    records = [json.loads(line) for line in lines_path.read_text().splitlines()]
    header = records[0]["header"]
    out = RESULTS / f"structure-{args.name}.md"
    out.write_text(markdown(records[1:], header))
    print(out)


def _merge(names: list[str], path: Path) -> None:
    """One JSON-lines file from runs made side by side (one header naming every command)."""
    parts = [[json.loads(line) for line in (RESULTS / f"structure-{name}.jsonl").read_text()
              .splitlines()] for name in names]
    header = {**parts[0][0]["header"], "name": path.stem.removeprefix("structure-"),
              "command": "; ".join(part[0]["header"]["command"] for part in parts)}
    records = [record for part in parts for record in part[1:]]
    path.write_text("".join(json.dumps(r, default=str) + "\n" for r in [{"header": header},
                                                                       *records]))


def _append(path: Path, record: dict) -> None:
    with path.open("a") as handle:
        handle.write(json.dumps(record, default=str) + "\n")
    print(json.dumps(record["rules"]["totals"]), record["dataset"], record.get("model"),
          record["fit_s"], record.get("ml_efficacy"), record.get("quality"),
          file=sys.stderr, flush=True)


def probe_runs(name: str, command: str, label: str, tables: str, seeds: str, block) -> None:
    """A probe's fits: ``table_run`` at the defaults for each seed and table (comma-separated
    ``seeds`` and ``tables``) inside ``block()`` (a context manager that makes the change),
    each appended to ``results/structure-<name>.jsonl`` as model ``synthvae[<label>]``."""
    out = RESULTS / f"structure-{name}.jsonl"
    if not out.exists():
        out.write_text(json.dumps({"header": {"name": name, "seeds": seeds,
                                              "machine": _machine_text(),
                                              "command": command}}) + "\n")
    for seed in (int(s) for s in seeds.split(",")):
        for table in tables.split(","):
            with block():
                record = table_run(table, seed, "synthvae")
            record["model"] = f"synthvae[{label}]"
            with open(out, "a") as f:
                f.write(json.dumps(record) + "\n")
            print(table, seed, label, record["ml_efficacy"], record["quality"], flush=True)


def _machine_text() -> str:
    info = machine()
    return f"{info['cores']}-core {info['cpu_model']}, no GPU" if not info["gpu"] else info["gpu"]


if __name__ == "__main__":
    main()

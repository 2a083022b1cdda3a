"""The markdown side of a run: medians and spreads per (dataset, model), ratios, targets."""

from __future__ import annotations

import statistics

# (label, function of one run's dict -> number or None, format, better: "low" / "high")
METRICS = (
    ("epochs run", lambda r: r.get("epochs"), "{:.0f}", None),
    ("transformer fit+transform s", lambda r: r.get("transformer_s"), "{:.2f}", "low"),
    ("training s", lambda r: r.get("train_s"), "{:.1f}", "low"),
    ("s / epoch", lambda r: _div(r.get("train_s"), r.get("epochs")), "{:.3f}", "low"),
    ("rows×epochs / s (training)", lambda r: _div(_mul(r.get("rows_per_epoch"), r.get("epochs")),
                                                  r.get("train_s")), "{:,.0f}", "high"),
    ("whole fit s", lambda r: r.get("fit_s"), "{:.1f}", "low"),
    ("sample 100k s", lambda r: r.get("sample_100000_s"), "{:.2f}", "low"),
    ("sample 1M s", lambda r: r.get("sample_1000000_s"), "{:.2f}", "low"),
    ("peak RSS after fit MB", lambda r: r.get("peak_rss_fit_mb"), "{:,.0f}", "low"),
    ("peak RSS process MB", lambda r: r.get("process_peak_rss_mb"), "{:,.0f}", "low"),
    ("Column Shapes", lambda r: _score(r, "column_shapes"), "{:.3f}", "high"),
    ("Column Pair Trends (all pairs)", lambda r: _score(r, "column_pair_trends_all_pairs"),
     "{:.3f}", "high"),
    ("LogisticDetection", lambda r: _score(r, "logistic_detection"), "{:.3f}", "high"),
    ("ML efficacy, train synthetic", lambda r: _score(r, "ml_efficacy_synthetic"), "{:.3f}",
     "high"),
    ("ML efficacy, train real", lambda r: _score(r, "ml_efficacy_real"), "{:.3f}", None),
    ("DCR train share (0.5 ideal)", lambda r: _score(r, "dcr_train_share"), "{:.3f}", None),
)


def markdown(payload: dict) -> str:
    m, v = payload["machine"], payload["versions"]
    lines = [f"# Benchmark run `{payload['name']}` ({payload['started']})", "",
             f"`{payload['command']}`", "",
             f"Machine: {m.get('cores')} cores, {m.get('cpu_model') or m.get('cpu')}, "
             f"GPU: {m.get('gpu') or 'none'}, {m.get('memory_gb', '?')} GB RAM; "
             + ", ".join(f"{k} {val}" for k, val in v.items()) + ".", "",
             "Cells: median [min–max] over seeds (n = seeds). Ratio: synthvae / ctgan medians. "
             "Timings on a shared machine: `load` is the 1-minute load average when each "
             "process started.", ""]
    if payload.get("note"):  # added by hand to the JSON after the run
        lines += [f"**Note.** {payload['note']}", ""]
    for dataset in dict.fromkeys(r["dataset"] for r in payload["runs"]):
        runs = [r for r in payload["runs"] if r["dataset"] == dataset]
        lines += dataset_table(dataset, runs)
    lines += targets(payload["runs"])
    return "\n".join(lines) + "\n"


def dataset_table(dataset: str, runs: list[dict]) -> list[str]:
    plain = [r for r in runs if "ladder" not in r and "error" not in r]
    by_model = {m: [r for r in plain if r["model"] == m] for m in ("synthvae", "ctgan")}
    header = ["metric"] + [f"{m} (n={len(rs)}, epochs={rs[0].get('epochs_cap') or 'auto'})"
                           for m, rs in by_model.items() if rs]
    rows = plain[0]["rows"] if plain else "?"
    lines = [f"## {dataset} ({rows:,} training rows)" if plain else f"## {dataset}", "",
             "| " + " | ".join(header + ["ratio"]) + " |",
             "|" + "---|" * (len(header) + 1)]
    for label, get, fmt, _ in METRICS:
        medians, cells = {}, []
        for model, rs in by_model.items():
            if not rs:
                continue
            values = [x for x in (get(r) for r in rs) if x is not None]
            medians[model] = statistics.median(values) if values else None
            cells.append(_cell(values, fmt))
        ratio = _div(medians.get("synthvae"), medians.get("ctgan"))
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {_fmt(ratio, '{:.2f}')} |")
    loads = ", ".join(f"{r['model']}#{r['seed']}: {r['load_at_start']}" for r in runs)
    lines += ["", f"load: {loads}"]
    errors = [f"{r['model']}#{r['seed']}: {r['error']} after {r['wall_s']:.0f} s, process peak "
              f"RSS {r['process_peak_rss_mb']:,.0f} MB" for r in runs if "error" in r]
    lines += [f"errors: {'; '.join(errors)}"] if errors else []
    lines += ladder_lines(runs)
    return lines + [""]


def ladder_lines(runs: list[dict]) -> list[str]:
    ladder = next((r["ladder"] for r in runs if "ladder" in r), None)
    if not ladder:
        return []
    lines = ["", "Time-to-quality (synthvae seed 0, a fresh fit per epoch budget):", "",
             "| epochs | whole fit s | Column Shapes | Column Pair Trends (all pairs) |",
             "|---|---|---|---|"]
    lines += [f"| {x['epochs']} | {x['fit_s']:.1f} | {x['column_shapes']:.3f} | "
              f"{x['column_pair_trends_all_pairs']:.3f} |" for x in ladder]
    return lines


def targets(runs: list[dict]) -> list[str]:
    """Issue 4's targets, from the adult and flights runs present."""
    lines = ["## Targets", "", "| target | measured | met? |", "|---|---|---|"]
    adult = _medians([r for r in runs if r["dataset"] == "adult"])
    if adult:
        sv, ct = adult.get("synthvae", {}), adult.get("ctgan", {})
        lines.append(_row("transformer fit+transform ≤ 1 s on adult",
                          sv.get("transformer fit+transform s"), lambda x: x <= 1, "{:.2f} s"))
        lines.append(_row("training rows×epochs/s ≥ 1.5× ctgan's", _div(
            sv.get("rows×epochs / s (training)"), ct.get("rows×epochs / s (training)")),
            lambda x: x >= 1.5, "{:.2f}×"))
        lines.append(_row("sampling 1M rows into a DataFrame ≥ 3× ctgan's rows/s", _div(
            ct.get("sample 1M s"), sv.get("sample 1M s")), lambda x: x >= 3, "{:.2f}×"))
        lines.append(time_to_quality([r for r in runs if r["dataset"] == "adult"]))
    flights = _medians([r for r in runs if r["dataset"] == "flights"])
    if flights.get("synthvae"):
        lines.append(_row("flights at defaults: whole fit ≤ 10 min",
                          flights["synthvae"].get("whole fit s"), lambda x: x <= 600, "{:.0f} s"))
    if flights.get("ctgan"):
        lines.append(ctgan_extrapolated(flights["ctgan"]))
    return lines + ["", "The transformer-fit on 1M×10 and the 10M-row Parquet targets are "
                    "measured by `python -m benchmarks.scale` (results/scale.md)."]


def ctgan_extrapolated(ct: dict) -> str:
    """ctgan's 300-epoch fit time from its measured transformer time and seconds per epoch."""
    per_epoch, transformer = ct.get("s / epoch"), ct.get("transformer fit+transform s")
    if per_epoch is None or transformer is None:
        return "| ctgan on flights, 300 epochs (extrapolated) | not measured | – |"
    total = transformer + 300 * per_epoch
    return (f"| ctgan on flights, 300 epochs (EXTRAPOLATED from {ct['epochs run']:.0f} epoch(s): "
            f"transformer {transformer:.0f} s + 300 × {per_epoch:.1f} s) | {total:,.0f} s "
            f"({total / 3600:.1f} h) | reference |")


def time_to_quality(runs: list[dict]) -> str:
    """First synthvae epoch budget with both quality scores ≥ ctgan's, over ctgan's fit time."""
    ctgan = [r for r in runs if r["model"] == "ctgan" and "scores" in r]
    ladder = next((r["ladder"] for r in runs if "ladder" in r), None)
    label = "synthvae time to ctgan-300-epoch quality ≤ 20 % of ctgan's time"
    if not ctgan or not ladder:
        return f"| {label} | not measured | – |"
    keys = ("column_shapes", "column_pair_trends_all_pairs")
    goal = {k: statistics.median(r["scores"][k] for r in ctgan) for k in keys}
    ctgan_s = statistics.median(r["fit_s"] for r in ctgan)
    reached = next((x for x in ladder if all(x[k] >= goal[k] for k in keys)), None)
    if reached is None:
        return f"| {label} | not reached within {ladder[-1]['epochs']} epochs | no |"
    share = reached["fit_s"] / ctgan_s
    return (f"| {label} | {reached['epochs']} epochs, {reached['fit_s']:.0f} s = {share:.0%} of "
            f"ctgan's {ctgan_s:.0f} s (goal: shapes {goal['column_shapes']:.3f}, pairs "
            f"{goal['column_pair_trends_all_pairs']:.3f}) | {'yes' if share <= 0.2 else 'no'} |")


def _medians(runs: list[dict]) -> dict:
    out = {}
    for model in ("synthvae", "ctgan"):
        rs = [r for r in runs if r.get("model") == model and "ladder" not in r and "error" not in r]
        if rs:
            out[model] = {label: _median([get(r) for r in rs]) for label, get, _, _ in METRICS}
    return out


def _row(label, value, ok, fmt) -> str:
    if value is None:
        return f"| {label} | not measured | – |"
    return f"| {label} | {fmt.format(value)} | {'yes' if ok(value) else 'no'} |"


def _cell(values: list, fmt: str) -> str:
    if not values:
        return "–"
    mid = fmt.format(statistics.median(values))
    if len(values) == 1 or min(values) == max(values):
        return mid
    return f"{mid} [{fmt.format(min(values))}–{fmt.format(max(values))}]"


def _fmt(value, fmt) -> str:
    return "–" if value is None else fmt.format(value)


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _div(a, b):
    return None if a is None or not b else a / b


def _mul(a, b):
    return None if a is None or b is None else a * b


def _score(run: dict, key: str):
    return (run.get("scores") or {}).get(key)

"""The report as one self-contained HTML page: works offline, no CDN.

plotly's JavaScript is embedded once, in the page head; every figure div uses it.
Every text that comes from the data (column names, categories) is HTML-escaped. The page is
built only from the :class:`Report`'s JSON-ready fields, so ``Report.from_json(...).to_html()``
gives the same page.
"""

from __future__ import annotations

import html
import math

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from synthvae.reports.report import HEADLINES, Report, format_value

REAL, SYNTHETIC = "#2f5d8a", "#e07b39"
PLOT_COLUMNS = 4  # distribution plots per row
RULES_SHOWN = 10  # most-broken rules of each kind shown on the page (all are in the JSON)
NOT_COMPUTED = "not computed on these tables (see the notes)"
TEMPLATE = "plotly_white"
CONFIG = {"displayModeBar": False, "responsive": True}
STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2733;
     background:#f4f6f9;margin:0}
main{max-width:1320px;margin:0 auto;padding:28px 32px 48px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:34px 0 10px;padding-bottom:6px;
   border-bottom:2px solid #d8dee6}h3{font-size:16px;margin:22px 0 8px}
.sub{color:#5b6775;margin:0 0 18px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px}
.card{background:#fff;border-radius:8px;padding:12px 14px;box-shadow:0 1px 2px #0001;
      border-top:4px solid #2f5d8a}
.card.privacy{border-top-color:#8a3f8f}
.card .v{font-size:22px;font-weight:650}.card .l{font-size:13px;font-weight:600;margin-top:2px}
.card .h{font-size:12px;color:#6b7684}
.callout{background:#fff7e0;border-left:5px solid #e0a800;padding:12px 16px;margin:20px 0;
         border-radius:4px}
.panel{background:#fff;border-radius:8px;padding:14px 16px;box-shadow:0 1px 2px #0001;
       margin:10px 0}
.two{display:grid;grid-template-columns:1fr 1fr;gap:14px}
.panel h2{margin:2px 0 8px;border:0;padding:0}
.legend{font-size:13px;margin:0 0 4px}.legend span[style]{display:inline-block;width:12px;
        height:12px;border-radius:2px;margin:0 5px 0 12px;vertical-align:-1px}
table{border-collapse:collapse;width:100%;font-size:13.5px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e6eaef;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
th{color:#4a5563;font-weight:600}
.muted{color:#6b7684;font-size:13px}
footer{margin-top:36px;color:#6b7684;font-size:12px}
"""


def render_html(report: Report) -> str:
    mia = report.privacy.get("membership_inference")
    body = "".join([
        _header(report), _cards(report), _callout(report),
        _two(_panel("<h2>Fidelity</h2>" + _table(_fidelity_rows(report)) + _efficacy(report)),
             _panel("<h2>Privacy</h2>" + _table(_privacy_rows(report)) + _ledger(report)
                    + _exposure(report) + _personal_data(report)
                    + _privacy_help(report))),
        _rules(report.rules),
        _two(_panel(_figure(pair_error_figure(report))),
             _panel(_figure(roc_figure(mia)) if mia else
                    "<p class=\"muted\">No holdout rows: the attacks were not run.</p>")),
        "<h2>Column distributions</h2>",
        _panel(_legend() + _figure(distribution_figure(report.distributions))),
        _two(_panel(_shapes_table(report)),
             _panel(_figure(coverage_figure(report.fidelity.get("coverage"))))),
        _notes(report), _footer(report),
    ])
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>synthvae report</title><style>{STYLE}</style>"
            f"<script type=\"text/javascript\">{get_plotlyjs()}</script></head>"
            f"<body><main>{body}</main></body></html>")


def _figure(figure: go.Figure | None) -> str:
    """A figure's div; plotly's JavaScript is in the page head, embedded once."""
    if figure is None:
        return "<p class=\"muted\">Nothing to plot.</p>"
    return figure.to_html(full_html=False, include_plotlyjs=False, config=CONFIG)


def _e(text) -> str:
    return html.escape(str(text))


def _panel(content: str) -> str:
    return f"<div class=\"panel\">{content}</div>"


def _two(left: str, right: str) -> str:
    return f"<div class=\"two\">{left}{right}</div>"


def _legend() -> str:
    return (f"<div class=\"legend\"><span style=\"background:{REAL}\"></span>real "
            f"<span style=\"background:{SYNTHETIC}\"></span>synthetic "
            "<span class=\"muted\">&nbsp; share of rows per bin or category; values beyond "
            "the real 0.5–99.5 % range count in the first / last bin</span></div>")


# ----------------------------------------------------------------------------- text parts


def _header(report: Report) -> str:
    data = report.data
    parts = [f"real {data['real_rows']:,} rows", f"synthetic {data['synthetic_rows']:,} rows",
             (f"holdout {data['holdout_rows']:,} rows" if data.get("holdout_rows")
              else "no holdout"), f"{len(data['columns'])} columns"]
    if data.get("targets") and len(data["targets"]) > 1:
        parts.append(f"targets {', '.join(data['targets'])}")
    elif data.get("target"):
        parts.append(f"target {data['target']} ({data['task']})")
    parts.append(f"computed in {report.timing.get('total_seconds', 0):.1f} s")
    return f"<h1>Synthetic data report</h1><p class=\"sub\">{_e(' · '.join(parts))}</p>"


def _cards(report: Report) -> str:
    cards = []
    for key, label, section, hint in HEADLINES:
        value = report.summary.get(key)
        if value is None:
            continue
        cards.append(f"<div class=\"card {section}\"><div class=\"v\">"
                     f"{_e(format_value(key, value))}</div><div class=\"l\">{_e(label)}</div>"
                     f"<div class=\"h\">{_e(hint)}</div></div>")
    return f"<section class=\"cards\">{''.join(cards)}</section>"


def _callout(report: Report) -> str:
    dp = report.privacy.get("differential_privacy") or {}
    return (f"<div class=\"callout\"><b>{_e(report.privacy.get('statement', ''))}</b><br>"
            f"{_e(dp.get('statement', ''))}</div>")


def _rows(rows: list[tuple]) -> str:
    """Table rows of (label, value, explanation); numbers right-aligned."""
    return "".join(f"<tr><td>{_e(label)}</td><td class=\"n\">{_e(value)}</td>"
                   f"<td class=\"muted\">{_e(note)}</td></tr>" for label, value, note in rows)


def _fidelity_rows(report: Report) -> list[tuple]:
    s, f = report.summary, report.fidelity
    thresholds = f["column_pair_trends"]["thresholds"]
    gb = (f.get("detection") or {}).get("gradient_boosting")  # None: not computed (notes)
    return [
        ("Column Shapes", format_value("", s["column_shapes"]),
         "mean of KSComplement (numbers) / TVComplement (categories) per column"),
        ("Column Pair Trends, sdmetrics thresholds", format_value("", s["column_pair_trends"]),
         f"pairs with real |correlation| > {thresholds['real_correlation']} or Cramér's V > "
         f"{thresholds['real_association']} only"),
        ("Column Pair Trends, all pairs", format_value("", s["column_pair_trends_all_pairs"]),
         "every pair of columns"),
        ("Column Pair Trends, real bins", format_value("", s["column_pair_trends_real_bins"]),
         "every pair; numbers cut at the real data's edges in both tables (sdmetrics' report "
         "cuts each table at its own)"),
        ("Data validity", format_value("", s["data_validity"]),
         "values inside the real ranges / categories"),
        ("LogisticDetection", format_value("", s["logistic_detection"]),
         "sdmetrics: 1 − (2·max(AUC, 0.5) − 1); 1 = cannot tell real from synthetic"),
        ("Gradient-boosting detection",
         f"AUC {gb['auc']:.3f} · score {gb['score']:.3f}" if gb else "n/a",
         f"{gb['folds']}-fold CV AUC; score = 1 − |2·AUC − 1|" if gb else NOT_COMPUTED),
        ("alpha-precision / beta-recall", f"{format_value('', s['alpha_precision'])} / "
                                          f"{format_value('', s['beta_recall'])}",
         "Alaa et al. 2022; two real samples score about 0.5 on beta-recall"),
        ("Authenticity", format_value("", s["authenticity"]),
         "share of synthetic rows not closer to a real row than its real neighbour"),
    ]


def _efficacy(report: Report) -> str:
    """One table per target (reports written before several targets hold only one)."""
    results = report.fidelity.get("ml_efficacy_by_target") or [report.fidelity.get("ml_efficacy")]
    return "".join(_efficacy_table(ml) for ml in results if ml)


def _efficacy_table(ml: dict) -> str:
    metrics = [m for m in ("roc_auc", "f1_macro", "r2") if m in ml["real"]]
    head = "".join(f"<th>{_e(m)}</th>" for m in metrics)
    rows = "".join(f"<tr><td>trained on {name}</td>"
                   + "".join(f"<td class=\"n\">{_e(format_value('', ml[name][m]))}</td>"
                             for m in metrics) + "</tr>" for name in ("synthetic", "real"))
    return (f"<h3>ML efficacy: predict {_e(ml['target'])} ({_e(ml['task'])}), tested on "
            f"{ml['holdout_rows']:,} holdout rows</h3>"
            + f"<table><tr><th></th>{head}</tr>{rows}</table>")


def _rules(rules: dict | None) -> str:
    """Rules of the real table and the synthetic rows that break them (section absent in
    reports written before it existed)."""
    if not rules:
        return ""
    t = rules["totals"]
    summary = _table([
        ("Functional dependencies A → B", f"{t['functional_dependencies']}",
         f"synthetic rows breaking any: {_share(t['functional_dependency_violation_share'])}"),
        ("Zero-support combinations", f"{t['zero_support_pairs']}",
         f"synthetic rows holding any: {_share(t['zero_support_share'])}"),
        ("Inequalities a ≤ b", f"{t['inequalities']}",
         f"synthetic rows breaking any: {_share(t['inequality_violation_share'])}")])
    fds = [(f"{d['determinant']} → {d['dependent']}", _share(d["synthetic_violation_share"]),
            f"{d['determinant_values']} values; real rows breaking it: "
            f"{_share(d['real_violation_share'])}")
           for d in rules["functional_dependencies"][:RULES_SHOWN]]
    zeros = [(" & ".join(f"{c}={v}" for c, v in zip(z["columns"], z["values"])),
              _share(z["synthetic_share"]), f"{z['expected_rows']:,.0f} real rows expected "
              f"under independence, 0 found") for z in rules["zero_support_pairs"][:RULES_SHOWN]]
    ineqs = [(f"{q['smaller']} ≤ {q['larger']}", _share(q["synthetic_violation_share"]),
              "holds in every real row") for q in rules["inequalities"][:RULES_SHOWN]]
    parts = [("Dependencies (share of synthetic rows breaking each)", fds),
             ("Combinations no real row has (share of synthetic rows holding each)", zeros),
             ("Inequalities (share of synthetic rows breaking each)", ineqs)]
    detail = "".join(f"<h3>{_e(title)}</h3>{_table(rows)}" for title, rows in parts if rows)
    return _panel("<h2>Rules of the real table</h2>" + summary + detail)


def _share(value) -> str:
    return "n/a" if value is None else f"{100 * value:.2f} %"


def _if_copied_text(value: float | None) -> str:
    """What a table of copies would score (reports saved before the key was added lack it)."""
    if value is None:
        return ""
    return f"; copies of training rows give about {value:.3f} (see exact copies and MIA)"


def _privacy_rows(report: Report) -> list[tuple]:
    p = report.privacy
    copies, dcr = p.get("exact_copies") or {}, p.get("dcr") or {}
    rows = [("Exact copies of training rows",
             f"{copies['count']:,} ({100 * copies['share']:.2f} %)" if copies else "n/a",
             _baseline_text(copies["holdout_share"], "holdout rows equal to a training row")
             if copies else NOT_COMPUTED)]
    rows.append(("Median DCR, synthetic → train", format_value("", dcr.get("synthetic_median")),
                 _baseline_text(dcr["holdout_median"], "holdout → train median", pct=False)
                 if dcr else NOT_COMPUTED))
    if dcr.get("train_share") is not None:
        rows.append(("Nearest row is a training row", format_value("", dcr["train_share"]),
                     "training sample of the holdout's size vs the holdout; 0.5 ideal"
                     + _if_copied_text(dcr.get("train_share_if_copied"))))
    mia = p.get("membership_inference")
    for name in ("distance", "domias") if mia else ():
        rows.append((f"Membership inference ({name})", f"AUC {mia[name]['auc']:.3f}",
                     f"TPR at 1 % FPR {mia[name]['tpr_at_1pct_fpr']:.3f}; "
                     f"{mia['members']:,} members vs {mia['non_members']:,} holdout rows"))
    attr = p.get("attribute_inference")
    if attr:
        rows.append(("Attribute disclosure protection", format_value("", attr["score"]),
                     f"guess {', '.join(attr['sensitive_columns'])} from "
                     f"{', '.join(attr['key_columns'])}; 1 = no better than chance"))
    dp = p.get("differential_privacy") or {}
    if dp.get("epsilon") is not None:
        rows.append(("Differential privacy", f"ε = {dp['epsilon']:.3g}",
                     f"δ = {dp['delta'] or 0:.3g}, {dp.get('accountant') or 'unknown'} "
                     "accountant; every release is in the ledger below"))
    return rows


def _ledger(report: Report) -> str:
    """The DP ledger: every release computed from the private rows and its cost."""
    entries = (report.privacy.get("differential_privacy") or {}).get("ledger") or []
    rows = "".join(f"<tr><td>{_e(e.get('mechanism', ''))}</td><td>{_e(e.get('column') or '')}"
                   f"</td><td class=\"n\">{e.get('epsilon', 0):.4g}</td>"
                   f"<td class=\"n\">{e.get('delta', 0):.3g}</td></tr>" for e in entries)
    return _titled_table("Privacy ledger", ("mechanism", "column", "ε", "δ"), rows)


def _exposure(report: Report) -> str:
    """Columns whose real values the model file stores and samples back, and those replaced."""
    entries = report.privacy.get("value_exposure") or []
    rows = "".join(f"<tr><td>{_e(e['column'])}</td><td>{_e(e['kind'])}</td>"
                   f"<td>{'yes, verbatim' if e['exposure'] == 'verbatim' else 'no, replaced'}"
                   f"</td><td>{_e(e['detail'])}</td></tr>" for e in entries)
    return _titled_table("Real values in the model file and its samples",
                         ("column", "kind", "real values in output", "detail"), rows)


def _personal_data(report: Report) -> str:
    """PII columns (synthvae/pii.py) and how many synthetic values repeat a real one."""
    entries = report.privacy.get("personal_data") or []
    rows = "".join(f"<tr><td>{_e(e['column'])}</td><td>{_e(e['pii'])}</td>"
                   f"<td class=\"n\">{e['equal_to_a_real_value']:,} of "
                   f"{e['synthetic_values']:,}</td></tr>" for e in entries)
    return _titled_table("Personal data columns (replaced by fake values)",
                         ("column", "kind", "synthetic values equal to a real one"), rows)


def _titled_table(title: str, headers: tuple[str, ...], rows: str) -> str:
    """A heading and a table of ``rows`` (already rendered ``<tr>`` rows); empty without rows."""
    if not rows:
        return ""
    head = "".join(f"<th>{h}</th>" for h in headers)
    return f"<h3>{title}</h3><table><tr>{head}</tr>{rows}</table>"


def _privacy_help(report: Report) -> str:
    mia = report.privacy.get("membership_inference")
    split = (f" The attacks score {mia['members']:,} training rows against {mia['non_members']:,}"
             f" holdout rows; DOMIAS's reference sample is the other {mia['reference_rows']:,}"
             " holdout rows." if mia else "")
    return ("<p class=\"muted\">Distances are Euclidean over standardized numbers and one-hot "
            "categories (one standard deviation or one differing category adds 1 to the "
            f"squared distance). An AUC of 0.5 means the attacker does no better than a coin."
            f"{_e(split)}</p>")


def _baseline_text(value, label: str, pct: bool = True) -> str:
    if value is None:
        return "no holdout baseline"
    return f"baseline: {100 * value:.2f} % {label}" if pct else f"baseline: {value:.3f} {label}"


def _notes(report: Report) -> str:
    if not report.notes:
        return ""
    items = "".join(f"<li>{_e(n)}</li>" for n in report.notes)
    return f"<h2>Notes</h2><ul>{items}</ul>"


def _footer(report: Report) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in report.versions.items())
    return (f"<footer>Generated by synthvae.reports ({_e(versions)}). The meaning of every "
            f"number is in docs/reports.md.</footer>")


def _shapes_table(report: Report) -> str:
    kinds = {c["name"]: c["kind"] for c in report.data["columns"]}
    rows = "".join(f"<tr><td>{_e(c['column'])}</td><td>{_e(kinds.get(c['column'], ''))}</td>"
                   f"<td>{_e(c['metric'])}</td><td class=\"n\">"
                   f"{_e(format_value('', c['score']))}</td></tr>"
                   for c in report.fidelity["column_shapes"]["columns"])
    return ("<h3>Column Shapes per column</h3><table><tr><th>column</th><th>kind</th>"
            f"<th>metric</th><th>score</th></tr>{rows}</table>")


def _table(rows: list[tuple]) -> str:
    return f"<table>{_rows(rows)}</table>"


# ----------------------------------------------------------------------------- figures


def distribution_figure(distributions: list[dict]) -> go.Figure | None:
    """One small bar chart per column: share of rows per bin / category."""
    if not distributions:
        return None
    rows = math.ceil(len(distributions) / PLOT_COLUMNS)
    figure = make_subplots(rows=rows, cols=PLOT_COLUMNS, horizontal_spacing=0.05,
                           vertical_spacing=min(0.45 / rows, 0.2),
                           subplot_titles=[_e(_short(d["column"], 40)) for d in distributions])
    for i, entry in enumerate(distributions):
        row, col = i // PLOT_COLUMNS + 1, i % PLOT_COLUMNS + 1
        for name, color in (("real", REAL), ("synthetic", SYNTHETIC)):
            figure.add_trace(_bars(entry, name, color), row=row, col=col)
        if entry["kind"] == "categorical":  # positions on the axis, short labels as ticks
            figure.update_xaxes(tickvals=list(range(len(entry["x"]))), tickangle=-45,
                                ticktext=[_e(_short(x, 12)) for x in entry["x"]], row=row, col=col)
    figure.update_layout(template=TEMPLATE, barmode="group", bargap=0.1, showlegend=False,
                         height=250 * rows, margin=dict(l=40, r=10, t=30, b=10))
    figure.update_annotations(font_size=13)
    figure.update_xaxes(tickfont_size=9, automargin=True)
    figure.update_yaxes(tickformat=".0%", tickfont_size=9)
    return figure


def _bars(entry: dict, name: str, color: str) -> go.Bar:
    categorical = entry["kind"] == "categorical"
    return go.Bar(x=list(range(len(entry["x"]))) if categorical else entry["x"], y=entry[name],
                  name=name, marker_color=color, opacity=0.9,
                  customdata=[_e(x) for x in entry["x"]],
                  hovertemplate=f"{name}: %{{y:.2%}}<br>%{{customdata}}<extra></extra>")


def _short(text, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def pair_error_figure(report: Report) -> go.Figure | None:
    """Heatmap of 1 − sdmetrics pair score: how far each pair's trend moved."""
    pairs = report.fidelity["column_pair_trends"]["pairs"]
    names = list(dict.fromkeys([p["column_1"] for p in pairs] + [p["column_2"] for p in pairs]))
    if not names:
        return None
    index = {n: i for i, n in enumerate(names)}
    z = [[None] * len(names) for _ in names]
    text = [[""] * len(names) for _ in names]
    for p in pairs:
        i, j = index[p["column_1"]], index[p["column_2"]]
        error = None if p["score"] is None else 1 - p["score"]
        z[i][j] = z[j][i] = error
        text[i][j] = text[j][i] = _pair_hover(p)
    top = max([v for row in z for v in row if v is not None] + [0.1])
    labels = [_e(n) for n in names]
    figure = go.Figure(go.Heatmap(z=z, x=labels, y=labels, text=text, zmin=0, zmax=top,
                                  colorscale="Reds", hovertemplate="%{text}<extra></extra>",
                                  colorbar=dict(title="error", thickness=12)))
    figure.update_layout(template=TEMPLATE, height=520, margin=dict(l=10, r=10, t=70, b=10),
                         title=dict(text="Pair trend error: 1 − sdmetrics pair score<br><sup>"
                                         "|Δ correlation|/2 for number pairs, total variation "
                                         "of the 2-D table otherwise</sup>", font_size=14),
                         yaxis=dict(autorange="reversed"))
    return figure


def _pair_hover(pair: dict) -> str:
    text = f"{_e(pair['column_1'])} × {_e(pair['column_2'])}<br>{_e(pair['metric'])}"
    if pair["score"] is not None:
        text += f": {pair['score']:.3f}"
    if pair["real_correlation"] is not None and pair["synthetic_correlation"] is not None:
        text += (f"<br>correlation real {pair['real_correlation']:.3f}, "
                 f"synthetic {pair['synthetic_correlation']:.3f}")
    return text


def coverage_figure(coverage: dict | None) -> go.Figure | None:
    if not coverage:
        return None
    curve = coverage["curve"]
    figure = go.Figure([
        go.Scatter(x=curve["alpha"], y=curve["alpha"], name="ideal", mode="lines",
                   line=dict(color="#999", dash="dash")),
        go.Scatter(x=curve["alpha"], y=curve["precision"], name="alpha-precision curve",
                   line=dict(color=REAL)),
        go.Scatter(x=curve["alpha"], y=curve["recall"], name="beta-recall curve",
                   line=dict(color=SYNTHETIC))])
    figure.update_layout(template=TEMPLATE, height=520, margin=dict(l=50, r=10, t=70, b=50),
                         title=dict(text="alpha-precision and beta-recall curves", font_size=14),
                         xaxis_title="alpha / beta", yaxis_title="share",
                         legend=dict(orientation="h", y=-0.18))
    return figure


def roc_figure(mia: dict) -> go.Figure:
    traces = [go.Scatter(x=[0, 1], y=[0, 1], name="guessing", mode="lines",
                         line=dict(color="#999", dash="dash"))]
    for name, color in (("distance", REAL), ("domias", SYNTHETIC)):
        attack = mia[name]
        traces.append(go.Scatter(x=attack["roc"]["fpr"], y=attack["roc"]["tpr"], mode="lines",
                                 line=dict(color=color, shape="hv"),
                                 name=f"{name} (AUC {attack['auc']:.3f})"))
    figure = go.Figure(traces)
    figure.update_layout(template=TEMPLATE, height=420, margin=dict(l=50, r=10, t=50, b=50),
                         title=dict(text="Membership inference ROC (training vs holdout rows)",
                                    font_size=14),
                         xaxis_title="false positive rate", yaxis_title="true positive rate",
                         legend=dict(x=0.55, y=0.05))
    return figure

"""Rich HTML for notebooks: what Jupyter shows for a Synthesizer and a Report.

Every piece of text (column names, categories, parameter values) goes through
``html.escape``: a column named ``<script>`` is shown, never run. The HTML is a plain table
with inline styles, no JavaScript, so it renders the same in Jupyter, VS Code and GitHub.
"""

from __future__ import annotations

import html

_TABLE = "border-collapse:collapse;margin:2px 0 8px 0;font-size:0.9em"
_CELL = "padding:2px 10px;text-align:left;border-bottom:1px solid #ddd"


def synthesizer_html(synth) -> str:
    """Parameters; when fitted, the columns with their kinds and the training summary."""
    parts = [_title("Synthesizer"), _subtitle("Parameters"),
             _table(("parameter", "value"),
                    [(k, _param_value(v)) for k, v in synth.get_params().items()])]
    if not _is_fitted(synth):
        parts.append("<p><b>Not fitted</b>: call <code>fit(df)</code> to learn a table.</p>")
        return _box(parts)
    parts += [_subtitle(f"Columns ({len(synth.schema_.columns)})"),
              _table(("column", "kind", "nullable", "dtype"),
                     [(c.name, c.kind.value, c.nullable, c.dtype)
                      for c in synth.schema_.columns])]
    summary = getattr(synth, "training_summary_", None) or {}
    parts += [_subtitle("Training summary"),
              _table(("", ""), [(k, _summary_value(v)) for k, v in summary.items()])]
    return _box(parts)


def report_html(report) -> str:
    """The headline scores, grouped by section, with how to read each."""
    from synthvae.reports.report import HEADLINES, format_value

    rows, section = [], None
    for key, label, group, hint in HEADLINES:
        value = report.summary.get(key)
        if value is None:
            continue
        if group != section:
            rows.append((f"<b>{html.escape(group.capitalize())}</b>", "", ""))
            section = group
        rows.append((html.escape(label), html.escape(format_value(key, value)),
                     html.escape(hint)))
    parts = [_title("synthvae report"),
             _table(("", "score", "how to read"), rows, escaped=True) if rows
             else "<p>No headline score could be computed.</p>"]
    notes = report.notes or []
    if notes:
        parts.append("<p>Notes:</p><ul>" + "".join(f"<li>{html.escape(str(n))}</li>"
                                                    for n in notes) + "</ul>")
    return _box(parts)


def _is_fitted(synth) -> bool:
    from synthvae.fitting import FITTED_FOR_SAMPLING

    return all(hasattr(synth, name) for name in FITTED_FOR_SAMPLING)


def _param_value(value) -> str:
    """``repr`` of a parameter; a Schema object as its size, not its every column."""
    from synthvae.schema import Schema

    if isinstance(value, Schema):
        return f"Schema with {len(value.columns)} columns"
    return repr(value)


def _summary_value(value) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _table(header: tuple, rows: list, escaped: bool = False) -> str:
    def cell(tag: str, value) -> str:
        text = str(value) if escaped else html.escape(str(value))
        return f'<{tag} style="{_CELL}">{text}</{tag}>'

    head = "" if not any(header) else \
        "<tr>" + "".join(cell("th", h) for h in header) + "</tr>"
    body = "".join("<tr>" + "".join(cell("td", v) for v in row) + "</tr>" for row in rows)
    return f'<table style="{_TABLE}">{head}{body}</table>'


def _title(text: str) -> str:
    return f"<div style=\"font-weight:bold;font-size:1.1em\">{html.escape(text)}</div>"


def _subtitle(text: str) -> str:
    return f"<div style=\"font-weight:bold;margin-top:6px\">{html.escape(text)}</div>"


def _box(parts: list[str]) -> str:
    return "<div class=\"synthvae\">" + "".join(parts) + "</div>"

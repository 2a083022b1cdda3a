"""The :class:`Report`: every score as plain dicts, JSON, HTML and a terminal table.

The JSON form is ``{"format": "synthvae-report", "format_version": 1, "data", "summary",
"fidelity", "privacy", "rules", "distributions", "notes", "timing", "versions"}``; the keys are
documented in docs/reports.md and only ever added to within a format version. Numbers that
could not be computed are ``null`` and ``notes`` says why.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from synthvae.errors import DataError

FORMAT = "synthvae-report"
FORMAT_VERSION = 1

# (summary key, label, section, how to read it) for the terminal table and the HTML cards.
HEADLINES = (
    ("column_shapes", "Column Shapes", "fidelity", "1 = same marginals"),
    ("column_pair_trends", "Pair Trends (strong pairs)", "fidelity", "sdmetrics thresholds"),
    ("column_pair_trends_all_pairs", "Pair Trends (all pairs)", "fidelity", "1 = same trends"),
    ("column_pair_trends_real_bins", "Pair Trends (real bins)", "fidelity",
     "all pairs, numbers cut at real edges"),
    ("logistic_detection", "LogisticDetection", "fidelity", "1 = indistinguishable"),
    ("gb_detection_auc", "Boosting detection AUC", "fidelity", "0.5 = indistinguishable"),
    ("ml_efficacy_synthetic", "ML efficacy, synthetic", "fidelity", "trained on synthetic"),
    ("ml_efficacy_real", "ML efficacy, real", "fidelity", "trained on real"),
    ("alpha_precision", "alpha-precision", "fidelity", "1 = ideal"),
    ("beta_recall", "beta-recall", "fidelity", "two real samples: ~0.5"),
    ("exact_copies", "Exact copies", "privacy", "of training rows"),
    ("dcr_train_share", "DCR train share", "privacy", "0.5 = ideal; > 0.5 = nearer train"),
    ("dcr_median_ratio", "DCR median ratio", "privacy", "vs holdout; < 1 = closer"),
    ("mia_distance_auc", "MIA AUC, distance", "privacy", "0.5 = ideal"),
    ("mia_domias_auc", "MIA AUC, DOMIAS", "privacy", "0.5 = ideal"),
    ("disclosure_protection", "Disclosure protection", "privacy", "1 = ideal"),
    ("dp_epsilon", "DP epsilon", "privacy", "smaller = stronger"),
    ("fd_violation_share", "Dependency violations", "rules",
     "rows breaking a real A → B; 0 = ideal"),
    ("zero_support_share", "Impossible combinations", "rules",
     "rows in a pair no real row has; 0 = ideal"),
    ("inequality_violation_share", "Inequality violations", "rules",
     "rows breaking a real a ≤ b; 0 = ideal"),
)


@dataclass(frozen=True)
class Report:
    """What :func:`synthvae.reports.evaluate` found. All fields are JSON-ready."""

    data: dict  # rows per table, columns, target, task, key and sensitive columns
    summary: dict  # the headline numbers, flat: name -> number or None
    fidelity: dict  # quality, diagnostic, detection, ml_efficacy, coverage
    privacy: dict  # exact_copies, dcr, membership_inference, attribute_inference, dp
    rules: dict | None = None  # dependencies, zero-support pairs, inequalities, totals
    distributions: list = field(default_factory=list)  # per-column shares, for the plots
    notes: list = field(default_factory=list)  # why a section is missing, caveats
    timing: dict = field(default_factory=dict)  # seconds per section
    versions: dict = field(default_factory=dict)  # synthvae, sdmetrics, scikit-learn, torch

    def to_dict(self) -> dict:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, **dataclasses.asdict(self)}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict) -> "Report":
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise DataError(f"Not a synthvae report: expected 'format' = {FORMAT!r}, got "
                            f"{data.get('format') if isinstance(data, dict) else data!r}.")
        names = [f.name for f in dataclasses.fields(cls)]
        return cls(**{name: data[name] for name in names if name in data})

    @classmethod
    def from_json(cls, text: str) -> "Report":
        return cls.from_dict(json.loads(text))

    def to_html(self) -> str:
        """One self-contained HTML page (plotly's JavaScript embedded once, works offline)."""
        from synthvae.reports.html import render_html

        return render_html(self)

    def write_html(self, path: str | Path) -> Path:
        return _write_text(Path(path), self.to_html())

    def write_json(self, path: str | Path) -> Path:
        return _write_text(Path(path), self.to_json() + "\n")

    def rich_table(self):
        """A compact ``rich.table.Table`` of the headline scores, for the terminal."""
        from rich.table import Table

        table = Table(title="synthvae report", title_justify="left", box=None,
                      show_edge=False, pad_edge=False)
        for name in ("", "score", "how to read"):
            table.add_column(name, justify="right" if name == "score" else "left")
        section = None
        for key, label, group, hint in HEADLINES:
            if self.summary.get(key) is None:
                continue
            if group != section:
                table.add_row(f"[bold]{group.capitalize()}[/]", "", "")
                section = group
            table.add_row(f"  {label}", format_value(key, self.summary[key]), f"[dim]{hint}[/]")
        return table

    def _repr_html_(self) -> str:
        """Notebook display: the headline scores (see synthvae/notebook.py)."""
        from synthvae.notebook import report_html

        return report_html(self)

    def __rich__(self):
        return self.rich_table()

    def __repr__(self) -> str:
        shown = {k: self.summary.get(k) for k in ("column_shapes", "column_pair_trends_all_pairs",
                                                  "logistic_detection", "dcr_train_share")}
        return f"Report({', '.join(f'{k}={format_value(k, v)}' for k, v in shown.items())})"


def format_value(key: str, value) -> str:
    """Counts as integers, shares and scores with 3 decimals, epsilon as given."""
    if value is None:
        return "n/a"
    if isinstance(value, bool) or key == "exact_copies":
        return f"{value:,}" if not isinstance(value, bool) else str(value)
    return f"{value:.3f}"


def _write_text(path: Path, text: str) -> Path:
    from synthvae.io import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path

"""Training curves of a fitted model: per-epoch loss, reconstruction, KL and held-out loss.

``.html`` is drawn with plotly (a dependency); ``.png``, ``.svg`` and ``.pdf`` with matplotlib,
an optional dependency (``pip install synthvae[plot]``). Files are written atomically.
"""

from __future__ import annotations

from pathlib import Path

from synthvae.errors import ConfigError, DataError
from synthvae.io import atomic_path

CURVES = (("loss", "training objective"), ("val_loss", "held-out objective"),
          ("reconstruction", "reconstruction NLL"), ("kl", "KL"))
STATIC_FORMATS = (".png", ".svg", ".pdf")


def curve_series(history: list[dict]) -> dict[str, tuple[list, list]]:
    """{label: (epochs, values)} for each curve present in ``history``."""
    series = {}
    for key, label in CURVES:
        points = [(h["epoch"], h[key]) for h in history if h.get(key) is not None]
        if points:
            series[label] = ([p[0] for p in points], [p[1] for p in points])
    return series


def plot_training_curves(history: list[dict], path: str | Path) -> Path:
    """Draw the curves of ``history`` (``Synthesizer.history_``) to ``path``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix != ".html" and suffix not in STATIC_FORMATS:
        raise ConfigError(f"Cannot draw curves to {str(path)!r}: use a .html, .png, .svg or "
                          f".pdf file name.")
    series = curve_series(history)
    if not series:
        raise DataError("The model holds no training curves (models trained with differential "
                        "privacy keep none: each epoch's loss would be a release).")
    with atomic_path(path) as tmp:
        if suffix == ".html":
            _plotly(series, tmp)
        else:
            _matplotlib(series, tmp, suffix[1:])
    return path


def _plotly(series: dict, path: Path) -> None:
    from plotly.subplots import make_subplots
    import plotly.graph_objects as go

    figure = make_subplots(rows=1, cols=2, subplot_titles=("objective", "terms"))
    for label, (epochs, values) in series.items():
        column = 1 if "objective" in label else 2
        figure.add_trace(go.Scatter(x=epochs, y=values, name=label, mode="lines"), 1, column)
    figure.update_xaxes(title_text="epoch")
    figure.update_layout(title="synthvae training curves", template="plotly_white")
    figure.write_html(str(path), include_plotlyjs=True, full_html=True)


def _matplotlib(series: dict, path: Path, fmt: str) -> None:
    try:  # a Figure of its own: no pyplot, so the caller's backend and figures stay as they are
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError("Drawing .png, .svg or .pdf needs matplotlib "
                          "(pip install 'synthvae[plot]'); or draw to a .html file.") from None
    figure = Figure(figsize=(10, 4))
    axes = figure.subplots(1, 2)
    for label, (epochs, values) in series.items():
        axes[0 if "objective" in label else 1].plot(epochs, values, label=label)
    for axis, title in zip(axes, ("objective", "terms")):
        axis.set_title(title)
        axis.set_xlabel("epoch")
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, format=fmt)

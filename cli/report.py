"""``synthvae report REAL SYNTHETIC``: score a synthetic table, print the headline scores, and
write a self-contained HTML page (and JSON if asked).

``register(app)`` adds the command to a Typer app. Without ``--holdout``, the holdout rows
that ``synthvae fit --holdout-fraction`` wrote next to the model (``MODEL.holdout.csv``) are
used when ``-m MODEL`` is given and that file exists.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Optional

import typer

from cli.app import err, out, say, user_errors
from cli.options import DecimalOption, SepOption

DEFAULT_HTML = Path("report.html")


def register(app: typer.Typer) -> None:
    """Add the ``report`` command to ``app``, with synthvae errors shown as one line."""
    app.command("report")(user_errors(report))


def report(
    real: Annotated[Path, typer.Argument(help="The table the model was trained on.")],
    synthetic: Annotated[Path, typer.Argument(help="The synthetic table to score.")],
    holdout: Annotated[Optional[Path], typer.Option(
        help="Real rows the model never saw (default: MODEL.holdout.csv if it exists).")] = None,
    target: Annotated[Optional[list[str]], typer.Option(
        help="Column to predict for ML efficacy (needs holdout rows); repeat the option for "
             "several targets, the first is the headline.")] = None,
    model: Annotated[Optional[Path], typer.Option(
        "--model", "-m", dir_okay=False,
        help="Model file fitted on REAL's columns: its differential-privacy record is "
             "reported.")] = None,
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="HTML report to write.", dir_okay=False)] = DEFAULT_HTML,
    json_path: Annotated[Optional[Path], typer.Option(
        "--json", help="Also write every number as JSON here.", dir_okay=False)] = None,
    key_columns: Annotated[Optional[str], typer.Option(
        help="Comma-separated columns an attacker knows (attribute inference).")] = None,
    sensitive_columns: Annotated[Optional[str], typer.Option(
        help="Comma-separated columns the attacker guesses (with --key-columns).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed for subsamples and splits.")] = 0,
    sep: SepOption = None,
    decimal: DecimalOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress spinner.")] = False,
):
    """Score SYNTHETIC against REAL: fidelity, detection, ML efficacy, privacy checks, and
    the rules of REAL (dependencies, impossible combinations) that SYNTHETIC breaks."""
    from synthvae.errors import ConfigError
    from synthvae.io import read_table
    from synthvae.reports import evaluate

    for path in (output, json_path):
        check_writable(path, (real, synthetic, holdout, model))
    check_html_name(output)
    if json_path is not None and _same_path(json_path, output):
        raise ConfigError(f"-o and --json both name {str(output)!r}; give them two files.")
    holdout = holdout or holdout_next_to(model)
    tables = {"real": read_table(real, sep, decimal),
              "synthetic": read_table(synthetic, sep, decimal),
              "holdout": read_table(holdout, sep, decimal) if holdout else None}
    spinner = contextlib.nullcontext() if quiet else err.status("Scoring the synthetic table...")
    with spinner:
        result = evaluate(**tables, target=list(target) if target else None,
                          key_columns=key_columns,
                          sensitive_columns=sensitive_columns, model_path=model, seed=seed)
    out.print(result.rich_table())
    _print_notes(result.notes)
    _write(result, output, json_path)


def _print_notes(notes: list) -> None:
    """Why a section asked for is missing (ML efficacy without holdout rows, ...), that a
    wide table's pair trends are a sample of its pairs, and what a target's ML-efficacy
    figures hide (holdout classes never trained on), on stderr: the table shows the figures
    without any of it, and the JSON alone said so."""
    for note in notes:
        if "not computed" in note or "drawn at random" in note or note.startswith("ML efficacy"):
            say(f"note: {note}", err)


def holdout_next_to(model: Path | None) -> Path | None:
    """``MODEL.holdout.csv`` when it exists (announced on stderr), else None."""
    from synthvae.io import holdout_path

    if model is None:
        return None
    candidate = holdout_path(model)
    if not candidate.is_file():
        return None
    say(f"Using holdout rows from {candidate} (written by synthvae fit --holdout-fraction).",
        err)
    return candidate


def check_writable(path: Path | None, inputs: tuple = ()) -> None:
    """Fail before the work, not after it, when ``path`` (if given) cannot be written: a
    missing folder, a file where a folder should be, no permission, one of ``inputs``."""
    from synthvae.io import check_writable as check

    if path is not None:
        check(path, inputs)


def check_html_name(path: Path) -> None:
    """The report is one HTML page: ``-o report.pdf`` wrote HTML into a file named .pdf."""
    from synthvae.errors import ConfigError

    from synthvae.io import is_stream

    if path.suffix.lower() not in (".html", ".htm") and not is_stream(path):
        raise ConfigError(f"The report is an HTML page: give -o a name ending in .html. Got "
                          f"{str(path)!r}.")


def _same_path(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def _write(result, output: Path, json_path: Path | None) -> None:
    result.write_html(output)
    written = [str(output)]
    if json_path is not None:
        result.write_json(json_path)
        written.append(str(json_path))
    say(f"Report written to {' and '.join(written)}")


"""``synthvae encode | score | interpolate | drift``: the fitted VAE as a toolkit.

``register(app)`` adds the commands to a Typer app, each with synthvae errors shown as one
line. ``drift`` exits with code 3 when it finds drift (0 when it does not, 1 on an error), so a
monitoring pipeline can branch on it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from cli.app import DEFAULT_MODEL, ModelOption, echo, out, say, user_errors
from cli.options import DecimalOption, SepOption

DRIFT_EXIT_CODE = 3
DataArgument = Annotated[Path, typer.Argument(help="Table with the model's columns: CSV, "
                                                   "gzip CSV or Parquet.")]


def register(app: typer.Typer) -> None:
    """Add the toolkit commands to ``app``, with synthvae errors shown as one line."""
    for name, command in (("encode", encode), ("score", score),
                          ("interpolate", interpolate), ("drift", drift)):
        app.command(name)(user_errors(command))


def _load(model: Path, data: Path, sep: str | None = None, decimal: str | None = None,
          output: Path | None = None):
    """(model, table); first, where given, the checks that ``output`` can be written, so a
    bad name or folder fails before the work."""
    from synthvae import Synthesizer
    from synthvae.io import check_writable, output_format, read_table

    if output is not None:
        output_format(output)
        check_writable(output, (model, data))
    return Synthesizer.load(model), read_table(data, sep, decimal)


def _write(frame, output: Path) -> None:
    from synthvae.io import write_table_chunks

    write_table_chunks([frame], output)
    say(f"Wrote {len(frame):,} rows to {output}")


def encode(
    data: DataArgument,
    model: ModelOption = DEFAULT_MODEL,
    output: Annotated[Path, typer.Option("--output", "-o", help="CSV or Parquet file.",
                                         dir_okay=False)] = Path("latents.csv"),
    sep: SepOption = None,
    decimal: DecimalOption = None,
):
    """Write the encoder's mean latent of each row of DATA (columns z0, z1, ...)."""
    import pandas as pd

    synth, df = _load(model, data, sep, decimal, output)
    latents = synth.encode(df)
    _write(pd.DataFrame(latents, columns=[f"z{i}" for i in range(latents.shape[1])]), output)


def score(
    data: DataArgument,
    model: ModelOption = DEFAULT_MODEL,
    output: Annotated[Path, typer.Option("--output", "-o", help="CSV or Parquet file.",
                                         dir_okay=False)] = Path("scores.csv"),
    samples: Annotated[int, typer.Option(help="Importance samples per row (IWAE k).")] = 32,
    seed: Annotated[Optional[int], typer.Option(help="Random seed.")] = None,
    sep: SepOption = None,
    decimal: DecimalOption = None,
):
    """Write each row's ELBO and log-likelihood estimate (low = unusual for the model)."""
    synth, df = _load(model, data, sep, decimal, output)
    _write(synth.score(df, samples=samples, seed=seed).reset_index(drop=True), output)


def interpolate(
    data: DataArgument,
    start: Annotated[int, typer.Option("--from", help="Row number (0-based) to start from.")],
    end: Annotated[int, typer.Option("--to", help="Row number (0-based) to end at.")],
    steps: Annotated[int, typer.Option(help="Rows on the path, ends included.")] = 8,
    model: ModelOption = DEFAULT_MODEL,
    output: Annotated[Path, typer.Option("--output", "-o", help="CSV or Parquet file.",
                                         dir_okay=False)] = Path("interpolation.csv"),
    sep: SepOption = None,
    decimal: DecimalOption = None,
):
    """Decode the straight latent path between two rows of DATA."""
    from synthvae.errors import ConfigError

    synth, df = _load(model, data, sep, decimal, output)
    for name, row in (("--from", start), ("--to", end)):
        if not 0 <= row < len(df):
            raise ConfigError(f"{name} must be a row number from 0 to {len(df) - 1}. "
                              f"Got {row} instead.")
    _write(synth.interpolate(df.iloc[[start]], df.iloc[[end]], steps=steps), output)


def drift(
    model: Annotated[Path, typer.Argument(help="Model file.", dir_okay=False)],
    data: DataArgument,
    reference: Annotated[Optional[Path], typer.Option(
        help="Reference rows (default: the profile kept in the model at fit time).")] = None,
    alpha: Annotated[float, typer.Option(help="Family-wise false-alarm rate.")] = 0.01,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full JSON report.")]
    = False,
    sep: SepOption = None,
    decimal: DecimalOption = None,
):
    """Compare DATA with the training data through MODEL; exit 3 on drift, 0 otherwise."""
    from synthvae.io import read_table

    synth, df = _load(model, data, sep, decimal)
    ref = read_table(reference, sep, decimal) if reference is not None else None
    result = synth.drift(df, reference=ref, alpha=alpha)
    if as_json:
        echo(json.dumps(result, indent=2))
    else:
        elbo, latent = result["elbo"], result["latent"]
        verdict = "[bold red]drift[/]" if result["drift"] else "[green]no drift[/]"
        median = "-inf" if elbo["median"] is None else f"{elbo['median']:.2f}"
        out.print(f"{verdict} at alpha {alpha}: {result['rows']:,} rows; ELBO median "
                  f"{median} vs {elbo['reference_median']:.2f} (KS "
                  f"{elbo['ks_statistic']:.3f}, p {elbo['p_value']:.2g}); "
                  f"{latent['drifted_dimensions']} of {latent['dimensions']} latent "
                  f"dimensions drifted (largest mean shift {latent['largest_mean_shift_sd']:.2f}"
                  f" sd)", soft_wrap=True)  # one verdict line, also when piped
    if result["drift"]:
        raise typer.Exit(DRIFT_EXIT_CODE)

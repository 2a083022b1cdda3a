"""The Typer app every command registers on, and what the commands share: the consoles, the
one-line error wrapper, the model option.

``cli.main`` (fit, sample, schema, info), ``cli.report`` and ``cli.toolkit`` import from here
and never from each other's modules, so the command modules form no import circle.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from synthvae.errors import SynthvaeError

DEFAULT_MODEL = Path("synthvae-model.safetensors")

app = typer.Typer(name="synthvae", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_show_locals=False,
                  help="Fit a VAE synthesizer to a table and sample synthetic rows from it.")
out = Console()
err = Console(stderr=True)

ModelOption = Annotated[Path, typer.Option("--model", "-m", help="Model file to read.",
                                           dir_okay=False)]


def user_errors(command):
    """Run ``command``; turn synthvae errors into a one-line message and exit code 1."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("default")
                warnings.showwarning = _show_warning
                return command(*args, **kwargs)
        except SynthvaeError as exc:
            err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err.print("interrupted; nothing was written.")
            raise typer.Exit(130) from None

    return wrapper


def _show_warning(message, category, *args, **kwargs):
    err.print(f"[yellow]warning:[/] {message}", markup=True, highlight=False, soft_wrap=True)

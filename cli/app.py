"""The Typer app every command registers on, and what the commands share: the consoles, the
one-line error wrapper, the model option.

Errors are one line, ``error: <message>``, and exit code 1: a SynthvaeError raised by a
command (``user_errors``), a bad argument Typer finds before the command runs (``--seed abc``,
``-n 1.5``, an unknown option: ``OneLineUsageErrors``), a failed write to stdout (``STDOUT``).

``cli.main`` (fit, sample, schema, info), ``cli.report`` and ``cli.toolkit`` import from here
and never from each other's modules, so the command modules form no import circle.
"""

from __future__ import annotations

import errno
import functools
import sys
import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from synthvae.errors import DataError, SynthvaeError

try:  # Typer 0.20 and later carry their own copy of click
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover - older Typer, on click
    from click.exceptions import UsageError

DEFAULT_MODEL = Path("synthvae-model.safetensors")


class OneLineUsageErrors(TyperGroup):
    """A bad command line (``--seed abc``, ``-n 1.5``, ``-m a-folder``, a missing or unknown
    option or command) as one ``error:`` line and exit code 1, like any other user error,
    instead of click's usage box and exit code 2. ``synthvae`` alone still prints the help."""

    def parse_args(self, ctx, args):
        try:
            return super().parse_args(ctx, args)  # synthvae's own options (--bogus)
        except UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # synthvae alone: the help
                raise
            self._one_line(exc, ctx)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)  # parses the command's arguments, then runs it
        except UsageError as exc:
            self._one_line(exc, ctx)

    @staticmethod
    def _one_line(exc, ctx):
        message = exc.format_message().strip()
        if not message.endswith((".", "!", "?")):
            message += "."
        path = exc.ctx.command_path if exc.ctx is not None else ctx.command_path
        print_error(f"{message} See '{path} --help'.")
        raise typer.Exit(1) from None


class _Stdout:
    """The current ``sys.stdout`` (the test runner swaps it), where a failed write (a full
    disk, ``> /dev/full``) is a DataError; a closed pipe (``| head``) stays the OSError that
    Typer ends quietly."""

    def write(self, text: str) -> int:
        return self._checked(sys.stdout.write, text)

    def flush(self) -> None:
        self._checked(sys.stdout.flush)

    def __getattr__(self, name):
        return getattr(sys.stdout, name)

    @staticmethod
    def _checked(call, *args):
        try:
            return call(*args)
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise
            reason = exc.strerror.lower() if exc.strerror else type(exc).__name__
            raise DataError(f"Cannot write to standard output: {reason}.") from None


STDOUT = _Stdout()

app = typer.Typer(name="synthvae", cls=OneLineUsageErrors, no_args_is_help=True,
                  add_completion=False, pretty_exceptions_show_locals=False,
                  help="Fit a VAE synthesizer to a table and sample synthetic rows from it.")
out = Console(file=STDOUT)
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
            print_error(str(exc))
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err.print("interrupted; nothing was written.")
            raise typer.Exit(130) from None

    return wrapper


def print_error(message: str) -> None:
    """``error: <message>`` on stderr, on one line; brackets in the message stay text."""
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False,
              soft_wrap=True)


def say(text: str, console: Console | None = None) -> None:
    """``text`` on one line of stdout (or ``console``) as written: a path or column name is
    not read as markup (``out[v2].csv`` printed as ``out.csv``, a ``[/]`` raised MarkupError
    after the work was done) and is not wrapped at 80 columns when the output is piped, so a
    script reading the line gets the whole path."""
    (console or out).print(text, markup=False, highlight=False, soft_wrap=True)


def echo(text: str) -> None:
    """``text`` on stdout (JSON for a pipe): ``typer.echo`` through ``STDOUT``."""
    typer.echo(text, file=STDOUT)


def _show_warning(message, category, *args, **kwargs):
    err.print(f"[yellow]warning:[/] {escape(str(message))}", markup=True, highlight=False,
              soft_wrap=True)

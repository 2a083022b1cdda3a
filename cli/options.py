"""Options shared by several commands (no import of the commands here)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

SepOption = Annotated[Optional[str], typer.Option(
    "--sep", help="CSV field separator: ',', ';', 'tab' or '|' (default: sniffed from the "
                  "file).")]
DecimalOption = Annotated[Optional[str], typer.Option(
    "--decimal", help="CSV decimal mark: '.' or ',' (default: ',' when the file is not "
                      "comma-separated and a numeric column is written 1,5).")]

ThreadsOption = Annotated[Optional[int], typer.Option(
    "--threads", help="CPU threads for torch (default: the idle CPUs this process may use; "
                      "see docs/training.md#cpu-threads-n_threads).")]


def checked_threads(threads: int | None) -> int | None:
    """``--threads`` as given, or a ConfigError naming the option."""
    from synthvae.errors import ConfigError

    if threads is not None and threads < 1:
        raise ConfigError(f"--threads must be a positive number of CPU threads; got {threads}.")
    return threads

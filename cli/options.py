"""Options shared by every command that reads a table (no import of the commands here)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

SepOption = Annotated[Optional[str], typer.Option(
    "--sep", help="CSV field separator: ',', ';', 'tab' or '|' (default: sniffed from the "
                  "file).")]
DecimalOption = Annotated[Optional[str], typer.Option(
    "--decimal", help="CSV decimal mark: '.' or ',' (default: ',' when the file is not "
                      "comma-separated and a numeric column is written 1,5).")]

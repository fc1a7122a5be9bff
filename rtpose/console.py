"""The terminal side of every ``rtpose`` command: one stdout and one stderr console, one way to fail."""

from __future__ import annotations

import os
from typing import NoReturn

import typer
from rich.console import Console, ConsoleDimensions
from rich.markup import escape

from rtpose.errors import RtposeError

WIDTH_OFF_TERMINAL = 160  # piped or captured output: wide enough for the tables, not rich's 80


class _Console(Console):
    """A console that honours ``COLUMNS`` when it renders, not only when it was created at import."""

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        columns = os.environ.get("COLUMNS", "")
        return ConsoleDimensions(int(columns), size.height) if columns.isdigit() else size


def _console(stderr: bool) -> Console:
    return _Console(stderr=stderr, width=None if Console(stderr=stderr).is_terminal else WIDTH_OFF_TERMINAL)


out = _console(stderr=False)
err = _console(stderr=True)


def fail(exc: RtposeError, code: int = 2) -> NoReturn:
    """Print a user-facing error (one ``error:`` line per line of it) and exit with ``code``."""
    for line in str(exc).splitlines():
        err.print(f"[bold red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)

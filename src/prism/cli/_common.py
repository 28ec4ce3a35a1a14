"""Small helpers shared by CLI commands: JSON output and user-facing errors."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console

__all__ = ["console", "error_console", "fail", "print_json"]

console = Console()
error_console = Console(stderr=True)


def print_json(payload: Any) -> None:
    """Write ``payload`` as indented JSON on stdout (for ``--json`` options)."""
    sys.stdout.write(json.dumps(payload, indent=2, sort_keys=False) + "\n")


def fail(message: str, *, code: int = 1) -> NoReturn:
    """Print ``message`` as an error on stderr and exit with ``code`` (no traceback)."""
    error_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)

"""Small helpers shared by CLI commands: JSON output, user-facing errors, task lookup."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console

from prism.errors import PrismError
from prism.procedure.io import load_procedure
from prism.procedure.model import Procedure
from prism.settings import get_settings

__all__ = ["console", "error_console", "fail", "print_json", "task_procedure"]

console = Console()
error_console = Console(stderr=True)


def print_json(payload: Any) -> None:
    """Write ``payload`` as indented JSON on stdout (for ``--json`` options)."""
    sys.stdout.write(json.dumps(payload, indent=2, sort_keys=False) + "\n")


def fail(message: str, *, code: int = 1) -> NoReturn:
    """Print ``message`` as an error on stderr and exit with ``code`` (no traceback)."""
    error_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def task_procedure(task: str, tasks_dir: Path | None = None) -> Procedure:
    """The procedure of ``task`` (a folder of ``tasks_dir``, default the settings'
    ``tasks_dir``); an unknown task or a broken file ends the command with an error that
    lists the tasks there."""
    folder = tasks_dir if tasks_dir is not None else get_settings().tasks_dir
    path = folder / task / "procedure.yaml"
    if not path.is_file():
        known = sorted(p.parent.name for p in folder.glob("*/procedure.yaml"))
        fail(
            f"unknown task {task!r}: no {path}; available tasks in {folder}: "
            + (", ".join(known) if known else "none")
        )
    try:
        return load_procedure(path)
    except PrismError as error:
        fail(str(error))

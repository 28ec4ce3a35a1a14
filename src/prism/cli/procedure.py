"""``prism procedure ...``: the sub-app; each command lives in its own module."""

from __future__ import annotations

import typer

procedure_app = typer.Typer(
    help="Validate, learn, import, read from text and draw procedures (transition graphs).",
    no_args_is_help=True,
)

__all__ = ["procedure_app"]

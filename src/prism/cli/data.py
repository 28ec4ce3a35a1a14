"""``prism data ...``: the sub-app; each command lives in its own module."""

from __future__ import annotations

import typer

data_app = typer.Typer(
    help="Generate and inspect session recordings (IMU, audio, step labels).",
    no_args_is_help=True,
)

__all__ = ["data_app"]

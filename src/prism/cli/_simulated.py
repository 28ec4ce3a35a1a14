"""Options of the commands that replay CaptainCook4D-like data through a simulated classifier."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from prism.cli._common import fail

__all__ = [
    "CaptainCookDir",
    "JobsOption",
    "JsonFlag",
    "RawAccuracyOption",
    "RecipeOption",
    "SeedOption",
    "check_arguments",
    "worker_count",
]

CaptainCookDir = Annotated[
    Path, typer.Option("--data-dir", help="Directory laid out like CaptainCook4D.")
]
RawAccuracyOption = Annotated[
    float, typer.Option(help="Raw frame accuracy of the simulated classifier.")
]
SeedOption = Annotated[int, typer.Option(help="Base seed of the simulated streams.")]
RecipeOption = Annotated[list[str] | None, typer.Option(help="Only this recipe (repeatable).")]
JobsOption = Annotated[int, typer.Option(help="Worker processes (default: all cores).")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]


def check_arguments(data_dir: Path, raw_accuracy: float) -> None:
    """Exit with a one-line error unless ``data_dir`` is a directory and 0 < accuracy < 1."""
    if not 0.0 < raw_accuracy < 1.0:
        fail(f"--raw-accuracy must be in (0, 1), got {raw_accuracy}")
    if not data_dir.is_dir():
        fail(f"--data-dir {data_dir} is not a directory")


def worker_count(jobs: int) -> int:
    """``jobs`` if positive, else the number of CPU cores."""
    return jobs if jobs > 0 else max(1, os.cpu_count() or 1)

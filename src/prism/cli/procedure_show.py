"""``prism procedure show FILE --out graph.png``: draw a procedure's transition graph."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from prism.cli._common import fail
from prism.cli.procedure import procedure_app
from prism.errors import ProcedureError
from prism.procedure.io import load_procedure
from prism.procedure.render import RENDER_SUFFIXES, render_procedure

__all__ = ["show"]


@procedure_app.command("show")
def show(
    file: Annotated[Path, typer.Argument(help="Procedure YAML file.", show_default=False)],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Picture to write; the suffix picks the format (.png or .svg).",
            show_default=False,
        ),
    ],
    min_probability: Annotated[
        float,
        typer.Option(
            "--min-probability",
            help="Hide transitions less likely than this (keeps dense learned graphs readable).",
        ),
    ] = 0.02,
    precedence: Annotated[
        bool,
        typer.Option(
            "--precedence/--no-precedence", help="Draw precedence constraints as dashed arrows."
        ),
    ] = True,
) -> None:
    """Draw the transition graph of a procedure as a PNG or SVG picture.

    Prints the path of the file written.
    """
    if out.suffix.lower() not in RENDER_SUFFIXES:
        fail(
            f"--out {out}: the file suffix must be one of {', '.join(RENDER_SUFFIXES)}, "
            f"got {out.suffix or 'no suffix'!r}"
        )
    if not 0.0 <= min_probability <= 1.0:
        fail(f"--min-probability must be in [0, 1], got {min_probability:g}")
    try:
        procedure = load_procedure(file)
        written = render_procedure(
            procedure, out, min_probability=min_probability, precedence=precedence
        )
    except ProcedureError as error:
        fail(str(error))
    except OSError as error:
        fail(f"cannot write {out}: {error.strerror or error}")
    typer.echo(str(written))

"""``prism procedure validate FILE...``: check procedure files, reporting every problem by line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from prism.cli._common import print_json
from prism.cli.procedure import procedure_app
from prism.procedure.io import FileIssue, ProcedureFileError, load_procedure
from prism.procedure.model import Procedure

__all__ = ["validate"]


@dataclass(frozen=True)
class _Checked:
    file: str
    procedure: Procedure | None
    issues: tuple[FileIssue, ...]

    def as_json(self) -> dict[str, Any]:
        issues = [
            {"line": issue.line, "column": issue.column, "message": issue.message}
            for issue in self.issues
        ]
        return {"file": self.file, "ok": not self.issues, "issues": issues}

    def as_text(self) -> str:
        if self.procedure is None:
            return "\n".join(str(issue) for issue in self.issues)
        n_steps = self.procedure.n_steps
        n_transitions = sum(len(row) for row in self.procedure.transitions.values())
        return (
            f"ok  {self.file} ({n_steps} {_plural(n_steps, 'step')},"
            f" {n_transitions} {_plural(n_transitions, 'transition')})"
        )


def _plural(count: int, word: str) -> str:
    return word if count == 1 else word + "s"


def _check(path: Path) -> _Checked:
    try:
        procedure = load_procedure(path)
    except ProcedureFileError as error:
        return _Checked(str(path), None, error.issues)
    return _Checked(str(path), procedure, ())


@procedure_app.command("validate")
def validate(
    files: Annotated[
        list[Path],
        typer.Argument(help="Procedure YAML files to check.", show_default=False),
    ],
    json_output: Annotated[
        bool,
        typer.Option(
            "--json", help="Print a JSON list of {file, ok, issues: [{line, column, message}]}."
        ),
    ] = False,
) -> None:
    """Check procedure files and report every problem as path:line:col: message.

    Prints "ok  FILE (N steps, M transitions)" for each valid file.

    Exits with code 1 if any file has a problem, 0 otherwise.
    """
    results = [_check(path) for path in files]
    if json_output:
        print_json([result.as_json() for result in results])
    else:
        for result in results:
            typer.echo(result.as_text())
    if any(result.issues for result in results):
        raise typer.Exit(1)

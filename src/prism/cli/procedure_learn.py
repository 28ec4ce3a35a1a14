"""``prism procedure learn`` and ``prism procedure import {captaincook4d,openpack}``.

``learn`` builds a procedure from annotation CSV files
(:mod:`prism.data.annotation_files`) or labelled recording folders; ``import`` learns
procedures from a public data set laid out like CaptainCook4D or OpenPack and writes
``<out-dir>/<id>/procedure.yaml``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress
from rich.table import Table

from prism.cli._common import console, error_console, fail, print_json
from prism.cli.procedure import procedure_app
from prism.data.annotation_files import read_annotation_csv
from prism.data.annotations import AnnotatedSession
from prism.data.captaincook4d import learn_from_captaincook, read_captaincook4d
from prism.data.openpack import OPENPACK_TASK, operation_step_id, read_openpack_operations
from prism.errors import PrismError
from prism.procedure.io import load_procedure, save_procedure
from prism.procedure.learn import learn_procedure
from prism.procedure.model import DurationStats, Procedure, Step

__all__ = ["import_app", "import_captaincook4d", "import_openpack", "learn"]

import_app = typer.Typer(
    help="Learn procedures from a public data set and write them as procedure files.",
    no_args_is_help=True,
)
procedure_app.add_typer(import_app, name="import")

_SMOOTHING_HELP = "Dirichlet pseudo-count spread over the plausible transitions of each step."
_JSON_HELP = "Print a JSON summary (files written) instead of tables."


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn the project's errors and file-system errors into clean CLI failures."""
    try:
        yield
    except PrismError as error:
        fail(str(error))
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        fail(f"{where}{error.strerror or error}")


def _write(procedure: Procedure, path: Path) -> Path:
    """Save ``procedure`` to ``path`` and read it back, so the file is known to be valid."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_procedure(procedure, path)
    load_procedure(path)
    return path


def _labels_file(path: Path) -> Path:
    """The annotation CSV of ``path``: the file itself, or a recording folder's
    ``labels.csv`` (the recording format of :mod:`prism.data.recording`)."""
    if not path.is_dir():
        return path
    labels = path / "labels.csv"
    if not labels.is_file():
        fail(f"{path} is a folder without labels.csv: not a labelled recording")
    return labels


def _summary(procedure: Procedure, path: Path, n_sessions: int) -> dict[str, Any]:
    return {
        "id": procedure.id,
        "name": procedure.name,
        "steps": procedure.n_steps,
        "sessions": n_sessions,
        "path": str(path),
    }


def _print_table(title: str, rows: Sequence[dict[str, Any]]) -> None:
    table = Table(title=title)
    for column in ("procedure", "steps", "sessions", "file"):
        numeric = column in ("steps", "sessions")
        table.add_column(column, justify="right" if numeric else "left", overflow="fold")
    for row in rows:
        table.add_row(row["id"], str(row["steps"]), str(row["sessions"]), row["path"])
    console.print(table)


@procedure_app.command("learn")
def learn(
    annotations: Annotated[
        list[Path],
        typer.Argument(
            help="Annotation CSV files (header session,step,start,end), or recording "
            "folders (their labels.csv: recorded and labelled sessions).",
            show_default=False,
        ),
    ],
    procedure_id: Annotated[
        str, typer.Option("--id", help="Id of the learned procedure.", show_default=False)
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Procedure file to write.", show_default=False)
    ],
    name: Annotated[
        str | None,
        typer.Option(help="Human-readable name (default: from --steps, or from --id)."),
    ] = None,
    steps: Annotated[
        Path | None,
        typer.Option(
            "--steps",
            help="Existing procedure file giving step names, descriptions, notes and precedence.",
        ),
    ] = None,
    smoothing: Annotated[float, typer.Option(help=_SMOOTHING_HELP)] = 0.5,
    as_json: Annotated[bool, typer.Option("--json", help=_JSON_HELP)] = False,
) -> None:
    """Learn a procedure (transitions, durations, gaps) from annotated sessions."""
    with _user_errors():
        sessions: list[AnnotatedSession] = []
        origin: dict[str, Path] = {}
        for path in annotations:
            for session in read_annotation_csv(_labels_file(path), task=procedure_id):
                if session.session_id in origin:
                    fail(
                        f"{path}: session {session.session_id!r} is also in "
                        f"{origin[session.session_id]}; session ids must be unique"
                    )
                origin[session.session_id] = path
                sessions.append(session)
        base = load_procedure(steps) if steps is not None else None
        procedure = learn_procedure(
            sessions,
            procedure_id=procedure_id,
            name=name or (base.name if base else procedure_id.replace("_", " ").capitalize()),
            steps=base.steps if base else None,
            precedence=base.precedence if base else (),
            smoothing=smoothing,
            description=base.description if base else "",
            source=(
                f"learned from {len(sessions)} annotated sessions "
                f"({', '.join(p.name for p in annotations)}), smoothing {smoothing}"
            ),
        )
        written = _write(procedure, out)
    summary = _summary(procedure, written, len(sessions))
    if as_json:
        print_json({"written": [str(written)], "procedures": [summary]})
    else:
        _print_table(f"Learned {procedure.id}", [summary])


@import_app.command("captaincook4d")
def import_captaincook4d(
    data_dir: Annotated[
        Path,
        typer.Argument(
            help="CaptainCook4D directory (complete_step_annotations.json, task_graphs/).",
            show_default=False,
        ),
    ],
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out-dir", help="Write <out-dir>/<procedure id>/procedure.yaml.", show_default=False
        ),
    ],
    recipe: Annotated[
        list[str] | None,
        typer.Option(help="Recipe to import (task-graph name, e.g. scrambledeggs); repeatable."),
    ] = None,
    smoothing: Annotated[float, typer.Option(help=_SMOOTHING_HELP)] = 0.5,
    as_json: Annotated[bool, typer.Option("--json", help=_JSON_HELP)] = False,
) -> None:
    """Learn one procedure per CaptainCook4D recipe (task graph + annotated recordings)."""
    rows: list[dict[str, Any]] = []
    with _user_errors():
        data = read_captaincook4d(data_dir, recipes=recipe or None)
        with Progress(console=error_console, transient=True, disable=as_json) as progress:
            task = progress.add_task("Learning recipes", total=len(data.recipes))
            for slug, item in data.recipes.items():
                progress.update(task, description=f"Learning {slug}")
                if not item.sessions:
                    fail(f"{data_dir}: recipe {slug!r} has no annotated recordings to learn from")
                procedure = learn_from_captaincook(item, smoothing=smoothing)
                path = _write(procedure, out_dir / procedure.id / "procedure.yaml")
                rows.append(_summary(procedure, path, len(item.sessions)) | {"recipe": slug})
                progress.advance(task)
    if as_json:
        print_json(
            {
                "written": [row["path"] for row in rows],
                "procedures": rows,
                "skipped_recordings": data.unmatched_recordings,
                "warnings": list(data.warnings),
            }
        )
        return
    _print_table(f"CaptainCook4D: {len(rows)} procedures", rows)
    if data.warnings:
        error_console.print(f"[yellow]{len(data.warnings)} data notes:[/]", highlight=False)
        for note in data.warnings:
            error_console.print(f"  {note}", highlight=False, soft_wrap=True)


@import_app.command("openpack")
def import_openpack(
    root: Annotated[
        Path,
        typer.Argument(
            help="OpenPack directory (<user>/annotation/openpack-operations/<session>.csv).",
            show_default=False,
        ),
    ],
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out-dir", help="Write <out-dir>/openpack_packing/procedure.yaml.", show_default=False
        ),
    ],
    user: Annotated[str | None, typer.Option(help="Only this user (e.g. U0209).")] = None,
    session: Annotated[str | None, typer.Option(help="Only this session (e.g. S0500).")] = None,
    smoothing: Annotated[float, typer.Option(help=_SMOOTHING_HELP)] = 0.5,
    as_json: Annotated[bool, typer.Option("--json", help=_JSON_HELP)] = False,
) -> None:
    """Learn the OpenPack packing procedure (one run per box) from operation annotations."""
    with _user_errors():
        data = read_openpack_operations(root, user=user, session=session)
        placeholder = DurationStats(mean=1.0, std=0.0)
        steps = [
            Step(
                operation_step_id(name),
                name,
                f"OpenPack packing operation {operation_id} ({name}).",
                placeholder,
            )
            for operation_id, name in data.operations
        ]
        recordings = sorted({s.session_id.rsplit("-box", 1)[0] for s in data.sessions})
        procedure = learn_procedure(
            data.sessions,
            procedure_id=OPENPACK_TASK,
            name="OpenPack packing",
            steps=steps,
            smoothing=smoothing,
            description=(
                "Packing one box for shipping (OpenPack data set), in ten operations: picking, "
                "relocating the item label, assembling the box, inserting the items, closing "
                "the box, attaching the box label, scanning the label, attaching the shipping "
                "label, putting the box on the back table and filling out the order."
            ),
            source=(
                f"learned from {len(data.sessions)} OpenPack boxes "
                f"({', '.join(recordings)}; operation annotations), smoothing {smoothing}"
            ),
        )
        path = _write(procedure, out_dir / OPENPACK_TASK / "procedure.yaml")
    summary = _summary(procedure, path, len(data.sessions))
    if as_json:
        print_json({"written": [str(path)], "procedures": [summary]})
    else:
        _print_table("OpenPack", [summary])

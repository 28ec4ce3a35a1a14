"""``prism procedure from-text FILE --id ID --out PATH``: a procedure from a plain-text recipe.

The reading is :mod:`prism.procedure.from_text` (deterministic). With ``--llm`` an
OpenAI-compatible LLM (the ``PRISM_LLM_*`` settings, as the assistant's) proposes names,
notes and precedence (:mod:`prism.procedure.text_proposal`); the command prints a
unified diff of its procedure against the deterministic one and writes it if it passes
the checks, else says why and writes the deterministic one.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from prism.cli._common import console, error_console, fail, print_json
from prism.cli.procedure import procedure_app
from prism.errors import PrismError
from prism.procedure.from_text import TextProcedure, dump_text_procedure, procedure_from_file
from prism.procedure.text_proposal import (
    apply_proposal,
    proposal_max_tokens,
    proposal_messages,
)
from prism.settings import LLMSettings, get_settings

__all__ = ["from_text"]

BAD_INPUT = 2
"""Exit code for a bad input file or option."""
LLM_TIMEOUT_S = 60.0
"""Default wait for the LLM's proposal (a whole procedure takes longer than an answer);
``--llm-timeout`` or ``PRISM_LLM_TIMEOUT_S`` set another."""


def _ask_llm(settings: LLMSettings, reading: TextProcedure) -> str:
    """The LLM's reply to the proposal request (raises whatever the client raises)."""
    response = settings.client().chat.completions.create(
        model=settings.model,
        messages=proposal_messages(reading),
        max_tokens=max(settings.max_tokens, proposal_max_tokens(reading)),
        temperature=settings.temperature,
    )
    return str(response.choices[0].message.content or "")


def _llm_settings(base_url: str | None, model: str | None, timeout: float | None) -> LLMSettings:
    settings = get_settings().llm
    update: dict[str, Any] = {}
    if base_url is not None:
        update["base_url"] = base_url
    if model is not None:
        update["model"] = model
    if timeout is not None:
        update["timeout_s"] = timeout
    elif "timeout_s" not in settings.model_fields_set:
        update["timeout_s"] = LLM_TIMEOUT_S
    settings = settings.model_copy(update=update)
    if not settings.enabled:
        fail(
            "--llm needs an OpenAI-compatible endpoint: set PRISM_LLM_BASE_URL (or"
            " PRISM_LLM_API_KEY), or pass --llm-base-url",
            code=BAD_INPUT,
        )
    return settings


def _with_llm(reading: TextProcedure, settings: LLMSettings) -> tuple[TextProcedure, str | None]:
    """The LLM's procedure, or ``reading`` and why the proposal was not used."""
    try:
        reply = _ask_llm(settings, reading)
    except Exception as error:  # any client, network or server error: keep the reading
        return reading, f"the LLM request failed ({type(error).__name__}: {error})"
    try:
        return apply_proposal(reading, reply, model=settings.model), None
    except PrismError as error:
        return reading, str(error)


def _table(reading: TextProcedure) -> Table:
    table = Table(title=f"{reading.procedure.name} ({reading.procedure.n_steps} steps)")
    for column in ("line", "id", "name", "duration", "notes"):
        table.add_column(column, justify="right" if column == "line" else "left")
    for step, text_step in zip(reading.procedure.steps, reading.steps, strict=True):
        duration = f"{step.duration.mean:g} ± {step.duration.std:g} s"
        duration += "" if text_step.duration_from_text else f" ({text_step.kind})"
        notes = [
            flag
            for flag, on in (
                ("optional", text_step.optional),
                ("open-ended", text_step.open_ended),
                ("time-critical", step.notes.time_critical),
                ("safety", text_step.safety),
            )
            if on
        ]
        table.add_row(str(text_step.line), step.id, step.name, duration, ", ".join(notes))
    return table


def _as_json(reading: TextProcedure) -> list[dict[str, Any]]:
    return [
        {
            "id": step.id,
            "name": step.name,
            "line": text_step.line,
            "description": step.description,
            "duration_s": {"mean": step.duration.mean, "std": step.duration.std},
            "duration_from_text": text_step.duration_from_text,
            "kind": str(text_step.kind),
            "optional": text_step.optional,
            "safety": text_step.safety,
            "open_ended": text_step.open_ended,
            "time_critical": step.notes.time_critical,
            "must_not_skip": step.notes.must_not_skip,
            "reminder": step.notes.reminder,
        }
        for step, text_step in zip(reading.procedure.steps, reading.steps, strict=True)
    ]


@procedure_app.command("from-text")
def from_text(
    file: Annotated[
        Path,
        typer.Argument(help="The procedure or recipe as plain text (UTF-8).", show_default=False),
    ],
    procedure_id: Annotated[
        str, typer.Option("--id", help="Id of the procedure, e.g. banana_pancakes.")
    ],
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Procedure file to write, e.g. tasks/ID/procedure.yaml."),
    ],
    name: Annotated[
        str | None, typer.Option(help="Name of the procedure (default: the text's title).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite --out if it exists.")] = False,
    llm: Annotated[
        bool,
        typer.Option(
            "--llm",
            help="Let the configured LLM (PRISM_LLM_*) propose names, notes and precedence; "
            "print its diff and use it if it passes the checks.",
        ),
    ] = False,
    llm_base_url: Annotated[
        str | None,
        typer.Option(help="OpenAI-compatible endpoint (default: PRISM_LLM_BASE_URL)."),
    ] = None,
    llm_model: Annotated[
        str | None, typer.Option(help="Model name at the endpoint (default: PRISM_LLM_MODEL).")
    ] = None,
    llm_timeout: Annotated[
        float | None,
        typer.Option(
            min=0.1,
            help="Seconds to wait for the LLM (default: PRISM_LLM_TIMEOUT_S if set, else"
            f" {LLM_TIMEOUT_S:g}).",
            show_default=False,
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the steps as read, as JSON.")
    ] = False,
) -> None:
    """Turn a procedure written as plain text into a procedure file.

    The text may number its steps ("1.", "1)", "Step 1:"), bullet them ("-", "*", "•") or
    give one per paragraph, with an optional title and lists that are not steps
    ("Ingredients:", then "Method:"). Each step gets a short name, its text as the
    description, a duration read from its times (else a prior by kind of step), and
    notes from its safety and timing phrases; optional steps can be skipped.

    Exits with code 2, naming the file and the problem, when the file is missing, empty,
    not UTF-8 text or has no recognisable steps, or when --out exists without --force.
    """
    if out.is_dir():
        fail(f"--out {out} is a directory; give the file to write, e.g. {out / 'procedure.yaml'}",
             code=BAD_INPUT)  # fmt: skip
    try:
        reading = procedure_from_file(file, procedure_id=procedure_id, name=name)
    except PrismError as error:
        fail(str(error), code=BAD_INPUT)
    if out.exists() and not force:
        fail(f"--out {out} exists; pass --force to overwrite it", code=BAD_INPUT)
    written, problem, diff = reading, None, ""
    if llm:
        written, problem = _with_llm(reading, _llm_settings(llm_base_url, llm_model, llm_timeout))
        if problem is None:
            diff = "".join(
                difflib.unified_diff(
                    dump_text_procedure(reading).splitlines(keepends=True),
                    dump_text_procedure(written).splitlines(keepends=True),
                    fromfile=f"{out} (from the text)",
                    tofile=f"{out} (LLM's proposal)",
                )
            )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(dump_text_procedure(written), encoding="utf-8")
    except OSError as error:
        fail(f"cannot write {out}: {error.strerror or error}", code=BAD_INPUT)
    if json_output:
        llm_report = {"used": problem is None, "problem": problem, "diff": diff} if llm else None
        steps = _as_json(written)
        print_json({"file": str(file), "out": str(out), "steps": steps, "llm": llm_report})
        return
    if problem is not None:
        error_console.print(
            f"[bold yellow]warning:[/] {problem}; writing the procedure read from the text",
            highlight=False,
            soft_wrap=True,
        )
    elif llm:
        typer.echo(diff or "(the LLM proposed no change)", nl=not diff)
    console.print(_table(written))
    typer.echo(f"wrote {out}")

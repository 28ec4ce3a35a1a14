"""A procedure from a plain-text procedure or recipe, as a researcher writes it.

:func:`procedure_from_text` reads the text's layout (title, lists that are not steps,
the steps; :mod:`prism.procedure.text_layout`) and turns each written step into a
:class:`~prism.procedure.model.Step`, deterministically:

- **name and id**: the leading verb phrase of the step's first sentence
  (:mod:`prism.procedure.text_names`); the **description** is the step's whole text;
- **duration**: the times the step gives, else a prior by kind of work
  (:mod:`prism.procedure.text_durations`);
- **optional steps** ("if you like", "If the wound bleeds, ...") can be skipped; every
  other step is required: ``must_not_skip`` (skipping it is an error worth a reminder,
  as for the CaptainCook4D recipes, whose annotations count a skipped step as an error);
- **notes** (:mod:`prism.procedure.text_cues`): ``time_critical`` when a sentence says
  timing matters ("immediately", "before it sets"); a sentence with a safety cue ("wash
  your hands", "raw chicken", "unplug") or the timing sentence is the step's
  ``reminder``, what the user is told when it is about to be missed or overrun. A
  safety cue in an optional step is kept in its description only: the text allows
  leaving the step out;
- **transitions**: the written order, ``start`` to the first step and the last to
  ``end``; every step before an optional one may also go straight to the step after
  it, each optional step being taken with probability :data:`OPTIONAL_TAKEN`;
- **precedence**: the required steps in the written order, one pair per neighbouring
  two (optional steps are in no pair). Without them the reminders and the assistant
  would read "comes before" from the transitions, where an optional step comes before
  every later step, so it could not be skipped;
- the procedure's **description** holds the lists that are not steps (ingredients,
  equipment) and the introduction, so the assistant can answer from them.

What a step's text says that the file format has no field for is kept in
:class:`TextStep`: the optional cue, the safety sentence, and the cue of an
**open-ended** step ("until golden"), whose duration is widened and left without
``max``; :func:`dump_text_procedure` lists them in the file's header comment.

>>> reading = procedure_from_text(
...     "Tea\\n\\n1. Boil the water.\\n2. Add sugar if you like.\\n3. Steep for 3 minutes.",
...     procedure_id="tea")
>>> reading.procedure.step_ids
('boil_water', 'add_sugar', 'steep')
>>> dict(reading.procedure.transitions["boil_water"])
{'add_sugar': 0.5, 'steep': 0.5}
>>> reading.procedure.precedence
(('boil_water', 'steep'),)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from prism.errors import ProcedureError, ProcedureTextError
from prism.procedure.checks import END, START, STEP_ID_PATTERN
from prism.procedure.model import Procedure, Step, StepNotes
from prism.procedure.text_cues import (
    open_ended_cue,
    optional_cue,
    safety_sentence,
    time_critical_sentence,
)
from prism.procedure.text_durations import read_duration
from prism.procedure.text_layout import ListSection, TextLayout, read_layout
from prism.procedure.text_names import short_name, step_ids, unique_names
from prism.procedure.text_verbs import StepKind
from prism.procedure.writer import dump_procedure

__all__ = [
    "OPTIONAL_TAKEN",
    "TextProcedure",
    "TextStep",
    "chain_precedence",
    "chain_transitions",
    "dump_text_procedure",
    "procedure_from_file",
    "procedure_from_text",
    "read_text_file",
]

OPTIONAL_TAKEN = 0.5
"""Probability that an optional step is done (the rest of the time it is skipped)."""


@dataclass(frozen=True)
class TextStep:
    """How one step was read from the text.

    Parameters
    ----------
    id : str
        The step's id in the procedure.
    line : int
        1-based line of the text where the step starts.
    optional : str or None
        The phrase that makes the step optional ("if you like"), or None.
    safety : str or None
        The sentence with a safety cue ("Wash your hands after handling raw egg."), or
        None.
    open_ended : str or None
        The phrase the step ends on ("until golden"), or None.
    duration_from_text : bool
        The duration comes from times written in the step (else from its kind).
    kind : StepKind
        The kind of work, by its verbs.
    """

    id: str
    line: int
    optional: str | None
    safety: str | None
    open_ended: str | None
    duration_from_text: bool
    kind: StepKind


@dataclass(frozen=True)
class TextProcedure:
    """A procedure read from text, with how each step was read.

    Parameters
    ----------
    procedure : Procedure
        The valid procedure.
    steps : tuple of TextStep
        One per step, in the procedure's order.
    filename : str
        The text's file as named by the caller (``"<text>"`` for a string).
    """

    procedure: Procedure
    steps: tuple[TextStep, ...]
    filename: str


def chain_transitions(
    ids: Sequence[str], optional: Sequence[bool], *, taken: float = OPTIONAL_TAKEN
) -> dict[str, dict[str, float]]:
    """Transitions that follow ``ids`` in order and may skip the optional steps.

    From ``start`` and from each step, the next step is the following one when it is
    required; an optional one is taken with probability ``taken`` and otherwise skipped
    to the one after it (and so on, past several optional steps, to ``end``).

    Parameters
    ----------
    ids : sequence of str
        Step ids in the written order.
    optional : sequence of bool
        Whether each step is optional (same length).
    taken : float
        Probability in (0, 1) that an optional step is done.

    Returns
    -------
    dict
        ``transitions[src][dst]``; every row sums to 1.

    Examples
    --------
    >>> chain_transitions(["a", "b", "c"], [False, True, False])["a"]
    {'b': 0.5, 'c': 0.5}
    >>> chain_transitions(["a", "b"], [False, True])["start"]
    {'a': 1.0}
    """
    transitions: dict[str, dict[str, float]] = {}
    for position, source in enumerate([START, *ids]):
        row: dict[str, float] = {}
        reach = 1.0
        for index in range(position, len(ids) + 1):
            if index == len(ids):
                row[END] = reach
                break
            if optional[index]:
                row[ids[index]] = reach * taken
                reach *= 1.0 - taken
            else:
                row[ids[index]] = reach
                break
        transitions[source] = row
    return transitions


def chain_precedence(ids: Sequence[str], optional: Sequence[bool]) -> tuple[tuple[str, str], ...]:
    """Precedence pairs that keep the required steps of ``ids`` in order: one pair per
    two neighbouring required steps (optional steps are in no pair).

    >>> chain_precedence(["a", "b", "c", "d"], [False, True, False, False])
    (('a', 'c'), ('c', 'd'))
    """
    required = [step for step, skippable in zip(ids, optional, strict=True) if not skippable]
    return tuple(pairwise(required))


def _reminder(*sentences: str | None) -> str | None:
    unique = list(dict.fromkeys(s for s in sentences if s))
    return " ".join(unique) or None


def _list_text(section: ListSection) -> str:
    items = "; ".join(item.rstrip(".;,") for item in section.items)
    return f"{section.heading or 'Needed'}: {items}."


def _description(layout: TextLayout, name: str, n_steps: int) -> str:
    parts = [*layout.notes, *(_list_text(section) for section in layout.lists)]
    parts = [part if re.search(r"[.!?]$", part) else part + "." for part in parts]
    return " ".join(parts) or f"{name}: {n_steps} steps read from a plain-text description."


def _humanized(procedure_id: str) -> str:
    words = re.sub(r"[_.\-]+", " ", procedure_id).strip()
    return words[:1].upper() + words[1:] if words else procedure_id


def _no_steps(filename: str, text: str, layout: TextLayout) -> ProcedureTextError:
    if not text:
        return ProcedureTextError(f"{filename}: is empty; expected a procedure written as text")
    if not text.strip():
        return ProcedureTextError(f"{filename}: holds only whitespace; expected steps")
    found = [f"the title {layout.title!r}"] if layout.title else []
    found += [f"a list {s.heading!r}" if s.heading else "an unlabelled list" for s in layout.lists]
    what = "found " + ", ".join(found) + " but no steps" if found else "no line has words"
    return ProcedureTextError(
        f"{filename}: no recognisable steps ({what}); write the steps as a numbered list"
        " ('1. ...'), bullets ('- ...') or one paragraph each, under a heading such as"
        " 'Method:' when the text also lists ingredients"
    )


def procedure_from_text(
    text: str,
    *,
    procedure_id: str,
    name: str | None = None,
    filename: str = "<text>",
) -> TextProcedure:
    """Read a procedure written as plain text (see the module docstring).

    Parameters
    ----------
    text : str
        The procedure or recipe as written.
    procedure_id : str
        Id of the procedure (letters, digits, ``_``, ``.``, ``-``), e.g. its folder under
        ``tasks/``.
    name : str, optional
        Its name; default the text's title, else ``procedure_id`` in words.
    filename : str
        Names the text in errors and in the procedure's ``source``.

    Returns
    -------
    TextProcedure

    Raises
    ------
    ProcedureTextError
        The text is empty or holds no recognisable steps (the message names
        ``filename``).
    ProcedureError
        ``procedure_id`` is not a valid id or ``name`` is blank.
    """
    if not STEP_ID_PATTERN.match(procedure_id):
        raise ProcedureError(
            f"procedure id {procedure_id!r}: use only letters, digits, '_', '.' and '-'"
        )
    if name is not None and not name.strip():
        raise ProcedureError("the procedure's name must not be blank")
    layout = read_layout(text)
    if not layout.steps:
        raise _no_steps(filename, text, layout)
    written = [step.text for step in layout.steps]
    names = unique_names([short_name(step) for step in written])
    ids = step_ids(names)
    steps: list[Step] = []
    readings: list[TextStep] = []
    for step_id, step_name, layout_step in zip(ids, names, layout.steps, strict=True):
        description = layout_step.text
        optional = optional_cue(description)
        open_ended = open_ended_cue(description)
        duration = read_duration(description, open_ended=open_ended is not None)
        critical = time_critical_sentence(description)
        safety = None if optional else safety_sentence(description)
        notes = StepNotes(
            time_critical=critical is not None,
            must_not_skip=optional is None,
            reminder=_reminder(critical, safety),
        )
        steps.append(Step(step_id, step_name, description, duration.duration, notes=notes))
        readings.append(
            TextStep(
                step_id,
                layout_step.line,
                optional,
                safety,
                open_ended,
                duration.from_text,
                duration.kind,
            )
        )
    title = name or layout.title or _humanized(procedure_id)
    skippable = [r.optional is not None for r in readings]
    procedure = Procedure(
        id=procedure_id,
        name=title,
        steps=tuple(steps),
        transitions=chain_transitions(ids, skippable),
        precedence=chain_precedence(ids, skippable),
        description=_description(layout, title, len(steps)),
        source=f"read from the text {Path(filename).name} (prism procedure from-text)",
    )
    return TextProcedure(procedure, tuple(readings), filename)


def read_text_file(path: str | Path) -> str:
    """The text of a file that should hold a procedure written as text (UTF-8, a BOM is
    dropped).

    Raises
    ------
    ProcedureTextError
        The file is missing, a directory, unreadable, binary (a NUL byte) or not UTF-8;
        the message names the file and, for bad bytes, the line.
    """
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ProcedureTextError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise ProcedureTextError(f"{name}: is a directory, expected a text file") from None
    except OSError as error:
        raise ProcedureTextError(f"{name}: cannot read the file: {error.strerror}") from None
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise ProcedureTextError(
            f"{name}: looks like a binary file (a NUL byte on line {line}); expected plain"
            " text (UTF-8)"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ProcedureTextError(
            f"{name}: is not UTF-8 text (byte 0x{data[error.start]:02x} on line {line} cannot"
            " be decoded); save it as UTF-8"
        ) from None


def procedure_from_file(
    path: str | Path, *, procedure_id: str, name: str | None = None
) -> TextProcedure:
    """:func:`procedure_from_text` of the file at ``path`` (:func:`read_text_file`)."""
    return procedure_from_text(
        read_text_file(path), procedure_id=procedure_id, name=name, filename=str(path)
    )


def dump_text_procedure(reading: TextProcedure) -> str:
    """The procedure file (:func:`~prism.procedure.writer.dump_procedure`) after a header
    comment that says where it comes from and lists its optional and open-ended steps."""
    lines = [
        f"# {' '.join(reading.procedure.name.split())}: read from"
        f" {Path(reading.filename).name} by"
        " `prism procedure from-text`.",
        "# Names, descriptions and notes come from the text; durations from the times it",
        "# gives, else a prior by kind of step. Steps not marked optional are required",
        "# (must_not_skip) and kept in the written order (precedence). Check it, edit it.",
    ]
    optional = [s for s in reading.steps if s.optional]
    if optional:
        lines.append("# Optional steps (the transitions can go around them):")
        lines += [f"#   {s.id}: {_one_line(s.optional)}" for s in optional if s.optional]
    open_ended = [s for s in reading.steps if s.open_ended]
    if open_ended:
        lines.append("# Open-ended steps (they end on a cue, not a clock: wide duration, no max):")
        lines += [f"#   {s.id}: {_one_line(s.open_ended)}" for s in open_ended if s.open_ended]
    return "\n".join(lines) + "\n" + dump_procedure(reading.procedure)


def _one_line(text: str) -> str:
    return repr(" ".join(text.split())[:80])

"""An LLM's proposal for a procedure read from text: step names, notes and precedence.

The deterministic reading (:func:`prism.procedure.from_text.procedure_from_text`) keeps
the text's steps, order, descriptions, durations and optional steps; an LLM may propose
better short names, which steps are time-critical or must not be skipped (with the
reminder to give) and precedence pairs for orders that must hold. This module is pure:
:func:`proposal_messages` builds the chat request, :func:`apply_proposal` reads the
reply (JSON), checks it and returns the procedure it proposes. The caller talks to the
endpoint (``prism procedure from-text --llm``).

A proposal is used only if it passes every check, else :func:`apply_proposal` raises a
:class:`~prism.errors.ProcedureTextError` saying what is wrong and the caller keeps the
deterministic procedure:

- the reply is one JSON object ``{"steps": [...], "precedence": [...]}`` with no other
  keys; each step ``{"id", "name", "time_critical", "must_not_skip", "reminder"}``;
- it lists exactly the text's steps, by id, in the written order;
- names are not blank, at most :data:`MAX_NAME_LENGTH` characters on one line, unique;
- an optional step is not ``must_not_skip``; a time-critical step has a reminder;
- precedence pairs name two different known steps, in the written order, and the step
  that must come first is not optional; no pair twice. No pairs keep the draft's (the
  written order of the required steps): without any, "comes before" would be read from
  the transitions, where an optional step comes before every later step;
- the procedure they make passes the checks every procedure passes
  (:mod:`prism.procedure.checks`).

New names give new ids (:func:`prism.procedure.text_names.step_ids`).
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from prism.errors import ProcedureError, ProcedureTextError
from prism.procedure.from_text import TextProcedure, chain_transitions
from prism.procedure.model import Procedure, StepNotes
from prism.procedure.text_names import step_ids

__all__ = ["MAX_NAME_LENGTH", "apply_proposal", "proposal_max_tokens", "proposal_messages"]

MAX_NAME_LENGTH = 60
"""Characters in a proposed step name at most (names are shown on a watch)."""

_SYSTEM = (
    "You help a researcher turn a procedure written as plain text into a procedure for a "
    "smartwatch assistant. You get a draft read from the text by rules. Reply with one "
    "JSON object only, no prose."
)
_RULES = """\
Return {"steps": [...], "precedence": [...]} where:
- "steps" lists every step of the draft, same ids, same order, each as
  {"id": ..., "name": ..., "time_critical": true/false, "must_not_skip": true/false,
   "reminder": "..." or null}.
- "name": a short imperative name of 1-4 words without quantities (e.g. "Steam milk").
- "time_critical": timing matters (something burns, sets, cools or overcooks).
- "must_not_skip": skipping the step is an error; the draft marks every step that is not
  optional. Never for a step marked optional.
- "reminder": one short sentence on what matters (a time, a safety point) for a
  time-critical or safety-critical step, else null.
- "precedence": [before_id, after_id] pairs only for orders that must hold (the draft
  keeps the whole written order); "before" comes earlier in the list and is not
  optional. An empty list keeps the draft's pairs."""


class _StepProposal(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    id: str
    name: str
    time_critical: bool = False
    must_not_skip: bool = False
    reminder: str | None = None


class _Proposal(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    steps: list[_StepProposal]
    precedence: list[list[str]] = []


def _draft(reading: TextProcedure) -> dict[str, Any]:
    procedure = reading.procedure
    steps = [
        {
            "id": step.id,
            "name": step.name,
            "text": step.description,
            "optional": text_step.optional is not None,
            "safety": text_step.safety,
            "time_critical": step.notes.time_critical,
            "must_not_skip": step.notes.must_not_skip,
            "reminder": step.notes.reminder,
        }
        for step, text_step in zip(procedure.steps, reading.steps, strict=True)
    ]
    return {"procedure": procedure.name, "steps": steps}


def proposal_messages(reading: TextProcedure) -> list[dict[str, str]]:
    """The chat messages asking an LLM for a proposal: the rules and the draft (JSON)."""
    draft = json.dumps(_draft(reading), indent=1, ensure_ascii=False)
    return [
        {"role": "system", "content": _SYSTEM},
        {"role": "user", "content": f"{_RULES}\n\nDraft:\n{draft}"},
    ]


def proposal_max_tokens(reading: TextProcedure) -> int:
    """Tokens to allow for the reply: about 80 per step and 200 more."""
    return 200 + 80 * reading.procedure.n_steps


def _parse(reply: str, prefix: str) -> _Proposal:
    """The proposal in ``reply``; a reply that is not one raises the error that starts
    with ``prefix``."""
    start, end = reply.find("{"), reply.rfind("}")
    if start < 0 or end < start:
        raise ProcedureTextError(f"{prefix}: the reply holds no JSON object")
    try:
        return _Proposal.model_validate_json(reply[start : end + 1])
    except ValidationError as error:
        problems = [
            f"{'.'.join(str(part) for part in problem['loc']) or 'reply'}: {problem['msg']}"
            for problem in error.errors()[:3]
        ]
        raise ProcedureTextError(f"{prefix}: " + "; ".join(problems)) from None


def _problems(reading: TextProcedure, proposal: _Proposal) -> list[str]:
    ids = list(reading.procedure.step_ids)
    proposed = [step.id for step in proposal.steps]
    if proposed != ids:
        return [f"it lists the steps {proposed} instead of the text's {ids}"]
    optional = {s.id for s in reading.steps if s.optional is not None}
    found: list[str] = []
    seen: set[str] = set()
    for step in proposal.steps:
        name = step.name.strip()
        if not name or len(name) > MAX_NAME_LENGTH or "\n" in name:
            found.append(f"step {step.id!r}: name {step.name!r} is blank, too long or not one line")
        elif name.lower() in seen:
            found.append(f"step {step.id!r}: name {name!r} is used twice")
        seen.add(name.lower())
        if step.must_not_skip and step.id in optional:
            found.append(f"step {step.id!r} is optional in the text but marked must_not_skip")
        if step.time_critical and not (step.reminder or "").strip():
            found.append(f"step {step.id!r} is time-critical but has no reminder")
    pairs: set[tuple[str, str]] = set()
    for pair in proposal.precedence:
        if len(pair) != 2 or pair[0] not in ids or pair[1] not in ids or pair[0] == pair[1]:
            found.append(f"precedence {pair}: expected two different step ids")
        elif ids.index(pair[0]) > ids.index(pair[1]):
            found.append(f"precedence {pair} goes against the written order")
        elif pair[0] in optional:
            found.append(f"precedence {pair}: {pair[0]!r} is optional, it cannot be required first")
        elif (pair[0], pair[1]) in pairs:
            found.append(f"precedence {pair} is given twice")
        else:
            pairs.add((pair[0], pair[1]))
    return found


def apply_proposal(reading: TextProcedure, reply: str, *, model: str = "") -> TextProcedure:
    """The procedure an LLM's ``reply`` proposes for ``reading`` (see the module
    docstring for the checks).

    Parameters
    ----------
    reading : TextProcedure
        The deterministic reading.
    reply : str
        The LLM's reply: a JSON object, perhaps in a Markdown code block.
    model : str
        The model's name, recorded in the procedure's ``source``.

    Returns
    -------
    TextProcedure
        Same steps, descriptions, durations and transitions' shape; the proposed names
        (and ids), notes and precedence.

    Raises
    ------
    ProcedureTextError
        The proposal breaks a rule; the message names the text's file and the problem.
    """
    prefix = f"{reading.filename}: the LLM's proposal is not used"
    proposal = _parse(reply, prefix)
    problems = _problems(reading, proposal)
    if problems:
        raise ProcedureTextError(f"{prefix}: " + "; ".join(problems[:5]))
    draft = reading.procedure
    names = [re.sub(r"\s+", " ", step.name.strip()) for step in proposal.steps]
    new_ids = step_ids(names)
    renamed = dict(zip(draft.step_ids, new_ids, strict=True))
    steps = tuple(
        replace(
            step,
            id=new_id,
            name=name,
            notes=StepNotes(
                time_critical=proposed.time_critical,
                must_not_skip=proposed.must_not_skip,
                reminder=(proposed.reminder or "").strip() or None,
            ),
        )
        for step, proposed, new_id, name in zip(
            draft.steps, proposal.steps, new_ids, names, strict=True
        )
    )
    optional = [s.optional is not None for s in reading.steps]
    by = f" ({model})" if model else ""
    try:
        procedure = Procedure(
            id=draft.id,
            name=draft.name,
            steps=steps,
            transitions=chain_transitions(new_ids, optional),
            description=draft.description,
            precedence=tuple(
                (renamed[a], renamed[b]) for a, b in (proposal.precedence or draft.precedence)
            ),
            gap=draft.gap,
            source=f"{draft.source}; names, notes and precedence proposed by an LLM{by}",
        )
    except ProcedureError as error:
        raise ProcedureTextError(f"{prefix}: {error}") from None
    text_steps = tuple(replace(s, id=renamed[s.id]) for s in reading.steps)
    return TextProcedure(procedure, text_steps, reading.filename)

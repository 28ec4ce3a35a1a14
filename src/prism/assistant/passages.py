"""The procedure's own text, cut into sentences the assistant can quote.

Every step carries a name, a description (how to do it) and perhaps a reminder note (what
matters: a time, a temperature, when to get help); the procedure itself may have a
description (what it is for, when not to do it yourself). :func:`procedure_passages`
cuts all of it into :class:`Passage` objects, one per sentence or ``;``-clause, each
knowing its step and where it comes from, so an answer can quote the one sentence that
holds the detail asked for and name its step.

The sentence splitter is :func:`prism.text.split_sentences` (shared with reading a
procedure written as text, :mod:`prism.procedure.from_text`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from prism.procedure.model import Procedure
from prism.text import split_sentences

__all__ = ["Passage", "PassageSource", "procedure_passages", "split_sentences"]

PassageSource = Literal["name", "description", "reminder", "procedure"]
"""Where a passage comes from: a step's name, description or reminder note, or the
procedure's own description."""


@dataclass(frozen=True)
class Passage:
    """One sentence of the procedure's text.

    Attributes
    ----------
    text : str
        The sentence as written.
    step : str or None
        The step it belongs to (``None``: the procedure's own description).
    source : PassageSource
        Which field it comes from.
    """

    text: str
    step: str | None
    source: PassageSource


def _same_text(a: str, b: str) -> bool:
    return re.sub(r"\W+", " ", a).strip().lower() == re.sub(r"\W+", " ", b).strip().lower()


def procedure_passages(procedure: Procedure) -> tuple[Passage, ...]:
    """Every sentence of ``procedure``'s text, step by step in class order, then the
    procedure's description.

    A step's name is a passage of its own only when its description does not repeat it
    (many recipes use the name as the description); a reminder sentence that repeats a
    description sentence is kept once (as the reminder: it says what matters).
    """
    passages: list[Passage] = []
    for step in procedure.steps:
        description = split_sentences(step.description)
        reminder = split_sentences(step.notes.reminder or "")
        if not any(_same_text(step.name, sentence) for sentence in description):
            passages.append(Passage(step.name, step.id, "name"))
        passages += [
            Passage(sentence, step.id, "description")
            for sentence in description
            if not any(_same_text(sentence, note) for note in reminder)
        ]
        passages += [Passage(sentence, step.id, "reminder") for sentence in reminder]
    passages += [
        Passage(sentence, None, "procedure") for sentence in split_sentences(procedure.description)
    ]
    return tuple(passages)

"""The procedure's own text, cut into sentences the assistant can quote.

Every step carries a name, a description (how to do it) and perhaps a reminder note (what
matters: a time, a temperature, when to get help); the procedure itself may have a
description (what it is for, when not to do it yourself). :func:`procedure_passages`
cuts all of it into :class:`Passage` objects, one per sentence or ``;``-clause, each
knowing its step and where it comes from, so an answer can quote the one sentence that
holds the detail asked for and name its step.

The splitter is a small regular expression rather than a library (NLTK's Punkt needs a
downloaded model; pySBD is another dependency for what is, here, short hand-written
instructions): it cuts after ``.``, ``!``, ``?`` and ``;`` followed by a space, except
after a few abbreviations ("e.g.", "approx.", "6-oz.") and inside numbers ("1.5").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from prism.procedure.model import Procedure

__all__ = ["Passage", "PassageSource", "procedure_passages", "split_sentences"]

PassageSource = Literal["name", "description", "reminder", "procedure"]
"""Where a passage comes from: a step's name, description or reminder note, or the
procedure's own description."""

_ABBREVIATIONS = frozenset(
    [
        "e.g",
        "i.e",
        "etc",
        "approx",
        "vs",
        "min",
        "mins",
        "sec",
        "secs",
        "hr",
        "hrs",
        "oz",
        "lb",
        "lbs",
        "tsp",
        "tbsp",
        "no",
        "fig",
        "dr",
        "mr",
        "mrs",
        "ms",
        "st",
    ]
)
"""Words after which a full stop does not end a sentence (lower case, without the stop)."""

_BOUNDARY = re.compile(r"(?<=[.!?;])[\"')\]]*\s+")


def split_sentences(text: str) -> list[str]:
    """Cut ``text`` into sentences (and ``;``-separated clauses), stripped, in order.

    Parameters
    ----------
    text : str
        Prose: a step description, a reminder note.

    Returns
    -------
    list of str
        Non-empty pieces; joined with spaces they give ``text`` back up to whitespace.

    Examples
    --------
    >>> split_sentences("Stop at about 25-30 s; the stream turns pale. Then wait.")
    ['Stop at about 25-30 s;', 'the stream turns pale.', 'Then wait.']
    >>> split_sentences("Coat a 6-oz. ramekin with spray, e.g. oil.")
    ['Coat a 6-oz. ramekin with spray, e.g. oil.']
    """
    pieces: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        before = text[start : match.start()].rstrip("\"')]")
        last_word = re.search(r"([A-Za-z][A-Za-z.-]*)\.$", before)
        if last_word is not None and _is_abbreviation(last_word.group(1)):
            continue
        pieces.append(text[start : match.start()].strip())
        start = match.end()
    pieces.append(text[start:].strip())
    return [piece for piece in pieces if piece]


def _is_abbreviation(word: str) -> bool:
    """``word`` (without its final stop) is an abbreviation or a single letter."""
    lowered = word.lower().rsplit("-", 1)[-1]
    return lowered in _ABBREVIATIONS or len(lowered) == 1


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

"""Questions in people's own words about a procedure, for the recognizer to expect.

:data:`~prism.speech.question_lm.QUESTION_PATTERNS` are the usual phrasings of the
assistant's questions. People also ask in their own words ("what's left for me?", "how
hot does the milk need to get?") and about the things a procedure handles. A recognizer
whose language model and decoder adapter know only the usual phrasings pulls such a
question towards them ("what's left" heard as "what step?"). This module makes the
other sentences, from the procedure alone and without any evaluation set:

- the assistant's example questions by kind
  (:data:`prism.assistant.intent_examples.EXAMPLES`), written naming no procedure;
- :data:`DETAIL_PATTERNS` filled with the things the procedure names
  (:func:`procedure_things`): the nouns after an article or a quantity in its step
  names and descriptions ("the jug", "some salt").

Things are found by a rule on words, not by a parser: the project ships no
part-of-speech model, and a wrong "thing" only adds an unlikely sentence to a model
that keeps every word possible.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from prism.assistant.intent_examples import EXAMPLES
from prism.procedure.model import Procedure

__all__ = ["DETAIL_PATTERNS", "free_questions", "procedure_things", "step_things"]

DETAIL_PATTERNS = (
    "how much {thing} do I need",
    "how much {thing} do I use",
    "how much {thing} should I put in",
    "how hot should the {thing} be",
    "how hot does the {thing} need to get",
    "how big should the {thing} be",
    "how full should the {thing} be",
    "how thick should the {thing} be",
    "what temperature should the {thing} be",
    "how long do I leave the {thing}",
    "how long does the {thing} take",
    "where do I put the {thing}",
    "where does the {thing} go",
    "what do I do with the {thing}",
    "how do I know the {thing} is ready",
    "is the {thing} ready yet",
    "what kind of {thing} should I use",
    "which {thing} do I use",
    "do I need the {thing}",
    "can I use something else instead of the {thing}",
    "what if I don't have any {thing}",
    "when do I add the {thing}",
    "the {thing} looks wrong",
    "is the {thing} supposed to look like this",
)
"""Detail questions about one thing of a procedure (``{thing}``: a noun phrase)."""

_BEFORE_THING = frozenset({"the", "a", "an", "some", "your", "more", "of", "any", "each"})
_NOT_A_THING = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "then",
        "than",
        "to",
        "of",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "into",
        "onto",
        "over",
        "under",
        "up",
        "down",
        "out",
        "off",
        "about",
        "around",
        "through",
        "until",
        "while",
        "after",
        "before",
        "again",
        "also",
        "just",
        "only",
        "it",
        "its",
        "it's",
        "this",
        "that",
        "these",
        "those",
        "them",
        "they",
        "you",
        "your",
        "it",
        "is",
        "are",
        "be",
        "been",
        "being",
        "was",
        "were",
        "do",
        "does",
        "did",
        "not",
        "no",
        "so",
        "very",
        "too",
        "more",
        "most",
        "less",
        "few",
        "little",
        "bit",
        "lot",
        "couple",
        "half",
        "third",
        "quarter",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "first",
        "second",
        "last",
        "next",
        "other",
        "same",
        "each",
        "every",
        "all",
        "any",
        "some",
        "such",
        "own",
        "way",
        "time",
        "times",
        "minute",
        "minutes",
        "second",
        "seconds",
        "hour",
        "hours",
        "inch",
        "inches",
        "cm",
        "mm",
        "degrees",
        "side",
        "sides",
        "end",
        "ends",
        "top",
        "bottom",
        "middle",
        "back",
        "front",
        "well",
        "good",
        "gently",
        "slowly",
        "quickly",
        "firmly",
        "lightly",
        "evenly",
        "fully",
        "still",
        "right",
        "left",
    ]
)
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def step_things(name: str) -> list[str]:
    """The things a step name speaks of: after its first word (the verb), each run of
    words between function words, of at most three words, and the name's last word
    ("Pour milk into jug" -> "milk", "jug"; "Purge wand" -> "wand")."""
    words = _WORD.findall(name.lower())[1:]
    runs: list[list[str]] = [[]]
    for word in words:
        if word in _NOT_A_THING or word.endswith("ly") or len(word) < 2:
            runs.append([])
        else:
            runs[-1].append(word)
    things = [" ".join(run) for run in runs if 0 < len(run) <= 3]
    if words and words[-1] not in _NOT_A_THING:
        things.append(words[-1])
    return list(dict.fromkeys(things))


def procedure_things(procedure: Procedure, *, max_things: int = 40) -> list[str]:
    """The things ``procedure`` handles, most mentioned first: from its step names
    (:func:`step_things`) and the one or two words after an article or a quantity in
    its descriptions ("Fill the jug a third full" -> "jug").

    Parameters
    ----------
    procedure : Procedure
    max_things : int
        At most this many (ties keep the order of first mention).
    """
    counts: dict[str, int] = {}
    for step in procedure.steps:
        for thing in step_things(step.name):
            counts[thing] = counts.get(thing, 0) + 2
        words = _WORD.findall((step.description or "").lower())
        for index, word in enumerate(words[:-1]):
            if word not in _BEFORE_THING and not word.isdigit():
                continue
            phrase = []
            for following in words[index + 1 : index + 3]:
                if following in _NOT_A_THING:
                    break
                phrase.append(following)
            if phrase:
                thing = " ".join(phrase)
                counts[thing] = counts.get(thing, 0) + 1
    ranked = sorted(counts, key=lambda thing: -counts[thing])
    return ranked[:max_things]


def free_questions(procedure: Procedure | None = None, things: Sequence[str] = ()) -> list[str]:
    """Questions in free phrasing: the assistant's example questions, then
    :data:`DETAIL_PATTERNS` filled with ``things`` and the things of ``procedure``
    (:func:`procedure_things`), each once, without end punctuation."""
    found = list(things) + (procedure_things(procedure) if procedure is not None else [])
    sentences = [text for texts in EXAMPLES.values() for text in texts]
    for thing in dict.fromkeys(found):
        sentences += [pattern.replace("{thing}", thing) for pattern in DETAIL_PATTERNS]
    return list(dict.fromkeys(sentence.rstrip("?.!") for sentence in sentences))

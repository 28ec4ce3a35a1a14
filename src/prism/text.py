"""Plain-text normalisation shared by question understanding (:mod:`prism.assistant`),
the speech recognizer's question model (:mod:`prism.speech.question_lm`) and word error
rates (:mod:`prism.evaluation.metrics`); the sentence splitter shared by the assistant's
passages (:mod:`prism.assistant.passages`) and procedures read from plain text
(:mod:`prism.procedure.from_text`).

The splitter is a small regular expression rather than a library (NLTK's Punkt needs a
downloaded model; pySBD is another dependency for what is, here, short hand-written
instructions): it cuts after ``.``, ``!``, ``?`` and ``;`` followed by a space, except
after a few abbreviations ("e.g.", "approx.", "6-oz.") and inside numbers ("1.5").

A top-level module so that the speech package, a lower layer than the assistant, can use
it without importing the assistant.
"""

from __future__ import annotations

import re

__all__ = ["SENTENCE_ABBREVIATIONS", "normalise", "split_sentences", "spoken_words"]

_CONTRACTIONS = (
    (r"\bwhat's\b", "what is"),
    (r"\bwhere's\b", "where is"),
    (r"\bhow's\b", "how is"),
    (r"\bthat's\b", "that is"),
    (r"\bit's\b", "it is"),
    (r"\bi'm\b", "i am"),
    (r"\bim\b", "i am"),
    (r"\bi've\b", "i have"),
    (r"\bi'd\b", "i would"),
    (r"\bi'll\b", "i will"),
    (r"\bhaven't\b", "have not"),
    (r"\bhasn't\b", "has not"),
    (r"\bdidn't\b", "did not"),
    (r"\bdon't\b", "do not"),
    (r"\bdoesn't\b", "does not"),
    (r"\baren't\b", "are not"),
    (r"\bisn't\b", "is not"),
    (r"\bwasn't\b", "was not"),
    (r"\bcan't\b", "can not"),
    (r"\bwon't\b", "will not"),
    (r"\blet's\b", "let us"),
    (r"\bgonna\b", "going to"),
    (r"\bwanna\b", "want to"),
)


def normalise(text: str) -> str:
    """Lower case, plain apostrophes, contractions expanded, spaces collapsed."""
    text = text.lower().replace("\u2019", "'").replace("`", "'")
    for pattern, replacement in _CONTRACTIONS:
        text = re.sub(pattern, replacement, text)
    return re.sub(r"\s+", " ", text).strip()


_FILLERS = frozenset({"uh", "um", "umm", "uhm", "er", "erm", "hmm", "mm", "ah"})
_SPELLINGS = {"ok": "okay", "yeah": "yes", "yep": "yes"}


def spoken_words(text: str) -> list[str]:
    """The words of ``text`` as said, for word error rates: :func:`normalise`d, without
    punctuation and hesitations ("uh", "um"), a few spellings unified ("ok" = "okay").

    >>> spoken_words("Uh, what's next? OK!")
    ['what', 'is', 'next', 'okay']
    """
    found = re.findall(r"[a-z0-9]+(?:'[a-z0-9]+)*", normalise(text))
    return [_SPELLINGS.get(word, word) for word in found if word not in _FILLERS]


SENTENCE_ABBREVIATIONS = frozenset(
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
    >>> split_sentences("Microwave for 30 sec. Check it.")
    ['Microwave for 30 sec.', 'Check it.']
    """
    pieces: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        before = text[start : match.start()].rstrip("\"')]")
        last_word = re.search(r"([A-Za-z][A-Za-z.-]*)\.$", before)
        if (
            last_word is not None
            and _is_abbreviation(last_word.group(1))
            and not _time_then_sentence(before, text[match.end() :])
        ):
            continue
        pieces.append(text[start : match.start()].strip())
        start = match.end()
    pieces.append(text[start:].strip())
    return [piece for piece in pieces if piece]


_TIME_UNIT_END = re.compile(r"\d\s*(?:s|sec|secs|min|mins|h|hr|hrs)\.$", re.IGNORECASE)


def _time_then_sentence(before: str, after: str) -> bool:
    """A time unit's stop after a number, before a capital, ends a sentence ("for 30 s.
    Check ...")."""
    return bool(_TIME_UNIT_END.search(before)) and after[:1].isupper()


def _is_abbreviation(word: str) -> bool:
    """``word`` (without its final stop) is an abbreviation or a single letter."""
    lowered = word.lower().rsplit("-", 1)[-1]
    return lowered in SENTENCE_ABBREVIATIONS or len(lowered) == 1

"""Plain-text normalisation shared by question understanding (:mod:`prism.assistant`),
the speech recognizer's question model (:mod:`prism.speech.question_lm`) and word error
rates (:mod:`prism.evaluation.metrics`).

A top-level module so that the speech package, a lower layer than the assistant, can use
it without importing the assistant.
"""

from __future__ import annotations

import re

__all__ = ["normalise", "spoken_words"]

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

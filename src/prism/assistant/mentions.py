"""Which procedure steps a piece of text talks about.

People name steps loosely ("did I froth the milk?" for *Steam milk*, "the bandage" for
*Apply a sterile dressing*), so steps are matched on word stems, weighted by how
specific each word is within the procedure (a word shared by many steps, like "add",
says little). Two uses:

- :func:`rank_steps`: the steps a question or statement most probably means, with scores
  (question understanding, dialogue corrections, speech-recognition near misses);
- :func:`mentioned_steps`: the steps a sentence names (scoring answers against
  references).
"""

from __future__ import annotations

import math
import re
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from prism.procedure.model import Procedure

__all__ = [
    "IRREGULAR_FORMS",
    "WORD",
    "StepMatch",
    "StepVocabulary",
    "fold",
    "mentioned_steps",
    "rank_steps",
    "stem",
    "words",
]

_STOPWORDS = frozenset(
    """a an the and or of to in on into onto for with from at by it its is are was were be
    been am do does did done i im i'm you your my me we our us this that these those there
    here then than so if as up out off over about yet get got getting put make take took
    taken already now
    just still not no
    yes have has had will would should could can may might must what which who whom when
    where why how next step steps some any all each more most few until till after before
    while let lets ok okay please tell know need needs want one
    two three four five six seven eight nine ten minutes minute seconds second s min
    tsp tbsp teaspoon teaspoons tablespoon tablespoons oz ounce ounces g ml lb small medium
    large half quarter
    thing things bit time anything something everything nothing else""".split()  # noqa: SIM905 (a word list reads better as text)
)
"""Words that say nothing about which step is meant (question words, pronouns, fillers)."""

IRREGULAR_FORMS = {
    "ground": "grind",
    "brought": "bring",
    "took": "take",
    "taken": "take",
    "made": "make",
    "put": "put",
    "cut": "cut",
    "ate": "eat",
    "froze": "freeze",
    "frozen": "freeze",
    "spun": "spin",
    "wrung": "wring",
    "dried": "dry",
    "fried": "fry",
    "emptied": "empty",
    "applied": "apply",
    "tied": "tie",
    "laid": "lay",
    "shook": "shake",
    "shaken": "shake",
    "poured": "pour",
    "frothed": "froth",
    "stuck": "stick",
    "bled": "bleed",
    "spat": "spit",
    "held": "hold",
    "kept": "keep",
    "burnt": "burn",
}

_SYNONYMS = {
    "froth": "steam",
    "foam": "steam",
    "espresso": "coffee",
    "shot": "coffee",
    "bandag": "dress",  # the stem of "bandage", "bandages"
    "wash": "clean",
    "rinse": "clean",
    "box": "box",
    "tape": "tape",
    "whisk": "beat",
    "rid": "dispose",
    "trash": "dispose",
    "bin": "dispose",
    "stir": "stir",
    "mix": "stir",
    "heat": "heat",
    "warm": "heat",
    "microwave": "microwave",
    "nuke": "microwave",
}
"""Everyday words folded onto the word procedures usually use (after stemming)."""

WORD = re.compile(r"[a-z0-9]+(?:[/.'][a-z0-9]+)*")
"""A word of lower-case text (keeps "1/8", "6-oz" as "6" and "oz", "don't")."""


def stem(word: str) -> str:
    """A crude English stem: ``"steaming" -> "steam"``, ``"bandages" -> "bandag"``.

    Irregular forms come from a small table; then one suffix among ``ing``, ``ed``,
    ``es``, ``s``, ``e``, ``ly`` is removed when at least three letters remain, and a
    doubled final consonant is undone (``"stirring" -> "stir"``).
    """
    word = word.lower().strip("'")
    if word in IRREGULAR_FORMS:
        return IRREGULAR_FORMS[word]
    for suffix in ("ing", "ed", "es", "ly", "s", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            if suffix in ("ing", "ed") and len(word) >= 4 and word[-1] == word[-2]:
                word = word[:-1]
            break
    return word


def fold(word: str) -> str:
    """``word``'s stem with everyday synonyms folded onto the procedures' usual word
    (``"frothing" -> "steam"``, ``"bandages" -> "dress"``)."""
    stemmed = stem(word)
    target = _SYNONYMS.get(stemmed)
    # the procedures' own words are stemmed twice here, so their synonyms are too
    return stem(stemmed) if target is None else stem(stem(target))


def words(text: str) -> list[str]:
    """Content-word stems of ``text`` in order (stopwords, numbers and units removed,
    synonyms folded)."""
    return [
        fold(t) for t in WORD.findall(text.lower()) if t not in _STOPWORDS and not t[0].isdigit()
    ]


@dataclass(frozen=True)
class StepMatch:
    """A step and how well a text matches it.

    Attributes
    ----------
    step : str
    score : float
        0-1: the weighted share of the step name's words found in the text.
    matched : float
        The weight of those words (breaks ties: "throw towel" is *Throw towel* rather
        than *Get towel*, though both names are fully present).
    """

    step: str
    score: float
    matched: float = 0.0


class StepVocabulary:
    """The words of a procedure's steps, weighted by specificity.

    Parameters
    ----------
    procedure : Procedure
        Its steps' names (main evidence), ids and descriptions (weaker evidence).
    """

    def __init__(self, procedure: Procedure) -> None:
        self.procedure = procedure
        self.name_words = {
            step.id: frozenset(words(step.name)) | frozenset(words(step.id.replace("_", " ")))
            for step in procedure.steps
        }
        self.first_word = {step.id: next(iter(words(step.name)), "") for step in procedure.steps}
        self.description_words = {
            step.id: frozenset(words(step.description)) - self.name_words[step.id]
            for step in procedure.steps
        }
        counts: Counter[str] = Counter()
        for step in procedure.steps:
            counts.update(self.name_words[step.id] | self.description_words[step.id])
        n = len(procedure.steps)
        self.weight = {word: math.log(1.0 + n / count) for word, count in counts.items()}

    def match(self, text: str) -> list[StepMatch]:
        """Every step sharing a word with ``text``, best first.

        ``score`` is the weight of the step-name words found in ``text`` over the weight
        of all its name words, plus a quarter of that for description words (capped at
        1); ``matched`` is the weight found (name words, plus half for description
        words, plus a tenth for the name's first word, usually its verb: "grinding" is
        *Grind beans* rather than *Adjust grind*). Best = most weight matched, then the
        highest score: a question names one or two telling words of a step, not its
        whole name.
        """
        found = set(words(text))
        out = []
        for step in self.procedure.step_ids:
            name = self.name_words[step]
            # fsum: exactly rounded, so the score does not depend on set order
            total = math.fsum(self.weight[w] for w in name) or 1.0
            hit = math.fsum(self.weight[w] for w in name & found)
            extra = math.fsum(self.weight[w] for w in self.description_words[step] & found)
            score = min(1.0, (hit + 0.25 * extra) / total)
            if score > 0.0:
                lead = 0.1 * self.weight.get(self.first_word[step], 0.0)
                bonus = lead if self.first_word[step] in found else 0.0
                out.append(StepMatch(step, score, hit + 0.5 * extra + bonus))
        return sorted(out, key=lambda m: (-m.score, -m.matched, self.procedure.step_index(m.step)))


_VOCABULARIES: OrderedDict[int, StepVocabulary] = OrderedDict()
_CACHED = 32


def _vocabulary(procedure: Procedure) -> StepVocabulary:
    """The procedure's vocabulary, built once (a small LRU keyed by identity: the
    cached vocabulary keeps its procedure alive, so the key cannot be reused)."""
    key = id(procedure)
    found = _VOCABULARIES.get(key)
    if found is None or found.procedure is not procedure:
        found = StepVocabulary(procedure)
        _VOCABULARIES[key] = found
        while len(_VOCABULARIES) > _CACHED:
            _VOCABULARIES.popitem(last=False)
    _VOCABULARIES.move_to_end(key)
    return found


def rank_steps(text: str, procedure: Procedure, *, min_score: float = 0.15) -> list[StepMatch]:
    """The steps ``text`` most probably refers to, best first, scores >= ``min_score``."""
    return [m for m in _vocabulary(procedure).match(text) if m.score >= min_score]


def _clauses(text: str) -> Iterable[str]:
    return (part for part in re.split(r"[.;:!?]|,|\band then\b|\bthen\b|\bor\b", text) if part)


def mentioned_steps(
    text: str, procedure: Procedure, *, min_score: float = 0.6, candidates: Sequence[str] = ()
) -> set[str]:
    """Steps named in ``text``: whole step names, then per clause the best-matching
    step(s) above ``min_score``.

    A clause names at most the steps tied for its best score, so "steam the milk" does
    not also count as "pour the milk". ``candidates`` (if given) restricts the search.
    """
    vocabulary = _vocabulary(procedure)
    allowed = set(candidates) if candidates else None
    found: set[str] = set()
    text = text.lower()
    # whole names first (longest first): names may hold commas or "or" themselves
    for step in sorted(procedure.steps, key=lambda s: -len(s.name)):
        name = step.name.lower()
        if len(name) > 3 and name in text and (allowed is None or step.id in allowed):
            found.add(step.id)
            text = text.replace(name, " ; ")
    for clause in _clauses(text):
        remaining = set(words(clause))
        while remaining:
            matches = [
                m
                for m in vocabulary.match(" ".join(remaining))
                if m.score >= min_score and (allowed is None or m.step in allowed)
            ]
            if not matches:
                break
            best = matches[0]
            tied = [
                m.step
                for m in matches
                if m.score >= best.score - 1e-9 and m.matched >= best.matched - 1e-9
            ]
            found.update(tied)
            used = set().union(*(vocabulary.name_words[s] for s in tied))
            if not remaining & used:
                break
            remaining -= used
    return found

"""The instruction verbs of a procedure written as text, and the kind of step each names.

A written instruction starts with an imperative verb ("Chop the onion", "Bake for 20
minutes"); the verb says what kind of step it is and so how long it usually takes when
the text gives no time (:mod:`prism.procedure.text_durations`). The lexicon is small and
hand-written: recipes, first aid and household procedures use a few hundred verbs, and
a part-of-speech tagger (spaCy, NLTK) would need a downloaded model for little gain on
sentences that start with their verb. Words that are as often nouns in an ingredient
list ("butter", "salt", "oil", "water") are left out, so that a list of ingredients is
not read as instructions.

Kinds, from the longest to the shortest (a step that names several verbs takes the
longest kind: "add the onions and fry them" is a frying step):

- ``LONG``: unattended time (bake, simmer, marinate, chill, rest, rise);
- ``HEAT``: cooking on a heat source or in a machine (fry, cook, heat, microwave, toast);
- ``CUT``: knife and tool work (chop, slice, peel, grate, spiralize);
- ``MIX``: mixing by hand or machine (whisk, stir, blend, knead, fold);
- ``CLEAN``: washing and drying (wash, rinse, wipe, disinfect);
- ``QUICK``: a single movement (add, pour, place, sprinkle, serve, press).

>>> step_kind("Add the onions and fry them until soft.")
<StepKind.HEAT: 'heat'>
>>> leading_verb("Then, gently fold in the flour.")
'fold'
"""

from __future__ import annotations

import re
from enum import StrEnum

__all__ = ["StepKind", "clause_verbs", "leading_verb", "step_kind"]


class StepKind(StrEnum):
    """What kind of work a step is, by its verbs (longest first)."""

    LONG = "long"
    HEAT = "heat"
    CUT = "cut"
    MIX = "mix"
    CLEAN = "clean"
    QUICK = "quick"
    OTHER = "other"


_KIND_ORDER = (
    StepKind.LONG,
    StepKind.HEAT,
    StepKind.CUT,
    StepKind.MIX,
    StepKind.CLEAN,
    StepKind.QUICK,
    StepKind.OTHER,
)

_LEXICON: dict[StepKind, str] = {
    StepKind.LONG: """bake roast simmer braise stew marinate chill refrigerate freeze soak rest
        rise proof prove cool steep infuse ferment dry-brine thaw defrost descale""",
    StepKind.HEAT: """heat cook fry saute sauté toast grill broil melt brown boil steam microwave
        sear warm reduce caramelize caramelise poach scramble reheat preheat blanch bring
        scald char deglaze""",
    StepKind.CUT: """chop dice slice mince cut peel grate shred julienne spiralize spiralise
        core trim crush halve quarter zest pit seed deseed debone fillet score carve tear
        snip separate""",
    StepKind.MIX: """mix whisk beat blend stir combine knead fold toss mash cream puree purée
        blitz pulse emulsify whip shake massage coat""",
    StepKind.CLEAN: """wash rinse clean wipe scrub dry pat disinfect sanitize sanitise sterilize
        sterilise flush empty drain dispose discard""",
    StepKind.QUICK: """add pour place put sprinkle season drizzle transfer serve garnish top spread
        take open close press turn switch remove lay fill dip cover uncover line insert
        attach plug unplug set hang measure weigh get grab pick scoop spoon squeeze dab
        apply hold flip roll wrap tuck secure tape fasten tighten loosen lift lower push
        pull slide check test taste arrange stack pack label seal tie lock unlock replace
        return call ask move load unload start stop dial count tilt cross wear connect
        disconnect fit screw unscrew plate portion divide shape form knot brush grease
        mark write record elevate support raise crack let allow leave keep continue
        repeat use""",
}


def _words(text: str) -> list[str]:
    """The whitespace-separated words of a lexicon entry."""
    return text.split()


_VERB_KIND: dict[str, StepKind] = {}
for _kind in reversed(_KIND_ORDER[:-1]):  # a verb listed twice keeps its longest kind
    for _verb in _words(_LEXICON[_kind]):
        _VERB_KIND[_verb] = _kind

_LEADING_FILLERS = frozenset(
    _words(
        """then next now first firstly second secondly third finally lastly also again
        meanwhile afterwards carefully gently slowly quickly immediately briefly lightly
        thoroughly generously evenly just simply optionally still please and"""
    )
)
"""Words that may come before an instruction's verb ("Then gently fold ...")."""

_LET_VERBS = frozenset({"let", "allow", "leave", "keep", "continue", "repeat", "use"})
"""Verbs whose clause names the real work further on ("let it simmer", "keep stirring")."""

_CLAUSE = re.compile(r"[.;:!?,()]|\band\b|\bthen\b|\bor\b", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-zÀ-ÿ][A-Za-zÀ-ÿ'-]*")


def _verb_form(word: str) -> str | None:
    """The lexicon's verb of ``word`` (lower case; "stirring" -> "stir", "chopped" ->
    "chop"), or None."""
    word = word.lower().strip("'-")
    if word in _VERB_KIND:
        return word
    for suffix, stem_end in (("ing", ""), ("ed", ""), ("s", ""), ("es", ""), ("ing", "e")):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            stem = word[: -len(suffix)] + stem_end
            if stem in _VERB_KIND:
                return stem
            if len(stem) > 2 and stem[-1] == stem[-2] and stem[:-1] in _VERB_KIND:
                return stem[:-1]  # "stirring" -> "stirr" -> "stir"
    return None


def leading_verb(text: str) -> str | None:
    """The lexicon's verb that starts ``text`` (after fillers such as "then", "gently"),
    or None: the test of whether a line reads as an instruction.

    >>> leading_verb("2 cups of flour") is None
    True
    """
    for word in _WORD.findall(text)[:4]:
        lowered = word.lower()
        if lowered in _LEADING_FILLERS:
            continue
        return lowered if lowered in _VERB_KIND else None
    return None


def clause_verbs(text: str) -> list[str]:
    """The lexicon's verbs that start a clause of ``text`` (clauses split at punctuation,
    "and", "or", "then"), in order; a "let"/"keep" clause contributes every verb in it
    ("let it simmer" -> ``["let", "simmer"]``).

    >>> clause_verbs("Peel the carrot, then grate it and let it rest.")
    ['peel', 'grate', 'let', 'rest']
    """
    verbs: list[str] = []
    for clause in _CLAUSE.split(text):
        words = [w for w in _WORD.findall(clause) if w.lower() not in _LEADING_FILLERS]
        if not words:
            continue
        first = words[0].lower()
        if first in _LET_VERBS:
            verbs.append(first)
            verbs += [v for v in map(_verb_form, words[1:]) if v is not None]
        elif first in _VERB_KIND:
            verbs.append(first)
    return verbs


def step_kind(text: str) -> StepKind:
    """The longest kind among the verbs that start the clauses of ``text``
    (:data:`StepKind.OTHER` when none is known)."""
    kinds = {_VERB_KIND[verb] for verb in clause_verbs(text) if verb in _VERB_KIND}
    return next((kind for kind in _KIND_ORDER if kind in kinds), StepKind.OTHER)

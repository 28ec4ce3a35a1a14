"""Cue phrases of a procedure written as text: optional, open-ended, time-critical and
safety steps.

Each reader takes a step's text and returns the phrase or sentence that gives the cue
(None without one), so that a caller can both set a flag and quote why:

- :func:`optional_cue`: the step may be left out. The cue must be in the step's first
  sentence ("Top with more cheese if you like."; "If the wound bleeds, press ...";
  "Optional: ..."): a later "if needed" usually qualifies a detail of a step that is
  always done ("Microwave for 30 s. Check, and give it 10 s more if needed.").
- :func:`open_ended_cue`: the step ends on something seen, not on a clock ("until
  golden", "till soft").
- :func:`time_critical_sentence`: timing matters ("immediately", "as soon as", "do not
  let it boil", "before it sets", "don't overcook").
- :func:`safety_sentence`: skipping the step is unsafe (washing hands, raw meat, hot oil,
  unplugging, sharp blades, allergies, gloves, disinfecting).

The phrase lists are hand-written English; matching is case-insensitive on word
boundaries.

>>> optional_cue("Garnish with parsley, if desired.")
'if desired'
>>> time_critical_sentence("Drain the pasta. Serve it immediately.")
'Serve it immediately.'
"""

from __future__ import annotations

import re

from prism.text import split_sentences

__all__ = ["open_ended_cue", "optional_cue", "safety_sentence", "time_critical_sentence"]


def _phrases(*phrases: str) -> re.Pattern[str]:
    """One case-insensitive pattern matching any of ``phrases`` (regular expressions) as
    whole words."""
    return re.compile(r"\b(?:" + "|".join(phrases) + r")\b", re.IGNORECASE)


_OPTIONAL = _phrases(
    r"if (?:needed|necessary|required|desired|preferred|using|wanted|available)",
    r"if you (?:like|want|wish|prefer|have (?:one|it|them|time|some))",
    r"optionally",
    r"optional",
    r"you (?:can|could|may) also",
    r"as an option",
)
_CONDITIONAL_START = re.compile(r"^\W*(?:if|optional(?:ly)?)\b", re.IGNORECASE)
_OPEN_ENDED = re.compile(
    r"\b(?:until|till|til)\b(?!\s+(?:\d|the\s+timer|the\s+time|it\s+is\s+time))[^.;,)]*",
    re.IGNORECASE,
)
_TIME_CRITICAL = _phrases(
    r"immediately",
    r"right away",
    r"straight away",
    r"at once",
    r"without delay",
    r"as soon as",
    r"do not let",
    r"don'?t let",
    r"never let",
    r"before (?:it|they|the \w+) (?:cools?|sets?|hardens?|burns?|dries|dry|melts?|"
    r"boils? over|gets? cold|goes cold|thickens?|sticks?|browns?)",
    r"while (?:it is|it's|they are|they're|still) (?:\w+ )?(?:hot|warm|soft|wet|runny)",
    r"(?:do not|don'?t|never|careful not to|take care not to|without) (?:over\w*|burn\w*|"
    r"scorch\w*)",
    r"overcook\w*",
    r"watch (?:it |them )?closely",
    r"keep an eye on",
    r"do not leave (?:it |them )?unattended",
    r"stir\w* (?:constantly|continuously|all the time)",
    r"no (?:more|longer) than",
    r"quickly",
    r"time it",
    r"on time",
)
_SAFETY = _phrases(
    r"wash(?:ing)? (?:your |both )?hands",
    r"hand ?washing",
    r"raw (?:meat|chicken|poultry|fish|pork|beef|eggs?|seafood|turkey|lamb)",
    r"hot (?:oil|fat|grease|steam)",
    r"boiling oil",
    r"unplug\w*",
    r"switch(?:ed)?(?: \w+)? off at the (?:wall|mains|socket)",
    r"(?:turn|switch)(?:ed)? off the (?:power|mains|electricity|gas)",
    r"sharp",
    r"blades?",
    r"allerg\w*",
    r"gloves?",
    r"oven mitts?",
    r"disinfect\w*",
    r"saniti[sz]\w*",
    r"sterili[sz]\w*",
    r"cross-contamina\w*",
    r"food poisoning",
    r"cooked through",
    r"internal temperature",
    r"scald\w*",
    r"electric shock",
    r"fumes",
    r"ventilat\w*",
    r"goggles",
    r"do not touch",
    r"never touch",
    r"safety",
    r"caution",
    r"warning",
    r"danger\w*",
    r"emergency",
    r"medical (?:help|attention|advice)",
    r"call 911",
    r"call 999",
    r"call 112",
)


def optional_cue(text: str) -> str | None:
    """The phrase that makes the step optional, from its first sentence, or None.

    >>> optional_cue("If the wound bleeds, press a clean pad on it.")
    'If the wound bleeds'
    >>> optional_cue("Melt the cheese. Give it 10 s more if needed.") is None
    True
    """
    sentences = split_sentences(text)
    if not sentences:
        return None
    first = sentences[0]
    found = _OPTIONAL.search(first)
    if found is not None:
        return found.group(0)
    if _CONDITIONAL_START.search(first):  # the condition, up to its comma
        return re.split(r"[,:;]", first.lstrip(" \t\"'([{*-"), maxsplit=1)[0][:60].strip()
    return None


def open_ended_cue(text: str) -> str | None:
    """The "until ..." phrase of a step that ends on a cue, not on a clock, or None.

    >>> open_ended_cue("Fry the onions until golden, about 5 minutes.")
    'until golden'
    """
    found = _OPEN_ENDED.search(text)
    return found.group(0).strip() if found else None


def _sentence_with(pattern: re.Pattern[str], text: str) -> str | None:
    return next((s for s in split_sentences(text) if pattern.search(s)), None)


def time_critical_sentence(text: str) -> str | None:
    """The first sentence of ``text`` that says timing matters, or None.

    >>> time_critical_sentence("Whisk the eggs. Don't let the butter brown.")
    "Don't let the butter brown."
    """
    return _sentence_with(_TIME_CRITICAL, text)


def safety_sentence(text: str) -> str | None:
    """The first sentence of ``text`` with a safety cue (the step must not be skipped),
    or None.

    >>> safety_sentence("Wash your hands well with soap.")
    'Wash your hands well with soap.'
    """
    return _sentence_with(_SAFETY, text)

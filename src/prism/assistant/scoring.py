"""Is an answer correct? Automatic scoring against a reference answer.

An answer is correct when all of these hold:

1. **Answering**: the reference is ``None`` exactly when the answer is ``None`` (no
   answer to talk that is not for the assistant).
2. **Polarity**: a reference starting with "yes" / "no" is matched by an answer with the
   same polarity ("yes ..." / "no ..." or "not ...").
3. **Steps**: the answer names (at least loosely) every step the reference clearly
   names, and clearly names no step that neither the reference nor the question names
   even loosely (steps found by name or paraphrase with
   :func:`prism.assistant.mentions.mentioned_steps`: clearly = 60 % of the weighted
   words of the step's name, loosely = 34 %).
4. **Numbers**: every quantity in the reference is in the answer: counts exactly,
   durations (converted to seconds) within 25 % or 10 s.

This checks the facts (which steps, yes or no, how many, how long), not the wording.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prism.assistant.mentions import mentioned_steps
from prism.procedure.model import Procedure

__all__ = ["AnswerScore", "close_enough", "polarity", "quantities", "score_answer"]

_NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "a minute": 1,
    "half a minute": 0.5,
}
_UNIT_SECONDS = {"s": 1.0, "sec": 1.0, "second": 1.0, "min": 60.0, "minute": 60.0, "h": 3600.0}
_QUANTITY = re.compile(
    r"(?<![\w./])(\d+(?:\.\d+)?|" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + r")"
    r"(?:\s*(?:-|to)\s*\d+(?:\.\d+)?)?"
    r"\s*(seconds?|secs?|s|minutes?|mins?|min|hours?|h)?\b"
)


_CLEAR = 0.6
"""A step is clearly named when this share of its name's (weighted) words is there ..."""
_LOOSE = 0.34
"""... and loosely named at this share (paraphrases, partial names)."""


@dataclass(frozen=True)
class AnswerScore:
    """The verdict and which rule failed (``reason`` is empty when correct)."""

    correct: bool
    reason: str = ""


def polarity(text: str) -> bool | None:
    """True for an answer starting with "yes", False for "no"/"not"/"nope", else None."""
    head = re.sub(r"^[^a-z]+", "", text.lower())
    if re.match(r"(?:yes|yeah|yep)\b", head):
        return True
    if re.match(r"(?:no|not|nope)\b", head):
        return False
    return None


def quantities(text: str) -> list[tuple[float, bool]]:
    """Quantities in ``text`` as ``(value, is_duration)``; durations in seconds.

    Ranges ("25-30 s") count as their first number; procedure ordinals like "1/6 cup"
    are ignored (only whole quantities with optional units are read).
    """
    found = []
    for match in _QUANTITY.finditer(text.lower()):
        raw, unit = match.group(1), match.group(2)
        value = float(_NUMBER_WORDS[raw]) if raw in _NUMBER_WORDS else float(raw)
        if text[match.end(1) : match.end(1) + 1] == "/":
            continue
        if unit:
            key = unit.rstrip("s") if unit not in ("s", "secs") else "s"
            seconds = _UNIT_SECONDS.get(key, _UNIT_SECONDS.get(key[:3], 1.0))
            found.append((value * seconds, True))
        else:
            found.append((value, False))
    return found


def close_enough(expected: float, given: float) -> bool:
    """Whether ``given`` matches ``expected`` within 25 % or 10 (seconds, for durations)."""
    return abs(given - expected) <= max(0.25 * expected, 10.0)


def _has_quantity(wanted: tuple[float, bool], offered: list[tuple[float, bool]]) -> bool:
    value, is_duration = wanted
    for other, other_duration in offered:
        if is_duration and other_duration:
            if close_enough(value, other):
                return True
        elif not is_duration and other == value:
            return True
    return False


def score_answer(
    answer: str | None, expected: str | None, procedure: Procedure, *, question: str = ""
) -> AnswerScore:
    """Score one answer against its reference (see the module docstring for the rules)."""
    if expected is None or answer is None:
        if expected is None and answer is None:
            return AnswerScore(True)
        return AnswerScore(
            False, "answered talk not for the assistant" if expected is None else "gave no answer"
        )
    wanted_polarity = polarity(expected)
    if wanted_polarity is not None and polarity(answer) != wanted_polarity:
        return AnswerScore(False, "wrong yes/no")
    wanted_steps = mentioned_steps(expected, procedure, min_score=_CLEAR)
    missing = wanted_steps - mentioned_steps(answer, procedure, min_score=_LOOSE)
    if missing:
        return AnswerScore(False, f"does not name {sorted(missing)}")
    allowed = mentioned_steps(expected, procedure, min_score=_LOOSE) | mentioned_steps(
        question, procedure, min_score=_LOOSE
    )
    extra = mentioned_steps(answer, procedure, min_score=_CLEAR) - allowed
    if extra:
        return AnswerScore(False, f"names {sorted(extra)} (not in the reference)")
    offered = quantities(answer)
    for wanted in quantities(expected):
        if not _has_quantity(wanted, offered):
            return AnswerScore(False, f"misses the quantity {wanted[0]:g}")
    return AnswerScore(True)

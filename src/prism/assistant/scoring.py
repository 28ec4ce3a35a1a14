"""Is an answer correct? Automatic scoring against a reference answer.

An answer is correct when all of these hold:

1. **Answering**: the reference is ``None`` exactly when the answer is ``None`` (no
   answer to talk that is not for the assistant); an empty answer is no answer.
2. **Declining**: a reference that declines (see :func:`declines`: "Sorry, I can only
   help with your latte.") is matched only by an answer that declines; the other rules
   are then moot.
3. **Polarity**: a reference starting with "yes" / "no" is matched by an answer with the
   same polarity ("yes ..." / "no ..." or "not ...").
4. **Key facts**, when the record lists them (``must_include``: facts, each a list of
   acceptable alternatives): every fact is in the answer (:func:`has_fact`). They are
   then what the answer must say, in place of rules 5 and 6's demands: the reference
   is an example answer, and the steps it names are steps the answer *may* name.
5. **Steps**: the answer names (at least loosely) every step the reference clearly
   names (not when key facts are given), and clearly names no step that neither the
   reference, the question nor a key fact names even loosely (steps found by name or
   paraphrase with :func:`prism.assistant.mentions.mentioned_steps`: clearly = 60 % of
   the weighted words of the step's name, loosely = 34 %). A key fact taken from the
   procedure's text also allows the steps that text belongs to and names (an answer
   quoting "point the steam wand into the drip tray" for *Purge wand* is not faulted
   for naming it, nor for what "steam wand" reads as).
6. **Numbers** (not when key facts are given): every quantity in the reference is in
   the answer: counts exactly, durations (converted to seconds) within 25 % or 10 s.

This checks the facts (which steps, yes or no, how many, how long, the detail asked
for), not the wording. Key facts are matched as whole words after the project's
normalisation (:func:`prism.text.normalise`), not by edit distance (rapidfuzz): a near
miss of a fact ("65" for "60", "coarser" for "finer") is a wrong fact, so the
alternatives a reference accepts are listed, not guessed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from prism.assistant.mentions import mentioned_steps
from prism.assistant.qa_records import resolve_step_name
from prism.procedure.model import Procedure
from prism.text import normalise

__all__ = [
    "AnswerScore",
    "close_enough",
    "declines",
    "has_fact",
    "polarity",
    "quantities",
    "score_answer",
]

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

_REFUSALS = (
    ("can", "not", "help"),
    ("can", "not", "answer"),
    ("cannot", "help"),
    ("cannot", "answer"),
    ("can", "only"),
    ("only", "help"),
    ("only", "answer"),
    ("only", "able"),
    ("not", "able"),
    ("unable",),
    ("do", "not", "know"),
    ("no", "idea"),
    ("sorry",),
    ("outside",),
    ("beyond",),
)
"""Word sequences that say "I can't answer that" (after :func:`_words`)."""
_SCOPE_WORDS = frozenset({"task", "procedure", "recipe", "step"})
"""Words that point back to the task (besides the procedure's own name)."""


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


def _quantity_spans(text: str) -> list[tuple[float, bool, int, int]]:
    """``(value, is_duration, start, end)`` of each quantity in ``text`` (see
    :func:`quantities`); ``start``/``end`` index ``text``."""
    found = []
    for match in _QUANTITY.finditer(text.lower()):
        raw, unit = match.group(1), match.group(2)
        value = float(_NUMBER_WORDS[raw]) if raw in _NUMBER_WORDS else float(raw)
        if text[match.end(1) : match.end(1) + 1] == "/":
            continue
        if unit:
            key = unit.rstrip("s") if unit not in ("s", "secs") else "s"
            seconds = _UNIT_SECONDS.get(key, _UNIT_SECONDS.get(key[:3], 1.0))
            found.append((value * seconds, True, match.start(), match.end()))
        else:
            found.append((value, False, match.start(), match.end()))
    return found


def quantities(text: str) -> list[tuple[float, bool]]:
    """Quantities in ``text`` as ``(value, is_duration)``; durations in seconds.

    Ranges ("25-30 s") count as their first number; procedure ordinals like "1/6 cup"
    are ignored (only whole quantities with optional units are read).
    """
    return [(value, is_duration) for value, is_duration, _, _ in _quantity_spans(text)]


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


def _singular(word: str) -> str:
    """A plural's singular, roughly: "inches" -> "inch", "tomatoes" -> "tomato", "edges"
    -> "edge"; "glass", "is" and "was" stay."""
    if word.endswith(("ches", "shes", "sses", "xes", "oes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _words(text: str) -> list[str]:
    """The words of ``text`` for matching phrases: :func:`prism.text.normalise`d,
    punctuation dropped (so "non-stick" = "non stick", "1/2" = "1 2") and plurals made
    singular."""
    return [_singular(word) for word in re.findall(r"[a-z0-9]+", normalise(text))]


def _contains(words: Sequence[str], phrase: Sequence[str]) -> bool:
    """Whether ``phrase`` occurs in ``words`` as consecutive words."""
    n = len(phrase)
    return n > 0 and any(words[i : i + n] == list(phrase) for i in range(len(words) - n + 1))


def _same_quantities(alternative: str, answer: str) -> bool:
    """An alternative holding numbers, matched by value: each of its quantities is in the
    answer with the same value and kind (a duration in any unit, or a count), and its
    other words are all in the answer."""
    spans = _quantity_spans(alternative)
    if not spans:
        return False
    offered = quantities(answer)
    for value, is_duration, _, _ in spans:
        if not any(
            is_duration == other_duration and math.isclose(value, other, abs_tol=1e-9)
            for other, other_duration in offered
        ):
            return False
    rest = alternative
    for _, _, start, end in reversed(spans):
        rest = rest[:start] + " " + rest[end:]
    return set(_words(rest)) <= set(_words(answer))


def _states(answer: str, alternative: str) -> bool:
    """Whether ``answer`` states ``alternative`` as words or by value (see :func:`has_fact`)."""
    return _contains(_words(answer), _words(alternative)) or _same_quantities(alternative, answer)


def _fact_sources(alternatives: Sequence[str], procedure: Procedure) -> set[str]:
    """Steps an answer may name along with a key fact: for each alternative that is not a
    step's name nor a bare number, the steps whose name, description or reminder state
    it and the steps those texts name loosely (the procedure's description counts too)."""
    texts = [
        (step.id, " ".join(filter(None, (step.name, step.description, step.notes.reminder))))
        for step in procedure.steps
    ]
    texts.append(("", procedure.description))
    sources: set[str] = set()
    for alternative in alternatives:
        if resolve_step_name(procedure, alternative) is not None or re.fullmatch(
            r"\s*\d+(?:\.\d+)?\s*", alternative
        ):
            continue
        for step, text in texts:
            if _states(text, alternative):
                sources |= {step} - {""}
                sources |= mentioned_steps(text, procedure, min_score=_LOOSE)
    return sources


def has_fact(answer: str, alternatives: Sequence[str], procedure: Procedure) -> bool:
    """Whether ``answer`` states a key fact given as ``alternatives`` (any one will do).

    An alternative is stated when

    - its words occur in the answer as consecutive words, after :func:`_words`
      (case, punctuation, contractions, plurals and the words around do not matter);
    - or it holds quantities ("20 seconds", "5 toothpicks") and the answer has the same
      values (durations in any unit: "1 minute" = "60 s"; "five" = "5"; a range counts
      as its first number) and the alternative's other words;
    - or it is a step's name or id and the answer names that step (at least loosely,
      as rule 5 reads names: "attached the filter" for *Attach filter*).

    Values are compared exactly, not within the tolerance of rule 6: a key fact is a
    value written in the procedure, not an estimated duration.

    >>> from prism.procedure.io import load_procedure
    >>> latte = load_procedure("tasks/latte_making/procedure.yaml")
    >>> has_fact("Fill it to about a third.", ["a third", "1/3"], latte)
    True
    >>> has_fact("Wash them for 20 s.", ["20 seconds"], latte)
    True
    """
    for alternative in alternatives:
        if _states(answer, alternative):
            return True
        step = resolve_step_name(procedure, alternative)
        if step is not None and step in mentioned_steps(answer, procedure, min_score=_LOOSE):
            return True
    return False


def declines(text: str, procedure: Procedure) -> bool:
    """Whether ``text`` honestly declines a question beyond the task.

    It says it cannot answer ("sorry", "I can't help / answer", "I can only ...", "I don't
    know", "outside", "beyond", "unable"), points back to the task (the words task, procedure,
    recipe or step, or a word of the procedure's name, such as "latte") and names no step
    (the procedure's own name aside: "tomato chutney" is not *Take 1 tomato*). Neither the
    canned "I can tell you where you are, what's next, ..." nor "I can't tell where you
    are in the task yet" declines.
    """
    words = _words(text)
    if not any(_contains(words, refusal) for refusal in _REFUSALS):
        return False
    scope = _SCOPE_WORDS | {word for word in _words(procedure.name) if len(word) > 3}
    if not scope & set(words):
        return False
    unnamed = re.sub(re.escape(procedure.name), " ", text, flags=re.IGNORECASE)
    return not mentioned_steps(unnamed, procedure, min_score=_CLEAR)


def score_answer(
    answer: str | None,
    expected: str | None,
    procedure: Procedure,
    *,
    question: str = "",
    must_include: Sequence[Sequence[str]] = (),
) -> AnswerScore:
    """Score one answer against its reference (see the module docstring for the rules).

    Parameters
    ----------
    answer, expected : str or None
        The answer given and the reference (``None``: no answer wanted).
    procedure : Procedure
        The procedure the question is about (its steps are what answers name).
    question : str
        The question asked: steps it names may be named in the answer.
    must_include : sequence of sequences of str
        Key facts, each a list of acceptable alternatives (:func:`has_fact`); empty: the
        steps and quantities of the reference decide.
    """
    if expected is None or answer is None or not answer.strip():
        if expected is None and answer is None:
            return AnswerScore(True)
        return AnswerScore(
            False, "answered talk not for the assistant" if expected is None else "gave no answer"
        )
    if declines(expected, procedure):
        return (
            AnswerScore(True)
            if declines(answer, procedure)
            else AnswerScore(False, "does not decline")
        )
    wanted_polarity = polarity(expected)
    if wanted_polarity is not None and polarity(answer) != wanted_polarity:
        return AnswerScore(False, "wrong yes/no")
    for fact in must_include:
        if not has_fact(answer, fact, procedure):
            return AnswerScore(False, f"misses the key fact {fact[0]!r}")
    if not must_include:
        wanted_steps = mentioned_steps(expected, procedure, min_score=_CLEAR)
        missing = wanted_steps - mentioned_steps(answer, procedure, min_score=_LOOSE)
        if missing:
            return AnswerScore(False, f"does not name {sorted(missing)}")
    allowed = set().union(
        *(
            mentioned_steps(text, procedure, min_score=_LOOSE)
            for text in (expected, question, *(alt for fact in must_include for alt in fact))
        ),
        *(_fact_sources(fact, procedure) for fact in must_include),
    )
    extra = mentioned_steps(answer, procedure, min_score=_CLEAR) - allowed
    if extra:
        return AnswerScore(False, f"names {sorted(extra)} (not in the reference)")
    if not must_include:
        offered = quantities(answer)
        for wanted in quantities(expected):
            if not _has_quantity(wanted, offered):
                return AnswerScore(False, f"misses the quantity {wanted[0]:g}")
    return AnswerScore(True)

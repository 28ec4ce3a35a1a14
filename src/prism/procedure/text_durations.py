"""Step durations read from a procedure written as text, or a prior by kind of step.

A written step often says how long it takes: "for 30 seconds", "2-3 minutes", "about 1
hour", "10 to 12 min", "1 minute 20 seconds", "a few minutes". :func:`time_spans` finds
these spans; :func:`read_duration` turns a step's spans into
:class:`~prism.procedure.model.DurationStats` (seconds), and a step that gives no time
gets the prior of its kind of work (:data:`KIND_PRIORS`, by
:func:`prism.procedure.text_verbs.step_kind`).

Rules, in the order they apply:

- A span is a number or a range (``-``, an en dash, "to", "or") and a unit (seconds,
  minutes, hours and their short forms; "s" and "h" only right after digits); number
  words ("five", "a", "half an", "a few", "several") count. Adjacent spans of falling
  units add up ("1 minute 20 seconds").
- Spans that are conditions, not work, are left out: after "after", "every", "each",
  "within", "than", "per" ("check after 30 seconds").
- The step lasts the sum of its spans: "microwave for 2 minutes, stir, then 3 more
  minutes" is 5 minutes. A range gives the mean of its ends and a standard deviation of
  half its width (at least :data:`MIN_RELATIVE_STD` of the mean).
- "at least 20 seconds" sets ``min`` and reads as 20-30 s; "up to 10 minutes", "no more
  than" and "at most" set ``max`` and read as 5-10 minutes.
- An open-ended step ("until golden", :func:`prism.procedure.text_cues.open_ended_cue`)
  keeps its written time as the mean but gets a wide spread (:data:`OPEN_ENDED_STD`) and
  no ``max``: it ends on a cue, not on a clock.

Times are rounded to 0.1 s.

>>> read_duration("Blitz for 20 seconds.").duration
DurationStats(mean=20.0, std=3.0, min=None, max=None)
>>> read_duration("Simmer for 2-3 minutes.").duration
DurationStats(mean=150.0, std=30.0, min=None, max=None)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prism.procedure.model import DurationStats
from prism.procedure.text_verbs import StepKind, step_kind

__all__ = [
    "KIND_PRIORS",
    "MIN_RELATIVE_STD",
    "OPEN_ENDED_STD",
    "DurationReading",
    "TimeSpan",
    "read_duration",
    "time_spans",
]

MIN_RELATIVE_STD = 0.15
"""Lower bound of std / mean for a written time: nobody times a step to the second."""
OPEN_ENDED_STD = 0.5
"""std / mean of an open-ended step (at least): it ends on a cue, not on a clock."""

KIND_PRIORS: dict[StepKind, DurationStats] = {
    StepKind.LONG: DurationStats(mean=900.0, std=450.0),
    StepKind.HEAT: DurationStats(mean=180.0, std=90.0),
    StepKind.CUT: DurationStats(mean=60.0, std=30.0),
    StepKind.MIX: DurationStats(mean=30.0, std=15.0),
    StepKind.CLEAN: DurationStats(mean=30.0, std=15.0),
    StepKind.QUICK: DurationStats(mean=15.0, std=8.0),
    StepKind.OTHER: DurationStats(mean=30.0, std=15.0),
}
"""Duration prior (seconds) of a step whose text gives no time, by kind of work: rough
figures in line with the hand-written tasks and CaptainCook4D's annotated recipe steps
(a quick "add" 10-30 s, chopping about a minute, frying a few minutes)."""

_NUMBER_WORDS = {
    "a": 1.0,
    "an": 1.0,
    "another": 1.0,
    "one": 1.0,
    "two": 2.0,
    "three": 3.0,
    "four": 4.0,
    "five": 5.0,
    "six": 6.0,
    "seven": 7.0,
    "eight": 8.0,
    "nine": 9.0,
    "ten": 10.0,
    "eleven": 11.0,
    "twelve": 12.0,
    "fifteen": 15.0,
    "twenty": 20.0,
    "thirty": 30.0,
    "forty": 40.0,
    "forty-five": 45.0,
    "fifty": 50.0,
    "sixty": 60.0,
    "ninety": 90.0,
}
_VAGUE = {  # words that are a range by themselves
    "a few": (2.0, 5.0),
    "a couple of": (2.0, 2.0),
    "a couple": (2.0, 2.0),
    "several": (3.0, 6.0),
    "half a": (0.5, 0.5),
    "half an": (0.5, 0.5),
}
_FRACTIONS = {"½": 0.5, "¼": 0.25, "¾": 0.75, "⅓": 1 / 3, "⅔": 2 / 3}
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0}  # by the unit's first letter

_WORD_NUMBER = "|".join(
    sorted((re.escape(w) for w in (*_NUMBER_WORDS, *_VAGUE)), key=len, reverse=True)
)
_DIGITS = r"\d+(?:[.,]\d+)?(?:\s+\d+/\d+|\s*[½¼¾⅓⅔])?|\d+/\d+|[½¼¾⅓⅔]"
_NUMBER = rf"(?:{_DIGITS}|\b(?:{_WORD_NUMBER})\b)"
_UNIT = r"(?P<unit>seconds?|secs?\.?|minutes?|mins?\.?|hours?|hrs?\.?)\b"
_SHORT_UNIT = r"(?P<short>[sh])(?![\w-])"  # "30s", "1 h": only after digits
_SPAN = re.compile(
    r"\b(?P<or_two>a|one)\s+(?P<unit2>second|minute|hour)\s+or\s+two\b|"
    rf"(?P<low>{_NUMBER})(?:\s*(?:-|\u2013|\u2014|to|or)\s*(?P<high>{_NUMBER}))?"
    rf"(?:\s+and\s+(?P<half>a\s+half))?\s*(?:more\s+|extra\s+|further\s+)?{_UNIT}"
    rf"(?:\s+(?P<plus_half>and\s+a\s+half))?"
    rf"|(?P<short_low>{_DIGITS})(?:\s*(?:-|\u2013|\u2014)\s*(?P<short_high>{_DIGITS}))?\s?{_SHORT_UNIT}"
    r"|\b(?P<overnight>overnight)\b",
    re.IGNORECASE,
)
_CONDITION = re.compile(
    r"\b(?:after|every|each|within|(?<!more\s)(?<!longer\s)(?<!less\s)than|per|in\s+under|ago)"
    r"\s+(?:about\s+|around\s+|approximately\s+|roughly\s+|another\s+)?$",
    re.IGNORECASE,
)
_AT_LEAST = re.compile(r"\b(?:at\s+least|minimum(?:\s+of)?|no\s+less\s+than)\s+$", re.I)
_AT_MOST = re.compile(
    r"\b(?:up\s+to|no\s+more\s+than|no\s+longer\s+than|at\s+most|maximum(?:\s+of)?)\s+$", re.I
)
_JOIN = re.compile(r"^,?\s*(?:and\s+)?$", re.IGNORECASE)


@dataclass(frozen=True)
class TimeSpan:
    """A time written in a step.

    Parameters
    ----------
    low_s, high_s : float
        The span in seconds, ``0 < low_s <= high_s`` (equal for a single value).
    bound : {"", "min", "max"}
        "min" after "at least", "max" after "up to"; "" otherwise.
    start, end : int
        Where it is in the text (characters).
    """

    low_s: float
    high_s: float
    bound: str
    start: int
    end: int


def _number(text: str) -> tuple[float, float]:
    """(low, high) of a written number: "2" -> (2, 2), "a few" -> (2, 5), "1 1/2" ->
    (1.5, 1.5)."""
    lowered = " ".join(text.lower().split())
    if lowered in _VAGUE:
        return _VAGUE[lowered]
    if lowered in _NUMBER_WORDS:
        value = _NUMBER_WORDS[lowered]
        return value, value
    total = 0.0
    for part in lowered.replace(",", ".").split():
        if part[-1] in _FRACTIONS:
            total += _FRACTIONS[part[-1]]
            part = part[:-1]
        if "/" in part:
            numerator, denominator = part.split("/")
            total += float(numerator) / float(denominator) if float(denominator) else 0.0
        elif part:
            total += float(part)
    return total, total


def _unit_seconds(unit: str) -> float:
    return _UNIT_SECONDS[unit.lower()[0]]


def _read_match(match: re.Match[str]) -> tuple[float, float, float]:
    """(low, high, unit) of a span match, in seconds (unit: seconds per unit)."""
    if match.group("overnight"):
        return 8 * 3600.0, 12 * 3600.0, 3600.0
    if match.group("or_two"):
        unit = _unit_seconds(match.group("unit2"))
        return unit, 2 * unit, unit
    if match.group("short"):
        unit = _unit_seconds(match.group("short"))
        low, high = _number(match.group("short_low"))
        if match.group("short_high"):
            high = _number(match.group("short_high"))[1]
        return low * unit, high * unit, unit
    unit = _unit_seconds(match.group("unit"))
    low, high = _number(match.group("low"))
    if match.group("high"):
        high = _number(match.group("high"))[1]
    if match.group("half") or match.group("plus_half"):
        low, high = low + 0.5, high + 0.5
    return low * unit, high * unit, unit


def _span(match: re.Match[str], text: str) -> TimeSpan | None:
    low, high, _ = _read_match(match)
    if not 0 < low <= high:
        return None
    before = text[max(0, match.start() - 40) : match.start()]
    bound = "min" if _AT_LEAST.search(before) else "max" if _AT_MOST.search(before) else ""
    return TimeSpan(low, high, bound, match.start(), match.end())


def time_spans(text: str) -> list[TimeSpan]:
    """The times written in ``text`` that are work, not conditions, in order.

    Adjacent spans of falling units ("1 hour 15 minutes", "1 minute and 20 seconds") are
    one span.

    >>> [(s.low_s, s.high_s) for s in time_spans("Cook 10 to 12 min; check after 5 min.")]
    [(600.0, 720.0)]
    >>> [(s.low_s, s.high_s) for s in time_spans("Microwave for 1 minute 20 seconds.")]
    [(80.0, 80.0)]
    """
    spans: list[TimeSpan] = []
    last_unit = 0.0
    for match in _SPAN.finditer(text):
        span = _span(match, text)
        if span is None or _CONDITION.search(text[max(0, match.start() - 40) : match.start()]):
            continue
        unit = _read_match(match)[2]
        previous = spans[-1] if spans else None
        if (
            previous is not None
            and unit < last_unit
            and previous.low_s == previous.high_s
            and _JOIN.match(text[previous.end : span.start])
        ):
            spans[-1] = TimeSpan(
                previous.low_s + span.low_s,
                previous.high_s + span.high_s,
                previous.bound,
                previous.start,
                span.end,
            )
        else:
            spans.append(span)
        last_unit = unit
    return spans


@dataclass(frozen=True)
class DurationReading:
    """A step's duration and where it comes from.

    Parameters
    ----------
    duration : DurationStats
        Seconds.
    from_text : bool
        Read from times written in the step (else the prior of ``kind``).
    kind : StepKind
        The kind of work of the step.
    """

    duration: DurationStats
    from_text: bool
    kind: StepKind


def _tenth(seconds: float) -> float:
    return round(seconds, 1)


def read_duration(text: str, *, open_ended: bool = False) -> DurationReading:
    """The duration of a step whose text is ``text``.

    Parameters
    ----------
    text : str
        The step's text (all its sentences).
    open_ended : bool
        The step ends on a cue ("until golden"): spread at least :data:`OPEN_ENDED_STD`
        of the mean, no ``max``.

    Returns
    -------
    DurationReading
    """
    kind = step_kind(text)
    spans = time_spans(text)
    if not spans:
        prior = KIND_PRIORS[kind]
        std = max(prior.std, OPEN_ENDED_STD * prior.mean) if open_ended else prior.std
        return DurationReading(DurationStats(mean=prior.mean, std=std), False, kind)
    low = high = 0.0
    for span in spans:
        if span.bound == "max" and span.low_s == span.high_s:  # "up to 10 min": 5-10 min
            low, high = low + span.low_s / 2, high + span.high_s
        elif span.bound == "min" and span.low_s == span.high_s:  # "at least 20 s": 20-30 s
            low, high = low + span.low_s, high + 1.5 * span.high_s
        else:
            low, high = low + span.low_s, high + span.high_s
    mean = (low + high) / 2
    relative = OPEN_ENDED_STD if open_ended else MIN_RELATIVE_STD
    std = max((high - low) / 2, relative * mean)
    minimum = sum(s.low_s for s in spans if s.bound == "min") or None
    maximum = None
    if not open_ended and any(s.bound == "max" for s in spans):
        maximum = high
    if minimum is not None:
        minimum = min(minimum, mean)
    duration = DurationStats(
        mean=_tenth(mean),
        std=_tenth(std),
        min=None if minimum is None else _tenth(minimum),
        max=None if maximum is None else _tenth(maximum),
    )
    return DurationReading(duration, True, kind)

"""Short step names and ids for a procedure written as text.

A step's name is the leading verb phrase of its first sentence, in the style of the
hand-written tasks ("Wash hands", "Steam milk", "Remove old dressing"):

1. an opening clause that sets a condition or a place is dropped up to its comma ("If
   the wound bleeds, press ..." -> "press ...", "In a bowl, whisk ..." -> "whisk ..."),
   and so are leading fillers ("Then gently fold" -> "fold") and parentheses;
2. the phrase ends at the first preposition, conjunction or punctuation ("Heat the oil in
   a pan" -> "Heat the oil"), except "and"/"or" between two verbs ("Peel and chop");
3. articles, quantities and units are dropped ("Add 1/4 teaspoon of salt" -> "Add
   salt") and at most :data:`MAX_NAME_WORDS` words are kept, the first capitalised.

Names are made unique in order ("Stir", "Stir again", "Stir, 3rd time"); ids are the
names in lower case with ``_`` between words, ASCII only, at most :data:`MAX_ID_LENGTH`
characters (cut at a word), made unique with a number, never ``start`` or ``end``.

>>> short_name("In a mixing bowl, whisk 1 cup of chilled curd until smooth.")
'Whisk chilled curd'
>>> unique_names(["Stir", "Add salt", "Stir", "Stir"])
['Stir', 'Add salt', 'Stir again', 'Stir, 3rd time']
>>> step_ids(["Add salt", "Add salt!", "End"])
['add_salt', 'add_salt_2', 'end_step']
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from prism.procedure.checks import END, START
from prism.procedure.text_verbs import clause_verbs
from prism.text import split_sentences

__all__ = ["MAX_ID_LENGTH", "MAX_NAME_WORDS", "short_name", "step_ids", "unique_names"]

MAX_NAME_WORDS = 4
"""Words in a step name at most (the verb and a short object)."""
MAX_ID_LENGTH = 40
"""Characters in a step id at most (as the imported CaptainCook4D tasks)."""

_OPENERS = re.compile(
    r"^(?:if|when|once|while|after|before|as soon as|as|using|with|in|on|into|for|to|"
    r"at|working|wearing|holding)\b",
    re.IGNORECASE,
)
"""Words that open a clause setting a condition, a time or a place ("In a bowl, ...")."""


def _words(text: str) -> frozenset[str]:
    """The whitespace-separated words of a word list."""
    return frozenset(text.split())


_STOPS = _words(
    """to into in on onto with for until till over under from at by about around through
    while before after so if or and then as using without per between inside within across
    along against off up down out away than that which who until unless because but
    whether like near next when once where since again"""
)
_ARTICLES = _words("a an the some your each any all this that these those it them")
_PARTICLE_VERBS = _words(
    """turn switch put take pour fold top plug pick break set clean wipe wash mix stir fill
    rub throw tip dry cut whisk beat measure get drop lay roll pull scoop crack"""
)
_PARTICLES = _words("on off up out in away down back")
_LATE_PARTICLES = _words("off up out away down")
"""Particles that may follow the object ("Take the pan off")."""
_TO_VERBS = _words("allow use")
_WITH_VERBS = _words(
    "top garnish season drizzle sprinkle finish fill brush coat cover line dust spray serve"
)
_APPROXIMATELY = _words("about around roughly approximately")
_FILLERS = _words(
    """then next now first firstly second secondly finally lastly also again meanwhile
    afterwards carefully gently slowly quickly immediately briefly lightly thoroughly
    generously evenly just simply optionally optional still please"""
)
_UNITS = _words(
    """tsp tsps teaspoon teaspoons tbsp tbsps tablespoon tablespoons tbs cup cups g gram
    grams kg ml l litre litres liter liters oz ounce ounces lb lbs pound pounds pinch
    pinches dash dashes handful handfuls can cans cm mm inch
    inches in heaped level generous large medium small knob knobs splash drizzle pair
    pairs couple bit little few block blocks"""
)
_QUANTITY = re.compile(
    r"^(?:\d+(?:[.,/]\d+)*(?:[-\u2013]\d+(?:[.,/]\d+)*)?[a-z]{0,4}|[½¼¾⅓⅔]|one|two|three|four|"
    r"five|six|seven|eight|nine|ten|twelve|half|quarter|third|fifth|sixth|eighth)$",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"\(|\)|[^\s,;:()]+|[,;:]")


def _strip_opening(sentence: str) -> str:
    """``sentence`` without an opening clause up to its comma, and without parentheses."""
    sentence = re.sub(r"\([^)]*\)", " ", sentence)
    sentence = re.sub(r"^\W*(?:optional|note|tip)\s*:\s*", "", sentence, flags=re.IGNORECASE)
    for _ in range(3):  # "If needed, in a bowl, whisk ..."
        head, comma, rest = sentence.partition(",")
        head = head.strip()
        opener = _OPENERS.match(head) or head.lower() in _FILLERS  # "Then, add ..."
        if comma and opener and re.search(r"[^\W\d_]", rest):
            sentence = rest
        else:
            break
    return sentence.strip()


def short_name(text: str, *, max_words: int = MAX_NAME_WORDS) -> str:
    """The short name of a step whose text is ``text`` ("" if it has no words).

    Parameters
    ----------
    text : str
        The step's text; its first sentence is named.
    max_words : int
        Words kept at most.
    """
    sentences = split_sentences(text)
    if not sentences:
        return ""
    words: list[str] = []
    previous_dropped = False  # the word before was a quantity, unit or article
    tokens = _TOKEN.findall(_strip_opening(sentences[0]))
    for index, raw in enumerate(tokens):
        word = raw.strip("\"'`*_.!?[]{}")
        lowered = word.lower()
        following = tokens[index + 1].lower() if index + 1 < len(tokens) else ""
        following = following.strip("\"'`*_.!?[]{}")
        if not word or raw in ",;:()":
            if words:
                break
            continue
        if not words and lowered in _FILLERS:
            continue
        right_after_verb = len(words) == 1 and not previous_dropped
        if right_after_verb and words[0].lower() in _PARTICLE_VERBS and lowered in _PARTICLES:
            words.append(lowered)  # "Turn on", "Stir in", "Put on"
            continue
        if lowered in _APPROXIMATELY and (_QUANTITY.match(following) or following in _ARTICLES):
            continue  # "Halve about a quarter cup of tomatoes"
        if len(words) == 1 and lowered == "with" and words[0].lower() in _WITH_VERBS:
            words.append(lowered)  # "Season with salt", "Top with parmesan"
            continue
        if words and lowered in _STOPS:
            if lowered in ("and", "or") and clause_verbs(following):
                words.append(lowered)  # "Peel and chop"
                continue
            if lowered == "to" and words[0].lower() in _TO_VERBS and clause_verbs(following):
                words += ["to", following]  # "Use knife to scoop", "Allow mixture to simmer"
            elif lowered in _LATE_PARTICLES and words[0].lower() in _PARTICLE_VERBS:
                words.append(lowered)  # "Take the pan off the heat" -> "Take pan off"
            break
        if _QUANTITY.match(word) or (previous_dropped and lowered in _UNITS):
            previous_dropped = True
            continue
        if lowered in _ARTICLES or (lowered == "of" and previous_dropped):
            previous_dropped = True
            continue
        if not re.search(r"[^\W\d_]", word):  # no letter: "=", "#3"
            continue
        previous_dropped = False
        words.append(word)
        if len(words) >= max_words:
            break
    words = words[:max_words]
    joined = [i for i, word in enumerate(words) if word in ("and", "or")]
    if joined and joined[-1] > 1 and len(words) - joined[-1] <= 2:
        words = words[: joined[-1]]  # "Add shallot and cook" -> "Add shallot"
    while words and words[-1].lower() in ("and", "or", "of", "to", "with"):
        words.pop()
    if not words:
        return ""
    name = " ".join(words)
    return name[0].upper() + name[1:]


def _ordinal(n: int) -> str:
    """3 -> "3rd", 11 -> "11th", 22 -> "22nd"."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def unique_names(names: Sequence[str]) -> list[str]:
    """``names`` with repeats told apart in order: "X", "X again", "X, 3rd time", ...;
    a blank name becomes "Step <n>" (1-based position)."""
    seen: dict[str, int] = {}
    unique: list[str] = []
    taken = {name.lower() for name in names if name.strip()}
    for position, name in enumerate(names, 1):
        name = name.strip() or f"Step {position}"
        count = seen.get(name.lower(), 0) + 1
        seen[name.lower()] = count
        candidate = name
        if count == 2:
            candidate = f"{name} again"
        elif count > 2:
            candidate = f"{name}, {_ordinal(count)} time"
        while count > 1 and candidate.lower() in taken:
            candidate += " (repeat)"
        taken.add(candidate.lower())
        unique.append(candidate)
    return unique


def _slug(name: str) -> str:
    """``name`` as an id: ASCII lower case, words joined by ``_``, cut at a word."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_name.lower())
    slug = ""
    for word in words:
        joined = f"{slug}_{word}" if slug else word
        if len(joined) > MAX_ID_LENGTH:
            break
        slug = joined
    return slug or (words[0][:MAX_ID_LENGTH] if words else "")


def step_ids(names: Sequence[str]) -> list[str]:
    """Unique step ids for ``names`` (``step_<n>`` when a name has no ASCII letters or
    digits; ``start``/``end`` get ``_step``)."""
    ids: list[str] = []
    taken: set[str] = set()
    for position, name in enumerate(names, 1):
        base = _slug(name) or f"step_{position}"
        if base in (START, END):
            base += "_step"
        candidate, number = base, 1
        while candidate in taken:
            number += 1
            candidate = f"{base}_{number}"
        taken.add(candidate)
        ids.append(candidate)
    return ids

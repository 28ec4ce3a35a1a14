"""Which sound texture a procedure step makes, chosen by keywords in its name and description.

The rule, in order (the first that matches wins):

1. the first word of the step's name (its verb: "Pour milk" -> ``pour``);
2. the name and the id: the keyword that occurs earliest;
3. the description: the keyword that occurs earliest;
4. otherwise ``"handling"`` (quiet touches whose resonance is step-specific, so every
   step still has a weak, distinct signature).

A word matches a keyword when it equals it, or starts with it and is at most 3 letters
longer ("chopped", "pours", "mixing"). When one word matches
several kinds, the kind listed first in :data:`SOUND_KEYWORDS` wins. Before matching,
"microwave-safe" / "microwavable" (containers, not the oven running) and "fill out" (a
form) are rewritten so that they do not trigger ``microwave`` and ``pouring``.

============  ===============================================================================
kind          keywords
============  ===============================================================================
microwave     microwave, microwaving
fridge        fridge, refrigerator, freezer
steam         steam, steaming, purge, froth, foam
blender       blend, blender, blitz, puree, spiralize, mixer
grinder       grind, grinder
pump          brew, espresso, shot
water         wash, rinse, faucet, sink, thaw, water
pouring       pour, drizzle, fill, drain, splash, milk
sizzle        fry, frying, saute, sizzle, simmer, toast, cook, heat, melt, flip, brown, pan,
              skillet
chopping      chop, cut, slice, slicing, mince, dice, trim, grate, halve
stirring      stir, mix, whisk, beat, combine, scramble, spread, coat
beep          scan, beep, button, timer
rustle        paper, towel, tape, label, box, bag, wrap, cardboard, dressing, glove, tortilla,
              lettuce, leaves, floss, foil, pat, wipe, peel, write, order
tapping       tap, knock, tamp, attach, lock, dump, adjust, dial, place, put, crack, secure,
              remove, move, insert, close, open
============  ===============================================================================

Examples
--------
>>> from prism.procedure.model import DurationStats, Step
>>> d = DurationStats(mean=5.0, std=1.0)
>>> sound_kind(Step("steam_milk", "Steam milk", "", d)), sound_kind(Step("x", "Wait", "", d))
('steam', 'handling')
"""

from __future__ import annotations

import re

from prism.procedure.model import Procedure, Step

__all__ = ["DEFAULT_SOUND", "SOUND_KEYWORDS", "sound_kind", "sound_kinds"]

DEFAULT_SOUND = "handling"
"""Texture of a step no keyword matches."""

SOUND_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("microwave", ("microwave", "microwaving")),
    ("fridge", ("fridge", "refrigerator", "freezer")),
    ("steam", ("steam", "steaming", "purge", "froth", "foam")),
    ("blender", ("blend", "blender", "blitz", "puree", "spiralize", "mixer")),
    ("grinder", ("grind", "grinder")),
    ("pump", ("brew", "espresso", "shot")),
    ("water", ("wash", "rinse", "faucet", "sink", "thaw", "water")),
    ("pouring", ("pour", "drizzle", "fill", "drain", "splash", "milk")),
    (
        "sizzle",
        (
            "fry",
            "frying",
            "saute",
            "sizzle",
            "simmer",
            "toast",
            "cook",
            "heat",
            "melt",
            "flip",
            "brown",
            "pan",
            "skillet",
        ),
    ),
    (
        "chopping",
        ("chop", "cut", "slice", "slicing", "mince", "dice", "trim", "grate", "halve"),
    ),
    ("stirring", ("stir", "mix", "whisk", "beat", "combine", "scramble", "spread", "coat")),
    ("beep", ("scan", "beep", "button", "timer")),
    (
        "rustle",
        (
            "paper",
            "towel",
            "tape",
            "label",
            "box",
            "bag",
            "wrap",
            "cardboard",
            "dressing",
            "glove",
            "tortilla",
            "lettuce",
            "leaves",
            "floss",
            "foil",
            "pat",
            "wipe",
            "peel",
            "write",
            "order",
        ),
    ),
    (
        "tapping",
        (
            "tap",
            "knock",
            "tamp",
            "attach",
            "lock",
            "dump",
            "adjust",
            "dial",
            "place",
            "put",
            "crack",
            "secure",
            "remove",
            "move",
            "insert",
            "close",
            "open",
        ),
    ),
)
"""(kind, keywords) in priority order; see the module docstring."""

_REWRITES = (
    (re.compile(r"microwave[- ]safe|microwavable|microwaveable"), "heatproof"),
    (re.compile(r"\bfill(?:s|ing|ed)? out\b"), "write"),
)
_WORD = re.compile(r"[a-z]+")


def _words(text: str) -> list[str]:
    text = text.lower()
    for pattern, replacement in _REWRITES:
        text = pattern.sub(replacement, text)
    return _WORD.findall(text)


def _matches(word: str, keyword: str) -> bool:
    if word == keyword:
        return True
    return word.startswith(keyword) and len(word) - len(keyword) <= 3


def _kind_of_word(word: str) -> str | None:
    for kind, keywords in SOUND_KEYWORDS:
        if any(_matches(word, keyword) for keyword in keywords):
            return kind
    return None


def _earliest(words: list[str]) -> str | None:
    for word in words:
        kind = _kind_of_word(word)
        if kind is not None:
            return kind
    return None


def sound_kind(step: Step) -> str:
    """The texture kind of ``step`` (a key of ``TEXTURE_LEVELS_DB``); see the module docstring."""
    name_words = _words(step.name)
    if name_words:
        verb = _kind_of_word(name_words[0])
        if verb is not None:
            return verb
    for words in (name_words + _words(step.id.replace("_", " ")), _words(step.description)):
        kind = _earliest(words)
        if kind is not None:
            return kind
    return DEFAULT_SOUND


def sound_kinds(procedure: Procedure) -> dict[str, str]:
    """Step id -> texture kind for every step of ``procedure``."""
    return {step.id: sound_kind(step) for step in procedure.steps}

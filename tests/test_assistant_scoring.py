"""Scoring answers against references: quantities, polarity, the steps named, key facts
and declines."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant_states import LATTE
from prism.assistant.scoring import declines, has_fact, polarity, quantities, score_answer
from prism.procedure.io import load_procedure


@pytest.mark.parametrize(
    ("answer", "expected", "correct"),
    [
        (None, None, True),
        ("Next: steam milk.", None, False),
        (None, "Next is steam milk.", False),
        ("Next: steam milk.", "Next, steam the milk.", True),
        ("Next: purge wand.", "Next, steam the milk.", False),
        ("Next: steam milk or purge wand.", "Next, steam the milk.", False),
        ("Yes, you already did grind beans.", "Yes, you ground the beans.", True),
        ("No, you have not done grind beans yet.", "Yes, you ground the beans.", False),
        ("Steam milk takes about 45 seconds.", "About 40 seconds.", True),
        ("Steam milk takes about 3 minutes.", "About 40 seconds.", False),
        ("4 steps left after this one.", "4 steps left.", True),
        ("5 steps left after this one.", "4 steps left.", False),
    ],
)
def test_scoring_rules(answer: str | None, expected: str | None, correct: bool) -> None:
    question = "how long do I steam the milk?"
    assert score_answer(answer, expected, LATTE, question=question).correct is correct


def test_quantities_and_polarity() -> None:
    assert quantities("about 3 minutes and 20 s") == [(180.0, True), (20.0, True)]
    assert quantities("add 1/6 cup") == []
    assert polarity("Yes, done") is True and polarity("Not yet") is False
    assert polarity("Next is X") is None


CANNED = (
    "I can tell you where you are, what comes next, what you have done or missed, "
    "how long things take and how to do a step."
)
"""A canned help text: it answers no detail and declines nothing."""
JUG = (("third", "1/3", "below the spout"),)


@pytest.mark.parametrize(
    ("answer", "correct"),
    [
        ("Fill it about a third full.", True),
        ("Up to just BELOW the spout!", True),
        ("pour cold milk into the jug, 1/3 full", True),
        ("Fill it to the top.", False),
        (CANNED, False),
        ("", False),
        ("   ", False),
        (None, False),
    ],
    ids=[
        "a-third",
        "below-the-spout",
        "fraction",
        "wrong-fact",
        "canned-help",
        "empty",
        "blank",
        "none",
    ],
)
def test_a_detail_answer_needs_its_key_fact(answer: str | None, correct: bool) -> None:
    verdict = score_answer(
        answer, "About a third full.", LATTE, question="how full is the jug?", must_include=JUG
    )
    assert verdict.correct is correct


def test_every_key_fact_must_be_there() -> None:
    facts = (("tap",), ("swirl",))
    expected = "Tap the jug on the counter and swirl it."
    assert score_answer("Tap it, then swirl it.", expected, LATTE, must_include=facts).correct
    verdict = score_answer("Tap the jug.", expected, LATTE, must_include=facts)
    assert not verdict.correct and verdict.reason == "misses the key fact 'swirl'"


def test_key_facts_replace_the_reference_steps_and_numbers() -> None:
    expected = "You've finished 4 steps: Attach filter, Grind beans, Move filter and Place cup."
    facts = (("4",),)
    assert score_answer("Four steps so far.", expected, LATTE, must_include=facts).correct
    assert score_answer(
        "4 done: attach filter, grind beans.", expected, LATTE, must_include=facts
    ).correct
    assert not score_answer("5 steps so far.", expected, LATTE, must_include=facts).correct
    # naming a step the reference does not allow is still wrong
    wrong = score_answer("4 steps; you steamed the milk.", expected, LATTE, must_include=facts)
    assert not wrong.correct and "steam_milk" in wrong.reason


def test_a_step_name_fact_is_met_by_naming_the_step() -> None:
    facts = (("Attach filter",), ("Grind beans",))
    expected = "So far: Attach filter and Grind beans; now Move filter."
    answer = "You attached the filter and ground the beans."
    assert score_answer(answer, expected, LATTE, must_include=facts).correct
    assert not score_answer("You attached the filter.", expected, LATTE, must_include=facts).correct


def test_quoting_the_procedure_text_of_a_fact_may_name_its_steps() -> None:
    """Purge wand's description says "steam wand" (read as *Steam milk*) and "drip tray"."""
    purge = next(step for step in LATTE.steps if step.id == "purge_wand")
    answer = f"{purge.name}: {purge.description}"
    facts = (("drip tray",),)
    assert score_answer(answer, "Into the drip tray.", LATTE, must_include=facts).correct
    assert not score_answer(answer, "Into the drip tray.", LATTE).correct  # without key facts


@pytest.mark.parametrize(
    ("alternative", "answer", "met"),
    [
        ("20 seconds", "for at least 20 s", True),
        ("1 minute", "about 60 seconds", True),
        ("90 seconds", "1.5 minutes", True),
        ("20 seconds", "30 seconds", False),  # exact, not within rule 6's tolerance
        ("5 toothpicks", "five toothpicks about an inch apart", True),
        ("5 toothpicks", "five of them", False),
        ("25 s", "stop after 25-30 seconds", True),
        ("60", "about 60-65 degrees", True),
        ("60 seconds", "about 60 degrees", False),  # a duration is not a count
        ("non-stick", "a nonstick pan", False),
        ("non stick", "a non-stick pan", True),
        ("edges", "only touch its edge", True),
        ("1.5 inch", "about 1.5 inches thick", True),
        ("chopped tomato", "the chopped tomatoes", True),
    ],
)
def test_facts_match_words_and_numbers_by_value(alternative: str, answer: str, met: bool) -> None:
    assert has_fact(answer, [alternative], LATTE) is met


_WORD = st.text(alphabet="bcdfghjklmnpqrtvwxz", min_size=2, max_size=7)  # no plural "s"
_SEPARATOR = st.sampled_from([" ", ", ", " - ", "; ", "! ", " (", ") ", ": ", "... "])


@settings(max_examples=150, deadline=None)
@given(
    phrase=st.lists(_WORD, min_size=1, max_size=4),
    before=st.lists(_WORD, max_size=4),
    after=st.lists(_WORD, max_size=4),
    separators=st.lists(_SEPARATOR, min_size=12, max_size=12),
    upper=st.lists(st.booleans(), min_size=60, max_size=60),
)
def test_fact_matching_ignores_case_punctuation_and_words_around(
    phrase: list[str],
    before: list[str],
    after: list[str],
    separators: list[str],
    upper: list[bool],
) -> None:
    words = [*before, *phrase, *after]
    text = "".join(word + separators[i % len(separators)] for i, word in enumerate(words))
    text = "".join(c.upper() if upper[i % len(upper)] else c for i, c in enumerate(text))
    assert has_fact(text, [" ".join(phrase)], LATTE)
    without = [*before, *after]
    if not any(word in without for word in phrase):  # the phrase's words are gone
        assert not has_fact(" ".join(without), [" ".join(phrase)], LATTE)


@pytest.mark.parametrize(
    ("answer", "declined"),
    [
        ("Sorry, I can only help with your latte.", True),
        ("I can't answer that; I only know this recipe.", True),
        ("I don't know, I'm just here for the steps of your latte making.", True),
        ("That's outside this task, sorry.", True),
        ("Sorry, I can only help with the task: next is steam milk.", False),  # names a step
        ("Sorry!", False),  # does not point back to the task
        ("I can't tell where you are in the task yet.", False),  # a missing state
        (CANNED, False),
        ("Next: steam milk.", False),
    ],
)
def test_a_decline_says_it_cannot_help_and_points_back_to_the_task(
    answer: str, declined: bool
) -> None:
    assert declines(answer, LATTE) is declined


def test_a_question_beyond_the_task_wants_a_decline() -> None:
    reference = "Sorry, I can only help with your latte."
    question = "who won the game last night?"
    assert score_answer(
        "I can't help with that, only with this procedure.", reference, LATTE
    ).correct
    for wrong in ("Next: steam milk.", CANNED, None, ""):
        assert not score_answer(wrong, reference, LATTE, question=question).correct
    assert score_answer(CANNED, reference, LATTE).reason == "does not decline"


def test_a_decline_may_say_the_procedure_name_even_when_it_sounds_like_a_step() -> None:
    chutney = load_procedure("tasks/tomato_chutney/procedure.yaml")
    assert declines("Sorry, I can only help with your tomato chutney.", chutney)
    assert not declines("Sorry, I can only help with the tomato.", chutney)

"""The embedded answerer: answers grounded in the state, conditional when unsure."""

from __future__ import annotations

import pytest

from assistant_states import DONE, LATTE, latte_context
from prism.assistant import Assistant
from prism.assistant.facts import remaining_path
from prism.assistant.grounded import format_duration
from prism.assistant.mentions import mentioned_steps
from prism.assistant.scoring import polarity


def test_answers_are_grounded_in_the_state() -> None:
    assistant = Assistant(LATTE)
    context = latte_context()
    assert assistant.reply("where am I?", context).text == "You are on use fridge."
    assert "pour milk (jug)" in (assistant.reply("what's next?", context).text or "")
    yes = assistant.reply("did I grind the beans?", context).text or ""
    no = assistant.reply("did I steam the milk?", context).text or ""
    assert yes.startswith("Yes") and no.startswith("No")
    assert assistant.reply("what did I just finish?", context).text == (
        "You just finished brew coffee."
    )
    assert assistant.reply("ouch that's hot", context).text is None


def test_uncertain_state_gives_a_conditional_answer() -> None:
    context = latte_context(current=(("steam_milk", 0.5), ("pour_milk_jug", 0.35)))
    text = Assistant(LATTE).reply("what's next?", context).text or ""
    assert text.startswith("If you are on steam milk, next is")
    assert "if you are on pour milk (jug), next is steam milk" in text
    assert mentioned_steps(text, LATTE) <= set(LATTE.step_ids)


def test_without_state_the_state_questions_are_not_answered_as_facts() -> None:
    assistant = Assistant(LATTE)
    blind = latte_context().without_state()
    assert "can't tell" in (assistant.reply("what's next?", blind).text or "")
    how = assistant.reply("how do I attach the filter?", blind).text or ""
    assert "portafilter" in how


@pytest.mark.parametrize(
    ("question", "polarity_expected"),
    [("am I almost done?", False), ("how many steps are left?", None)],
)
def test_steps_left_answers_yes_no_questions_with_yes_or_no(
    question: str, polarity_expected: bool | None
) -> None:
    text = Assistant(LATTE).reply(question, latte_context()).text or ""
    left = len(remaining_path(LATTE, list(DONE), "use_fridge"))
    assert f"{left} steps left" in text
    assert polarity(text) is polarity_expected


def test_almost_done_near_the_end() -> None:
    done = tuple(s for s in LATTE.step_ids if s not in {"dump_grinds", "wash_filter"})
    context = latte_context(done=done[:-1], current=((done[-1], 0.95),))
    text = Assistant(LATTE).reply("am I nearly finished?", context).text or ""
    assert text.startswith("Yes")


def test_a_question_about_the_current_step_is_conditional_when_unsure() -> None:
    context = latte_context(current=(("steam_milk", 0.5), ("purge_wand", 0.4)))
    text = Assistant(LATTE).reply("how long does this take?", context).text or ""
    assert text.startswith("If you are on steam milk, about 45 seconds")
    assert "if you are on purge wand" in text


def test_a_named_step_wins_ties_for_the_step_the_user_is_on() -> None:
    context = latte_context(current=(("pour_milk_cup", 0.9),))
    reply = Assistant(LATTE).reply("did I pour the milk?", context)
    assert reply.steps == ("pour_milk_cup",) and (reply.text or "").startswith("Yes")


def test_a_thing_that_is_not_a_step_is_not_invented() -> None:
    text = Assistant(LATTE).reply("did I add the sugar?", latte_context()).text or ""
    assert "not a step" in text and not mentioned_steps(text, LATTE)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(4.2, "about 4 seconds"), (95.0, "about 95 seconds"), (150.0, "about 2.5 minutes")],
)
def test_durations_are_spoken_rounded(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text

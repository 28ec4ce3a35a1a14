"""Free-form questions end to end: details quoted from the procedure's text, history,
missed and skipped steps, problems, and questions beyond the task.

Phrasings are written here by hand (see ``assistant_probes.py``), across procedures; they
check the kind of answer, not one wording.
"""

from __future__ import annotations

import pytest

from assistant_probes import DETAIL_PROBES, Probe
from assistant_states import LATTE, WOUND, latte_context
from prism.assistant import Assistant, AssistantContext
from prism.assistant.mentions import mentioned_steps
from prism.assistant.scoring import polarity
from prism.procedure.io import load_procedure

_KNOWN_MISSES = {
    "where do I hold the wand tip in the milk": "the wiping sentence shares wand and tip",
    "how do I get the foam glossy": "foam is read as steam: the steaming step is named",
    "how do I take the gloves off": "the gloves are named by the step that puts them on",
    "when is a wound too serious to treat at home": "no word in common with 'deep or gaping'",
    "how do I know the pizza is ready": "'ready' is 'bubbling' only by meaning",
    "how many meatballs": "the step named by 'meatballs' is another one",
    "how much soy sauce": "the step named by 'sauce' is another one",
}


def _probe_cases() -> list[object]:
    return [
        pytest.param(
            probe,
            id=probe.question,
            marks=[pytest.mark.xfail(reason=_KNOWN_MISSES[probe.question], strict=True)]
            if probe.question in _KNOWN_MISSES
            else [],
        )
        for probe in DETAIL_PROBES
    ]


@pytest.mark.parametrize("probe", _probe_cases())
def test_a_detail_is_quoted_from_its_steps_text(probe: Probe) -> None:
    procedure = load_procedure(f"tasks/{probe.task}/procedure.yaml")
    reply = Assistant(procedure).reply(probe.question, AssistantContext(procedure))
    assert probe.phrase.lower() in (reply.text or "").lower()
    assert probe.step is None or probe.step in reply.steps


DONE = ("attach_filter", "grind_beans", "move_filter", "place_cup", "brew_coffee", "steam_milk")
"""Purge wand, a must-not-skip step, skipped: the user is on remove cup."""


@pytest.mark.parametrize(
    ("question", "step"),
    [
        ("Which step did I finish last?", "steam_milk"),
        ("what did I do before this", "steam_milk"),
        ("what was the previous one", "steam_milk"),
    ],
)
def test_the_last_finished_step_not_the_current_one(question: str, step: str) -> None:
    context = latte_context(done=DONE, current=(("remove_cup", 0.9),))
    reply = Assistant(LATTE).reply(question, context)
    assert reply.steps == (step,)


@pytest.mark.parametrize(
    "question", ["How many steps are behind me?", "how many have I done", "how many are finished"]
)
def test_steps_done_are_counted(question: str) -> None:
    context = latte_context(done=DONE, current=(("remove_cup", 0.9),))
    reply = Assistant(LATTE).reply(question, context)
    assert "6 steps" in (reply.text or "") and not reply.steps


def test_which_steps_are_left_are_named() -> None:
    context = latte_context(done=DONE, current=(("remove_cup", 0.9),))
    reply = Assistant(LATTE).reply("what else do I still have to do?", context)
    assert "wash_filter" in reply.steps and "remove_cup" in reply.steps  # named as "after"


@pytest.mark.parametrize("question", ["Have I missed a step?", "anything I forgot?"])
def test_a_skipped_must_not_skip_step_is_missed(question: str) -> None:
    done = (*DONE, "remove_cup", "pour_milk_cup")
    context = latte_context(done=done, current=(("get_towel", 0.9),))
    reply = Assistant(LATTE).reply(question, context)
    assert reply.steps == ("purge_wand",)


@pytest.mark.parametrize(
    ("question", "allowed", "why"),
    [
        ("Can I leave out purging the wand?", False, "dry"),
        ("is it ok if I don't clean the wand", False, "dries"),
        ("do I really need to grind the beans?", True, "brew coffee"),  # yes: needed
        ("can I skip adjusting the grind", True, "optional"),
    ],
)
def test_skipping_is_answered_from_the_procedure(question: str, allowed: bool, why: str) -> None:
    reply = Assistant(LATTE).reply(question, latte_context())
    assert polarity(reply.text or "") is allowed
    assert why in (reply.text or "")


@pytest.mark.parametrize(
    "question",
    [
        "what if it keeps bleeding?",
        "it's been ten minutes and it is still bleeding",
        "it won't stop bleeding, what do I do",
    ],
)
def test_a_problem_gets_the_notes_advice_not_the_next_step(question: str) -> None:
    """Asked ("what if ...?") or told ("it's still bleeding"): the notes' advice."""
    context = latte_context(WOUND, done=("wash_hands",), current=(("apply_pressure", 0.9),))
    reply = Assistant(WOUND).reply(question, context)
    assert "bleed" in (reply.text or "").lower()
    assert not (reply.text or "").startswith("Next")


@pytest.mark.parametrize(
    "question",
    [
        "who won the game last night?",
        "tell me a joke",
        "what's the capital of Australia",
        "is it going to rain this afternoon?",
        "what time is it",
    ],
)
def test_a_question_beyond_the_task_is_declined_in_one_sentence(question: str) -> None:
    reply = Assistant(LATTE).reply(question, latte_context())
    assert reply.text == "Sorry, I can only help with the steps of this task."
    assert not mentioned_steps(reply.text, LATTE)


@pytest.mark.parametrize(
    "utterance",
    [
        "honey, pass the salt",
        "ouch that's hot",
        "the cat's on the counter again",
        "there's milk on the floor",  # a problem, but the procedure has nothing on it
    ],
)
def test_talk_not_for_the_assistant_gets_no_answer(utterance: str) -> None:
    assert Assistant(LATTE).reply(utterance, latte_context()).text is None


@pytest.mark.parametrize(
    "question",
    [
        "how full should the jug be?",
        "is the milk supposed to be cold?",
        "what do I do with the towel afterwards",
        "any tips for this?",
        "which direction?",
        "can I use oat milk instead?",
        "is it done yet?",
        "what temperature?",
    ],
)
def test_a_question_for_the_assistant_always_gets_an_answer(question: str) -> None:
    for context in (latte_context(), latte_context().without_state()):
        text = Assistant(LATTE).reply(question, context).text
        assert text is not None and text.strip()


def test_a_weak_match_says_it_is_unsure() -> None:
    text = Assistant(LATTE).reply("can I use oat milk instead?", latte_context()).text or ""
    assert text.startswith("I'm not sure, but")


def test_a_weak_question_about_this_is_answered_for_the_current_step() -> None:
    context = latte_context(WOUND, done=("wash_hands",), current=(("pat_dry", 0.9),))
    text = Assistant(WOUND).reply("what do I need for this?", context).text or ""
    assert text.startswith("I'm not sure, but for pat dry:")


def test_order_questions() -> None:
    context = latte_context()
    assistant = Assistant(LATTE)
    assert assistant.reply("what's step three?", context).steps == ("grind_beans",)
    assert assistant.reply("what's the very first step?", context).steps == (
        "attach_filter",
        "use_fridge",
    )
    assert assistant.reply("what is the final step", context).steps == ("wash_filter",)
    text = assistant.reply("do I steam the milk or brew the coffee first?", context).text
    assert text == "First brew the coffee, then steam the milk."
    total = assistant.reply("how many steps are there in this recipe?", context).text or ""
    assert "19 steps" in total

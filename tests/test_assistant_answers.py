"""Assistant: question understanding, grounded answers, corrections, scoring."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prism.assistant import (
    Assistant,
    AssistantContext,
    DoneStep,
    IntentKind,
    SessionAssistant,
    StepBelief,
    understand,
)
from prism.assistant.facts import missed_steps, next_steps, remaining_path
from prism.assistant.grounded import format_duration
from prism.assistant.mentions import IRREGULAR_FORMS, mentioned_steps, rank_steps, stem
from prism.assistant.scoring import polarity, quantities, score_answer
from prism.procedure.io import load_procedure
from prism.procedure.model import Procedure
from prism.tracker import StepTracker

LATTE = load_procedure("tasks/latte_making/procedure.yaml")
WOUND = load_procedure("tasks/wound_care/procedure.yaml")
DONE = ("attach_filter", "grind_beans", "move_filter", "place_cup", "brew_coffee")


def _context(
    procedure: Procedure = LATTE,
    done: tuple[str, ...] = DONE,
    current: tuple[tuple[str | None, float], ...] = (("use_fridge", 0.9),),
) -> AssistantContext:
    return AssistantContext(
        procedure,
        done=tuple(DoneStep(s) for s in done),
        current=tuple(StepBelief(s, p) for s, p in current),
        elapsed_s=60.0,
    )


@pytest.mark.parametrize(
    ("utterance", "kind", "step"),
    [
        ("what's next?", IntentKind.NEXT, None),
        ("ok what do I do after this", IntentKind.NEXT, None),
        ("next step please", IntentKind.NEXT, None),
        ("where am I", IntentKind.CURRENT, None),
        ("which step am I on?", IntentKind.CURRENT, None),
        ("did I already grind the beans?", IntentKind.DID_I, "grind_beans"),
        ("have I frothed the milk yet", IntentKind.DID_I, "steam_milk"),
        ("did I forget to purge the wand?", IntentKind.DID_I, "purge_wand"),
        ("what did I just do", IntentKind.JUST_FINISHED, None),
        ("did I forget anything?", IntentKind.MISSED, None),
        ("how many more steps", IntentKind.STEPS_LEFT, None),
        ("am I almost done", IntentKind.STEPS_LEFT, None),
        ("how long until I'm finished", IntentKind.TIME_LEFT, None),
        ("how long do I steam the milk?", IntentKind.STEP_DURATION, "steam_milk"),
        ("how do I attach the filter", IntentKind.HOW_TO, "attach_filter"),
        ("why do I need to purge the wand", IntentKind.PURPOSE, "purge_wand"),
        ("I already poured the milk", IntentKind.CORRECT_DONE, None),  # jug or cup: asked
        ("I'm steaming the milk now", IntentKind.CORRECT_AT, "steam_milk"),
        ("I haven't ground the beans yet", IntentKind.CORRECT_NOT_DONE, "grind_beans"),
        ("what's left to do?", IntentKind.STEPS_LEFT, None),
        ("what do I need to do now", IntentKind.NEXT, None),
        ("what step is after place cup", IntentKind.NEXT, "place_cup"),
        ("have I finished grinding", IntentKind.DID_I, "grind_beans"),
        ("what have I done so far", IntentKind.HISTORY, None),
        ("sorry, can you repeat that", IntentKind.REPEAT, None),
        ("ouch, this is hot", IntentKind.NONE, None),
        ("honey can you pass the salt", IntentKind.NONE, None),
        ("where did I put the spoon", IntentKind.NONE, None),
        ("hmm ok", IntentKind.NONE, None),
        ("...", IntentKind.NONE, None),
    ],
)
def test_understanding(utterance: str, kind: IntentKind, step: str | None) -> None:
    intent = understand(utterance, LATTE)
    assert intent.kind == kind
    if step is not None:
        assert intent.step == step


def test_next_skips_done_steps_and_follows_the_graph() -> None:
    following = next_steps(LATTE, list(DONE), "use_fridge")
    assert following.steps == tuple(
        s
        for s, p in LATTE.transitions["use_fridge"].items()
        if p >= 0.15 and s not in DONE and s != "end"
    )
    assert not following.may_end


def test_answers_are_grounded_in_the_state() -> None:
    assistant = Assistant(LATTE)
    context = _context()
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
    context = _context(current=(("steam_milk", 0.5), ("pour_milk_jug", 0.35)))
    text = Assistant(LATTE).reply("what's next?", context).text or ""
    assert text.startswith("If you are on steam milk, next is")
    assert "if you are on pour milk (jug), next is steam milk" in text
    assert mentioned_steps(text, LATTE) <= set(LATTE.step_ids)


def test_missed_steps_need_a_later_step_done() -> None:
    assert missed_steps(LATTE, ["attach_filter", "move_filter"], "place_cup") == []
    skipped = missed_steps(LATTE, ["attach_filter", "move_filter", "place_cup"], "remove_cup")
    assert skipped == ["brew_coffee"]  # the required step (must_not_skip) passed


def test_without_state_the_state_questions_are_not_answered_as_facts() -> None:
    assistant = Assistant(LATTE)
    blind = _context().without_state()
    assert "can't tell" in (assistant.reply("what's next?", blind).text or "")
    how = assistant.reply("how do I attach the filter?", blind).text or ""
    assert "portafilter" in how


def test_remaining_path_ends_and_never_repeats() -> None:
    path = remaining_path(LATTE, list(DONE), "use_fridge")
    assert len(path) == len(set(path))
    assert not set(path) & {*DONE, "use_fridge"}


def test_correction_is_applied_to_a_live_tracker_and_confirmed() -> None:
    tracker = StepTracker(WOUND)
    session = SessionAssistant(tracker)
    reply = session.ask("I already washed my hands")
    assert reply.correction is not None and reply.correction.kind == "done"
    index = WOUND.step_index(reply.correction.step)
    assert tracker.state().done_probabilities[index] == pytest.approx(1.0)
    assert reply.text is not None and reply.text.startswith("OK")
    assert len(session.dialogue) == 1


def test_ambiguous_correction_asks_which_step() -> None:
    reply = Assistant(LATTE).reply("I already poured the milk", _context())
    # "pour milk (jug)" and "pour milk (cup)" both fit: ask, do not guess
    if reply.correction is None:
        assert reply.text is not None and reply.text.startswith("Do you mean")
        assert set(reply.steps) == {"pour_milk_jug", "pour_milk_cup"}
    else:
        assert reply.correction.step in {"pour_milk_jug", "pour_milk_cup"}


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


ALL_TASKS = [load_procedure(path) for path in sorted(Path("tasks").glob("*/procedure.yaml"))]
UNIQUELY_NAMED = [
    (procedure, step.id)
    for procedure in ALL_TASKS
    for step in procedure.steps
    if [s.name for s in procedure.steps].count(step.name) == 1
]


@given(st.sampled_from(UNIQUELY_NAMED))
def test_a_step_name_mentions_exactly_that_step(case: tuple[Procedure, str]) -> None:
    procedure, step = case
    name = procedure.step(step).name
    assert mentioned_steps(f"Next: {name}.", procedure) == {step}
    assert mentioned_steps(f"Yes, {name.lower()} is done, ok?", procedure) == {step}


@given(st.sampled_from(LATTE.step_ids + WOUND.step_ids))
def test_a_step_name_ranks_that_step_first(step: str) -> None:
    procedure = LATTE if step in LATTE.step_ids else WOUND
    assert rank_steps(procedure.step(step).name, procedure)[0].step == step


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12))
def test_stem_never_grows_and_is_stable_on_short_words(word: str) -> None:
    stemmed = stem(word)
    assert len(stemmed) <= len(word) or word in IRREGULAR_FORMS
    if len(word) <= 3:  # too short for a suffix: only irregular forms change
        assert stemmed == IRREGULAR_FORMS.get(word, word)


@pytest.mark.parametrize(
    ("question", "polarity_expected"),
    [("am I almost done?", False), ("how many steps are left?", None)],
)
def test_steps_left_answers_yes_no_questions_with_yes_or_no(
    question: str, polarity_expected: bool | None
) -> None:
    text = Assistant(LATTE).reply(question, _context()).text or ""
    left = len(remaining_path(LATTE, list(DONE), "use_fridge"))
    assert f"{left} steps left" in text
    assert polarity(text) is polarity_expected


def test_almost_done_near_the_end() -> None:
    done = tuple(s for s in LATTE.step_ids if s not in {"dump_grinds", "wash_filter"})
    context = _context(done=done[:-1], current=((done[-1], 0.95),))
    text = Assistant(LATTE).reply("am I nearly finished?", context).text or ""
    assert text.startswith("Yes")


def test_a_question_about_the_current_step_is_conditional_when_unsure() -> None:
    context = _context(current=(("steam_milk", 0.5), ("purge_wand", 0.4)))
    text = Assistant(LATTE).reply("how long does this take?", context).text or ""
    assert text.startswith("If you are on steam milk, about 45 seconds")
    assert "if you are on purge wand" in text


def test_a_named_step_wins_ties_for_the_step_the_user_is_on() -> None:
    context = _context(current=(("pour_milk_cup", 0.9),))
    reply = Assistant(LATTE).reply("did I pour the milk?", context)
    assert reply.steps == ("pour_milk_cup",) and (reply.text or "").startswith("Yes")


def test_a_thing_that_is_not_a_step_is_not_invented() -> None:
    text = Assistant(LATTE).reply("did I add the sugar?", _context()).text or ""
    assert "not a step" in text and not mentioned_steps(text, LATTE)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(4.2, "about 4 seconds"), (95.0, "about 95 seconds"), (150.0, "about 2.5 minutes")],
)
def test_durations_are_spoken_rounded(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_history_and_repeat_use_the_state_and_the_dialogue() -> None:
    tracker = StepTracker(LATTE)
    session = SessionAssistant(tracker)
    assert session.ask("can you repeat that?").text == "I have not said anything yet."
    first = session.ask("where am I?").text
    assert session.ask("say that again").text == first
    context = _context()
    text = Assistant(LATTE).reply("what have I done so far?", context).text or ""
    assert mentioned_steps(text, LATTE) == set(DONE)

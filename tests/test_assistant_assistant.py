"""A session's assistant: corrections applied to the tracker, history, repeats."""

from __future__ import annotations

import pytest

from assistant_states import DONE, LATTE, WOUND, latte_context
from prism.assistant import Assistant, SessionAssistant
from prism.assistant.mentions import mentioned_steps
from prism.tracker import StepTracker


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
    reply = Assistant(LATTE).reply("I already poured the milk", latte_context())
    # "pour milk (jug)" and "pour milk (cup)" both fit: ask, do not guess
    if reply.correction is None:
        assert reply.text is not None and reply.text.startswith("Do you mean")
        assert set(reply.steps) == {"pour_milk_jug", "pour_milk_cup"}
    else:
        assert reply.correction.step in {"pour_milk_jug", "pour_milk_cup"}


def test_history_and_repeat_use_the_state_and_the_dialogue() -> None:
    tracker = StepTracker(LATTE)
    session = SessionAssistant(tracker)
    assert session.ask("can you repeat that?").text == "I have not said anything yet."
    first = session.ask("where am I?").text
    assert session.ask("say that again").text == first
    context = latte_context()
    text = Assistant(LATTE).reply("what have I done so far?", context).text or ""
    assert mentioned_steps(text, LATTE) == set(DONE)

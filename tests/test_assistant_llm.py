"""The LLM layer through the real openai client against a local HTTP endpoint.

A small OpenAI-compatible server (the ``openai_stub`` fixture of ``conftest.py``) answers
with a scripted reply, an HTTP error or a delay, so the client, its timeout and retries
and the fallback to the grounded answer are exercised for real.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from conftest import OpenAIStub
from prism.assistant import (
    Assistant,
    AssistantContext,
    DoneStep,
    LLMPhraser,
    StepBelief,
)
from prism.assistant.grounded import answer_intent
from prism.assistant.intents import understand
from prism.assistant.llm import agrees_with, build_messages
from prism.procedure.io import load_procedure
from prism.settings import LLMSettings, Settings

LATTE = load_procedure("tasks/latte_making/procedure.yaml")
CONTEXT = AssistantContext(
    LATTE,
    done=tuple(DoneStep(s) for s in ("attach_filter", "grind_beans", "move_filter")),
    current=(StepBelief("place_cup", 0.9),),
)


def _assistant(url: str, **settings: Any) -> Assistant:
    config = LLMSettings(base_url=url, model="local", timeout_s=1.0, retries=0, **settings)
    return Assistant(LATTE, llm=LLMPhraser(config))


def test_a_faithful_llm_reply_is_used(openai_stub: OpenAIStub) -> None:
    openai_stub.script = {"text": "Now brew coffee."}
    reply = _assistant(openai_stub.url).reply("what's next?", CONTEXT)
    assert reply.source == "llm" and reply.text == "Now brew coffee."
    prompt = openai_stub.requests[0]["messages"][1]["content"]
    assert "Finished steps, in order: attach filter, grind beans, move filter." in prompt
    assert "Next: brew coffee." in prompt


@pytest.mark.parametrize(
    ("script", "why"),
    [
        ({"text": "Next, steam the milk."}, "names another step"),
        ({"text": ""}, "empty"),
        ({"status": 500}, "server error"),
        ({"delay_s": 2.0, "text": "Now brew coffee."}, "timeout"),
    ],
    ids=["contradiction", "empty", "http-500", "timeout"],
)
def test_a_failing_llm_falls_back_to_the_grounded_answer(
    openai_stub: OpenAIStub, script: dict[str, Any], why: str
) -> None:
    openai_stub.script = script
    assistant = _assistant(openai_stub.url)
    started = time.perf_counter()
    reply = assistant.reply("what's next?", CONTEXT)
    assert reply.source == "grounded", why
    assert reply.text == "Next: brew coffee."
    assert time.perf_counter() - started < 5.0  # bounded by the timeout, no hang
    assert assistant.llm is not None and assistant.llm.failures


def test_unreachable_endpoint_falls_back() -> None:
    assistant = _assistant("http://127.0.0.1:9/v1")  # discard port: connection refused
    assert assistant.reply("where am I?", CONTEXT).text == "You are on place cup."


def test_agreement_checks_polarity_and_numbers() -> None:
    grounded = answer_intent(understand("did I grind the beans?", LATTE), CONTEXT)
    assert agrees_with("Yes, the beans are ground.", grounded, CONTEXT)
    assert not agrees_with("No, grind the beans first.", grounded, CONTEXT)
    duration = answer_intent(understand("how long does brewing take?", LATTE), CONTEXT)
    assert agrees_with("Brewing the coffee takes about 28 s.", duration, CONTEXT)
    assert not agrees_with("Brew coffee takes about 2 minutes.", duration, CONTEXT)


def test_prompt_without_state_says_so() -> None:
    grounded = answer_intent(understand("what's next?", LATTE), CONTEXT.without_state())
    prompt = build_messages("what's next?", CONTEXT.without_state(), grounded)[1]["content"]
    assert "Where the user is: unknown." in prompt


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRISM_LLM_BASE_URL", "http://127.0.0.1:8080/v1")
    monkeypatch.setenv("PRISM_LLM_TIMEOUT_S", "2.5")
    settings = Settings().llm
    assert settings.enabled and settings.timeout_s == 2.5
    monkeypatch.delenv("PRISM_LLM_BASE_URL")
    assert not Settings().llm.enabled


def test_a_detail_question_sends_the_procedures_sentences(openai_stub: OpenAIStub) -> None:
    openai_stub.script = {"text": "Stop at about 60-65 °C, when the jug is too hot to hold."}
    context = AssistantContext(LATTE, current=(StepBelief("steam_milk", 0.9),))
    reply = _assistant(openai_stub.url).reply("how hot should the milk get?", context)
    prompt = openai_stub.requests[0]["messages"][1]["content"]
    assert "What the procedure's text says on this question:" in prompt
    assert "(about 60-65 °C)" in prompt  # the steam milk sentence, quoted
    assert "Current step (tracker's belief): steam milk (90%)." in prompt
    assert reply.source == "llm"  # its step left unnamed, its number kept: agrees


@pytest.mark.parametrize(
    "text",
    ["Heat the milk to about 80 °C.", "Next, purge the wand and stop at 60 °C."],
    ids=["changed-number", "other-step"],
)
def test_a_detail_reply_that_changes_a_fact_is_not_used(openai_stub: OpenAIStub, text: str) -> None:
    openai_stub.script = {"text": text}
    context = AssistantContext(LATTE, current=(StepBelief("steam_milk", 0.9),))
    reply = _assistant(openai_stub.url).reply("how hot should the milk get?", context)
    assert reply.source == "grounded" and "60-65 °C" in (reply.text or "")


def test_an_out_of_scope_question_is_declined_without_the_llm(openai_stub: OpenAIStub) -> None:
    openai_stub.script = {"text": "The Titanic sank in 1912."}
    reply = _assistant(openai_stub.url).reply("what year did the Titanic sink?", CONTEXT)
    assert reply.text == "Sorry, I can only help with the steps of this task."
    assert not openai_stub.requests

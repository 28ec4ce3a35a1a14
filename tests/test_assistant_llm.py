"""The LLM layer through the real openai client against a local HTTP endpoint.

A small OpenAI-compatible server (http.server on 127.0.0.1, one thread) answers with a
scripted reply, an HTTP error or a delay, so the client, its timeout and retries and the
fallback to the grounded answer are exercised for real.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from prism.assistant import (
    Assistant,
    AssistantContext,
    DoneStep,
    LLMPhraser,
    LLMSettings,
    StepBelief,
)
from prism.assistant.grounded import answer_intent
from prism.assistant.intents import understand
from prism.assistant.llm import agrees_with, build_messages
from prism.procedure.io import load_procedure

LATTE = load_procedure("tasks/latte_making/procedure.yaml")
CONTEXT = AssistantContext(
    LATTE,
    done=tuple(DoneStep(s) for s in ("attach_filter", "grind_beans", "move_filter")),
    current=(StepBelief("place_cup", 0.9),),
)


class _Handler(BaseHTTPRequestHandler):
    script: ClassVar[dict[str, Any]] = {}
    requests: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(body)
        time.sleep(self.script.get("delay_s", 0.0))
        status = self.script.get("status", 200)
        reply = {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": self.script.get("text", "")},
                }
            ],
        }
        payload = json.dumps(reply if status == 200 else {"error": {"message": "boom"}})
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload.encode())
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            return


@pytest.fixture
def endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Handler.script = {}
    _Handler.requests = []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def _assistant(url: str, **settings: Any) -> Assistant:
    config = LLMSettings(base_url=url, model="local", timeout_s=1.0, retries=0, **settings)
    return Assistant(LATTE, llm=LLMPhraser(config))


def test_a_faithful_llm_reply_is_used(endpoint: str) -> None:
    _Handler.script = {"text": "Now brew coffee."}
    reply = _assistant(endpoint).reply("what's next?", CONTEXT)
    assert reply.source == "llm" and reply.text == "Now brew coffee."
    prompt = _Handler.requests[0]["messages"][1]["content"]
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
    endpoint: str, script: dict[str, Any], why: str
) -> None:
    _Handler.script = script
    assistant = _assistant(endpoint)
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
    settings = LLMSettings()
    assert settings.enabled and settings.timeout_s == 2.5
    monkeypatch.delenv("PRISM_LLM_BASE_URL")
    assert not LLMSettings().enabled

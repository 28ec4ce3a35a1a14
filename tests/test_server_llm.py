"""The service's answers phrased by a configured LLM (a local OpenAI-compatible stub),
outside the pipeline: the session's stream goes on while the LLM thinks, and a failing
or contradicting LLM leaves the grounded answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from conftest import OpenAIStub, service_settings
from prism.data.recording import read_recording
from prism.protocol import SensorFrame, encode_frame
from prism.server.app import create_app
from prism.settings import LLMSettings
from prism.watch.replay import sensor_frames

FRAMES = sensor_frames(read_recording(Path("datasets/demo/latte_making-s000")))
QUESTION = "how do I grind the beans?"


def _frame(seq: int) -> bytes:
    frame = FRAMES[seq - 1]
    return encode_frame(SensorFrame(frame.kind, seq, frame.t0, frame.rate, frame.samples))


def _until_answer(ws: WebSocketTestSession) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    before = []
    while (message := ws.receive_json())["type"] != "answer":
        before.append(message)
    return message, before


def _ask(stub: OpenAIStub) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
    """Stream 50 frames, ask, stream 100 more; the answer, what came before it, metrics."""
    llm = LLMSettings(base_url=stub.url, model="local", timeout_s=1.5, retries=0)
    settings = service_settings(
        admin_token="admin", database=":memory:", warm_up_sessions=0, llm=llm
    )
    with TestClient(create_app(settings)) as client:
        admin = {"Authorization": "Bearer admin"}
        token = client.post("/v1/devices", json={"name": "w"}, headers=admin).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        made = client.post("/v1/sessions", json={"procedure": "latte_making"}, headers=auth)
        session_id = made.json()["session_id"]
        with client.websocket_connect(f"/v1/sessions/{session_id}/stream?token={token}") as ws:
            ws.send_json({"type": "hello", "seq": 1, "protocol": 1})
            ws.receive_json()
            for seq in range(1, 51):
                ws.send_bytes(_frame(seq))
            ws.send_json({"type": "question", "seq": 51, "text": QUESTION, "t": 10.0})
            for seq in range(52, 152):
                ws.send_bytes(_frame(seq - 1))  # the recording goes on after the question
            answer, before = _until_answer(ws)
        return answer, before, client.get("/metrics").text


def test_a_faithful_llm_phrases_the_answer_while_the_stream_goes_on(
    openai_stub: OpenAIStub,
) -> None:
    openai_stub.script = {"text": "Put the beans in the grinder and grind them.", "delay_s": 0.8}
    answer, before, metrics = _ask(openai_stub)
    assert answer["source"] == "llm"
    assert answer["text"] == "Put the beans in the grinder and grind them."
    prompt = openai_stub.requests[0]["messages"][1]["content"]
    assert "grinder button" in prompt  # the grounded facts went to the LLM
    # frames sent after the question were classified before the slow answer came
    assert any(m["type"] == "step" and (m.get("in_seq") or 0) > 51 for m in before)
    assert "prism_llm_answers_total 1" in metrics


def test_a_contradicting_or_failing_llm_leaves_the_grounded_answer(
    openai_stub: OpenAIStub,
) -> None:
    for script in ({"text": "Next, steam the milk."}, {"status": 500}, {"delay_s": 3.0}):
        openai_stub.script = script
        answer, _, metrics = _ask(openai_stub)
        assert answer["source"] == "grounded", script
        assert answer["text"].startswith("To grind beans: press the grinder button")
        assert "prism_llm_fallbacks_total 1" in metrics

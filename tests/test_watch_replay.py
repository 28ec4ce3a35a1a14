"""The replay client against a real uvicorn server on 127.0.0.1 (bounded, stops by itself)."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.asyncio.server import ServerConnection

from conftest import free_port
from prism.data.recording import read_recording
from prism.watch.replay import (
    Numbering,
    ReplayError,
    ReplayQuestion,
    ReplayResult,
    replay,
    sensor_frames,
)
from prism.watch.session import SessionRequestError, open_session

ADMIN_TOKEN = "admin-secret"  # the live_server fixture's (conftest)
RECORDING = read_recording(Path("datasets/demo/latte_making-s000"))


def test_frames_cover_the_recording_in_time_order() -> None:
    frames = sensor_frames(RECORDING, chunk_s=0.2)
    ends = [f.end_s for f in frames]
    assert ends == sorted(ends)
    assert RECORDING.audio is not None
    assert sum(len(f.samples) for f in frames if f.kind == 2) == RECORDING.audio.size


def test_replay_streams_a_session_and_gets_steps_and_an_answer(live_server: str) -> None:
    server = live_server
    token, session = open_session(f"http://{server}", ADMIN_TOKEN, "latte_making")
    url = f"ws://{server}/v1/sessions/{session}/stream"
    question = ReplayQuestion(at_s=20.0, text="what's next?")
    result = asyncio.run(replay(url, token, RECORDING, speed=None, questions=(question,)))
    assert result.frames_sent == len(sensor_frames(RECORDING))
    steps = result.of_type("step")
    assert len({s["current"] for s in steps}) >= 3
    assert steps[-1]["final"]
    assert result.of_type("answer")[0]["text"]
    assert not result.of_type("error")
    with httpx.Client(base_url=f"http://{server}") as http:
        state = http.get(
            f"/v1/sessions/{session}", headers={"Authorization": f"Bearer {token}"}
        ).json()
    assert state["time_s"] > 0.8 * RECORDING.annotation.duration


def test_a_typed_question_is_answered_at_the_point_it_was_asked(live_server: str) -> None:
    """Streamed as fast as it goes, the frames sent after the question do not reach the
    answer: it says where the user was when they asked, every time."""
    server = live_server
    answers = []
    for _ in range(3):
        token, session = open_session(f"http://{server}", ADMIN_TOKEN, "latte_making")
        url = f"ws://{server}/v1/sessions/{session}/stream"
        question = ReplayQuestion(at_s=15.0, text="where am I?")
        result = asyncio.run(replay(url, token, RECORDING, speed=None, questions=(question,)))
        answer = result.of_type("answer")[0]
        assert answer["t"] <= 15.0
        answers.append(answer["text"])
    assert answers[0] and len(set(answers)) == 1


def test_replay_with_a_wrong_token_fails_clearly(live_server: str) -> None:
    server = live_server
    _, session = open_session(f"http://{server}", ADMIN_TOKEN, "latte_making")
    url = f"ws://{server}/v1/sessions/{session}/stream"
    with pytest.raises(ReplayError, match="refused"):
        asyncio.run(replay(url, "wrong", RECORDING, speed=None))


def test_cli_replay_prints_steps_and_the_answer(live_server: str) -> None:
    server = live_server
    from typer.testing import CliRunner

    from prism.cli import app

    result = CliRunner().invoke(
        app,
        [
            "watch", "replay", "datasets/demo/latte_making-s000",
            "--server", f"http://{server}", "--admin-token", "admin-secret",
            "--speed", "max", "--question", "where am I?", "--question-at", "15",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "step:" in result.output
    assert re.search(r"Q: where am I\?  A: \S", result.output), result.output
    bad = CliRunner().invoke(
        app, ["watch", "replay", "datasets/demo/latte_making-s000", "--server",
              f"http://{server}", "--admin-token", "wrong"],
    )  # fmt: skip
    assert bad.exit_code == 1 and "registering a device failed (401)" in bad.output


def test_serve_demo_runs_the_service_and_a_spoken_question() -> None:
    from typer.testing import CliRunner

    from prism.cli import app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = CliRunner().invoke(app, ["serve", "--demo", "--speed", "0", "--port", str(port)])
    assert result.exit_code == 0, result.output
    assert f"PrISM service on http://127.0.0.1:{port}" in result.output
    assert "step: grind_beans" in result.output
    assert "Q: " in result.output  # the spoken question was answered (wording may vary)


def test_an_unreachable_or_refusing_service_fails_clearly(live_server: str) -> None:
    nowhere = f"127.0.0.1:{free_port()}"
    with pytest.raises(SessionRequestError, match=f"cannot reach the service at http://{nowhere}"):
        open_session(f"http://{nowhere}", ADMIN_TOKEN, "latte_making")
    with pytest.raises(SessionRequestError, match=r"registering a device failed \(401\)"):
        open_session(f"http://{live_server}", "wrong", "latte_making")
    url = f"ws://{nowhere}/v1/sessions/ses-x/stream"
    with pytest.raises(ReplayError, match="cannot connect to"):
        asyncio.run(replay(url, "token", RECORDING, speed=None))


def test_numbering_reuses_a_refused_seq_only() -> None:
    numbers = Numbering(4)
    assert [numbers.take(), numbers.take(), numbers.take()] == [4, 5, 6]
    for ignored in (
        {"type": "error", "code": 4004, "ref_seq": 5},  # a duplicate: that number is used
        {"type": "error", "code": 4003, "ref_seq": 5},  # a gap: resent, numbered on
        {"type": "error", "code": 4000, "ref_seq": None},  # about an accepted message
        {"type": "error", "code": 4000, "ref_seq": 9},  # not sent yet
        {"type": "error", "code": 4000, "ref_seq": True},
    ):
        numbers.refused(ignored)
        assert numbers.next_seq == 7
    numbers.refused({"type": "error", "code": 4005, "ref_seq": 5})
    assert [numbers.take(), numbers.take()] == [5, 6]


def test_replay_sends_the_next_message_with_a_refused_seq() -> None:
    """Against a stand-in server whose welcome has a ``recording`` field and which refuses
    the watch's first frame."""
    received: list[int] = []
    refused: list[int] = []

    async def serve(ws: ServerConnection) -> None:
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello"
        welcome = {"type": "welcome", "seq": 0, "session_id": "ses-x", "protocol": 1,
                   "next_seq": 1, "resume_from": 0, "recording": True}  # fmt: skip
        await ws.send(json.dumps(welcome))
        async for raw in ws:
            seq = int.from_bytes(raw[4:8], "little") if isinstance(raw, bytes) else None
            message = {} if isinstance(raw, bytes) else json.loads(raw)
            received.append(seq if seq is not None else message["seq"])
            if seq is not None and not refused:
                refused.append(seq)
                error = {"type": "error", "seq": 0, "code": 4005, "ref_seq": seq, "message": "x"}
                await ws.send(json.dumps(error))
            if message.get("type") == "end":
                await ws.send(json.dumps({"type": "step", "seq": 1, "final": True}))

    async def run() -> ReplayResult:
        async with websockets.serve(serve, "127.0.0.1", 0) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            url = f"ws://127.0.0.1:{port}/v1/sessions/ses-x/stream"
            # paced (fast): the refusal arrives while frames are still to be sent
            return await replay(url, "token", RECORDING, speed=200.0, final_timeout_s=5.0)

    result = asyncio.run(run())
    assert result.of_type("step")[-1]["final"]
    assert refused == [1]
    again = received.index(1, 1)  # the refused number comes again, then goes on by one
    assert received[again:] == list(range(1, len(received) - again + 1))

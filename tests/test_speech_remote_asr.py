"""Transcription at an OpenAI-compatible endpoint: a real HTTP server, the real openai client."""

from __future__ import annotations

import email.parser
import email.policy
import io
import json
import threading
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from typer.testing import CliRunner

from prism.cli import app
from prism.settings import AsrSettings
from prism.speech import (
    TYPICAL_QUESTIONS,
    RemoteTranscriber,
    SpeechBackendError,
    SpeechInputError,
    Transcriber,
    espeak_available,
    make_transcriber,
)
from prism.speech.remote_asr import wav_bytes


@dataclass
class Endpoint:
    """A transcription server on 127.0.0.1: what it received and how it answers."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    text: str = " What is the next step? "
    delay_s: float = 0.0


def _form_fields(content_type: str, body: bytes) -> dict[str, bytes]:
    """The parts of a multipart/form-data body, by field name."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    return {
        str(part.get_param("name", header="content-disposition")): part.get_payload(decode=True)
        for part in message.iter_parts()
    }


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    state = Endpoint(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append(
                {"path": self.path, **_form_fields(self.headers["Content-Type"], body)}
            )
            time.sleep(state.delay_s)
            reply = json.dumps({"text": state.text} if state.status == 200 else {"error": {}})
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(reply.encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _remote(endpoint: Endpoint, **changes: Any) -> RemoteTranscriber:
    values: dict[str, Any] = {"base_url": endpoint.url, "model": "whisper-test", "retries": 0}
    return RemoteTranscriber(AsrSettings(**{**values, **changes}))


def _read_wav(data: bytes) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(data)) as file:
        assert (file.getnchannels(), file.getsampwidth()) == (1, 2)
        pcm = np.frombuffer(file.readframes(file.getnframes()), dtype="<i2")
        return pcm / 32767.0, file.getframerate()


def test_the_endpoint_gets_the_audio_and_the_vocabulary_prompt(endpoint: Endpoint) -> None:
    audio = (0.5 * np.sin(np.linspace(0, 200, 16000))).astype(np.float32)
    transcript = _remote(endpoint).transcribe(audio, vocabulary=["Grind beans", "Steam milk"])
    assert transcript.text == "What is the next step?"
    assert transcript.duration_s == 1.0
    assert transcript.model == f"whisper-test at {endpoint.url}"
    [request] = endpoint.requests
    assert request["path"] == "/v1/audio/transcriptions"
    assert request["model"] == b"whisper-test"
    assert request["language"] == b"en"
    prompt = f"Steps: Grind beans, Steam milk. {TYPICAL_QUESTIONS}"
    assert request["prompt"].decode() == prompt == transcript.prompt
    sent, rate = _read_wav(request["file"])
    assert rate == 16000
    np.testing.assert_allclose(sent, audio, atol=1 / 32767)


def test_an_error_status_names_the_endpoint(endpoint: Endpoint) -> None:
    endpoint.status = 500
    with pytest.raises(SpeechBackendError, match=r"whisper-test at http://127\.0\.0\.1"):
        _remote(endpoint).transcribe(np.zeros(8000, np.float32))


def test_a_slow_endpoint_times_out_instead_of_hanging(endpoint: Endpoint) -> None:
    endpoint.delay_s = 3.0
    started = time.monotonic()
    with pytest.raises(SpeechBackendError, match="Timeout"):
        _remote(endpoint, timeout_s=0.3).transcribe(np.zeros(8000, np.float32))
    assert time.monotonic() - started < 2.5


def test_bad_audio_is_refused_before_anything_is_sent(endpoint: Endpoint) -> None:
    remote = _remote(endpoint)
    with pytest.raises(SpeechInputError):
        remote.transcribe(np.full(100, np.nan, np.float32))
    with pytest.raises(SpeechInputError, match="at most 30"):
        remote.transcribe(np.zeros(31 * 16000, np.float32))
    assert endpoint.requests == []


def test_the_endpoint_is_used_only_when_configured() -> None:
    assert isinstance(make_transcriber(AsrSettings()), Transcriber)
    configured = AsrSettings(base_url="http://127.0.0.1:9/v1")
    assert isinstance(make_transcriber(configured), RemoteTranscriber)


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRISM_ASR_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("PRISM_ASR_MODEL", "small.en")
    chosen = make_transcriber()
    assert isinstance(chosen, RemoteTranscriber)
    assert chosen.describe()["model"] == "small.en"


@settings(max_examples=50, deadline=None)
@given(arrays(np.float32, st.integers(1, 400), elements=st.floats(-2, 2, width=32)))
def test_wav_bytes_round_trip_within_one_step(audio: np.ndarray) -> None:
    decoded, rate = _read_wav(wav_bytes(audio))
    assert rate == 16000
    np.testing.assert_allclose(decoded, np.clip(audio, -1, 1), atol=1 / 32767 + 1e-6)


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")
def test_eval_asr_uses_the_configured_endpoint(
    endpoint: Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRISM_ASR_BASE_URL", endpoint.url)
    record = {
        "id": "a",
        "task": "latte_making",
        "done_steps": ["attach_filter"],
        "current_step": "grind_beans",
        "current_probability": 0.9,
        "question": "what is the next step",
        "expected": "Next: move filter.",
    }
    questions = tmp_path / "qa.jsonl"
    questions.write_text(json.dumps(record) + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["eval", "asr", "--questions", str(questions), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["settings"]["asr"]["endpoint"] == endpoint.url
    assert report["questions"][0]["transcript"] == "What is the next step?"
    assert report["wer"] == 0.0
    assert len(endpoint.requests) == 1

"""The service loads its speech recognizer when it starts and says so in /v1/health."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import service_settings
from prism.packages import find_package_dir
from prism.server.app import create_app
from prism.settings import AsrSettings


def _speech_state(client: TestClient, until: set[str], timeout_s: float = 120.0) -> str:
    """The health's ``speech`` once it is one of ``until`` (or what it is at the timeout)."""
    deadline = time.monotonic() + timeout_s
    while True:
        body = client.get("/v1/health").json()
        state = str(body["speech"])
        if state.split(":")[0] in until or time.monotonic() > deadline:
            assert body["status"] == "ok"  # speech never degrades the service
            return state
        time.sleep(0.05)


@pytest.mark.skipif(find_package_dir("faster_whisper") is None, reason="needs faster-whisper")
def test_the_recognizer_is_ready_before_the_first_question() -> None:
    app = create_app(service_settings(database=":memory:"))
    with TestClient(app) as client:
        assert _speech_state(client, {"ready", "unavailable"}) == "ready"


def test_a_recognizer_that_cannot_load_is_reported_not_fatal(tmp_path: Path) -> None:
    """No adapter in the models folder: speech is unavailable (and says why); the rest of
    the service answers."""
    settings = service_settings(database=":memory:").model_copy(update={"models_dir": tmp_path})
    with TestClient(create_app(settings)) as client:
        state = _speech_state(client, {"ready", "unavailable"})
        assert state.startswith("unavailable: ") and "adapter" in state
        assert client.get("/v1/procedures").status_code == 200


def test_without_preloading_the_recognizer_loads_at_the_first_question() -> None:
    settings = service_settings(database=":memory:").model_copy(
        update={"asr": AsrSettings(preload=False)}
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/health").json()["speech"] == "loads on first use"

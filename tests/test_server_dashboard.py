"""The live dashboard: its data endpoints, and the page rendered by a real headless Chromium."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from prism.data.recording import read_recording
from prism.watch.replay import ReplayQuestion, replay
from prism.watch.session import open_session

ADMIN_TOKEN = "admin-secret"  # the live_server fixture's (conftest)
RECORDING = read_recording(Path("datasets/demo/latte_making-s000"))


@pytest.fixture(scope="module")
def streamed(live_server: str) -> tuple[str, str]:
    server = live_server
    token, session = open_session(f"http://{server}", ADMIN_TOKEN, "latte_making")
    url = f"ws://{server}/v1/sessions/{session}/stream"
    question = ReplayQuestion(at_s=20.0, text="what's next?")
    asyncio.run(replay(url, token, RECORDING, speed=None, questions=(question,)))
    return server, session


def test_dashboard_data(streamed: tuple[str, str]) -> None:
    address, session = streamed
    admin = {"Authorization": "Bearer admin-secret"}
    with httpx.Client(base_url=f"http://{address}") as http:
        assert http.get("/v1/dashboard/sessions").status_code == 401
        listed = {
            s["session_id"]: s for s in http.get("/v1/dashboard/sessions", headers=admin).json()
        }
        assert listed[session]["ended"]
        detail = http.get(f"/v1/dashboard/sessions/{session}", headers=admin).json()
        assert http.get("/v1/dashboard/sessions/ses-nope", headers=admin).status_code == 404
        page = http.get("/dashboard")
    assert len(detail["history"]) >= 5 and detail["history"][0]["name"]
    series = detail["probabilities"]["series"]
    assert len(series) == 5 and len(series[0]["values"]) == len(detail["probabilities"]["times"])
    assert detail["qa"][0]["question"] == "what's next?"
    assert page.status_code == 200 and "PrISM dashboard" in page.text


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_dashboard_renders_in_headless_chromium(streamed: tuple[str, str], tmp_path: Path) -> None:
    address, session = streamed
    url = f"http://{address}/dashboard?token=admin-secret&session={session}"
    common = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--virtual-time-budget=5000", f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    dom = subprocess.run(
        [*common, "--dump-dom", url], capture_output=True, text=True, timeout=90, check=True
    ).stdout
    assert session in dom  # the session list and the title
    assert 'class="step"' in dom and "Attach filter" in dom  # the timeline bars
    assert "Q: what's next?" in dom  # the Q&A exchange
    shot = tmp_path / "dashboard.png"
    subprocess.run(
        [*common, f"--screenshot={shot}", "--window-size=1200,900", url],
        capture_output=True, timeout=90, check=True,
    )  # fmt: skip
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000

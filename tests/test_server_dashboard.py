"""The live dashboard: its data endpoints, and the login, the page and the pairing of a
device in a real headless Chromium (a one-time link, the login form and the pairing form
driven over the DevTools protocol)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chromium import CHROMIUM, DevTools
from conftest import ADMIN_TOKEN, needs_chromium, replay_settings
from prism.data.recording import read_recording
from prism.server.access import AdminAccess
from prism.server.app import admin_access
from prism.server.pairing import qr_svg
from prism.server.threaded import serve_in_thread
from prism.watch.replay import ReplayQuestion, replay
from prism.watch.session import open_session

RECORDING = read_recording(Path("datasets/demo/latte_making-s000"))


@pytest.fixture(scope="module")
def streamed() -> Iterator[tuple[str, str, AdminAccess]]:
    """A service (on a thread) with one replayed session: its address, the session and
    the service's admin access (to issue one-time links)."""
    server, port = serve_in_thread(replay_settings())
    address = f"127.0.0.1:{port}"
    token, session = open_session(f"http://{address}", ADMIN_TOKEN, "latte_making")
    url = f"ws://{address}/v1/sessions/{session}/stream"
    question = ReplayQuestion(at_s=20.0, text="what's next?")
    asyncio.run(replay(url, token, RECORDING, speed=None, questions=(question,)))
    yield address, session, admin_access(server)
    server.should_exit = True


def test_dashboard_data(streamed: tuple[str, str, AdminAccess]) -> None:
    address, session, _ = streamed
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
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
    assert page.status_code == 200 and 'id="login"' in page.text  # not logged in


@needs_chromium
def test_a_one_time_link_opens_the_dashboard_in_chromium(
    streamed: tuple[str, str, AdminAccess], tmp_path: Path
) -> None:
    address, session, access = streamed
    common = [*CHROMIUM, "--virtual-time-budget=5000", f"--user-data-dir={tmp_path / 'profile'}"]

    def opened(*options: str) -> str:
        url = f"http://{address}/dashboard/login?link={access.link()}&session={session}"
        run = subprocess.run([*common, *options, url], capture_output=True, text=True,
                             timeout=90, check=True)  # fmt: skip
        return run.stdout

    dom = opened("--dump-dom")
    assert session in dom  # the session list and the title
    assert 'class="step"' in dom and "Attach filter" in dom  # the timeline bars
    assert "Q: what's next?" in dom  # the Q&A exchange
    shot = tmp_path / "dashboard.png"
    opened(f"--screenshot={shot}", "--window-size=1200,900")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


@needs_chromium
def test_the_login_form_logs_chromium_in_with_an_httponly_cookie(
    streamed: tuple[str, str, AdminAccess], chromium_page: DevTools
) -> None:
    address, session, _ = streamed
    page = chromium_page
    page.call("Page.navigate", url=f"http://{address}/dashboard?session={session}")
    page.wait_for("document.getElementById('login') !== null")
    page.evaluate("document.getElementById('token').value = 'wrong';"
                  "document.getElementById('login').requestSubmit()")  # fmt: skip
    page.wait_for("document.getElementById('problem').textContent.includes('401')")
    page.evaluate(f"document.getElementById('token').value = '{ADMIN_TOKEN}';"
                  "document.getElementById('login').requestSubmit()")  # fmt: skip
    page.wait_for("document.body.innerText.includes('Q: what\\'s next?')")
    assert session in page.evaluate("document.getElementById('title').textContent")
    assert page.evaluate("document.cookie") == ""  # HttpOnly: scripts cannot read it
    assert ADMIN_TOKEN not in page.evaluate("location.href")


@needs_chromium
def test_the_dashboard_pairs_a_device_with_a_qr_code_and_a_code_to_type(
    streamed: tuple[str, str, AdminAccess], chromium_page: DevTools
) -> None:
    address, _, access = streamed
    page = chromium_page
    page.call("Page.navigate", url=f"http://{address}/dashboard/login?link={access.link()}")
    page.wait_for("document.querySelector('#pair-task option[value=latte_making]') !== null")
    page.evaluate("document.getElementById('pair-task').value = 'latte_making';"
                  "document.getElementById('pair-button').click()")  # fmt: skip
    page.wait_for("document.getElementById('pair-code').textContent.length > 0")
    code = page.evaluate("document.getElementById('pair-code').textContent")
    link = page.evaluate("document.getElementById('pair-url').href")
    assert link == f"http://{address}/watch?pair={code}"
    assert page.evaluate("document.getElementById('pair-url').textContent") == link
    # the QR code is inline SVG, drawn from the server's segno output of that very link
    drawn = page.evaluate("document.querySelector('#pair-qr svg path').getAttribute('d')")
    assert f' d="{drawn}"' in qr_svg(link)
    assert (
        page.evaluate("document.querySelector('#pair-qr svg').getBoundingClientRect().width") > 200
    )
    expiry = page.evaluate("document.getElementById('pair-expiry').textContent")
    assert re.match(r"Valid once, for (10:00|9:[0-5]\d) more", expiry), expiry
    assert "loopback" in page.evaluate("document.getElementById('pair-hint').textContent")
    assert page.evaluate("document.getElementById('pair-problem').textContent") == ""
    with httpx.Client(base_url=f"http://{address}") as http:  # the shown code works, once
        claimed = http.post("/v1/pairings/claim", json={"code": code})
        assert claimed.status_code == 200 and claimed.json()["task"] == "latte_making"
        assert http.post("/v1/pairings/claim", json={"code": code}).status_code == 404


@needs_chromium
def test_the_dashboards_pairing_says_what_went_wrong_in_words(
    streamed: tuple[str, str, AdminAccess], chromium_page: DevTools
) -> None:
    address, _, access = streamed
    page = chromium_page
    page.call("Page.navigate", url=f"http://{address}/dashboard/login?link={access.link()}")
    page.wait_for("document.querySelector('#pair-task option[value=latte_making]') !== null")

    def problem_after_pairing(task: str) -> str:
        page.evaluate("{ document.getElementById('pair-problem').textContent = '';"
                      "const s = document.getElementById('pair-task');"
                      f"s.add(new Option('{task}', '{task}')); s.value = '{task}';"
                      "document.getElementById('pair-button').click() }")  # fmt: skip
        page.wait_for("document.getElementById('pair-problem').textContent.length > 0")
        return str(page.evaluate("document.getElementById('pair-problem').textContent"))

    assert "does not know the procedure “no_such_task”" in problem_after_pairing("no_such_task")
    # a lost login and a lost network, as the page's fetch would see them
    page.evaluate("window.realFetch = window.fetch; window.pairingFails = (failure) => {"
                  "window.fetch = (url, options) => url === '/v1/pairings' ? failure()"
                  " : window.realFetch(url, options) }")  # fmt: skip
    page.evaluate("pairingFails(() => Promise.resolve(new Response('{}', {status: 401})))")
    assert "logged out" in problem_after_pairing("latte_making")
    page.evaluate("pairingFails(() => Promise.reject(new TypeError('Failed to fetch')))")
    assert "Cannot reach the service" in problem_after_pairing("latte_making")
    assert page.evaluate("document.getElementById('pairing').hidden")  # no code was shown
    # the QR code's SVG is rebuilt from drawing elements only: nothing in it runs or loads
    hostile = ('<svg width="9" height="9" onload="window.ran=1"><script>window.ran=2</script>'
               '<path d="M0 0h1" onclick="window.ran=3"/><image href="x.png"/><foreignObject>'
               '<img src=x onerror="window.ran=4"></foreignObject></svg>')  # fmt: skip
    kept = page.evaluate(f"safeQr({json.dumps(hostile)}).outerHTML")
    assert (
        kept
        == '<svg width="9" height="9" viewBox="0 0 9 9" role="img"><path d="M0 0h1"></path></svg>'
    )
    assert page.evaluate("new Promise((done) => setTimeout(() => done(window.ran), 500))") is None

"""The live dashboard: its data endpoints, and the login, the page, the pairing of a
device and the correction of a recording's step labels in a real headless Chromium (a
one-time link, the login form, the pairing form and the label timeline driven over the
DevTools protocol)."""

from __future__ import annotations

import asyncio
import io
import json
import re
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from chromium import CHROMIUM, DevTools
from conftest import ADMIN_TOKEN, needs_chromium, replay_settings
from prism.data.recording import read_recording
from prism.protocol import SensorFrame, encode_frame
from prism.server.access import AdminAccess
from prism.server.app import admin_access
from prism.server.pairing import qr_svg
from prism.server.threaded import serve_in_thread
from prism.watch.replay import ReplayQuestion, replay, sensor_frames
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


MARKS = ((1.0, "attach_filter"), (10.0, "grind_beans"))
"""Where the recording session of :func:`_recorded_session` marks each step (s)."""


def _recorded_session(address: str, *, seconds: float = 20.0) -> str:
    """A session of a recording device that streamed the demo's first ``seconds`` with
    :data:`MARKS`: its id, once the service holds all of it."""
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    body = {"name": "research watch", "recording": True}
    token = httpx.post(f"http://{address}/v1/devices", json=body, headers=admin).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    opened = httpx.post(
        f"http://{address}/v1/sessions", json={"procedure": "latte_making"}, headers=auth
    )
    session = str(opened.json()["session_id"])
    marks = list(MARKS)
    with connect(f"ws://{address}/v1/sessions/{session}/stream?token={token}") as ws:
        ws.send(json.dumps({"type": "hello", "protocol": 1}))
        seq = 0
        for frame in sensor_frames(RECORDING, chunk_s=0.5):
            if frame.t0 >= seconds:
                break
            while marks and marks[0][0] <= frame.t0:
                t, step = marks.pop(0)
                seq += 1
                ws.send(json.dumps({"type": "mark", "seq": seq, "step": step, "t": t}))
            seq += 1
            ws.send(encode_frame(SensorFrame(frame.kind, seq, frame.t0, frame.rate, frame.samples)))
        ws.send(json.dumps({"type": "end", "seq": seq + 1, "t": seconds}))
        while not json.loads(ws.recv(timeout=30)).get("final"):  # the last step update
            pass
    return session


@needs_chromium
def test_a_recordings_labels_are_corrected_on_the_timeline_and_the_export_follows(
    streamed: tuple[str, str, AdminAccess], chromium_page: DevTools
) -> None:
    """Drag a boundary with the mouse's pointer events, move another with the keyboard,
    rename a segment, save: the saved labels and the exported labels.csv say so."""
    address, _, access = streamed
    session = _recorded_session(address)
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    labels_url = f"http://{address}/v1/sessions/{session}/labels"
    duration = httpx.get(labels_url, headers=admin).json()["duration"]
    page = chromium_page
    page.watch_problems()
    page.call("Emulation.setDeviceMetricsOverride", width=1200, height=900,
              deviceScaleFactor=1, mobile=False)  # fmt: skip
    url = f"http://{address}/dashboard/login?link={access.link()}&session={session}"
    page.call("Page.navigate", url=url)
    page.wait_for("document.querySelectorAll('#labels g.segment').length === 3")
    names = page.evaluate("[...document.querySelectorAll('#labels g.segment text')]"
                          ".map((t) => t.textContent)")  # fmt: skip
    assert names == ["other", "Attach filter", "Grind beans"]
    assert page.evaluate("document.getElementById('labels-download').getAttribute('href')") == (
        f"/v1/sessions/{session}/recording"
    )
    # drag the boundary between "Attach filter" and "Grind beans" from 10 s to 14 s
    left, top, width, height = page.evaluate(
        "(() => { const b = document.querySelector('#labels svg').getBoundingClientRect();"
        " return [b.left, b.top, b.width, b.height] })()"
    )
    y = top + height / 2
    for kind, t in (("mousePressed", 10.0), ("mouseMoved", 12.0), ("mouseMoved", 14.0),
                    ("mouseReleased", 14.0)):  # fmt: skip
        x = left + width * t / duration
        page.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left",
                  buttons=0 if kind == "mouseReleased" else 1, clickCount=1)  # fmt: skip
    moved = float(page.evaluate("document.querySelector(\"#labels .boundary[data-index='1']\")"
                                ".getAttribute('aria-valuenow')"))  # fmt: skip
    assert moved == pytest.approx(14.0, abs=duration / width + 0.01)
    # the first boundary by the keyboard: 1 s -> 2 s
    first = "document.querySelector(\"#labels .boundary[data-index='0']\")"
    for _ in range(2):
        page.evaluate(f"{first}.dispatchEvent(new KeyboardEvent('keydown', {{key: 'ArrowRight'}}))")
    # rename the third segment ("Grind beans") to "Brew coffee", then save
    page.evaluate("document.querySelector(\"#labels g.segment[data-index='2']\")"
                  ".dispatchEvent(new MouseEvent('click'));"
                  "const pick = document.getElementById('labels-step');"
                  "pick.value = 'brew_coffee'; pick.dispatchEvent(new Event('change'));"
                  "document.querySelector('#labels [data-action=save]').click()")  # fmt: skip
    page.wait_for("document.getElementById('labels-status').textContent === 'saved'")
    saved = httpx.get(labels_url, headers=admin).json()
    assert saved["source"] == "saved"
    assert saved["segments"] == [
        {"start": 2.0, "end": moved, "step": "attach_filter"},
        {"start": moved, "end": duration, "step": "brew_coffee"},
    ]
    archive = httpx.get(f"http://{address}/v1/sessions/{session}/recording", headers=admin)
    rows = zipfile.ZipFile(io.BytesIO(archive.content)).read(f"{session}/labels.csv").decode()
    assert "brew_coffee" in rows and "grind_beans" not in rows and f"{moved}" in rows
    assert page.problems == []

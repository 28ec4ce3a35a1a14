"""The web client against the native watch path, side by side in one run.

```bash
python benchmarks/web_client.py          # a summary
python benchmarks/web_client.py --json   # everything measured, as JSON on stdout
```

Starts the service (``benchmarks/service_process.py``), pairs a headless Chromium with a
one-time code and opens ``/watch`` in it. Chromium's microphone is a fake one that plays
the recording's audio (``--use-file-for-fake-audio-capture``) and the page's motion
comes from the recording's IMU, put on a 50 Hz grid as a phone's sensor samples (both
paths stream that IMU), as synthetic ``devicemotion`` events (rotation rate in deg/s,
``interval`` 20 ms, as browsers give them), dispatched in real time from the moment the
page's first audio arrives; ``motion_events_late_ms`` says how late the events were
handled (a busy machine delays them; the page times them by their interval). At the same
time :func:`prism.watch.replay.replay` streams the same recording natively (binary
frames from Python, real time) into a second session of the same service. A spoken
question (espeak-ng) is mixed into the recording's audio at ``--question-at`` seconds;
the page's hold-to-talk button is held while it plays, and the native watch sends the
same clip as its question.

Reports (``--json``): each path's step sequence (``current`` of every step update, runs
of one step merged) and whether they are equal, each path's tracked history (its steps
in order), the question each path's answer heard and its text, the spoken answers the
page played, the page's console errors, and the latency of each path: a step update that
names in ``in_seq`` the first sensor frame it includes is timed from sending that frame
to receiving the update: the native watch sends a frame when its last sample is due
(real-time pacing), the page when its 0.2 s timer next fires, so the page's time
starts at its frame's newest sample (audio comes from the audio thread every 0.1 s) and
ends when the update is on the screen. p50 and p90 in ms, and
``extra_latency_p50_ms`` = web p50 - native p50.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import soundfile
from scipy.signal import resample

from chromium import open_chromium
from prism.data.recording import AUDIO_RATE_HZ, ImuSamples, Recording, read_recording
from prism.speech.tts import synthesize
from prism.watch.replay import ReplayQuestion, ReplayResult, replay
from service_process import ROOT, Service, free_port

RECORDING = ROOT / "datasets" / "demo" / "latte_making-s000"
CHROMIUM_OPTIONS = (
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
)

DRIVER = """
(() => {
  const data = %s;
  const DEG = Math.PI / 180;
  const origin = prismWatch.stats.audioStartMs - performance.timeOrigin;
  const talk = document.getElementById("talk");
  let i = 0, pressed = false, released = false;
  window.driverDone = false;
  window.driverLateMs = [];
  const timer = setInterval(() => {
    const now = (performance.now() - origin) / 1000;
    while (i < data.times.length && data.times[i] <= now) {
      window.driverLateMs.push(1000 * (now - data.times[i]));
      const v = data.values[i++];
      window.dispatchEvent(new DeviceMotionEvent("devicemotion", {
        accelerationIncludingGravity: { x: v[0], y: v[1], z: v[2] },
        rotationRate: { alpha: v[5] / DEG, beta: v[3] / DEG, gamma: v[4] / DEG },
        interval: 20,
      }));
    }
    if (!pressed && now >= data.press[0]) {
      pressed = true;
      talk.dispatchEvent(new PointerEvent("pointerdown", { bubbles: true }));
    }
    if (!released && now >= data.press[1]) {
      released = true;
      talk.dispatchEvent(new PointerEvent("pointerup", { bubbles: true }));
    }
    if (i >= data.times.length && released && now >= data.end) {
      clearInterval(timer);
      window.driverDone = true;
    }
  }, 5);
  return true;
})()
"""
"""Runs in the page: the IMU samples as devicemotion events at their times after the
page's first audio, and the talk button held over the spoken question."""


def with_question(recording: Recording, text: str, at_s: float) -> tuple[Recording, np.ndarray]:
    """The recording with ``text`` spoken (espeak-ng) into its audio from ``at_s`` on;
    and what the microphone hears while the talk button is held, from 0.5 s before the
    question to 0.5 s after it (16 kHz, float32; voice activity detection needs sound
    around the speech)."""
    assert recording.audio is not None
    speech, _ = synthesize(text)
    audio = recording.audio.copy()
    start = round(at_s * AUDIO_RATE_HZ)
    audio[start : start + speech.size] += 0.8 * speech / max(1e-6, float(np.abs(speech).max()))
    audio = np.clip(audio, -1.0, 1.0).astype(np.float32)
    margin = AUDIO_RATE_HZ // 2
    clip = audio[start - margin : start + speech.size + margin]
    mixed = Recording(recording.session_id, recording.task, recording.annotation,
                      recording.imu, audio, recording.metadata)  # fmt: skip
    return mixed, clip


def on_grid(recording: Recording, rate_hz: float = 50.0) -> Recording:
    """The recording with its IMU interpolated onto a regular grid of ``rate_hz``, as a
    phone's sensor delivers it (steady ``interval``): both paths stream this one."""
    assert recording.imu is not None
    times = recording.imu.times
    grid = np.arange(np.ceil(times[0] * rate_hz), np.floor(times[-1] * rate_hz) + 1) / rate_hz
    values = np.stack(
        [np.interp(grid, times, recording.imu.values[:, c]) for c in range(6)], axis=1
    ).astype(np.float32)
    return Recording(recording.session_id, recording.task, recording.annotation,
                     ImuSamples(grid, values), recording.audio, recording.metadata)  # fmt: skip


def write_microphone(path: Path, audio: np.ndarray) -> None:
    """``audio`` (16 kHz, float32) as a 48 kHz 16-bit WAV for Chromium's fake microphone:
    a browser's rate, so Chromium does not resample it; upsampled band-limited (FFT)."""
    upsampled = resample(audio, 3 * audio.size)
    soundfile.write(path, np.clip(upsampled, -1, 1), 3 * AUDIO_RATE_HZ, subtype="PCM_16")


def step_sequence(steps: list[Any]) -> list[str | None]:
    """The ``current`` values of step updates (not the final one), runs merged."""
    out: list[str | None] = []
    for step in steps:
        if not step.get("final") and (not out or out[-1] != step["current"]):
            out.append(step["current"])
    return out


def percentiles(values_ms: list[float]) -> dict[str, float | None]:
    """p50 and p90 (ms) of the latencies, None when there are none."""
    if not values_ms:
        return {"p50_ms": None, "p90_ms": None, "n": 0}
    p50, p90 = np.percentile(values_ms, [50, 90])
    return {"p50_ms": round(float(p50), 1), "p90_ms": round(float(p90), 1), "n": len(values_ms)}


def history(service: Service, token: str, session: str) -> list[str]:
    """The steps the service tracked in a session, in order."""
    reply = httpx.get(f"{service.base}/v1/sessions/{session}",
                      headers={"Authorization": f"Bearer {token}"}, timeout=30)  # fmt: skip
    return [h["step"] for h in reply.json()["history"]]


def run(question: str, question_at_s: float, workdir: Path) -> dict[str, Any]:
    """Stream the recording through both paths at once; everything measured."""
    recording, clip = with_question(on_grid(read_recording(RECORDING)), question, question_at_s)
    assert recording.imu is not None and recording.audio is not None
    duration = recording.audio.size / AUDIO_RATE_HZ
    held_from = question_at_s - 0.5  # the talk button, as the clip
    wav = workdir / "microphone.wav"
    write_microphone(wav, recording.audio)
    admin = secrets.token_urlsafe(16)
    settings = {"warm_up_sessions": "0", "checkpoint_every_s": "30"}
    service = Service(free_port(), workdir / "sessions.sqlite3", admin, settings,
                      log=workdir / "service.log")  # fmt: skip
    service.start()
    try:
        headers = {"Authorization": f"Bearer {admin}"}
        code = httpx.post(f"{service.base}/v1/pairings", json={"task": recording.task},
                          headers=headers, timeout=30).json()["code"]  # fmt: skip
        native_token = httpx.post(f"{service.base}/v1/devices", json={"name": "native"},
                                  headers=headers, timeout=30).json()["token"]  # fmt: skip
        native_session = httpx.post(
            f"{service.base}/v1/sessions", json={"procedure": recording.task},
            headers={"Authorization": f"Bearer {native_token}"}, timeout=30,
        ).json()["session_id"]  # fmt: skip
        native: dict[str, ReplayResult] = {}

        def stream_natively() -> None:
            url = f"ws://127.0.0.1:{service.port}/v1/sessions/{native_session}/stream"
            asked = ReplayQuestion(at_s=held_from, text=question, audio=clip)
            native["result"] = asyncio.run(
                replay(url, native_token, recording, speed=1.0, questions=(asked,))
            )

        options = (*CHROMIUM_OPTIONS, f"--use-file-for-fake-audio-capture={wav}%noloop")
        profile = workdir / "profile"
        profile.mkdir()
        with open_chromium(profile, options) as page:
            page.watch_problems()
            page.call("Page.navigate", url=f"{service.base}/watch?pair={code}")
            page.wait_for("document.getElementById('start-panel')?.hidden === false")
            page.evaluate("document.getElementById('start').click()", gesture=True)
            page.wait_for("prismWatch.stats.audioStartMs !== null")
            thread = threading.Thread(target=stream_natively)
            thread.start()
            data = {
                "times": recording.imu.times.round(4).tolist(),
                "values": recording.imu.values.round(5).tolist(),
                "press": [held_from, held_from + clip.size / AUDIO_RATE_HZ],
                "end": duration,
            }
            page.evaluate(DRIVER % json.dumps(data))
            page.wait_for("window.driverDone", timeout_s=duration + 60)
            page.evaluate("document.getElementById('finish').click()")
            page.wait_for("!document.getElementById('finished').hidden", timeout_s=60)
            thread.join(timeout=120)
            stats = page.evaluate("prismWatch.stats")
            web_answer = {
                "question": page.evaluate("document.getElementById('question').textContent"),
                "text": page.evaluate("document.getElementById('answer').textContent"),
            }
            web_history = page.evaluate(
                "[...document.querySelectorAll('#done-steps li')].map(li => li.textContent)"
            )
            problems = list(page.problems)
            late_ms = page.evaluate("window.driverLateMs")
        result = native["result"]
        native_steps = [m for m in result.messages if m.get("type") == "step"]
        native_answers = result.of_type("answer")
        web = step_sequence(stats["steps"])
        nat = step_sequence(native_steps)
        web_latency = percentiles(stats["latenciesMs"])
        native_latency = percentiles([1000 * s for s in result.latencies_s])
        extra = (
            round(web_latency["p50_ms"] - native_latency["p50_ms"], 1)
            if web_latency["p50_ms"] is not None and native_latency["p50_ms"] is not None
            else None
        )
        return {
            "recording": RECORDING.name,
            "duration_s": round(duration, 1),
            "web_steps": web,
            "native_steps": nat,
            "steps_match": web == nat,
            "web_history": web_history,
            "native_history": history(service, native_token, native_session),
            "web_answer": web_answer,
            "native_answer": {k: native_answers[0].get(k) for k in ("question", "text")}
            if native_answers
            else None,
            "spoken_answers_played": stats["spokenAnswers"],
            "web_frames_sent": stats["framesSent"],
            "native_frames_sent": result.frames_sent,
            "web_latency": web_latency,
            "native_latency": native_latency,
            "extra_latency_p50_ms": extra,
            "console_problems": problems,
            "motion_events_late_ms": {
                "p50": round(float(np.percentile(late_ms, 50)), 1),
                "p99": round(float(np.percentile(late_ms, 99)), 1),
                "max": round(float(np.max(late_ms)), 1),
            },
        }
    finally:
        service.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="everything measured, as JSON")
    parser.add_argument("--question", default="what's next?")
    parser.add_argument("--question-at", type=float, default=30.0, help="seconds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="prism-web-client-") as folder:
        report = run(args.question, args.question_at, Path(folder))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key in ("steps_match", "web_latency", "native_latency", "extra_latency_p50_ms",
                    "web_answer", "native_answer", "console_problems"):  # fmt: skip
            print(f"{key}: {report[key]}")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())

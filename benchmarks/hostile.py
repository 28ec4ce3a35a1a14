"""Hostile clients: a running service against watches and REST callers that misbehave.

Usage::

    python benchmarks/hostile.py [--json]

Starts the service as a child process as ``benchmarks/load.py`` does
(``benchmarks/service_process.py``: uvicorn, a free port on 127.0.0.1, a fresh SQLite
file in a temporary folder, an admin token, its stderr kept in a log file) with short
limits (:data:`SETTINGS`: hello within 2 s, 3 live sessions per device, 500 messages/s),
registers devices, runs the probes below one after the other (each with its own device
and sessions, each bounded by a timeout), then stops the service by its pid and process
tree. Prints one line per probe, ``PASS name: detail`` or ``FAIL name: expected ...,
got ...``; with ``--json`` only a JSON summary (``probes``: name, passed, detail,
seconds; ``passed``, ``failed``, ``all_passed``, ``tracebacks_in_log``, ``log_bytes``,
``memory_mb_start`` / ``memory_mb_end`` / ``memory_growth_mb``: resident memory of the
service's process tree after a warm-up session and before the restart probe,
``internal_errors``: ``prism_internal_errors_total`` summed over both service runs).
Exit status 0 only when every probe passed, the log holds no traceback and memory grew
less than 50 MB.

Probes (``watch_bridge/PROTOCOL.md``, ``docs/service.md``; "seq free": the refused
message's ``seq`` is not used up, an ``ack`` with it is then accepted):

- ``auth_no_token``: stream without a token -> close 4401; REST without one -> 401.
- ``auth_wrong_token``: a wrong token -> close 4401; REST -> 401.
- ``auth_other_device``: another device's session answers exactly as an unknown one (REST
  404 with the same body, id aside; WebSocket error and close 4404 with the same text).
- ``unknown_session``: REST state, events, end -> 404; stream -> close 4404.
- ``frame_short``: a 10-byte binary frame -> error 4000, connection open.
- ``frame_bad_magic``: magic ``XX`` -> error 4000, seq free.
- ``frame_bad_version``: version 2 -> error 4001 and close 4001.
- ``frame_bad_n``: payload shorter than ``n`` says -> 4000, seq free; ``n`` over the
  kind's limit -> 4002, seq free.
- ``frame_nan_imu``: an IMU sample NaN -> 4000, seq free.
- ``frame_audio_rate``: audio at 8000 Hz -> 4000, seq free.
- ``frame_kind_4``: a spoken-answer frame (kind 4) from the watch -> 4002, seq free.
- ``deep_json``: 4 KB of ``[[[[...`` inside a control message -> 4000, no internal error,
  no traceback in the log.
- ``oversized_text``: a 5,000-byte text frame -> 4002, seq free.
- ``strict_types``: ``"seq"`` as ``"7"``, ``true``, ``7.0``, and ``"t": "1"`` -> 4000 each,
  seq free.
- ``hello_seq_ignored``: hellos with ``seq`` ``"x"``, -5, ``true`` or none -> welcome.
- ``t0_out_of_range``: ``t0`` 1e300, 86,400 s (first frame), 3,600 s past the streams'
  end -> 4000 naming ``t0``, seq free, the stream clock unchanged.
- ``time_backwards``: a frame before the previous one's end -> 4005, seq free.
- ``duplicate``: a processed seq again -> 4004 (``ref_seq`` that seq), connection open.
- ``sequence_gap``: a seq 5 ahead -> 4003 naming the expected seq, which stays free.
- ``unknown_step``: a correction naming no step of the procedure -> 4006, seq 0, seq
  free, not resent on resume (``resume_from`` 0 brings back no error).
- ``unknown_reminder``: a reminder action with an id never sent -> likewise.
- ``second_connection_silent``: a second connection that never says hello leaves the
  first open and still getting step updates.
- ``second_connection_hello``: a second connection's hello closes the first with 4010.
- ``hello_deadline``: a connection that sends nothing is closed with 4011 within
  ``hello_timeout_s`` (2 s) + 1 s.
- ``connections_per_device``: beyond ``max_connections_per_device`` (4) open connections
  of a device -> close 4029; once they close, the device connects again.
- ``message_flood``: 1,000 acks as fast as possible -> exactly one 4008, no other error,
  ``/v1/health`` answering within 1 s all along.
- ``never_acknowledging``: a watch streaming 2 minutes of session time and a question
  every 5 frames without acks: the service grows at most 6 MB more than while an
  acknowledging watch sends the same (after a third session warmed the caches), and a
  resume from 0 then resends every message as it was (contiguous).
- ``procedure_path``: procedure ids ``../tasks/latte_making``, ``/etc``, ``%2e%2e``, ``..``
  (REST body and path) -> 404.
- ``end_rest_unstreamed``: ``POST .../end`` on a session that never streamed -> 200,
  ``ended`` true, also in its state.
- ``end_imu_only``, ``end_audio_only``: ``end`` after 4 s of one stream only -> the final
  step update.
- ``sessions_per_device``: the 4th live session of a device -> 429 or 503, while another
  device opens one; after one is ended, the first device opens one again.
- ``long_ids``: a 5,000-character session id in REST paths and the stream URL -> 404 /
  4404, the id not echoed (no run of 65 of its characters in the answer).
- ``dashboard_without_login``: ``/v1/dashboard/sessions[/{id}]`` without credentials ->
  401; ``/dashboard`` without them shows no session id.
- ``admin_token_not_in_url``: the admin endpoints work with the token in a header, and
  the ``/dashboard`` page never reads a token from its URL.
- ``rest_fuzz``: malformed bodies to ``POST /v1/sessions`` and ``/v1/devices``, bad query
  values -> 422, never 500.
- ``rest_deep_json``: a JSON body nested 2,000 deep -> 422 (not 500, no traceback).
- ``kill_9_resume``: the service killed (SIGKILL) mid-session and restarted on the same
  database: the watch resumes from 0 and gets exactly the messages it had (contiguous
  seqs, nothing acknowledged lost), ``next_seq`` right after its acknowledgement.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

import httpx
import numpy as np
import psutil

from prism.data.recording import read_recording
from prism.protocol import FrameKind, SensorFrame
from prism.watch.replay import sensor_frames
from raw_watch import ProbeError, RawWatch, brief, expect, imu_frame, raw_frame
from service_process import ROOT, Service, ServiceStartError, free_port, rss_mb_by_process

ADMIN_TOKEN = "hostile-benchmark-admin"
HELLO_TIMEOUT_S = 2.0
SETTINGS = {
    "pipeline_workers": "0",
    "warm_up_sessions": "0",
    "checkpoint_every_s": "5",
    "hello_timeout_s": str(HELLO_TIMEOUT_S),
    "max_sessions_per_device": "3",
    "max_connections_per_device": "4",
    "max_messages_per_s": "500",
    "message_burst": "400",
    "max_unacked_kept": "100",
}
"""``PRISM_SERVER_*`` of the run: short timeouts and small limits, so probes run fast."""
JSON = {"Content-Type": "application/json"}
LATTE = {"procedure": "latte_making"}
"""The body that opens a session."""
MEMORY_GROWTH_LIMIT_MB = 50.0
NEVER_ACK_GROWTH_LIMIT_MB = 6.0
RECORDINGS = ("latte_making-s000", "latte_making-s001")


@cache
def demo_frames() -> tuple[SensorFrame, ...]:
    """The two demo recordings one after the other (the second shifted in time), cut
    into 0.2 s IMU and audio frames in time order: about 2 minutes of a session."""
    frames: list[SensorFrame] = []
    shift = 0.0
    for name in RECORDINGS:
        chunked = sensor_frames(read_recording(ROOT / "datasets" / "demo" / name))
        frames += [SensorFrame(f.kind, 1, f.t0 + shift, f.rate, f.samples) for f in chunked]
        shift = max(f.end_s for f in frames) + 0.2
    return tuple(frames)


@dataclass
class Device:
    """A registered watch: its token and REST headers."""

    token: str
    headers: dict[str, str]


@dataclass
class Run:
    """What the probes share: the service, an HTTP client, the service's log."""

    service: Service
    http: httpx.AsyncClient
    log: Path
    internal_errors_before_restart: float = 0.0
    memory_mb: list[float] = field(default_factory=list)

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def ws_url(self, session_id: str) -> str:
        return f"ws://127.0.0.1:{self.service.port}/v1/sessions/{quote(session_id, safe='')}/stream"

    async def device(self, name: str) -> Device:
        reply = await self.http.post("/v1/devices", json={"name": name}, headers=self.admin)
        expect(reply.status_code == 200, "a device registered (200)", _http(reply))
        token = reply.json()["token"]
        return Device(token, {"Authorization": f"Bearer {token}"})

    async def session(self, device: Device) -> str:
        reply = await self.http.post("/v1/sessions", json=LATTE, headers=device.headers)
        expect(reply.status_code == 200, "a session opened (200)", _http(reply))
        return str(reply.json()["session_id"])

    async def watch(self, device: Device, session_id: str, *, hello: bool = True) -> RawWatch:
        """A connection of ``device`` to ``session_id``, after its hello (unless not)."""
        watch = await RawWatch.open(self.ws_url(session_id), device.token)
        if hello:
            await watch.hello()
        return watch

    async def fresh(self, name: str) -> tuple[Device, str, RawWatch]:
        """A new device, a session of it and its connection after hello."""
        device = await self.device(name)
        session_id = await self.session(device)
        return device, session_id, await self.watch(device, session_id)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    async def metric(self, name: str) -> float:
        return (await asyncio.to_thread(self.service.metrics)).get(name, 0.0)

    def rss_mb(self) -> float:
        assert self.service.process is not None
        return sum(rss_mb_by_process(psutil.Process(self.service.process.pid)))


def _http(reply: httpx.Response) -> str:
    return f"{reply.status_code} {reply.text[:120]!r}"


Probe = Callable[[Run], Awaitable[str]]
PROBES: list[tuple[str, Probe, float]] = []


def probe(timeout_s: float = 15.0) -> Callable[[Probe], Probe]:
    """Register a probe (run in the order defined) with its time limit."""

    def register(function: Probe) -> Probe:
        PROBES.append((function.__name__.removeprefix("probe_"), function, timeout_s))
        return function

    return register


# --------------------------------------------------------------------- authentication
async def _refused(url: str, token: str | None) -> tuple[int | None, str]:
    """Connect and say hello; the close code and the error text the server sent."""
    watch = await RawWatch.open(url, token)
    async with watch:
        await watch.send({"type": "hello", "seq": 1, "protocol": 1})
        code = await watch.closed(timeout_s=5.0)
    errors = watch.errors()
    return code, errors[0]["message"] if errors else ""


@probe()
async def probe_auth_no_token(run: Run) -> str:
    device = await run.device("owner")
    session_id = await run.session(device)
    code, _ = await _refused(run.ws_url(session_id), None)
    expect(code == 4401, "close 4401 without a token", code)
    reply = await run.http.get(f"/v1/sessions/{session_id}")
    expect(reply.status_code == 401, "REST 401 without a token", _http(reply))
    return "stream 4401, REST 401"


@probe()
async def probe_auth_wrong_token(run: Run) -> str:
    device = await run.device("owner")
    session_id = await run.session(device)
    code, _ = await _refused(run.ws_url(session_id), "not-a-token")
    expect(code == 4401, "close 4401 with a wrong token", code)
    reply = await run.http.get(
        f"/v1/sessions/{session_id}", headers={"Authorization": "Bearer not-a-token"}
    )
    expect(reply.status_code == 401, "REST 401 with a wrong token", _http(reply))
    return "stream 4401, REST 401"


@probe()
async def probe_auth_other_device(run: Run) -> str:
    owner, other = await run.device("owner"), await run.device("other")
    session_id = await run.session(owner)
    unknown_id = "ses-00000000deadbeef"
    answers = {}
    for name, sid in (("other's", session_id), ("unknown", unknown_id)):
        reply = await run.http.get(f"/v1/sessions/{sid}", headers=other.headers)
        code, text = await _refused(run.ws_url(sid), other.token)
        answers[name] = (
            reply.status_code,
            reply.text.replace(sid, "<id>"),
            code,
            text.replace(sid, "<id>"),
        )
    theirs, unknown = answers["other's"], answers["unknown"]
    expect(
        unknown[0] == 404 and unknown[2] == 4404, "an unknown session: 404 and close 4404", unknown
    )
    expect(
        theirs == unknown, f"another device's session answered as an unknown one {unknown}", theirs
    )
    return f"both 404 {unknown[1]} and close 4404"


@probe()
async def probe_unknown_session(run: Run) -> str:
    device = await run.device("owner")
    sid = "ses-00000000deadbeef"
    for method, path in (("GET", ""), ("GET", "/events"), ("POST", "/end")):
        reply = await run.http.request(method, f"/v1/sessions/{sid}{path}", headers=device.headers)
        expect(
            reply.status_code == 404, f"404 for {method} /v1/sessions/<unknown>{path}", _http(reply)
        )
    code, _ = await _refused(run.ws_url(sid), device.token)
    expect(code == 4404, "close 4404", code)
    return "REST 404 x3, stream 4404"


# --------------------------------------------------------------------- binary frames
@probe()
async def probe_frame_short(run: Run) -> str:
    _, _, watch = await run.fresh("short")
    async with watch:
        await watch.send(b"PW\x01\x01abcdef")
        await watch.expect_error(4000, seq_free=1, after=" after a 10-byte frame")
    return "4000, connection open, seq 1 free"


@probe()
async def probe_frame_bad_magic(run: Run) -> str:
    _, _, watch = await run.fresh("magic")
    async with watch:
        await watch.send(raw_frame(1, 1, 0.0, 1, 50.0, bytes(24), magic=b"XX"))
        await watch.expect_error(4000, seq_free=1, after=" after magic XX")
    return "4000, seq free"


@probe()
async def probe_frame_bad_version(run: Run) -> str:
    _, _, watch = await run.fresh("version")
    async with watch:
        await watch.send(raw_frame(1, 1, 0.0, 1, 50.0, bytes(24), version=2))
        await watch.expect_error(4001, after=" after version 2")
        code = await watch.closed(timeout_s=5.0)
    expect(code == 4001, "close 4001", code)
    return "error and close 4001"


@probe()
async def probe_frame_bad_n(run: Run) -> str:
    _, _, watch = await run.fresh("n")
    async with watch:
        await watch.send(raw_frame(FrameKind.IMU, 1, 0.0, 10, 50.0, bytes(24 * 5)))
        await watch.expect_error(4000, seq_free=1, after=" after a payload shorter than n")
        await watch.send(raw_frame(FrameKind.IMU, 2, 0.0, 501, 50.0, bytes(24 * 501)))
        await watch.expect_error(4002, seq_free=2, after=" after n over the limit")
    return "payload shorter than n: 4000; n over the limit: 4002; seqs free"


@probe()
async def probe_frame_nan_imu(run: Run) -> str:
    _, _, watch = await run.fresh("nan")
    samples = np.zeros((10, 6), dtype="<f4")
    samples[3, 1] = np.nan
    async with watch:
        await watch.send(raw_frame(FrameKind.IMU, 1, 0.0, 10, 50.0, samples.tobytes()))
        await watch.expect_error(4000, seq_free=1, after=" after a NaN IMU sample")
    return "4000, seq free"


@probe()
async def probe_frame_audio_rate(run: Run) -> str:
    _, _, watch = await run.fresh("rate")
    async with watch:
        await watch.send(raw_frame(FrameKind.AUDIO, 1, 0.0, 1600, 8000.0, bytes(3200)))
        await watch.expect_error(4000, seq_free=1, after=" after audio at 8000 Hz")
    return "4000, seq free"


@probe()
async def probe_frame_kind_4(run: Run) -> str:
    _, _, watch = await run.fresh("kind4")
    async with watch:
        await watch.send(raw_frame(FrameKind.ANSWER_AUDIO, 1, 0.0, 1600, 16000.0, bytes(3200)))
        await watch.expect_error(4002, seq_free=1, after=" after a kind-4 frame")
    return "4002, seq free"


# --------------------------------------------------------------------- text frames
@probe()
async def probe_deep_json(run: Run) -> str:
    _, _, watch = await run.fresh("deep")
    internal = await run.metric("prism_internal_errors_total")
    tracebacks = run.log_text().count("Traceback")
    depth = 2000
    text = (
        '{"type": "question", "seq": 1, "text": "hi", "t": 1, "x": '
        + "[" * depth
        + "]" * depth
        + "}"
    )
    async with watch:
        await watch.send(text)
        await watch.expect_error(4000, seq_free=1, after=" after JSON nested 2000 deep")
    after = await run.metric("prism_internal_errors_total")
    expect(
        after == internal,
        "no internal error",
        f"prism_internal_errors_total {internal:g} -> {after:g}",
    )
    new = run.log_text().count("Traceback") - tracebacks
    expect(new == 0, "no traceback in the log", f"{new} new")
    return f"{len(text)} bytes nested {depth} deep: 4000, seq free, no internal error"


@probe()
async def probe_oversized_text(run: Run) -> str:
    _, _, watch = await run.fresh("big")
    text = json.dumps({"type": "question", "seq": 1, "text": "hi", "t": 1, "pad": "x" * 5000})
    async with watch:
        await watch.send(text)
        await watch.expect_error(4002, seq_free=1, after=" after a 5000-byte text")
    return f"{len(text)} bytes: 4002, seq free"


@probe()
async def probe_strict_types(run: Run) -> str:
    _, _, watch = await run.fresh("types")
    async with watch:
        for bad in ("7", True, 7.0):
            await watch.send(f'{{"type": "ack", "seq": {json.dumps(bad)}, "up_to": 0}}')
            error = await watch.error(after=f" after seq {json.dumps(bad)}")
            expect(error["code"] == 4000, f"4000 for seq {json.dumps(bad)}", brief(error))
        await watch.send({"type": "question", "seq": 1, "text": "where am I?", "t": "1"})
        error = await watch.error(after=' after "t": "1"')
        expect(error["code"] == 4000, '4000 for "t": "1"', brief(error))
        await watch.seq_is_free(1)
    return 'seq "7", true, 7.0 and t "1": 4000 each, seq 1 free'


@probe()
async def probe_hello_seq_ignored(run: Run) -> str:
    device = await run.device("hello")
    session_id = await run.session(device)
    for seq in ("x", -5, True, None):
        async with await run.watch(device, session_id, hello=False) as watch:
            hello: dict[str, Any] = {"type": "hello", "protocol": 1, "resume_from": 0}
            if seq is not None:
                hello["seq"] = seq
            await watch.send(hello)
            reply = await watch.next_of(("welcome", "error"))
            expect(
                reply is not None and reply["type"] == "welcome",
                f"welcome for a hello with seq {seq!r}",
                reply or watch.closed_text(),
            )
    return 'welcome for seq "x", -5, true and none'


# --------------------------------------------------------------------- order and time
@probe()
async def probe_t0_out_of_range(run: Run) -> str:
    _, _, watch = await run.fresh("t0")
    async with watch:
        for t0 in (1e300, 86_400.0):
            await watch.send(imu_frame(watch.seq, t0))
            error = await watch.expect_error(4000, seq_free=watch.seq, after=f" after t0 {t0:g}")
            expect("t0" in error["message"], "the error naming t0", brief(error))
        await watch.send(imu_frame(watch.take_seq(), 10.0))
        await watch.send(imu_frame(watch.seq, 10.0 + 0.2 + 3600.0 + 1.0))
        error = await watch.expect_error(4000, seq_free=watch.seq, after=" after t0 3601 s ahead")
        expect("t0" in error["message"], "the error naming t0", brief(error))
        # the clock did not move to the refused frame
        await watch.send(imu_frame(watch.take_seq(), 10.2))
        errors = [m for m in await watch.sync() if m.get("type") == "error"]
        expect(not errors, "the next frame in time accepted", [brief(e) for e in errors])
    return "1e300, 86400 (first frame) and 3601 s ahead: 4000 naming t0, seq free, clock unchanged"


@probe()
async def probe_time_backwards(run: Run) -> str:
    _, _, watch = await run.fresh("backwards")
    async with watch:
        await watch.send(imu_frame(1, 10.0))
        await watch.send(imu_frame(2, 5.0))
        await watch.expect_error(4005, seq_free=2, after=" after a frame back in time")
    return "4005, seq free"


@probe()
async def probe_duplicate(run: Run) -> str:
    _, _, watch = await run.fresh("duplicate")
    async with watch:
        await watch.send(imu_frame(1, 0.0))
        await watch.send(imu_frame(1, 0.2))
        error = await watch.expect_error(4004, after=" after a duplicate")
        expect(error.get("ref_seq") == 1, "ref_seq 1", brief(error))
        await watch.seq_is_free(2)
    return "4004 ref_seq 1, connection open"


@probe()
async def probe_sequence_gap(run: Run) -> str:
    _, _, watch = await run.fresh("gap")
    async with watch:
        await watch.send(imu_frame(6, 0.0))
        error = await watch.expect_error(4003, seq_free=1, after=" after a gap")
        expect("1" in error["message"], "the message naming the expected seq 1", error["message"])
    return "4003, resend from 1"


async def _refused_control(run: Run, message: dict[str, Any], name: str) -> str:
    """Stream a little, send ``message`` (refused with 4006), check its seq stays free
    and that a resume from 0 brings back no error."""
    device, session_id, watch = await run.fresh(name)
    async with watch:
        await watch.stream(demo_frames()[:40])
        seq = watch.seq
        await watch.send({**message, "seq": seq})
        await watch.expect_error(4006, seq_free=seq, after=f" after a {message['type']}")
    async with await run.watch(device, session_id, hello=False) as again:
        await again.hello(resume_from=0)
        resent = await again.sync()
    errors = [m for m in resent if m.get("type") == "error" or "code" in m]
    expect(not errors, "no error resent on resume", [brief(e) for e in errors])
    seqs = [m["seq"] for m in resent]
    expect(seqs == list(range(1, len(seqs) + 1)), "resent messages numbered 1, 2, ...", seqs)
    return f"4006 seq 0, seq free, resume resent {len(resent)} messages, no error"


@probe()
async def probe_unknown_step(run: Run) -> str:
    message = {"type": "correction", "kind": "done", "step": "no_such_step", "t": 4.0}
    return await _refused_control(run, message, "step")


@probe()
async def probe_unknown_reminder(run: Run) -> str:
    message = {"type": "reminder_action", "reminder_id": 987654, "action": "dismiss"}
    return await _refused_control(run, message, "reminder")


# --------------------------------------------------------------------- connections
async def _steps_after(watch: RawWatch, frames: tuple[SensorFrame, ...], after_seq: int) -> int:
    """Stream ``frames``; the seq of the newest step update that comes, one newer than
    ``after_seq`` expected within 10 s."""
    await watch.stream(frames)
    deadline = time.monotonic() + 10.0
    newest = after_seq
    while newest <= after_seq and time.monotonic() < deadline:
        step = await watch.next_of(("step",), timeout_s=deadline - time.monotonic())
        if step is None:
            break
        newest = max(newest, int(step["seq"]))
    expect(newest > after_seq, f"a step update after seq {after_seq}", watch.closed_text())
    return newest


@probe(20.0)
async def probe_second_connection_silent(run: Run) -> str:
    device, session_id, first = await run.fresh("silent")
    frames = demo_frames()[:120]
    async with first:
        newest = await _steps_after(first, frames[:40], 0)
        second = await run.watch(device, session_id, hello=False)
        async with second:
            await asyncio.sleep(0.3)
            newest = await _steps_after(first, frames[40:], newest)
            await first.sync()
    return f"the first connection open, step updates up to seq {newest}"


@probe()
async def probe_second_connection_hello(run: Run) -> str:
    device, session_id, first = await run.fresh("replace")
    async with first, await run.watch(device, session_id) as second:
        code = await first.closed(timeout_s=5.0)
        expect(code == 4010, "the first connection closed with 4010", code)
        await second.sync()
    return "first closed 4010, second open"


@probe()
async def probe_hello_deadline(run: Run) -> str:
    device = await run.device("deadline")
    session_id = await run.session(device)
    start = time.monotonic()
    async with await run.watch(device, session_id, hello=False) as watch:
        code = await watch.closed(timeout_s=HELLO_TIMEOUT_S + 1.0)
    elapsed = time.monotonic() - start
    expect(
        code == 4011,
        f"close 4011 within {HELLO_TIMEOUT_S + 1.0:g} s",
        f"{code} after {elapsed:.1f} s",
    )
    expect(
        elapsed >= HELLO_TIMEOUT_S / 2, f"not before {HELLO_TIMEOUT_S / 2:g} s", f"{elapsed:.1f} s"
    )
    return f"4011 after {elapsed:.1f} s"


@probe()
async def probe_connections_per_device(run: Run) -> str:
    device = await run.device("many")
    session_id = await run.session(device)
    watches = [await run.watch(device, session_id, hello=False) for _ in range(4)]
    try:
        async with await run.watch(device, session_id, hello=False) as extra:
            code = await extra.closed(timeout_s=1.5)
        expect(code == 4029, "the 5th connection closed with 4029", code)
        open_ones = [w.close_code for w in watches]
        expect(open_ones == [None] * 4, "the first 4 still open", open_ones)
    finally:
        for watch in watches:
            await watch.close()
    deadline = time.monotonic() + 3.0
    while True:  # the server sees the closes shortly
        async with await run.watch(device, session_id, hello=False) as again:
            await again.send({"type": "hello", "seq": 1, "protocol": 1})
            reply = await again.next_of(("welcome", "error"), timeout_s=2.0)
        if reply is not None and reply["type"] == "welcome":
            return "5th closed 4029; after closing, a new connection is welcomed"
        expect(
            time.monotonic() < deadline, "a welcome once the 4 closed", reply or again.closed_text()
        )
        await asyncio.sleep(0.2)


@probe(20.0)
async def probe_message_flood(run: Run) -> str:
    _, _, watch = await run.fresh("flood")
    latencies: list[float] = []
    flooding = asyncio.Event()

    async def health() -> None:
        async with httpx.AsyncClient(base_url=run.service.base, timeout=5.0) as http:
            while not flooding.is_set():
                start = time.perf_counter()
                reply = await http.get("/v1/health")
                latencies.append(time.perf_counter() - start if reply.status_code == 200 else 99.0)
                await asyncio.sleep(0.1)

    async with watch:
        checker = asyncio.create_task(health())
        for seq in range(1, 1001):
            await watch.send({"type": "ack", "seq": seq, "up_to": 0})
        messages = await watch.sync(timeout_s=15.0)
        flooding.set()
        await checker
    errors = [m for m in messages if m.get("type") == "error"]
    codes = [e["code"] for e in errors]
    expect(codes == [4008], "exactly one error, 4008", codes)
    worst = max(latencies, default=99.0)
    expect(
        len(latencies) >= 3 and worst < 1.0,
        "/v1/health within 1 s all along",
        f"{len(latencies)} checks, slowest {worst:.2f} s",
    )
    return f"one 4008; {len(latencies)} health checks, slowest {worst * 1e3:.0f} ms"


@probe(60.0)
async def probe_never_acknowledging(run: Run) -> str:
    device = await run.device("no-ack")
    warm, acked, lazy = [await run.session(device) for _ in range(3)]
    async with await run.watch(device, warm) as watch:  # caches warm for the same data
        asked = await watch.stream(demo_frames(), ack_every=20, ask_every=5)
        await watch.answers(asked, timeout_s=20.0)
    growth, kept = [], []
    for session_id, ack_every in ((acked, 20), (lazy, 0)):
        async with await run.watch(device, session_id) as watch:
            before = run.rss_mb()
            asked = await watch.stream(demo_frames(), ack_every=ack_every, ask_every=5)
            answered = await watch.answers(asked, timeout_s=20.0)
            expect(answered == asked, f"{asked} answers", answered)
            growth.append(run.rss_mb() - before)
            kept = [m for m in watch.received if m.get("seq")]
    measured = (
        f"{growth[1]:+.1f} MB without acks ({len(kept)} messages), {growth[0]:+.1f} MB with acks"
    )
    expect(
        growth[1] < growth[0] + NEVER_ACK_GROWTH_LIMIT_MB,
        f"at most {NEVER_ACK_GROWTH_LIMIT_MB:g} MB more than an acknowledging watch",
        measured,
    )
    async with await run.watch(device, lazy, hello=False) as again:
        await again.hello(resume_from=0)
        await again.answers(asked, timeout_s=20.0)
    resent = [m for m in again.received if m.get("seq")]
    seqs = [m["seq"] for m in resent]
    expect(seqs == list(range(1, len(seqs) + 1)), "contiguous seqs from 1 on resume", seqs)
    expect(
        resent[: len(kept)] == kept,
        f"a resume from 0 resending all {len(kept)} messages as they were",
        f"{len(resent)} resent, the first differing: {_first_difference(resent, kept)}",
    )
    return f"{len(demo_frames())} frames, {asked} questions: {measured}; all resent on resume"


# --------------------------------------------------------------------- sessions
@probe()
async def probe_procedure_path(run: Run) -> str:
    device = await run.device("path")
    for procedure in ("../tasks/latte_making", "/etc", "%2e%2e", ".."):
        reply = await run.http.post(
            "/v1/sessions", json={"procedure": procedure}, headers=device.headers
        )
        expect(reply.status_code == 404, f"404 for procedure {procedure!r}", _http(reply))
        for tail in ("", "/picture"):
            reply = await run.http.get(f"/v1/procedures/{quote(procedure, safe='')}{tail}")
            expect(
                reply.status_code == 404,
                f"404 for /v1/procedures/{quote(procedure, safe='')}{tail}",
                _http(reply),
            )
    return "404 for every path-like id"


@probe()
async def probe_end_rest_unstreamed(run: Run) -> str:
    device = await run.device("end")
    session_id = await run.session(device)
    reply = await run.http.post(f"/v1/sessions/{session_id}/end", headers=device.headers)
    expect(
        reply.status_code == 200 and reply.json().get("ended") is True,
        "200 ended true",
        _http(reply),
    )
    state = await run.http.get(f"/v1/sessions/{session_id}", headers=device.headers)
    expect(
        state.status_code == 200 and state.json().get("ended") is True,
        "the state ended",
        _http(state),
    )
    return "200, ended"


async def _end_one_stream(run: Run, kind: FrameKind) -> str:
    _, _, watch = await run.fresh(kind.name.lower())
    frames = [f for f in demo_frames() if f.kind == kind and f.end_s <= 4.0]
    async with watch:
        await watch.stream(frames)
        await watch.send({"type": "end", "seq": watch.take_seq(), "t": 4.0})
        deadline = time.monotonic() + 10.0
        final = None
        while final is None and time.monotonic() < deadline:
            step = await watch.next_of(("step",), timeout_s=deadline - time.monotonic())
            if step is None:
                break
            final = step if step.get("final") else None
    errors = watch.errors()
    expect(
        final is not None,
        "a final step update within 10 s",
        [brief(e) for e in errors] or watch.closed_text(),
    )
    expect(not errors, "no error", [brief(e) for e in errors])
    return f"{len(frames)} {kind.name.lower()} frames, end: final step update"


@probe()
async def probe_end_imu_only(run: Run) -> str:
    return await _end_one_stream(run, FrameKind.IMU)


@probe()
async def probe_end_audio_only(run: Run) -> str:
    return await _end_one_stream(run, FrameKind.AUDIO)


@probe()
async def probe_sessions_per_device(run: Run) -> str:
    busy, other = await run.device("busy"), await run.device("other")
    opened = [await run.session(busy) for _ in range(3)]
    fourth = await run.http.post("/v1/sessions", json=LATTE, headers=busy.headers)
    expect(
        fourth.status_code in (429, 503), "the 4th live session refused (429/503)", _http(fourth)
    )
    reply = await run.http.post("/v1/sessions", json=LATTE, headers=other.headers)
    expect(reply.status_code == 200, "another device opening a session meanwhile", _http(reply))
    await run.http.post(f"/v1/sessions/{opened[0]}/end", headers=busy.headers)
    reply = await run.http.post("/v1/sessions", json=LATTE, headers=busy.headers)
    expect(reply.status_code == 200, "a session opened once one of the 3 ended", _http(reply))
    return f"4th refused {fourth.status_code}; another device opens one; after an end, one more"


@probe()
async def probe_long_ids(run: Run) -> str:
    device = await run.device("long")
    long_id = "x" * 5000
    for method, path, headers in (
        ("GET", f"/v1/sessions/{long_id}", device.headers),
        ("GET", f"/v1/sessions/{long_id}/events", device.headers),
        ("POST", f"/v1/sessions/{long_id}/end", device.headers),
        ("GET", f"/v1/dashboard/sessions/{long_id}", run.admin),
    ):
        reply = await run.http.request(method, path, headers=headers)
        shown = f"{method} {path[:20]}...{path[-8:]}"
        expect(reply.status_code == 404, f"404 for {shown}", _http(reply))
        expect(
            "x" * 65 not in reply.text,
            f"the id not echoed by {shown}",
            f"{len(reply.text)} bytes echoing it",
        )
    watch = await RawWatch.open(run.ws_url(long_id), device.token)
    async with watch:
        await watch.send({"type": "hello", "seq": 1, "protocol": 1})
        code = await watch.closed(timeout_s=5.0)
    expect(code == 4404, "close 4404", code)
    echoed = [e for e in watch.errors() if "x" * 65 in e["message"]] or (
        "x" * 65 in watch.close_reason
    )
    expect(not echoed, "the stream's error and close reason without the id", "the id echoed")
    return "404 / 4404, the id never echoed"


@probe()
async def probe_dashboard_without_login(run: Run) -> str:
    device = await run.device("dash")
    session_id = await run.session(device)
    for path in ("/v1/dashboard/sessions", f"/v1/dashboard/sessions/{session_id}"):
        reply = await run.http.get(path)
        expect(reply.status_code == 401, f"401 for {path} without login", _http(reply))
    page = await run.http.get("/dashboard")
    expect(
        session_id not in page.text,
        "/dashboard without login showing no session",
        "a session id in the page",
    )
    return "data 401, page without data"


@probe()
async def probe_admin_token_not_in_url(run: Run) -> str:
    reply = await run.http.get("/v1/dashboard/sessions", headers=run.admin)
    expect(reply.status_code == 200, "the dashboard data with the token in a header", _http(reply))
    page = (await run.http.get("/dashboard")).text
    reads_url = re.findall(r"""[?&]token=|\.get\(\s*["']token["']\s*\)""", page)
    expect(
        not reads_url,
        "a /dashboard page that never takes the token from its URL",
        f"the page contains {reads_url}",
    )
    return "header works; the page reads no token from its URL"


@probe()
async def probe_rest_fuzz(run: Run) -> str:
    device = await run.device("fuzz")
    not_json = (400, 422)  # FastAPI: 422 for JSON it cannot parse, 400 for bytes not UTF-8
    bodies = {
        b"not json": not_json,
        b"{": not_json,
        b'{"procedure": "\xff\xfe"}': not_json,
        b"[]": (422,),
        b'"latte_making"': (422,),
        b'{"procedure": 5}': (422,),
        b'{"procedure": null}': (422,),
        b'{"procedure": ""}': (422,),
    }
    checked = 0
    for path, headers in (("/v1/sessions", device.headers), ("/v1/devices", run.admin)):
        for body, allowed in bodies.items():
            sent = body.replace(b"procedure", b"name") if path == "/v1/devices" else body
            reply = await run.http.post(path, content=sent, headers={**headers, **JSON})
            expected = " or ".join(map(str, allowed))
            expect(
                reply.status_code in allowed, f"{expected} for POST {path} {sent!r}", _http(reply)
            )
            checked += 1
    session_id = await run.session(device)
    events = f"/v1/sessions/{session_id}/events"
    for after in ("-1", "abc", "1e99"):
        reply = await run.http.get(events, params={"after": after}, headers=device.headers)
        expect(reply.status_code == 422, f"422 for events?after={after}", _http(reply))
        checked += 1
    reply = await run.http.get(events, params={"after": 10**30}, headers=device.headers)
    expect(
        reply.status_code == 422 or (reply.status_code == 200 and reply.json() == []),
        "422, or 200 with no events, for events?after=10^30",
        _http(reply),
    )
    return f"{checked + 1} malformed requests: each a 4xx naming the problem"


@probe()
async def probe_rest_deep_json(run: Run) -> str:
    device = await run.device("deep-rest")
    tracebacks = run.log_text().count("Traceback")
    body = '{"procedure": ' + "[" * 2000 + "]" * 2000 + "}"
    headers = {**device.headers, **JSON}
    reply = await run.http.post("/v1/sessions", content=body, headers=headers)
    expect(reply.status_code in (400, 422), "400 or 422 for a body nested 2000 deep", _http(reply))
    new = run.log_text().count("Traceback") - tracebacks
    expect(new == 0, "no traceback in the log", f"{new} new")
    return f"{reply.status_code}, no traceback"


# --------------------------------------------------------------------- crash
@probe(60.0)
async def probe_kill_9_resume(run: Run) -> str:
    """Defined last, so run last: it restarts the service."""
    device, session_id, watch = await run.fresh("crash")
    async with watch:
        await watch.stream(demo_frames()[:150])
        question = watch.take_seq()
        await watch.send({"type": "question", "seq": question, "text": "where am I?", "t": 15.0})
        answer = await watch.next_of(("answer",), timeout_s=20.0)
        expect(answer is not None, "an answer", watch.closed_text())
        received = [m for m in watch.received if m.get("seq")]
        acked = received[-1]["seq"]
        await watch.send({"type": "ack", "seq": watch.take_seq(), "up_to": acked})
        await watch.sync()
        await asyncio.sleep(0.5)
    run.service.stop(kill=True)
    try:
        await asyncio.to_thread(run.service.start)
    except ServiceStartError as problem:
        raise ProbeError(f"expected the service to start again, got: {problem}") from None
    async with await run.watch(device, session_id, hello=False) as again:
        welcome = await again.hello(resume_from=0)
        resent = [m for m in await again.sync(timeout_s=20.0) if m.get("seq")]
    expect(welcome["next_seq"] == question + 2, f"next_seq {question + 2}", welcome["next_seq"])
    seqs = [m["seq"] for m in resent]
    expect(seqs == list(range(1, len(seqs) + 1)), "contiguous seqs from 1", seqs)
    expect(
        resent[: len(received)] == received,
        f"the {len(received)} messages received, resent as they were",
        f"{len(resent)} resent, the first differing: {_first_difference(resent, received)}",
    )
    return f"{len(received)} messages (acked up to {acked}) resent exactly after SIGKILL"


def _first_difference(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> str:
    for index, wanted in enumerate(expected):
        have = got[index] if index < len(got) else None
        if have != wanted:
            return f"#{index + 1}: {json.dumps(have)[:100]} instead of {json.dumps(wanted)[:100]}"
    return "none"


# --------------------------------------------------------------------- the run
@dataclass
class Outcome:
    """What a probe found (``detail``: what it saw, or what it expected and got)."""

    name: str
    passed: bool
    detail: str
    seconds: float


async def _run_probe(run: Run, name: str, function: Probe, timeout_s: float) -> Outcome:
    start = time.perf_counter()
    try:
        detail, passed = await asyncio.wait_for(function(run), timeout_s), True
    except ProbeError as failure:
        detail, passed = str(failure), False
    except TimeoutError:
        detail, passed = f"expected an answer within {timeout_s:g} s, got none (timed out)", False
    except httpx.RequestError as problem:  # no answer to a REST request
        request = f"{problem.request.method} {problem.request.url.path[:60]}"
        detail = f"expected an answer to {request}, got {type(problem).__name__} {problem}"
        passed = False
    except Exception as problem:  # the service misbehaved in a way no check foresaw
        detail, passed = (
            f"expected the probe to run, got {type(problem).__name__}: {problem}",
            False,
        )
    return Outcome(name, passed, detail, round(time.perf_counter() - start, 2))


async def _warm_up(run: Run) -> None:
    """One session streamed for 10 s of session time, asked a question and ended: models
    loaded, before the memory is first measured."""
    _, _, watch = await run.fresh("warm-up")
    frames = [f for f in demo_frames() if f.end_s <= 10.0]
    async with watch:
        await watch.stream(frames)
        await watch.send(
            {"type": "question", "seq": watch.take_seq(), "text": "what next?", "t": 10}
        )
        await watch.next_of(("answer",), timeout_s=20.0)
        await watch.send({"type": "end", "seq": watch.take_seq(), "t": 10.0})
        await watch.sync(timeout_s=30.0)


async def _probe_all(run: Run, out: TextIO) -> list[Outcome]:
    outcomes = []
    for name, function, timeout_s in PROBES:
        if name == "kill_9_resume":  # it restarts the service: measure before
            run.memory_mb.append(run.rss_mb())
            run.internal_errors_before_restart = await run.metric("prism_internal_errors_total")
        outcome = await _run_probe(run, name, function, timeout_s)
        print(
            f"{'PASS' if outcome.passed else 'FAIL'} {name}: {outcome.detail}", file=out, flush=True
        )
        outcomes.append(outcome)
    return outcomes


async def _session(service: Service, log: Path, out: TextIO) -> tuple[list[Outcome], Run]:
    # no keep-alive: each request has its own connection, so one probe's broken
    # connection cannot fail the next probe's request
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=service.base, timeout=10.0, limits=limits) as http:
        run = Run(service, http, log)
        await _warm_up(run)
        run.memory_mb.append(run.rss_mb())
        outcomes = await _probe_all(run, out)
        return outcomes, run


def run(out: TextIO, *, log: Path | None = None) -> dict[str, Any]:
    """Start the service, run every probe (a line each to ``out``), stop it; the report
    as a JSON-ready dict. ``log``: where to keep the service's log (None: a temporary
    file)."""
    demo_frames()
    with tempfile.TemporaryDirectory() as folder:
        log = log or Path(folder) / "service.log"
        log.write_bytes(b"")
        service = Service(free_port(), Path(folder) / "hostile.sqlite3", ADMIN_TOKEN, SETTINGS, log)
        try:
            service.start()
            outcomes, state = asyncio.run(_session(service, log, out))
            internal = state.internal_errors_before_restart
            if service.process is not None:  # the restarted service's own count
                internal += service.metrics().get("prism_internal_errors_total", 0.0)
        finally:
            service.stop()
        text = log.read_text(errors="replace")
    start_mb, end_mb = state.memory_mb[0], state.memory_mb[-1]
    failed = sum(not o.passed for o in outcomes)
    return {
        "probes": [asdict(o) for o in outcomes],
        "passed": len(outcomes) - failed,
        "failed": failed,
        "all_passed": failed == 0,
        "tracebacks_in_log": text.count("Traceback"),
        "log_bytes": len(text.encode()),
        "memory_mb_start": round(start_mb, 1),
        "memory_mb_end": round(end_mb, 1),
        "memory_growth_mb": round(end_mb - start_mb, 1),
        "internal_errors": internal,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--json", action="store_true", help="the JSON summary on stdout, the probe lines on stderr"
    )
    parser.add_argument("--log", type=Path, help="keep the service's log (stderr) in this file")
    args = parser.parse_args()
    report = run(sys.stderr if args.json else sys.stdout, log=args.log)
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            if key != "probes":
                print(f"{key:>20}: {value}")
    ok = (
        report["all_passed"]
        and report["tracebacks_in_log"] == 0
        and report["memory_growth_mb"] < MEMORY_GROWTH_LIMIT_MB
    )
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()

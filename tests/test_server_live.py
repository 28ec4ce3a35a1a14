"""Live sessions: batched processing equals one-by-one, rate limits, slow connections."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prism.data.recording import read_recording
from prism.server.limits import TokenBucket
from prism.server.live import CloseRequest, LiveSession, ServerSettings, SessionRegistry
from prism.server.protocol import ErrorCode, SensorFrame, encode_frame
from prism.watch.replay import sensor_frames

RECORDINGS = [read_recording(Path(f"datasets/demo/latte_making-s00{i}")) for i in (0, 1)]


def _registry(**settings: object) -> SessionRegistry:
    settings.setdefault("database", ":memory:")
    return SessionRegistry(ServerSettings(**settings))  # type: ignore[arg-type]


def _session(registry: SessionRegistry, name: str) -> LiveSession:
    session = LiveSession(name, "dev", "latte_making", registry.runtime("latte_making"))
    registry.sessions[name] = session
    registry.store.add_session(name, "dev", "latte_making")
    return session


def _numbered(frames: list[SensorFrame]) -> list[tuple[SensorFrame, bytes]]:
    out = []
    for seq, f in enumerate(frames, start=1):
        body = encode_frame(SensorFrame(f.kind, seq, f.t0, f.rate, f.samples))
        out.append((SensorFrame(f.kind, seq, f.t0, f.rate, f.samples), body))
    return out


def test_batched_sessions_get_the_events_each_gets_alone(tmp_path: Path) -> None:
    registry = _registry(database=str(tmp_path / "db.sqlite3"))
    streams = [_numbered(sensor_frames(r, chunk_s=0.2)[:200]) for r in RECORDINGS * 2]
    batched = [_session(registry, f"ses-{i}") for i in range(len(streams))]
    alone = [registry.runtime("latte_making") for _ in streams]
    expected: list[list[dict[str, object]]] = [[] for _ in streams]
    for i in range(max(len(s) for s in streams)):
        for session, runtime, frames, own in zip(batched, alone, streams, expected, strict=True):
            if i < len(frames):
                frame, body = frames[i]
                registry.push_frame(session, frame, body)
                own.extend(e.data for e in runtime.handle_frame(frame))
        if i % 3 == 2:  # a batch every three rounds: sessions with 0..3 ready frames
            registry.process([s for s in batched if s.pending])
    registry.process(batched)
    for session, own in zip(batched, expected, strict=True):
        got = [
            {k: v for k, v in m.items() if k not in ("type", "seq", "t", "in_seq")}
            for m in session.sent
        ]
        assert len(got) == len(own) > 3
        for message, data in zip(got, own, strict=True):
            assert message.keys() == data.keys()
            for key, value in data.items():
                if isinstance(value, float):
                    assert message[key] == pytest.approx(value, abs=1e-4)
                elif key != "next":
                    assert message[key] == value
        marks = [m["in_seq"] for m in session.sent if m["type"] == "step"]
        assert marks == sorted(marks) and all(mark >= 1 for mark in marks)
    # everything processed was stored: a restart rebuilds the same state
    stored = list(registry.store.inputs("ses-0"))
    assert [s.seq for s in stored] == list(range(1, len(streams[0]) + 1))
    restarted = SessionRegistry(registry.settings)
    for session in batched:
        again = restarted.sessions[session.id]
        assert again.sent == session.sent
        assert again.runtime.state.current_step == session.runtime.state.current_step
        assert again.runtime.state.frame == session.runtime.state.frame


def test_a_connection_that_does_not_read_is_closed_and_loses_nothing() -> None:
    registry = _registry(max_outbox=3)
    session = _session(registry, "ses-slow")
    queue: asyncio.Queue[dict[str, object] | CloseRequest] = asyncio.Queue()
    session.outbox = queue  # type: ignore[assignment]
    messages = [{"type": "step", "seq": i} for i in range(1, 6)]
    registry.deliver(session, messages[:2])
    registry.deliver(session, messages[2:])
    assert session.outbox is None  # detached: later messages wait for a resume
    registry.deliver(session, messages)
    assert queue.qsize() == 3
    items = [queue.get_nowait() for _ in range(3)]
    assert items[:2] == messages[:2]
    assert isinstance(items[2], CloseRequest) and items[2].code == ErrorCode.TOO_SLOW


@given(
    gaps=st.lists(st.floats(0.0, 0.5), min_size=1, max_size=60),
    rate=st.floats(1.0, 50.0),
    burst=st.integers(1, 10),
)
def test_token_bucket_never_lets_more_through_than_rate_and_burst(
    gaps: list[float], rate: float, burst: int
) -> None:
    bucket = TokenBucket(rate, burst)
    arrival, used = 0.0, []
    for gap in gaps:
        arrival = max(arrival + gap, used[-1] if used else 0.0)  # reads after the wait
        used.append(arrival + bucket.delay(now=arrival))
    times = np.array(used)
    for k in range(times.size):  # any window [times[j], times[k]]
        window = times[k] - times[: k + 1]
        allowed = burst + rate * window + 1e-6
        assert np.all(np.arange(k + 1, 0, -1) <= allowed)


@given(rate=st.floats(1.0, 50.0), burst=st.integers(1, 10), n=st.integers(1, 50))
def test_token_bucket_does_not_delay_a_client_within_the_rate(
    rate: float, burst: int, n: int
) -> None:
    bucket = TokenBucket(rate, burst)
    assert all(bucket.delay(now=i / rate) == 0.0 for i in range(n))


def test_token_bucket_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="rate > 0"):
        TokenBucket(0.0, 3)

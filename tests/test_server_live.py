"""Live sessions: batched processing equals one-by-one, rate limits, slow connections."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prism.data.recording import read_recording
from prism.errors import PrismError
from prism.procedure.io import load_procedure
from prism.protocol import ErrorCode, Question, SensorFrame, encode_frame
from prism.sensing.classifier import ActivityClassifier
from prism.server.limits import TokenBucket
from prism.server.live import CloseRequest, ServerSettings, SessionRegistry
from prism.server.pipeline import LocalPipeline, UnknownSessionError
from prism.server.runtime import SessionRuntime
from prism.server.shards import ShardedPipeline
from prism.watch.replay import sensor_frames

LATTE = load_procedure("tasks/latte_making/procedure.yaml")
MODEL = ActivityClassifier.load("models/latte_making")
RECORDINGS = [read_recording(Path(f"datasets/demo/latte_making-s00{i}")) for i in (0, 1)]


def _registry(**settings: object) -> SessionRegistry:
    settings.setdefault("database", ":memory:")
    settings.setdefault("warm_up_sessions", 0)
    return SessionRegistry(ServerSettings(**settings))  # type: ignore[arg-type]


def _numbered(frames: list[SensorFrame]) -> list[tuple[SensorFrame, bytes]]:
    out = []
    for seq, f in enumerate(frames, start=1):
        numbered = SensorFrame(f.kind, seq, f.t0, f.rate, f.samples)
        out.append((numbered, encode_frame(numbered)))
    return out


def _comparable(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages without their numbering and latency mark."""
    return [{k: v for k, v in m.items() if k not in ("seq", "in_seq")} for m in messages]


def _assert_same_events(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert len(got) == len(expected) > 3
    for message, data in zip(_comparable(got), _comparable(expected), strict=True):
        assert message.keys() == data.keys()
        for key, value in data.items():
            if isinstance(value, float):  # batched network calls: float rounding
                assert message[key] == pytest.approx(value, abs=1e-4)
            elif key != "next":
                assert message[key] == value


def test_batched_sessions_get_the_events_each_gets_alone(tmp_path: Path) -> None:
    registry = _registry(database=str(tmp_path / "db.sqlite3"))
    streams = [_numbered(sensor_frames(r, chunk_s=0.2)[:200]) for r in RECORDINGS * 2]
    batched = [registry.open_session("dev", "latte_making") for _ in streams]
    pipeline = registry.pipeline
    assert isinstance(pipeline, LocalPipeline)
    phases = [pipeline.runtimes[session.id].observe_phase for session in batched]
    assert len(set(phases)) > 1  # the sessions' observers run on different frames
    alone = [SessionRuntime(LATTE, MODEL, observe_phase=phase) for phase in phases]
    expected: list[list[dict[str, Any]]] = [[] for _ in streams]
    for i in range(max(len(s) for s in streams)):
        for session, runtime, frames, own in zip(batched, alone, streams, expected, strict=True):
            if i < len(frames):
                frame, body = frames[i]
                registry.push_frame(session, frame, body)
                own.extend(e.message(0) for e in runtime.handle_frame(frame))
        if i % 3 == 2:  # a batch every three rounds: sessions with 0..3 ready frames
            registry.process([s for s in batched if s.pending])
    registry.process(batched)
    for session, own in zip(batched, expected, strict=True):
        sent = registry.sent_after(session, 0)
        assert sent == registry.store.outputs(session.id)  # nothing acknowledged: in memory
        _assert_same_events(sent, own)
        marks = [m["in_seq"] for m in sent if m["type"] == "step"]
        assert marks == sorted(marks) and all(mark >= 1 for mark in marks)
    # everything processed was stored: a restart rebuilds the same state
    stored = list(registry.store.inputs(batched[0].id))
    assert [s.seq for s in stored] == list(range(1, len(streams[0]) + 1))
    restarted = SessionRegistry(registry.settings)
    for session in batched:
        again = restarted.sessions[session.id]
        assert restarted.sent_after(again, 0) == registry.sent_after(session, 0)
        assert again.sent_count == session.sent_count and again.last_step == session.last_step
        before = registry.pipeline.snapshot(session.id)
        after = restarted.pipeline.snapshot(session.id)
        assert after["current"] == before["current"] and after["time_s"] == before["time_s"]
        assert after["history"] == before["history"]


def test_sharded_pipeline_equals_the_local_one() -> None:
    local = LocalPipeline(Path("tasks"), Path("models"))
    sharded = ShardedPipeline(Path("tasks"), Path("models"), workers=2)
    try:
        assert len(set(sharded.pids)) == 2
        names = [f"ses-{i}" for i in range(4)]
        for pipeline in (local, sharded):
            for name in names:
                pipeline.open(name, "latte_making")
        frames = [_numbered(sensor_frames(r, chunk_s=0.5)[:60]) for r in RECORDINGS * 2]
        got: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        want: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        for start in range(0, 60, 6):
            batch = {
                n: [b for _, b in f[start : start + 6]] for n, f in zip(names, frames, strict=True)
            }
            for pipeline, out in ((local, want), (sharded, got)):
                for name, result in pipeline.step(batch).items():
                    out[name].extend(e.message(0) for e in result.events)
        for name in names:
            _assert_same_events(got[name], want[name])
        question = Question(type="question", seq=1, text="what's next?", t=0.0)
        assert sharded.control(names[0], question)[0].kind == "answer"
        assert sharded.snapshot(names[1])["procedure"] == "latte_making"
        with pytest.raises(UnknownSessionError, match="ses-nope"):
            sharded.snapshot("ses-nope")
        with pytest.raises(PrismError):
            sharded.open("ses-x", "no_such_procedure")
        assert sharded.snapshot(names[2])["time_s"] > 0  # the worker went on after errors
    finally:
        sharded.close()


def test_a_connection_that_does_not_read_is_closed_and_loses_nothing() -> None:
    registry = _registry(max_outbox=3)
    session = registry.open_session("dev", "latte_making")
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


def test_warm_up_fills_the_shared_kernel_cache_before_the_first_session() -> None:
    cold = LocalPipeline(Path("tasks"), Path("models"))
    warm = LocalPipeline(Path("tasks"), Path("models"), warm_up_sessions=1)
    for pipeline in (cold, warm):
        pipeline.open("ses-1", "latte_making")
    assert cold.futures["latte_making"].cached_kernels <= 1  # the start state's only
    assert warm.futures["latte_making"].cached_kernels > 20
    pipeline.open("ses-2", "latte_making")  # warmed once per procedure
    assert warm.runtimes["ses-2"].observer.future is warm.futures["latte_making"]


def test_a_session_keeps_only_unacknowledged_messages_in_memory() -> None:
    registry = _registry()
    session = registry.open_session("dev", "latte_making")
    for frame, body in _numbered(sensor_frames(RECORDINGS[0], chunk_s=0.5)[:80]):
        registry.push_frame(session, frame, body)
    registry.process([session])
    question = Question(type="question", seq=81, text="what's next?", t=0.0)
    events = registry.pipeline.control(session.id, question)
    registry.commit(session, None, events)
    everything = registry.store.outputs(session.id)
    assert session.sent_count == len(everything) > 5
    assert registry.sent_after(session, 0) == everything
    session.acknowledge(session.sent_count - 2)
    assert [m["seq"] for m in session.unacked] == [len(everything) - 1, len(everything)]
    # a resume from before the window reads the database
    assert registry.sent_after(session, 3) == everything[3:]
    assert registry.sent_after(session, len(everything)) == []
    assert session.last_step == [m for m in everything if m["type"] == "step"][-1]
    assert list(session.notable) == [m for m in everything if m["type"] in ("reminder", "answer")]
    session.acknowledge(10**6)  # more than was sent: up to what was sent
    assert session.acked == session.sent_count and session.unacked == []


def test_closing_the_registry_stops_its_pipeline_workers(tmp_path: Path) -> None:
    registry = _registry(database=str(tmp_path / "db.sqlite3"), pipeline_workers=1)
    pipeline = registry.pipeline
    assert isinstance(pipeline, ShardedPipeline)
    session = registry.open_session("dev", "latte_making")
    assert registry.sent_after(session, 0) == []
    worker = psutil.Process(pipeline.pids[0])
    registry.close()
    worker.wait(timeout=10)
    assert not worker.is_running()

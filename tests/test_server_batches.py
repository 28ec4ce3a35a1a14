"""The frame batches: batched sessions get the events each gets alone, the loops run under
one task group (several lifespans in turn), control messages wait for their frames."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from conftest import assert_same_events, numbered_frames, server_registry, service_settings
from prism.data.recording import read_recording
from prism.procedure.io import load_procedure
from prism.protocol import CorrectionMessage, SensorFrame, encode_frame
from prism.sensing.classifier import ActivityClassifier
from prism.server.pipeline import LocalPipeline
from prism.server.registry import SessionRegistry
from prism.server.runtime import SessionRuntime
from prism.server.session import LiveSession
from prism.storage import StoredInput
from prism.watch.replay import sensor_frames

LATTE = load_procedure("tasks/latte_making/procedure.yaml")
MODEL = ActivityClassifier.load("models/latte_making")
RECORDINGS = [read_recording(Path(f"datasets/demo/latte_making-s00{i}")) for i in (0, 1)]
FRAMES = numbered_frames(sensor_frames(RECORDINGS[0], chunk_s=0.5)[:40])


def test_batched_sessions_get_the_events_each_gets_alone(tmp_path: Path) -> None:
    registry = server_registry(database=str(tmp_path / "db.sqlite3"))
    streams = [numbered_frames(sensor_frames(r, chunk_s=0.2)[:200]) for r in RECORDINGS * 2]
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
                registry.batches.push_frame(session, frame, body)
                own.extend(e.message(0) for e in runtime.handle_frame(frame))
        if i % 3 == 2:  # a batch every three rounds: sessions with 0..3 ready frames
            registry.batches.process([s for s in batched if s.pending])
    registry.batches.process(batched)
    for session, own in zip(batched, expected, strict=True):
        sent = registry.sent_after(session, 0)
        assert sent == registry.store.outputs(session.id)  # nothing acknowledged: in memory
        assert_same_events(sent, own)
        marks = [m["in_seq"] for m in sent if m["type"] == "step"]
        assert marks == sorted(marks) and all(mark >= 1 for mark in marks)
    # everything processed after the last checkpoint was stored (the inputs before it
    # are deleted): a restart rebuilds the same state
    stored = list(registry.store.inputs(batched[0].id))
    checkpoint = registry.store.checkpoint(batched[0].id)
    covered = checkpoint.front["last_seq"] if checkpoint is not None else 0
    assert [s.seq for s in stored] == list(range(covered + 1, len(streams[0]) + 1))
    restarted = SessionRegistry(registry.settings)
    for session in batched:
        again = restarted.sessions[session.id]
        assert restarted.sent_after(again, 0) == registry.sent_after(session, 0)
        assert again.sent_count == session.sent_count and again.last_step == session.last_step
        before = registry.pipeline.snapshot(session.id)
        after = restarted.pipeline.snapshot(session.id)
        assert after["current"] == before["current"] and after["time_s"] == before["time_s"]
        assert after["history"] == before["history"]


async def _with_loops(registry: SessionRegistry, work: Any) -> None:
    """Run ``work`` while the registry's batch loops run (as the app's lifespan does)."""
    async with asyncio.TaskGroup() as group:
        loops = [group.create_task(loop) for loop in registry.batches.loops()]
        try:
            await work
        finally:
            for loop in loops:
                loop.cancel()
    assert all(loop.cancelled() for loop in loops)  # stopped cleanly, none failed


async def _stream(registry: SessionRegistry, session: LiveSession, frames: range) -> None:
    for index in frames:
        registry.batches.push_frame(session, *FRAMES[index])
    await registry.batches.flush(session)


def test_the_loops_batch_store_and_deliver_over_several_lifespans() -> None:
    registry = server_registry(checkpoint_every_s=None)  # every input stays stored
    session = registry.open_session("dev", "latte_making")
    session.outbox = asyncio.Queue()
    asyncio.run(_with_loops(registry, _stream(registry, session, range(0, 20))))
    assert session.pending == [] and session.sent_count > 0
    first = session.sent_count
    # frames queued between two lifespans are batched first by the next one
    for frame, body in FRAMES[20:30]:
        registry.batches.push_frame(session, frame, body)
    asyncio.run(_with_loops(registry, _stream(registry, session, range(30, 40))))
    stored = [stored.seq for stored in registry.store.inputs(session.id)]
    assert stored == list(range(1, 41))
    assert registry.store.outputs(session.id) == registry.sent_after(session, 0)
    assert session.sent_count > first
    assert sum(registry.batches.batch_sizes.values()) >= 2
    assert registry.counters["internal_errors"] == 0


def test_a_control_message_waits_for_the_frames_before_it() -> None:
    registry = server_registry(checkpoint_every_s=None)  # every input stays stored
    session = registry.open_session("dev", "latte_making")
    correction = CorrectionMessage(type="correction", seq=41, kind="done", step="x", t=1.0)

    async def correct() -> None:
        for frame, body in FRAMES:
            registry.batches.push_frame(session, frame, body)
        await registry.control(session, correction)
        assert session.pending == [] and session.pending_frames == 0
        assert len(list(registry.store.inputs(session.id))) == len(FRAMES)

    asyncio.run(_with_loops(registry, correct()))


def test_behind_after_max_pending_frames() -> None:
    registry = SessionRegistry(
        service_settings(database=":memory:", warm_up_sessions=0, max_pending_frames=3)
    )
    session = registry.open_session("dev", "latte_making")
    pushed = []
    for frame, body in FRAMES[:4]:
        registry.batches.push_frame(session, frame, body)
        pushed.append(registry.batches.behind(session))
    assert pushed == [False, False, True, True]
    registry.batches.process([session])
    assert not registry.batches.behind(session)


def test_a_failing_pipeline_step_keeps_the_loops_going() -> None:
    registry = server_registry(checkpoint_every_s=None)  # every input stays stored
    pipeline = registry.pipeline
    assert isinstance(pipeline, LocalPipeline)
    original = pipeline.step
    calls = {"n": 0}

    def flaky(frames: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("boom")
        return original(frames)

    pipeline.step = flaky  # type: ignore[method-assign]
    session = registry.open_session("dev", "latte_making")
    asyncio.run(_with_loops(registry, _stream(registry, session, range(0, 1))))
    asyncio.run(_with_loops(registry, _stream(registry, session, range(1, 20))))
    assert registry.counters["internal_errors"] == 1
    assert [stored.seq for stored in registry.store.inputs(session.id)] == list(range(1, 21))


def test_acknowledgements_and_empty_frames_are_not_stored_but_their_seq_is() -> None:
    registry = server_registry(checkpoint_every_s=None)  # every input stays stored
    session = registry.open_session("dev", "latte_making")
    (first, body), (second, _) = FRAMES[:2]
    registry.batches.push_frame(session, first, body)
    empty = SensorFrame(second.kind, 2, second.t0, second.rate, second.samples[:0])
    registry.batches.push_frame(session, empty, encode_frame(empty))
    registry.batches.acknowledge(session, StoredInput(3, "control", b'{"type": "ack"}'), 0)
    assert [i.seq for i in session.pending] == [1] and session.pending_frames == 1
    registry.batches.process([session])
    assert [i.seq for i in registry.store.inputs(session.id)] == [1]
    row = registry.store.session(session.id)
    assert row is not None and row.last_seq == 3 == session.last_input_seq

"""The session registry: opening, looking up and attaching sessions (and what it refuses),
numbered output kept in memory only while unacknowledged (and at most
``max_unacked_kept`` of it), error events unnumbered, outboxes of slow watches."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psutil
import pytest

from conftest import numbered_frames, server_registry
from prism.data.recording import read_recording
from prism.protocol import ErrorCode, Question
from prism.server.errors import (
    NoUsableModelError,
    ProcedureNotFoundError,
    SessionElsewhereError,
    SessionNotFoundError,
    TooManyDeviceSessionsError,
    TooManySessionsError,
)
from prism.server.registry import SessionRegistry
from prism.server.runtime import RuntimeEvent
from prism.server.session import CloseRequest, LiveSession
from prism.server.shards import ShardedPipeline
from prism.watch.replay import sensor_frames

RECORDING = read_recording(Path("datasets/demo/latte_making-s000"))


def test_a_connection_that_does_not_read_is_closed_and_loses_nothing() -> None:
    registry = server_registry(max_outbox=3)
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


def _streamed(frames: int) -> tuple[SessionRegistry, LiveSession]:
    """A registry with one session that processed the recording's first ``frames``."""
    registry = server_registry()
    session = registry.open_session("dev", "latte_making")
    for frame, body in numbered_frames(sensor_frames(RECORDING, chunk_s=0.5)[:frames]):
        registry.batches.push_frame(session, frame, body)
    registry.batches.process([session])
    return registry, session


def test_a_session_keeps_only_unacknowledged_messages_in_memory() -> None:
    registry, session = _streamed(80)
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
    registry = server_registry(database=str(tmp_path / "db.sqlite3"), pipeline_workers=1)
    pipeline = registry.pipeline
    assert isinstance(pipeline, ShardedPipeline)
    session = registry.open_session("dev", "latte_making")
    assert registry.sent_after(session, 0) == []
    worker = psutil.Process(pipeline.pids[0])
    registry.close()
    worker.wait(timeout=10)
    assert not worker.is_running()


def test_what_the_registry_refuses() -> None:
    registry = server_registry(max_sessions=2)
    with pytest.raises(ProcedureNotFoundError, match="unknown procedure 'nope'"):
        registry.open_session("dev", "nope")
    with pytest.raises(NoUsableModelError, match="no privacy model"):
        registry.open_session("dev", "wound_care", privacy=True)
    session = registry.open_session("dev", "latte_making")
    registry.open_session("dev", "wound_care")  # no trained model: guided mode
    with pytest.raises(TooManySessionsError, match=r"2 live sessions \(max_sessions\)"):
        registry.open_session("dev", "latte_making")
    assert registry.owned(session.id, "dev") is session
    # another device's session: refused as an unknown one
    with pytest.raises(SessionNotFoundError, match=f"^unknown session '{session.id}'$"):
        registry.owned(session.id, "other")
    with pytest.raises(SessionNotFoundError, match=r"^unknown session 'ses-nope'$"):
        registry.resolve("ses-nope")
    with pytest.raises(SessionNotFoundError, match=r"^unknown session 'ses-nope'$"):
        asyncio.run(registry.attach("ses-nope", "dev"))
    with pytest.raises(SessionNotFoundError, match=f"^unknown session '{session.id}'$"):
        asyncio.run(registry.attach(session.id, "other"))
    with pytest.raises(SessionNotFoundError, match=r"^unknown session$"):
        registry.owned("s" * 65, "dev")
    session.owner = False  # as if another process had claimed it
    question = Question(type="question", seq=1, text="where am I?", t=0.0)
    with pytest.raises(SessionElsewhereError, match="served by another server"):
        asyncio.run(registry.control(session, question))


def test_attaching_claims_the_session_and_keeps_the_copy_this_process_served() -> None:
    registry = server_registry()
    session = registry.open_session("dev", "latte_making")
    attached = asyncio.run(registry.attach(session.id, "dev"))
    assert attached is session and (session.epoch, session.owner) == (1, True)
    assert registry.row(session.id) is not None
    assert registry.store.session(session.id).epoch == 1  # type: ignore[union-attr]
    assert registry.counters["sessions_taken_over"] == 0


def test_ending_a_session_over_rest_stores_the_final_update_once() -> None:
    registry, session = _streamed(20)
    asyncio.run(registry.end(session))
    final = [m for m in registry.store.outputs(session.id) if m.get("final")]
    assert session.ended and len(final) == 1
    asyncio.run(registry.end(session))  # over already: nothing more
    assert [m for m in registry.store.outputs(session.id) if m.get("final")] == final
    assert registry.store.session(session.id).ended  # type: ignore[union-attr]


def test_a_watch_that_never_acknowledges_does_not_grow_the_servers_memory() -> None:
    registry = server_registry(max_unacked_kept=5)
    session = registry.open_session("dev", "latte_making")
    for t in range(40):
        registry.commit(session, None, [RuntimeEvent("step", float(t), {"current": None})])
        assert len(session.unacked) == min(t + 1, 5)
    everything = registry.store.outputs(session.id)
    assert [m["seq"] for m in everything] == list(range(1, 41))
    assert [m["seq"] for m in session.unacked] == [36, 37, 38, 39, 40]
    for after in (0, 20, 34, 35, 36, 39, 40):  # before, at and inside the window
        assert registry.sent_after(session, after) == everything[after:]
    session.acknowledge(38)
    assert [m["seq"] for m in session.unacked] == [39, 40]
    assert registry.sent_after(session, 10) == everything[10:]


def test_a_rebuilt_session_keeps_at_most_max_unacked_kept(tmp_path: Path) -> None:
    database = str(tmp_path / "sessions.sqlite3")
    registry = server_registry(database=database)
    session = registry.open_session("dev", "latte_making")
    events = [RuntimeEvent("step", float(t), {"current": None}) for t in range(12)]
    events.insert(3, RuntimeEvent("reminder", 3.0, {"reminder_id": 4, "step": "x"}))
    stored = registry.commit(session, None, events)
    registry.close()
    restarted = server_registry(database=database, max_unacked_kept=3)
    rebuilt = restarted.sessions[session.id]
    assert [m["seq"] for m in rebuilt.unacked] == [11, 12, 13]
    assert rebuilt.reminder_ids == {4}  # a reminder action may name it after a restart
    assert restarted.sent_after(rebuilt, 0) == stored
    restarted.close()


def test_error_events_are_delivered_unnumbered_and_never_stored() -> None:
    registry = server_registry()
    session = registry.open_session("dev", "latte_making")
    problem = {"code": 4006, "message": "unknown reminder id 7", "ref_seq": 5}
    events = [
        RuntimeEvent("error", 1.0, problem),
        RuntimeEvent("step", 1.0, {"current": None}),
    ]
    sent = registry.commit(session, None, events)
    assert sent[0] == {
        "type": "error",
        "seq": 0,
        "code": 4006,
        "message": "message 5: unknown reminder id 7",
        "ref_seq": None,
    }
    assert sent[1]["type"] == "step" and sent[1]["seq"] == 1 and session.sent_count == 1
    assert registry.store.outputs(session.id) == [sent[1]] == registry.sent_after(session, 0)
    assert registry.counters["protocol_errors"] == 1


def test_only_live_sessions_count_towards_the_limits() -> None:
    registry = server_registry(max_sessions=3, max_sessions_per_device=2)
    first = registry.open_session("dev", "latte_making")
    registry.open_session("dev", "latte_making")
    with pytest.raises(TooManyDeviceSessionsError, match=r"2 live sessions \(max_sessions_per"):
        registry.open_session("dev", "latte_making")
    registry.open_session("other", "latte_making")  # another device is not locked out
    with pytest.raises(TooManySessionsError, match="3 live sessions"):
        registry.open_session("third", "latte_making")
    asyncio.run(registry.end(first))  # an ended session no longer counts
    registry.open_session("dev", "latte_making")
    assert sum(not s.ended for s in registry.sessions.values()) == 3


def test_the_limits_count_live_sessions_after_a_restart(tmp_path: Path) -> None:
    database = str(tmp_path / "db.sqlite3")
    registry = server_registry(database=database, max_sessions_per_device=1)
    asyncio.run(registry.end(registry.open_session("dev", "latte_making")))
    registry.close()
    restarted = server_registry(database=database, max_sessions_per_device=1)
    restarted.open_session("dev", "latte_making")  # the ended session is not counted
    with pytest.raises(TooManyDeviceSessionsError):
        restarted.open_session("dev", "latte_making")
    restarted.close()


def test_sessions_idle_longer_than_the_timeout_are_ended() -> None:
    registry = server_registry(session_idle_timeout_s=60.0, max_sessions_per_device=1)
    now = [1000.0]
    registry.clock = lambda: now[0]
    idle = registry.open_session("dev", "latte_making")
    busy = registry.open_session("other", "latte_making")
    assert registry.idle_sweep_every_s == 15.0
    now[0] += 40.0
    for frame, body in numbered_frames(sensor_frames(RECORDING, chunk_s=0.5)[:4]):
        busy.incoming.accept(frame.seq)  # as the connection takes each input
        registry.batches.push_frame(busy, frame, body)
    registry.batches.process([busy])
    assert asyncio.run(registry.end_idle()) == []  # 40 s: not yet
    now[0] += 30.0
    assert asyncio.run(registry.end_idle()) == [idle.id]  # 70 s without input
    assert idle.ended and not busy.ended  # busy had input 30 s ago
    final = [m for m in registry.store.outputs(idle.id) if m.get("final")]
    assert len(final) == 1 and registry.store.session(idle.id).ended  # type: ignore[union-attr]
    assert registry.counters["sessions_idle_ended"] == 1
    again = registry.open_session("dev", "latte_making")  # the idle one stopped counting
    now[0] += 61.0
    assert asyncio.run(registry.end_idle()) == [busy.id, again.id]
    assert asyncio.run(registry.end_idle()) == []


def test_without_an_idle_timeout_nothing_is_swept() -> None:
    registry = server_registry(session_idle_timeout_s=None)
    registry.clock = lambda: 1e9
    registry.open_session("dev", "latte_making")
    assert registry.idle_sweep_every_s is None
    assert asyncio.run(registry.end_idle()) == []
    asyncio.run(registry.sweep_idle())  # returns at once: no loop to run

"""Rebuilding a stored session: from its checkpoint and the inputs after it, or from all
its inputs when the checkpoint cannot be used; the front's state comes back the same."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from conftest import numbered_frames, server_registry
from prism.data.recording import read_recording
from prism.server.pipeline import LocalPipeline
from prism.server.restore import rebuild
from prism.storage import Checkpoint, Record
from prism.watch.replay import sensor_frames

FRAMES = numbered_frames(
    sensor_frames(read_recording(Path("datasets/demo/latte_making-s000")), chunk_s=0.5)[:60]
)


def test_a_session_is_rebuilt_from_its_checkpoint_or_in_full(tmp_path: Path) -> None:
    registry = server_registry(database=str(tmp_path / "db.sqlite3"), checkpoint_every_s=5.0)
    session = registry.open_session("dev", "latte_making")
    for start in range(0, len(FRAMES), 10):
        for frame, body in FRAMES[start : start + 10]:
            registry.batches.push_frame(session, frame, body)
        registry.batches.process([session])
    session.acknowledge(2)
    registry.store.record_many([Record(session.id, acked=2)])
    checkpoint = registry.store.checkpoint(session.id)
    assert checkpoint is not None and 0 < checkpoint.front["last_seq"] < len(FRAMES)
    row = registry.store.session(session.id)
    assert row is not None
    counters: Counter[str] = Counter()
    pipeline = LocalPipeline(Path("tasks"), Path("models"))
    restored = rebuild(row, store=registry.store, pipeline=pipeline, counters=counters)
    assert counters == Counter(sessions_restored_from_checkpoint=1)
    assert restored.incoming.next_seq == session.last_input_seq + 1 == len(FRAMES) + 1
    assert restored.clock.state() == pytest.approx(session.clock.state())
    assert (restored.sent_count, restored.acked, restored.last_step) == (
        session.sent_count,
        2,
        session.last_step,
    )
    assert (
        pipeline.snapshot(session.id)["time_s"] == registry.pipeline.snapshot(session.id)["time_s"]
    )
    # a checkpoint another version wrote is refused: every input is replayed instead
    damaged = Checkpoint(b"prism-checkpoint/0\n", checkpoint.front)
    registry.store.record_many([Record(session.id, checkpoint=damaged)])
    again = rebuild(row, store=registry.store, pipeline=pipeline, counters=counters)
    assert counters["sessions_replayed_in_full"] == 1
    assert again.incoming.next_seq == len(FRAMES) + 1 and again.sent_count == session.sent_count

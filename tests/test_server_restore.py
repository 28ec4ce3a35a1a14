"""Rebuilding a stored session: from its checkpoint and the inputs after it; when the
checkpoint cannot be used (another version, damaged, not signed by the service), from all
its inputs if it records, else from a fresh pipeline at the checkpoint. The front's state
(sequence numbers, messages sent) comes back the same, and no forged pickle runs."""

from __future__ import annotations

import logging
import pickle
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from conftest import numbered_frames, server_registry
from prism.data.recording import read_recording
from prism.protocol import encode_frame
from prism.server.checkpoint import MAGIC
from prism.server.pipeline import LocalPipeline
from prism.server.registry import SessionRegistry
from prism.server.restore import rebuild
from prism.server.session import LiveSession
from prism.server.signing import CheckpointSigner
from prism.storage import SqliteStore, StoredInput
from prism.watch.replay import sensor_frames

RECORDING = read_recording(Path("datasets/demo/latte_making-s000"))
FRAMES = numbered_frames(sensor_frames(RECORDING, chunk_s=0.5)[:60])


def _streamed(registry: SessionRegistry, session: LiveSession) -> None:
    """Stream :data:`FRAMES` into ``session`` in batches of 10, one acknowledgement."""
    for start in range(0, len(FRAMES), 10):
        for frame, body in FRAMES[start : start + 10]:
            registry.batches.push_frame(session, frame, body)
        registry.batches.process([session])
    ack = StoredInput(len(FRAMES) + 1, "control", b'{"type": "ack"}')
    registry.batches.acknowledge(session, ack, 2)  # not stored as an input
    registry.batches.process([session])


def _rebuilt(
    registry: SessionRegistry, session_id: str
) -> tuple[LiveSession, LocalPipeline, Counter[str]]:
    """The session rebuilt from the registry's store into a new pipeline."""
    row = registry.store.session(session_id)
    assert row is not None
    counters: Counter[str] = Counter()
    pipeline = LocalPipeline(Path("tasks"), Path("models"))
    restored = rebuild(
        row, store=registry.store, pipeline=pipeline, signer=registry.signer, counters=counters
    )
    return restored, pipeline, counters


def _damage(registry: SessionRegistry, session_id: str, state: bytes) -> None:
    """Replace the session's stored checkpoint state (its position kept)."""
    assert isinstance(registry.store, SqliteStore)
    with registry.store._transaction("replacing a checkpoint") as db:
        db.execute("UPDATE checkpoints SET state = ? WHERE session_id = ?", (state, session_id))


def test_a_session_is_rebuilt_from_its_checkpoint(tmp_path: Path) -> None:
    registry = server_registry(database=str(tmp_path / "db.sqlite3"), checkpoint_every_s=5.0)
    session = registry.open_session("dev", "latte_making")
    _streamed(registry, session)
    checkpoint = registry.store.checkpoint(session.id)
    assert checkpoint is not None and 0 < checkpoint.front["last_seq"] < len(FRAMES)
    stored = list(registry.store.inputs(session.id))
    assert stored and all(i.kind == "frame" for i in stored)  # older ones deleted, no ack
    assert stored[0].seq > checkpoint.front["last_seq"]
    restored, pipeline, counters = _rebuilt(registry, session.id)
    assert counters == Counter(sessions_restored_from_checkpoint=1)
    # the acknowledgement's seq came back from the session row
    assert restored.incoming.next_seq == session.last_input_seq + 1 == len(FRAMES) + 2
    assert restored.clock.state() == pytest.approx(session.clock.state())
    assert (restored.sent_count, restored.acked, restored.last_step) == (
        session.sent_count,
        2,
        session.last_step,
    )
    assert (
        pipeline.snapshot(session.id)["time_s"] == registry.pipeline.snapshot(session.id)["time_s"]
    )


@pytest.mark.parametrize(
    "state",
    [
        pytest.param(b"prism-checkpoint/0\n", id="another-version-unsigned"),
        pytest.param(b"\x00" * 32 + MAGIC + b"x", id="bad-signature"),
        pytest.param(b"", id="empty"),
    ],
)
def test_an_unusable_checkpoint_whose_inputs_are_gone_restarts_the_pipeline(
    tmp_path: Path, state: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    registry = server_registry(database=str(tmp_path / "db.sqlite3"), checkpoint_every_s=5.0)
    session = registry.open_session("dev", "latte_making")
    _streamed(registry, session)
    _damage(registry, session.id, state)
    with caplog.at_level(logging.WARNING, logger="prism.server.restore"):
        restored, pipeline, counters = _rebuilt(registry, session.id)
    assert counters == Counter(sessions_restarted_without_state=1)
    assert [r.message for r in caplog.records if "fresh pipeline" in r.message] != []
    assert len(caplog.records) == 1
    # messages and sequence numbers are kept; the pipeline restarted at the checkpoint
    assert restored.incoming.next_seq == len(FRAMES) + 2
    assert (restored.sent_count, restored.acked) == (session.sent_count, 2)
    assert (
        pipeline.snapshot(session.id)["time_s"] < registry.pipeline.snapshot(session.id)["time_s"]
    )
    # and goes on: later frames are tracked
    later = numbered_frames(sensor_frames(RECORDING, chunk_s=0.5)[60:80])
    bodies = [encode_frame(replace(f, seq=f.seq + len(FRAMES) + 1)) for f, _ in later]
    assert pipeline.step({session.id: bodies})[session.id].events


def test_an_unusable_checkpoint_of_a_recording_session_replays_every_input(
    tmp_path: Path,
) -> None:
    registry = server_registry(database=str(tmp_path / "db.sqlite3"), checkpoint_every_s=5.0)
    device, _ = registry.devices.register("research watch", recording=True)
    session = registry.open_session(device, "latte_making")
    assert session.recording
    _streamed(registry, session)
    assert [i.seq for i in registry.store.inputs(session.id)] == [f.seq for f, _ in FRAMES]
    _damage(registry, session.id, b"prism-checkpoint/0\n")
    restored, pipeline, counters = _rebuilt(registry, session.id)
    assert counters == Counter(sessions_replayed_in_full=1)
    assert restored.recording and restored.incoming.next_seq == len(FRAMES) + 2
    assert restored.sent_count == session.sent_count
    assert (
        pipeline.snapshot(session.id)["time_s"] == registry.pipeline.snapshot(session.id)["time_s"]
    )


class _WritesAFile:
    """Unpickled, it would create the file ``path`` (what an attacker's pickle does)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.write_text, (self.path, "pwned"))


@pytest.mark.parametrize("signed_by", ["nobody", "another-key"])
def test_a_pickle_that_runs_code_is_refused_before_it_is_unpickled(
    tmp_path: Path, signed_by: str
) -> None:
    registry = server_registry(database=str(tmp_path / "db.sqlite3"), checkpoint_every_s=5.0)
    session = registry.open_session("dev", "latte_making")
    _streamed(registry, session)
    marker = tmp_path / "pwned"
    payload = MAGIC + pickle.dumps(_WritesAFile(marker))
    pickle.loads(pickle.dumps(_WritesAFile(tmp_path / "works")))  # the payload is live
    assert (tmp_path / "works").exists()
    if signed_by == "nobody":
        forged = b"\x00" * 32 + payload
    else:
        forged = CheckpointSigner(b"an attacker's key, not the service's").sign(payload)
    _damage(registry, session.id, forged)
    restored, _, counters = _rebuilt(registry, session.id)
    assert not marker.exists()
    assert counters == Counter(sessions_restarted_without_state=1)
    assert restored.incoming.next_seq == len(FRAMES) + 2

"""A stored session rebuilt: its pipeline restored from its last checkpoint and the inputs
stored after it, the front's state (stream clocks, sequence numbers, messages sent) read
back from the store.

A restarted service rebuilds every session of its SQLite store; with Redis a process
rebuilds a session when it is asked for it or takes it over. After a pipeline worker
died, only the pipelines of its sessions are restored (:func:`replay`): the front's state
lives on.
"""

from __future__ import annotations

import logging
from collections import Counter

from prism.protocol import FrameKind, SequenceChecker, StreamClock, decode_frame
from prism.server.checkpoint import CheckpointError
from prism.server.pipeline import Pipeline
from prism.server.session import LiveSession
from prism.storage import Checkpoint, SessionRow, SessionStore, StoredInput

__all__ = ["rebuild", "replay"]

log = logging.getLogger(__name__)


def rebuild(
    row: SessionRow, *, store: SessionStore, pipeline: Pipeline, counters: Counter[str]
) -> LiveSession:
    """The session of ``row``, its pipeline restored (:func:`replay`) and the front's
    state (stream clocks, sequence numbers, messages sent) read back from the store."""
    checkpoint, inputs = replay(
        row.session_id, row.procedure, store=store, pipeline=pipeline, counters=counters
    )
    session = LiveSession(row.session_id, row.device_id, row.procedure, epoch=row.epoch)
    last_seq = 0
    if checkpoint is not None:
        session.clock = StreamClock.from_state(checkpoint.front.get("clock", {}))
        last_seq = int(checkpoint.front.get("last_seq", 0))
    for stored in inputs:
        if stored.kind == "frame":
            frame = decode_frame(stored.body)
            if frame.kind != FrameKind.QUESTION_AUDIO:
                session.clock.accept(frame)
    session.last_input_seq = max([last_seq, *(s.seq for s in inputs)])
    session.incoming = SequenceChecker(session.last_input_seq + 1)
    session.acked, session.ended = row.acked, row.ended
    sent = store.outputs(row.session_id)
    session.sent_count = len(sent)
    session.keep(sent)
    return session


def replay(
    session_id: str,
    procedure: str,
    *,
    store: SessionStore,
    pipeline: Pipeline,
    counters: Counter[str],
) -> tuple[Checkpoint | None, list[StoredInput]]:
    """Restore a session's pipeline from its last checkpoint and the inputs stored after
    it (all of its inputs when it has no usable checkpoint); the checkpoint used and the
    inputs replayed.

    ``counters`` counts ``sessions_restored_from_checkpoint`` or
    ``sessions_replayed_in_full``.
    """
    checkpoint = store.checkpoint(session_id)
    if checkpoint is not None:
        inputs = list(store.inputs(session_id, after=checkpoint.position))
        try:
            _replayed(session_id, procedure, inputs, checkpoint, pipeline)
            counters["sessions_restored_from_checkpoint"] += 1
            return checkpoint, inputs
        except CheckpointError as problem:
            log.warning("session %s: checkpoint not used (%s)", session_id, problem)
    counters["sessions_replayed_in_full"] += 1
    inputs = list(store.inputs(session_id))
    _replayed(session_id, procedure, inputs, None, pipeline)
    return None, inputs


def _replayed(
    session_id: str,
    procedure: str,
    inputs: list[StoredInput],
    checkpoint: Checkpoint | None,
    pipeline: Pipeline,
) -> None:
    failed = pipeline.replay(
        session_id, procedure, inputs, checkpoint.state if checkpoint else None
    )
    if failed:
        log.info("session %s: %d stored inputs failed again", session_id, failed)

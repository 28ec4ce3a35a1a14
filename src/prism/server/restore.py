"""A stored session rebuilt: its pipeline restored from its last checkpoint and the inputs
stored after it, the front's state (stream clocks, sequence numbers, messages sent) read
back from the store.

A restarted service rebuilds every session of its SQLite store; with Redis a process
rebuilds a session when it is asked for it or takes it over.
"""

from __future__ import annotations

import logging
from collections import Counter

from prism.protocol import FrameKind, SequenceChecker, StreamClock, decode_frame
from prism.server.checkpoint import CheckpointError
from prism.server.pipeline import Pipeline
from prism.server.session import LiveSession
from prism.storage import Checkpoint, SessionRow, SessionStore

__all__ = ["rebuild"]

log = logging.getLogger(__name__)


def rebuild(
    row: SessionRow, *, store: SessionStore, pipeline: Pipeline, counters: Counter[str]
) -> LiveSession:
    """The session of ``row``, its pipeline restored from its last checkpoint and the
    inputs stored after it (all of its inputs when it has no usable checkpoint).

    ``counters`` counts ``sessions_restored_from_checkpoint`` or
    ``sessions_replayed_in_full``.
    """
    checkpoint = store.checkpoint(row.session_id)
    if checkpoint is not None:
        try:
            session = _replayed(row, checkpoint, store, pipeline)
            counters["sessions_restored_from_checkpoint"] += 1
            return session
        except CheckpointError as problem:
            log.warning("session %s: checkpoint not used (%s)", row.session_id, problem)
    counters["sessions_replayed_in_full"] += 1
    return _replayed(row, None, store, pipeline)


def _replayed(
    row: SessionRow, checkpoint: Checkpoint | None, store: SessionStore, pipeline: Pipeline
) -> LiveSession:
    session = LiveSession(row.session_id, row.device_id, row.procedure, epoch=row.epoch)
    inputs = list(store.inputs(row.session_id, after=checkpoint.position if checkpoint else 0))
    last_seq = 0
    if checkpoint is not None:
        session.clock = StreamClock.from_state(checkpoint.front.get("clock", {}))
        last_seq = int(checkpoint.front.get("last_seq", 0))
    for stored in inputs:
        if stored.kind == "frame":
            frame = decode_frame(stored.body)
            if frame.kind != FrameKind.QUESTION_AUDIO:
                session.clock.accept(frame)
    failed = pipeline.replay(
        row.session_id, row.procedure, inputs, checkpoint.state if checkpoint else None
    )
    if failed:
        log.info("session %s: %d stored inputs failed again", row.session_id, failed)
    session.last_input_seq = max([last_seq, *(s.seq for s in inputs)])
    session.incoming = SequenceChecker(session.last_input_seq + 1)
    session.acked, session.ended = row.acked, row.ended
    sent = store.outputs(row.session_id)
    session.sent_count = len(sent)
    session.keep(sent)
    return session

"""A stored session rebuilt: its pipeline restored from its last checkpoint and the inputs
stored after it, the front's state (stream clocks, sequence numbers, messages sent) read
back from the store.

A checkpoint is used only if its signature holds (:mod:`prism.server.signing`) and this
version of PrISM can read it. When it cannot be used, the session is replayed from all
its inputs if the store still has them (a recording session, or a database written
before inputs were deleted); otherwise the inputs it covered are gone and the session
goes on from a fresh pipeline at that point: the inputs after the checkpoint are
replayed into it, its sent messages and sequence numbers are kept, and what it had
tracked before (step, history, reminders) starts over. That is logged once per session
and counted (``sessions_restarted_without_state``).

A restarted service rebuilds every session of its SQLite store; with Redis a process
rebuilds a session when it is asked for it or takes it over.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import replace

from prism.protocol import FrameKind, SequenceChecker, StreamClock, decode_frame
from prism.server.checkpoint import CheckpointError
from prism.server.pipeline import Pipeline
from prism.server.session import LiveSession
from prism.server.signing import CheckpointSigner
from prism.storage import Checkpoint, SessionRow, SessionStore

__all__ = ["rebuild"]

log = logging.getLogger(__name__)


def rebuild(
    row: SessionRow,
    *,
    store: SessionStore,
    pipeline: Pipeline,
    signer: CheckpointSigner,
    counters: Counter[str],
) -> LiveSession:
    """The session of ``row``, its pipeline restored from its last checkpoint and the
    inputs stored after it (see the module docstring when the checkpoint is unusable).

    ``counters`` counts ``sessions_restored_from_checkpoint``,
    ``sessions_replayed_in_full`` or ``sessions_restarted_without_state``.
    """
    checkpoint = store.checkpoint(row.session_id)
    if checkpoint is not None:
        try:
            verified = replace(checkpoint, state=signer.verify(checkpoint.state))
            session = _replayed(row, verified, store, pipeline)
            counters["sessions_restored_from_checkpoint"] += 1
            return session
        except CheckpointError as problem:
            if row.pruned:
                log.warning(
                    "session %s: checkpoint not usable (%s) and the inputs it covered are "
                    "deleted: the session goes on from a fresh pipeline",
                    row.session_id,
                    problem,
                )
                counters["sessions_restarted_without_state"] += 1
                return _replayed(row, None, store, pipeline, after=row.pruned)
            log.warning("session %s: checkpoint not used (%s)", row.session_id, problem)
    counters["sessions_replayed_in_full"] += 1
    return _replayed(row, None, store, pipeline)


def _replayed(
    row: SessionRow,
    checkpoint: Checkpoint | None,
    store: SessionStore,
    pipeline: Pipeline,
    *,
    after: int = 0,
) -> LiveSession:
    """The session rebuilt from ``checkpoint`` (verified) and the inputs after it, or
    without one from the inputs after position ``after``."""
    session = LiveSession(
        row.session_id, row.device_id, row.procedure, epoch=row.epoch, recording=row.recording
    )
    start = checkpoint.position if checkpoint is not None else after
    inputs = list(store.inputs(row.session_id, after=start))
    last_seq = row.last_seq
    if checkpoint is not None:
        session.clock = StreamClock.from_state(checkpoint.front.get("clock", {}))
        last_seq = max(last_seq, int(checkpoint.front.get("last_seq", 0)))
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

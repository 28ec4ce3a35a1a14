"""A stored session rebuilt: its pipeline restored from its last checkpoint and the inputs
stored after it, the front's state (stream clocks, sequence numbers, messages sent) read
back from the store.

A checkpoint is used only if its signature holds (:mod:`prism.server.signing`) and this
version of PrISM can read it. When it cannot be used, the session is replayed from all
its inputs if the store still has them (a recording session, or a database written
before inputs were deleted); otherwise the inputs it covered are gone and the session
goes on from a fresh pipeline at that point: the inputs after the checkpoint are
replayed into it, its sent messages and sequence numbers are kept, and what it had
tracked before (step, history, reminders) starts over. That is logged and counted
(``sessions_restarted_without_state``).

A recording session's last marked step (what a bare "next" follows) is read back the
same way, from the checkpoint's front and the marks stored after it.

A restarted service rebuilds every session of its SQLite store; with Redis a process
rebuilds a session when it is asked for it or takes it over. After a pipeline worker
died, only the pipelines of its sessions are restored (:func:`replay`): the front's state
lives on.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import replace

from prism.protocol import FrameKind, SequenceChecker, StreamClock, decode_frame
from prism.server.checkpoint import CheckpointError
from prism.server.pipeline import Pipeline
from prism.server.recordings import stored_marks
from prism.server.session import LiveSession
from prism.server.signing import CheckpointSigner
from prism.storage import Checkpoint, SessionRow, SessionStore, StoredInput

__all__ = ["rebuild", "replay"]

log = logging.getLogger(__name__)


def rebuild(
    row: SessionRow,
    *,
    store: SessionStore,
    pipeline: Pipeline,
    signer: CheckpointSigner,
    counters: Counter[str],
) -> LiveSession:
    """The session of ``row``, its pipeline restored (:func:`replay`) and the front's
    state (stream clocks, sequence numbers, messages sent) read back from the store."""
    checkpoint, inputs = replay(
        row, store=store, pipeline=pipeline, signer=signer, counters=counters
    )
    session = LiveSession(
        row.session_id,
        row.device_id,
        row.procedure,
        epoch=row.epoch,
        recording=row.recording,
        privacy=row.privacy,
    )
    last_seq = row.last_seq
    if checkpoint is not None:
        session.clock = StreamClock.from_state(checkpoint.front.get("clock", {}))
        last_seq = max(last_seq, int(checkpoint.front.get("last_seq", 0)))
        session.last_marked = checkpoint.front.get("last_marked")
    for stored in inputs:
        if stored.kind == "frame":
            frame = decode_frame(stored.body)
            if frame.kind != FrameKind.QUESTION_AUDIO:
                session.clock.accept(frame)
    for mark in stored_marks(inputs):
        session.last_marked = mark.step or session.last_marked
    session.last_input_seq = max([last_seq, *(s.seq for s in inputs)])
    session.incoming = SequenceChecker(session.last_input_seq + 1)
    session.acked, session.ended = row.acked, row.ended
    sent = store.outputs(row.session_id)
    session.sent_count = len(sent)
    session.keep(sent)
    return session


def replay(
    row: SessionRow,
    *,
    store: SessionStore,
    pipeline: Pipeline,
    signer: CheckpointSigner,
    counters: Counter[str],
) -> tuple[Checkpoint | None, list[StoredInput]]:
    """Restore a session's pipeline from its last checkpoint (verified) and the inputs
    stored after it; the checkpoint used and the inputs replayed. Without a usable
    checkpoint: all its inputs, or those still stored (see the module docstring).

    ``counters`` counts ``sessions_restored_from_checkpoint``,
    ``sessions_replayed_in_full`` or ``sessions_restarted_without_state``.
    """
    checkpoint = store.checkpoint(row.session_id)
    if checkpoint is not None:
        inputs = list(store.inputs(row.session_id, after=checkpoint.position))
        try:
            verified = replace(checkpoint, state=signer.verify(checkpoint.state))
            _replayed(row, inputs, verified, pipeline)
            counters["sessions_restored_from_checkpoint"] += 1
            return verified, inputs
        except CheckpointError as problem:
            if row.pruned:
                log.warning(
                    "session %s: checkpoint not usable (%s) and the inputs it covered are "
                    "deleted: the session goes on from a fresh pipeline",
                    row.session_id,
                    problem,
                )
                counters["sessions_restarted_without_state"] += 1
                inputs = list(store.inputs(row.session_id, after=row.pruned))
                _replayed(row, inputs, None, pipeline)
                return None, inputs
            log.warning("session %s: checkpoint not used (%s)", row.session_id, problem)
    counters["sessions_replayed_in_full"] += 1
    inputs = list(store.inputs(row.session_id))
    _replayed(row, inputs, None, pipeline)
    return None, inputs


def _replayed(
    row: SessionRow, inputs: list[StoredInput], checkpoint: Checkpoint | None, pipeline: Pipeline
) -> None:
    failed = pipeline.replay(
        row.session_id,
        row.procedure,
        inputs,
        checkpoint.state if checkpoint else None,
        privacy=row.privacy,
    )
    if failed:
        log.info("session %s: %d stored inputs failed again", row.session_id, failed)

"""The service's live sessions: registry, batched classification, persistence before sending.

Wiring only (the algorithms live in the modules :class:`~prism.server.runtime.SessionRuntime`
wires together). A WebSocket handler hands each sensor frame to
:meth:`SessionRegistry.push_frame`, which only stores the samples in the session's
stream; :meth:`SessionRegistry.run_batches` (one task per server) then classifies the
ready frames of *every* session that received samples in one network call
(:func:`~prism.sensing.streaming.classify_streams`), tracks each session, numbers its
events, writes the inputs and events of all of them in one SQLite transaction and only
then puts the messages in each connection's outbox. Under load a batch simply grows:
the frames that arrived while one batch ran make up the next.

Order is kept per session: before a control message (question, correction, ...) is
handled, the session's pending frames are processed (:meth:`SessionRegistry.flush`), so
the stored inputs, replayed in order after a restart, rebuild the same state.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import HTTPException
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from prism.data.recording import AUDIO_RATE_HZ
from prism.errors import PrismError
from prism.observer import FutureModel
from prism.procedure.io import load_procedure
from prism.procedure.model import Procedure
from prism.sensing.classifier import ActivityClassifier
from prism.sensing.streaming import FrameBatch, StreamingClassifier
from prism.server.protocol import (
    Ack,
    ErrorCode,
    FrameKind,
    Hello,
    Question,
    SensorFrame,
    SequenceChecker,
    StreamClock,
    decode_frame,
    parse_control,
)
from prism.server.runtime import RuntimeEvent, SessionRuntime
from prism.storage import Record, SessionRow, SqliteStore, StoredInput
from prism.tracker import StepTracker

__all__ = [
    "CloseRequest",
    "LiveSession",
    "Outbox",
    "ServerSettings",
    "SessionRegistry",
    "token_hash",
]

log = logging.getLogger(__name__)


class ServerSettings(BaseSettings):
    """Service settings (environment ``PRISM_SERVER_*``)."""

    model_config = SettingsConfigDict(env_prefix="PRISM_SERVER_")

    tasks_dir: Path = Path("tasks")
    models_dir: Path = Path("models")
    admin_token: str | None = Field(default=None, description="for admin endpoints; none: off")
    database: str = Field(
        default=".prism/sessions.sqlite3", description="SQLite file (':memory:': not kept)"
    )
    max_sessions: int = Field(default=1000, gt=0)
    max_pending_frames: int = Field(
        default=25,
        gt=0,
        description="classified-but-not-yet-processed frames (5 s) after which a connection "
        "is not read until its session is processed (backpressure)",
    )
    max_messages_per_s: float = Field(
        default=200.0, gt=0, description="messages a connection may send per second, sustained"
    )
    message_burst: int = Field(default=400, gt=0, description="messages allowed in a burst")
    batch_interval_s: float = Field(
        default=0.02, ge=0, description="pause after each batch so the next collects more"
    )
    max_outbox: int = Field(
        default=2000,
        gt=0,
        description="unsent messages after which a connection that does not read is closed",
    )


def token_hash(token: str) -> str:
    """How a device token is stored (SHA-256, hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class CloseRequest:
    """An outbox item asking the connection to close with ``code`` after what came before."""

    code: int
    reason: str


Outbox = asyncio.Queue[dict[str, Any] | CloseRequest]
"""A connection's messages to send, in order."""


@dataclass
class LiveSession:
    """A session in memory: its pipeline, sequence state, sent messages, connection.

    Attributes
    ----------
    pending : list of StoredInput
        Sensor frames pushed into the stream, not yet processed and stored.
    outbox : Outbox or None
        Messages for the connected watch (None: no connection).
    """

    id: str
    device_id: str
    procedure_id: str
    runtime: SessionRuntime
    incoming: SequenceChecker = field(default_factory=SequenceChecker)
    clock: StreamClock = field(default_factory=StreamClock)
    sent: list[dict[str, Any]] = field(default_factory=list)
    acked: int = 0
    ended: bool = False
    pending: list[StoredInput] = field(default_factory=list)
    outbox: Outbox | None = None

    def behind(self, limit: int) -> bool:
        """Whether ``limit`` or more complete frames wait for processing."""
        return self.runtime.stream.ready >= limit

    def number(self, events: list[RuntimeEvent]) -> list[dict[str, Any]]:
        """The messages of ``events``, numbered after those sent (and kept as sent)."""
        messages = [event.message(len(self.sent) + i + 1) for i, event in enumerate(events)]
        self.sent.extend(messages)
        return messages


class SessionRegistry:
    """Devices (hashed tokens), procedures and models, live sessions, the frame batches.

    Parameters
    ----------
    settings : ServerSettings
        Where procedures, models and the database are; limits.
    """

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.sessions: dict[str, LiveSession] = {}
        self.procedures: dict[str, Procedure] = {}
        self.models: dict[str, ActivityClassifier] = {}
        self.futures: dict[str, FutureModel] = {}
        self.counters: Counter[str] = Counter()
        self.batch_sizes: Counter[int] = Counter()
        """How many sessions each processed batch held (histogram)."""
        self._dirty: dict[str, LiveSession] = {}
        self._wake, self._idle = asyncio.Event(), asyncio.Event()
        self._idle.set()
        self._in_flight: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self.store = SqliteStore(settings.database)
        self.device_by_hash = {hashed: device for device, hashed in self.store.devices().items()}
        for row in self.store.sessions():
            try:
                self.sessions[row.session_id] = self._rebuild(row)
            except (PrismError, HTTPException) as problem:
                log.error("session %s could not be restored: %s", row.session_id, problem)

    # ----------------------------------------------------------------- resources
    def procedure(self, procedure_id: str) -> Procedure:
        """A procedure of ``tasks_dir`` (HTTP 404 if unknown)."""
        if procedure_id not in self.procedures:
            path = self.settings.tasks_dir / procedure_id / "procedure.yaml"
            if not path.is_file():
                raise HTTPException(404, f"unknown procedure {procedure_id!r}")
            self.procedures[procedure_id] = load_procedure(path)
        return self.procedures[procedure_id]

    def model(self, procedure_id: str) -> ActivityClassifier:
        """The trained model of a procedure (HTTP 409 if there is none)."""
        if procedure_id not in self.models:
            folder = self.settings.models_dir / procedure_id
            if not folder.is_dir():
                raise HTTPException(
                    409, f"no trained model for procedure {procedure_id!r} in {folder}"
                )
            model = ActivityClassifier.load(folder)
            _warm_up(model)
            self.models[procedure_id] = model
        return self.models[procedure_id]

    def runtime(self, procedure_id: str) -> SessionRuntime:
        """A new session pipeline; sessions of one procedure share its model and its
        remaining-time kernels."""
        procedure = self.procedure(procedure_id)
        model = self.model(procedure_id)
        if procedure_id not in self.futures:
            self.futures[procedure_id] = FutureModel(StepTracker(procedure).model)
        return SessionRuntime(procedure, model, future=self.futures[procedure_id])

    def device(self, token: str | None) -> str:
        """The device a token belongs to (HTTP 401 if none)."""
        device_id = self.device_by_hash.get(token_hash(token)) if token else None
        if device_id is None:
            raise HTTPException(401, "missing or unknown device token")
        return device_id

    def owned(self, session_id: str, device_id: str) -> LiveSession:
        """A session of ``device_id`` (HTTP 404 unknown, 403 another device's)."""
        session = self.sessions.get(session_id)
        if session is None:
            raise HTTPException(404, f"unknown session {session_id!r}")
        if session.device_id != device_id:
            raise HTTPException(403, f"session {session_id!r} belongs to another device")
        return session

    # ----------------------------------------------------------------- restart
    def _rebuild(self, row: SessionRow) -> LiveSession:
        """A stored session, rebuilt by replaying its inputs into a fresh runtime."""
        session = LiveSession(
            row.session_id, row.device_id, row.procedure, self.runtime(row.procedure)
        )
        last = 0
        for stored in self.store.inputs(row.session_id):
            last = max(last, stored.seq)
            try:
                _replay_input(session, stored)
            except PrismError as problem:  # it failed the same way when it first came
                log.info("session %s: stored input %d: %s", row.session_id, stored.seq, problem)
        session.incoming = SequenceChecker(last + 1)
        session.sent = self.store.outputs(row.session_id)
        session.acked, session.ended = row.acked, row.ended
        return session

    # ----------------------------------------------------------------- frames
    def push_frame(self, session: LiveSession, frame: SensorFrame, body: bytes) -> None:
        """Take a sensor frame (already sequence-checked): store its samples in the
        session's stream and queue the session for the next batch.

        Raises
        ------
        ProtocolError
            If the frame goes back in time on its stream (nothing is kept).
        PrismError
            If the samples are unusable (the frame is kept as processed, with no effect).
        """
        session.clock.accept(frame)
        session.pending.append(StoredInput(frame.seq, "frame", body))
        self._dirty[session.id] = session
        self._wake.set()
        session.runtime.push(frame)

    def acknowledge(self, session: LiveSession, stored: StoredInput, up_to: int) -> None:
        """The watch received the messages up to ``up_to``: kept with the next batch (an
        acknowledgement changes no state, so it need not be written on its own)."""
        session.acked = max(session.acked, min(up_to, len(session.sent)))
        session.pending.append(stored)
        self._dirty[session.id] = session
        self._wake.set()

    def process(self, sessions: list[LiveSession]) -> None:
        """Classify, track, store and deliver the pending frames of ``sessions`` now, on
        this thread (one network call per model, one transaction)."""
        batch, inputs = self._take(sessions)
        outgoing = self._track(sessions, inputs, batch.classify())
        self.store.record_many([record for record, _ in outgoing])
        self._deliver_all(sessions, outgoing, batch.n_frames)

    async def process_async(self, sessions: list[LiveSession]) -> None:
        """:meth:`process`, with the network call and the database write on worker
        threads so the event loop keeps reading the connections meanwhile."""
        batch, inputs = self._take(sessions)
        self._in_flight = {session.id for session in sessions}
        self._idle.clear()
        try:
            try:
                rows = await asyncio.to_thread(batch.classify)
            except Exception:  # keep the inputs (their seq numbers are taken), report
                log.exception("classifying a batch of %d sessions failed", len(sessions))
                self.counters["internal_errors"] += 1
                rows = [np.zeros((0, 1))] * len(sessions)
            outgoing = self._track(sessions, inputs, rows)
            await asyncio.to_thread(self.store.record_many, [record for record, _ in outgoing])
            self._deliver_all(sessions, outgoing, batch.n_frames)
        finally:
            self._in_flight = set()
            self._idle.set()

    def _take(self, sessions: list[LiveSession]) -> tuple[FrameBatch, list[list[StoredInput]]]:
        """The sessions' ready windows and pending inputs (taken: new ones start anew)."""
        for session in sessions:
            self._dirty.pop(session.id, None)
        batch = FrameBatch([session.runtime.stream for session in sessions])
        inputs = [session.pending for session in sessions]
        for session in sessions:
            session.pending = []
        return batch, inputs

    def _track(
        self, sessions: list[LiveSession], inputs: list[list[StoredInput]], rows: list[np.ndarray]
    ) -> list[tuple[Record, list[dict[str, Any]]]]:
        """Track each session's rows; its record to store and its messages to send."""
        outgoing = []
        for session, taken, classified in zip(sessions, inputs, rows, strict=True):
            try:
                events = session.runtime.track(classified) if classified.shape[0] else []
            except Exception:  # a bug must not take the other sessions down
                log.exception("session %s: tracking failed", session.id)
                self.counters["internal_errors"] += 1
                events = []
            # step events name the oldest input they are the first to include: the
            # watch measures frame-in to step-out latency from it
            oldest = next((i.seq for i in taken if i.kind == "frame"), None)
            marked = [
                RuntimeEvent(e.kind, e.t, {**e.data, "in_seq": oldest}) if e.kind == "step" else e
                for e in events
            ]
            messages = session.number(marked)
            record = Record(session.id, taken, messages, acked=session.acked or None)
            outgoing.append((record, messages))
        return outgoing

    def _deliver_all(
        self,
        sessions: list[LiveSession],
        outgoing: list[tuple[Record, list[dict[str, Any]]]],
        n_frames: int,
    ) -> None:
        self.counters["frames_classified"] += n_frames
        self.batch_sizes[len(sessions)] += 1
        for session, (_, messages) in zip(sessions, outgoing, strict=True):
            self.deliver(session, messages)

    async def flush(self, session: LiveSession) -> None:
        """Process ``session``'s pending frames now (before a control message), after
        the batch in flight if it holds the session."""
        while session.id in self._in_flight:
            await self._idle.wait()
        if session.pending or session.runtime.stream.ready:
            self.process([session])

    def ensure_running(self) -> None:
        """Start :meth:`run_batches` on the running event loop unless it runs there."""
        loop = asyncio.get_running_loop()
        task = self._task
        if task is None or task.done() or task.get_loop() is not loop:
            self._wake, self._idle = asyncio.Event(), asyncio.Event()
            self._idle.set()
            if self._dirty:
                self._wake.set()
            self._task = loop.create_task(self.run_batches())

    async def run_batches(self) -> None:
        """Process the sessions that received frames, batch after batch (a server task).

        After each batch it waits ``batch_interval_s`` so the next one collects the
        frames of many sessions (bigger batches cost less per frame)."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            sessions = list(self._dirty.values())
            if sessions:
                try:
                    await self.process_async(sessions)
                except Exception:
                    log.exception("a batch of %d sessions failed", len(sessions))
                    self.counters["internal_errors"] += 1
            await asyncio.sleep(self.settings.batch_interval_s)

    # ----------------------------------------------------------------- output
    def commit(
        self,
        session: LiveSession,
        stored: StoredInput | None,
        events: list[RuntimeEvent],
        *,
        ended: bool = False,
        acked: int | None = None,
    ) -> list[dict[str, Any]]:
        """Number ``events`` and persist them with the input that produced them (one
        transaction), before they are sent; returns the messages to send."""
        messages = session.number(events)
        self.store.record(session.id, stored, messages, ended=ended, acked=acked)
        session.ended = session.ended or ended
        return messages

    def deliver(self, session: LiveSession, messages: list[dict[str, Any]]) -> None:
        """Queue ``messages`` for the session's connection, if any; a connection whose
        outbox overflows (the watch does not read) is asked to close. Nothing is lost:
        the messages stay in :attr:`LiveSession.sent` for a resume."""
        outbox = session.outbox
        if outbox is None or not messages:
            return
        if outbox.qsize() + len(messages) > self.settings.max_outbox:
            session.outbox = None
            reason = "the watch does not read its messages: reconnect and resume"
            outbox.put_nowait(CloseRequest(int(ErrorCode.TOO_SLOW), reason))
            self.counters["slow_connections_closed"] += 1
            return
        for message in messages:
            outbox.put_nowait(message)


def _warm_up(model: ActivityClassifier) -> None:
    """Pay the first-use costs of a model (imports, filter banks) at load, not in the
    first session's frames: classify two seconds of silence and stillness."""
    stream = StreamingClassifier(model)
    if "imu" in stream.modalities:
        times = np.arange(0.0, 2.0, 0.02)
        still = np.zeros((times.size, 6))
        still[:, 2] = 9.81
        stream.push_imu(times, still)
    if "audio" in stream.modalities:
        stream.push_audio(np.zeros(2 * AUDIO_RATE_HZ))
    stream.pop_frames()


def _replay_input(session: LiveSession, stored: StoredInput) -> None:
    """Feed one stored input to a rebuilding session (its messages were kept already)."""
    runtime = session.runtime
    if stored.kind == "frame":
        frame = decode_frame(stored.body)
        if frame.kind != FrameKind.QUESTION_AUDIO:  # answered through its "question" row
            session.clock.accept(frame)
            runtime.handle_frame(frame)
    elif stored.kind == "question":
        text = stored.body.decode()
        runtime.handle_control(Question(type="question", seq=stored.seq, text=text, t=0.0))
    else:
        message = parse_control(stored.body)
        if not isinstance(message, Hello | Ack):
            runtime.handle_control(message)

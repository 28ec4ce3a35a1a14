"""The service's live sessions: registry, frame batches, persistence before sending.

Wiring only. The sessions' pipelines run behind a :class:`~prism.server.pipeline.Pipeline`
(in this process, or sharded over worker processes); this module keeps, per session,
what the connection needs: sequence numbers, the messages sent, the frames waiting for
the next batch and the connection's outbox.

A WebSocket handler hands each sensor frame to :meth:`SessionRegistry.push_frame`,
which only queues its bytes; :meth:`SessionRegistry.run_batches` (one task per server)
sends the queued frames of *every* session to :meth:`Pipeline.step` at once (one network
call per model), numbers each session's events, writes the inputs and events of all of
them in one SQLite transaction and only then puts the messages in the connections'
outboxes. The pipeline call and the write run on worker threads, so the event loop keeps
reading connections meanwhile; under load a batch grows (the frames that arrived while
one batch ran make up the next).

Order is kept per session: before a control message (question, correction, ...) is
handled, the session's queued frames are processed (:meth:`SessionRegistry.flush`), so
the stored inputs, replayed in order after a restart, rebuild the same state.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import HTTPException
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from prism.assistant.llm import LLMPhraser, LLMSettings
from prism.errors import PrismError
from prism.procedure.io import load_procedure
from prism.procedure.model import Procedure
from prism.protocol import (
    ControlMessage,
    ErrorCode,
    FrameKind,
    ProtocolError,
    SensorFrame,
    SequenceChecker,
    StreamClock,
    decode_frame,
)
from prism.server.checkpoint import CheckpointError
from prism.server.memory import limit_malloc_arenas
from prism.server.pipeline import LocalPipeline, Pipeline, StepResult
from prism.server.runtime import RuntimeEvent
from prism.server.shards import ShardedPipeline
from prism.storage import (
    Checkpoint,
    Record,
    SessionRow,
    SessionStore,
    SqliteStore,
    StoredInput,
)
from prism.storage.redis_store import RedisStore

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
    redis_url: str | None = Field(
        default=None,
        description="store sessions in this Redis (redis://host:port/db) instead of SQLite, "
        "so several service processes or machines can serve them",
    )
    redis_prefix: str = Field(default="prism", description="prefix of the Redis keys")
    llm: LLMSettings = Field(
        default_factory=LLMSettings,
        description="an OpenAI-compatible LLM that phrases answers (environment PRISM_LLM_*; "
        "none: the grounded answers as they are)",
    )
    checkpoint_every_s: float | None = Field(
        default=60.0,
        gt=0,
        description="session time between two stored checkpoints of a session's pipeline "
        "(a restart replays only the inputs after the last one); none: never",
    )
    pipeline_workers: int = Field(
        default=0,
        ge=0,
        description="worker processes running the session pipelines (0: in the service "
        "process); one per core uses every core",
    )
    warm_up_sessions: int = Field(
        default=8,
        ge=0,
        description="sampled sessions tracked when a procedure is first used, to fill its "
        "remaining-time cache (about 0.5 s each, in each pipeline worker)",
    )
    malloc_arenas: int | None = Field(
        default=2,
        ge=1,
        description="glibc malloc arenas per service process (fewer arenas, less resident "
        "memory creeping up under load); none: glibc's default",
    )
    max_sessions: int = Field(default=1000, gt=0)
    max_pending_frames: int = Field(
        default=50,
        gt=0,
        description="frames of a session waiting for a batch after which its connection "
        "is not read until they are processed (backpressure)",
    )
    max_messages_per_s: float = Field(
        default=200.0, gt=0, description="messages a connection may send per second, sustained"
    )
    message_burst: int = Field(default=400, gt=0, description="messages allowed in a burst")
    batch_interval_s: float = Field(
        default=0.005, ge=0, description="pause after each batch so the next collects more"
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


Outbox = asyncio.Queue[dict[str, Any] | bytes | CloseRequest]
"""A connection's messages to send, in order (JSON messages, binary frames, a close)."""


NOTABLE_KEPT = 200
"""Reminders and answers a session keeps in memory for the dashboard."""


@dataclass
class LiveSession:
    """What the front keeps of a session: sequence state, recent messages, connection.

    Memory stays bounded however long a session runs: of the messages sent (all in the
    database) it keeps those the watch has not acknowledged, the last step message and
    the last :data:`NOTABLE_KEPT` reminders and answers.

    Attributes
    ----------
    sent_count : int
        Messages numbered so far (the last one's ``seq``).
    unacked : list of dict
        Messages after ``acked``, in order.
    pending : list of StoredInput
        Inputs taken but not yet processed and stored (sensor frames, acknowledgements),
        in arrival order.
    pending_frames : int
        How many of them are sensor frames.
    outbox : Outbox or None
        Messages for the connected watch (None: no connection).
    epoch : int
        The session's epoch in the store when this process loaded or claimed it.
    owner : bool
        This process claimed the session (or created it) and writes its inputs; a copy
        loaded only to answer a request is not the owner.
    last_input_seq : int
        The ``seq`` of the newest input taken for processing.
    """

    id: str
    device_id: str
    procedure_id: str
    incoming: SequenceChecker = field(default_factory=SequenceChecker)
    clock: StreamClock = field(default_factory=StreamClock)
    sent_count: int = 0
    unacked: list[dict[str, Any]] = field(default_factory=list)
    notable: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=NOTABLE_KEPT))
    last_step: dict[str, Any] = field(default_factory=dict)
    """The last step message sent ({} before the first)."""
    acked: int = 0
    ended: bool = False
    pending: list[StoredInput] = field(default_factory=list)
    pending_frames: int = 0
    outbox: Outbox | None = None
    epoch: int = 0
    owner: bool = False
    last_input_seq: int = 0

    def number(self, events: list[RuntimeEvent]) -> list[dict[str, Any]]:
        """The messages of ``events``, numbered after those sent (and kept as sent)."""
        messages = [event.message(self.sent_count + i + 1) for i, event in enumerate(events)]
        self.sent_count += len(messages)
        self.keep(messages)
        return messages

    def keep(self, messages: list[dict[str, Any]]) -> None:
        """Remember sent ``messages`` (in order) as :class:`LiveSession` says."""
        self.unacked.extend(m for m in messages if m["seq"] > self.acked)
        for message in messages:
            if message.get("type") == "step":
                self.last_step = message
            elif message.get("type") in ("reminder", "answer"):
                self.notable.append(message)

    def acknowledge(self, up_to: int) -> None:
        """The watch has every message up to ``up_to``: forget them from memory."""
        self.acked = max(self.acked, min(up_to, self.sent_count))
        if self.unacked and self.unacked[0]["seq"] <= self.acked:
            self.unacked = [m for m in self.unacked if m["seq"] > self.acked]


class SessionRegistry:
    """Devices (hashed tokens), procedures, live sessions, the frame batches.

    Parameters
    ----------
    settings : ServerSettings
        Where procedures, models and the database are; limits; pipeline workers.
    """

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.sessions: dict[str, LiveSession] = {}
        self.procedures: dict[str, Procedure] = {}
        self.counters: Counter[str] = Counter()
        self.batch_sizes: Counter[int] = Counter()
        """How many sessions each processed batch held (histogram)."""
        if settings.malloc_arenas is not None:  # before the pipeline workers start
            limit_malloc_arenas(settings.malloc_arenas)
        warm_up = settings.warm_up_sessions
        self.pipeline: Pipeline = (
            ShardedPipeline(
                settings.tasks_dir,
                settings.models_dir,
                workers=settings.pipeline_workers,
                warm_up_sessions=warm_up,
                checkpoint_every_s=settings.checkpoint_every_s,
            )
            if settings.pipeline_workers
            else LocalPipeline(
                settings.tasks_dir,
                settings.models_dir,
                warm_up_sessions=warm_up,
                checkpoint_every_s=settings.checkpoint_every_s,
            )
        )
        lanes = self.pipeline.lanes
        self._dirty: list[dict[str, LiveSession]] = [{} for _ in range(lanes)]
        """Per lane of the pipeline: the sessions with inputs waiting for a batch."""
        self._wakes = [asyncio.Event() for _ in range(lanes)]
        self._progress = asyncio.Event()
        self._in_flight: Counter[str] = Counter()
        """Sessions in batches not yet written (a session can be in two)."""
        self._writes: asyncio.Queue[
            tuple[list[LiveSession], list[Record], dict[str, StepResult]]
        ] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._writer: asyncio.Task[None] | None = None
        self.phraser = LLMPhraser(settings.llm) if settings.llm.enabled else None
        """Phrases answers outside the pipeline (None: grounded answers as they are)."""
        self.shared = settings.redis_url is not None
        """Other processes serve sessions of the same store (Redis)."""
        self.store: SessionStore = (
            RedisStore(settings.redis_url, prefix=settings.redis_prefix)
            if settings.redis_url is not None
            else SqliteStore(settings.database)
        )
        self.device_by_hash = {hashed: device for device, hashed in self.store.devices().items()}
        if not self.shared:  # this process serves every stored session: restore them now
            for row in self.store.sessions():
                try:
                    session = self._rebuild(row)
                except PrismError as problem:
                    log.error("session %s could not be restored: %s", row.session_id, problem)
                    continue
                session.owner = True
                self.sessions[row.session_id] = session

    def close(self) -> None:
        """Stop the pipeline's workers and close the database."""
        self.pipeline.close()
        self.store.close()

    # ----------------------------------------------------------------- resources
    def procedure(self, procedure_id: str) -> Procedure:
        """A procedure of ``tasks_dir`` (HTTP 404 if unknown)."""
        if procedure_id not in self.procedures:
            path = self.settings.tasks_dir / procedure_id / "procedure.yaml"
            try:
                known = path.is_file()
            except (OSError, ValueError):  # a name the file system refuses (too long, NUL)
                known = False
            if not known:
                raise HTTPException(404, f"unknown procedure {procedure_id!r}")
            self.procedures[procedure_id] = load_procedure(path)
        return self.procedures[procedure_id]

    def open_session(self, device_id: str, procedure_id: str) -> LiveSession:
        """A new session of a procedure (HTTP 404 unknown, 409 no usable model)."""
        procedure = self.procedure(procedure_id)
        session_id = f"ses-{secrets.token_hex(8)}"
        try:
            self.pipeline.open(session_id, procedure.id)
        except PrismError as error:
            raise HTTPException(409, str(error)) from None
        session = LiveSession(session_id, device_id, procedure.id, owner=True)
        self.sessions[session_id] = session
        self.store.add_session(session_id, device_id, procedure.id)
        return session

    def device(self, token: str | None) -> str:
        """The device a token belongs to (HTTP 401 if none)."""
        if not token:
            raise HTTPException(401, "missing or unknown device token")
        hashed = token_hash(token)
        device_id = self.device_by_hash.get(hashed)
        if device_id is None and self.shared:  # registered through another process
            device_id = self.store.device_for(hashed)
            if device_id is not None:
                self.device_by_hash[hashed] = device_id
        if device_id is None:
            raise HTTPException(401, "missing or unknown device token")
        return device_id

    def rows(self) -> list[SessionRow]:
        """Every session: of the store when it is shared, else of this process."""
        if self.shared:
            return self.store.sessions()
        return [
            SessionRow(s.id, s.device_id, s.procedure_id, s.ended, s.acked, s.epoch)
            for s in self.sessions.values()
        ]

    def resolve(self, session_id: str) -> LiveSession | None:
        """A session as it is now: this process's copy when it serves the session, else
        (a shared store) loaded from the store (``None``: unknown)."""
        session = self.sessions.get(session_id)
        if not self.shared:
            return session
        row = self.store.session(session_id)
        if row is None:
            return None
        if session is not None and session.owner and session.epoch == row.epoch:
            return session
        session = self._rebuild(row)
        self.sessions[session_id] = session
        return session

    def owned(self, session_id: str, device_id: str) -> LiveSession:
        """A session of ``device_id`` (HTTP 404 unknown, 403 another device's)."""
        session = self.resolve(session_id)
        if session is None:
            raise HTTPException(404, f"unknown session {session_id!r}")
        if session.device_id != device_id:
            raise HTTPException(403, f"session {session_id!r} belongs to another device")
        return session

    def row(self, session_id: str) -> SessionRow | None:
        """A session's stored facts (device, procedure, ...) without loading it."""
        if self.shared:
            return self.store.session(session_id)
        session = self.sessions.get(session_id)
        if session is None:
            return None
        return SessionRow(
            session.id, session.device_id, session.procedure_id, session.ended, session.acked
        )

    async def attach(self, session_id: str) -> LiveSession:
        """Make this process the one that serves a session (a watch connects): claim it
        in the store, which stops any other process from writing it, and unless this
        process served it without a claim in between, rebuild it from the store (which
        then holds everything the previous server wrote)."""
        session = self.sessions.get(session_id)
        if session is not None:
            await self.flush(session)  # what this process still holds is stored first
        epoch = self.store.claim(session_id)
        if session is None or not (session.owner and session.epoch == epoch - 1):
            row = self.store.session(session_id)
            if row is None:
                raise HTTPException(404, f"unknown session {session_id!r}")
            self.pipeline.drop(session_id)
            session = self._rebuild(row)
            self.sessions[session_id] = session
            self.counters["sessions_taken_over"] += 1
        session.epoch, session.owner = epoch, True
        return session

    def _lost(self, session: LiveSession) -> None:
        """Another process claimed ``session``: forget it here, close its connection."""
        log.warning("session %s: another server took it over", session.id)
        self.counters["sessions_lost"] += 1
        if self.sessions.get(session.id) is session:
            del self.sessions[session.id]
        self.pipeline.drop(session.id)
        session.owner = False
        if session.outbox is not None:
            reason = "another server took over this session: reconnect and resume"
            session.outbox.put_nowait(CloseRequest(int(ErrorCode.REPLACED), reason))
            session.outbox = None

    # ----------------------------------------------------------------- restart
    def _rebuild(self, row: SessionRow) -> LiveSession:
        """A stored session: its pipeline restored from its last checkpoint and the
        inputs stored after it (all of its inputs when it has no usable checkpoint)."""
        checkpoint = self.store.checkpoint(row.session_id)
        if checkpoint is not None:
            try:
                session = self._replayed(row, checkpoint)
                self.counters["sessions_restored_from_checkpoint"] += 1
                return session
            except CheckpointError as problem:
                log.warning("session %s: checkpoint not used (%s)", row.session_id, problem)
        self.counters["sessions_replayed_in_full"] += 1
        return self._replayed(row, None)

    def _replayed(self, row: SessionRow, checkpoint: Checkpoint | None) -> LiveSession:
        session = LiveSession(row.session_id, row.device_id, row.procedure, epoch=row.epoch)
        inputs = list(
            self.store.inputs(row.session_id, after=checkpoint.position if checkpoint else 0)
        )
        last_seq = 0
        if checkpoint is not None:
            session.clock = StreamClock.from_state(checkpoint.front.get("clock", {}))
            last_seq = int(checkpoint.front.get("last_seq", 0))
        for stored in inputs:
            if stored.kind == "frame":
                frame = decode_frame(stored.body)
                if frame.kind != FrameKind.QUESTION_AUDIO:
                    session.clock.accept(frame)
        failed = self.pipeline.replay(
            row.session_id, row.procedure, inputs, checkpoint.state if checkpoint else None
        )
        if failed:
            log.info("session %s: %d stored inputs failed again", row.session_id, failed)
        session.last_input_seq = max([last_seq, *(s.seq for s in inputs)])
        session.incoming = SequenceChecker(session.last_input_seq + 1)
        session.acked, session.ended = row.acked, row.ended
        sent = self.store.outputs(row.session_id)
        session.sent_count = len(sent)
        session.keep(sent)
        return session

    # ----------------------------------------------------------------- frames
    def push_frame(self, session: LiveSession, frame: SensorFrame, body: bytes) -> None:
        """Take a sensor frame (already sequence-checked) for the next batch.

        Raises
        ------
        ProtocolError
            If the frame goes back in time on its stream (nothing is kept).
        """
        session.clock.accept(frame)
        session.pending.append(StoredInput(frame.seq, "frame", body))
        session.last_input_seq = frame.seq
        session.pending_frames += 1
        self._queue(session)

    def acknowledge(self, session: LiveSession, stored: StoredInput, up_to: int) -> None:
        """The watch received the messages up to ``up_to``: kept with the next batch (an
        acknowledgement changes no state, so it need not be written on its own)."""
        session.acknowledge(up_to)
        session.pending.append(stored)
        session.last_input_seq = stored.seq
        self._queue(session)

    def _queue(self, session: LiveSession) -> None:
        lane = self.pipeline.lane(session.id)
        self._dirty[lane][session.id] = session
        self._wakes[lane].set()

    def behind(self, session: LiveSession) -> bool:
        """Whether the session has ``max_pending_frames`` frames waiting for a batch."""
        return session.pending_frames >= self.settings.max_pending_frames

    def process(self, sessions: list[LiveSession]) -> None:
        """Process, store and deliver the pending inputs of ``sessions`` (one pipeline
        call, one transaction), on the calling thread (see also :meth:`step_async`)."""
        taken, fronts = self._take(sessions)
        results = self.pipeline.step(_frames(sessions, taken))
        records = self._number(sessions, taken, fronts, results)
        self._deliver_stored(sessions, records, results, self._store(sessions, records))

    async def step_async(self, sessions: list[LiveSession]) -> None:
        """The first half of :meth:`process` for a server task: the pipeline call on a
        worker thread; storing and delivering are queued for :meth:`run_writes`, so the
        next batch can start meanwhile. The sessions count as in flight until written."""
        taken, fronts = self._take(sessions)
        self._in_flight.update(session.id for session in sessions)
        frames = _frames(sessions, taken)
        try:
            results = await asyncio.to_thread(self.pipeline.step, frames)
        except Exception:  # keep the inputs (their seq numbers are taken), report
            log.exception("a pipeline step of %d sessions failed", len(sessions))
            self.counters["internal_errors"] += 1
            results = {}
        records = self._number(sessions, taken, fronts, results)
        self._writes.put_nowait((sessions, records, results))

    async def run_writes(self) -> None:
        """Store and deliver the stepped batches, in order (a server task)."""
        while True:
            sessions, records, results = await self._writes.get()
            try:
                rejected = await asyncio.to_thread(self._store, sessions, records)
                self._deliver_stored(sessions, records, results, rejected)
            except Exception:
                log.exception("storing a batch of %d sessions failed", len(sessions))
                self.counters["internal_errors"] += 1
            finally:
                self._in_flight.subtract(session.id for session in sessions)
                self._in_flight += Counter()  # drop the zero counts
                progress, self._progress = self._progress, asyncio.Event()
                progress.set()

    def _take(
        self, sessions: list[LiveSession]
    ) -> tuple[list[list[StoredInput]], list[dict[str, Any]]]:
        """The sessions' pending inputs (taken: new ones start a new list), and the
        front's state of each session right after them (for a checkpoint)."""
        taken, fronts = [], []
        for session in sessions:
            self._dirty[self.pipeline.lane(session.id)].pop(session.id, None)
            taken.append(session.pending)
            fronts.append({"clock": session.clock.state(), "last_seq": session.last_input_seq})
            session.pending, session.pending_frames = [], 0
        return taken, fronts

    def _store(self, sessions: list[LiveSession], records: list[Record]) -> set[str]:
        """Store the records in one transaction (any thread); the sessions rejected
        because another process claimed them."""
        return self.store.record_many(records, epochs={s.id: s.epoch for s in sessions})

    def _deliver_stored(
        self,
        sessions: list[LiveSession],
        records: list[Record],
        results: dict[str, StepResult],
        rejected: set[str],
    ) -> None:
        """After :meth:`_store`: deliver the messages of the sessions this process still
        owns, let the others go."""
        kept = [(s, r) for s, r in zip(sessions, records, strict=True) if s.id not in rejected]
        for session in sessions:
            if session.id in rejected:
                self._lost(session)
        if kept:
            self._deliver_all([s for s, _ in kept], [r for _, r in kept], results)

    def _number(
        self,
        sessions: list[LiveSession],
        taken: list[list[StoredInput]],
        fronts: list[dict[str, Any]],
        results: dict[str, StepResult],
    ) -> list[Record]:
        """Number each session's events; the records to store (inputs, messages and,
        when the pipeline made one, a checkpoint)."""
        records = []
        for session, inputs, front in zip(sessions, taken, fronts, strict=True):
            result = results.get(session.id, StepResult())
            # step events name the oldest input they are the first to include: the
            # watch measures frame-in to step-out latency from it
            oldest = next((i.seq for i in inputs if i.kind == "frame"), None)
            events = [
                RuntimeEvent(e.kind, e.t, {**e.data, "in_seq": oldest}) if e.kind == "step" else e
                for e in result.events
            ]
            acked = session.acked or None
            checkpoint = (
                Checkpoint(result.checkpoint, front) if result.checkpoint is not None else None
            )
            messages = session.number(events)
            records.append(Record(session.id, inputs, messages, acked=acked, checkpoint=checkpoint))
        return records

    def _deliver_all(
        self, sessions: list[LiveSession], records: list[Record], results: dict[str, StepResult]
    ) -> None:
        self.counters["frames_classified"] += sum(r.frames for r in results.values())
        self.batch_sizes[len(sessions)] += 1
        for session, record in zip(sessions, records, strict=True):
            errors = results[session.id].errors if session.id in results else []
            for problem in errors:
                self.counters["protocol_errors"] += 1
                error = ProtocolError(ErrorCode.BAD_FRAME, problem.message, problem.seq)
                self.deliver(session, [error.to_message()])
            self.deliver(session, list(record.messages))

    async def flush(self, session: LiveSession) -> None:
        """Process ``session``'s pending inputs now (before a control message), after
        the batches in flight that hold the session (stepped and stored in order, on
        the server's tasks: messages are delivered on the event loop)."""
        while self._in_flight[session.id]:
            await self._progress.wait()
        if session.pending:
            await self.step_async([session])
            while self._in_flight[session.id]:
                await self._progress.wait()

    def ensure_running(self) -> None:
        """Start :meth:`run_batches` (one task per pipeline lane) and :meth:`run_writes`
        on the running event loop unless they run there."""
        loop = asyncio.get_running_loop()
        tasks = self._tasks
        if not tasks or any(t.done() for t in tasks) or tasks[0].get_loop() is not loop:
            for task in tasks:
                task.cancel()
            self._wakes = [asyncio.Event() for _ in self._dirty]
            self._progress = asyncio.Event()
            self._writes = asyncio.Queue()
            for wake, dirty in zip(self._wakes, self._dirty, strict=True):
                if dirty:
                    wake.set()
            if self._writer is not None:
                self._writer.cancel()
            self._tasks = [
                loop.create_task(self.run_batches(lane)) for lane in range(len(self._dirty))
            ]
            self._writer = loop.create_task(self.run_writes())

    async def run_batches(self, lane: int = 0) -> None:
        """Process the sessions of one pipeline lane that received frames, batch after
        batch (a server task per lane: lanes run side by side, none waits for another).

        After each batch it waits ``batch_interval_s`` so the next one collects the
        frames of many sessions (bigger batches cost less per frame)."""
        wake = self._wakes[lane]
        while True:
            await wake.wait()
            wake.clear()
            sessions = list(self._dirty[lane].values())
            if sessions:
                try:
                    await self.step_async(sessions)
                except Exception:
                    log.exception("a batch of %d sessions failed", len(sessions))
                    self.counters["internal_errors"] += 1
            await asyncio.sleep(self.settings.batch_interval_s)

    # ----------------------------------------------------------------- control
    async def control(self, session: LiveSession, message: ControlMessage) -> list[RuntimeEvent]:
        """Process the session's pending frames, then the control message; its events
        (HTTP 409 if another process serves the session)."""
        if not session.owner:
            raise HTTPException(409, f"session {session.id!r} is served by another server")
        await self.flush(session)
        events: list[RuntimeEvent] = await asyncio.to_thread(
            self.pipeline.control, session.id, message
        )
        return events

    async def phrase(self, events: list[RuntimeEvent]) -> list[RuntimeEvent]:
        """``events`` with their answers phrased by the configured LLM, if any.

        The LLM runs on a worker thread, outside the pipeline, so every session's frames
        go on meanwhile; an answer it fails on, times out on or contradicts keeps its
        grounded text (``source: "grounded"``).
        """
        if self.phraser is None:
            return events
        phrased = []
        for event in events:
            request = event.phrasing
            if event.kind == "answer" and request is not None:
                text = await asyncio.to_thread(
                    self.phraser.rephrase, request.utterance, request.context, request.grounded
                )
                self.counters["llm_answers" if text is not None else "llm_fallbacks"] += 1
                if text is not None:
                    data = {**event.data, "text": text, "source": "llm"}
                    event = RuntimeEvent(event.kind, event.t, data)
            phrased.append(event)
        return phrased

    async def snapshot(self, session: LiveSession) -> dict[str, Any]:
        """The session's pipeline state (see :func:`~prism.server.dashboard.runtime_view`)."""
        view: dict[str, Any] = await asyncio.to_thread(self.pipeline.snapshot, session.id)
        return view

    # ----------------------------------------------------------------- output
    def commit(
        self,
        session: LiveSession,
        stored: StoredInput | None,
        events: list[RuntimeEvent],
        *,
        ended: bool = False,
    ) -> list[dict[str, Any]]:
        """Number ``events`` and persist them with the input that produced them (one
        transaction), before they are sent; returns the messages to send."""
        messages = session.number(events)
        if stored is not None:
            session.last_input_seq = max(session.last_input_seq, stored.seq)
        if not self.store.record(session.id, stored, messages, ended=ended, epoch=session.epoch):
            self._lost(session)
            return []
        session.ended = session.ended or ended
        return messages

    def sent_after(self, session: LiveSession, after: int) -> list[dict[str, Any]]:
        """The session's messages with ``seq > after`` (from memory when it has them all,
        else from the database; those still waiting for the writer come from memory)."""
        if session.unacked and session.unacked[0]["seq"] <= after + 1:
            return [m for m in session.unacked if m["seq"] > after]
        if not session.unacked and after >= session.sent_count:
            return []
        stored = self.store.outputs(session.id, after=after)
        newest = stored[-1]["seq"] if stored else after
        return stored + [m for m in session.unacked if m["seq"] > newest]

    def deliver(self, session: LiveSession, messages: list[dict[str, Any]]) -> None:
        """Queue ``messages`` for the session's connection, if any; a connection whose
        outbox overflows (the watch does not read) is asked to close. Nothing is lost:
        numbered messages are in the database for a resume."""
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


def _frames(
    sessions: Sequence[LiveSession], taken: list[list[StoredInput]]
) -> dict[str, list[bytes]]:
    """The sensor frame bytes of each session's taken inputs, for :meth:`Pipeline.step`."""
    return {
        session.id: [stored.body for stored in inputs if stored.kind == "frame"]
        for session, inputs in zip(sessions, taken, strict=True)
    }

"""The frame batches: every session's queued inputs stepped together, stored, delivered.

A connection hands each sensor frame to :meth:`Batcher.push_frame`, which only queues its
bytes. One batch loop per pipeline lane sends the queued frames of *every* session of
the lane to :meth:`~prism.server.pipeline.Pipeline.step` at once (one network call per
model) and numbers each session's events; the writer loop stores the inputs and events of
the batch in one transaction and only then puts the messages in the connections'
outboxes. The pipeline call and the write run on worker threads, so the event loop keeps
reading connections meanwhile; under load a batch grows (the frames that arrived while
one batch ran make up the next). The app's lifespan runs the loops
(:meth:`Batcher.loops`) under one task group and cancels them at shutdown.

Order is kept per session: before a control message (question, correction, ...) is
handled, the session's queued frames are processed (:meth:`Batcher.flush`), so the
stored inputs, replayed in order after a restart, rebuild the same state. What changes
no pipeline state is not stored as an input: an acknowledgement only raises the
session's ``acked``, an empty sensor frame (no samples) only its last ``seq``; both go
with the session's next record (:attr:`~prism.storage.Record.last_seq`). Checkpoints
are signed (:class:`~prism.server.signing.CheckpointSigner`) before they are stored.

Faults that pass lose nothing:

- **The store fails** (:class:`~prism.errors.StoreUnavailableError`: unreachable, disk
  full, read-only). The writer keeps the batch and tries it again, with a backoff from
  0.05 s to 2 s, and nothing after it is written or delivered meanwhile (its messages
  are numbered, not sent: persistence before sending holds). The batch loops stop taking
  frames, so they wait in the sessions' ``pending`` and the connections are not read
  (the backpressure of ``max_pending_frames``). Every connected watch gets error 4503
  ``unavailable`` once per fault; :class:`~prism.server.health.Health` logs the fault
  once when it starts and once when it ends. When a write goes through, what was held
  is written and delivered in order.
- **A pipeline worker dies** (:class:`~prism.errors.WorkerLostError`; the sharded
  pipeline has started a new one). :meth:`Batcher.call` waits until the batches stepped
  before are stored, replays every session of the lane from the store
  (:func:`~prism.server.restore.replay`: checkpoint and inputs after it), and makes the
  call again: the frames of the batch that failed are stepped then, not dropped. Its
  sessions' watches get 4503 once.

Any other failure is a bug: logged with its traceback, counted in ``internal_errors``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from prism.errors import StoreUnavailableError, WorkerLostError
from prism.protocol import ErrorCode, ProtocolError, SensorFrame
from prism.server.health import Health
from prism.server.pipeline import Pipeline, StepResult
from prism.server.restore import replay
from prism.server.runtime import RuntimeEvent
from prism.server.session import LiveSession, error_messages
from prism.server.signing import CheckpointSigner
from prism.storage import Checkpoint, Record, SessionStore, StoredInput

__all__ = ["Batcher"]

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_FIRST_S = 0.05
"""First pause before a failed store operation is tried again (s); it doubles each time."""

RETRY_MAX_S = 2.0
"""Longest pause between two attempts of a failed store operation (s)."""

CALL_ATTEMPTS = 3
"""Attempts of a pipeline call whose worker died (each after its sessions are rebuilt)."""

STORE_UNAVAILABLE = (
    "the server cannot store messages right now: they are kept and sent in order once it "
    "can; nothing is lost"
)
WORKER_RESTARTED = (
    "the server restarts this session's processing: updates are late, nothing is lost"
)

_Write = tuple[list[LiveSession], list[Record], dict[str, StepResult]]
"""A stepped batch waiting for the writer: its sessions, their records, the results."""


class Batcher:
    """The sessions' queued inputs, the batch loops and the writer loop.

    Parameters
    ----------
    pipeline : Pipeline
        Steps the batches (one batch loop per lane of it).
    store : SessionStore
        Where each batch is written.
    signer : CheckpointSigner
        Signs the pipeline's checkpoints before they are stored.
    max_pending_frames : int
        Frames of a session waiting for a batch after which :meth:`behind` is true.
    batch_interval_s : float
        Pause after each batch so the next collects more (s).
    counters : Counter
        The service's counters (``frames_classified``, ``internal_errors``, ...).
    deliver : callable
        ``deliver(session, messages)``: queue stored messages for the session's watch.
    lost : callable
        ``lost(session)``: another process claimed the session (its records were refused).
    health : Health
        Where store and worker faults are reported.
    sessions : mapping
        The live sessions by id (those to tell about a fault, those to rebuild on a lane
        whose worker died).
    """

    def __init__(
        self,
        pipeline: Pipeline,
        store: SessionStore,
        *,
        signer: CheckpointSigner,
        max_pending_frames: int,
        batch_interval_s: float,
        counters: Counter[str],
        deliver: Callable[[LiveSession, list[dict[str, Any]]], None],
        lost: Callable[[LiveSession], None],
        health: Health,
        sessions: Mapping[str, LiveSession],
    ) -> None:
        self.pipeline, self.store, self.signer = pipeline, store, signer
        self.health, self._sessions = health, sessions
        self.max_pending_frames = max_pending_frames
        self.batch_interval_s = batch_interval_s
        self.counters = counters
        for fault in ("store_errors", "pipeline_workers_restarted"):  # shown from the start
            counters[fault] += 0
        self.batch_sizes: Counter[int] = Counter()
        """How many sessions each processed batch held (histogram)."""
        self._deliver, self._lost = deliver, lost
        lanes = pipeline.lanes
        self._dirty: list[dict[str, LiveSession]] = [{} for _ in range(lanes)]
        """Per lane of the pipeline: the sessions with inputs waiting for a batch."""
        self._wakes = [asyncio.Event() for _ in range(lanes)]
        self._progress = asyncio.Event()
        self._in_flight: Counter[str] = Counter()
        """Sessions in batches not yet written (a session can be in two)."""
        self._writes: asyncio.Queue[_Write] = asyncio.Queue()
        self._queued = self._written = 0
        """Writes queued and writes done (stored or given up) in this lifespan."""
        self._store_up = asyncio.Event()
        self._store_up.set()
        self._told: set[str] = set()
        """Sessions told (4503) about the store fault in progress."""
        self._generations = [0] * lanes
        """Per lane: how many times its sessions were rebuilt after its worker died."""
        self._rebuilding = [asyncio.Lock() for _ in range(lanes)]

    # ----------------------------------------------------------------- inputs
    def take_frame(self, session: LiveSession, frame: SensorFrame, body: bytes) -> None:
        """Take a sensor frame a watch sent (a connection's, or one the Sensor Logger
        bridge made): its ``seq``, audio rate and time are checked before the ``seq`` is
        taken (a refused frame leaves it free), then it is counted and queued
        (:meth:`push_frame`).

        Raises
        ------
        ProtocolError
            ``DUPLICATE``, ``SEQUENCE_GAP``, an audio rate not the session's
            (:meth:`LiveSession.check_rate <prism.server.session.LiveSession.check_rate>`),
            or a time the session's clock refuses.
        """
        session.incoming.check(frame.seq)
        session.check_rate(frame)
        session.clock.check(frame)
        session.incoming.accept(frame.seq)
        self.counters["frames"] += 1
        self.push_frame(session, frame, body)

    def push_frame(self, session: LiveSession, frame: SensorFrame, body: bytes) -> None:
        """Take a sensor frame for the next batch: its stream's clock moves on to its end;
        an empty one (no samples) only moves the session's last ``seq`` (stored with the
        batch).

        The caller checked the frame (its time with :meth:`StreamClock.check
        <prism.protocol.StreamClock.check>`) and then took its ``seq``: a refused frame
        does not use up its sequence number."""
        session.clock.accept(frame)
        if len(frame.samples):
            session.pending.append(StoredInput(frame.seq, "frame", body))
            session.pending_frames += 1
        session.last_input_seq = frame.seq
        self._queue(session)

    def acknowledge(self, session: LiveSession, stored: StoredInput, up_to: int) -> None:
        """The watch received the messages up to ``up_to`` (its message ``stored``): the
        acknowledgement and its ``seq`` go with the next batch, the message itself is not
        stored (it changes no pipeline state)."""
        session.acknowledge(up_to)
        session.last_input_seq = stored.seq
        self._queue(session)

    def discard(self, session: LiveSession) -> None:
        """Forget the session's inputs waiting for a batch (it was deleted)."""
        self._dirty[self.pipeline.lane(session.id)].pop(session.id, None)
        session.pending, session.pending_frames = [], 0

    def _queue(self, session: LiveSession) -> None:
        lane = self.pipeline.lane(session.id)
        self._dirty[lane][session.id] = session
        self._wakes[lane].set()

    def behind(self, session: LiveSession) -> bool:
        """Whether the session has ``max_pending_frames`` frames waiting for a batch."""
        return session.pending_frames >= self.max_pending_frames

    # ----------------------------------------------------------------- batches
    def process(self, sessions: list[LiveSession]) -> None:
        """Process, store and deliver the pending inputs of ``sessions`` (one pipeline
        call, one transaction), on the calling thread, without the loops."""
        taken, fronts = self._take(sessions)
        results = self.pipeline.step(_frames(sessions, taken))
        records = self._number(sessions, taken, fronts, results)
        self._deliver_stored(sessions, records, results, self._store(sessions, records))

    async def flush(self, session: LiveSession) -> None:
        """Process ``session``'s pending inputs now (before a control message), after
        the batches in flight that hold the session (stepped and stored in order by the
        loops: messages are delivered on the event loop)."""
        while self._in_flight[session.id]:
            await self._progress.wait()
        if session.pending:
            await self._step([session])
            while self._in_flight[session.id]:
                await self._progress.wait()

    def loops(self) -> list[Coroutine[Any, Any, None]]:
        """The batch loop of every pipeline lane and the writer loop, for the running
        event loop: the app's lifespan runs them in one task group and cancels them at
        shutdown. Each call starts afresh (one app may see several lifespans, each with
        its event loop: tests); sessions already waiting are batched first."""
        self._wakes = [asyncio.Event() for _ in self._dirty]
        self._progress = asyncio.Event()
        self._writes = asyncio.Queue()
        self._queued = self._written = 0
        self._store_up = asyncio.Event()
        self._store_up.set()
        self._rebuilding = [asyncio.Lock() for _ in self._dirty]
        for wake, dirty in zip(self._wakes, self._dirty, strict=True):
            if dirty:
                wake.set()
        return [*(self._run_lane(lane) for lane in range(len(self._dirty))), self._run_writes()]

    async def _run_lane(self, lane: int) -> None:
        """Process the sessions of one pipeline lane that received frames, batch after
        batch (lanes run side by side, none waits for another).

        After each batch it waits ``batch_interval_s`` so the next one collects the
        frames of many sessions (bigger batches cost less per frame). While the store
        fails it takes nothing (the frames wait in the sessions, which slows their
        connections)."""
        wake = self._wakes[lane]
        while True:
            await wake.wait()
            wake.clear()
            await self._store_up.wait()
            sessions = list(self._dirty[lane].values())
            if sessions:
                try:
                    await self._step(sessions)
                except Exception:
                    log.exception("a batch of %d sessions failed", len(sessions))
                    self.counters["internal_errors"] += 1
            await asyncio.sleep(self.batch_interval_s)

    async def _step(self, sessions: list[LiveSession]) -> None:
        """The first half of :meth:`process` for the loops: the pipeline call on a
        worker thread (:meth:`call`); storing and delivering are queued for the writer
        loop, so the next batch can start meanwhile. The sessions count as in flight
        until written. ``sessions`` are of one lane."""
        taken, fronts = self._take(sessions)
        self._in_flight.update(session.id for session in sessions)
        frames = _frames(sessions, taken)
        try:
            results = await self.call(sessions[0].id, self.pipeline.step, frames)
        except Exception:  # a bug: keep the inputs (their seq numbers are taken), report
            log.exception("a pipeline step of %d sessions failed", len(sessions))
            self.counters["internal_errors"] += 1
            results = {}
        records = self._number(sessions, taken, fronts, results)
        self._queue_write((sessions, records, results))

    def _queue_write(self, write: _Write) -> None:
        self._queued += 1
        self._writes.put_nowait(write)

    def hold(self, session: LiveSession, record: Record, fault: StoreUnavailableError) -> None:
        """``record`` of ``session`` (a control message's) could not be stored
        (``fault``): the writer stores it after what it holds, then delivers its messages."""
        self._store_failed(fault)
        self._in_flight[session.id] += 1
        self._queue_write(([session], [record], {}))

    async def _run_writes(self) -> None:
        """Store and deliver the stepped batches, in order; a batch the store cannot
        take now is kept and tried again (the module docstring).

        The checkpoints of a batch are written in a second transaction, after its
        messages went out: they do not hold the messages back (about 300 kB each), and
        the session counts as in flight until they are written, so nothing of the
        session comes between its inputs and its checkpoint. A crash in between leaves
        the previous checkpoint and every input after it: nothing is lost."""
        while True:
            sessions, records, results = await self._writes.get()
            try:
                now = [replace(record, checkpoint=None) for record in records]
                rejected = await self._stored(sessions, now)
                self._deliver_stored(sessions, records, results, rejected)
                later = [
                    (session, Record(record.session_id, checkpoint=record.checkpoint))
                    for session, record in zip(sessions, records, strict=True)
                    if record.checkpoint is not None and session.id not in rejected
                ]
                if later:
                    lost = await self._stored([s for s, _ in later], [r for _, r in later])
                    for session, _ in later:
                        if session.id in lost:
                            self._lost(session)
            except Exception:
                log.exception("storing a batch of %d sessions failed", len(sessions))
                self.counters["internal_errors"] += 1
            finally:
                self._written += 1
                self._in_flight.subtract(session.id for session in sessions)
                self._in_flight += Counter()  # drop the zero counts
                progress, self._progress = self._progress, asyncio.Event()
                progress.set()

    async def _stored(self, sessions: list[LiveSession], records: list[Record]) -> set[str]:
        """:meth:`_store` on a worker thread, again and again while the store is
        unavailable (pauses from :data:`RETRY_FIRST_S` to :data:`RETRY_MAX_S`)."""
        delay = RETRY_FIRST_S
        while True:
            try:
                rejected = await asyncio.to_thread(self._store, sessions, records)
            except StoreUnavailableError as fault:
                self._store_failed(fault)
                await asyncio.sleep(delay)
                delay = min(2 * delay, RETRY_MAX_S)
                continue
            if self.health.store_fault is not None:
                self.health.store_back()
                self._store_up.set()
            return rejected

    def _store_failed(self, fault: StoreUnavailableError) -> None:
        """Count a failed store operation; the batch loops pause and the watches not
        told yet about this fault are told (4503)."""
        self.counters["store_errors"] += 1
        if self.health.store_failed(str(fault)):
            self._told = set()
            self._store_up.clear()
        self._tell(self._sessions.values(), self._told, STORE_UNAVAILABLE)

    def _tell(self, sessions: Iterable[LiveSession], told: set[str], why: str) -> None:
        """Error 4503 (``why``) to the connected watches of ``sessions`` not in ``told``."""
        for session in sessions:
            if session.outbox is not None and session.id not in told:
                told.add(session.id)
                self._deliver(session, [ProtocolError(ErrorCode.UNAVAILABLE, why).to_message()])

    # ----------------------------------------------------------------- workers
    async def call(self, session_id: str, method: Callable[..., T], *args: Any) -> T:
        """``method(*args)``, a call of the pipeline for ``session_id``'s lane, on a
        worker thread; if the lane's worker died, its sessions are rebuilt and the call
        made again (at most :data:`CALL_ATTEMPTS` times).

        Raises
        ------
        WorkerLostError
            If the worker died at every attempt.
        """
        lane = self.pipeline.lane(session_id)
        attempts = 1
        while True:
            generation = self._generations[lane]
            try:
                return await asyncio.to_thread(method, *args)
            except WorkerLostError as lost:
                if attempts == CALL_ATTEMPTS:
                    raise
                await self._rebuild_lane(lost, generation)
            attempts += 1

    async def _rebuild_lane(self, lost: WorkerLostError, generation: int) -> None:
        """Rebuild the sessions of ``lost.lane``'s restarted worker, unless that was done
        since ``generation``: after the batches stepped before are stored, each session
        replayed from the store (again while the store fails or the worker dies)."""
        lane = lost.lane
        async with self._rebuilding[lane]:
            if self._generations[lane] != generation:  # another call rebuilt it meanwhile
                return
            self.counters["pipeline_workers_restarted"] += 1
            self.health.worker_lost(lane, str(lost))
            self._tell(self._of_lane(lane), set(), WORKER_RESTARTED)
            target = self._queued
            while self._written < target:  # the lane's earlier batches are in the store
                await self._progress.wait()
            delay = RETRY_FIRST_S
            while True:
                replayed: Counter[str] = Counter()
                try:
                    await asyncio.to_thread(self._replay, self._of_lane(lane), replayed)
                    break
                except (WorkerLostError, StoreUnavailableError):  # died again, store down
                    await asyncio.sleep(delay)
                    delay = min(2 * delay, RETRY_MAX_S)
            self.counters.update(replayed)
            self.pipeline.restored(lane)
            self._generations[lane] += 1
            self.health.worker_back(lane)

    def _of_lane(self, lane: int) -> list[LiveSession]:
        return [s for s in self._sessions.values() if self.pipeline.lane(s.id) == lane]

    def _replay(self, sessions: list[LiveSession], counters: Counter[str]) -> None:
        """Restore the pipelines of ``sessions`` from the store (any thread)."""
        for session in sessions:
            row = self.store.session(session.id)
            if row is None:  # deleted meanwhile
                continue
            replay(
                row, store=self.store, pipeline=self.pipeline, signer=self.signer, counters=counters
            )

    # ----------------------------------------------------------------- helpers
    def _take(
        self, sessions: list[LiveSession]
    ) -> tuple[list[list[StoredInput]], list[dict[str, Any]]]:
        """The sessions' pending inputs (taken: new ones start a new list), and the
        front's state of each session right after them (for a checkpoint)."""
        taken, fronts = [], []
        for session in sessions:
            self._dirty[self.pipeline.lane(session.id)].pop(session.id, None)
            taken.append(session.pending)
            fronts.append(
                {
                    "clock": session.clock.state(),
                    "last_seq": session.last_input_seq,
                    "last_marked": session.last_marked,
                }
            )
            session.pending, session.pending_frames = [], 0
        return taken, fronts

    def _number(
        self,
        sessions: list[LiveSession],
        taken: list[list[StoredInput]],
        fronts: list[dict[str, Any]],
        results: dict[str, StepResult],
    ) -> list[Record]:
        """Number each session's events; the records to store (inputs, messages, the
        newest ``seq`` and acknowledgement and, when the pipeline made one, a signed
        checkpoint)."""
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
                Checkpoint(self.signer.sign(result.checkpoint), front)
                if result.checkpoint is not None
                else None
            )
            messages = session.number(events)
            records.append(
                Record(
                    session.id,
                    inputs,
                    messages,
                    acked=acked,
                    checkpoint=checkpoint,
                    last_seq=front["last_seq"],
                )
            )
        return records

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

    def _deliver_all(
        self, sessions: list[LiveSession], records: list[Record], results: dict[str, StepResult]
    ) -> None:
        self.counters["frames_classified"] += sum(r.frames for r in results.values())
        if results:  # a pipeline batch (not a held control message's record)
            self.batch_sizes[len(sessions)] += 1
        for session, record in zip(sessions, records, strict=True):
            result = results.get(session.id, StepResult())
            # about frames already accepted: named in the text, no ref_seq (PROTOCOL.md)
            errors = [
                ProtocolError(ErrorCode.BAD_FRAME, f"frame {p.seq}: {p.message}").to_message()
                for p in result.errors
            ]
            errors += error_messages(result.events)  # unnumbered, unstored (none expected)
            self.counters["protocol_errors"] += len(errors)
            self._deliver(session, [*errors, *record.messages])


def _frames(
    sessions: Sequence[LiveSession], taken: list[list[StoredInput]]
) -> dict[str, list[bytes]]:
    """The sensor frame bytes of each session's taken inputs, for :meth:`Pipeline.step`."""
    return {
        session.id: [stored.body for stored in inputs if stored.kind == "frame"]
        for session, inputs in zip(sessions, taken, strict=True)
    }

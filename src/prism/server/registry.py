"""The service's live sessions: open, look up, attach, rebuild; numbered output.

Wiring only. The sessions' pipelines run behind a :class:`~prism.server.pipeline.Pipeline`
(in this process, or sharded over worker processes) and their inputs go through the
frame batches (:class:`~prism.server.batches.Batcher`); the registry keeps, per session,
what the connection needs (:class:`~prism.server.session.LiveSession`): sequence
numbers, the messages sent, the connection's outbox. Sessions are kept in a
:class:`~prism.storage.SessionStore`: SQLite for one service process, Redis for several
(processes or machines); with Redis a process loads a session when it is asked for it
and claims it when a watch connects.

What a caller may not do raises a :class:`~prism.server.errors.ServiceError` (unknown
session or procedure, another device's session, ...); the app maps each to an HTTP
status or a protocol close code.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from prism.assistant.llm import LLMPhraser
from prism.data.annotations import StepSegment
from prism.data.recording import Recording
from prism.errors import (
    DataError,
    PrismError,
    StoreError,
    StoreUnavailableError,
    WorkerLostError,
)
from prism.protocol import (
    ControlMessage,
    End,
    ErrorCode,
)
from prism.server.batches import Batcher
from prism.server.devices import Devices
from prism.server.errors import (
    DeviceNotFoundError,
    ModeRefusedError,
    NoUsableModelError,
    RecordingUnavailableError,
    SessionElsewhereError,
    SessionNotFoundError,
    TooManyDeviceSessionsError,
    TooManySessionsError,
    unknown,
)
from prism.server.health import Health
from prism.server.labels import LabelSegment, checked_labels, labels_input
from prism.server.memory import limit_malloc_arenas
from prism.server.pipeline import OPENED_GUIDED, SWITCHED_TO_SENSING, LocalPipeline, Pipeline
from prism.server.procedures import Procedures, Reloaded
from prism.server.recordings import session_recording
from prism.server.restore import rebuild
from prism.server.runtime import RuntimeEvent
from prism.server.session import CloseRequest, LiveSession, error_messages
from prism.server.shards import ShardedPipeline
from prism.server.signing import CheckpointSigner, checkpoint_key
from prism.settings import Settings
from prism.storage import Record, SessionRow, SessionStore, StoredInput
from prism.storage.configured import open_store

__all__ = ["SessionRegistry"]

log = logging.getLogger(__name__)


class SessionRegistry:
    """Devices, procedures, live sessions, their pipeline, store and frame batches.

    Parameters
    ----------
    settings : Settings
        Where procedures and models are (``tasks_dir``, ``models_dir``); the service's
        section (``server``: the store, limits, pipeline workers) and the LLM (``llm``).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        service = settings.server
        self.sessions: dict[str, LiveSession] = {}
        self.counters: Counter[str] = Counter()
        self.clock: Callable[[], float] = time.monotonic
        """The clock of the idle sweep (s; tests replace it)."""
        self._activity: dict[str, tuple[int, float]] = {}
        """Per session served here: the next input seq it expects, and since when."""
        self._ending: set[str] = set()
        """Sessions being ended now."""
        self.procedures = Procedures(settings.tasks_dir, settings.models_dir)
        if service.malloc_arenas is not None:  # before the pipeline workers start
            limit_malloc_arenas(service.malloc_arenas)
        warm_up = service.warm_up_sessions
        self.pipeline: Pipeline = (
            ShardedPipeline(
                settings.tasks_dir,
                settings.models_dir,
                workers=service.pipeline_workers,
                warm_up_sessions=warm_up,
                checkpoint_every_s=service.checkpoint_every_s,
            )
            if service.pipeline_workers
            else LocalPipeline(
                settings.tasks_dir,
                settings.models_dir,
                warm_up_sessions=warm_up,
                checkpoint_every_s=service.checkpoint_every_s,
            )
        )
        self.phraser = LLMPhraser(settings.llm) if settings.llm.enabled else None
        """Phrases answers outside the pipeline (None: grounded answers as they are)."""
        self.shared = service.redis_url is not None
        """Other processes serve sessions of the same store (Redis)."""
        self.store: SessionStore = open_store(service)
        self.devices = Devices(self.store, shared=self.shared)
        self.health = Health()
        """Faults in progress (the store, pipeline workers): ``/v1/health``."""
        self.signer = CheckpointSigner(checkpoint_key(service))
        """Signs stored checkpoints and checks those read back."""
        self.batches = Batcher(
            self.pipeline,
            self.store,
            signer=self.signer,
            max_pending_frames=service.max_pending_frames,
            batch_interval_s=service.batch_interval_s,
            counters=self.counters,
            deliver=self.deliver,
            lost=self._lost,
            health=self.health,
            sessions=self.sessions,
        )
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

    # ----------------------------------------------------------------- sessions
    def open_session(
        self, device_id: str, procedure_id: str, *, privacy: bool = False
    ) -> LiveSession:
        """A new session of a procedure (``privacy``: a privacy session, whose watch
        sends audio at 1 kHz, on the procedure's privacy model).

        Only live sessions count towards the limits: ended ones (also those the idle
        sweep ended, :meth:`end_idle`) do not.

        Raises
        ------
        TooManySessionsError
            If ``max_sessions`` sessions are live.
        TooManyDeviceSessionsError
            If ``max_sessions_per_device`` sessions of ``device_id`` are live.
        ProcedureNotFoundError
            If the procedure is unknown.
        ProcedureUnusableError
            If its file in the tasks folder cannot be loaded.
        NoUsableModelError
            If the pipeline cannot start it (no trained model, no privacy model for a
            privacy session, or one that does not match the procedure).
        StoreUnavailableError, WorkerLostError
            If the store or the session's pipeline worker fails now (nothing is opened).
        """
        service = self.settings.server
        live = [row.device_id for row in self.rows() if not row.ended]
        if len(live) >= service.max_sessions:
            raise TooManySessionsError(
                f"the service holds {len(live)} live sessions (max_sessions): try again later"
            )
        if live.count(device_id) >= service.max_sessions_per_device:
            raise TooManyDeviceSessionsError(
                f"this device has {live.count(device_id)} live sessions "
                "(max_sessions_per_device): end one first (POST /v1/sessions/{id}/end)"
            )
        procedure = self.procedures.get(procedure_id)
        session_id = f"ses-{secrets.token_hex(8)}"
        try:
            mode = self.pipeline.open(session_id, procedure.id, privacy)
        except WorkerLostError:  # a passing fault, not the procedure's
            raise
        except PrismError as error:
            raise NoUsableModelError(str(error)) from None
        try:
            row = self.store.add_session(session_id, device_id, procedure.id, privacy=privacy)
            if mode == "guided":  # a replay opens it guided too, whatever models exist then
                self.store.record(session_id, OPENED_GUIDED, [])
        except StoreError:  # not stored: not opened
            self.pipeline.drop(session_id)
            raise
        session = LiveSession(
            session_id,
            device_id,
            procedure.id,
            owner=True,
            max_unacked=self.settings.server.max_unacked_kept,
            recording=row.recording,
            privacy=row.privacy,
        )
        self.sessions[session_id] = session
        self._activity[session_id] = (session.incoming.next_seq, self.clock())
        return session

    def rows(self) -> list[SessionRow]:
        """Every session: of the store when it is shared, else of this process."""
        if self.shared:
            return self.store.sessions()
        return [
            SessionRow(
                s.id, s.device_id, s.procedure_id, s.ended, s.acked, s.epoch, privacy=s.privacy
            )
            for s in self.sessions.values()
        ]

    def row(self, session_id: str) -> SessionRow | None:
        """A session's stored facts (device, procedure, ...) without loading it."""
        if self.shared:
            return self.store.session(session_id)
        session = self.sessions.get(session_id)
        if session is None:
            return None
        return SessionRow(
            session.id,
            session.device_id,
            session.procedure_id,
            session.ended,
            session.acked,
            privacy=session.privacy,
        )

    def resolve(self, session_id: str) -> LiveSession:
        """A session as it is now: this process's copy when it serves the session, else
        (a shared store) loaded from the store.

        Raises
        ------
        SessionNotFoundError
            If there is no such session.
        """
        session = self.sessions.get(session_id)
        if not self.shared:
            if session is None:
                raise SessionNotFoundError(unknown("session", session_id))
            return session
        row = self.store.session(session_id)
        if row is None:
            raise SessionNotFoundError(unknown("session", session_id))
        if session is not None and session.owner and session.epoch == row.epoch:
            return session
        session = self._rebuild(row)
        self.sessions[session_id] = session
        return session

    def owned(self, session_id: str, device_id: str) -> LiveSession:
        """A session of ``device_id`` (:meth:`resolve`).

        Raises
        ------
        SessionNotFoundError
            If there is no such session, or it belongs to another device: the same
            refusal, so a device cannot learn which ids exist.
        """
        found = self.row(session_id)
        if found is None or found.device_id != device_id:
            raise SessionNotFoundError(unknown("session", session_id))
        return self.resolve(session_id)

    def accessible(self, session_id: str, device_id: str) -> SessionRow:
        """The stored facts of a session of ``device_id``, read without claiming it.

        Raises
        ------
        SessionNotFoundError
            If there is no such session, or it belongs to another device (the same
            refusal: no way to learn which ids exist).
        """
        found = self.row(session_id)
        if found is None or found.device_id != device_id:
            raise SessionNotFoundError(unknown("session", session_id))
        return found

    async def attach(self, session_id: str, device_id: str) -> LiveSession:
        """The device's watch connects: make this process the one that serves the
        session. It claims the session in the store, which stops any other process from
        writing it, and unless this process served it without a claim in between,
        rebuilds it from the store (which then holds everything the previous server
        wrote).

        Raises
        ------
        SessionNotFoundError
            If there is no such session, or it belongs to another device (the same
            refusal, as :meth:`owned`).
        """
        self.accessible(session_id, device_id)
        session = self.sessions.get(session_id)
        if session is not None:
            await self.batches.flush(session)  # what this process still holds is stored first
        epoch = self.store.claim(session_id)
        if session is None or not (session.owner and session.epoch == epoch - 1):
            row = self.store.session(session_id)
            if row is None:
                raise SessionNotFoundError(unknown("session", session_id))
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
        self._activity.pop(session.id, None)
        self.pipeline.drop(session.id)
        session.owner = False
        if session.outbox is not None:
            reason = "another server took over this session: reconnect and resume"
            session.outbox.put_nowait(CloseRequest(int(ErrorCode.REPLACED), reason))
            session.outbox = None

    def _rebuild(self, row: SessionRow) -> LiveSession:
        """The stored session of ``row``, rebuilt (:func:`~prism.server.restore.rebuild`),
        keeping at most ``max_unacked_kept`` unacknowledged messages in memory."""
        session = rebuild(
            row,
            store=self.store,
            pipeline=self.pipeline,
            signer=self.signer,
            counters=self.counters,
        )
        session.max_unacked = self.settings.server.max_unacked_kept
        session.keep([])  # drop what the new bound leaves out
        return session

    # ----------------------------------------------------------------- retention
    async def purge_expired(self, now: float) -> list[str]:
        """Delete the sessions that ended more than ``retention_days`` before ``now``
        (Unix time, s) with everything they stored, in the store (on a worker thread)
        and here; their ids (none when ``retention_days`` is unset)."""
        days = self.settings.server.retention_days
        if days is None:
            return []
        purged = await asyncio.to_thread(self.store.purge_ended, now - days * 86400.0)
        for session_id in purged:
            self._forget(session_id, "the session was deleted (retention)")
        self.counters["sessions_purged"] += len(purged)
        return purged

    async def forget_device(self, device_id: str) -> list[str]:
        """Delete a device with its sessions and all they stored: its token stops
        working, its live sessions here are dropped and their connections closed, then
        the store deletes it (on a worker thread). The ids of the sessions deleted.

        Raises
        ------
        DeviceNotFoundError
            If there is no such device.
        """
        self.devices.forget(device_id)
        for session in [s for s in self.sessions.values() if s.device_id == device_id]:
            self._forget(session.id, "the device and its sessions were deleted")
        deleted = await asyncio.to_thread(self.store.forget_device, device_id)
        if deleted is None:
            raise DeviceNotFoundError("unknown device")
        for session_id in deleted:  # opened here meanwhile
            self._forget(session_id, "the device and its sessions were deleted")
        return deleted

    def _forget(self, session_id: str, reason: str) -> None:
        """Drop a deleted session from this process: its queued inputs, its pipeline,
        its connection (closed with 4404). A batch of it still in flight is refused by
        the store (the session is gone) and only counted as lost."""
        session = self.sessions.pop(session_id, None)
        if session is None:
            return
        self.batches.discard(session)
        self.pipeline.drop(session_id)
        session.owner = False
        if session.outbox is not None:
            session.outbox.put_nowait(CloseRequest(int(ErrorCode.UNKNOWN_SESSION), reason))
            session.outbox = None

    # ----------------------------------------------------------------- control
    async def control(self, session: LiveSession, message: ControlMessage) -> list[RuntimeEvent]:
        """Process the session's pending frames, then the control message; its events.

        Raises
        ------
        SessionElsewhereError
            If another process serves the session.
        """
        if not session.owner:
            raise SessionElsewhereError(f"session {session.id!r} is served by another server")
        await self.batches.flush(session)
        return await self.batches.call(session.id, self.pipeline.control, session.id, message)

    async def sense(self, session: LiveSession) -> None:
        """Switch a guided session to sensing on its task's model, after its pending
        frames: the switch is stored as an input (a replay makes it at the same point)
        and the watch gets the ``mode`` message and the step state.

        Raises
        ------
        ModeRefusedError
            If the session is sensing already, or its task has no usable model yet.
        SessionElsewhereError
            If another process serves the session.
        """
        if not session.owner:
            raise SessionElsewhereError(f"session {session.id!r} is served by another server")
        if session.ended:
            raise ModeRefusedError(f"session {session.id!r} is over")
        await self.batches.flush(session)
        try:
            events = await self.batches.call(session.id, self.pipeline.sense, session.id)
        except WorkerLostError:
            raise
        except PrismError as refusal:
            raise ModeRefusedError(str(refusal)) from None
        self.deliver(session, self.commit(session, SWITCHED_TO_SENSING, events))

    def reload(self) -> Reloaded:
        """Read the tasks and models folders again (:meth:`Procedures.reload
        <prism.server.procedures.Procedures.reload>`, :meth:`Pipeline.reload
        <prism.server.pipeline.Pipeline.reload>`): new sessions use what is there now,
        running ones keep their procedure and model."""
        reloaded = self.procedures.reload()
        self.pipeline.reload()
        self.counters["reloads"] += 1
        return reloaded

    async def end(self, session: LiveSession) -> None:
        """End the session (REST or the idle sweep: the watch did not say ``end``),
        unless it is over or being ended: the final step update is stored and sent to
        the watch if it is connected."""
        if session.ended or session.id in self._ending:
            return
        self._ending.add(session.id)
        try:
            end = End(type="end", seq=1, t=0.0)
            stored = StoredInput(0, "control", end.model_dump_json().encode())
            events = await self.control(session, end)
            self.deliver(session, self.commit(session, stored, events, ended=True))
        finally:
            self._ending.discard(session.id)
        self._activity.pop(session.id, None)

    @property
    def idle_sweep_every_s(self) -> float | None:
        """Time between two idle sweeps (s): a quarter of ``session_idle_timeout_s``,
        at most a minute (None: sessions are never ended for being idle)."""
        timeout = self.settings.server.session_idle_timeout_s
        return None if timeout is None else min(timeout / 4, 60.0)

    async def end_idle(self) -> list[str]:
        """End the sessions this process serves that received no input from their
        watch (no message taken: frames, acknowledgements, questions, ...) for
        ``session_idle_timeout_s``; their ids.

        A session's idle time runs from its last input this process saw, or from when
        this process first looked (opened, restored, or the first sweep after an input).
        A session that cannot be ended now (another process took it over, the store is
        down) is left for the next sweep.
        """
        timeout = self.settings.server.session_idle_timeout_s
        if timeout is None:
            return []
        now, ended = self.clock(), []
        for session in list(self.sessions.values()):
            if session.ended or not session.owner:
                self._activity.pop(session.id, None)
                continue
            expected = session.incoming.next_seq
            seen = self._activity.get(session.id)
            if seen is None or seen[0] != expected:
                self._activity[session.id] = (expected, now)
            elif now - seen[1] >= timeout:
                try:
                    await self.end(session)
                except PrismError as problem:
                    log.warning("idle session %s could not be ended: %s", session.id, problem)
                    continue
                self.counters["sessions_idle_ended"] += 1
                ended.append(session.id)
        return ended

    async def sweep_idle(self) -> None:
        """Run :meth:`end_idle` every :attr:`idle_sweep_every_s` until cancelled (the
        app's lifespan runs it); a failure of one sweep is logged, the next one runs."""
        every = self.idle_sweep_every_s
        if every is None:
            return
        while True:
            await asyncio.sleep(every)
            try:
                await self.end_idle()
            except Exception:
                log.exception("the idle sweep failed")

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
        return await self.batches.call(session.id, self.pipeline.snapshot, session.id)

    async def recording(self, session_id: str) -> Recording:
        """A recording session as a recording (:func:`~prism.server.recordings.session_recording`):
        its stored frames and marks, its frames still pending stored first.

        Raises
        ------
        SessionNotFoundError
            If there is no such session.
        RecordingUnavailableError
            If its device does not record (its inputs are not kept), or it has no
            sensor data yet.
        """
        session = self.resolve(session_id)
        if not session.recording:
            raise RecordingUnavailableError(
                f"session {session.id!r} is not recorded: its device was not registered "
                'with "recording": true, so its inputs are not kept'
            )
        if session.owner:
            await self.batches.flush(session)
        build = partial(
            session_recording,
            session.id,
            session.procedure_id,
            self.store.inputs(session.id),
            audio_rate=session.audio_rate,
            metadata={"device_id": session.device_id, "privacy": session.privacy},
        )
        try:
            return await asyncio.to_thread(build)
        except DataError as problem:
            raise RecordingUnavailableError(str(problem)) from None

    async def save_labels(
        self, session_id: str, segments: Sequence[LabelSegment]
    ) -> tuple[StepSegment, ...]:
        """Save a recording session's corrected step labels (:mod:`prism.server.labels`):
        checked against its recording's length and its procedure's steps, stored as an
        input of kind ``labels``; the step segments saved.

        Raises
        ------
        SessionNotFoundError, RecordingUnavailableError
            As :meth:`recording` (nothing is stored for a session that does not record).
        LabelsRefusedError
            Naming the first segment that does not fit, and why.
        SessionElsewhereError
            If another service process took the session over meanwhile.
        """
        recording = await self.recording(session_id)
        session = self.resolve(session_id)
        steps = self.procedures.get(session.procedure_id).step_ids
        labels = checked_labels(segments, duration=recording.duration, step_ids=steps)
        epoch = session.epoch if session.owner else None
        kept = await asyncio.to_thread(
            self.store.record, session.id, labels_input(labels), [], epoch=epoch
        )
        if not kept:
            raise SessionElsewhereError(f"session {session.id!r} is served by another server")
        return labels

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
        transaction), before they are sent; returns the messages to send: the ``error``
        messages among ``events`` (unnumbered, not stored), then the numbered ones. While
        the store is unavailable the frame batches' writer holds the numbered ones,
        stores them when it can and sends them then (only the errors go now)."""
        errors = error_messages(events)
        messages = session.number(events)
        if stored is not None:
            session.last_input_seq = max(session.last_input_seq, stored.seq)
        try:
            kept = self.store.record(session.id, stored, messages, ended=ended, epoch=session.epoch)
        except StoreUnavailableError as fault:
            inputs = () if stored is None else (stored,)
            record = Record(session.id, inputs, messages, ended=ended)
            self.batches.hold(session, record, fault)
            session.ended = session.ended or ended
            return errors
        if not kept:
            self._lost(session)
            return []
        session.ended = session.ended or ended
        self.counters["protocol_errors"] += len(errors)
        return [*errors, *messages]

    def sent_after(self, session: LiveSession, after: int) -> list[dict[str, Any]]:
        """The session's messages with ``seq > after`` (from memory when it has them all,
        else from the database; those still waiting for the writer come from memory).

        Memory holds only the newest ``max_unacked_kept`` unacknowledged messages, so a
        resume from further back reads the store."""
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
        if outbox.qsize() + len(messages) > self.settings.server.max_outbox:
            session.outbox = None
            reason = "the watch does not read its messages: reconnect and resume"
            outbox.put_nowait(CloseRequest(int(ErrorCode.TOO_SLOW), reason))
            self.counters["slow_connections_closed"] += 1
            return
        for message in messages:
            outbox.put_nowait(message)

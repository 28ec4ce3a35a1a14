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
from collections import Counter
from typing import Any

from prism.assistant.llm import LLMPhraser
from prism.errors import PrismError
from prism.protocol import (
    ControlMessage,
    End,
    ErrorCode,
)
from prism.server.batches import Batcher
from prism.server.devices import Devices
from prism.server.errors import (
    DeviceNotFoundError,
    ForbiddenError,
    NoUsableModelError,
    SessionElsewhereError,
    SessionNotFoundError,
    TooManySessionsError,
)
from prism.server.memory import limit_malloc_arenas
from prism.server.pipeline import LocalPipeline, Pipeline
from prism.server.procedures import Procedures
from prism.server.restore import rebuild
from prism.server.runtime import RuntimeEvent
from prism.server.session import CloseRequest, LiveSession
from prism.server.shards import ShardedPipeline
from prism.server.signing import CheckpointSigner, checkpoint_key
from prism.settings import Settings
from prism.storage import SessionRow, SessionStore, StoredInput
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
    def open_session(self, device_id: str, procedure_id: str) -> LiveSession:
        """A new session of a procedure.

        Raises
        ------
        TooManySessionsError
            If ``max_sessions`` sessions are live.
        ProcedureNotFoundError
            If the procedure is unknown.
        NoUsableModelError
            If the pipeline cannot start it (no trained model, or one that does not
            match the procedure).
        """
        if len(self.sessions) >= self.settings.server.max_sessions:
            raise TooManySessionsError("too many sessions")
        procedure = self.procedures.get(procedure_id)
        session_id = f"ses-{secrets.token_hex(8)}"
        try:
            self.pipeline.open(session_id, procedure.id)
        except PrismError as error:
            raise NoUsableModelError(str(error)) from None
        session = LiveSession(session_id, device_id, procedure.id, owner=True)
        self.sessions[session_id] = session
        session.recording = self.store.add_session(session_id, device_id, procedure.id).recording
        return session

    def rows(self) -> list[SessionRow]:
        """Every session: of the store when it is shared, else of this process."""
        if self.shared:
            return self.store.sessions()
        return [
            SessionRow(s.id, s.device_id, s.procedure_id, s.ended, s.acked, s.epoch)
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
            session.id, session.device_id, session.procedure_id, session.ended, session.acked
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
                raise SessionNotFoundError(f"unknown session {session_id!r}")
            return session
        row = self.store.session(session_id)
        if row is None:
            raise SessionNotFoundError(f"unknown session {session_id!r}")
        if session is not None and session.owner and session.epoch == row.epoch:
            return session
        session = self._rebuild(row)
        self.sessions[session_id] = session
        return session

    def owned(self, session_id: str, device_id: str) -> LiveSession:
        """A session of ``device_id`` (:meth:`resolve`; :class:`ForbiddenError` if it
        belongs to another device)."""
        session = self.resolve(session_id)
        if session.device_id != device_id:
            raise ForbiddenError(f"session {session_id!r} belongs to another device")
        return session

    async def attach(self, session_id: str, device_id: str) -> LiveSession:
        """The device's watch connects: make this process the one that serves the
        session. It claims the session in the store, which stops any other process from
        writing it, and unless this process served it without a claim in between,
        rebuilds it from the store (which then holds everything the previous server
        wrote).

        Raises
        ------
        SessionNotFoundError, ForbiddenError
            If there is no such session, or it belongs to another device.
        """
        found = self.row(session_id)
        if found is None:
            raise SessionNotFoundError(f"unknown session {session_id!r}")
        if found.device_id != device_id:
            raise ForbiddenError("the session belongs to another device")
        session = self.sessions.get(session_id)
        if session is not None:
            await self.batches.flush(session)  # what this process still holds is stored first
        epoch = self.store.claim(session_id)
        if session is None or not (session.owner and session.epoch == epoch - 1):
            row = self.store.session(session_id)
            if row is None:
                raise SessionNotFoundError(f"unknown session {session_id!r}")
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

    def _rebuild(self, row: SessionRow) -> LiveSession:
        """The stored session of ``row``, rebuilt (:func:`~prism.server.restore.rebuild`)."""
        return rebuild(
            row,
            store=self.store,
            pipeline=self.pipeline,
            signer=self.signer,
            counters=self.counters,
        )

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
        events: list[RuntimeEvent] = await asyncio.to_thread(
            self.pipeline.control, session.id, message
        )
        return events

    async def end(self, session: LiveSession) -> None:
        """End the session (REST: the watch did not say ``end``), unless it is over."""
        if session.ended:
            return
        end = End(type="end", seq=1, t=0.0)
        stored = StoredInput(0, "control", end.model_dump_json().encode())
        events = await self.control(session, end)
        self.deliver(session, self.commit(session, stored, events, ended=True))

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
        if outbox.qsize() + len(messages) > self.settings.server.max_outbox:
            session.outbox = None
            reason = "the watch does not read its messages: reconnect and resume"
            outbox.put_nowait(CloseRequest(int(ErrorCode.TOO_SLOW), reason))
            self.counters["slow_connections_closed"] += 1
            return
        for message in messages:
            outbox.put_nowait(message)

"""One watch connection: the session WebSocket as a state machine (``watch_bridge/PROTOCOL.md``).

A :class:`Connection` is in one :class:`ConnectionState` at a time and moves only along
the transitions the protocol allows (as Starlette's ``WebSocket`` does)::

    AWAITING_HELLO --hello--> OPEN --hello--> OPEN (a watch may say hello again)
    AWAITING_HELLO, OPEN --fatal error--> CLOSING --> CLOSED
    AWAITING_HELLO, OPEN --disconnect, or the writer closed--> CLOSED

A connection that has not said hello ``hello_timeout_s`` after it opened is closed
(4011). It attaches its session to this process (:meth:`SessionRegistry.attach
<prism.server.registry.SessionRegistry.attach>`, which claims it in the store) and takes
it over from the session's live connection (which is closed, 4010) only when it says
hello: a connection that never does disturbs no one.

Its receive loop reads a message, slows a watch that sends too fast (token bucket),
and hands the message to the method of its kind (:meth:`Connection.on_hello`,
:meth:`~Connection.on_sensor_frame`, ...). Every message is checked before its ``seq``
is taken, in the order the protocol gives (decoding, hello first, the ``seq``, its
content: kind, audio rate, time, the step or reminder it names): a refused message does
not use up its sequence number. Everything the connection sends goes through its
outbox, written by one writer task in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from enum import Enum, auto
from typing import Any

import numpy as np
from fastapi import WebSocket, WebSocketDisconnect

from prism.assistant.intents import step_command
from prism.errors import PrismError
from prism.protocol import (
    Ack,
    ControlMessage,
    CorrectionMessage,
    End,
    ErrorCode,
    FrameKind,
    Hello,
    Mark,
    ProtocolError,
    Question,
    ReminderAction,
    SensorFrame,
    decode_frame,
    parse_control,
)
from prism.server.errors import (
    ConnectionStateError,
    ServiceError,
    SessionNotFoundError,
)
from prism.server.limits import TokenBucket
from prism.server.recordings import next_marked_step
from prism.server.registry import SessionRegistry
from prism.server.runtime import RuntimeEvent
from prism.server.session import CloseRequest, LiveSession, Outbox
from prism.server.voice import Voice
from prism.storage import StoredInput

__all__ = ["Connection", "ConnectionState", "refuse"]

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 2.0
"""How long a closing connection waits for its writer to send the error and the close."""


_NOT_THE_WATCHS = (ServiceError, ConnectionStateError)
"""Errors in a message's processing that are not the watch's doing (the session taken
over meanwhile, a bug): reported as internal errors."""


class ConnectionState(Enum):
    """Where a watch connection is (see the module docstring)."""

    AWAITING_HELLO = auto()
    OPEN = auto()
    CLOSING = auto()
    """The server closes it: the close is queued behind what the writer still sends."""
    CLOSED = auto()


_TRANSITIONS: dict[ConnectionState, frozenset[ConnectionState]] = {
    ConnectionState.AWAITING_HELLO: frozenset(
        {ConnectionState.OPEN, ConnectionState.CLOSING, ConnectionState.CLOSED}
    ),
    ConnectionState.OPEN: frozenset(
        {ConnectionState.OPEN, ConnectionState.CLOSING, ConnectionState.CLOSED}
    ),
    ConnectionState.CLOSING: frozenset({ConnectionState.CLOSED}),
    ConnectionState.CLOSED: frozenset(),
}


async def refuse(websocket: WebSocket, code: ErrorCode, message: str) -> None:
    """Turn a connection away before it starts: an ``error`` message, then the close."""
    await websocket.accept()
    await websocket.send_json({"type": "error", "seq": 0, "code": int(code), "message": message})
    await websocket.close(code=int(code), reason=message[:120])


class Connection:
    """A watch's WebSocket to one session.

    Parameters
    ----------
    registry : SessionRegistry
    voice : Voice
        Hears spoken questions, speaks answers.
    websocket : WebSocket
        Not accepted yet (:meth:`serve` accepts it).
    attach : callable
        ``await attach()``: the session, attached to this process
        (:meth:`SessionRegistry.attach`); called at the first hello.
    """

    def __init__(
        self,
        registry: SessionRegistry,
        voice: Voice,
        websocket: WebSocket,
        attach: Callable[[], Awaitable[LiveSession]],
    ) -> None:
        self.registry, self.voice = registry, voice
        self.websocket, self._attach = websocket, attach
        self._session: LiveSession | None = None
        self.state = ConnectionState.AWAITING_HELLO
        self.outbox: Outbox = asyncio.Queue()
        self.speech = False
        """The watch's hello asked for spoken answers."""
        limits = registry.settings.server
        self._bucket = TokenBucket(limits.max_messages_per_s, limits.message_burst)
        self._throttled = False
        """The watch was told (once) that it sends too fast."""
        self._background: set[asyncio.Task[None]] = set()
        self._writer: asyncio.Task[None] | None = None

    @property
    def session(self) -> LiveSession:
        """The session, attached at the first hello.

        Raises
        ------
        ConnectionStateError
            Before the first hello.
        """
        if self._session is None:
            raise ConnectionStateError("a connection has no session before its hello")
        return self._session

    # ----------------------------------------------------------------- state
    def transition(self, to: ConnectionState) -> None:
        """Move to state ``to``.

        Raises
        ------
        ConnectionStateError
            If the current state does not lead there.
        """
        allowed = _TRANSITIONS[self.state]
        if to not in allowed:
            names = ", ".join(sorted(state.name for state in allowed)) or "none"
            raise ConnectionStateError(
                f"a connection cannot go from {self.state.name} to {to.name} (allowed: {names})"
            )
        self.state = to

    def _expect_open(self, problem: str, ref_seq: int | None = None) -> None:
        """Refuse a message that needs a hello first (the connection goes on)."""
        if self.state is not ConnectionState.OPEN:
            raise ProtocolError(ErrorCode.BAD_FRAME, problem, ref_seq)

    # ----------------------------------------------------------------- the loop
    async def serve(self) -> None:
        """Accept the WebSocket and serve it until either side ends it."""
        await self.websocket.accept()
        hello_due = time.monotonic() + self.registry.settings.server.hello_timeout_s
        writer = self._writer = asyncio.create_task(self._write())
        try:
            while not writer.done():
                try:
                    received = await self._receive(hello_due)
                except ProtocolError as late:
                    self._close(late)
                    break
                if received["type"] == "websocket.disconnect":
                    break
                await self._throttle()
                started = time.perf_counter()
                try:
                    counted = await self._dispatch(received)
                except ProtocolError as problem:
                    if problem.code.fatal:
                        self._close(problem)
                        break
                    self._error(problem)
                    counted = True
                except Exception as problem:
                    self._failed(problem)
                    counted = True
                if counted:
                    self.registry.counters["messages"] += 1
                    elapsed_us = int((time.perf_counter() - started) * 1e6)
                    self.registry.counters["processing_us"] += elapsed_us
        except WebSocketDisconnect:
            pass
        finally:
            if self._session is not None and self._session.outbox is self.outbox:
                self._session.outbox = None
            # questions being answered are finished and stored (a resume sends the answers)
            if self.state is ConnectionState.CLOSING:  # the writer sends the error, the close
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(writer, timeout=CLOSE_TIMEOUT_S)
            writer.cancel()
            self.transition(ConnectionState.CLOSED)

    async def _receive(self, hello_due: float) -> Mapping[str, Any]:
        """The next WebSocket message; before hello, only until ``hello_due`` (monotonic s).

        Raises
        ------
        ProtocolError
            ``HELLO_TIMEOUT`` if the connection awaits hello past ``hello_due``.
        """
        if self.state is not ConnectionState.AWAITING_HELLO:
            return await self.websocket.receive()
        try:
            return await asyncio.wait_for(
                self.websocket.receive(), timeout=max(0.0, hello_due - time.monotonic())
            )
        except TimeoutError:
            limit = self.registry.settings.server.hello_timeout_s
            raise ProtocolError(
                ErrorCode.HELLO_TIMEOUT, f"no hello within {limit:g} s of opening"
            ) from None

    def _close(self, problem: ProtocolError) -> None:
        """Send the fatal ``problem`` as an error, then close with its code."""
        self._error(problem)
        self.transition(ConnectionState.CLOSING)
        self.outbox.put_nowait(CloseRequest(int(problem.code), str(problem)))

    async def _throttle(self) -> None:
        """Wait as long as the token bucket says (backpressure); say so once."""
        wait = self._bucket.delay(now=time.monotonic())
        if wait <= 0:
            return
        if not self._throttled:
            self._throttled = True
            rate = self.registry.settings.server.max_messages_per_s
            self._error(
                ProtocolError(
                    ErrorCode.RATE_LIMITED,
                    f"more than {rate:g} messages/s: reading this connection more slowly",
                )
            )
        await asyncio.sleep(wait)

    async def _dispatch(self, received: Mapping[str, Any]) -> bool:
        """Hand a received WebSocket message to the method of its kind.

        Returns whether it counts in the ``messages`` and ``processing_us`` metrics:
        sensor frames, corrections, reminder actions and ends do (as do refused
        messages); hellos, acknowledgements and questions (their answers' time is an
        answer latency) do not.
        """
        body = received.get("bytes")
        if body is not None:
            return await self._binary(bytes(body))
        return await self._text(received.get("text") or "")

    async def _binary(self, body: bytes) -> bool:
        self._expect_open("send hello before any frame")
        frame = decode_frame(body)
        session = self.session
        session.incoming.check(frame.seq)
        if frame.kind == FrameKind.ANSWER_AUDIO:
            raise ProtocolError(
                ErrorCode.TOO_LARGE,
                "answer audio (kind 4) goes from the server to the watch only",
                frame.seq,
            )
        if frame.kind == FrameKind.QUESTION_AUDIO:
            session.incoming.accept(frame.seq)  # checked: the seq is taken
            self.registry.counters["frames"] += 1
            self.on_question_audio(frame)
            return False
        await self.on_sensor_frame(frame, body)
        return True

    async def _text(self, text: str) -> bool:
        message = parse_control(text)
        if isinstance(message, Hello):
            await self.on_hello(message)
            return False
        self._expect_open("send hello first", message.seq)
        self.session.incoming.check(message.seq)
        self._check_names(message)
        self.session.incoming.accept(message.seq)  # checked: the seq is taken
        stored = StoredInput(message.seq, "control", text.encode())
        if isinstance(message, Ack):
            self.on_ack(message, stored)
            return False
        if isinstance(message, Question):
            await self.on_question(message)
            return False
        if isinstance(message, End):
            await self.on_end(message, stored)
        else:
            await self.on_control(message, stored)
        return True

    def _check_names(self, message: ControlMessage) -> None:
        """Refuse a correction or a mark naming a step the procedure lacks, a mark in a
        session that is not recorded, or a reminder action naming a reminder this
        session never sent.

        Raises
        ------
        ProtocolError
            ``UNKNOWN_STEP``, naming the step or the reminder id; ``BAD_FRAME`` for a
            mark outside a recording session.
        """
        if isinstance(message, Mark) and not self.session.recording:
            raise ProtocolError(
                ErrorCode.BAD_FRAME,
                "marks are kept only in a recording session (a device registered with "
                '"recording": true)',
                message.seq,
            )
        if isinstance(message, CorrectionMessage | Mark) and message.step is not None:
            procedure = self.registry.procedures.get(self.session.procedure_id)
            if message.step not in procedure.step_ids:
                raise ProtocolError(
                    ErrorCode.UNKNOWN_STEP,
                    f"step {message.step[:64]!r} is not a step of {procedure.id!r}",
                    message.seq,
                )
        elif (
            isinstance(message, ReminderAction)
            and message.reminder_id not in self.session.reminder_ids
        ):
            raise ProtocolError(
                ErrorCode.UNKNOWN_STEP,
                f"reminder {message.reminder_id} was never sent in this session",
                message.seq,
            )

    # ----------------------------------------------------------------- messages
    async def on_hello(self, hello: Hello) -> None:
        """Open (or reopen) the connection: attach the session (first hello), take it
        over from its live connection (closed with ``REPLACED``), welcome, then every
        message after ``resume_from``.

        Raises
        ------
        ProtocolError
            ``UNKNOWN_SESSION`` if the session is gone (or not the device's) by now.
        """
        if self._session is None:
            try:
                self._session = await self._attach()
            except SessionNotFoundError:
                raise ProtocolError(ErrorCode.UNKNOWN_SESSION, "unknown session") from None
        self.transition(ConnectionState.OPEN)
        self.speech = hello.speech
        previous = self.session.outbox
        if previous is not None and previous is not self.outbox:
            reason = "another connection took over this session"
            previous.put_nowait(CloseRequest(int(ErrorCode.REPLACED), reason))
        self.session.outbox = self.outbox
        self._reply(
            {
                "type": "welcome",
                "seq": 0,
                "session_id": self.session.id,
                "protocol": 1,
                "next_seq": self.session.incoming.next_seq,
                "resume_from": hello.resume_from,
                "recording": self.session.recording,
                "audio_rate": round(self.session.audio_rate),
                "mode": (await self.registry.snapshot(self.session))["mode"],
            }
        )
        for resent in self.registry.sent_after(self.session, hello.resume_from):
            self._reply(resent)

    async def on_sensor_frame(self, frame: SensorFrame, body: bytes) -> None:
        """An IMU or audio frame: queued for the next batch; while the session has too
        many frames waiting, the connection is not read (backpressure)."""
        batches = self.registry.batches
        batches.take_frame(self.session, frame, body)
        writer = self._writer
        while batches.behind(self.session) and not (writer is None or writer.done()):
            await asyncio.sleep(0.01)

    def on_question_audio(self, frame: SensorFrame) -> None:
        """A spoken question: recognised and answered while the stream goes on."""
        self._in_background(self._answer_spoken(frame.samples, frame.seq, frame.t0))

    def on_ack(self, ack: Ack, stored: StoredInput) -> None:
        """The watch has the messages up to ``up_to`` (stored with the next batch)."""
        self.registry.batches.acknowledge(self.session, stored, ack.up_to)

    async def on_question(self, question: Question) -> None:
        """A typed question: worked out in the session's order, after the frames sent
        before it (what the answer says, and a correction it makes, hold at the point the
        user asked). Without an LLM its answer is stored and sent at once; an LLM phrases
        it, and the watch speaks it, while the stream goes on."""
        mark = self._as_mark(question)
        if mark is not None:
            await self.on_control(mark, StoredInput(mark.seq, "control", _json(mark)))
            return
        events = await self.registry.control(self.session, question)
        if self.registry.phraser is None:
            self._send_answer(question, events)
        else:
            self._in_background(self._phrase_and_send(question, events))

    async def on_control(self, message: ControlMessage, stored: StoredInput) -> None:
        """A correction, a mark or a reminder action, after the session's pending frames."""
        await self._control(message, stored, ended=False)
        if isinstance(message, Mark) and message.step is not None:
            self.session.last_marked = message.step

    def _as_mark(self, question: Question) -> Mark | None:
        """In a recording session, a bare "next" ("done", "I'm finished with this") is a
        mark of the step after the last one marked, in the procedure's order (see
        :func:`~prism.server.recordings.next_marked_step`): ``None`` for anything else."""
        if not self.session.recording or step_command(question.text) != "done":
            return None
        procedure = self.registry.procedures.get(self.session.procedure_id)
        step = next_marked_step(procedure.step_ids, self.session.last_marked)
        return Mark(type="mark", seq=question.seq, step=step, t=question.t)

    async def on_end(self, end: End, stored: StoredInput) -> None:
        """The user finished: the last reminders and the final step update."""
        await self._control(end, stored, ended=True)

    async def _control(self, message: ControlMessage, stored: StoredInput, *, ended: bool) -> None:
        events = await self.registry.control(self.session, message)
        self.registry.deliver(
            self.session, self.registry.commit(self.session, stored, events, ended=ended)
        )

    # ----------------------------------------------------------------- answers
    async def _answer_spoken(self, audio: np.ndarray, seq: int, heard_at: float) -> None:
        """A spoken question, recognised on a worker thread: answered at the point of the
        stream where it was heard (its stored row keeps that order for a restore); an
        empty answer if nothing was heard. In a recording session a spoken "next" marks
        the next step at ``heard_at`` (session time, s: where the question starts)."""
        registry, session = self.registry, self.session
        procedure = registry.procedures.get(session.procedure_id)
        text = await asyncio.to_thread(self.voice.transcribe, audio, procedure)
        if not text:
            await registry.batches.flush(session)
            now = float(session.last_step.get("t", 0.0))
            events = [RuntimeEvent("answer", now, {"question": "", "text": None})]
            registry.deliver(session, registry.commit(session, None, events))
            return
        question = Question(type="question", seq=seq, text=text[:500], t=heard_at)
        mark = self._as_mark(question)
        if mark is not None:
            await self.on_control(mark, StoredInput(seq, "control", _json(mark)))
            return
        await self._phrase_and_send(question, await registry.control(session, question))

    async def _phrase_and_send(self, question: Question, events: list[RuntimeEvent]) -> None:
        """Phrase the answer of ``question`` with the LLM, if configured, then store and
        send it (:meth:`_send_answer`)."""
        self._send_answer(question, await self.registry.phrase(events))

    def _send_answer(self, question: Question, events: list[RuntimeEvent]) -> None:
        """Store the question with its answer's events, send them; a watch that asked
        for speech also gets the answer spoken (synthesised while the stream goes on)."""
        registry, session = self.registry, self.session
        stored = StoredInput(question.seq, "question", question.text.encode())
        messages = registry.commit(session, stored, events)
        registry.deliver(session, messages)
        if self.speech and session.outbox is self.outbox:
            for message in messages:
                if message["type"] == "answer" and message.get("text"):
                    self._in_background(self._speak(message))

    async def _speak(self, message: dict[str, Any]) -> None:
        audio = await asyncio.to_thread(self.voice.speak, message)
        if audio is not None and self.session.outbox is self.outbox:
            self.outbox.put_nowait(audio)

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(self._guarded(work))
        self._background.add(task)  # a reference until it is done (the loop keeps weak ones)
        task.add_done_callback(self._background.discard)

    async def _guarded(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except Exception as problem:
            self._failed(problem)

    # ----------------------------------------------------------------- output
    def _reply(self, message: dict[str, Any]) -> None:
        """An unnumbered message (welcome, error) for this connection only."""
        self.outbox.put_nowait(message)

    def _error(self, problem: ProtocolError) -> None:
        self.registry.counters["protocol_errors"] += 1
        self._reply(problem.to_message())

    def _failed(self, problem: Exception) -> None:
        """Report a message whose processing failed; the connection goes on."""
        if isinstance(problem, ProtocolError):
            self._error(problem)
        elif isinstance(problem, PrismError) and not isinstance(problem, _NOT_THE_WATCHS):
            self._error(ProtocolError(ErrorCode.BAD_FRAME, str(problem)))  # bad sensor data
        else:  # a bug must not take the session down: report, go on
            session_id = self._session.id if self._session is not None else "(no hello yet)"
            log.error("session %s: message failed", session_id, exc_info=problem)
            self.registry.counters["internal_errors"] += 1
            self._error(ProtocolError(ErrorCode.BAD_FRAME, "internal error on this message"))

    async def _write(self) -> None:
        """Send the outbox's messages in order, until a :class:`CloseRequest`."""
        while True:
            item = await self.outbox.get()
            if isinstance(item, CloseRequest):
                await self.websocket.close(code=item.code, reason=item.reason[:120])
                return
            if isinstance(item, bytes):
                await self.websocket.send_bytes(item)
            else:
                await self.websocket.send_text(json.dumps(item))


def _json(message: Mark) -> bytes:
    """A control message as the watch would have sent it (stored, replayed as such)."""
    return message.model_dump_json().encode()

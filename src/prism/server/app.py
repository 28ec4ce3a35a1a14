"""The PrISM service (FastAPI): REST for procedures, devices and sessions, a WebSocket
stream per session. Transport only: live sessions, batching and persistence are in
:mod:`prism.server.live`, every algorithm in the modules
:class:`~prism.server.runtime.SessionRuntime` wires together.

Devices, sessions, every processed input and every sent message are kept in SQLite
(:mod:`prism.storage`); a restarted server rebuilds its sessions from them, and a watch
that reconnects resumes from the last message it received.
"""

import asyncio
import contextlib
import json
import logging
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Coroutine
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Query, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field

from prism.errors import PrismError
from prism.procedure.render import render_procedure
from prism.server.dashboard import dashboard_view
from prism.server.limits import TokenBucket
from prism.server.live import (
    CloseRequest,
    Outbox,
    ServerSettings,
    SessionRegistry,
    token_hash,
)
from prism.server.protocol import (
    Ack,
    End,
    ErrorCode,
    FrameKind,
    Hello,
    ProtocolError,
    Question,
    SensorFrame,
    decode_frame,
    encode_frame,
    parse_control,
)
from prism.server.runtime import RuntimeEvent, transcribe_question
from prism.speech import SpeechRecognizer, make_transcriber, synthesize
from prism.storage import StoredInput

__all__ = ["ServerSettings", "create_app"]

log = logging.getLogger(__name__)


def _bearer(authorization: str | None) -> str | None:
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None


class DeviceRequest(BaseModel):
    """Register a watch."""

    name: str = Field(min_length=1, max_length=100)


class SessionRequest(BaseModel):
    """Start a session of a procedure."""

    procedure: str = Field(min_length=1, max_length=100)


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    """The service: ``uvicorn --factory prism.server.app:create_app``."""
    registry = SessionRegistry(settings or ServerSettings())
    transcriber = make_transcriber()  # a local model loads on the first spoken question

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        registry.ensure_running()  # the pipeline workers and the database live as long
        yield  # as the process (they may serve several lifespans: tests)

    app = FastAPI(title="PrISM", version="1", lifespan=lifespan)
    app.state.registry = registry

    def device(authorization: Annotated[str | None, Header()] = None) -> str:
        return registry.device(_bearer(authorization))

    def admin(authorization: Annotated[str | None, Header()] = None) -> None:
        expected = registry.settings.admin_token
        given = _bearer(authorization)
        if not expected or not given or not secrets.compare_digest(expected, given):
            raise HTTPException(401, "admin token required")

    @app.get("/v1/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "sessions": len(registry.sessions)}

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> str:
        active = sum(1 for s in registry.sessions.values() if not s.ended)
        lines = [
            "# TYPE prism_sessions_active gauge",
            f"prism_sessions_active {active}",
        ]
        for name, value in sorted(registry.counters.items()):
            lines += [f"# TYPE prism_{name}_total counter", f"prism_{name}_total {value}"]
        lines.append("# TYPE prism_batch_sessions_count counter")
        lines += [
            f'prism_batch_sessions_count{{size="{size}"}} {count}'
            for size, count in sorted(registry.batch_sizes.items())
        ]
        return "\n".join(lines) + "\n"

    @app.get("/v1/procedures")
    def procedures() -> list[dict[str, Any]]:
        found = sorted(p.parent.name for p in registry.settings.tasks_dir.glob("*/procedure.yaml"))
        out = []
        for procedure_id in found:
            procedure = registry.procedure(procedure_id)
            model = (registry.settings.models_dir / procedure_id).is_dir()
            out.append(
                {
                    "id": procedure.id,
                    "name": procedure.name,
                    "steps": procedure.n_steps,
                    "model": model,
                }
            )
        return out

    @app.get("/v1/procedures/{procedure_id}")
    def procedure_detail(procedure_id: str) -> dict[str, Any]:
        procedure = registry.procedure(procedure_id)
        return {
            "id": procedure.id,
            "name": procedure.name,
            "description": procedure.description,
            "steps": [
                {
                    "id": s.id,
                    "name": s.name,
                    "description": s.description,
                    "duration_s": s.duration.mean,
                }
                for s in procedure.steps
            ],
            "transitions": procedure.transitions,
            "precedence": [list(pair) for pair in procedure.precedence],
        }

    pictures: dict[str, bytes] = {}

    @app.get("/v1/procedures/{procedure_id}/picture")
    def procedure_picture(procedure_id: str) -> Response:
        if procedure_id not in pictures:
            procedure = registry.procedure(procedure_id)
            with tempfile.TemporaryDirectory() as folder:
                path = render_procedure(procedure, Path(folder) / "procedure.svg")
                pictures[procedure_id] = path.read_bytes()
        return Response(pictures[procedure_id], media_type="image/svg+xml")

    @app.post("/v1/devices", dependencies=[Depends(admin)])
    def register_device(request: DeviceRequest) -> dict[str, str]:
        device_id = f"dev-{secrets.token_hex(6)}"
        token = secrets.token_urlsafe(32)
        hashed = token_hash(token)
        registry.device_by_hash[hashed] = device_id
        registry.store.add_device(device_id, hashed, request.name)
        return {"device_id": device_id, "name": request.name, "token": token}

    @app.post("/v1/sessions")
    def create_session(
        request: SessionRequest, device_id: Annotated[str, Depends(device)]
    ) -> dict[str, str]:
        if len(registry.sessions) >= registry.settings.max_sessions:
            raise HTTPException(503, "too many sessions")
        session = registry.open_session(device_id, request.procedure)
        return {"session_id": session.id, "procedure": session.procedure_id}

    @app.get("/v1/sessions")
    def list_sessions(device_id: Annotated[str, Depends(device)]) -> list[dict[str, Any]]:
        return [
            {"session_id": row.session_id, "procedure": row.procedure, "ended": row.ended}
            for row in registry.rows()
            if row.device_id == device_id
        ]

    @app.get("/v1/sessions/{session_id}")
    async def session_state(
        session_id: str, device_id: Annotated[str, Depends(device)]
    ) -> dict[str, Any]:
        session = registry.owned(session_id, device_id)
        view = await registry.snapshot(session)
        return {
            "session_id": session.id,
            "procedure": session.procedure_id,
            "ended": session.ended,
            "time_s": view["time_s"],
            "current": view["current"],
            "probability": view["probability"],
            "history": [
                {"step": h["step"], "start": h["start"], "end": h["end"]} for h in view["history"]
            ],
        }

    @app.get("/v1/sessions/{session_id}/events")
    def session_events(
        session_id: str,
        device_id: Annotated[str, Depends(device)],
        after: Annotated[int, Query(ge=0)] = 0,
    ) -> list[dict[str, Any]]:
        return registry.sent_after(registry.owned(session_id, device_id), after)

    @app.post("/v1/sessions/{session_id}/end")
    async def end_session(
        session_id: str, device_id: Annotated[str, Depends(device)]
    ) -> dict[str, Any]:
        session = registry.owned(session_id, device_id)
        if not session.ended:
            end = End(type="end", seq=1, t=0.0)
            stored = StoredInput(0, "control", end.model_dump_json().encode())
            events = await registry.control(session, end)
            registry.deliver(session, registry.commit(session, stored, events, ended=True))
        return {"session_id": session.id, "ended": True}

    @app.get("/dashboard", response_class=HTMLResponse)
    def dashboard() -> str:
        return (resources.files("prism.server") / "static" / "dashboard.html").read_text()

    @app.get("/v1/dashboard/sessions", dependencies=[Depends(admin)])
    def dashboard_sessions() -> list[dict[str, Any]]:
        """Every session with the step its watch was last told."""
        listed = []
        for row in registry.rows():
            here = registry.sessions.get(row.session_id)
            step = here.last_step if here is not None else {}
            listed.append(
                {
                    "session_id": row.session_id,
                    "procedure": row.procedure,
                    "current": step.get("current"),
                    "time_s": step.get("t", 0.0),
                    "ended": row.ended,
                }
            )
        return listed

    @app.get("/v1/dashboard/sessions/{session_id}", dependencies=[Depends(admin)])
    async def dashboard_session(session_id: str) -> dict[str, Any]:
        session = registry.resolve(session_id)
        if session is None:
            raise HTTPException(404, f"unknown session {session_id!r}")
        view = await registry.snapshot(session)
        return dashboard_view(session.id, view, session.notable, ended=session.ended)

    @app.websocket("/v1/sessions/{session_id}/stream")
    async def stream(websocket: WebSocket, session_id: str, token: str | None = None) -> None:
        await _stream(registry, transcriber, websocket, session_id, token)

    return app


async def _close(websocket: WebSocket, code: ErrorCode, message: str) -> None:
    await websocket.accept()
    await websocket.send_json({"type": "error", "seq": 0, "code": int(code), "message": message})
    await websocket.close(code=int(code), reason=message[:120])


async def _write(websocket: WebSocket, outbox: Outbox) -> None:
    """Send the outbox's messages in order, until a :class:`CloseRequest`."""
    while True:
        item = await outbox.get()
        if isinstance(item, CloseRequest):
            await websocket.close(code=item.code, reason=item.reason[:120])
            return
        if isinstance(item, bytes):
            await websocket.send_bytes(item)
        else:
            await websocket.send_text(json.dumps(item))


def spoken_answer(message: dict[str, Any]) -> bytes | None:
    """An answer message's text spoken (espeak-ng) as an ``ANSWER_AUDIO`` frame numbered
    like the message; ``None`` when it cannot be spoken (espeak-ng missing or failing:
    the text answer stands)."""
    try:
        audio, rate = synthesize(str(message["text"]))
    except PrismError as problem:
        log.warning("answer %s not spoken: %s", message["seq"], problem)
        return None
    t = max(0.0, float(message.get("t", 0.0)))
    frame = SensorFrame(FrameKind.ANSWER_AUDIO, int(message["seq"]), t, float(rate), audio)
    return encode_frame(frame)


async def _stream(
    registry: SessionRegistry,
    transcriber: SpeechRecognizer,
    websocket: WebSocket,
    session_id: str,
    token: str | None,
) -> None:
    """One watch connection (see ``watch_bridge/PROTOCOL.md``)."""
    bearer = _bearer(websocket.headers.get("authorization")) or token
    try:
        device_id = registry.device(bearer)
    except HTTPException:
        await _close(websocket, ErrorCode.UNAUTHORIZED, "missing or unknown device token")
        return
    found = registry.row(session_id)
    if found is None:
        await _close(websocket, ErrorCode.UNKNOWN_SESSION, f"unknown session {session_id!r}")
        return
    if found.device_id != device_id:
        await _close(websocket, ErrorCode.FORBIDDEN, "the session belongs to another device")
        return
    registry.ensure_running()
    session = await registry.attach(session_id)
    await websocket.accept()
    settings = registry.settings
    outbox: Outbox = asyncio.Queue()
    if session.outbox is not None:  # a newer connection of the same watch takes over
        reason = "another connection took over this session"
        session.outbox.put_nowait(CloseRequest(int(ErrorCode.REPLACED), reason))
    writer = asyncio.create_task(_write(websocket, outbox))
    bucket = TokenBucket(settings.max_messages_per_s, settings.message_burst)

    def reply(message: dict[str, Any]) -> None:
        """An unnumbered message (welcome, error) for this connection only."""
        outbox.put_nowait(message)

    def error(problem: ProtocolError) -> None:
        registry.counters["protocol_errors"] += 1
        reply(problem.to_message())

    def failed(problem: Exception) -> None:
        """Report a message whose processing failed; the connection goes on."""
        if isinstance(problem, ProtocolError):
            error(problem)
        elif isinstance(problem, PrismError):  # bad sensor data (e.g. a long IMU gap)
            error(ProtocolError(ErrorCode.BAD_FRAME, str(problem)))
        else:  # a bug must not take the session down: report, go on
            log.error("session %s: message failed", session.id, exc_info=problem)
            registry.counters["internal_errors"] += 1
            error(ProtocolError(ErrorCode.BAD_FRAME, "internal error on this message"))

    pending: set[asyncio.Task[None]] = set()

    async def answer(question: Question | None, seq: int) -> None:
        """Answer a question (None: nothing was heard) in the session's order; an LLM,
        if configured, phrases it meanwhile the connection goes on."""
        if question is None:
            await registry.flush(session)
            now = float(session.last_step.get("t", 0.0))
            events = [RuntimeEvent("answer", now, {"question": "", "text": None})]
            registry.deliver(session, registry.commit(session, None, events))
            return
        events = await registry.phrase(await registry.control(session, question))
        stored = StoredInput(seq, "question", question.text.encode())
        messages = registry.commit(session, stored, events)
        registry.deliver(session, messages)
        if speak and session.outbox is outbox:
            for message in messages:
                if message["type"] == "answer" and message.get("text"):
                    audio = await asyncio.to_thread(spoken_answer, message)
                    if audio is not None and session.outbox is outbox:
                        outbox.put_nowait(audio)

    async def answer_spoken(audio: Any, seq: int) -> None:
        procedure = registry.procedure(session.procedure_id)
        text = await asyncio.to_thread(transcribe_question, audio, procedure, transcriber)
        question = Question(type="question", seq=seq, text=text[:500], t=0.0) if text else None
        await answer(question, seq)

    async def guarded(work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except Exception as problem:
            failed(problem)

    def background(work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(guarded(work))
        pending.add(task)  # a reference until it is done (the loop keeps only weak ones)
        task.add_done_callback(pending.discard)

    hello_seen = throttled = closing = speak = False
    try:
        while not writer.done():
            received = await websocket.receive()
            if received["type"] == "websocket.disconnect":
                break
            wait = bucket.delay(now=time.monotonic())
            if wait > 0:
                if not throttled:
                    throttled = True
                    error(
                        ProtocolError(
                            ErrorCode.RATE_LIMITED,
                            f"more than {settings.max_messages_per_s:g} messages/s: reading "
                            "this connection more slowly",
                        )
                    )
                await asyncio.sleep(wait)
            started = time.perf_counter()
            try:
                if received.get("bytes") is not None:
                    if not hello_seen:
                        raise ProtocolError(ErrorCode.BAD_FRAME, "send hello before any frame")
                    body = bytes(received["bytes"])
                    frame = decode_frame(body)
                    session.incoming.accept(frame.seq)
                    registry.counters["frames"] += 1
                    if frame.kind == FrameKind.ANSWER_AUDIO:
                        raise ProtocolError(
                            ErrorCode.BAD_FRAME,
                            "answer audio (kind 4) goes from the server to the watch",
                            frame.seq,
                        )
                    if frame.kind == FrameKind.QUESTION_AUDIO:
                        background(answer_spoken(frame.samples, frame.seq))
                        continue
                    registry.push_frame(session, frame, body)
                    while registry.behind(session) and not writer.done():
                        await asyncio.sleep(0.01)  # backpressure: wait for the batch
                else:
                    text = received.get("text") or ""
                    message = parse_control(text)
                    if isinstance(message, Hello):
                        hello_seen, speak = True, message.speech
                        session.outbox = outbox
                        reply(
                            {
                                "type": "welcome",
                                "seq": 0,
                                "session_id": session.id,
                                "protocol": 1,
                                "next_seq": session.incoming.next_seq,
                                "resume_from": message.resume_from,
                            }
                        )
                        for resent in registry.sent_after(session, message.resume_from):
                            reply(resent)
                        continue
                    if not hello_seen:
                        raise ProtocolError(ErrorCode.BAD_FRAME, "send hello first", message.seq)
                    session.incoming.accept(message.seq)
                    stored = StoredInput(message.seq, "control", text.encode())
                    if isinstance(message, Ack):  # no effect on the state: stored in order
                        registry.acknowledge(session, stored, message.up_to)
                        continue
                    if isinstance(message, Question):  # answered while the stream goes on
                        background(answer(message, message.seq))
                        continue
                    events = await registry.control(session, message)
                    ended = isinstance(message, End)
                    registry.deliver(session, registry.commit(session, stored, events, ended=ended))
            except ProtocolError as problem:
                error(problem)
                if problem.code.fatal:
                    outbox.put_nowait(CloseRequest(int(problem.code), str(problem)))
                    closing = True
                    break
            except Exception as problem:
                failed(problem)
            registry.counters["messages"] += 1
            registry.counters["processing_us"] += int((time.perf_counter() - started) * 1e6)
    except WebSocketDisconnect:
        pass
    finally:
        if session.outbox is outbox:
            session.outbox = None
        # questions being answered are finished and stored (a resume sends the answers)
        if closing:  # let the writer send the error and the close
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer, timeout=2.0)
        writer.cancel()

"""The PrISM service (FastAPI): REST for procedures, devices and sessions, a WebSocket
stream per session. Wiring and transport only: every algorithm lives in the modules
:class:`~prism.server.runtime.SessionRuntime` wires together.

Devices, sessions, every processed input and every sent message are kept in SQLite
(:mod:`prism.storage`); a restarted server rebuilds its sessions from them, and a watch
that reconnects resumes from the last message it received.
"""

import asyncio
import hashlib
import logging
import secrets
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Query, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from prism.errors import PrismError
from prism.procedure.io import load_procedure
from prism.procedure.model import Procedure
from prism.procedure.render import render_procedure
from prism.sensing.classifier import ActivityClassifier
from prism.server.dashboard import dashboard_view
from prism.server.protocol import (
    Ack,
    End,
    ErrorCode,
    FrameKind,
    Hello,
    ProtocolError,
    Question,
    SequenceChecker,
    StreamClock,
    decode_frame,
    parse_control,
)
from prism.server.runtime import RuntimeEvent, SessionRuntime
from prism.storage import SessionRow, SqliteStore, StoredInput

__all__ = ["ServerSettings", "create_app"]

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


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class _Session:
    id: str
    device_id: str
    procedure_id: str
    runtime: SessionRuntime
    incoming: SequenceChecker = field(default_factory=SequenceChecker)
    clock: StreamClock = field(default_factory=StreamClock)
    sent: list[dict[str, Any]] = field(default_factory=list)
    acked: int = 0
    ended: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def number(self, events: list[RuntimeEvent]) -> list[dict[str, Any]]:
        messages = [event.message(len(self.sent) + i + 1) for i, event in enumerate(events)]
        self.sent.extend(messages)
        return messages


class _Registry:
    """Devices (hashed tokens), loaded procedures and models, live sessions."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.device_by_hash: dict[str, str] = {}
        self.sessions: dict[str, _Session] = {}
        self.procedures: dict[str, Procedure] = {}
        self.models: dict[str, ActivityClassifier] = {}
        self.counters: Counter[str] = Counter()
        self.store = SqliteStore(settings.database)
        self.device_by_hash = {hashed: device for device, hashed in self.store.devices().items()}
        for row in self.store.sessions():
            try:
                self.sessions[row.session_id] = self._rebuild(row)
            except (PrismError, HTTPException) as problem:
                log.error("session %s could not be restored: %s", row.session_id, problem)

    def _rebuild(self, row: SessionRow) -> _Session:
        """A stored session, rebuilt by replaying its inputs into a fresh runtime."""
        runtime = SessionRuntime(self.procedure(row.procedure), self.model(row.procedure))
        session = _Session(row.session_id, row.device_id, row.procedure, runtime)
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

    def procedure(self, procedure_id: str) -> Procedure:
        if procedure_id not in self.procedures:
            path = self.settings.tasks_dir / procedure_id / "procedure.yaml"
            if not path.is_file():
                raise HTTPException(404, f"unknown procedure {procedure_id!r}")
            self.procedures[procedure_id] = load_procedure(path)
        return self.procedures[procedure_id]

    def model(self, procedure_id: str) -> ActivityClassifier:
        if procedure_id not in self.models:
            folder = self.settings.models_dir / procedure_id
            if not folder.is_dir():
                raise HTTPException(
                    409, f"no trained model for procedure {procedure_id!r} in {folder}"
                )
            self.models[procedure_id] = ActivityClassifier.load(folder)
        return self.models[procedure_id]

    def device(self, token: str | None) -> str:
        device_id = self.device_by_hash.get(_hash(token)) if token else None
        if device_id is None:
            raise HTTPException(401, "missing or unknown device token")
        return device_id

    def commit(
        self,
        session: _Session,
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

    def owned(self, session_id: str, device_id: str) -> _Session:
        session = self.sessions.get(session_id)
        if session is None:
            raise HTTPException(404, f"unknown session {session_id!r}")
        if session.device_id != device_id:
            raise HTTPException(403, f"session {session_id!r} belongs to another device")
        return session


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
    registry = _Registry(settings or ServerSettings())
    app = FastAPI(title="PrISM", version="1")
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
        hashed = _hash(token)
        registry.device_by_hash[hashed] = device_id
        registry.store.add_device(device_id, hashed, request.name)
        return {"device_id": device_id, "name": request.name, "token": token}

    @app.post("/v1/sessions")
    def create_session(
        request: SessionRequest, device_id: Annotated[str, Depends(device)]
    ) -> dict[str, str]:
        if len(registry.sessions) >= registry.settings.max_sessions:
            raise HTTPException(503, "too many sessions")
        procedure = registry.procedure(request.procedure)
        try:
            runtime = SessionRuntime(procedure, registry.model(request.procedure))
        except PrismError as error:
            raise HTTPException(409, str(error)) from None
        session_id = f"ses-{secrets.token_hex(8)}"
        registry.sessions[session_id] = _Session(session_id, device_id, procedure.id, runtime)
        registry.store.add_session(session_id, device_id, procedure.id)
        return {"session_id": session_id, "procedure": procedure.id}

    @app.get("/v1/sessions")
    def list_sessions(device_id: Annotated[str, Depends(device)]) -> list[dict[str, Any]]:
        return [
            {"session_id": s.id, "procedure": s.procedure_id, "ended": s.ended}
            for s in registry.sessions.values()
            if s.device_id == device_id
        ]

    @app.get("/v1/sessions/{session_id}")
    def session_state(
        session_id: str, device_id: Annotated[str, Depends(device)]
    ) -> dict[str, Any]:
        session = registry.owned(session_id, device_id)
        state = session.runtime.state
        return {
            "session_id": session.id,
            "procedure": session.procedure_id,
            "ended": session.ended,
            "time_s": state.time,
            "current": state.current_step,
            "probability": state.current_probability,
            "history": [{"step": h.step, "start": h.start, "end": h.end} for h in state.history],
        }

    @app.get("/v1/sessions/{session_id}/events")
    def session_events(
        session_id: str,
        device_id: Annotated[str, Depends(device)],
        after: Annotated[int, Query(ge=0)] = 0,
    ) -> list[dict[str, Any]]:
        return registry.owned(session_id, device_id).sent[after:]

    @app.post("/v1/sessions/{session_id}/end")
    async def end_session(
        session_id: str, device_id: Annotated[str, Depends(device)]
    ) -> dict[str, Any]:
        session = registry.owned(session_id, device_id)
        async with session.lock:
            if not session.ended:
                end = End(type="end", seq=1, t=0.0)
                stored = StoredInput(0, "control", end.model_dump_json().encode())
                registry.commit(session, stored, session.runtime.handle_control(end), ended=True)
        return {"session_id": session.id, "ended": True}

    @app.get("/dashboard", response_class=HTMLResponse)
    def dashboard() -> str:
        return (resources.files("prism.server") / "static" / "dashboard.html").read_text()

    @app.get("/v1/dashboard/sessions", dependencies=[Depends(admin)])
    def dashboard_sessions() -> list[dict[str, Any]]:
        return [
            {
                "session_id": s.id,
                "procedure": s.procedure_id,
                "current": state.current_step,
                "time_s": state.time,
                "ended": s.ended,
            }
            for s in registry.sessions.values()
            for state in (s.runtime.state,)
        ]

    @app.get("/v1/dashboard/sessions/{session_id}", dependencies=[Depends(admin)])
    def dashboard_session(session_id: str) -> dict[str, Any]:
        session = registry.sessions.get(session_id)
        if session is None:
            raise HTTPException(404, f"unknown session {session_id!r}")
        return dashboard_view(session.id, session.runtime, session.sent, ended=session.ended)

    @app.websocket("/v1/sessions/{session_id}/stream")
    async def stream(websocket: WebSocket, session_id: str, token: str | None = None) -> None:
        await _stream(registry, websocket, session_id, token)

    return app


def _replay_input(session: _Session, stored: StoredInput) -> None:
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


async def _close(websocket: WebSocket, code: ErrorCode, message: str) -> None:
    await websocket.accept()
    await websocket.send_json({"type": "error", "seq": 0, "code": int(code), "message": message})
    await websocket.close(code=int(code), reason=message[:120])


async def _stream(
    registry: _Registry, websocket: WebSocket, session_id: str, token: str | None
) -> None:
    """One watch connection (see ``watch_bridge/PROTOCOL.md``)."""
    bearer = _bearer(websocket.headers.get("authorization")) or token
    try:
        device_id = registry.device(bearer)
    except HTTPException:
        await _close(websocket, ErrorCode.UNAUTHORIZED, "missing or unknown device token")
        return
    session = registry.sessions.get(session_id)
    if session is None:
        await _close(websocket, ErrorCode.UNKNOWN_SESSION, f"unknown session {session_id!r}")
        return
    if session.device_id != device_id:
        await _close(websocket, ErrorCode.FORBIDDEN, "the session belongs to another device")
        return
    await websocket.accept()
    send_lock = asyncio.Lock()

    async def send(messages: list[dict[str, Any]]) -> None:
        async with send_lock:
            for message in messages:
                await websocket.send_json(message)

    async def error(problem: ProtocolError) -> None:
        registry.counters["protocol_errors"] += 1
        await send(
            [
                {
                    "type": "error",
                    "seq": 0,
                    "code": int(problem.code),
                    "message": str(problem),
                    "ref_seq": problem.ref_seq,
                }
            ]
        )

    async def answer_spoken(audio: Any, seq: int) -> None:
        text = await asyncio.to_thread(session.runtime.transcribe, audio)
        async with session.lock:
            if text:
                question = Question(type="question", seq=seq, text=text[:500], t=0.0)
                events = session.runtime.handle_control(question)
            else:
                now = session.runtime.state.time
                events = [RuntimeEvent("answer", now, {"question": "", "text": None})]
            stored = StoredInput(seq, "question", text[:500].encode()) if text else None
            await send(registry.commit(session, stored, events))

    pending: set[asyncio.Task[None]] = set()
    hello_seen = False
    try:
        while True:
            received = await websocket.receive()
            if received["type"] == "websocket.disconnect":
                break
            started = time.perf_counter()
            try:
                if received.get("bytes") is not None:
                    if not hello_seen:
                        raise ProtocolError(ErrorCode.BAD_FRAME, "send hello before any frame")
                    frame = decode_frame(received["bytes"])
                    async with session.lock:
                        session.incoming.accept(frame.seq)
                        registry.counters["frames"] += 1
                        if frame.kind == FrameKind.QUESTION_AUDIO:
                            task = asyncio.create_task(answer_spoken(frame.samples, frame.seq))
                            pending.add(task)
                            task.add_done_callback(pending.discard)
                            continue
                        session.clock.accept(frame)
                        stored = StoredInput(frame.seq, "frame", bytes(received["bytes"]))
                        events = session.runtime.handle_frame(frame)
                        messages = registry.commit(session, stored, events)
                    await send(messages)
                else:
                    message = parse_control(received.get("text") or "")
                    if isinstance(message, Hello):
                        hello_seen = True
                        resend = session.sent[message.resume_from :]
                        await send(
                            [
                                {
                                    "type": "welcome",
                                    "seq": 0,
                                    "session_id": session.id,
                                    "protocol": 1,
                                    "next_seq": session.incoming.next_seq,
                                    "resume_from": message.resume_from,
                                },
                                *resend,
                            ]
                        )
                        continue
                    if not hello_seen:
                        raise ProtocolError(ErrorCode.BAD_FRAME, "send hello first", message.seq)
                    async with session.lock:
                        session.incoming.accept(message.seq)
                        text = (received.get("text") or "").encode()
                        stored = StoredInput(message.seq, "control", text)
                        if isinstance(message, Ack):
                            session.acked = max(
                                session.acked, min(message.up_to, len(session.sent))
                            )
                            registry.commit(session, stored, [], acked=session.acked)
                            continue
                        events = session.runtime.handle_control(message)
                        ended = isinstance(message, End)
                        messages = registry.commit(session, stored, events, ended=ended)
                    await send(messages)
            except ProtocolError as problem:
                await error(problem)
                if problem.code.fatal:
                    await websocket.close(code=int(problem.code))
                    break
            except PrismError as problem:  # bad sensor data (e.g. a long IMU gap)
                await error(ProtocolError(ErrorCode.BAD_FRAME, str(problem)))
            except Exception:  # a bug must not take the session down: report, go on
                log.exception("session %s: message failed", session.id)
                registry.counters["internal_errors"] += 1
                await error(ProtocolError(ErrorCode.BAD_FRAME, "internal error on this message"))
            registry.counters["messages"] += 1
            registry.counters["processing_us"] += int((time.perf_counter() - started) * 1e6)
    except WebSocketDisconnect:
        pass
    finally:
        for task in pending:
            task.cancel()

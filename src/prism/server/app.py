"""The PrISM service (FastAPI): REST for procedures, devices and sessions, a WebSocket
stream per session. Wiring only: the routes call the session registry
(:mod:`prism.server.registry`), each watch connection is a
:class:`~prism.server.connection.Connection`, the frame batches run in the lifespan
(:mod:`prism.server.batches`), and every algorithm is in the modules
:class:`~prism.server.runtime.SessionRuntime` wires together.

Devices, sessions, every processed input and every sent message are kept in a store
(:mod:`prism.storage`): SQLite for one service process, or Redis shared by several
processes or machines. A restarted server rebuilds its sessions from it, and a watch
that reconnects (to the same server or, with Redis, to another) resumes from the last
message it received.

What the registry refuses comes as a :class:`~prism.server.errors.ServiceError`; this
module maps each class once to its HTTP status (:data:`HTTP_STATUS`) and, on the session
WebSocket, to its close code (:data:`CLOSE_CODES`). Admin endpoints take the admin token
as a bearer token; the dashboard's also take its login cookie
(:class:`~prism.server.access.AdminAccess`).
"""

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator
from functools import partial
from importlib import resources
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

from fastapi import Body, Cookie, Depends, FastAPI, Header, Query, Request, WebSocket
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from pydantic import BaseModel, Field

from prism.data.recording import Recording
from prism.data.recording_archive import recording_archive
from prism.errors import DataError, PrismError, StoreUnavailableError, WorkerLostError
from prism.protocol import ErrorCode
from prism.server.access import COOKIE, COOKIE_LIFETIME_S, AdminAccess
from prism.server.admission import Admission
from prism.server.connection import Connection, refuse
from prism.server.dashboard import dashboard_view
from prism.server.errors import (
    DeviceNotFoundError,
    LabelsRefusedError,
    ModeRefusedError,
    NoUsableModelError,
    PairingNotFoundError,
    ProcedureNotFoundError,
    ProcedureUnusableError,
    RecordingUnavailableError,
    ServiceError,
    SessionElsewhereError,
    SessionNotFoundError,
    TooManyDeviceSessionsError,
    TooManySessionsError,
    UnauthorizedError,
)
from prism.server.health import Health
from prism.server.labels import LabelSegment
from prism.server.pairing import Pairings, qr_svg
from prism.server.registry import SessionRegistry
from prism.server.runtime import transcribe_question
from prism.server.sensor_logger import MAX_BODY_BYTES, SensorLoggerBridge
from prism.server.voice import Voice
from prism.server.web_client import WEB_CLIENT_FILES, web_client_file, web_client_page
from prism.settings import Settings, get_settings
from prism.speech import SpeechRecognizer, configured_recognizer, synthesize

if TYPE_CHECKING:
    import uvicorn

__all__ = ["CLOSE_CODES", "HTTP_STATUS", "PURGE_EVERY_S", "admin_access", "create_app"]

log = logging.getLogger(__name__)

PURGE_EVERY_S = 3600.0
"""How often the service deletes the sessions past ``retention_days`` (s)."""

HTTP_STATUS: dict[type[ServiceError], int] = {
    UnauthorizedError: 401,
    SessionNotFoundError: 404,
    DeviceNotFoundError: 404,
    PairingNotFoundError: 404,
    ProcedureNotFoundError: 404,
    NoUsableModelError: 409,
    ModeRefusedError: 409,
    SessionElsewhereError: 409,
    TooManyDeviceSessionsError: 429,
    ProcedureUnusableError: 500,
    RecordingUnavailableError: 409,
    LabelsRefusedError: 422,
    TooManySessionsError: 503,
}
"""The HTTP status of each refusal (REST). Another device's session is answered as an
unknown one (404): a device cannot learn which session ids exist."""

CLOSE_CODES: dict[type[ServiceError], ErrorCode] = {
    UnauthorizedError: ErrorCode.UNAUTHORIZED,
    SessionNotFoundError: ErrorCode.UNKNOWN_SESSION,
}
"""The close code of each refusal of a session WebSocket."""

_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""A session id the dashboard's login may carry on to the dashboard's address."""


def _bearer(authorization: str | None) -> str | None:
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None


class DeviceRequest(BaseModel):
    """Register a watch."""

    name: str = Field(min_length=1, max_length=100)
    recording: bool = Field(
        default=False,
        strict=True,
        description="its sessions keep every input (a research watch whose user was told)",
    )


class PairingRequest(BaseModel):
    """Make a pairing code for a procedure."""

    task: str = Field(min_length=1, max_length=100)


class ClaimRequest(BaseModel):
    """Exchange a pairing code for a device."""

    code: str = Field(min_length=1, max_length=40)
    name: str = Field(default="paired device", min_length=1, max_length=100)


class SessionRequest(BaseModel):
    """Start a session of a procedure."""

    procedure: str = Field(min_length=1, max_length=100)
    privacy: bool = Field(
        default=False,
        strict=True,
        description="a privacy session: the watch sends audio decimated to 1 kHz (no "
        "intelligible speech), classified by the procedure's privacy model",
    )


class ModeRequest(BaseModel):
    """Switch a session's mode (only guided to sensing)."""

    mode: Literal["sensing"]


class LoginRequest(BaseModel):
    """Log in to the dashboard (the token may come as a bearer token instead)."""

    token: str | None = Field(default=None, max_length=200)


def _page(name: str) -> str:
    """A page of the server's ``static`` folder."""
    return (resources.files("prism.server") / "static" / name).read_text()


def _log_in(request: Request, response: Response, access: AdminAccess) -> None:
    """Give ``response`` a new dashboard login cookie (HttpOnly, SameSite=Strict; Secure
    over HTTPS)."""
    response.set_cookie(
        COOKIE,
        access.cookie(),
        max_age=COOKIE_LIFETIME_S,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def admin_access(server: "uvicorn.Server") -> AdminAccess:
    """The admin access (issuer of one-time dashboard links) of a server running an
    app of :func:`create_app` (:func:`~prism.server.threaded.serve_in_thread`)."""
    access: AdminAccess = cast("FastAPI", server.config.app).state.access
    return access


async def _purge_periodically(registry: SessionRegistry) -> None:
    """Every :data:`PURGE_EVERY_S` (first at start): delete the sessions past their
    retention (:meth:`SessionRegistry.purge_expired`); a failure is logged and retried
    at the next round."""
    while True:
        try:
            await registry.purge_expired(time.time())
        except PrismError as problem:
            log.error("deleting expired sessions failed: %s", problem)
        await asyncio.sleep(PURGE_EVERY_S)


async def _load_recognizer(recognizer: SpeechRecognizer, health: Health) -> None:
    """Load the speech recognizer on a worker thread while the service already serves;
    ``/v1/health`` says ``speech: loading``, then ``ready`` (or ``unavailable``, logged
    once: spoken questions then get an error answer, everything else works)."""
    health.speech = "loading"
    try:
        await asyncio.to_thread(recognizer.load)
    except PrismError as problem:
        health.speech = f"unavailable: {problem}"
        log.warning("speech recognition unavailable: %s", problem)
    else:
        health.speech = "ready"


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service: ``uvicorn --factory prism.server.app:create_app`` (settings: the
    process's, :func:`~prism.settings.get_settings`, unless given)."""
    settings = settings or get_settings()
    registry = SessionRegistry(settings)
    # the recognizer's adapter comes from the same models folder as the classifiers; it
    # loads when the service starts (settings.asr.preload) or at the first question
    transcriber = configured_recognizer(settings)
    voice = Voice(partial(transcribe_question, transcriber=transcriber), synthesize)

    access = AdminAccess(settings.server.admin_token, secret=settings.server.checkpoint_secret)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        """The frame batches' loops and the idle-session sweep run while the app
        serves, in one task group, cancelled at shutdown. The pipeline workers and the
        store live as long as the process (one app may see several lifespans: tests)."""
        async with asyncio.TaskGroup() as group:
            tasks = [
                *registry.batches.loops(),
                registry.sweep_idle(),
                _purge_periodically(registry),
                *([_load_recognizer(transcriber, registry.health)] if settings.asr.preload else []),
            ]
            loops = [group.create_task(task) for task in tasks]
            yield
            for loop in loops:
                loop.cancel()

    app = FastAPI(title="PrISM", version="1", lifespan=lifespan)
    app.state.registry = registry
    admission = app.state.admission = Admission(
        max_connections=settings.server.max_connections,
        max_per_device=settings.server.max_connections_per_device,
    )
    app.state.access = access

    @app.exception_handler(ServiceError)
    async def refused(_: Request, error: Exception) -> JSONResponse:
        status = next(code for kind, code in HTTP_STATUS.items() if isinstance(error, kind))
        return JSONResponse({"detail": str(error)}, status_code=status)

    @app.exception_handler(StoreUnavailableError)
    @app.exception_handler(WorkerLostError)
    async def unavailable(_: Request, error: Exception) -> JSONResponse:
        """A passing fault of the store or of a pipeline worker (``/v1/health`` says
        which): 503, to be tried again; no traceback. Also refuses a session WebSocket
        that cannot be attached meanwhile."""
        detail = "the service is unavailable for a moment: try again"
        return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "1"})

    def device(authorization: Annotated[str | None, Header()] = None) -> str:
        return registry.devices.authenticate(_bearer(authorization))

    def admin(authorization: Annotated[str | None, Header()] = None) -> None:
        if not access.token_ok(_bearer(authorization)):
            raise UnauthorizedError("admin token required")

    def viewer(
        authorization: Annotated[str | None, Header()] = None,
        login: Annotated[str | None, Cookie(alias=COOKIE)] = None,
    ) -> None:
        """The admin token, or the dashboard's login cookie."""
        if not (access.token_ok(_bearer(authorization)) or access.cookie_ok(login)):
            raise UnauthorizedError("admin token or dashboard login required")

    def metrics_reader(
        authorization: Annotated[str | None, Header()] = None,
        login: Annotated[str | None, Cookie(alias=COOKIE)] = None,
    ) -> None:
        """Anyone, or (``metrics_admin_only``) an admin as :func:`viewer` says."""
        if settings.server.metrics_admin_only:
            viewer(authorization, login)

    @app.get("/v1/health")
    def health() -> JSONResponse:
        """200 ``ok``, or 503 ``degraded`` while the store fails or a pipeline worker is
        restarted (``store``, ``pipeline`` say which)."""
        body = {**registry.health.report(), "sessions": len(registry.sessions)}
        return JSONResponse(body, status_code=200 if registry.health.ok else 503)

    @app.get("/metrics", response_class=PlainTextResponse, dependencies=[Depends(metrics_reader)])
    def metrics() -> str:
        active = sum(1 for s in registry.sessions.values() if not s.ended)
        lines = [
            "# TYPE prism_sessions_active gauge",
            f"prism_sessions_active {active}",
            "# TYPE prism_store_available gauge",
            f"prism_store_available {int(registry.health.store_fault is None)}",
        ]
        timed = registry.store.time  # read without its lock: a scrape may be a call behind
        counters = {
            **registry.counters,
            "store_calls": timed.calls,
            "store_seconds": round(timed.wall_s, 6),
            "store_cpu_seconds": round(timed.cpu_s, 6),
        }
        for name, value in sorted(counters.items()):
            lines += [f"# TYPE prism_{name}_total counter", f"prism_{name}_total {value}"]
        lines.append("# TYPE prism_batch_sessions_count counter")
        lines += [
            f'prism_batch_sessions_count{{size="{size}"}} {count}'
            for size, count in sorted(registry.batches.batch_sizes.items())
        ]
        return "\n".join(lines) + "\n"

    @app.get("/v1/procedures")
    def procedures() -> list[dict[str, Any]]:
        out = []
        for procedure_id in registry.procedures.ids():
            try:
                procedure = registry.procedures.get(procedure_id)
            except ProcedureUnusableError:  # logged when first loaded; not offered
                continue
            out.append(
                {
                    "id": procedure.id,
                    "name": procedure.name,
                    "steps": procedure.n_steps,
                    "model": registry.procedures.has_model(procedure_id),
                    "privacy_audio": registry.procedures.has_model(procedure_id, privacy=True),
                }
            )
        return out

    @app.get("/v1/procedures/{procedure_id}")
    def procedure_detail(procedure_id: str) -> dict[str, Any]:
        procedure = registry.procedures.get(procedure_id)
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
            "model": registry.procedures.has_model(procedure.id),
            "privacy_audio": registry.procedures.has_model(procedure.id, privacy=True),
        }

    @app.get("/v1/procedures/{procedure_id}/picture")
    def procedure_picture(procedure_id: str) -> Response:
        return Response(registry.procedures.picture(procedure_id), media_type="image/svg+xml")

    @app.post("/v1/devices", dependencies=[Depends(admin)])
    def register_device(request: DeviceRequest) -> dict[str, Any]:
        device_id, token = registry.devices.register(request.name, recording=request.recording)
        return {
            "device_id": device_id,
            "name": request.name,
            "recording": request.recording,
            "token": token,
        }

    pairings = Pairings(registry.store, registry.devices)

    @app.post("/v1/pairings", dependencies=[Depends(viewer)])
    def create_pairing(pairing: PairingRequest, request: Request) -> dict[str, Any]:
        """A one-time code for a new device of a procedure, its web-client link and QR
        code (``prism.server.pairing``); the admin token or the dashboard's login."""
        task = registry.procedures.get(pairing.task).id
        made = pairings.create(task)
        link = f"{str(request.base_url).rstrip('/')}/watch?pair={made.code}"
        return {
            "code": made.code,
            "task": task,
            "expires_at": made.expires,
            "url": link,
            "qr_svg": qr_svg(link),
        }

    @app.post("/v1/pairings/claim")
    def claim_pairing(claim: ClaimRequest, request: Request) -> dict[str, Any]:
        """Exchange a pairing code, once, for a device: its id, token and procedure, and
        its Sensor Logger push URL."""
        device_id, token, task = pairings.claim(claim.code, claim.name)
        base = str(request.base_url).rstrip("/")
        return {
            "device_id": device_id,
            "token": token,
            "task": task,
            "sensor_logger_url": f"{base}/v1/ingest/sensor-logger?token={token}&task={task}",
        }

    @app.delete("/v1/devices/{device_id}", dependencies=[Depends(admin)])
    async def delete_device(device_id: str) -> dict[str, Any]:
        """Delete a device, its sessions and everything they stored."""
        deleted = await registry.forget_device(device_id)
        return {"device_id": device_id, "sessions_deleted": len(deleted)}

    @app.post("/v1/sessions")
    async def create_session(
        request: SessionRequest, device_id: Annotated[str, Depends(device)]
    ) -> dict[str, Any]:
        session = await asyncio.to_thread(
            registry.open_session, device_id, request.procedure, privacy=request.privacy
        )
        view = await registry.snapshot(session)
        return {
            "session_id": session.id,
            "procedure": session.procedure_id,
            "privacy": session.privacy,
            "mode": view["mode"],
        }

    @app.post("/v1/sessions/{session_id}/mode")
    async def switch_mode(
        session_id: str, request: ModeRequest, device_id: Annotated[str, Depends(device)]
    ) -> dict[str, Any]:
        """Switch a guided session to sensing on its task's model (found after a
        reload); 409 naming why when it cannot."""
        session = registry.owned(session_id, device_id)
        await registry.sense(session)
        view = await registry.snapshot(session)
        return {"session_id": session.id, "mode": view["mode"], "time_s": view["time_s"]}

    @app.post("/v1/admin/reload", dependencies=[Depends(admin)])
    def reload() -> dict[str, Any]:
        """Read the tasks and models folders again: what changed, what is broken, which
        models there are (new sessions use them; running ones keep theirs)."""
        return registry.reload().as_json()

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
            "privacy": session.privacy,
            "mode": view["mode"],
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
        await registry.end(session)
        return {"session_id": session.id, "ended": True}

    @app.get("/watch", response_class=HTMLResponse)
    def watch_page(host: Annotated[str | None, Header()] = None) -> Response:
        """The web client: a phone or a watch with a browser as a PrISM watch."""
        return web_client_page(host)

    @app.get(
        "/watch/{name}",
        response_class=Response,
        responses={200: {"content": {media: {} for media in set(WEB_CLIENT_FILES.values())}}},
    )
    def watch_file(name: str, host: Annotated[str | None, Header()] = None) -> Response:
        """The web client's scripts, style, manifest, icons and service worker."""
        return web_client_file(name, host)

    @app.get("/dashboard", response_class=HTMLResponse)
    def dashboard(login: Annotated[str | None, Cookie(alias=COOKIE)] = None) -> str:
        """The dashboard, for a browser that logged in; else the login page."""
        return _page("dashboard.html" if access.cookie_ok(login) else "login.html")

    @app.get("/dashboard/timeline.js", response_class=Response)
    def dashboard_timeline() -> Response:
        """The dashboard's label editor (a JavaScript module)."""
        return Response(_page("timeline.js"), media_type="text/javascript")

    @app.post("/v1/dashboard/login")
    def dashboard_login(
        request: Request,
        response: Response,
        body: LoginRequest | None = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> dict[str, int]:
        """Log a browser in with the admin token (JSON ``token`` or a bearer token):
        it gets the login cookie."""
        given = body.token if body is not None and body.token else _bearer(authorization)
        if not access.token_ok(given):
            raise UnauthorizedError("admin token required")
        _log_in(request, response, access)
        return {"expires_in_s": COOKIE_LIFETIME_S}

    @app.get("/dashboard/login", response_class=HTMLResponse)
    def dashboard_link(
        request: Request,
        link: Annotated[str, Query(max_length=200)],
        session: Annotated[str | None, Query(max_length=64)] = None,
    ) -> Response:
        """A one-time login link (``prism serve`` prints one): the first time, the
        dashboard (of ``session``, if given) with the login cookie; then the login page."""
        if not access.redeem(link):
            return HTMLResponse(_page("login.html"), status_code=401)
        target = "/dashboard"
        if session is not None and _SESSION_ID.fullmatch(session):
            target += f"?session={session}"
        response = RedirectResponse(target, status_code=303)
        _log_in(request, response, access)
        return response

    @app.get("/v1/dashboard/sessions", dependencies=[Depends(viewer)])
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

    @app.get("/v1/dashboard/sessions/{session_id}", dependencies=[Depends(viewer)])
    async def dashboard_session(session_id: str) -> dict[str, Any]:
        session = registry.resolve(session_id)
        view = await registry.snapshot(session)
        return dashboard_view(
            session.id, view, session.notable, ended=session.ended, recording=session.recording
        )

    @app.get("/v1/sessions/{session_id}/recording", dependencies=[Depends(viewer)])
    async def session_recording(session_id: str) -> Response:
        """A recording session as a recording zip (``prism.data.recording_archive``): its
        IMU, audio and its step labels (as saved, else between its marks). 409 if its
        device does not record."""
        recording = await registry.recording(session_id)
        archive = await asyncio.to_thread(recording_archive, recording)
        disposition = f'attachment; filename="{recording.session_id}.zip"'
        return Response(
            archive, media_type="application/zip", headers={"Content-Disposition": disposition}
        )

    def labels_view(recording: Recording) -> dict[str, Any]:
        procedure = registry.procedures.get(recording.task)
        return {
            "session_id": recording.session_id,
            "procedure": procedure.id,
            "duration": recording.duration,
            "source": recording.metadata["labels"],
            "segments": [
                {"start": s.start, "end": s.end, "step": s.step}
                for s in recording.annotation.segments
            ],
            "steps": [{"id": step.id, "name": step.name} for step in procedure.steps],
        }

    @app.get("/v1/sessions/{session_id}/labels", dependencies=[Depends(viewer)])
    async def session_labels(session_id: str) -> dict[str, Any]:
        """A recording session's step labels (``segments``: start, end in s, step) as
        saved, else as its marks give them (``source``: ``"saved"`` or ``"marks"``), its
        ``duration`` (s) and its procedure's ``steps``. 409 if its device does not record."""
        return labels_view(await registry.recording(session_id))

    @app.put("/v1/sessions/{session_id}/labels", dependencies=[Depends(viewer)])
    async def save_session_labels(
        session_id: str, segments: Annotated[list[LabelSegment], Body(max_length=10_000)]
    ) -> dict[str, Any]:
        """Save a recording session's corrected step labels (``prism.server.labels``):
        ordered, non-overlapping segments inside the session, of its procedure's steps
        (``null``: no step); 422 naming the first segment that is not, and why. The
        export uses them from then on. As :func:`session_labels` after the save."""
        await registry.save_labels(session_id, segments)
        return labels_view(await registry.recording(session_id))

    bridge = SensorLoggerBridge(registry)

    @app.post("/v1/ingest/sensor-logger", response_model=None)
    async def sensor_logger_push(
        request: Request,
        task: Annotated[str | None, Query(max_length=100)] = None,
        token: Annotated[str | None, Query(max_length=200)] = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> Response | dict[str, Any]:
        """A Sensor Logger push message (``prism.server.sensor_logger``): 200 with what
        it fed; 401 without a device's token; else 499 with the reason as text (the app
        shows it to its user)."""
        device_id = registry.devices.authenticate(_bearer(authorization) or token)
        try:
            if not task:
                raise DataError("the push URL needs the procedure: ...&task=PROCEDURE_ID")
            body = b""
            async for part in request.stream():
                body += part
                if len(body) > MAX_BODY_BYTES:
                    raise DataError(f"message of more than {MAX_BODY_BYTES} bytes")
            return await bridge.ingest(device_id, task, body)
        except (DataError, ServiceError) as refusal:
            return PlainTextResponse(f"PrISM: {refusal}", status_code=499)

    @app.websocket("/v1/sessions/{session_id}/stream")
    async def stream(websocket: WebSocket, session_id: str, token: str | None = None) -> None:
        """One watch connection (see ``watch_bridge/PROTOCOL.md``): counted by the
        admission from its opening until it closes; refused beyond its limits."""
        bearer = _bearer(websocket.headers.get("authorization")) or token
        try:
            device_id = registry.devices.authenticate(bearer)
            registry.accessible(session_id, device_id)  # attached at its hello
        except (UnauthorizedError, SessionNotFoundError) as refusal:
            await refuse(websocket, CLOSE_CODES[type(refusal)], str(refusal))
            return
        if not admission.open(device_id):
            limits = settings.server
            await refuse(
                websocket,
                ErrorCode.TOO_MANY_CONNECTIONS,
                f"too many connections (at most {limits.max_connections_per_device} per "
                f"device, {limits.max_connections} in all)",
            )
            return
        try:
            attach = partial(registry.attach, session_id, device_id)  # at its hello
            await Connection(registry, voice, websocket, attach).serve()
        finally:
            admission.close(device_id)

    return app

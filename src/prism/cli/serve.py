"""``prism serve``: run the service; ``--demo`` also replays a latte-making session into it."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
import uvicorn

from prism.cli import app
from prism.cli._common import console, fail
from prism.cli.watch import MessagePrinter
from prism.data.recording import read_recording
from prism.errors import PrismError
from prism.settings import get_settings
from prism.speech import espeak_available, synthesize
from prism.watch.replay import ReplayQuestion, replay
from prism.watch.session import open_session

if TYPE_CHECKING:  # the service (torch, the models) loads when the command runs
    from prism.settings import Settings

__all__ = ["serve"]

DEMO_RECORDING = Path("demo/latte_making-s000")
"""The demo's recording, in the settings' ``datasets_dir``."""
DEMO_QUESTION = "What is the next step?"


def _demo(base: str, admin_token: str, speed: float | None, *, datasets_dir: Path) -> None:
    recording = read_recording(datasets_dir / DEMO_RECORDING)
    token, session = open_session(base, admin_token, recording.task)
    audio = synthesize(DEMO_QUESTION)[0] if espeak_available() else None
    question = ReplayQuestion(min(20.0, recording.annotation.duration / 2), DEMO_QUESTION, audio)
    spoken = "spoken" if audio is not None else "typed (espeak-ng is not installed)"
    console.rule(f"[bold]simulated watch[/]: {recording.task}, session {session}")
    console.print(f"[dim]asks at {question.at_s:.0f} s ({spoken}): {DEMO_QUESTION}[/]")
    url = base.replace("http", "ws", 1) + f"/v1/sessions/{session}/stream"
    result = asyncio.run(
        replay(
            url, token, recording, speed=speed, questions=(question,), on_message=MessagePrinter()
        )
    )
    console.print(
        f"[dim]{result.frames_sent} frames in {result.wall_s:.1f} s, "
        f"{len(result.messages)} messages back[/]"
    )


def _serve_workers(settings: Settings, *, host: str, port: int, workers: int, demo: bool) -> None:
    """Run ``workers`` uvicorn worker processes sharing one address and one Redis (each
    builds its app from the environment: this process's, with the service section as
    this command set it)."""
    service = settings.server
    if service.redis_url is None:
        fail("--workers above 1 needs --redis-url: the workers must share the sessions")
    if port == 0 or demo:
        fail("--workers above 1 needs a fixed --port and no --demo")
    os.environ.update(service.environment())
    base = f"http://{host}:{port}"
    console.print(f"PrISM service on {base} ({workers} workers, sessions in {service.redis_url})")
    console.print(f"dashboard: {base}/dashboard (log in with the admin token)")
    uvicorn.run(
        "prism.server.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        ws="websockets-sansio",
        log_level="warning",
    )


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free one).")] = 8000,
    demo: Annotated[
        bool, typer.Option(help="Replay a simulated latte-making watch session into it.")
    ] = False,
    speed: Annotated[float, typer.Option(help="Demo playback speed (1 = real time).")] = 4.0,
    keep_running: Annotated[bool, typer.Option(help="Keep serving after the demo.")] = False,
    pipeline_workers: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Worker processes for the session pipelines (0: in the service process; "
            "default: PRISM_SERVER_PIPELINE_WORKERS, else 0).",
        ),
    ] = None,
    database: Annotated[
        str | None,
        typer.Option(
            help="SQLite file of the sessions (default: PRISM_SERVER_DATABASE; "
            "with --demo, ':memory:')."
        ),
    ] = None,
    redis_url: Annotated[
        str | None,
        typer.Option(
            help="Keep the sessions in this Redis (redis://host:port/db) instead of SQLite, "
            "so several workers or machines serve them (default: PRISM_SERVER_REDIS_URL)."
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Service processes behind the one address (uvicorn workers); more than "
            "one needs --redis-url and a fixed --port.",
        ),
    ] = 1,
) -> None:
    """Run the PrISM service (embedded defaults: tasks/, models/, sessions in SQLite;
    folders from PRISM_TASKS_DIR, PRISM_MODELS_DIR, the service from PRISM_SERVER_*)."""
    from prism.server.access import LINK_LIFETIME_S
    from prism.server.app import admin_access
    from prism.server.threaded import serve_in_thread

    settings = get_settings()
    changes: dict[str, object] = {}
    if redis_url is not None:
        changes["redis_url"] = redis_url
    if pipeline_workers is not None:
        changes["pipeline_workers"] = pipeline_workers
    if database is not None or demo:
        changes["database"] = database or ":memory:"
    if settings.server.admin_token is None:
        changes["admin_token"] = secrets.token_urlsafe(16)
        console.print(f"admin token (this run): {changes['admin_token']}")
    settings = settings.model_copy(update={"server": settings.server.model_copy(update=changes)})
    admin_token = settings.server.admin_token or ""
    if workers > 1:
        _serve_workers(settings, host=host, port=port, workers=workers, demo=demo)
        return
    try:
        server, port = serve_in_thread(settings, host=host, port=port)
    except PrismError as error:
        fail(str(error))
    base = f"http://{host}:{port}"
    console.print(f"PrISM service on {base} (API docs: {base}/docs, metrics: {base}/metrics)")
    console.print(
        f"dashboard: {base}/dashboard/login?link={admin_access(server).link()}\n"
        f"  (a one-time link, valid {LINK_LIFETIME_S // 60} minutes; "
        f"later: {base}/dashboard, log in with the admin token)",
        soft_wrap=True,  # the link stays one line, to copy
    )
    try:
        if demo:
            _demo(
                base, admin_token, speed if speed > 0 else None, datasets_dir=settings.datasets_dir
            )
        if keep_running or not demo:
            while not server.should_exit:
                time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    except PrismError as error:
        fail(str(error))
    finally:
        server.should_exit = True

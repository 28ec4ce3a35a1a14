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
from prism.cli._addresses import WILDCARD_HOSTS, local_addresses, url_host
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

_LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1"}
"""The address this machine reaches a service on each wildcard host at."""


def _say(line: str) -> None:
    """Print ``line`` as it is, on one line (addresses, to copy: IPv6 ones in brackets are
    no console markup)."""
    console.print(line, highlight=False, markup=False, soft_wrap=True)


def _addresses(host: str, port: int, *, tls: bool) -> tuple[str, list[str] | None]:
    """The service's base URL on this machine, and (``None`` unless ``host`` is a
    wildcard) on each of the machine's network addresses."""
    scheme = "https" if tls else "http"
    family = WILDCARD_HOSTS.get(host)
    if family is None:
        return f"{scheme}://{url_host(host)}:{port}", None
    network = [f"{scheme}://{url_host(address)}:{port}" for address in local_addresses(family)]
    return f"{scheme}://{url_host(_LOOPBACK[host])}:{port}", network


def _announce(base: str, network: list[str] | None, *, tls: bool, note: str) -> str:
    """Print where the service listens (``note``: what follows in parentheses) and, for a
    wildcard host (``network`` not ``None``), the web client's and the dashboard's
    address on each network address, and what phones need to give a page their sensors.

    Returns the base URL for the dashboard's login link: a network address when there
    is one (the dashboard's pairing QR codes name the address the dashboard was opened
    at, and a phone cannot open this machine's loopback address).
    """
    if network is None:
        _say(f"PrISM service on {base} ({note})")
        return base
    _say(f"PrISM service on every address of this machine, here {base} ({note})")
    if not network:
        _say("on the local network: no address found (is this machine on a network?)")
    for address in network:
        _say(f"on the local network: web client {address}/watch, dashboard {address}/dashboard")
    secure = (
        "; a phone warns once about a self-made certificate: accept it"
        if tls
        else ": serve with --ssl-certfile and --ssl-keyfile (watch_bridge/README.md)"
    )
    _say(
        "phones give motion sensors and the microphone only to HTTPS pages (or pages "
        f"opened on localhost){secure}"
    )
    return (network or [base])[0]


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


def _serve_workers(
    settings: Settings,
    *,
    host: str,
    port: int,
    workers: int,
    demo: bool,
    ssl_certfile: Path | None,
    ssl_keyfile: Path | None,
) -> None:
    """Run ``workers`` uvicorn worker processes sharing one address and one Redis (each
    builds its app from the environment: this process's, with the service section as
    this command set it)."""
    service = settings.server
    if service.redis_url is None:
        fail("--workers above 1 needs --redis-url: the workers must share the sessions")
    if port == 0 or demo:
        fail("--workers above 1 needs a fixed --port and no --demo")
    os.environ.update(service.environment())
    tls = ssl_certfile is not None
    note = f"{workers} workers, sessions in {service.redis_url}"
    base = _announce(*_addresses(host, port, tls=tls), tls=tls, note=note)
    _say(f"dashboard: {base}/dashboard (log in with the admin token)")
    uvicorn.run(
        "prism.server.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        ws="websockets-sansio",
        log_level="warning",
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
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
    ssl_certfile: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="Serve HTTPS (and WSS) with this certificate (PEM): phones give motion "
            "sensors and the microphone only to HTTPS pages.",
        ),
    ] = None,
    ssl_keyfile: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="The certificate's private key (PEM, unencrypted), unless in --ssl-certfile.",
        ),
    ] = None,
) -> None:
    """Run the PrISM service (embedded defaults: tasks/, models/, sessions in SQLite;
    folders from PRISM_TASKS_DIR, PRISM_MODELS_DIR, the service from PRISM_SERVER_*)."""
    from prism.server.access import LINK_LIFETIME_S
    from prism.server.app import admin_access
    from prism.server.threaded import serve_in_thread

    if ssl_keyfile is not None and ssl_certfile is None:
        fail("--ssl-keyfile needs --ssl-certfile (the certificate it is the key of)")
    if demo and ssl_certfile is not None:
        fail("--demo's simulated watch speaks plain HTTP: leave out --ssl-certfile")
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
        _serve_workers(
            settings,
            host=host,
            port=port,
            workers=workers,
            demo=demo,
            ssl_certfile=ssl_certfile,
            ssl_keyfile=ssl_keyfile,
        )
        return
    try:
        server, port = serve_in_thread(
            settings, host=host, port=port, ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile
        )
    except PrismError as error:
        fail(str(error))
    tls = ssl_certfile is not None
    base, network = _addresses(host, port, tls=tls)
    note = f"API docs: {base}/docs, metrics: {base}/metrics"
    shown = _announce(base, network, tls=tls, note=note)
    _say(f"dashboard: {shown}/dashboard/login?link={admin_access(server).link()}")
    _say(
        f"  (a one-time link, valid {LINK_LIFETIME_S // 60} minutes; "
        f"later: {shown}/dashboard, log in with the admin token)"
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

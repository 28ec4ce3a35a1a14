"""``prism watch replay``: stream a recording to the service as a watch would."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from prism.cli._common import console, fail
from prism.data.recording import read_recording
from prism.errors import PrismError
from prism.watch.replay import ReplayQuestion, replay
from prism.watch.session import open_session

__all__ = ["MessagePrinter", "watch_app"]

watch_app = typer.Typer(help="Watch-side clients of the service.", no_args_is_help=True)


class MessagePrinter:
    """Prints what the watch receives: step changes (not the heartbeats), reminders,
    answers and errors."""

    def __init__(self) -> None:
        self.step: object = ...

    def __call__(self, message: dict[str, Any]) -> None:
        kind, t = message.get("type"), message.get("t", 0.0)
        if kind == "step" and message["current"] != self.step:
            self.step = message["current"]
            console.print(
                f"{t:7.1f} s  step: {message['current'] or '(between steps)'} "
                f"(p={message['probability']:.2f})",
                highlight=False,
            )
        elif kind == "reminder":
            console.print(f"{t:7.1f} s  [magenta]reminder:[/] {message['reason']}", highlight=False)
        elif kind == "answer":
            console.print(
                f"{t:7.1f} s  [cyan]Q:[/] {message['question']}  [cyan]A:[/] {message['text']}",
                highlight=False,
            )
        elif kind == "error":
            console.print(f"[red]error {message['code']}:[/] {message['message']}", highlight=False)


@watch_app.command("replay")
def watch_replay(
    recording: Annotated[Path, typer.Argument(help="A recording directory (prism-recording/1).")],
    server: Annotated[str, typer.Option(help="The service's base URL.")] = "http://127.0.0.1:8000",
    admin_token: Annotated[
        str, typer.Option(envvar="PRISM_SERVER_ADMIN_TOKEN", help="Registers the replay device.")
    ] = "",
    speed: Annotated[str, typer.Option(help="1 = real time, 10, ..., or max.")] = "1",
    question: Annotated[str | None, typer.Option(help="A question to ask ...")] = None,
    question_at: Annotated[float, typer.Option(help="... at this session time (s).")] = 20.0,
) -> None:
    """Register a device, open a session for the recording's task and stream it."""
    try:
        pace = None if speed == "max" else float(speed)
    except ValueError:
        fail(f"--speed must be a number or 'max', got {speed!r}")
    if pace is not None and pace <= 0:
        fail(f"--speed must be > 0, got {speed}")
    try:
        data = read_recording(recording)
        token, session = open_session(server, admin_token, data.task)
        url = server.replace("http", "ws", 1).rstrip("/") + f"/v1/sessions/{session}/stream"
        asked = (ReplayQuestion(question_at, question),) if question else ()
        console.print(f"session {session} ({data.task}), {data.annotation.duration:.0f} s")
        result = asyncio.run(
            replay(url, token, data, speed=pace, questions=asked, on_message=MessagePrinter())
        )
    except (PrismError, httpx.HTTPError, OSError) as error:
        fail(str(error))
    console.print(
        f"{result.frames_sent} frames sent in {result.wall_s:.1f} s; "
        f"{len(result.messages)} messages received"
    )

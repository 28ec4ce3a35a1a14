"""``prism pair``: a pairing code and its QR code, for a phone or watch to join the service."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import segno
import typer

from prism.cli import app
from prism.cli._common import console, fail
from prism.errors import PrismError
from prism.watch.session import request_pairing

__all__ = ["pair"]


@app.command("pair")
def pair(
    task: Annotated[str, typer.Option(help="The procedure the device will run.")],
    server: Annotated[str, typer.Option(help="The service's base URL.")] = "http://127.0.0.1:8000",
    admin_token: Annotated[
        str, typer.Option(envvar="PRISM_SERVER_ADMIN_TOKEN", help="The service's admin token.")
    ] = "",
    svg: Annotated[
        Path | None, typer.Option(help="Also write the QR code to this SVG file.")
    ] = None,
) -> None:
    """Make a one-time pairing code: scan the QR code (or open the link) on the phone or
    watch; it becomes a device of the service without ever seeing the admin token."""
    if not admin_token:
        fail("--admin-token (or PRISM_SERVER_ADMIN_TOKEN) is required")
    try:
        made = request_pairing(server, admin_token, task)
    except PrismError as error:
        fail(str(error))
    minutes = max(0.0, (float(made["expires_at"]) - time.time()) / 60)
    segno.make(made["url"], error="m").terminal(compact=True)
    console.print(f"open on the device: {made['url']}", highlight=False, soft_wrap=True)
    console.print(f"code {made['code']} for {made['task']}, valid {minutes:.0f} minutes, once")
    if svg is not None:
        svg.write_text(made["qr_svg"], encoding="utf-8")
        console.print(f"QR code: {svg}")

"""``prism reload``: the running service reads its tasks and models folders again."""

from __future__ import annotations

from typing import Annotated

import typer

from prism.cli import app
from prism.cli._common import console, fail, print_json
from prism.errors import PrismError
from prism.watch.session import request_reload

__all__ = ["reload"]


@app.command("reload")
def reload(
    server: Annotated[str, typer.Option(help="The service's base URL.")] = "http://127.0.0.1:8000",
    admin_token: Annotated[
        str, typer.Option(envvar="PRISM_SERVER_ADMIN_TOKEN", help="The service's admin token.")
    ] = "",
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Have the running service read its tasks and models folders again: new and changed
    procedures and new or replaced models are used by the sessions opened from now on
    (running sessions keep theirs; a guided one can then switch to sensing). Prints
    what changed, the broken procedure files and the tasks with a model."""
    if not admin_token:
        fail("--admin-token (or PRISM_SERVER_ADMIN_TOKEN) is required")
    try:
        summary = request_reload(server, admin_token)
    except PrismError as error:
        fail(str(error))
    if json_output:
        print_json(summary)
        return
    for key in ("added", "changed", "removed", "models", "privacy_models"):
        names = ", ".join(summary.get(key, [])) or "none"
        console.print(f"{key.replace('_', ' ')}: {names}", highlight=False, soft_wrap=True)
    for procedure_id, why in summary.get("broken", {}).items():
        console.print(f"broken {procedure_id}: {why}", highlight=False, soft_wrap=True)

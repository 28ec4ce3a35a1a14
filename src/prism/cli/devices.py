"""``prism devices ...``: the registered watches in the configured store."""

from __future__ import annotations

from typing import Annotated

import typer

from prism.cli._common import console, fail
from prism.errors import StoreError
from prism.settings import get_settings
from prism.storage.configured import open_store

__all__ = ["devices_app", "forget"]

devices_app = typer.Typer(help="Manage the service's registered watches.", no_args_is_help=True)


@devices_app.command()
def forget(
    device_id: Annotated[str, typer.Argument(help="the device's id (dev-...)")],
) -> None:
    """Delete a device and all its data: its sessions, their inputs, sent messages and
    checkpoints, in the store the settings name (``PRISM_SERVER_DATABASE`` or
    ``PRISM_SERVER_REDIS_URL``). A running SQLite service keeps the sessions it has in
    memory until it restarts: delete through ``DELETE /v1/devices/{id}`` instead."""
    try:
        store = open_store(get_settings().server)
    except StoreError as error:
        fail(str(error))
    try:
        deleted = store.forget_device(device_id)
    finally:
        store.close()
    if deleted is None:
        fail(f"unknown device {device_id[:64]!r}")
    console.print(f"deleted device {device_id} and {len(deleted)} sessions")

"""Running the service on a background thread of the current process (the demo, tests)."""

from __future__ import annotations

import threading
import time

import uvicorn

from prism.server.app import create_app
from prism.server.errors import ServerStartError
from prism.settings import Settings

__all__ = ["MAX_MESSAGE_BYTES", "serve_in_thread"]

MAX_MESSAGE_BYTES = 1 << 20
"""Largest WebSocket message accepted (bytes): the protocol's largest frame is 960,024."""


def serve_in_thread(
    settings: Settings, *, host: str = "127.0.0.1", port: int = 0, timeout_s: float = 30.0
) -> tuple[uvicorn.Server, int]:
    """Start the service with uvicorn on a daemon thread and wait until it listens.

    Returns the server (set ``should_exit`` to stop it) and its port (``port`` 0: a free
    one). Raises :class:`~prism.server.errors.ServerStartError` if it does not start in time.
    """
    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        log_level="warning",
        ws="websockets-sansio",
        ws_max_size=MAX_MESSAGE_BYTES,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise ServerStartError(f"the service did not start on {host}:{port} (port in use?)")
        time.sleep(0.05)
    bound = server.servers[0].sockets[0].getsockname()[1] if server.servers else port
    return server, int(bound)

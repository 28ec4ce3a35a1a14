"""Running the service on a background thread of the current process (the demo, tests)."""

from __future__ import annotations

import ssl
import threading
import time
from pathlib import Path

import uvicorn

from prism.server.app import create_app
from prism.server.errors import ServerStartError
from prism.settings import Settings

__all__ = ["MAX_MESSAGE_BYTES", "serve_in_thread"]

MAX_MESSAGE_BYTES = 1 << 20
"""Largest WebSocket message accepted (bytes): the protocol's largest frame is 960,024."""


def serve_in_thread(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    timeout_s: float = 30.0,
    ssl_certfile: Path | None = None,
    ssl_keyfile: Path | None = None,
) -> tuple[uvicorn.Server, int]:
    """Start the service with uvicorn on a daemon thread and wait until it listens.

    Returns the server (set ``should_exit`` to stop it) and its port (``port`` 0: a free
    one). With ``ssl_certfile`` (PEM; its unencrypted private key in it or in
    ``ssl_keyfile``) it serves HTTPS and WSS. Raises
    :class:`~prism.server.errors.ServerStartError` if the certificate or key cannot be
    used, or if it does not start in time.
    """
    if ssl_keyfile is not None and ssl_certfile is None:
        raise ServerStartError(f"a TLS key ({ssl_keyfile}) needs its certificate (ssl_certfile)")
    if ssl_certfile is not None:  # checked here: on uvicorn's thread it would only be logged
        try:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(ssl_certfile, ssl_keyfile, password="")  # no prompt
        except OSError as error:  # ssl.SSLError, a missing or unreadable file
            files = " and ".join(str(path) for path in (ssl_certfile, ssl_keyfile) if path)
            raise ServerStartError(f"cannot serve HTTPS with {files}: {error}") from error
    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        log_level="warning",
        ws="websockets-sansio",
        ws_max_size=MAX_MESSAGE_BYTES,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
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

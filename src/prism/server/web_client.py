"""The web client's files (``static/watch/``): the page at ``/watch`` and what it loads.

The page is a client of the watch protocol like any watch (``watch_bridge/README.md``);
the server only hands out its files, each with its media type and headers: no caching
without revalidation (the page's service worker keeps copies for offline use), no
referrer (a pairing link carries a one-time code), and a content security policy that
lets the page load only its own files and talk only to its own origin.
"""

from __future__ import annotations

import re
from importlib import resources

from fastapi import HTTPException
from fastapi.responses import Response

from prism.server.errors import unknown

__all__ = ["WEB_CLIENT_FILES", "web_client_file", "web_client_page"]

WEB_CLIENT_FILES: dict[str, str] = {
    "watch.js": "text/javascript",
    "protocol.js": "text/javascript",
    "resample.js": "text/javascript",
    "capture-worklet.js": "text/javascript",
    "sw.js": "text/javascript",
    "watch.css": "text/css",
    "manifest.webmanifest": "application/manifest+json",
    "icon.svg": "image/svg+xml",
    "icon-192.png": "image/png",
    "icon-512.png": "image/png",
}
"""The files of ``static/watch/`` served under ``/watch/``, with their media types."""

_HOST = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


def _headers(host: str | None) -> dict[str, str]:
    """Headers of every web-client response; ``host`` is the request's ``Host`` (used
    in the policy only when it is a plain host name or address, with a port)."""
    sockets = f" ws://{host} wss://{host}" if host and _HOST.fullmatch(host) else ""
    policy = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self'{sockets}; worker-src 'self'; manifest-src 'self'; "
        "media-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    )
    return {
        "Cache-Control": "no-cache",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": policy,
    }


def _read(name: str) -> bytes:
    return (resources.files("prism.server") / "static" / "watch" / name).read_bytes()


def web_client_page(host: str | None) -> Response:
    """The page itself (``GET /watch``)."""
    return Response(_read("index.html"), media_type="text/html", headers=_headers(host))


def web_client_file(name: str, host: str | None) -> Response:
    """One of :data:`WEB_CLIENT_FILES` (``GET /watch/{name}``). The service worker may
    control the page at ``/watch``, one level up from its own address.

    Raises
    ------
    HTTPException
        404 for any other name.
    """
    media_type = WEB_CLIENT_FILES.get(name)
    if media_type is None:
        raise HTTPException(404, unknown("file", name))
    headers = _headers(host)
    if name == "sw.js":
        headers["Service-Worker-Allowed"] = "../watch"
    return Response(_read(name), media_type=media_type, headers=headers)

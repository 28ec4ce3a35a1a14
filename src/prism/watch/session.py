"""The service's REST API as its clients use it: opening a session (what a watch's
companion app does), asking for a pairing code or a reload of the tasks and models
folders (what a researcher does)."""

from __future__ import annotations

from typing import Any

import httpx

from prism.errors import SessionRequestError

__all__ = [
    "OPEN_TIMEOUT_S",
    "SessionRequestError",
    "open_session",
    "request_pairing",
    "request_reload",
]


OPEN_TIMEOUT_S = 120.0
"""How long opening a session may take: the first session of a procedure loads its model
and warms its caches (seconds; longer on a busy machine)."""


def open_session(server: str, admin_token: str, task: str) -> tuple[str, str]:
    """Register a device with the admin token and open a session of ``task``.

    Returns
    -------
    token : str
        The new device's token.
    session_id : str

    Raises
    ------
    SessionRequestError
        If the service cannot be reached or refuses either request (the message has its
        status and reply).
    """
    try:
        with httpx.Client(base_url=server, timeout=10.0) as http:
            device = http.post(
                "/v1/devices",
                json={"name": "replay"},
                headers={"Authorization": f"Bearer {admin_token}"},
            )
            if device.status_code != 200:
                raise SessionRequestError(
                    f"registering a device failed ({device.status_code}): {device.text}"
                )
            token = device.json()["token"]
            session = http.post(
                "/v1/sessions",
                json={"procedure": task},
                headers={"Authorization": f"Bearer {token}"},
                timeout=OPEN_TIMEOUT_S,
            )
            if session.status_code != 200:
                raise SessionRequestError(
                    f"creating a session failed ({session.status_code}): {session.text}"
                )
    except httpx.HTTPError as error:
        raise SessionRequestError(f"cannot reach the service at {server}: {error}") from None
    return token, str(session.json()["session_id"])


def request_pairing(server: str, admin_token: str, task: str) -> dict[str, Any]:
    """Ask the service for a pairing code of ``task`` (``POST /v1/pairings``).

    Returns
    -------
    dict
        ``code``, ``task``, ``expires_at`` (Unix s), ``url`` (the web client's link with
        the code) and ``qr_svg`` (that link as a QR code).

    Raises
    ------
    SessionRequestError
        If the service cannot be reached or refuses (the message has its status and reply).
    """
    return _admin_post(server, admin_token, "/v1/pairings", {"task": task}, "making a pairing")


def request_reload(server: str, admin_token: str) -> dict[str, Any]:
    """Have the service read its tasks and models folders again (``POST
    /v1/admin/reload``).

    Returns
    -------
    dict
        ``added``, ``changed``, ``removed`` (procedure ids), ``broken`` (id: why),
        ``models`` and ``privacy_models`` (the ids with a model).

    Raises
    ------
    SessionRequestError
        If the service cannot be reached or refuses (the message has its status and reply).
    """
    return _admin_post(server, admin_token, "/v1/admin/reload", None, "reloading")


def _admin_post(
    server: str, admin_token: str, path: str, body: dict[str, Any] | None, what: str
) -> dict[str, Any]:
    """POST ``body`` (JSON) to an admin endpoint; its JSON reply."""
    try:
        with httpx.Client(base_url=server, timeout=OPEN_TIMEOUT_S) as http:
            reply = http.post(path, json=body, headers={"Authorization": f"Bearer {admin_token}"})
    except httpx.HTTPError as error:
        raise SessionRequestError(f"cannot reach the service at {server}: {error}") from None
    if reply.status_code == 401:
        raise SessionRequestError(f"{what} refused (401): the admin token is wrong or missing")
    if reply.status_code != 200:
        raise SessionRequestError(f"{what} failed ({reply.status_code}): {reply.text}")
    answer: dict[str, Any] = reply.json()
    return answer

"""The service's REST API as its clients use it: opening a session (what a watch's
companion app does), asking for a pairing code or a reload of the tasks and models
folders, or a recording session's recording (what a researcher does)."""

from __future__ import annotations

from typing import Any

import httpx

from prism.errors import SessionRequestError

__all__ = [
    "OPEN_TIMEOUT_S",
    "SessionRequestError",
    "download_recording",
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


def download_recording(server: str, admin_token: str, session_id: str) -> bytes:
    """A recording session's recording zip (``GET /v1/sessions/{id}/recording``).

    Raises
    ------
    SessionRequestError
        If the service cannot be reached or refuses: the session is unknown (404), its
        device does not record (409), the token is wrong (401); the message has the
        service's reason.
    """
    try:
        with httpx.Client(base_url=server, timeout=OPEN_TIMEOUT_S) as http:
            reply = http.get(
                f"/v1/sessions/{session_id}/recording",
                headers={"Authorization": f"Bearer {admin_token}"},
            )
    except httpx.HTTPError as error:
        raise SessionRequestError(f"cannot reach the service at {server}: {error}") from None
    _check(reply, "exporting the recording")
    return reply.content


def _check(reply: httpx.Response, what: str) -> None:
    """Refuse a reply that is not 200, with its status and the service's reason."""
    if reply.status_code == 401:
        raise SessionRequestError(f"{what} failed (401): the admin token is wrong or missing")
    if reply.status_code != 200:
        try:
            reason = str(reply.json().get("detail", reply.text))
        except ValueError:
            reason = reply.text
        raise SessionRequestError(f"{what} failed ({reply.status_code}): {reason}")


def _admin_post(
    server: str, admin_token: str, path: str, body: dict[str, Any] | None, what: str
) -> dict[str, Any]:
    """POST ``body`` (JSON) to an admin endpoint; its JSON reply."""
    try:
        with httpx.Client(base_url=server, timeout=OPEN_TIMEOUT_S) as http:
            reply = http.post(path, json=body, headers={"Authorization": f"Bearer {admin_token}"})
    except httpx.HTTPError as error:
        raise SessionRequestError(f"cannot reach the service at {server}: {error}") from None
    _check(reply, what)
    answer: dict[str, Any] = reply.json()
    return answer

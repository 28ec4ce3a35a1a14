"""What the service refuses, as PrismError classes (defined in :mod:`prism.errors`).

The session registry, the device registry and the procedure cache raise these; the app
maps each class once to an HTTP status (REST) or to a protocol close code (the session
WebSocket), so nothing below the app knows about HTTP. This module re-exports them for
the server's modules and their users, with :func:`unknown`, the one wording of "no such
thing" (which never echoes a long name back).
"""

from __future__ import annotations

from prism.errors import (
    ConnectionStateError,
    DeviceNotFoundError,
    LabelsRefusedError,
    ModeRefusedError,
    NoUsableModelError,
    PairingNotFoundError,
    ProcedureNotFoundError,
    ProcedureUnusableError,
    RecordingUnavailableError,
    ServerStartError,
    ServiceError,
    SessionElsewhereError,
    SessionNotFoundError,
    TooManyDeviceSessionsError,
    TooManySessionsError,
    UnauthorizedError,
)

__all__ = [
    "ECHOED_NAME_MAX",
    "ConnectionStateError",
    "DeviceNotFoundError",
    "LabelsRefusedError",
    "ModeRefusedError",
    "NoUsableModelError",
    "PairingNotFoundError",
    "ProcedureNotFoundError",
    "ProcedureUnusableError",
    "RecordingUnavailableError",
    "ServerStartError",
    "ServiceError",
    "SessionElsewhereError",
    "SessionNotFoundError",
    "TooManyDeviceSessionsError",
    "TooManySessionsError",
    "UnauthorizedError",
    "unknown",
]

ECHOED_NAME_MAX = 64
"""Longest id a refusal repeats (characters); a longer one is left out."""


def unknown(what: str, name: str) -> str:
    """The refusal's text for a ``what`` (``"session"``, ``"procedure"``) named ``name``
    that does not exist, or that the caller may not see (the same words: no oracle).

    >>> unknown("session", "ses-1")
    "unknown session 'ses-1'"
    >>> unknown("session", "x" * 65)
    'unknown session'
    """
    if len(name) > ECHOED_NAME_MAX or not name.isprintable():
        return f"unknown {what}"
    return f"unknown {what} {name!r}"

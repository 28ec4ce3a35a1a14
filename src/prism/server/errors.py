"""What the service refuses, as PrismError classes (defined in :mod:`prism.errors`).

The session registry, the device registry and the procedure cache raise these; the app
maps each class once to an HTTP status (REST) or to a protocol close code (the session
WebSocket), so nothing below the app knows about HTTP. This module re-exports them for
the server's modules and their users.
"""

from __future__ import annotations

from prism.errors import (
    ConnectionStateError,
    DeviceNotFoundError,
    ForbiddenError,
    NoUsableModelError,
    ProcedureNotFoundError,
    ServerStartError,
    ServiceError,
    SessionElsewhereError,
    SessionNotFoundError,
    TooManySessionsError,
    UnauthorizedError,
)

__all__ = [
    "ConnectionStateError",
    "DeviceNotFoundError",
    "ForbiddenError",
    "NoUsableModelError",
    "ProcedureNotFoundError",
    "ServerStartError",
    "ServiceError",
    "SessionElsewhereError",
    "SessionNotFoundError",
    "TooManySessionsError",
    "UnauthorizedError",
]

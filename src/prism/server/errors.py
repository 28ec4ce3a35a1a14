"""What the service refuses, as PrISM errors.

The session registry, the device registry and the procedure cache raise these; the app
maps each class once to an HTTP status (REST) or to a protocol close code (the session
WebSocket), so nothing below the app knows about HTTP.
"""

from __future__ import annotations

from prism.errors import PrismError

__all__ = [
    "ConnectionStateError",
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


class ServiceError(PrismError):
    """A request the service refuses (the message says why)."""


class UnauthorizedError(ServiceError, PermissionError):
    """A device or admin token is missing or unknown."""


class ForbiddenError(ServiceError, PermissionError):
    """The session belongs to another device."""


class SessionNotFoundError(ServiceError, LookupError):
    """No session of that id."""


class ProcedureNotFoundError(ServiceError, LookupError):
    """No procedure of that id in the tasks folder."""


class NoUsableModelError(ServiceError):
    """A session cannot start: its procedure has no model the pipeline can use."""


class SessionElsewhereError(ServiceError):
    """Another service process serves (and writes) the session now."""


class TooManySessionsError(ServiceError):
    """The service holds ``max_sessions`` live sessions already."""


class ConnectionStateError(PrismError, RuntimeError):
    """A watch connection was asked for a transition its state does not allow."""


class ServerStartError(PrismError, RuntimeError):
    """The service did not start listening (the port in use, ...)."""

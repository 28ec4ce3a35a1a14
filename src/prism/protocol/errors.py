"""The protocol's error codes and the one exception every protocol rule raises.

:class:`ProtocolError` is the one PrISM error class not defined in :mod:`prism.errors`:
it carries its wire code (:class:`ErrorCode`) and builds the ``error`` message for the
watch, and :mod:`prism.errors` imports nothing from ``prism``.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from prism.errors import PrismError

__all__ = ["ErrorCode", "ProtocolError"]


class ErrorCode(IntEnum):
    """Protocol error codes (also WebSocket close codes for the fatal ones)."""

    BAD_FRAME = 4000
    UNSUPPORTED_VERSION = 4001
    TOO_LARGE = 4002
    SEQUENCE_GAP = 4003
    DUPLICATE = 4004
    TIME_BACKWARDS = 4005
    UNKNOWN_STEP = 4006
    RATE_LIMITED = 4008
    TOO_SLOW = 4009
    REPLACED = 4010
    HELLO_TIMEOUT = 4011
    TOO_MANY_CONNECTIONS = 4029
    UNAUTHORIZED = 4401
    FORBIDDEN = 4403
    UNKNOWN_SESSION = 4404
    UNAVAILABLE = 4503

    @property
    def fatal(self) -> bool:
        """Whether the connection must close (see the spec's table)."""
        return self in (
            ErrorCode.TOO_SLOW,
            ErrorCode.REPLACED,
            ErrorCode.HELLO_TIMEOUT,
            ErrorCode.TOO_MANY_CONNECTIONS,
            ErrorCode.UNSUPPORTED_VERSION,
            ErrorCode.UNAUTHORIZED,
            ErrorCode.FORBIDDEN,
            ErrorCode.UNKNOWN_SESSION,
        )


class ProtocolError(PrismError, ValueError):
    """A message breaks the protocol.

    Attributes
    ----------
    code : ErrorCode
    ref_seq : int or None
        The offending message's sequence number, when it could be read.
    """

    def __init__(self, code: ErrorCode, message: str, ref_seq: int | None = None) -> None:
        super().__init__(f"{code.name.lower()} ({int(code)}): {message}")
        self.code = code
        self.ref_seq = ref_seq

    def to_message(self) -> dict[str, Any]:
        """The ``error`` message for the watch (unnumbered: ``seq`` 0)."""
        return {
            "type": "error",
            "seq": 0,
            "code": int(self.code),
            "message": str(self),
            "ref_seq": self.ref_seq,
        }

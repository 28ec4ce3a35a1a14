"""Protocol error codes and ProtocolError: which codes close the connection, the error message."""

from __future__ import annotations

import pytest

from prism.errors import PrismError
from prism.protocol import ErrorCode, ProtocolError

FATAL = {
    ErrorCode.UNSUPPORTED_VERSION,
    ErrorCode.TOO_SLOW,
    ErrorCode.REPLACED,
    ErrorCode.UNAUTHORIZED,
    ErrorCode.FORBIDDEN,
    ErrorCode.UNKNOWN_SESSION,
}


@pytest.mark.parametrize("code", list(ErrorCode), ids=lambda code: code.name.lower())
def test_the_fatal_codes_are_those_the_spec_closes_the_connection_with(code: ErrorCode) -> None:
    assert code.fatal == (code in FATAL)


def test_fatal_codes_spot_checks() -> None:
    assert ErrorCode.UNAUTHORIZED.fatal and not ErrorCode.DUPLICATE.fatal


def test_a_protocol_error_becomes_an_unnumbered_error_message() -> None:
    error = ProtocolError(ErrorCode.SEQUENCE_GAP, "seq 9 skips ahead", 9)
    assert isinstance(error, PrismError) and isinstance(error, ValueError)
    assert error.to_message() == {
        "type": "error",
        "seq": 0,
        "code": 4003,
        "message": "sequence_gap (4003): seq 9 skips ahead",
        "ref_seq": 9,
    }

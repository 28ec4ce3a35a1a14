"""Protocol error codes and ProtocolError: which codes close the connection, the error message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from prism.errors import PrismError
from prism.protocol import ErrorCode, ProtocolError

SPEC = Path(__file__).resolve().parents[1] / "watch_bridge" / "PROTOCOL.md"


def _spec_rows() -> dict[int, tuple[str, str]]:
    """Code -> (name, *connection* column: ``open``/``closed``) of the spec's error table."""
    rows = re.findall(r"^\| +(\d{4}) \| `(\w+)` \| (\w+) \|", SPEC.read_text(), re.MULTILINE)
    return {int(code): (name, connection) for code, name, connection in rows}


FATAL = {
    ErrorCode(code)
    for code, (_, connection) in _spec_rows().items()
    if connection == "closed" and code in {int(known) for known in ErrorCode}
}


def test_the_spec_documents_every_code_by_its_name() -> None:
    rows = _spec_rows()
    assert {code: rows[code][0] for code in ErrorCode if code in rows} == {
        code: code.name.lower() for code in ErrorCode
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

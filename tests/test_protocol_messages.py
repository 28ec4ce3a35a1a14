"""JSON control messages of watch protocol v1: parsing, the documented error codes, fuzzing."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prism.protocol import (
    Ack,
    CorrectionMessage,
    ErrorCode,
    Hello,
    ProtocolError,
    parse_control,
)


def test_control_messages_parse_and_ignore_unknown_fields() -> None:
    hello = parse_control('{"type": "hello", "seq": 1, "protocol": 1, "resume_from": 7, "x": 1}')
    assert isinstance(hello, Hello) and hello.resume_from == 7
    correction = parse_control(
        json.dumps({"type": "correction", "seq": 2, "kind": "done", "step": "steam_milk", "t": 3})
    )
    assert isinstance(correction, CorrectionMessage) and correction.step == "steam_milk"
    assert isinstance(parse_control(b'{"type": "ack", "seq": 3, "up_to": 12}'), Ack)


@pytest.mark.parametrize(
    ("text", "code", "message"),
    [
        ("not json", ErrorCode.BAD_FRAME, "not JSON"),
        ('{"type": "dance", "seq": 1}', ErrorCode.BAD_FRAME, "bad control message"),
        (
            '{"type": "correction", "seq": 4, "kind": "maybe", "step": "x", "t": 1}',
            ErrorCode.BAD_FRAME,
            "kind",
        ),
        ('{"type": "hello", "seq": 1, "protocol": 2}', ErrorCode.UNSUPPORTED_VERSION, "version 2"),
        (
            '{"type": "question", "seq": 1, "text": "' + "a" * 5000 + '", "t": 0}',
            ErrorCode.TOO_LARGE,
            "at most 4096",
        ),
        ('{"type": "question", "seq": 1, "text": "hi", "t": NaN}', ErrorCode.BAD_FRAME, "t"),
    ],
    ids=["json", "type", "field", "version", "size", "nan"],
)
def test_bad_control_messages(text: str, code: ErrorCode, message: str) -> None:
    with pytest.raises(ProtocolError, match=message) as caught:
        parse_control(text)
    assert caught.value.code == code


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@settings(max_examples=300)
@given(json_values, st.sampled_from(["hello", "question", "correction", "ack", "end", "x"]))
def test_any_json_parses_or_raises_a_protocol_error(value: object, kind: str) -> None:
    for candidate in (value, {"type": kind, "seq": 1, "payload": value}):
        try:
            parse_control(json.dumps(candidate))
        except ProtocolError as error:
            assert isinstance(error.code, ErrorCode)

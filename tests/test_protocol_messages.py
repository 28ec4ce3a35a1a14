"""JSON control messages of watch protocol v1: parsing, the documented error codes, fuzzing."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prism.protocol import (
    MAX_NESTING,
    Ack,
    CorrectionMessage,
    End,
    ErrorCode,
    Hello,
    ProtocolError,
    Question,
    nesting_depth,
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


# ---------------------------------------------------------------- nesting, strict types
def _depth(value: object) -> int:
    """How deeply arrays and objects nest in a parsed JSON value (the reference)."""
    if isinstance(value, list):
        return 1 + max((_depth(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(item) for item in value.values()), default=0)
    return 0


tricky_text = st.text(alphabet='[]{}"\\,:abc \n\t\u00e9', max_size=12)
nested = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | tricky_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky_text, inner, max_size=3),
    max_leaves=40,
)


@settings(max_examples=400)
@given(nested, st.booleans(), st.booleans())
def test_nesting_depth_matches_the_parsed_documents(
    value: object, ascii_only: bool, spaced: bool
) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only, indent=1 if spaced else None)
    assert nesting_depth(text) == _depth(json.loads(text))


@given(st.integers(0, 40), st.sampled_from(["[", '{"k":']))
def test_nesting_beyond_the_bound_is_refused_before_parsing(depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    inner = opener * depth + "0" + closer * depth
    text = '{"type": "ack", "seq": 1, "up_to": 0, "x": ' + inner + "}"
    if depth + 1 > MAX_NESTING:
        with pytest.raises(ProtocolError, match=f"nests {depth + 1} levels deep") as caught:
            parse_control(text)
        assert caught.value.code == ErrorCode.BAD_FRAME
    else:
        assert isinstance(parse_control(text), Ack)


@pytest.mark.parametrize(
    "text",
    ["[" * 4000, '{"a":' * 800, '["\\"' + "[" * 3000],
    ids=["arrays", "objects", "unterminated-string"],
)
def test_deeply_nested_text_of_4_kb_is_a_protocol_error_not_a_crash(text: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_control(text)
    assert caught.value.code == ErrorCode.BAD_FRAME


def test_brackets_in_strings_do_not_count() -> None:
    text = json.dumps({"type": "question", "seq": 1, "text": "[" * 100 + '\\"{' * 100, "t": 0})
    assert nesting_depth(text) == 1
    assert isinstance(parse_control(text), Question)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seq", "7"),
        ("seq", True),
        ("seq", 7.0),
        ("up_to", "3"),
        ("up_to", False),
        ("up_to", 3.0),
    ],
    ids=["seq-string", "seq-bool", "seq-float", "up_to-string", "up_to-bool", "up_to-float"],
)
def test_integers_must_be_json_integers(field: str, value: object) -> None:
    message = {"type": "ack", "seq": 7, "up_to": 3, field: value}
    with pytest.raises(ProtocolError, match=f"{field}: Input should be a valid integer") as caught:
        parse_control(json.dumps(message))
    assert caught.value.code == ErrorCode.BAD_FRAME


@pytest.mark.parametrize(
    ("message", "field", "problem"),
    [
        ({"type": "end", "seq": 1, "t": "3"}, "t", "valid number"),
        ({"type": "end", "seq": 1, "t": True}, "t", "valid number"),
        ({"type": "question", "seq": 1, "text": "hi", "t": None}, "t", "valid number"),
        (
            {"type": "reminder_action", "seq": 1, "reminder_id": 1, "action": "snooze",
             "snooze_s": "5"},
            "snooze_s",
            "valid number",
        ),
        ({"type": "reminder_action", "seq": 1, "reminder_id": "1", "action": "dismiss"},
         "reminder_id", "valid integer"),
        ({"type": "hello", "protocol": 1, "speech": 1}, "speech", "valid boolean"),
        ({"type": "hello", "protocol": 1, "speech": "true"}, "speech", "valid boolean"),
        ({"type": "hello", "protocol": "1"}, "protocol", "valid integer"),
        ({"type": "hello", "protocol": 1, "resume_from": 2.0}, "resume_from", "valid integer"),
        ({"type": "question", "seq": 1, "text": 5, "t": 0}, "text", "valid string"),
    ],
    ids=[
        "t-string", "t-bool", "t-null", "snooze-string", "reminder-id-string", "speech-int",
        "speech-string", "protocol-string", "resume-float", "text-int",
    ],
)  # fmt: skip
def test_strict_types_name_the_field(message: dict[str, object], field: str, problem: str) -> None:
    with pytest.raises(ProtocolError, match=f"{field}: Input should be a {problem}") as caught:
        parse_control(json.dumps(message))
    assert caught.value.code == ErrorCode.BAD_FRAME


@given(
    t=st.integers(0, 2**53) | st.floats(0, 1e9, allow_nan=False),
    seq=st.integers(1, 2**32 - 1),
)
def test_a_json_integer_or_float_is_a_valid_time(t: float, seq: int) -> None:
    end = parse_control(json.dumps({"type": "end", "seq": seq, "t": t}))
    assert isinstance(end, End) and end.t == float(t) and end.seq == seq


@given(st.one_of(st.none(), st.integers(), st.text(max_size=10), st.floats(), st.booleans()))
def test_hellos_seq_is_ignored(seq: object) -> None:
    for message in ({"type": "hello", "protocol": 1, "seq": seq}, {"type": "hello", "protocol": 1}):
        hello = parse_control(json.dumps(message))
        assert isinstance(hello, Hello) and not hasattr(hello, "seq")


def test_a_hello_of_another_version_refers_to_no_seq() -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_control('{"type": "hello", "seq": 4, "protocol": 2}')
    assert caught.value.code == ErrorCode.UNSUPPORTED_VERSION and caught.value.ref_seq is None


def test_text_that_is_not_utf8_is_a_bad_frame() -> None:
    with pytest.raises(ProtocolError, match="not UTF-8") as caught:
        parse_control(b'{"type": "ack", "seq": 1, "up_to": "\xff"}')
    assert caught.value.code == ErrorCode.BAD_FRAME

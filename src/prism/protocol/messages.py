"""JSON control messages of the watch protocol: their schema and the parser.

Pure validation, no I/O (``watch_bridge/PROTOCOL.md``, *Text frames*). Unknown fields are
ignored; every violation raises :class:`~prism.protocol.errors.ProtocolError` with the
documented code. Types are strict, as JSON has them: an integer field takes a JSON integer
only (not ``"7"``, ``true`` or ``7.0``), a time or number a JSON number (an integer too),
a boolean ``true`` or ``false``. Nesting deeper than :data:`MAX_NESTING` is refused
before the text is parsed (:func:`nesting_depth`), so no message can make the parser
recurse deeply.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from prism.protocol.errors import ErrorCode, ProtocolError
from prism.protocol.frames import PROTOCOL_VERSION

__all__ = [
    "MAX_NESTING",
    "MAX_TEXT_BYTES",
    "Ack",
    "ControlMessage",
    "CorrectionMessage",
    "End",
    "Hello",
    "Mark",
    "Question",
    "ReminderAction",
    "nesting_depth",
    "parse_control",
]


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


class _Numbered(_Message):
    seq: int = Field(gt=0, lt=2**32)


class Hello(_Message):
    """First message of a connection (outside the sequence: its ``seq``, if any, is
    ignored)."""

    type: Literal["hello"]
    protocol: int
    resume_from: int = Field(default=0, ge=0)
    speech: bool = False
    """Send each answer also spoken (an ``ANSWER_AUDIO`` frame after the message)."""


class Question(_Numbered):
    """A question as text."""

    type: Literal["question"]
    text: str = Field(min_length=1, max_length=500)
    t: float = Field(ge=0, allow_inf_nan=False)


class CorrectionMessage(_Numbered):
    """The user corrects the step state."""

    type: Literal["correction"]
    kind: Literal["done", "at", "not_done"]
    step: str = Field(min_length=1, max_length=200)
    t: float = Field(ge=0, allow_inf_nan=False)


class Mark(_Numbered):
    """In a recording session, the user marks where a step starts: ``step`` (an id)
    starts at ``t``, or ``None``: from ``t`` the user is between steps (or doing
    something else). Also a correction "at ``step``" of the step state."""

    type: Literal["mark"]
    step: str | None = Field(min_length=1, max_length=200)
    t: float = Field(ge=0, allow_inf_nan=False)


class ReminderAction(_Numbered):
    """The user answers a reminder."""

    type: Literal["reminder_action"]
    reminder_id: int = Field(gt=0)
    action: Literal["acknowledge", "snooze", "dismiss"]
    snooze_s: float | None = Field(default=None, ge=0, le=3600, allow_inf_nan=False)


class Ack(_Numbered):
    """Server messages up to ``up_to`` were received."""

    type: Literal["ack"]
    up_to: int = Field(ge=0)


class End(_Numbered):
    """The session is over."""

    type: Literal["end"]
    t: float = Field(ge=0, allow_inf_nan=False)


ControlMessage = Annotated[
    Hello | Question | CorrectionMessage | Mark | ReminderAction | Ack | End,
    Field(discriminator="type"),
]
_CONTROL: TypeAdapter[Any] = TypeAdapter(ControlMessage)
MAX_TEXT_BYTES = 4096
"""Longest text frame accepted (bytes)."""
MAX_NESTING = 16
"""Deepest nesting of JSON arrays and objects accepted in a text frame."""


def nesting_depth(text: str) -> int:
    """How deeply the arrays and objects of JSON ``text`` nest, read without parsing.

    Brackets inside strings (escapes included) do not count; the text need not be valid
    JSON (for invalid text this is the depth a parser reaches before it fails, or more).
    One pass, no recursion, constant memory.

    Examples
    --------
    >>> nesting_depth('{"a": [1, {"b": "]]{{"}]}')
    3
    >>> nesting_depth("7")
    0
    """
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def parse_control(
    text: str | bytes,
) -> Hello | Question | CorrectionMessage | Mark | ReminderAction | Ack | End:
    """Parse and validate a JSON control message (unknown fields are ignored).

    Raises
    ------
    ProtocolError
        ``TOO_LARGE`` over :data:`MAX_TEXT_BYTES`; ``BAD_FRAME`` for text that is not
        UTF-8, nests deeper than :data:`MAX_NESTING` or is not JSON, an unknown ``type``
        or a bad field (the message names it); ``UNSUPPORTED_VERSION`` for a ``hello``
        with another protocol version.
    """
    size = len(text.encode() if isinstance(text, str) else text)
    if size > MAX_TEXT_BYTES:
        raise ProtocolError(
            ErrorCode.TOO_LARGE, f"text frame of {size} bytes, at most {MAX_TEXT_BYTES} allowed"
        )
    try:
        decoded = text if isinstance(text, str) else text.decode()
    except UnicodeDecodeError as error:
        raise ProtocolError(ErrorCode.BAD_FRAME, f"text frame is not UTF-8 ({error})") from None
    depth = nesting_depth(decoded)
    if depth > MAX_NESTING:
        raise ProtocolError(
            ErrorCode.BAD_FRAME,
            f"text frame nests {depth} levels deep, at most {MAX_NESTING} allowed",
        )
    try:
        data = json.loads(decoded)
    except json.JSONDecodeError as error:
        raise ProtocolError(ErrorCode.BAD_FRAME, f"text frame is not JSON ({error})") from None
    seq = data.get("seq") if isinstance(data, dict) and data.get("type") != "hello" else None
    ref = seq if isinstance(seq, int) and not isinstance(seq, bool) and 0 < seq < 2**32 else None
    try:
        message = _CONTROL.validate_python(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'message'}: {e['msg']}"
            for e in error.errors()[:3]
        )
        raise ProtocolError(ErrorCode.BAD_FRAME, f"bad control message: {problems}", ref) from None
    if isinstance(message, Hello) and message.protocol != PROTOCOL_VERSION:
        raise ProtocolError(
            ErrorCode.UNSUPPORTED_VERSION,
            f"protocol version {message.protocol} is not supported (only {PROTOCOL_VERSION})",
        )
    return message  # type: ignore[no-any-return]

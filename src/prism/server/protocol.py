"""The watch protocol, version 1: binary sensor frames and JSON control messages.

Pure encode/decode and validation, no I/O (the transport lives in the server). The
specification is ``watch_bridge/PROTOCOL.md``; every rule there that concerns a single
message or the order of messages is enforced here, and every violation raises
:class:`ProtocolError` with the documented code, never anything else.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from prism.errors import PrismError

__all__ = [
    "HEADER",
    "MAGIC",
    "MAX_SAMPLES",
    "PROTOCOL_VERSION",
    "Ack",
    "ControlMessage",
    "CorrectionMessage",
    "End",
    "ErrorCode",
    "FrameKind",
    "Hello",
    "ProtocolError",
    "Question",
    "ReminderAction",
    "SensorFrame",
    "SequenceChecker",
    "StreamClock",
    "decode_frame",
    "encode_frame",
    "parse_control",
]

MAGIC = b"PW"
PROTOCOL_VERSION = 1
HEADER = struct.Struct("<2sBBIdIf")
"""magic, version, kind, seq (u32), t0 (f64 s), n (u32), rate (f32 Hz): 24 bytes."""
AUDIO_RATE_HZ = 16_000.0
TIME_TOLERANCE_S = 0.05
"""How far a stream may go back in time between frames (clock jitter), seconds."""


class FrameKind(IntEnum):
    """What a binary frame carries."""

    IMU = 1
    AUDIO = 2
    QUESTION_AUDIO = 3
    ANSWER_AUDIO = 4
    """Server to watch only: an answer spoken (``seq`` is the answer message's)."""


MAX_SAMPLES = {
    FrameKind.IMU: 500,
    FrameKind.AUDIO: 32_000,
    FrameKind.QUESTION_AUDIO: 480_000,
    FrameKind.ANSWER_AUDIO: 480_000,
}
"""Most samples per frame, by kind (10 s of IMU, 2 s of audio, a 30 s question)."""

_SAMPLE_BYTES = {
    FrameKind.IMU: 24,
    FrameKind.AUDIO: 2,
    FrameKind.QUESTION_AUDIO: 2,
    FrameKind.ANSWER_AUDIO: 2,
}


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
    UNAUTHORIZED = 4401
    FORBIDDEN = 4403
    UNKNOWN_SESSION = 4404

    @property
    def fatal(self) -> bool:
        """Whether the connection must close (see the spec's table)."""
        return self in (
            ErrorCode.TOO_SLOW,
            ErrorCode.REPLACED,
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


@dataclass(frozen=True)
class SensorFrame:
    """A decoded binary frame.

    Attributes
    ----------
    kind : FrameKind
    seq : int
    t0 : float
        Time of the first sample (s since the session started).
    rate : float
        Sample rate (Hz).
    samples : np.ndarray
        IMU: shape ``(n, 6)`` float32 (m/s^2, rad/s); audio: shape ``(n,)`` float32 in
        [-1, 1].
    """

    kind: FrameKind
    seq: int
    t0: float
    rate: float
    samples: np.ndarray

    @property
    def duration_s(self) -> float:
        """Time the samples cover (s)."""
        return len(self.samples) / self.rate

    @property
    def end_s(self) -> float:
        """Time just after the last sample (s)."""
        return self.t0 + self.duration_s


def _check_header(kind: FrameKind, seq: int, t0: float, n: int, rate: float) -> None:
    if not 0 < seq < 2**32:
        raise ProtocolError(ErrorCode.BAD_FRAME, f"seq must be in [1, 2^32), got {seq}")
    if not (math.isfinite(t0) and t0 >= 0.0):
        raise ProtocolError(ErrorCode.BAD_FRAME, f"t0 must be a finite time >= 0 s, got {t0}", seq)
    if n > MAX_SAMPLES[kind]:
        raise ProtocolError(
            ErrorCode.TOO_LARGE,
            f"{kind.name.lower()} frame holds {n} samples, at most {MAX_SAMPLES[kind]} allowed",
            seq,
        )
    if kind == FrameKind.IMU:
        if not (math.isfinite(rate) and 1.0 <= rate <= 1000.0):
            raise ProtocolError(
                ErrorCode.BAD_FRAME, f"IMU rate must be in [1, 1000] Hz, got {rate}", seq
            )
    elif rate != AUDIO_RATE_HZ:
        raise ProtocolError(ErrorCode.BAD_FRAME, f"audio rate must be 16000 Hz, got {rate}", seq)


def encode_frame(frame: SensorFrame) -> bytes:
    """The bytes of a binary frame (see ``watch_bridge/PROTOCOL.md``).

    Raises
    ------
    ProtocolError
        If the frame could not be decoded by the other side (bad shape, too many
        samples, non-finite values, bad header fields).
    """
    kind = FrameKind(frame.kind)
    samples = np.asarray(frame.samples)
    n = len(samples)
    _check_header(kind, frame.seq, frame.t0, n, frame.rate)
    if kind == FrameKind.IMU:
        if samples.shape != (n, 6) or not np.isfinite(samples).all():
            raise ProtocolError(
                ErrorCode.BAD_FRAME,
                f"IMU samples must be finite, shape (n, 6), got {samples.shape}",
            )
        payload = samples.astype("<f4").tobytes()
    else:
        if samples.ndim != 1 or not np.isfinite(samples).all():
            raise ProtocolError(
                ErrorCode.BAD_FRAME,
                f"audio samples must be finite, shape (n,), got {samples.shape}",
            )
        pcm = np.clip(np.round(samples * 32768.0), -32768, 32767).astype("<i2")
        payload = pcm.tobytes()
    header = HEADER.pack(MAGIC, PROTOCOL_VERSION, kind, frame.seq, frame.t0, n, frame.rate)
    return header + payload


def decode_frame(data: bytes) -> SensorFrame:
    """Decode and validate a binary frame.

    Raises
    ------
    ProtocolError
        ``BAD_FRAME`` (short, wrong magic, unknown kind, payload length not matching
        ``n``, bad time or rate, non-finite IMU values), ``UNSUPPORTED_VERSION``,
        ``TOO_LARGE``.
    """
    if len(data) < HEADER.size:
        raise ProtocolError(
            ErrorCode.BAD_FRAME, f"frame of {len(data)} bytes is shorter than the 24-byte header"
        )
    magic, version, kind_code, seq, t0, n, rate = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ProtocolError(ErrorCode.BAD_FRAME, f"frame must start with b'PW', got {magic!r}")
    if version != PROTOCOL_VERSION:
        raise ProtocolError(
            ErrorCode.UNSUPPORTED_VERSION,
            f"protocol version {version} is not supported (only {PROTOCOL_VERSION})",
            seq or None,
        )
    try:
        kind = FrameKind(kind_code)
    except ValueError:
        raise ProtocolError(
            ErrorCode.BAD_FRAME,
            f"unknown frame kind {kind_code} (1 IMU, 2 audio, 3 question, 4 answer)",
            seq,
        ) from None
    _check_header(kind, seq, t0, n, rate)
    expected = HEADER.size + n * _SAMPLE_BYTES[kind]
    if len(data) != expected:
        raise ProtocolError(
            ErrorCode.BAD_FRAME,
            f"{kind.name.lower()} frame with n={n} must be {expected} bytes, got {len(data)}",
            seq,
        )
    payload = data[HEADER.size :]
    if kind == FrameKind.IMU:
        samples = np.frombuffer(payload, dtype="<f4").reshape(n, 6).astype(np.float32)
        if not np.isfinite(samples).all():
            raise ProtocolError(ErrorCode.BAD_FRAME, "IMU samples must be finite numbers", seq)
    else:
        samples = np.frombuffer(payload, dtype="<i2").astype(np.float32) / 32768.0
    return SensorFrame(kind, seq, float(t0), float(rate), samples)


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    seq: int = Field(gt=0, lt=2**32)


class Hello(_Message):
    """First message of a connection."""

    type: Literal["hello"]
    protocol: int
    resume_from: int = Field(default=0, ge=0)
    speech: bool = False
    """Send each answer also spoken (an ``ANSWER_AUDIO`` frame after the message)."""


class Question(_Message):
    """A question as text."""

    type: Literal["question"]
    text: str = Field(min_length=1, max_length=500)
    t: float = Field(ge=0, allow_inf_nan=False)


class CorrectionMessage(_Message):
    """The user corrects the step state."""

    type: Literal["correction"]
    kind: Literal["done", "at", "not_done"]
    step: str = Field(min_length=1, max_length=200)
    t: float = Field(ge=0, allow_inf_nan=False)


class ReminderAction(_Message):
    """The user answers a reminder."""

    type: Literal["reminder_action"]
    reminder_id: int = Field(gt=0)
    action: Literal["acknowledge", "snooze", "dismiss"]
    snooze_s: float | None = Field(default=None, ge=0, le=3600, allow_inf_nan=False)


class Ack(_Message):
    """Server messages up to ``up_to`` were received."""

    type: Literal["ack"]
    up_to: int = Field(ge=0)


class End(_Message):
    """The session is over."""

    type: Literal["end"]
    t: float = Field(ge=0, allow_inf_nan=False)


ControlMessage = Annotated[
    Hello | Question | CorrectionMessage | ReminderAction | Ack | End,
    Field(discriminator="type"),
]
_CONTROL: TypeAdapter[Any] = TypeAdapter(ControlMessage)
MAX_TEXT_BYTES = 4096
"""Longest text frame accepted (bytes)."""


def parse_control(
    text: str | bytes,
) -> Hello | Question | CorrectionMessage | ReminderAction | Ack | End:
    """Parse and validate a JSON control message (unknown fields are ignored).

    Raises
    ------
    ProtocolError
        ``TOO_LARGE`` over :data:`MAX_TEXT_BYTES`; ``BAD_FRAME`` for invalid JSON, an
        unknown ``type`` or a bad field (the message names it); ``UNSUPPORTED_VERSION``
        for a ``hello`` with another protocol version.
    """
    size = len(text.encode() if isinstance(text, str) else text)
    if size > MAX_TEXT_BYTES:
        raise ProtocolError(
            ErrorCode.TOO_LARGE, f"text frame of {size} bytes, at most {MAX_TEXT_BYTES} allowed"
        )
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ProtocolError(ErrorCode.BAD_FRAME, f"text frame is not JSON ({error})") from None
    seq = data.get("seq") if isinstance(data, dict) else None
    ref = seq if isinstance(seq, int) and not isinstance(seq, bool) and seq > 0 else None
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
            message.seq,
        )
    return message  # type: ignore[no-any-return]


class SequenceChecker:
    """Enforces the order of one direction's sequence numbers.

    Parameters
    ----------
    next_seq : int
        The first sequence number expected (1 for a new session; from the store when a
        session resumes).
    """

    def __init__(self, next_seq: int = 1) -> None:
        self.next_seq = next_seq

    def accept(self, seq: int) -> None:
        """Accept ``seq`` if it is the next one.

        Raises
        ------
        ProtocolError
            ``DUPLICATE`` for a number already accepted, ``SEQUENCE_GAP`` for one
            beyond the next expected (nothing changes in either case).
        """
        if seq < self.next_seq:
            raise ProtocolError(
                ErrorCode.DUPLICATE, f"seq {seq} was already processed (next: {self.next_seq})", seq
            )
        if seq > self.next_seq:
            raise ProtocolError(
                ErrorCode.SEQUENCE_GAP,
                f"seq {seq} skips ahead: resend from seq {self.next_seq}",
                seq,
            )
        self.next_seq += 1


class StreamClock:
    """Checks that each sensor stream moves forward in time (within jitter tolerance)."""

    def __init__(self) -> None:
        self._end: dict[FrameKind, float] = {}

    def state(self) -> dict[str, float]:
        """JSON-ready: stream name -> the end (s) of its latest frame."""
        return {kind.name.lower(): end for kind, end in self._end.items()}

    @classmethod
    def from_state(cls, state: Mapping[str, float]) -> StreamClock:
        """A clock as :meth:`state` saved it (unknown stream names are ignored)."""
        clock = cls()
        for kind in FrameKind:
            if kind.name.lower() in state:
                clock._end[kind] = float(state[kind.name.lower()])
        return clock

    def accept(self, frame: SensorFrame) -> None:
        """Accept ``frame`` if it does not go back in time on its stream.

        Raises
        ------
        ProtocolError
            ``TIME_BACKWARDS``, naming the stream and both times.
        """
        end = self._end.get(frame.kind)
        if end is not None and frame.t0 < end - TIME_TOLERANCE_S:
            raise ProtocolError(
                ErrorCode.TIME_BACKWARDS,
                f"{frame.kind.name.lower()} frame starts at {frame.t0:.3f} s, before the "
                f"previous one ended ({end:.3f} s)",
                frame.seq,
            )
        self._end[frame.kind] = max(frame.end_s, end or 0.0)

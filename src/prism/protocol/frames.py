"""Binary frames of the watch protocol: the header, the payload kinds and their codec.

Pure encode/decode and validation, no I/O. The layout is ``watch_bridge/PROTOCOL.md``'s
*Binary frames* table; every violation raises :class:`~prism.protocol.errors.ProtocolError`
with the documented code, never anything else.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from prism.protocol.errors import ErrorCode, ProtocolError

__all__ = [
    "AUDIO_RATES_HZ",
    "AUDIO_RATE_HZ",
    "HEADER",
    "MAGIC",
    "MAX_SAMPLES",
    "PRIVACY_AUDIO_RATE_HZ",
    "PROTOCOL_VERSION",
    "FrameKind",
    "SensorFrame",
    "decode_frame",
    "encode_frame",
]

MAGIC = b"PW"
PROTOCOL_VERSION = 1
HEADER = struct.Struct("<2sBBIdIf")
"""magic, version, kind, seq (u32), t0 (f64 s), n (u32), rate (f32 Hz): 24 bytes."""
AUDIO_RATE_HZ = 16_000.0
"""Sample rate (Hz) of a normal session's microphone audio, of spoken questions and of
spoken answers."""
PRIVACY_AUDIO_RATE_HZ = 1_000.0
"""Sample rate (Hz) of a privacy session's microphone audio (low-passed and decimated on
the device: no intelligible speech)."""
AUDIO_RATES_HZ = (AUDIO_RATE_HZ, PRIVACY_AUDIO_RATE_HZ)
"""The sample rates an audio chunk (kind 2) may have; its session says which one."""


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


def _frame_kind(code: int, seq: int) -> FrameKind:
    try:
        return FrameKind(code)
    except ValueError:
        raise ProtocolError(
            ErrorCode.BAD_FRAME,
            f"unknown frame kind {code} (1 IMU, 2 audio, 3 question, 4 answer)",
            seq,
        ) from None


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
    elif kind == FrameKind.AUDIO:
        if rate not in AUDIO_RATES_HZ:
            rates = " or ".join(f"{r:.0f}" for r in AUDIO_RATES_HZ)
            raise ProtocolError(
                ErrorCode.BAD_FRAME, f"audio rate must be {rates} Hz, got {rate}", seq
            )
    elif rate != AUDIO_RATE_HZ:
        raise ProtocolError(
            ErrorCode.BAD_FRAME, f"{kind.name.lower()} rate must be 16000 Hz, got {rate}", seq
        )


def encode_frame(frame: SensorFrame) -> bytes:
    """The bytes of a binary frame (see ``watch_bridge/PROTOCOL.md``).

    Raises
    ------
    ProtocolError
        If the frame could not be decoded by the other side (unknown kind, bad shape,
        too many samples, non-finite values, bad header fields).
    """
    kind = _frame_kind(frame.kind, frame.seq)
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
    kind = _frame_kind(kind_code, seq)
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

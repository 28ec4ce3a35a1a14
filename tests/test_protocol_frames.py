"""Binary frames of watch protocol v1: round trips, the documented error codes, fuzzing."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prism.protocol import (
    AUDIO_RATES_HZ,
    HEADER,
    MAX_SAMPLES,
    ErrorCode,
    FrameKind,
    ProtocolError,
    SensorFrame,
    decode_frame,
    encode_frame,
)

finite = st.floats(-1e4, 1e4, allow_nan=False, width=32)


@st.composite
def frames(draw: st.DrawFn) -> SensorFrame:
    kind = draw(st.sampled_from(list(FrameKind)))
    n = draw(st.integers(0, 40))
    seq = draw(st.integers(1, 2**32 - 1))
    t0 = draw(st.floats(0, 1e6, allow_nan=False))
    if kind == FrameKind.IMU:
        rate = draw(st.sampled_from([25.0, 50.0, 100.0]))
        values = draw(st.lists(finite, min_size=6 * n, max_size=6 * n))
        samples = np.array(values, dtype=np.float32).reshape(n, 6)
    else:  # microphone audio at either documented rate; questions and answers at 16 kHz
        rate = draw(st.sampled_from(AUDIO_RATES_HZ)) if kind == FrameKind.AUDIO else 16_000.0
        values = draw(st.lists(st.floats(-1, 1, width=32), min_size=n, max_size=n))
        samples = np.array(values, dtype=np.float32)
    return SensorFrame(kind, seq, t0, rate, samples)


@given(frames())
def test_frames_round_trip(frame: SensorFrame) -> None:
    decoded = decode_frame(encode_frame(frame))
    assert (decoded.kind, decoded.seq, decoded.t0, decoded.rate) == (
        frame.kind,
        frame.seq,
        frame.t0,
        frame.rate,
    )
    if frame.kind == FrameKind.IMU:
        np.testing.assert_array_equal(decoded.samples, frame.samples)
    else:  # 16-bit PCM
        np.testing.assert_allclose(decoded.samples, frame.samples, atol=1.0 / 32767 + 1e-6)


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_any_bytes_decode_or_raise_a_protocol_error(data: bytes) -> None:
    try:
        decode_frame(data)
    except ProtocolError as error:
        assert isinstance(error.code, ErrorCode)


@settings(max_examples=200)
@given(frames(), st.data())
def test_corrupted_frames_never_crash_the_decoder(frame: SensorFrame, data: st.DataObject) -> None:
    raw = bytearray(encode_frame(frame))
    position = data.draw(st.integers(0, len(raw) - 1))
    raw[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    try:
        decoded = decode_frame(bytes(raw[:cut]))
    except ProtocolError:
        return
    assert decoded.samples.shape[0] <= MAX_SAMPLES[decoded.kind]


def _header(
    kind: int = 1, version: int = 1, seq: int = 1, t0: float = 0.0, n: int = 0, rate: float = 50.0
) -> bytes:
    return HEADER.pack(b"PW", version, kind, seq, t0, n, rate)


def test_a_frame_of_an_unknown_kind_cannot_be_encoded() -> None:
    frame = SensorFrame(9, 1, 0.0, 50.0, np.zeros((1, 6), np.float32))  # type: ignore[arg-type]
    with pytest.raises(ProtocolError, match="unknown frame kind 9") as caught:
        encode_frame(frame)
    assert caught.value.code == ErrorCode.BAD_FRAME and caught.value.ref_seq == 1


@pytest.mark.parametrize(
    ("data", "code", "message"),
    [
        (b"PW\x01", ErrorCode.BAD_FRAME, "shorter than the 24-byte header"),
        (b"XX" + _header()[2:], ErrorCode.BAD_FRAME, "must start with b'PW'"),
        (_header(version=2), ErrorCode.UNSUPPORTED_VERSION, "version 2"),
        (_header(kind=9), ErrorCode.BAD_FRAME, "unknown frame kind 9"),
        (_header(n=2), ErrorCode.BAD_FRAME, "must be 72 bytes, got 24"),
        (_header(n=501), ErrorCode.TOO_LARGE, "at most 500"),
        (_header(t0=float("nan")), ErrorCode.BAD_FRAME, "t0 must be a finite time"),
        (_header(t0=-1.0), ErrorCode.BAD_FRAME, "t0 must be a finite time"),
        (_header(kind=2, rate=8000.0), ErrorCode.BAD_FRAME, "audio rate must be 16000 or 1000"),
        (_header(kind=3, rate=1000.0), ErrorCode.BAD_FRAME, "question_audio rate must be 16000"),
        (_header(seq=0), ErrorCode.BAD_FRAME, "seq must be in"),
        (
            _header(n=1) + struct.pack("<6f", 0, 0, float("inf"), 0, 0, 0),
            ErrorCode.BAD_FRAME,
            "finite",
        ),
    ],
    ids=[
        "short",
        "magic",
        "version",
        "kind",
        "length",
        "oversized",
        "nan-time",
        "negative-time",
        "audio-rate",
        "question-rate",
        "seq-zero",
        "inf-sample",
    ],
)
def test_bad_frames_get_the_documented_code(data: bytes, code: ErrorCode, message: str) -> None:
    with pytest.raises(ProtocolError, match=message) as caught:
        decode_frame(data)
    assert caught.value.code == code

"""Tests for prism.sensing.frame_streams: the IMU and audio streams equal the offline
features, keep memory bounded and check their input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prism.data.recording import AUDIO_RATE_HZ, clean_imu
from prism.errors import DataError
from prism.sensing.features import SensingError, audio_frames, imu_frames
from prism.sensing.frame_streams import AudioFrameStream, ImuFrameStream
from stream_chunks import FEW, chunks, raw_imu

STEPS = ("a", "b")


def stream_audio(stream: AudioFrameStream, audio: np.ndarray, sizes: list[int]) -> np.ndarray:
    parts = []
    for piece in chunks(audio.size, sizes):
        stream.push(audio[piece])
        parts.append(stream.pop())
    return np.concatenate(parts)


# --------------------------------------------------------------- feature streams
@FEW
@given(sizes=st.lists(st.integers(0, 9000), min_size=1, max_size=8).filter(any))
@pytest.mark.parametrize("privacy_rate", [None, 1000], ids=["16k", "1k"])
def test_audio_stream_equals_offline(privacy_rate: int | None, sizes: list[int]) -> None:
    rng = np.random.default_rng(len(sizes))
    audio = (rng.normal(size=int(4.3 * AUDIO_RATE_HZ)) * 0.2).astype(np.float32)
    n_frames = 23
    stream = AudioFrameStream(privacy_rate=privacy_rate)
    head = stream_audio(stream, audio, sizes)
    stream.finish(n_frames)
    streamed = np.concatenate([head, stream.pop()])
    offline = audio_frames(audio, n_frames=n_frames, privacy_rate=privacy_rate)
    np.testing.assert_allclose(streamed, offline, atol=1e-5, rtol=0)


@FEW
@given(sizes=st.lists(st.integers(0, 70), min_size=1, max_size=8).filter(any))
@pytest.mark.parametrize("magnitude", [False, True], ids=["6ch", "7ch"])
def test_imu_stream_equals_offline(magnitude: bool, sizes: list[int]) -> None:
    rng = np.random.default_rng(len(sizes))
    times, values = raw_imu(rng, 6.0)
    n_frames = 31
    stream = ImuFrameStream(magnitude=magnitude)
    parts = []
    for piece in chunks(times.size, sizes):
        order = rng.permutation(piece.stop - piece.start)  # shuffled inside the chunk
        stream.push(times[piece][order], values[piece][order])
        parts.append(stream.pop())
    stream.finish(n_frames)
    streamed = np.concatenate([*parts, stream.pop()])
    offline = imu_frames(clean_imu(times, values), n_frames=n_frames, magnitude=magnitude)
    np.testing.assert_allclose(streamed, offline, atol=1e-5, rtol=0)


def test_audio_stream_memory_is_bounded(rng: np.random.Generator) -> None:
    stream = AudioFrameStream(privacy_rate=1000)
    for _ in range(60):
        stream.push(rng.normal(size=AUDIO_RATE_HZ).astype(np.float32) * 0.1)
        stream.pop()
    held = stream.held
    assert held["input_samples"] < 2 * AUDIO_RATE_HZ // 10
    assert held["columns"] <= 40 + 8
    # frame f needs audio up to f / 5 + 0.5 s (+ 18 ms of anti-aliasing filter): f <= 297
    assert stream.emitted == 298


def test_imu_stream_memory_is_bounded(rng: np.random.Generator) -> None:
    stream = ImuFrameStream()
    for second in range(60):
        times = second + np.arange(50) / 50
        stream.push(times, rng.normal(size=(50, 6)))
        stream.pop()
    assert stream.held["rows"] < 5 and stream.held["grid_samples"] <= 100 + 10


# ------------------------------------------------------------ IMU input handling
def test_late_imu_rows_raise_and_leave_the_state_unchanged(rng: np.random.Generator) -> None:
    times, values = raw_imu(rng, 4.0)
    stream = ImuFrameStream()
    stream.push(times[:100], values[:100])
    with pytest.raises(DataError, match=r"1 row\(s\) older than t = "):
        stream.push(times[[98, 150]], values[[98, 150]])
    stream.push(times[100:], values[100:])  # the rejected chunk left no trace
    stream.finish(20)
    offline = imu_frames(clean_imu(times, values), n_frames=20)
    np.testing.assert_allclose(stream.pop(), offline, atol=1e-5)


def test_late_imu_rows_can_be_dropped_and_counted(rng: np.random.Generator) -> None:
    times, values = raw_imu(rng, 4.0)
    stream = ImuFrameStream(late="drop")
    stream.push(times[:100], values[:100])
    stream.push(times[[50, 99, 100]], values[[50, 99, 100]])  # late, duplicate, new
    assert stream.dropped == 1
    assert stream.newest_time == times[100]


@pytest.mark.parametrize(
    ("times", "values", "match"),
    [
        (np.array([0.0, 0.02, 1.5]), np.zeros((3, 6)), "gap of 1.48 s at t = 0.02 s"),
        (
            np.arange(0, 2, 0.02),
            np.column_stack([np.r_[0.0, np.full(99, np.nan)], np.zeros((100, 5))]),
            "channel acc_x is NaN for 1.98 s from t = 0.00 s",
        ),
        (np.array([0.0, np.nan]), np.zeros((2, 6)), "timestamps contain NaN"),
        (np.zeros(3), np.zeros((3, 5)), r"values \(n, 6\)"),
    ],
    ids=["time-gap", "nan-run", "nan-time", "five-channels"],
)
def test_bad_imu_chunks_raise(times: np.ndarray, values: np.ndarray, match: str) -> None:
    with pytest.raises(DataError, match=match):
        ImuFrameStream().push(times, values)


def test_imu_stream_end_checks() -> None:
    stream = ImuFrameStream()
    stream.push(np.arange(0, 1, 0.02), np.column_stack([np.full(50, np.nan), np.zeros((50, 5))]))
    with pytest.raises(DataError, match="acc_x have no finite sample"):
        stream.finish(5)
    with pytest.raises(SensingError, match="late must be 'error' or 'drop'"):
        ImuFrameStream(late="sort")


def test_bad_audio_chunks_raise_and_are_not_used(rng: np.random.Generator) -> None:
    audio = rng.normal(size=AUDIO_RATE_HZ * 2) * 0.1
    stream = AudioFrameStream()
    stream.push(audio[:5000])
    with pytest.raises(DataError, match=r"NaN or infinite samples \(after 5000 samples\)"):
        stream.push(np.array([0.0, np.nan]))
    with pytest.raises(DataError, match="mono samples"):
        stream.push(np.zeros((4, 2)))
    stream.push(audio[5000:])
    stream.finish(10)
    np.testing.assert_allclose(stream.pop(), audio_frames(audio, n_frames=10), atol=1e-5)
    with pytest.raises(DataError, match="after finish"):
        stream.push(audio[:10])


# ------------------------------------------------------------ the classifier

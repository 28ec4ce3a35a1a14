"""Tests for prism.sensing.streaming: streaming equals offline, input handling, latency, memory."""

from __future__ import annotations

import pickle
import threading
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prism.data.annotations import AnnotatedSession, StepSegment
from prism.data.recording import AUDIO_RATE_HZ, Recording, clean_imu
from prism.errors import DataError
from prism.sensing.classifier import ActivityClassifier
from prism.sensing.features import SensingError, audio_frames, imu_frames
from prism.sensing.framing import frame_count
from prism.sensing.network import NetworkConfig
from prism.sensing.streaming import (
    AudioFrameStream,
    ImuFrameStream,
    StreamingClassifier,
    classify_streams,
)
from prism.sensing.training import TrainingConfig

STEPS = ("a", "b")
FEW = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def chunks(total: int, sizes: list[int]) -> list[slice]:
    """Cut ``range(total)`` into consecutive slices of the given sizes (cycled)."""
    out, start, i = [], 0, 0
    while start < total:
        stop = min(total, start + sizes[i % len(sizes)])
        out.append(slice(start, stop))
        start, i = stop, i + 1
    return out


def raw_imu(rng: np.random.Generator, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """~47 Hz jittered IMU rows with a few NaN values (not cleaned)."""
    times = np.arange(0.0, seconds, 0.021) + rng.uniform(
        0.0, 0.004, size=int(np.ceil(seconds / 0.021))
    )
    times = times[times <= seconds]
    values = rng.normal(size=(times.size, 6))
    values[:, 2] += 9.81
    values[30:40, 1] = np.nan
    values[77, :] = np.nan
    return times, values


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
def recording(rng: np.random.Generator, name: str, seconds: float = 9.3) -> Recording:
    times, values = raw_imu(rng, seconds)
    imu = clean_imu(times, values)
    audio = (rng.normal(size=int(seconds * AUDIO_RATE_HZ)) * 0.1).astype(np.float32)
    t = np.arange(audio.size) / AUDIO_RATE_HZ
    audio[t < 4.0] += (0.3 * np.sin(2 * np.pi * 440 * t[t < 4.0])).astype(np.float32)
    segments = (StepSegment("a", 0.5, 4.0), StepSegment("b", 5.0, 8.0))
    annotation = AnnotatedSession(name, "toy", segments, seconds)
    return Recording(name, "toy", annotation, imu, audio, {"synthetic": True})


@pytest.fixture(scope="module", params=["early", "late"])
def model(request: pytest.FixtureRequest) -> ActivityClassifier:
    """A barely trained model (early or late fusion): streaming must equal offline
    whatever the weights."""
    rng = np.random.default_rng(0)
    config = TrainingConfig(
        max_epochs=1,
        threads=1,
        validation_fraction=0.5,
        network=NetworkConfig(
            embedding_size=8, hidden_size=12, context_levels=3, fusion=request.param
        ),
    )
    return ActivityClassifier(STEPS, config=config).fit([recording(rng, f"r{i}") for i in range(2)])


@pytest.fixture(scope="module")
def session() -> Recording:
    return recording(np.random.default_rng(5), "live", seconds=11.7)


def stream_recording(
    stream: StreamingClassifier, rec: Recording, imu_sizes: list[int], audio_sizes: list[int]
) -> np.ndarray:
    assert rec.imu is not None and rec.audio is not None
    imu_pieces = chunks(rec.imu.times.size, imu_sizes)
    audio_pieces = chunks(rec.audio.size, audio_sizes)
    rows = []
    for i in range(max(len(imu_pieces), len(audio_pieces))):
        if i < len(imu_pieces) and "imu" in stream.modalities:
            piece = imu_pieces[i]
            stream.push_imu(rec.imu.times[piece], rec.imu.values[piece])
        if i < len(audio_pieces) and "audio" in stream.modalities:
            stream.push_audio(rec.audio[audio_pieces[i]])
        rows.append(stream.pop_frames())
    rows.append(stream.finish(duration_s=rec.duration))
    return np.concatenate(rows)


@FEW
@given(
    imu_sizes=st.lists(st.integers(1, 80), min_size=1, max_size=6),
    audio_sizes=st.lists(st.integers(400, 12000), min_size=1, max_size=6),
)
def test_streaming_equals_predict_proba(
    model: ActivityClassifier, session: Recording, imu_sizes: list[int], audio_sizes: list[int]
) -> None:
    streamed = stream_recording(StreamingClassifier(model), session, imu_sizes, audio_sizes)
    np.testing.assert_allclose(streamed, model.predict_proba(session), atol=1e-5, rtol=0)


BATCHED_MODALITIES = (("imu", "audio"), ("imu",), ("audio",), ("imu", "audio"))


@FEW
@given(
    imu_sizes=st.lists(st.integers(1, 80), min_size=4, max_size=4),
    audio_sizes=st.lists(st.integers(400, 12000), min_size=4, max_size=4),
)
def test_batched_streams_equal_their_own_offline_rows(
    model: ActivityClassifier, session: Recording, imu_sizes: list[int], audio_sizes: list[int]
) -> None:
    """Sessions classified together (each chunked its own way, so a call finds different
    numbers of ready frames per session, often none) get the rows each gets alone."""
    assert session.imu is not None and session.audio is not None
    streams = [StreamingClassifier(model, modalities=m) for m in BATCHED_MODALITIES]
    imu_pieces = [chunks(session.imu.times.size, [size]) for size in imu_sizes]
    audio_pieces = [chunks(session.audio.size, [size]) for size in audio_sizes]
    rows: list[list[np.ndarray]] = [[] for _ in streams]
    for i in range(max(len(p) for p in [*imu_pieces, *audio_pieces])):
        for stream, imu_piece, audio_piece in zip(streams, imu_pieces, audio_pieces, strict=True):
            if i < len(imu_piece) and "imu" in stream.modalities:
                piece = imu_piece[i]
                stream.push_imu(session.imu.times[piece], session.imu.values[piece])
            if i < len(audio_piece) and "audio" in stream.modalities:
                stream.push_audio(session.audio[audio_piece[i]])
        for own, out in zip(rows, classify_streams(streams), strict=True):
            own.append(out)
    for stream, own in zip(streams, rows, strict=True):
        got = np.concatenate([*own, stream.finish(duration_s=session.duration)])
        offline = model.predict_proba(session, modalities=stream.modalities)
        np.testing.assert_allclose(got, offline, atol=1e-5, rtol=0)


def test_classify_streams_refuses_a_stream_twice(model: ActivityClassifier) -> None:
    stream = StreamingClassifier(model)
    with pytest.raises(SensingError, match="same stream twice"):
        classify_streams([stream, stream])


@pytest.mark.parametrize("modalities", [("imu",), ("audio",)], ids=["imu-only", "audio-only"])
def test_streaming_with_one_modality_equals_offline(
    model: ActivityClassifier, session: Recording, modalities: tuple[str, ...]
) -> None:
    stream = StreamingClassifier(model, modalities=modalities)
    streamed = stream_recording(stream, session, [37], [5000])
    offline = model.predict_proba(session, modalities=modalities)
    np.testing.assert_allclose(streamed, offline, atol=1e-5, rtol=0)
    with pytest.raises(SensingError, match="does not use"):
        if modalities == ("imu",):
            stream.push_audio(np.zeros(3))
        else:
            stream.push_imu(np.zeros(3), np.zeros((3, 6)))


def test_frames_come_out_one_second_after_their_time(
    model: ActivityClassifier, session: Recording
) -> None:
    assert session.imu is not None and session.audio is not None
    stream = StreamingClassifier(model)
    upto = session.imu.times <= 3.0
    stream.push_imu(session.imu.times[upto], session.imu.values[upto])
    stream.push_audio(session.audio[: 3 * AUDIO_RATE_HZ])
    rows = stream.pop_frames()
    newest = session.imu.times[upto][-1]
    # frame f needs IMU grid samples up to f / 5 + 0.98 s and audio up to f / 5 + 0.5 s
    expected = int(np.floor((newest - 0.98) * 5 + 1e-9)) + 1
    assert rows.shape == (expected, 3) and stream.n_emitted == expected
    np.testing.assert_allclose(rows.sum(axis=1), 1.0)


def test_finish_rules(model: ActivityClassifier, session: Recording) -> None:
    stream = StreamingClassifier(model)
    rows = stream_recording(stream, session, [50], [8000])
    assert rows.shape[0] == frame_count(session.duration)
    with pytest.raises(SensingError, match="already called"):
        stream.finish()
    early = StreamingClassifier(model)
    assert session.imu is not None and session.audio is not None
    early.push_imu(session.imu.times, session.imu.values)
    early.push_audio(session.audio)
    early.pop_frames()
    with pytest.raises(SensingError, match="were already returned"):
        early.finish(duration_s=2.0)


def test_finish_checks_coverage_like_offline(model: ActivityClassifier, session: Recording) -> None:
    assert session.imu is not None and session.audio is not None
    stream = StreamingClassifier(model)
    stream.push_imu(session.imu.times, session.imu.values)
    stream.push_audio(session.audio[: 4 * AUDIO_RATE_HZ])
    with pytest.raises(DataError, match=r"audio covers 0\.00\.\.4\.00 s of a 11\.70 s session"):
        stream.finish(duration_s=session.duration)
    with pytest.raises(DataError, match="audio covers"):
        model.predict_proba(replace(session, audio=session.audio[: 4 * AUDIO_RATE_HZ]))


def test_stream_rejects_unknown_modalities(model: ActivityClassifier) -> None:
    audio_only = ActivityClassifier(STEPS, modalities=("audio",))
    with pytest.raises(SensingError, match="not fitted"):
        StreamingClassifier(audio_only)
    imu_model = ActivityClassifier(STEPS, modalities=("imu",))
    imu_model.__dict__.update({k: v for k, v in model.__dict__.items() if k.endswith("_")})
    imu_model.modalities = ("imu",)
    with pytest.raises(SensingError, match=r"has no \['audio'\] input"):
        StreamingClassifier(imu_model, modalities=("imu", "audio"))


def test_stream_audio_rate_must_give_the_model_features(model: ActivityClassifier) -> None:
    with pytest.raises(SensingError, match="the model analyses audio at 16000 Hz"):
        StreamingClassifier(model, audio_rate=8000)
    with pytest.raises(SensingError, match="threads must be None or an integer >= 1"):
        StreamingClassifier(model, threads=0)


def test_a_pickled_stream_continues_like_the_original(
    model: ActivityClassifier, session: Recording
) -> None:
    assert session.imu is not None and session.audio is not None
    stream = StreamingClassifier(model)
    half_imu, half_audio = session.imu.times.size // 2, session.audio.size // 2
    stream.push_imu(session.imu.times[:half_imu], session.imu.values[:half_imu])
    stream.push_audio(session.audio[:half_audio])
    first = stream.pop_frames()
    twin = pickle.loads(pickle.dumps(stream))
    rests = []
    for each in (stream, twin):
        each.push_imu(session.imu.times[half_imu:], session.imu.values[half_imu:])
        each.push_audio(session.audio[half_audio:])
        rests.append(np.concatenate([each.pop_frames(), each.finish(duration_s=session.duration)]))
    np.testing.assert_array_equal(rests[0], rests[1])
    np.testing.assert_allclose(
        np.concatenate([first, rests[1]]), model.predict_proba(session), atol=1e-5, rtol=0
    )


def test_streams_made_and_dropped_meanwhile_leave_a_batch_alone(
    model: ActivityClassifier, session: Recording
) -> None:
    """Classifying on one thread while another creates and drops streams of the same
    network (which grows and reuses the rows of its state pool) changes no row."""
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            crowd = [StreamingClassifier(model) for _ in range(64)]
            del crowd  # reference counting frees the slots at once (no gc.collect, which
            stop.wait(0.001)  # holds the GIL long enough to starve the other thread)

    worker = threading.Thread(target=churn)
    worker.start()
    try:
        streamed = stream_recording(StreamingClassifier(model), session, [7], [1600])
    finally:
        stop.set()
        worker.join()
    np.testing.assert_allclose(streamed, model.predict_proba(session), atol=1e-5, rtol=0)

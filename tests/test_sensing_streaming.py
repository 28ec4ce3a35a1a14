"""Tests for prism.sensing.streaming: streaming equals offline (one stream or a batch),
finishing, latency, pickling."""

from __future__ import annotations

import pickle
import threading
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prism.data.annotations import AnnotatedSession, StepSegment
from prism.data.recording import AUDIO_RATE_HZ, Recording, clean_imu
from prism.errors import DataError
from prism.sensing.classifier import ActivityClassifier
from prism.sensing.features import SensingError
from prism.sensing.framing import frame_count
from prism.sensing.network import NetworkConfig
from prism.sensing.streaming import StreamingClassifier, classify_streams
from prism.sensing.training import TrainingConfig
from stream_chunks import FEW, chunks, raw_imu

STEPS = ("a", "b")


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


@pytest.mark.parametrize("sent", ["imu", "audio"])
def test_a_modality_that_never_comes_is_left_out_after_a_while(
    model: ActivityClassifier, session: Recording, sent: str
) -> None:
    """A watch without a microphone (or motion sensors) streams one modality to a stream of
    both: after SOLO_AFTER_S of it, frames come from it alone, as if chosen from the start;
    the other's samples that come later are ignored and counted."""
    assert session.imu is not None and session.audio is not None
    stream = StreamingClassifier(model)
    only = ("imu",) if sent == "imu" else ("audio",)
    sizes = ([37], [10**9]) if sent == "imu" else ([10**9], [5000])
    rows = []
    for piece in chunks(
        session.imu.times.size if sent == "imu" else session.audio.size,
        sizes[0] if sent == "imu" else sizes[1],
    ):
        if sent == "imu":
            stream.push_imu(session.imu.times[piece], session.imu.values[piece])
        else:
            stream.push_audio(session.audio[piece])
        rows.append(stream.pop_frames())
        if stream.left_out is None:
            assert rows[-1].shape[0] == 0  # nothing before the other is given up on
    assert stream.left_out == ("audio" if sent == "imu" else "imu") and stream.modalities == only
    if sent == "imu":
        stream.push_audio(np.zeros(800, dtype=np.float32))
    else:
        stream.push_imu(np.array([20.0]), np.zeros((1, 6)))
    assert stream.ignored_samples == (800 if sent == "imu" else 1)
    rows.append(stream.finish(duration_s=session.duration))
    offline = model.predict_proba(session, modalities=only)
    np.testing.assert_allclose(np.concatenate(rows), offline, atol=1e-5, rtol=0)

"""The recording format: round trip and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from prism.data.annotations import AnnotatedSession, StepSegment
from prism.data.recording import (
    AUDIO_RATE_HZ,
    ImuSamples,
    Recording,
    clean_imu,
    read_recording,
    read_wav,
    write_recording,
)
from prism.errors import DataError


def _recording(rng: np.random.Generator) -> Recording:
    times = np.arange(0, 4.0, 0.02)
    values = rng.normal(size=(times.size, 6)).astype(np.float32)
    audio = (0.1 * rng.normal(size=4 * AUDIO_RATE_HZ)).astype(np.float32)
    annotation = AnnotatedSession("s1", "tea", (StepSegment("boil", 0.5, 2.0),), 4.0)
    return Recording(
        session_id="s1",
        task="tea",
        annotation=annotation,
        imu=ImuSamples(times, values),
        audio=audio,
        metadata={"synthetic": True, "user": "u0"},
    )


def test_round_trip(tmp_path: Path, rng: np.random.Generator) -> None:
    original = _recording(rng)
    loaded = read_recording(write_recording(original, tmp_path / "s1"))
    assert loaded.session_id == "s1"
    assert loaded.synthetic
    assert loaded.metadata["user"] == "u0"
    assert loaded.annotation.segments == original.annotation.segments
    assert loaded.imu is not None and original.imu is not None
    np.testing.assert_allclose(loaded.imu.times, original.imu.times, atol=1e-4)
    np.testing.assert_allclose(loaded.imu.values, original.imu.values, rtol=1e-4, atol=1e-4)
    assert loaded.audio is not None and original.audio is not None
    np.testing.assert_allclose(loaded.audio, original.audio, atol=1.0 / 32768 + 1e-6)
    assert loaded.duration == pytest.approx(4.0)


def test_clean_imu_sorts_and_drops_duplicates() -> None:
    times = np.array([0.04, 0.0, 0.02, 0.02])
    values = np.arange(24, dtype=float).reshape(4, 6)
    imu = clean_imu(times, values)
    assert imu.times.tolist() == [0.0, 0.02, 0.04]
    assert imu.values[:, 0].tolist() == [6.0, 12.0, 0.0]


def test_clean_imu_interpolates_short_nan_runs() -> None:
    times = np.arange(5) * 0.02
    values = np.tile(np.arange(5.0)[:, None], (1, 6))
    values[2] = np.nan
    assert clean_imu(times, values).values[2, 0] == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("times", "values", "match"),
    [
        (np.array([0.0, 5.0, 5.02]), np.zeros((3, 6)), r"gap of 5\.00 s at t = 0\.00 s"),
        (np.arange(100) * 0.02, np.full((100, 6), np.nan), "has no finite sample"),
        (np.array([0.0, np.nan]), np.zeros((2, 6)), "timestamps contain NaN"),
        (np.array([0.0]), np.zeros((1, 6)), "at least 2 samples"),
        (np.arange(3) * 0.02, np.zeros((3, 5)), r"values \(n, 6\)"),
    ],
    ids=["long-gap", "all-nan", "nan-time", "one-sample", "five-channels"],
)
def test_clean_imu_rejects(times: np.ndarray, values: np.ndarray, match: str) -> None:
    with pytest.raises(DataError, match=match):
        clean_imu(times, values)


def test_long_nan_run_names_the_time() -> None:
    times = np.arange(200) * 0.02
    values = np.zeros((200, 6))
    values[50:150, 3] = np.nan
    with pytest.raises(DataError, match=r"gyro_x is NaN for 2\.02 s from t = 0\.98 s"):
        clean_imu(times, values)


def test_read_wav_resamples_and_mixes_to_mono(tmp_path: Path) -> None:
    stereo = np.zeros((8000, 2), dtype=np.float32)
    stereo[:, 0] = 0.5
    soundfile.write(tmp_path / "a.wav", stereo, 8000)
    audio = read_wav(tmp_path / "a.wav")
    assert audio.shape == (16000,)
    assert audio[4000:12000].mean() == pytest.approx(0.25, abs=0.01)


@pytest.mark.parametrize(
    ("content", "match"),
    [(b"", "cannot read audio"), (b"RIFF....WAVEjunk", "cannot read audio")],
    ids=["empty-file", "corrupt"],
)
def test_read_wav_rejects_bad_files(tmp_path: Path, content: bytes, match: str) -> None:
    (tmp_path / "bad.wav").write_bytes(content)
    with pytest.raises(DataError, match=match):
        read_wav(tmp_path / "bad.wav")


def test_read_wav_rejects_a_wav_without_samples(tmp_path: Path) -> None:
    soundfile.write(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(DataError, match="holds no samples"):
        read_wav(tmp_path / "empty.wav")


@pytest.mark.parametrize(
    ("meta", "match"),
    [
        (None, "meta.json: missing"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        (json.dumps({"session_id": "s", "task": "t"}), "'synthetic' must be a bool"),
        (json.dumps({"session_id": "s", "task": "t", "synthetic": False}), "needs imu.csv or"),
    ],
    ids=["no-meta", "bad-json", "not-an-object", "no-synthetic", "no-signals"],
)
def test_read_recording_rejects(tmp_path: Path, meta: str | None, match: str) -> None:
    if meta is not None:
        (tmp_path / "meta.json").write_text(meta)
    with pytest.raises(DataError, match=match):
        read_recording(tmp_path)


def test_imu_csv_header_is_checked(tmp_path: Path, rng: np.random.Generator) -> None:
    root = write_recording(_recording(rng), tmp_path / "s1")
    text = (root / "imu.csv").read_text().replace("acc_x", "ax", 1)
    (root / "imu.csv").write_text(text)
    with pytest.raises(DataError, match=r"imu.csv:1: header must be"):
        read_recording(root)

"""Tests for prism.sensing.features: log-mel and IMU windows, normalizer, session features."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import resample_poly

from prism.data.recording import ImuSamples, clean_imu
from prism.errors import DataError
from prism.sensing.features import (
    AUDIO_COLUMNS,
    LOG_MEL_FLOOR,
    N_MELS,
    ChannelNormalizer,
    LogMelSpec,
    SensingError,
    SessionFeatures,
    audio_frames,
    decimate,
    imu_frames,
    imu_window_channels,
)
from prism.sensing.features import _windows as strided_windows

RATE = 16_000
FLOOR_DB = 10 * np.log10(LOG_MEL_FLOOR)


def tone(frequency: float, seconds: float, *, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


# ------------------------------------------------------------------------- windows
@given(
    rows=st.integers(1, 60),
    channels=st.sampled_from([0, 1, 3]),
    length=st.integers(1, 20),
    step=st.integers(1, 9),
    data=st.data(),
)
def test_windows_equal_sliding_window_view(
    rows: int, channels: int, length: int, step: int, data: st.DataObject
) -> None:
    """The streaming core's strided windows are numpy's sliding windows, every ``step``-th."""
    shape = (rows,) if channels == 0 else (rows, channels)
    array = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    possible = max(0, (rows - length) // step + 1) if rows >= length else 0
    count = data.draw(st.integers(0, possible))
    got = strided_windows(array, count, length, step)
    if count:
        expected = sliding_window_view(array, length, axis=0)[::step][:count]
        np.testing.assert_array_equal(got, expected)
    assert got.shape[0] == count and not got.flags.writeable


def test_windows_past_the_end_raise() -> None:
    with pytest.raises(SensingError, match="3 windows of 4 every 2 need 8 rows, got 7"):
        strided_windows(np.zeros(7), 3, 4, 2)


# ------------------------------------------------------------------------- audio
@pytest.mark.parametrize("privacy_rate", [None, 1000, 4000], ids=["16k", "1k", "4k"])
def test_audio_shapes(privacy_rate: int | None, rng: np.random.Generator) -> None:
    audio = rng.normal(size=RATE * 3).astype(np.float32) * 0.1
    frames = audio_frames(audio, n_frames=15, privacy_rate=privacy_rate)
    assert frames.shape == (15, N_MELS, AUDIO_COLUMNS)
    assert frames.dtype == np.float32
    assert np.isfinite(frames).all()
    assert audio_frames(audio, n_frames=0, privacy_rate=privacy_rate).shape == (0, 64, 40)


def test_spec_sizes() -> None:
    full, private = LogMelSpec(), LogMelSpec(RATE, privacy_rate=1000)
    assert (full.hop, full.win_length, full.n_fft, full.columns_per_frame) == (400, 800, 1024, 8)
    assert (private.hop, private.win_length, private.n_fft) == (25, 50, 256)
    assert private.mel_basis.shape == (256 // 2 + 1, N_MELS)
    assert (private.mel_basis.sum(axis=0) > 0).all()  # no empty mel band
    assert private.taps.size % 2 == 1
    assert private.taps.sum() == pytest.approx(1.0, abs=1e-3)


def test_silence_is_the_floor() -> None:
    frames = audio_frames(np.zeros(RATE), n_frames=5)
    np.testing.assert_array_equal(frames, np.float32(FLOOR_DB))


def test_a_tone_lights_up_its_mel_band() -> None:
    frames = audio_frames(tone(1000.0, 4.0), n_frames=20)
    centres = librosa.mel_frequencies(n_mels=N_MELS + 2, fmin=0.0, fmax=RATE / 2)[1:-1]
    band = int(frames[10].mean(axis=1).argmax())
    assert centres[band] == pytest.approx(1000.0, rel=0.1)


def test_window_depends_only_on_its_span(rng: np.random.Generator) -> None:
    """Frame 10 (t = 2 s) analyses [t - 0.525 s, t + 0.5 s) and nothing else."""
    audio = rng.normal(size=RATE * 5) * 0.1
    base = audio_frames(audio, n_frames=25)
    lo, hi = int(1.475 * RATE), int(2.5 * RATE)
    outside = audio.copy()
    outside[: lo - 1] += 0.3
    outside[hi:] += 0.3
    np.testing.assert_array_equal(audio_frames(outside, n_frames=25)[10], base[10])
    inside = audio.copy()
    inside[hi - 1] += 0.5
    assert not np.array_equal(audio_frames(inside, n_frames=25)[10], base[10])


def test_audio_outside_the_signal_is_silence(rng: np.random.Generator) -> None:
    audio = rng.normal(size=RATE * 2) * 0.1
    padded = np.concatenate([audio, np.zeros(RATE * 2)])
    np.testing.assert_array_equal(
        audio_frames(audio, n_frames=20), audio_frames(padded, n_frames=20)
    )


def test_privacy_mode_removes_high_frequencies_without_aliasing() -> None:
    """A 3 kHz tone (above 500 Hz) must not alias into the 1 kHz analysis."""
    low = audio_frames(tone(300.0, 4.0), n_frames=20, privacy_rate=1000)[10]
    high = audio_frames(tone(3000.0, 4.0), n_frames=20, privacy_rate=1000)[10]
    assert low.max() - high.max() > 50.0


def test_audio_decimated_by_the_device_gives_the_privacy_features(
    rng: np.random.Generator,
) -> None:
    """What a device in privacy mode sends (decimate) analysed at 1 kHz is what the
    privacy mode computes from 16 kHz audio."""
    audio = (0.3 * rng.normal(size=int(3.3 * RATE))).astype(np.float32)
    sent = decimate(audio, 1000)
    assert sent.shape == (3300,)
    np.testing.assert_array_equal(
        audio_frames(sent, n_frames=16, rate=1000),
        audio_frames(audio, n_frames=16, privacy_rate=1000),
    )
    np.testing.assert_array_equal(decimate(audio, 16000), audio.astype(np.float64))


def test_privacy_mode_matches_scipy_decimation_in_the_pass_band() -> None:
    t = np.arange(2 * RATE) / RATE
    audio = 0.5 * np.sin(2 * np.pi * 200 * t) + 0.2 * np.sin(2 * np.pi * 370 * t)
    ours = audio_frames(audio, n_frames=10, privacy_rate=1000)[5]
    reference = audio_frames(resample_poly(audio, 1, 16), n_frames=10, rate=1000)[5]
    loud = ours > -30.0
    assert loud.sum() > 500
    np.testing.assert_allclose(ours[loud], reference[loud], atol=0.05)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"privacy_rate": 3000}, "privacy_rate must be a positive integer dividing"),
        ({"rate": 22050}, "does not put the 0.025 s hop"),
        ({"rate": 0}, "audio rate must be a positive integer"),
        ({"n_frames": -1}, "n_frames must be a non-negative integer"),
    ],
    ids=["privacy-not-divisor", "odd-rate", "zero-rate", "negative-frames"],
)
def test_bad_audio_settings_raise(kwargs: dict[str, int], match: str) -> None:
    options: dict[str, int] = {"n_frames": 3, **kwargs}
    with pytest.raises(SensingError, match=match):
        audio_frames(np.zeros(RATE), **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("audio", "match"),
    [
        (np.zeros(0, dtype=np.float32), "no samples"),
        (np.array([0.0, np.nan, 0.0]), "NaN or infinite samples .first at sample 1"),
        (np.zeros((10, 2)), "mono samples of shape"),
    ],
    ids=["empty", "nan", "stereo"],
)
def test_bad_audio_raises(audio: np.ndarray, match: str) -> None:
    with pytest.raises(DataError, match=match):
        audio_frames(audio, n_frames=3)


# --------------------------------------------------------------------------- IMU
def ramp_imu(seconds: float = 4.0, rate: float = 30.0) -> ImuSamples:
    times = np.arange(0.0, seconds, 1 / rate)
    values = np.column_stack([times * (c + 1) for c in range(6)]).astype(np.float32)
    return ImuSamples(times, values)


@pytest.mark.parametrize("magnitude", [False, True], ids=["6ch", "7ch"])
def test_imu_shapes(magnitude: bool) -> None:
    frames = imu_frames(ramp_imu(), n_frames=20, magnitude=magnitude)
    assert frames.shape == (20, 7 if magnitude else 6, 100)
    assert frames.dtype == np.float32
    assert len(imu_window_channels(magnitude=magnitude)) == frames.shape[1]


def test_imu_resamples_a_ramp_exactly_and_repeats_edges() -> None:
    imu = ramp_imu(seconds=4.0)
    frames = imu_frames(imu, n_frames=20)
    # frame 10 (t = 2 s) covers grid times 1.0, 1.02, ..., 2.98 s
    np.testing.assert_allclose(frames[10, 0], np.arange(50, 150) / 50, atol=1e-5)
    np.testing.assert_allclose(frames[10, 2], 3 * np.arange(50, 150) / 50, atol=1e-5)
    # before the first sample and after the last one: the edge values
    np.testing.assert_allclose(frames[0, 0, :50], 0.0)
    np.testing.assert_allclose(frames[19, 0, -20:], imu.values[-1, 0])


def test_imu_magnitude_channel() -> None:
    imu = ramp_imu()
    frames = imu_frames(imu, n_frames=10, magnitude=True)
    expected = np.sqrt((frames[:, :3].astype(np.float64) ** 2).sum(axis=1))
    np.testing.assert_allclose(frames[:, 6], expected, rtol=1e-5)


def test_imu_nan_samples_are_interpolated_like_clean_imu(rng: np.random.Generator) -> None:
    times = np.arange(0.0, 5.0, 0.02)
    values = rng.normal(size=(times.size, 6))
    values[40:60, 1] = np.nan
    values[100, :] = np.nan
    cleaned = clean_imu(times, values)
    raw = ImuSamples(times, values.astype(np.float32))
    np.testing.assert_allclose(
        imu_frames(raw, n_frames=25), imu_frames(cleaned, n_frames=25), atol=1e-6
    )


@pytest.mark.parametrize(
    ("times", "values", "match"),
    [
        (np.array([0.0, 0.2, 0.1]), np.zeros((3, 6)), "strictly increasing"),
        (np.array([0.0, 0.1]), np.zeros((2, 5)), "values .n, 6."),
        (np.zeros(0), np.zeros((0, 6)), "n >= 1"),
        (np.array([0.0, 0.1]), np.column_stack([np.full(2, np.nan), np.zeros((2, 5))]), "acc_x"),
    ],
    ids=["unsorted", "five-channels", "empty", "all-nan-channel"],
)
def test_bad_imu_raises(times: np.ndarray, values: np.ndarray, match: str) -> None:
    with pytest.raises(DataError, match=match):
        imu_frames(ImuSamples(times, values), n_frames=3)


# -------------------------------------------------------------------- normalizer
def test_normalizer_standardises_each_channel(rng: np.random.Generator) -> None:
    windows = rng.normal(size=(30, 3, 20)) * np.array([1.0, 10.0, 0.01])[None, :, None]
    windows += np.array([9.81, 0.0, -3.0])[None, :, None]
    out = ChannelNormalizer().fit(windows).transform(windows)
    np.testing.assert_allclose(out.mean(axis=(0, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(0, 2)), 1.0, atol=1e-4)


def test_normalizer_fits_a_list_like_the_concatenation(rng: np.random.Generator) -> None:
    parts = [rng.normal(size=(n, 4, 10)).astype(np.float32) for n in (3, 7, 1)]
    together = ChannelNormalizer().fit(np.concatenate(parts))
    apart = ChannelNormalizer().fit(parts)
    np.testing.assert_allclose(apart.mean_, together.mean_, rtol=1e-6)
    np.testing.assert_allclose(apart.std_, together.std_, rtol=1e-5)


def test_normalizer_constant_channel_and_round_trip() -> None:
    windows = np.ones((4, 2, 5))
    windows[:, 1] = np.arange(5)
    normalizer = ChannelNormalizer().fit(windows)
    assert normalizer.std_[0] == 1.0
    again = ChannelNormalizer.from_dict(normalizer.to_dict())
    np.testing.assert_array_equal(again.transform(windows), normalizer.transform(windows))


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"mean": [0.0]}, "needs numeric 'mean' and 'std'"),
        ({"mean": [0.0, 1.0], "std": [1.0]}, "shapes differ"),
        ({"mean": [0.0], "std": [0.0]}, "std > 0"),
    ],
    ids=["missing-std", "shape-mismatch", "zero-std"],
)
def test_normalizer_from_bad_dict_raises(data: dict[str, list[float]], match: str) -> None:
    with pytest.raises(SensingError, match=match):
        ChannelNormalizer.from_dict(data)


def test_normalizer_misuse_raises() -> None:
    with pytest.raises(SensingError, match="not fitted"):
        ChannelNormalizer().transform(np.zeros((1, 2, 3)))
    normalizer = ChannelNormalizer().fit(np.zeros((1, 2, 3)))
    with pytest.raises(SensingError, match=r"shape \(N, 2, L\)"):
        normalizer.transform(np.zeros((1, 3, 3)))
    with pytest.raises(SensingError, match=r"\(N, C, L\)"):
        ChannelNormalizer().fit(np.zeros((0, 2, 3)))


# -------------------------------------------------------------- session features
def test_session_features_validate_shapes() -> None:
    imu, audio = np.zeros((5, 7, 100), np.float32), np.zeros((5, 64, 40), np.float32)
    assert SessionFeatures("s", imu, audio, np.zeros(5, np.int64)).n_frames == 5
    with pytest.raises(SensingError, match="frame counts differ"):
        SessionFeatures("s", imu, audio[:4])
    with pytest.raises(SensingError, match="needs imu or audio"):
        SessionFeatures("s", None, None)
    with pytest.raises(SensingError, match=r"audio must be \(T, 64, 40\)"):
        SessionFeatures("s", None, np.zeros((5, 32, 40), np.float32))
    with pytest.raises(SensingError, match="labels must be integers"):
        SessionFeatures("s", imu, None, np.zeros(5))

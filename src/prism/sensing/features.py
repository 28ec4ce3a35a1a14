"""Frame features: log-mel audio windows and resampled IMU windows, one per 0.2 s frame.

Pure numpy functions (librosa gives the mel filter bank). Both modalities are cut on a
fixed grid that starts at ``t = 0``, so the features of a frame depend only on the
samples inside a fixed span around it: the streaming extractors of
:mod:`prism.sensing.streaming` reuse the private cores of this module on partial
signals and produce the same numbers as the offline functions here.

Audio (:func:`audio_frames`)
    An STFT with a 50 ms Hann window every 25 ms (``AUDIO_HOP_S``), 64 mel bands from
    0 Hz to half the sample rate, ``10 log10(max(mel power, 1e-10))`` dB with no
    signal-dependent reference (no ``top_db``: that would need the whole signal). STFT
    column ``m`` (an integer, possibly negative) covers the samples of
    ``[(m + 1) * hop - win, (m + 1) * hop)``; frame ``f`` takes the 40 columns
    ``m = 8 f - 20 ... 8 f + 19``, i.e. the audio of ``[t - 0.525 s, t + 0.5 s)`` around
    its time ``t = f / 5``. Samples outside the signal are zeros (silence).

Privacy mode (``privacy_rate=1000``)
    The audio is first decimated to ``privacy_rate`` Hz with a linear-phase Kaiser FIR
    low-pass (pass band to 0.8, stop band from 1.0 of the new Nyquist frequency, 60 dB),
    then analysed as above: same 50 ms / 25 ms framing (50 / 25 samples), ``n_fft = 256``
    (zero padded so that all 64 mel bands get FFT bins), mel bands over 0..500 Hz.
    :func:`decimate` gives the decimated signal itself (what a device in privacy mode
    sends): ``audio_frames(decimate(x, 1000), rate=1000)`` equals
    ``audio_frames(x, privacy_rate=1000)``.

IMU (:func:`imu_frames`)
    Each channel is linearly interpolated onto the 50 Hz grid ``k / 50`` s (NaN samples of
    a channel are skipped; outside the recording the first/last sample is repeated).
    Frame ``f`` takes grid samples ``k = 10 f - 50 ... 10 f + 49`` (``[t - 1 s, t + 1 s)``).
    Optionally a seventh channel holds the acceleration magnitude (m/s^2), which does not
    depend on how the watch is worn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from prism.data.recording import AUDIO_RATE_HZ, IMU_CHANNELS, ImuSamples
from prism.errors import DataError, SensingError
from prism.sensing.framing import AUDIO_WINDOW_S, FRAME_RATE_HZ, IMU_RESAMPLE_HZ, IMU_WINDOW_S

__all__ = [
    "AUDIO_COLUMNS",
    "AUDIO_HOP_S",
    "AUDIO_STFT_WINDOW_S",
    "IMU_WINDOW_SAMPLES",
    "LOG_MEL_FLOOR",
    "N_MELS",
    "PRIVACY_RATE_HZ",
    "ChannelNormalizer",
    "LogMelSpec",
    "SensingError",
    "SessionFeatures",
    "audio_frames",
    "decimate",
    "imu_frames",
    "imu_window_channels",
]

N_MELS = 64
"""Mel bands per STFT column."""
AUDIO_HOP_S = 0.025
"""Hop between STFT columns (s)."""
AUDIO_STFT_WINDOW_S = 0.05
"""Length of one STFT analysis window (s, Hann)."""
AUDIO_COLUMNS = round(AUDIO_WINDOW_S / AUDIO_HOP_S)
"""STFT columns per frame window (40: 1 s of audio)."""
LOG_MEL_FLOOR = 1e-10
"""Mel power floor before the logarithm (-100 dB)."""
PRIVACY_RATE_HZ = 1000
"""Sample rate of the privacy mode (Hz)."""
IMU_WINDOW_SAMPLES = round(IMU_WINDOW_S * IMU_RESAMPLE_HZ)
"""Resampled IMU samples per frame window (100)."""

_BLOCK = 2048
"""Rows per block in the column and decimation cores (bounds memory)."""


def _frame_hop(rate: float, hop: int) -> int:
    """Grid steps (of ``hop`` samples at ``rate`` Hz) between consecutive frames."""
    return round(rate / FRAME_RATE_HZ / hop)


@dataclass(frozen=True)
class LogMelSpec:
    """The log-mel analysis for audio at ``rate`` Hz, optionally decimated first.

    Parameters
    ----------
    rate : int
        Sample rate of the audio handed in (Hz).
    privacy_rate : int or None
        Decimate to this rate (Hz) before the analysis; must divide ``rate``.

    Examples
    --------
    >>> spec = LogMelSpec(16000, privacy_rate=1000)
    >>> spec.signal_rate, spec.hop, spec.win_length, spec.n_fft, spec.decimation
    (1000, 25, 50, 256, 16)
    """

    rate: int = AUDIO_RATE_HZ
    privacy_rate: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.rate, int) or self.rate <= 0:
            raise SensingError(f"audio rate must be a positive integer (Hz), got {self.rate!r}")
        target = self.privacy_rate
        if target is not None and (
            not isinstance(target, int) or target <= 0 or target > self.rate or self.rate % target
        ):
            raise SensingError(
                f"privacy_rate must be a positive integer dividing the audio rate {self.rate} Hz, "
                f"got {target!r}"
            )
        hop = self.signal_rate * AUDIO_HOP_S
        if abs(hop - round(hop)) > 1e-9 or (self.signal_rate / FRAME_RATE_HZ) % round(hop):
            raise SensingError(
                f"an analysis rate of {self.signal_rate} Hz does not put the {AUDIO_HOP_S} s hop "
                f"and the {1 / FRAME_RATE_HZ} s frame step on whole samples"
            )

    @property
    def signal_rate(self) -> int:
        """Rate of the analysed signal (Hz): ``privacy_rate`` or ``rate``."""
        return self.privacy_rate if self.privacy_rate is not None else self.rate

    @property
    def decimation(self) -> int:
        """Decimation factor ``rate // signal_rate`` (1: none)."""
        return self.rate // self.signal_rate

    @property
    def hop(self) -> int:
        """Samples between STFT columns (at ``signal_rate``)."""
        return round(self.signal_rate * AUDIO_HOP_S)

    @property
    def win_length(self) -> int:
        """Samples per STFT window (at ``signal_rate``)."""
        return round(self.signal_rate * AUDIO_STFT_WINDOW_S)

    @property
    def n_fft(self) -> int:
        """FFT size: the smallest power of two >= ``max(win_length, 4 * N_MELS)``."""
        return 1 << int(np.ceil(np.log2(max(self.win_length, 4 * N_MELS))))

    @property
    def columns_per_frame(self) -> int:
        """STFT columns between consecutive frames (8)."""
        return _frame_hop(self.signal_rate, self.hop)

    @cached_property
    def window(self) -> np.ndarray:
        """Periodic Hann window, shape ``(win_length,)``."""
        n = np.arange(self.win_length)
        return 0.5 - 0.5 * np.cos(2.0 * np.pi * n / self.win_length)

    @cached_property
    def mel_basis(self) -> np.ndarray:
        """Mel filter bank (Slaney), shape ``(N_MELS, n_fft // 2 + 1)``, 0..signal_rate/2."""
        import librosa  # deferred: importing librosa takes a second

        basis = librosa.filters.mel(
            sr=self.signal_rate,
            n_fft=self.n_fft,
            n_mels=N_MELS,
            fmin=0.0,
            fmax=self.signal_rate / 2,
            dtype=np.float64,
        )
        return np.ascontiguousarray(basis.T)

    @cached_property
    def taps(self) -> np.ndarray:
        """Anti-aliasing FIR low-pass (odd length, linear phase); ``[1.0]`` without decimation."""
        if self.decimation == 1:
            return np.ones(1)
        from scipy.signal import firwin, kaiserord

        width = 0.2 / self.decimation  # 0.8 .. 1.0 of the new Nyquist, relative to the old one
        numtaps, beta = kaiserord(60.0, width)
        numtaps += 1 - numtaps % 2
        return np.asarray(firwin(numtaps, 0.9 / self.decimation, window=("kaiser", beta)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings and derived sizes (for config files and model cards)."""
        return {
            "rate_hz": self.rate,
            "privacy_rate_hz": self.privacy_rate,
            "n_mels": N_MELS,
            "hop_s": AUDIO_HOP_S,
            "stft_window_s": AUDIO_STFT_WINDOW_S,
            "n_fft": self.n_fft,
            "columns": AUDIO_COLUMNS,
            "fmax_hz": self.signal_rate / 2,
            "log_floor": LOG_MEL_FLOOR,
        }


def _windows(array: np.ndarray, count: int, length: int, step: int) -> np.ndarray:
    """Read-only view of ``count`` windows of ``length`` rows of ``array``, one every
    ``step`` rows (private core).

    ``array`` of shape ``(n,)`` gives ``(count, length)``; ``(n, C)`` gives ``(count, C,
    length)`` (the window axis last): ``sliding_window_view(array, length, axis=0)[::step]
    [:count]`` without its checks and set-up, which cost more than the few windows of a
    streaming call. Hand-written for that reason; the bounds are checked here because
    a view past the end would read foreign memory.
    """
    if count and (count - 1) * step + length > array.shape[0]:
        raise SensingError(
            f"{count} windows of {length} every {step} need "
            f"{(count - 1) * step + length} rows, got {array.shape[0]}"
        )
    rows = array.strides[0]
    if array.ndim == 1:
        return as_strided(array, (count, length), (step * rows, rows), writeable=False)
    shape = (count, array.shape[1], length)
    return as_strided(array, shape, (step * rows, array.strides[1], rows), writeable=False)


def _decimate(padded: np.ndarray, n_out: int, spec: LogMelSpec) -> np.ndarray:
    """``out[i] = padded[i * F : i * F + L] @ taps`` for ``i < n_out`` (private core).

    ``padded`` must hold at least ``(n_out - 1) * F + L`` samples (float64).
    """
    taps, factor = spec.taps, spec.decimation
    out = np.empty(n_out, dtype=np.float64)
    if n_out == 0:
        return out
    view = _windows(padded, n_out, taps.size, factor)
    for start in range(0, n_out, _BLOCK):
        stop = min(start + _BLOCK, n_out)
        out[start:stop] = view[start:stop] @ taps
    return out


def _logmel_columns(buffer: np.ndarray, n_columns: int, spec: LogMelSpec) -> np.ndarray:
    """Log-mel columns of ``buffer`` (private core), shape ``(n_columns, N_MELS)`` float64.

    Column ``i`` analyses ``buffer[i * hop : i * hop + win_length]``; ``buffer`` must hold
    at least ``(n_columns - 1) * hop + win_length`` samples.
    """
    out = np.empty((n_columns, N_MELS), dtype=np.float64)
    if n_columns == 0:
        return out
    view = _windows(buffer, n_columns, spec.win_length, spec.hop)
    for start in range(0, n_columns, _BLOCK):
        stop = min(start + _BLOCK, n_columns)
        spectrum = np.fft.rfft(view[start:stop] * spec.window, n=spec.n_fft, axis=1)
        power = spectrum.real**2 + spectrum.imag**2
        out[start:stop] = 10.0 * np.log10(np.maximum(power @ spec.mel_basis, LOG_MEL_FLOOR))
    return out


def _column_windows(columns: np.ndarray, n_frames: int, spec: LogMelSpec) -> np.ndarray:
    """Cut ``(n, N_MELS)`` columns (first = first column of frame 0) into frame windows.

    Returns ``(n_frames, N_MELS, AUDIO_COLUMNS)`` float32.
    """
    if n_frames == 0:
        return np.zeros((0, N_MELS, AUDIO_COLUMNS), dtype=np.float32)
    view = _windows(columns, n_frames, AUDIO_COLUMNS, spec.columns_per_frame)
    return np.ascontiguousarray(view, dtype=np.float32)


def _check_frames(n_frames: int) -> None:
    if isinstance(n_frames, bool) or not isinstance(n_frames, int | np.integer) or n_frames < 0:
        raise SensingError(f"n_frames must be a non-negative integer, got {n_frames!r}")


def _check_audio(audio: np.ndarray) -> np.ndarray:
    samples = np.asarray(audio)
    if samples.ndim != 1:
        raise DataError(f"audio must be mono samples of shape (n,), got shape {samples.shape}")
    if samples.size == 0:
        raise DataError("audio holds no samples")
    if not np.issubdtype(samples.dtype, np.floating) and not np.issubdtype(
        samples.dtype, np.integer
    ):
        raise DataError(f"audio must be numeric, got dtype {samples.dtype}")
    samples = samples.astype(np.float64)
    if not np.isfinite(samples).all():
        where = int(np.argmax(~np.isfinite(samples)))
        raise DataError(f"audio holds NaN or infinite samples (first at sample {where})")
    return samples


def _decimated(samples: np.ndarray, spec: LogMelSpec) -> np.ndarray:
    """Checked float64 ``samples`` at ``spec.rate`` decimated to ``spec.signal_rate``,
    the filter's delay compensated (sample ``i`` at time ``i / signal_rate``)."""
    if spec.decimation == 1:
        return samples
    delay = (spec.taps.size - 1) // 2
    n_out = -(-samples.size // spec.decimation)
    tail = (n_out - 1) * spec.decimation + spec.taps.size - delay - samples.size
    padded = np.concatenate([np.zeros(delay), samples, np.zeros(max(tail, 0))])
    return _decimate(padded, n_out, spec)


def decimate(audio: np.ndarray, privacy_rate: int, *, rate: int = AUDIO_RATE_HZ) -> np.ndarray:
    """``audio`` low-passed and decimated to ``privacy_rate`` Hz as the privacy mode does
    (see the module docstring): what a device in privacy mode sends.

    Parameters
    ----------
    audio : np.ndarray [shape=(n_samples,), float, nominally in [-1, 1]]
        Mono audio at ``rate`` Hz.
    privacy_rate : int
        The rate to decimate to (Hz, e.g. :data:`PRIVACY_RATE_HZ`); must divide ``rate``.
    rate : int
        Sample rate of ``audio`` (Hz).

    Returns
    -------
    np.ndarray [shape=(ceil(n_samples * privacy_rate / rate),), float64]
        Sample ``i`` is the low-passed signal at ``i / privacy_rate`` s (the filter's
        delay, 18 ms at 16 kHz, is compensated: zeros are assumed outside ``audio``).

    Raises
    ------
    DataError
        If ``audio`` is not 1-D, is empty, or holds NaN or infinite samples.
    SensingError
        If ``privacy_rate`` does not divide ``rate`` or gives no whole-sample framing.

    Examples
    --------
    >>> decimate(np.ones(16000), 1000).shape
    (1000,)
    """
    return _decimated(_check_audio(audio), LogMelSpec(rate, privacy_rate))


def audio_frames(
    audio: np.ndarray,
    *,
    n_frames: int,
    rate: int = AUDIO_RATE_HZ,
    privacy_rate: int | None = None,
) -> np.ndarray:
    """Log-mel windows of ``audio``, one per frame (see the module docstring for the grid).

    Parameters
    ----------
    audio : np.ndarray [shape=(n_samples,), float, nominally in [-1, 1]]
        Mono audio at ``rate`` Hz starting at the session start; zeros are assumed
        outside it. Not clipped.
    n_frames : int
        Frames to produce (frame ``f`` at ``f / 5`` s), >= 0.
    rate : int
        Sample rate of ``audio`` (Hz).
    privacy_rate : int or None
        Decimate to this rate first (e.g. :data:`PRIVACY_RATE_HZ`); must divide ``rate``.

    Returns
    -------
    np.ndarray [shape=(n_frames, 64, 40), float32, dB]
        ``[frame, mel band, STFT column]``; -100 dB is silence.

    Raises
    ------
    DataError
        If ``audio`` is not 1-D, is empty, or holds NaN or infinite samples.
    SensingError
        On an invalid ``n_frames``, ``rate`` or ``privacy_rate``.

    Examples
    --------
    >>> audio_frames(np.zeros(16000, dtype=np.float32), n_frames=5).shape
    (5, 64, 40)
    >>> float(audio_frames(np.zeros(8000), n_frames=1, privacy_rate=1000).max())
    -100.0
    """
    _check_frames(n_frames)
    spec = LogMelSpec(rate, privacy_rate)
    samples = _decimated(_check_audio(audio), spec)
    if n_frames == 0:
        return _column_windows(np.zeros((0, N_MELS)), 0, spec)
    per_frame, half = spec.columns_per_frame, AUDIO_COLUMNS // 2
    first, last = -half, per_frame * (n_frames - 1) + AUDIO_COLUMNS - half - 1
    start = (first + 1) * spec.hop - spec.win_length
    stop = (last + 1) * spec.hop
    buffer = np.zeros(stop - start, dtype=np.float64)
    lo, hi = max(start, 0), min(stop, samples.size)
    if hi > lo:
        buffer[lo - start : hi - start] = samples[lo:hi]
    columns = _logmel_columns(buffer, last - first + 1, spec)
    return _column_windows(columns, n_frames, spec)


def imu_window_channels(*, magnitude: bool) -> tuple[str, ...]:
    """Channel names of :func:`imu_frames` windows (6, or 7 with ``acc_norm``)."""
    return (*IMU_CHANNELS, "acc_norm") if magnitude else IMU_CHANNELS


def _interpolate_grid(times: np.ndarray, values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Per-channel linear interpolation on ``grid`` skipping NaN samples (private core).

    Every channel must hold a finite sample. Returns ``(grid.size, 6)`` float64.
    """
    out = np.empty((grid.size, values.shape[1]), dtype=np.float64)
    if np.isfinite(values).all():  # the usual case: no sample to skip
        for channel in range(values.shape[1]):
            out[:, channel] = np.interp(grid, times, values[:, channel])
        return out
    for channel in range(values.shape[1]):
        column = values[:, channel]
        finite = np.isfinite(column)
        out[:, channel] = np.interp(grid, times[finite], column[finite])
    return out


def _grid_times(first: int, stop: int) -> np.ndarray:
    """Times (s) of IMU grid samples ``first .. stop - 1``."""
    return np.arange(first, stop, dtype=np.float64) / IMU_RESAMPLE_HZ


def _imu_windows(grid_values: np.ndarray, n_frames: int, *, magnitude: bool) -> np.ndarray:
    """Cut grid values (first = first sample of frame 0) into ``(n_frames, C, 100)`` float32."""
    channels = 7 if magnitude else 6
    if n_frames == 0:
        return np.zeros((0, channels, IMU_WINDOW_SAMPLES), dtype=np.float32)
    if magnitude:
        norm = np.sqrt(np.sum(grid_values[:, :3] ** 2, axis=1, keepdims=True))
        grid_values = np.concatenate([grid_values, norm], axis=1)
    step = _frame_hop(IMU_RESAMPLE_HZ, 1)
    view = _windows(grid_values, n_frames, IMU_WINDOW_SAMPLES, step)
    return np.ascontiguousarray(view, dtype=np.float32)


def _imu_grid_span(n_frames: int) -> tuple[int, int]:
    """Grid indices ``[first, stop)`` the windows of frames ``0 .. n_frames - 1`` cover."""
    step, half = _frame_hop(IMU_RESAMPLE_HZ, 1), IMU_WINDOW_SAMPLES // 2
    return -half, step * (n_frames - 1) + IMU_WINDOW_SAMPLES - half


def imu_frames(imu: ImuSamples, *, n_frames: int, magnitude: bool = False) -> np.ndarray:
    """Resampled IMU windows, one per frame (see the module docstring for the grid).

    Parameters
    ----------
    imu : ImuSamples
        Times strictly increasing (s); values (m/s^2, rad/s). NaN values are skipped per
        channel (linear interpolation across them, as :func:`~prism.data.recording.clean_imu`
        does); outside the recorded span the first/last finite sample is repeated.
    n_frames : int
        Frames to produce, >= 0.
    magnitude : bool
        Append the acceleration magnitude ``|acc|`` (m/s^2) as a seventh channel.

    Returns
    -------
    np.ndarray [shape=(n_frames, 6 or 7, 100), float32]
        ``[frame, channel, sample]`` at 50 Hz; channels :func:`imu_window_channels`.

    Raises
    ------
    DataError
        If the shapes are wrong, times are not finite and strictly increasing, or a
        channel has no finite sample.

    Examples
    --------
    >>> imu = ImuSamples(np.array([0.0, 1.0]), np.array([[0.0] * 6, [1.0] * 6]))
    >>> imu_frames(imu, n_frames=3)[1, 0, 50:56].astype(float).round(2).tolist()
    [0.2, 0.22, 0.24, 0.26, 0.28, 0.3]
    """
    _check_frames(n_frames)
    times = np.asarray(imu.times, dtype=np.float64)
    values = np.asarray(imu.values, dtype=np.float64)
    if times.ndim != 1 or values.shape != (times.size, len(IMU_CHANNELS)) or times.size == 0:
        raise DataError(
            f"IMU must be times (n,) and values (n, {len(IMU_CHANNELS)}) with n >= 1, "
            f"got {times.shape} and {values.shape}"
        )
    if not np.isfinite(times).all() or (np.diff(times) <= 0).any():
        raise DataError(
            "IMU times must be finite and strictly increasing (clean raw samples with "
            "prism.data.recording.clean_imu)"
        )
    has_finite = np.asarray(np.isfinite(values).any(axis=0))
    empty = [name for i, name in enumerate(IMU_CHANNELS) if not has_finite[i]]
    if empty:
        raise DataError(f"IMU channel(s) {', '.join(empty)} have no finite sample")
    if n_frames == 0:
        return _imu_windows(np.zeros((0, 6)), 0, magnitude=magnitude)
    first, stop = _imu_grid_span(n_frames)
    grid_values = _interpolate_grid(times, values, _grid_times(first, stop))
    return _imu_windows(grid_values, n_frames, magnitude=magnitude)


class ChannelNormalizer:
    """Per-channel standardisation of windows: ``(x - mean_[c]) / std_[c]``.

    Follows the scikit-learn contract: :meth:`fit` learns ``mean_`` and ``std_``
    (shape ``(C,)``) over all windows and samples of each channel.

    Examples
    --------
    >>> windows = np.array([[[1.0, 3.0], [10.0, 10.0]]])  # (N=1, C=2, L=2)
    >>> normalizer = ChannelNormalizer().fit(windows)
    >>> normalizer.transform(windows).tolist()
    [[[-1.0, 1.0], [0.0, 0.0]]]
    """

    mean_: np.ndarray
    std_: np.ndarray

    def fit(self, windows: np.ndarray | Sequence[np.ndarray]) -> ChannelNormalizer:
        """Learn per-channel mean and standard deviation of ``(N, C, L)`` windows.

        ``windows`` may be one array or a sequence of arrays with the same ``C`` (e.g.
        one per session: no concatenated copy is made). A channel with (near) zero
        spread gets ``std_ = 1``.
        """
        arrays = [np.asarray(windows)] if isinstance(windows, np.ndarray) else list(windows)
        arrays = [a for a in arrays if not (a.ndim == 3 and a.shape[0] == 0)]
        shapes = {a.shape[1:] if a.ndim == 3 else a.shape for a in arrays}
        if not arrays or len(shapes) != 1 or arrays[0].ndim != 3 or arrays[0].shape[2] == 0:
            raise SensingError(
                f"windows must be (N, C, L) arrays with N, L > 0 and one C, got shapes {shapes}"
            )
        count = sum(a.shape[0] * a.shape[2] for a in arrays)
        mean = sum(a.sum(axis=(0, 2), dtype=np.float64) for a in arrays) / count
        square = sum(
            np.square(a - mean[None, :, None].astype(a.dtype)).sum(axis=(0, 2), dtype=np.float64)
            for a in arrays
        )
        std = np.sqrt(square / count)
        self.mean_ = np.asarray(mean, dtype=np.float64)
        self.std_ = np.where(std > 1e-6 * np.maximum(1.0, np.abs(self.mean_)), std, 1.0)
        return self

    @property
    def n_channels(self) -> int:
        """Channels the normalizer was fitted on."""
        return int(self.mean_.size)

    def transform(self, windows: np.ndarray) -> np.ndarray:
        """Standardise ``(N, C, L)`` windows; returns float32 of the same shape."""
        if not hasattr(self, "mean_"):
            raise SensingError("ChannelNormalizer is not fitted; call fit(windows) first")
        array = np.asarray(windows)
        if array.ndim != 3 or array.shape[1] != self.n_channels:
            raise SensingError(
                f"windows must have shape (N, {self.n_channels}, L), got {array.shape}"
            )
        mean = self.mean_.astype(np.float32)[None, :, None]
        scale = (1.0 / self.std_).astype(np.float32)[None, :, None]
        return np.asarray((array.astype(np.float32) - mean) * scale, dtype=np.float32)

    def to_dict(self) -> dict[str, list[float]]:
        """``{"mean": [...], "std": [...]}`` (JSON-ready)."""
        return {"mean": self.mean_.tolist(), "std": self.std_.tolist()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChannelNormalizer:
        """Inverse of :meth:`to_dict`; raises :class:`SensingError` on malformed data."""
        try:
            mean = np.asarray(data["mean"], dtype=np.float64)
            std = np.asarray(data["std"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as error:
            raise SensingError(
                f"normalizer needs numeric 'mean' and 'std' lists ({error})"
            ) from None
        if mean.ndim != 1 or mean.shape != std.shape or mean.size == 0:
            raise SensingError(f"normalizer mean/std shapes differ: {mean.shape} vs {std.shape}")
        if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
            raise SensingError("normalizer mean/std must be finite and std > 0")
        normalizer = cls()
        normalizer.mean_, normalizer.std_ = mean, std
        return normalizer


@dataclass(frozen=True, eq=False)
class SessionFeatures:
    """Feature windows (and optionally frame labels) of one session: the training input.

    Attributes
    ----------
    session_id : str
        Identifier, used to split sessions between training and validation.
    imu : np.ndarray [shape=(T, C_imu, 100), float32] or None
        :func:`imu_frames` output (not normalised).
    audio : np.ndarray [shape=(T, 64, 40), float32] or None
        :func:`audio_frames` output (not normalised).
    labels : np.ndarray [shape=(T,), int64, in [0, S]] or None
        Class per frame, ``S`` = "other" (:func:`prism.data.annotations.frame_labels`).
    synthetic : bool
        Whether the session is semi-synthetic (kept apart in reports and model cards).
    """

    session_id: str
    imu: np.ndarray | None
    audio: np.ndarray | None
    labels: np.ndarray | None = None
    synthetic: bool = False

    def __post_init__(self) -> None:
        lengths = {
            name: array.shape[0]
            for name, array in (("imu", self.imu), ("audio", self.audio), ("labels", self.labels))
            if array is not None
        }
        if self.imu is None and self.audio is None:
            raise SensingError(f"session {self.session_id!r}: needs imu or audio features")
        if len(set(lengths.values())) > 1:
            raise SensingError(
                f"session {self.session_id!r}: frame counts differ between arrays: {lengths}"
            )
        if self.imu is not None and (self.imu.ndim != 3 or self.imu.shape[2] != IMU_WINDOW_SAMPLES):
            raise SensingError(
                f"session {self.session_id!r}: imu must be (T, C, {IMU_WINDOW_SAMPLES}), "
                f"got {self.imu.shape}"
            )
        if self.audio is not None and self.audio.shape[1:] != (N_MELS, AUDIO_COLUMNS):
            raise SensingError(
                f"session {self.session_id!r}: audio must be (T, {N_MELS}, {AUDIO_COLUMNS}), "
                f"got {self.audio.shape}"
            )
        if self.labels is not None and (
            self.labels.ndim != 1 or self.labels.dtype.kind not in "iu"
        ):
            raise SensingError(
                f"session {self.session_id!r}: labels must be integers of shape (T,), "
                f"got {self.labels.dtype} {self.labels.shape}"
            )

    @property
    def n_frames(self) -> int:
        """Frames ``T`` in the session."""
        if self.imu is not None:
            return int(self.imu.shape[0])
        return int(self.audio.shape[0]) if self.audio is not None else 0

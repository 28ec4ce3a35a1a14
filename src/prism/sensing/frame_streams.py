"""Frame streams: IMU and audio chunks in, the windows of complete frames out.

:class:`AudioFrameStream` and :class:`ImuFrameStream` turn chunks of any size into the
feature windows of the frames they complete, as the offline features do for a whole
recording (:mod:`prism.sensing.features`), keeping only the samples, STFT columns and
resampled IMU values that frames not yet returned still need.
:class:`~prism.sensing.streaming.StreamingClassifier` runs the network on them.

IMU input handling (the offline equivalent is :func:`prism.data.recording.clean_imu`):

- rows of a chunk are sorted by time; repeated timestamps keep their first row, also a
  row whose time equals the newest time of an earlier chunk;
- a row older than the newest row of an earlier chunk is *late*: ``late_imu="error"``
  (default) raises :class:`~prism.errors.DataError` and leaves the state unchanged;
  ``"drop"`` drops it and counts it in
  :attr:`~prism.sensing.streaming.StreamingClassifier.dropped_imu_samples`
  (then the output can differ from offline, which would have sorted it in);
- NaN or infinite values are missing samples of their channel and are interpolated
  across; a time gap between rows, or a run of missing values in a channel, longer than
  ``max_gap_s`` raises :class:`~prism.errors.DataError` (as ``clean_imu`` does).

Audio chunks are mono samples at ``audio_rate`` Hz (16 kHz), in order, finite (NaN or
infinite samples raise :class:`~prism.errors.DataError` and the chunk is not used).
"""

from __future__ import annotations

import numpy as np

from prism.data.recording import AUDIO_RATE_HZ, IMU_CHANNELS
from prism.errors import DataError
from prism.sensing.features import (
    AUDIO_COLUMNS,
    IMU_WINDOW_SAMPLES,
    N_MELS,
    LogMelSpec,
    SensingError,
    _column_windows,
    _decimate,
    _grid_times,
    _imu_windows,
    _interpolate_grid,
    _logmel_columns,
)
from prism.sensing.framing import FRAME_RATE_HZ, IMU_RESAMPLE_HZ

__all__ = ["AudioFrameStream", "ImuFrameStream"]

_FRAME_GRID = round(IMU_RESAMPLE_HZ / FRAME_RATE_HZ)  # IMU grid samples per frame (10)
_HALF_IMU = IMU_WINDOW_SAMPLES // 2  # 50


class AudioFrameStream:
    """Incremental :func:`~prism.sensing.features.audio_frames`.

    Parameters
    ----------
    rate : int
        Sample rate of the pushed audio (Hz).
    privacy_rate : int or None
        As in :func:`~prism.sensing.features.audio_frames`.
    """

    def __init__(self, *, rate: int = AUDIO_RATE_HZ, privacy_rate: int | None = None) -> None:
        self.spec = LogMelSpec(rate, privacy_rate)
        spec = self.spec
        self._delay = (spec.taps.size - 1) // 2
        # decimation input: padded-x index of _raw[0]; padded[p] = x[p - delay]
        self._raw = np.zeros(self._delay if spec.decimation > 1 else 0)
        self._raw_origin = 0
        self._n_in = 0
        self._next_out = 0  # next decimated sample
        # analysed signal: signal index of _signal[0] (negative indices are zeros)
        half = AUDIO_COLUMNS // 2
        self._next_column = -half
        self._signal_origin = (self._next_column + 1) * spec.hop - spec.win_length
        self._signal = np.zeros(-self._signal_origin)
        self._columns = np.zeros((0, N_MELS))
        self._columns_origin = -half  # column index of _columns[0]
        self._emitted = 0
        self._limit: int | None = None  # total frames, known after finish()

    @property
    def n_samples(self) -> int:
        """Samples pushed so far."""
        return self._n_in

    @property
    def held(self) -> dict[str, int]:
        """Sizes of the internal buffers (samples, STFT columns): bounded while streaming."""
        return {
            "input_samples": int(self._raw.size),
            "signal_samples": int(self._signal.size),
            "columns": int(self._columns.shape[0]),
        }

    @property
    def emitted(self) -> int:
        """Frames already returned by :meth:`pop`."""
        return self._emitted

    @property
    def ready(self) -> int:
        """Frames whose windows are complete and not yet returned."""
        computed = self._columns_origin + self._columns.shape[0]  # next column not computed
        per_frame, half = self.spec.columns_per_frame, AUDIO_COLUMNS // 2
        total = max(0, (computed - (AUDIO_COLUMNS - half)) // per_frame + 1)
        if self._limit is not None:
            total = min(total, self._limit)
        return total - self._emitted

    def push(self, samples: np.ndarray) -> None:
        """Append mono samples (any number, in order).

        Raises
        ------
        DataError
            If ``samples`` is not 1-D numeric or holds NaN or infinite values (the chunk
            is then ignored), or after :meth:`finish`.
        """
        if self._limit is not None:
            raise DataError("audio pushed after finish()")
        chunk = np.asarray(samples)
        if chunk.ndim != 1 or chunk.dtype.kind not in "fiu":
            raise DataError(
                f"audio chunk must be mono samples (n,), got {chunk.dtype} {chunk.shape}"
            )
        chunk = chunk.astype(np.float64)
        if not np.isfinite(chunk).all():
            raise DataError(
                f"audio chunk holds NaN or infinite samples (after {self._n_in} samples); "
                "the chunk was not used"
            )
        if chunk.size == 0:
            return
        self._n_in += chunk.size
        if self.spec.decimation > 1:
            self._raw = np.concatenate([self._raw, chunk])
            self._decimate(final=False)
        else:
            self._signal = np.concatenate([self._signal, chunk])
        self._analyse()

    def _decimate(self, *, final: bool) -> None:
        spec = self.spec
        factor, length = spec.decimation, spec.taps.size
        known = self._raw_origin + self._raw.size  # padded samples held (real or final zeros)
        stop = (known - length) // factor + 1 if known >= length else 0
        if final:
            stop = -(-self._n_in // factor)
            need = (stop - 1) * factor + length - known
            if need > 0:
                self._raw = np.concatenate([self._raw, np.zeros(need)])
        count = stop - self._next_out
        if count <= 0:
            return
        start = self._next_out * factor - self._raw_origin
        out = _decimate(self._raw[start:], count, spec)
        self._next_out = stop
        drop = stop * factor - self._raw_origin
        self._raw = self._raw[drop:]
        self._raw_origin += drop
        self._signal = np.concatenate([self._signal, out])

    def _analyse(self) -> None:
        spec = self.spec
        end = self._signal_origin + self._signal.size
        last = end // spec.hop - 1  # last column m with (m + 1) * hop <= end
        count = last - self._next_column + 1
        if count <= 0:
            return
        first_sample = (self._next_column + 1) * spec.hop - spec.win_length - self._signal_origin
        columns = _logmel_columns(self._signal[first_sample:], count, spec)
        self._columns = np.concatenate([self._columns, columns])
        self._next_column += count
        keep = (self._next_column + 1) * spec.hop - spec.win_length - self._signal_origin
        self._signal = self._signal[keep:]
        self._signal_origin += keep

    def finish(self, n_frames: int) -> None:
        """Mark the end of the audio; the session has ``n_frames`` frames.

        The signal is padded with zeros as offline. Raises :class:`SensingError` if more
        than ``n_frames`` frames were already returned.
        """
        if n_frames < self._emitted:
            raise SensingError(
                f"{self._emitted} audio frames already returned, > n_frames {n_frames}"
            )
        if self._limit is not None:
            return
        self._limit = n_frames
        if self.spec.decimation > 1:
            self._decimate(final=True)
        spec = self.spec
        last = spec.columns_per_frame * (n_frames - 1) + AUDIO_COLUMNS - AUDIO_COLUMNS // 2 - 1
        end = self._signal_origin + self._signal.size
        need = (last + 1) * spec.hop - end
        if need > 0:
            self._signal = np.concatenate([self._signal, np.zeros(need)])
        self._analyse()

    def pop(self, count: int | None = None) -> np.ndarray:
        """Return up to ``count`` (default: all) ready frames, ``(k, 64, 40)`` float32."""
        k = self.ready if count is None else min(count, self.ready)
        first = self.spec.columns_per_frame * self._emitted - AUDIO_COLUMNS // 2
        start = first - self._columns_origin
        windows = _column_windows(self._columns[start:], k, self.spec)
        self._emitted += k
        drop = self.spec.columns_per_frame * self._emitted - AUDIO_COLUMNS // 2
        drop -= self._columns_origin
        if drop > 0:
            self._columns = self._columns[drop:]
            self._columns_origin += drop
        return windows


def _in_order_after(stamps: np.ndarray, newest: float) -> bool:
    """Whether ``stamps`` (finite, ``(n,)``, n >= 1) strictly increase from after
    ``newest``: then sorting, repeats and late rows need no work."""
    return bool(stamps.size and stamps[0] > newest and (stamps[1:] > stamps[:-1]).all())


class ImuFrameStream:
    """Incremental :func:`~prism.sensing.features.imu_frames` (input rules: module docstring).

    Parameters
    ----------
    magnitude : bool
        Append the acceleration magnitude channel.
    late : {"error", "drop"}
        What to do with rows older than an earlier chunk's newest row.
    max_gap_s : float
        Longest gap between rows, or run of missing values in a channel (s).
    """

    def __init__(
        self, *, magnitude: bool = False, late: str = "error", max_gap_s: float = 1.0
    ) -> None:
        if late not in ("error", "drop"):
            raise SensingError(f"late must be 'error' or 'drop', got {late!r}")
        if not max_gap_s > 0:
            raise SensingError(f"max_gap_s must be > 0 s, got {max_gap_s!r}")
        self.magnitude, self.late, self.max_gap_s = magnitude, late, max_gap_s
        self._times = np.zeros(0)
        self._values = np.zeros((0, len(IMU_CHANNELS)))
        self._newest = -np.inf  # newest row time received
        self._first_row = np.nan
        self._last_finite = np.full(len(IMU_CHANNELS), -np.inf)  # per channel
        self._next_grid = -_HALF_IMU
        self._grid = np.zeros((0, len(IMU_CHANNELS)))
        self._grid_origin = -_HALF_IMU
        self._emitted = 0
        self._limit: int | None = None
        self.dropped = 0

    @property
    def newest_time(self) -> float:
        """Time of the newest row received (s); -inf before any."""
        return float(self._newest)

    @property
    def held(self) -> dict[str, int]:
        """Sizes of the internal buffers (rows, grid samples): bounded while streaming."""
        return {"rows": int(self._times.size), "grid_samples": int(self._grid.shape[0])}

    @property
    def first_time(self) -> float:
        """Time of the first row received (s); NaN before any."""
        return float(self._first_row)

    @property
    def emitted(self) -> int:
        """Frames already returned by :meth:`pop`."""
        return self._emitted

    @property
    def ready(self) -> int:
        """Frames whose windows are complete and not yet returned."""
        total = max(0, (self._next_grid - IMU_WINDOW_SAMPLES + _HALF_IMU) // _FRAME_GRID + 1)
        if self._limit is not None:
            total = min(total, self._limit)
        return total - self._emitted

    def push(self, times: np.ndarray, values: np.ndarray) -> None:
        """Append IMU rows: ``times (n,)`` seconds, ``values (n, 6)`` (m/s^2, rad/s).

        Raises
        ------
        DataError
            On wrong shapes, non-finite times, late rows with ``late="error"``, or a gap
            longer than ``max_gap_s``; the state is then unchanged.
        """
        if self._limit is not None:
            raise DataError("IMU pushed after finish()")
        stamps = np.asarray(times, dtype=np.float64)
        rows = np.asarray(values, dtype=np.float64)
        if stamps.ndim != 1 or rows.shape != (stamps.size, len(IMU_CHANNELS)):
            raise DataError(
                f"IMU chunk must be times (n,) and values (n, {len(IMU_CHANNELS)}), "
                f"got {stamps.shape} and {rows.shape}"
            )
        if not np.isfinite(stamps).all():
            raise DataError("IMU chunk timestamps contain NaN or infinite values")
        if not _in_order_after(stamps, self._newest):  # the usual chunk needs none of this
            order = np.argsort(stamps, kind="stable")
            stamps, rows = stamps[order], rows[order]
            keep = np.concatenate([[True], np.diff(stamps) > 0]) & (stamps != self._newest)
            late = stamps < self._newest
            if late.any() and self.late == "error":
                raise DataError(
                    f"IMU chunk has {int(late.sum())} row(s) older than t = {self._newest:.3f} s "
                    f"already received (first at t = {stamps[late][0]:.3f} s); "
                    "the chunk was not used"
                )
            self.dropped += int(late.sum())
            stamps, rows = stamps[keep & ~late], rows[keep & ~late]
            if stamps.size == 0:
                return
        finite = np.isfinite(rows)
        all_finite = bool(finite.all())
        self._check_gaps(stamps, rows, all_finite=all_finite)
        if np.isnan(self._first_row):
            self._first_row = stamps[0]
        self._newest = stamps[-1]
        if all_finite:  # the usual chunk: one step for every channel
            self._last_finite[:] = stamps[-1]
        else:
            for channel in range(rows.shape[1]):
                if finite[:, channel].any():
                    self._last_finite[channel] = stamps[finite[:, channel]][-1]
        self._times = np.concatenate([self._times, stamps])
        self._values = np.concatenate([self._values, rows])
        self._resample(float(self._last_finite.min()))

    def _check_gaps(self, stamps: np.ndarray, rows: np.ndarray, *, all_finite: bool) -> None:
        marks = stamps if np.isinf(self._newest) else np.concatenate([[self._newest], stamps])
        gaps = np.diff(marks)
        if (gaps > self.max_gap_s).any():
            i = int(np.argmax(gaps > self.max_gap_s))
            raise DataError(
                f"IMU has a gap of {gaps[i]:.2f} s at t = {marks[i]:.2f} s "
                f"(longer than max_gap_s = {self.max_gap_s} s); the chunk was not used"
            )
        first = stamps[0] if np.isnan(self._first_row) else self._first_row
        if all_finite:  # the only missing run a channel can have: before the chunk
            anchors = np.where(np.isinf(self._last_finite), first, self._last_finite)
            runs = stamps[0] - anchors
            if (runs > self.max_gap_s).any():
                channel = int(np.argmax(runs))
                raise DataError(
                    f"IMU channel {IMU_CHANNELS[channel]} is NaN for {runs[channel]:.2f} s from "
                    f"t = {anchors[channel]:.2f} s (longer than max_gap_s = {self.max_gap_s} s); "
                    "the chunk was not used"
                )
            return
        for channel, name in enumerate(IMU_CHANNELS):
            anchor = self._last_finite[channel]
            anchor = first if np.isinf(anchor) else anchor
            finite = np.isfinite(rows[:, channel])
            marks = np.concatenate([[anchor], stamps[finite]])
            if finite.size and not finite[-1]:
                marks = np.concatenate([marks, stamps[-1:]])  # a run still open at the end
            run = np.diff(marks)
            if (run > self.max_gap_s).any():
                i = int(np.argmax(run > self.max_gap_s))
                raise DataError(
                    f"IMU channel {name} is NaN for {run[i]:.2f} s from t = {marks[i]:.2f} s "
                    f"(longer than max_gap_s = {self.max_gap_s} s); the chunk was not used"
                )

    def _resample(self, until: float, *, stop: int | None = None) -> None:
        """Compute grid samples up to time ``until`` (or up to index ``stop``)."""
        if stop is None:
            if not np.isfinite(until):
                return
            stop = int(np.floor(until * IMU_RESAMPLE_HZ)) + 2
            grid = _grid_times(self._next_grid, max(stop, self._next_grid))
            stop = self._next_grid + int(np.count_nonzero(grid <= until))
            grid = grid[: stop - self._next_grid]
        else:
            grid = _grid_times(self._next_grid, max(stop, self._next_grid))
        if stop <= self._next_grid:
            return
        values = _interpolate_grid(self._times, self._values, grid)
        self._grid = np.concatenate([self._grid, values])
        self._next_grid = stop
        self._prune()

    def _prune(self) -> None:
        """Drop rows no future grid sample needs (keep each channel's left bracket)."""
        if self._times.size == 0:
            return
        next_time = self._next_grid / IMU_RESAMPLE_HZ
        if np.isfinite(self._values).all():  # every channel's left bracket is the same row
            bracket = int(np.searchsorted(self._times, next_time, side="right")) - 1
            keep_from = max(0, bracket)
            self._times, self._values = self._times[keep_from:], self._values[keep_from:]
            return
        keep_from = self._times.size
        for channel in range(self._values.shape[1]):
            usable = np.flatnonzero(np.isfinite(self._values[:, channel]))
            before = usable[self._times[usable] <= next_time]
            index = before[-1] if before.size else (usable[0] if usable.size else 0)
            keep_from = min(keep_from, int(index))
        self._times, self._values = self._times[keep_from:], self._values[keep_from:]

    def finish(self, n_frames: int) -> None:
        """Mark the end; the last sample is repeated as offline for ``n_frames`` frames.

        Raises
        ------
        DataError
            If a channel never had a finite value, or ends with a missing run longer than
            ``max_gap_s``.
        SensingError
            If more than ``n_frames`` frames were already returned.
        """
        if n_frames < self._emitted:
            raise SensingError(
                f"{self._emitted} IMU frames already returned, > n_frames {n_frames}"
            )
        if self._limit is not None:
            return
        empty = [
            name for name, t in zip(IMU_CHANNELS, self._last_finite, strict=True) if np.isinf(t)
        ]
        if empty:
            raise DataError(f"IMU channel(s) {', '.join(empty)} have no finite sample")
        for name, t in zip(IMU_CHANNELS, self._last_finite, strict=True):
            if self._newest - t > self.max_gap_s:
                raise DataError(
                    f"IMU channel {name} is NaN for {self._newest - t:.2f} s from t = {t:.2f} s "
                    f"(longer than max_gap_s = {self.max_gap_s} s)"
                )
        self._limit = n_frames
        last = _FRAME_GRID * (n_frames - 1) + IMU_WINDOW_SAMPLES - _HALF_IMU
        self._resample(np.inf, stop=max(last, self._next_grid))

    def pop(self, count: int | None = None) -> np.ndarray:
        """Return up to ``count`` (default: all) ready frames, ``(k, C, 100)`` float32."""
        k = self.ready if count is None else min(count, self.ready)
        start = _FRAME_GRID * self._emitted - _HALF_IMU - self._grid_origin
        windows = _imu_windows(self._grid[start:], k, magnitude=self.magnitude)
        self._emitted += k
        drop = _FRAME_GRID * self._emitted - _HALF_IMU - self._grid_origin
        if drop > 0:
            self._grid = self._grid[drop:]
            self._grid_origin += drop
        return windows

"""Streaming classification: push IMU and audio chunks, get frames as soon as they are complete.

:class:`StreamingClassifier` wraps a fitted
:class:`~prism.sensing.classifier.ActivityClassifier`. It is pushed chunks of any size
(:meth:`~StreamingClassifier.push_imu`, :meth:`~StreamingClassifier.push_audio`) and
returns the probability rows of every frame whose windows are complete
(:meth:`~StreamingClassifier.pop_frames`); :meth:`~StreamingClassifier.finish` pads the
end as the offline features do and returns the rest. The causal context of the network is
carried from frame to frame (in a row of the network's
:class:`~prism.sensing.state_pool.StatePool`, beside the other streams' states, so a batch
of streams gathers and stores its states in one operation per level), so the rows equal
:meth:`~prism.sensing.classifier.ActivityClassifier.predict_proba` on the whole
recording (to float rounding, ~1e-6).

Latency: frame ``f`` (time ``t = f / 5`` s) needs audio up to ``t + 0.5`` s and IMU up to
``t + 0.98`` s, so frames come out about 1 s after their time with both modalities.

One sensor only: a session of a watch without a microphone (or whose user refused it),
or without motion sensors, sends one modality. When nothing of one modality has come
while the other, pushed in :data:`SOLO_AFTER_PUSHES` chunks or more (a live stream, not
a recording pushed whole), covers :data:`SOLO_AFTER_S` of the session, the missing one is
left out for the rest of the session (treated as missing, as ``modalities`` does) and
frames come from the other alone; samples of it that come later are ignored (counted).
The rule depends only on the data pushed, so a replay of the same inputs decides the
same.

Memory is bounded: the extractors keep only the samples, STFT columns and resampled IMU
values that frames not yet returned still need.

The windows come from :mod:`prism.sensing.frame_streams` (how IMU and audio input is
checked and cleaned is described there).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence

import numpy as np
import torch

from prism.data.recording import AUDIO_RATE_HZ
from prism.errors import DataError
from prism.sensing.calibration import softmax
from prism.sensing.classifier import COVERAGE_TOLERANCE_S, ActivityClassifier
from prism.sensing.features import (
    SensingError,
)
from prism.sensing.frame_streams import AudioFrameStream, ImuFrameStream
from prism.sensing.framing import frame_count
from prism.sensing.network import FusedActivityNet, check_modalities
from prism.sensing.state_pool import StateSlot

__all__ = [
    "SOLO_AFTER_PUSHES",
    "SOLO_AFTER_S",
    "FrameBatch",
    "StreamingClassifier",
    "classify_streams",
]


SOLO_AFTER_S = 3.0
"""Session time (s) one modality covers with nothing of the other before the other is
left out (see the module docstring)."""

SOLO_AFTER_PUSHES = 3
"""Chunks of one modality pushed with nothing of the other before the other may be left
out."""


class StreamingClassifier:
    """Frame-by-frame classification of a live session with a fitted classifier.

    Parameters
    ----------
    classifier : ActivityClassifier
        Fitted (or loaded) model.
    modalities : sequence of str or None
        Inputs to use (default: the model's). A model modality left out is treated as
        missing, as in ``predict_proba(..., modalities=...)``.
    audio_rate : int
        Sample rate of pushed audio (Hz); must be a multiple of the model's privacy
        rate in privacy mode (e.g. a watch sending 1 kHz audio: ``audio_rate=1000``).
    late_imu : {"error", "drop"}
        Handling of IMU rows older than an earlier chunk (see the module docstring).
    max_gap_s : float
        Longest IMU gap or run of missing values (s).
    threads : int or None
        Torch intra-op threads for the network calls of :meth:`pop_frames` (set and
        restored around each call). 1, the default, is fastest for a few frames at a
        time and keeps sessions that share the CPU cores from slowing each other down
        (with 2 threads on busy cores a call can take 50 times longer); None leaves the
        process setting alone.

    Examples
    --------
    ::

        stream = StreamingClassifier(ActivityClassifier.load("models/latte_making"))
        for imu_times, imu_values, audio in chunks:
            stream.push_imu(imu_times, imu_values)
            stream.push_audio(audio)
            rows = stream.pop_frames()      # (k, S + 1), frames n_emitted - k ...
        rows = stream.finish(duration_s=session_length)
    """

    def __init__(
        self,
        classifier: ActivityClassifier,
        *,
        modalities: Sequence[str] | None = None,
        audio_rate: int = AUDIO_RATE_HZ,
        late_imu: str = "error",
        max_gap_s: float = 1.0,
        threads: int | None = 1,
    ) -> None:
        classifier.check_fitted()
        if threads is not None and (isinstance(threads, bool) or threads < 1):
            raise SensingError(f"threads must be None or an integer >= 1, got {threads!r}")
        self.threads = threads
        chosen = classifier.modalities if modalities is None else check_modalities(modalities)
        extra = set(chosen) - set(classifier.modalities)
        if extra:
            raise SensingError(
                f"the model has no {sorted(extra)} input (it uses {classifier.modalities})"
            )
        self.classifier = classifier
        self.modalities = chosen
        self.left_out: str | None = None
        """The modality left out because nothing of it came (None: none)."""
        self._pushes = {"imu": 0, "audio": 0}
        self._imu = (
            ImuFrameStream(magnitude=classifier.imu_magnitude, late=late_imu, max_gap_s=max_gap_s)
            if "imu" in chosen
            else None
        )
        self._audio = (
            AudioFrameStream(rate=audio_rate, privacy_rate=classifier.privacy_rate)
            if "audio" in chosen
            else None
        )
        model_rate = classifier.audio_spec.signal_rate
        if self._audio is not None and self._audio.spec.signal_rate != model_rate:
            raise SensingError(
                f"the model analyses audio at {model_rate} Hz; audio pushed at "
                f"audio_rate = {audio_rate} Hz cannot give the same features"
            )
        self._network = _inference_network(classifier.network_)
        self._state = StateSlot(self._network)
        self._emitted = 0
        self._finished = False
        self.ignored_samples = 0
        """Samples of a modality left out for arriving after :data:`SOLO_AFTER_S`."""

    def model_parts(self) -> dict[str, object]:
        """The objects this stream takes from its model, the same (or equal) for every
        stream of the model: the classifier, its network, the audio feature settings.
        A checkpoint of a session refers to them instead of copying them."""
        parts: dict[str, object] = {"classifier": self.classifier, "network": self._network}
        if self._audio is not None:
            parts["audio_spec"] = self._audio.spec
        return parts

    @property
    def n_emitted(self) -> int:
        """Frames returned so far (the next row returned is frame ``n_emitted``)."""
        return self._emitted

    @property
    def dropped_imu_samples(self) -> int:
        """Late IMU rows dropped (``late_imu="drop"``)."""
        return self._imu.dropped if self._imu is not None else 0

    def push_imu(self, times: np.ndarray, values: np.ndarray) -> None:
        """Add IMU rows: ``times (n,)`` s from the session start, ``values (n, 6)``."""
        if self._imu is None:
            if self.left_out == "imu":
                self.ignored_samples += len(times)
                return
            raise SensingError(f"this stream does not use IMU (modalities {self.modalities})")
        self._imu.push(times, values)
        self._pushes["imu"] += 1
        silent = self._audio is not None and self._audio.n_samples == 0
        if silent and self._solo("imu", self._imu.newest_time):
            self._leave_out("audio")

    def push_audio(self, samples: np.ndarray) -> None:
        """Add mono audio samples at ``audio_rate`` Hz, following the previous chunk."""
        if self._audio is None:
            if self.left_out == "audio":
                self.ignored_samples += len(samples)
                return
            raise SensingError(f"this stream does not use audio (modalities {self.modalities})")
        self._audio.push(samples)
        self._pushes["audio"] += 1
        silent = self._imu is not None and not np.isfinite(self._imu.newest_time)
        if silent and self._solo("audio", self._audio.n_samples / self._audio.spec.rate):
            self._leave_out("imu")

    def _solo(self, modality: str, covered_s: float) -> bool:
        """Whether ``modality`` alone has come long enough (see the module docstring)."""
        return self._pushes[modality] >= SOLO_AFTER_PUSHES and covered_s >= SOLO_AFTER_S

    def _leave_out(self, modality: str) -> None:
        """Go on without ``modality`` (nothing of it came: the module docstring)."""
        if modality == "audio":
            self._audio = None
        else:
            self._imu = None
        self.modalities = tuple(m for m in self.modalities if m != modality)
        self.left_out = modality

    def _streams(self) -> list[ImuFrameStream | AudioFrameStream]:
        return [s for s in (self._imu, self._audio) if s is not None]

    def pop_frames(self) -> np.ndarray:
        """Probabilities of every newly complete frame.

        Returns
        -------
        np.ndarray [shape=(k, S + 1), float64, rows sum to 1]
            Frames ``n_emitted - k ... n_emitted - 1`` (after the call); ``k`` may be 0.
        """
        return classify_streams([self], threads=self.threads)[0]

    @property
    def ready(self) -> int:
        """Frames whose windows are complete and not yet returned."""
        return min(stream.ready for stream in self._streams())

    def _pop_windows(self) -> dict[str, np.ndarray | None]:
        """The windows of the :attr:`ready` frames, by modality (None: unused), not yet
        normalised (:class:`FrameBatch` normalises the windows of all its streams at once)."""
        k = self.ready
        windows: dict[str, np.ndarray | None] = {"imu": None, "audio": None}
        if self._imu is not None:
            windows["imu"] = self._imu.pop(k)
        if self._audio is not None:
            windows["audio"] = self._audio.pop(k)
        self._emitted += k
        return windows

    def _check_coverage(self, duration: float) -> None:
        """The offline rule: no modality may miss more than COVERAGE_TOLERANCE_S at an end."""
        spans = []
        if self._imu is not None and np.isfinite(self._imu.newest_time):
            spans.append(("IMU", self._imu.first_time, self._imu.newest_time))
        if self._audio is not None:
            spans.append(("audio", 0.0, self._audio.n_samples / self._audio.spec.rate))
        for what, first, last in spans:
            if first > COVERAGE_TOLERANCE_S or duration - last > COVERAGE_TOLERANCE_S:
                raise DataError(
                    f"{what} covers {first:.2f}..{last:.2f} s of a {duration:.2f} s session "
                    f"(more than {COVERAGE_TOLERANCE_S} s missing at an end)"
                )

    def finish(self, *, duration_s: float | None = None) -> np.ndarray:
        """End the session: pad the signals as offline and return the remaining frames.

        Parameters
        ----------
        duration_s : float or None
            Session length (s), giving ``ceil(duration_s * 5)`` frames in all. Default:
            the longer of the audio received and the newest IMU time. Pass the
            recording's duration to reproduce ``predict_proba`` exactly.

        Returns
        -------
        np.ndarray [shape=(k, S + 1)]

        Raises
        ------
        DataError
            If a modality leaves more than ``COVERAGE_TOLERANCE_S`` of the session
            uncovered at an end (as offline), or the IMU input is unusable at the end.
        """
        if self._finished:
            raise SensingError("finish() was already called")
        if duration_s is None:
            ends = [0.0]
            if self._imu is not None and np.isfinite(self._imu.newest_time):
                ends.append(self._imu.newest_time)
            if self._audio is not None:
                ends.append(self._audio.n_samples / self._audio.spec.rate)
            duration_s = max(ends)
        self._check_coverage(duration_s)
        n_frames = frame_count(duration_s)
        if n_frames < self._emitted:
            raise SensingError(
                f"duration_s = {duration_s} s gives {n_frames} frames but {self._emitted} "
                "were already returned"
            )
        for stream in self._streams():
            stream.finish(n_frames)
        self._finished = True
        return self.pop_frames()


_INFERENCE: weakref.WeakKeyDictionary[FusedActivityNet, FusedActivityNet] = (
    weakref.WeakKeyDictionary()
)
_INFERENCE_LOCK = threading.Lock()


def _inference_network(network: FusedActivityNet) -> FusedActivityNet:
    """``network.for_inference()``, made once per network: the streams of one model share
    it (and with it their row pool: :mod:`prism.sensing.state_pool`)."""
    with _INFERENCE_LOCK:
        twin = _INFERENCE.get(network)
        if twin is None:
            twin = _INFERENCE[network] = network.for_inference()
        return twin


def classify_streams(
    streams: Sequence[StreamingClassifier], *, threads: int | None = 1
) -> list[np.ndarray]:
    """Pop and classify the ready frames of many live sessions with few network calls.

    Streams sharing a classifier (and modalities) are run together: one encoder call on
    all their frames, then one context call per group of streams with the same number of
    new frames (their carried states stacked on the batch axis). Each stream gets the rows
    its own :meth:`StreamingClassifier.pop_frames` would give (to float rounding): the
    network treats batch items independently. ``classify_streams(s)`` is
    ``FrameBatch(s).classify()``.

    Parameters
    ----------
    streams : sequence of StreamingClassifier
        Distinct streams (a stream listed twice raises :class:`SensingError`).
    threads : int or None
        Torch intra-op threads during the calls (None: leave the process setting).

    Returns
    -------
    list of np.ndarray [shape=(k_i, S_i + 1)]
        Per stream, in order, the probabilities of its newly complete frames (``k_i``
        may be 0).
    """
    return FrameBatch(streams).classify(threads=threads)


class FrameBatch:
    """The ready frames of many streams, popped now and classified later (maybe on a
    worker thread: :meth:`classify` touches only the streams' network states, which
    nothing else changes, so the streams may be pushed new samples meanwhile).

    Parameters
    ----------
    streams : sequence of StreamingClassifier
        Distinct streams; their ready windows are taken at construction (and normalised
        together when classified).
    """

    def __init__(self, streams: Sequence[StreamingClassifier]) -> None:
        if len({id(stream) for stream in streams}) != len(streams):
            raise SensingError("classify_streams got the same stream twice")
        self.streams = list(streams)
        self._groups: dict[tuple[int, tuple[str, ...]], list[int]] = {}
        self._windows: dict[int, dict[str, np.ndarray | None]] = {}
        for index, stream in enumerate(self.streams):
            if stream.ready > 0:
                key = (id(stream.classifier), stream.modalities)
                self._groups.setdefault(key, []).append(index)
                self._windows[index] = stream._pop_windows()

    @property
    def n_frames(self) -> int:
        """Frames taken from all the streams."""
        return sum(_count(windows) for windows in self._windows.values())

    def classify(self, *, threads: int | None = 1) -> list[np.ndarray]:
        """Per stream, in order, the probabilities ``(k_i, S_i + 1)`` of its frames."""
        results = [np.zeros((0, stream.classifier.n_classes)) for stream in self.streams]
        if not self._groups:
            return results
        previous = torch.get_num_threads()
        if threads is not None:
            torch.set_num_threads(threads)
        try:
            with torch.no_grad():
                for members in self._groups.values():
                    rows = self._classify_group(members)
                    for index, own in zip(members, rows, strict=True):
                        results[index] = own
        finally:
            torch.set_num_threads(previous)
        return results

    def _classify_group(self, members: list[int]) -> list[np.ndarray]:
        """Rows of streams that share one classifier and modalities: their windows
        normalised together, one encoder call, one context call per frame count."""
        streams = [self.streams[i] for i in members]
        windows = [self._windows[i] for i in members]
        classifier, network = streams[0].classifier, streams[0]._network
        counts = [_count(w) for w in windows]
        inputs: dict[str, torch.Tensor | None] = {}
        for name in ("imu", "audio"):
            parts = [part for w in windows if (part := w[name]) is not None]
            if not parts:  # streams of a group share their modalities
                inputs[name] = None
                continue
            joined = np.concatenate(parts) if len(parts) > 1 else parts[0]
            inputs[name] = torch.from_numpy(classifier.normalizers_[name].transform(joined))
        embeddings = torch.split(network.embed(inputs["imu"], inputs["audio"]), counts)
        by_count: dict[int, list[int]] = {}
        for position, count in enumerate(counts):
            by_count.setdefault(count, []).append(position)
        rows: list[np.ndarray] = [np.zeros(0)] * len(streams)
        pool = streams[0]._state.pool
        for same in by_count.values():
            slots = torch.tensor([streams[i]._state.row for i in same])
            stacked = torch.stack([embeddings[i] for i in same])
            logits, new_state = network.context(stacked, pool.gather(slots))
            pool.scatter(slots, new_state)
            probabilities = softmax(logits.numpy(), temperature=classifier.temperature_)
            for place, i in enumerate(same):
                rows[i] = probabilities[place]
        return rows


def _count(windows: dict[str, np.ndarray | None]) -> int:
    """Frames in one stream's popped windows."""
    return next(int(w.shape[0]) for w in windows.values() if w is not None)

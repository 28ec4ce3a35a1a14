"""Hand-made window features and the random-forest baseline (the published recipe).

The published PrISM/SAMoSA pipelines classify windows with a random forest over
hand-made statistics of the motion and embeddings or statistics of the sound. This
module is that baseline, run on the same windows as the neural model:

- IMU window ``(C, 100)``: per channel mean, std, min, max, range, mean absolute
  first difference, energy, and the dominant frequency and its share of the spectrum;
  plus the correlation of the three acceleration axes.
- Audio log-mel window ``(64, A)``: per mel band mean and std over time, plus overall
  loudness, spectral flux and the band of maximum energy.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import RandomForestClassifier

from prism.errors import BaselineError
from prism.sensing.framing import IMU_RESAMPLE_HZ

__all__ = [
    "RandomForestBaseline",
    "audio_window_features",
    "imu_window_features",
    "window_features",
]


def imu_window_features(windows: np.ndarray, *, rate: float = IMU_RESAMPLE_HZ) -> np.ndarray:
    """Statistics of IMU windows.

    Parameters
    ----------
    windows : np.ndarray [shape=(n, C, L)]
        IMU windows (channels first), sampled at ``rate`` Hz; the first three channels
        are acceleration.
    rate : float
        Sample rate (Hz), for the dominant frequency.

    Returns
    -------
    np.ndarray [shape=(n, 9 * C + 3), float32]

    Examples
    --------
    >>> imu_window_features(np.zeros((2, 6, 100))).shape
    (2, 57)
    """
    x = np.asarray(windows, dtype=np.float64)
    mean = x.mean(axis=2)
    centred = x - mean[:, :, None]
    spectrum = np.abs(np.fft.rfft(centred, axis=2)) ** 2
    spectrum[:, :, 0] = 0.0
    total = spectrum.sum(axis=2) + 1e-12
    peak = spectrum.argmax(axis=2)
    frequencies = np.fft.rfftfreq(x.shape[2], d=1.0 / rate)
    acc = centred[:, :3, :]
    norms = np.sqrt((acc**2).sum(axis=2)) + 1e-9
    correlation = np.stack(
        [
            (acc[:, i] * acc[:, j]).sum(axis=1) / (norms[:, i] * norms[:, j])
            for i, j in ((0, 1), (0, 2), (1, 2))
        ],
        axis=1,
    )
    parts = [
        mean,
        x.std(axis=2),
        x.min(axis=2),
        x.max(axis=2),
        np.ptp(x, axis=2),
        np.abs(np.diff(x, axis=2)).mean(axis=2),
        (centred**2).mean(axis=2),
        frequencies[peak],
        spectrum.max(axis=2) / total,
        correlation,
    ]
    return np.concatenate(parts, axis=1).astype(np.float32)


def audio_window_features(log_mel: np.ndarray) -> np.ndarray:
    """Statistics of log-mel windows.

    Parameters
    ----------
    log_mel : np.ndarray [shape=(n, M, A), dB]
        Log-mel windows (mel bands, time columns).

    Returns
    -------
    np.ndarray [shape=(n, 2 * M + 3), float32]

    Examples
    --------
    >>> audio_window_features(np.zeros((2, 64, 40))).shape
    (2, 131)
    """
    x = np.asarray(log_mel, dtype=np.float64)
    band_mean = x.mean(axis=2)
    flux = np.abs(np.diff(x, axis=2)).mean(axis=(1, 2))
    parts = [
        band_mean,
        x.std(axis=2),
        band_mean.mean(axis=1, keepdims=True),
        flux[:, None],
        band_mean.argmax(axis=1)[:, None].astype(np.float64),
    ]
    return np.concatenate(parts, axis=1).astype(np.float32)


def window_features(imu: np.ndarray | None, audio: np.ndarray | None) -> np.ndarray:
    """Concatenated hand-made features of whichever modalities are given, ``(n, F)``."""
    parts = []
    if imu is not None:
        parts.append(imu_window_features(imu))
    if audio is not None:
        parts.append(audio_window_features(audio))
    if not parts:
        raise BaselineError("window_features needs imu or audio windows")
    if len({part.shape[0] for part in parts}) > 1:
        raise BaselineError(f"imu and audio frame counts differ: {[p.shape[0] for p in parts]}")
    return np.concatenate(parts, axis=1)


class RandomForestBaseline:
    """Random forest on hand-made window features, scikit-learn style.

    Parameters
    ----------
    n_classes : int
        Number of classes ``S + 1``; :meth:`predict_proba` always returns that many
        columns, 0 for classes absent from training.
    n_estimators : int
        Trees.
    seed : int
        Random state.
    """

    def __init__(self, n_classes: int, *, n_estimators: int = 200, seed: int = 0) -> None:
        self.n_classes = n_classes
        self.n_estimators = n_estimators
        self.seed = seed

    def fit(self, features: np.ndarray, labels: np.ndarray) -> RandomForestBaseline:
        """Fit on ``(n, F)`` features and ``(n,)`` labels in ``[0, n_classes)``."""
        if features.shape[0] != labels.shape[0]:
            raise BaselineError(
                f"features and labels differ in length: {features.shape[0]} vs {labels.shape[0]}"
            )
        if labels.size and (labels.min() < 0 or labels.max() >= self.n_classes):
            raise BaselineError(f"labels must be in [0, {self.n_classes})")
        self.forest_ = RandomForestClassifier(
            n_estimators=self.n_estimators,
            min_samples_leaf=2,
            class_weight="balanced",
            n_jobs=-1,
            random_state=self.seed,
        ).fit(features, labels)
        return self

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities ``(n, n_classes)``, rows summing to 1."""
        probabilities = np.zeros((features.shape[0], self.n_classes))
        probabilities[:, self.forest_.classes_] = self.forest_.predict_proba(features)
        return probabilities

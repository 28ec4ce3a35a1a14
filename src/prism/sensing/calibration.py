"""Calibration of classifier probabilities: temperature scaling, ECE, confusion matrices.

Temperature scaling (Guo et al., 2017) divides the logits by one scalar ``T > 0`` fitted
to minimise the negative log-likelihood on held-out frames; it changes confidence, never
the argmax. The expected calibration error (ECE) measures what is left: the gap between
confidence and accuracy, averaged over confidence bins.

A product of calibrated experts (late fusion) over-counts the evidence the experts share
and gives a weak expert as much say as a strong one; :func:`fit_expert_weights` fits one
exponent per expert, ``p(c) ~ prod_m p_m(c) ** w_m``, by the same criterion (held-out
negative log-likelihood), which is logistic-regression stacking restricted to one weight
per expert.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize, minimize_scalar
from scipy.special import log_softmax
from sklearn.metrics import confusion_matrix as sklearn_confusion_matrix

from prism import reliability
from prism.errors import SensingError

__all__ = [
    "confusion_matrix",
    "expected_calibration_error",
    "fit_expert_weights",
    "fit_temperature",
    "negative_log_likelihood",
    "softmax",
]

_TEMPERATURE_BOUNDS = (0.05, 20.0)
EXPERT_WEIGHT_BOUNDS = (0.0, 4.0)
"""Range of each expert's fitted exponent (0: the expert is ignored)."""


def _check_logits(logits: np.ndarray, labels: np.ndarray, *, name: str) -> tuple[np.ndarray, ...]:
    scores = np.asarray(logits, dtype=np.float64)
    truth = np.asarray(labels)
    if scores.ndim != 2 or scores.shape[1] < 2:
        raise SensingError(f"{name} must have shape (N, C) with C >= 2, got {scores.shape}")
    if truth.shape != (scores.shape[0],) or (truth.size and truth.dtype.kind not in "iu"):
        raise SensingError(
            f"labels must be integers of shape ({scores.shape[0]},), "
            f"got {truth.dtype} {truth.shape}"
        )
    if truth.size and (truth.min() < 0 or truth.max() >= scores.shape[1]):
        raise SensingError(f"labels must be in [0, {scores.shape[1] - 1}]")
    if not np.isfinite(scores).all():
        raise SensingError(f"{name} contain NaN or infinite values")
    return scores, truth.astype(np.int64)


def softmax(logits: np.ndarray, *, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature``.

    Parameters
    ----------
    logits : np.ndarray [shape=(..., C)]
    temperature : float
        > 0; above 1 flattens, below 1 sharpens.

    Returns
    -------
    np.ndarray [shape=(..., C), rows sum to 1]

    Examples
    --------
    >>> softmax(np.array([[0.0, np.log(3.0)]])).round(2).tolist()
    [[0.25, 0.75]]
    """
    if not temperature > 0:
        raise SensingError(f"temperature must be > 0, got {temperature!r}")
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled = scaled - scaled.max(axis=-1, keepdims=True)
    exp = np.exp(scaled)
    return np.asarray(exp / exp.sum(axis=-1, keepdims=True))


def negative_log_likelihood(
    logits: np.ndarray, labels: np.ndarray, *, temperature: float = 1.0
) -> float:
    """Mean ``-log p(label)`` under ``softmax(logits / temperature)`` (nats per frame).

    >>> round(negative_log_likelihood(np.array([[0.0, 0.0]]), np.array([1])), 4)
    0.6931
    """
    scores, truth = _check_logits(logits, labels, name="logits")
    return _nll(scores, truth, temperature)


def _nll(scores: np.ndarray, truth: np.ndarray, temperature: float) -> float:
    if truth.size == 0:
        return 0.0
    log_p = log_softmax(scores / temperature, axis=1)
    return float(-log_p[np.arange(truth.size), truth].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising the NLL of ``labels`` (bounded search on ``log T``).

    Parameters
    ----------
    logits : np.ndarray [shape=(N, C), finite]
        Uncalibrated scores of held-out frames.
    labels : np.ndarray [shape=(N,), int in [0, C)]

    Returns
    -------
    float
        ``T`` in [0.05, 20]; 1.0 when ``N == 0``.

    Examples
    --------
    Over-confident logits (twice the calibrated ones) give ``T`` close to 2:

    >>> rng = np.random.default_rng(0)
    >>> true_logits = rng.normal(size=(4000, 3))
    >>> p = softmax(true_logits)
    >>> labels = (rng.random(4000)[:, None] > p.cumsum(axis=1)).sum(axis=1)
    >>> round(fit_temperature(2 * true_logits, labels), 1)
    2.0
    """
    scores, truth = _check_logits(logits, labels, name="logits")
    if truth.size == 0:
        return 1.0
    low, high = (math.log(bound) for bound in _TEMPERATURE_BOUNDS)
    result = minimize_scalar(
        lambda log_t: _nll(scores, truth, math.exp(log_t)),
        bounds=(low, high),
        method="bounded",
        options={"xatol": 1e-4},
    )
    return float(math.exp(result.x))


def expected_calibration_error(
    probabilities: np.ndarray, labels: np.ndarray, *, n_bins: int = 15
) -> float:
    """Top-label expected calibration error of class probabilities against labels.

    The confidence is each frame's largest probability and it is right when its argmax
    is the label; bins and formula are :func:`prism.reliability.expected_calibration_error`'s.

    Parameters
    ----------
    probabilities : np.ndarray [shape=(N, C), rows sum to 1]
    labels : np.ndarray [shape=(N,), int in [0, C)]
    n_bins : int
        >= 1.

    Examples
    --------
    Two frames at confidence 0.9 (one right) and one at 0.6 (right):
    ``(2/3) |0.5 - 0.9| + (1/3) |1 - 0.6| = 0.4``.

    >>> p = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6]])
    >>> round(expected_calibration_error(p, np.array([0, 1, 1])), 6)
    0.4
    """
    scores, truth = _check_logits(probabilities, labels, name="probabilities")
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise SensingError(f"n_bins must be an integer >= 1, got {n_bins!r}")
    correct = scores.argmax(axis=1) == truth if truth.size else np.zeros(0, dtype=bool)
    confidence = scores.max(axis=1) if truth.size else np.zeros(0)
    return reliability.expected_calibration_error(confidence, correct, n_bins=n_bins)


def confusion_matrix(
    labels: np.ndarray, predicted: np.ndarray, *, n_classes: int, normalize: bool = False
) -> np.ndarray:
    """Counts of (true class, predicted class) pairs: ``sklearn.metrics.confusion_matrix``
    over the classes ``0 .. n_classes - 1``, with PrISM's input checks and row fractions.

    Parameters
    ----------
    labels, predicted : np.ndarray [shape=(N,), int in [0, n_classes)]
    n_classes : int
    normalize : bool
        Divide each row by its total (rows of absent classes stay zero).

    Returns
    -------
    np.ndarray [shape=(n_classes, n_classes)]
        Rows are true classes, columns predicted ones; int64 counts, or float64 row
        fractions with ``normalize``.

    Examples
    --------
    >>> confusion_matrix(np.array([0, 0, 1]), np.array([0, 1, 1]), n_classes=2).tolist()
    [[1, 1], [0, 1]]
    """
    truth, guess = np.asarray(labels), np.asarray(predicted)
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 1:
        raise SensingError(f"n_classes must be an integer >= 1, got {n_classes!r}")
    for name, array in (("labels", truth), ("predicted", guess)):
        if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
            raise SensingError(f"{name} must be integers of shape (N,), got {array.shape}")
        if array.size and (array.min() < 0 or array.max() >= n_classes):
            raise SensingError(f"{name} must be in [0, {n_classes - 1}]")
    if truth.shape != guess.shape:
        raise SensingError(f"labels {truth.shape} and predicted {guess.shape} differ in shape")
    counts: np.ndarray
    if truth.size and n_classes > 1:
        counts = np.asarray(sklearn_confusion_matrix(truth, guess, labels=np.arange(n_classes)))
    else:  # scikit-learn refuses empty arrays and warns about a 1 x 1 matrix
        counts = np.full((n_classes, n_classes), truth.size, dtype=np.int64)
    if not normalize:
        return counts
    totals = counts.sum(axis=1, keepdims=True)
    return np.asarray(np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0))


def fit_expert_weights(log_probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Exponents ``w (M,)`` minimising the NLL of ``softmax(sum_m w_m log p_m)``.

    Parameters
    ----------
    log_probabilities : np.ndarray [shape=(M, N, C), finite]
        Each expert's (calibrated) log probabilities on the same held-out frames.
    labels : np.ndarray [shape=(N,), int in [0, C)]

    Returns
    -------
    np.ndarray [shape=(M,), float64]
        In :data:`EXPERT_WEIGHT_BOUNDS`; ones when ``N == 0`` (the plain product). The
        NLL at the result is never above the NLL at ones.

    Examples
    --------
    The same expert twice (its evidence counted twice) and an expert that adds only
    noise: the copies share the single expert's weight (1.25 alone: it is right more
    often than its 0.8 says), the noise gets about 0.

    >>> rng = np.random.default_rng(0)
    >>> labels = rng.integers(0, 3, size=3000)
    >>> guess = np.where(rng.random(3000) < 0.8, labels, rng.integers(0, 3, size=3000))
    >>> good = np.log(np.where(np.eye(3)[guess] > 0, 0.8, 0.1))
    >>> noise = np.log(softmax(rng.normal(size=(3000, 3)) * 3))
    >>> fit_expert_weights(np.stack([good, good, noise]), labels).round(2).tolist()
    [0.63, 0.63, 0.02]
    """
    scores = np.asarray(log_probabilities, dtype=np.float64)
    if scores.ndim != 3 or scores.shape[0] < 1:
        raise SensingError(
            f"log_probabilities must have shape (M, N, C) with M >= 1, got {scores.shape}"
        )
    for expert in scores:
        _check_logits(expert, labels, name="log_probabilities")
    truth = np.asarray(labels, dtype=np.int64)
    ones = np.ones(scores.shape[0])
    if truth.size == 0:
        return ones
    rows = np.arange(truth.size)

    def nll_and_gradient(weights: np.ndarray) -> tuple[float, np.ndarray]:
        log_p = log_softmax(np.tensordot(weights, scores, axes=1), axis=1)
        p = np.exp(log_p)
        # d/dw_m of -log p(y) = -(s_m[y] - sum_c p(c) s_m[c])
        expected = np.einsum("nc,mnc->m", p, scores) / truth.size
        observed = scores[:, rows, truth].mean(axis=1)
        return float(-log_p[rows, truth].mean()), expected - observed

    result = minimize(
        nll_and_gradient,
        ones,
        jac=True,
        method="L-BFGS-B",
        bounds=[EXPERT_WEIGHT_BOUNDS] * scores.shape[0],
    )
    fitted = np.asarray(result.x, dtype=np.float64)
    return fitted if float(result.fun) <= nll_and_gradient(ones)[0] else ones

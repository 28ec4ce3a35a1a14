"""A simulated activity classifier: per-frame probability streams from frame labels.

Real step annotations (CaptainCook4D) have no sensor data. To evaluate tracking and
reminders on them anyway, :func:`simulate_classifier` turns ground-truth frame labels
into the kind of output a real per-frame activity classifier gives: a probability row
per frame whose argmax is right for a chosen fraction of frames (the raw accuracy), with
errors that come in runs and go mostly to a few similar steps.

The model, in three layers (details and measured statistics in
``docs/simulated-classifier.md``):

1. **Error process.** A two-state (correct/error) Markov chain over frames: error runs
   are geometric with mean ``mean_error_run_s`` seconds (``mean_error_run_s *
   frame_rate`` frames); correct runs are geometric with the mean that makes the
   stationary error rate ``1 - raw_accuracy``. Times are in seconds, so the same
   classifier sampled at 1 Hz or 5 Hz errs for the same time.
2. **Confusions.** Each error run picks one wrong class, kept for the whole run (a new
   one is picked where the true label changes inside the run): with probability
   ``confusable_mass`` one of the label's ``n_confusable`` most similar classes
   (:func:`confusion_neighbours`), else uniformly one of the remaining classes.
3. **Probabilities.** Logits are temporally correlated AR(1) noise (memory
   ``noise_memory_s`` seconds, as a classifier's overlapping windows give), raised on the
   label's confusable classes and, during errors, on the true class; the predicted class
   is then set a positive margin above all others, so the argmax is exactly the
   prediction. A softmax gives rows that sum to 1 with every entry > 0.

Everything is drawn from one seeded generator in a fixed order: the same labels, config
and seed give the same stream (for a given :data:`SIMULATOR_VERSION`).
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
from scipy.signal import lfilter

from prism.errors import SimulationError

__all__ = [
    "DEFAULT_CONFIG",
    "SIMULATOR_VERSION",
    "SimulatedClassifierConfig",
    "SimulatedStream",
    "SimulationError",
    "confusable_error_share",
    "confusion_neighbours",
    "error_runs",
    "simulate_classifier",
    "simulate_stream",
]

SIMULATOR_VERSION = 2
"""Bumped whenever the same labels, config and seed would give a different stream."""

_DEFAULT_NOISE_MEMORY_S = 0.2 / math.log(1.0 / 0.9)
"""1.898 s: a lag-1 noise correlation of exactly 0.9 at 5 Hz (the first version's)."""

_MIN_MARGIN = 1e-6
"""Floor on the top logit's lead so the argmax never ties (logit units)."""

_STOP_WORDS = frozenset(
    {"a", "an", "and", "at", "by", "for", "from", "in", "into", "is", "it", "its", "of"}
    | {"on", "onto", "or", "over", "the", "then", "to", "until", "up", "with"}
)


@dataclass(frozen=True)
class SimulatedClassifierConfig:
    """Settings of the simulated classifier. The defaults are fixed; see the docs page.

    Parameters
    ----------
    raw_accuracy : float
        Target fraction of frames whose argmax equals the label, in (0, 1).
    mean_error_run_s : float
        Mean length of an error run in seconds (runs are geometric); at least one frame.
        1.6 s is the first version's (8 frames at 5 Hz); real windowed classifiers err
        for several seconds at a time (see ``docs/simulated-classifier.md``).
    frame_rate : float
        Frames per second (Hz) of the simulated stream, > 0.
    n_confusable : int
        How many similar classes each class is mostly confused with, >= 1 (capped at
        ``n_classes - 1``).
    confusable_mass : float
        Share of error runs whose wrong class comes from the confusable set, in [0, 1];
        the rest pick uniformly among the other wrong classes.
    other_similarity : float
        Similarity, in [0, 1], that the "other" class counts as when ranking a step's
        confusable classes: a step whose names share less than this with every other step
        is confused with "other" (token Jaccard similarity of names is in [0, 1]).
    correct_margin : float
        Median logit lead of the top class over the runner-up on correct frames, > 0.
    error_margin : float
        Median logit lead of the (wrong) top class on error frames, > 0. The default
        makes the top probability as high on wrong frames as on right ones (as a
        detector of errors it has an area under the ROC curve of 0.50): the classifier's
        confidence does not reveal an error, the harsh case a tracker must survive.
        Version 1 used 0.5, which gave errors away.
    margin_spread : float
        Log-scale standard deviation of the margins (log-normal), >= 0.
    true_class_boost : float
        Logit added to the true class during errors, >= 0 (makes it usually second).
    confusable_boost : float
        Logit added to the label's confusable classes on every frame, >= 0.
    noise_std : float
        Standard deviation of the logit noise, >= 0.
    noise_memory_s : float
        Time constant in seconds of the AR(1) logit and margin noise, >= 0: consecutive
        frames ``1 / frame_rate`` apart correlate ``exp(-1 / (frame_rate *
        noise_memory_s))`` (0.9 at 5 Hz by default; 0 s: independent frames).
    """

    raw_accuracy: float = 0.55
    mean_error_run_s: float = 1.6
    frame_rate: float = 5.0
    n_confusable: int = 3
    confusable_mass: float = 0.8
    other_similarity: float = 0.2
    correct_margin: float = 1.5
    error_margin: float = 1.15
    margin_spread: float = 0.5
    true_class_boost: float = 2.0
    confusable_boost: float = 0.75
    noise_std: float = 0.75
    noise_memory_s: float = _DEFAULT_NOISE_MEMORY_S

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            integral = field.name == "n_confusable"
            kind = "an int" if integral else "a number"
            if isinstance(value, bool) or not isinstance(
                value, numbers.Integral if integral else numbers.Real
            ):
                raise SimulationError(f"{field.name} must be {kind}, got {value!r}")
            if not math.isfinite(value):
                raise SimulationError(f"{field.name} must be finite, got {value}")
        checks: list[tuple[str, bool, str]] = [
            ("raw_accuracy", 0.0 < self.raw_accuracy < 1.0, "in (0, 1)"),
            ("frame_rate", self.frame_rate > 0.0, "> 0 Hz"),
            (
                "mean_error_run_s",
                self.mean_error_run_s * self.frame_rate >= 1.0 - 1e-9,
                f"at least one frame (>= {1.0 / self.frame_rate:g} s at {self.frame_rate:g} Hz)"
                if self.frame_rate > 0.0
                else "> 0",
            ),
            ("n_confusable", self.n_confusable >= 1, ">= 1"),
            ("confusable_mass", 0.0 <= self.confusable_mass <= 1.0, "in [0, 1]"),
            ("other_similarity", 0.0 <= self.other_similarity <= 1.0, "in [0, 1]"),
            ("correct_margin", self.correct_margin > 0.0, "> 0"),
            ("error_margin", self.error_margin > 0.0, "> 0"),
            ("margin_spread", self.margin_spread >= 0.0, ">= 0"),
            ("true_class_boost", self.true_class_boost >= 0.0, ">= 0"),
            ("confusable_boost", self.confusable_boost >= 0.0, ">= 0"),
            ("noise_std", self.noise_std >= 0.0, ">= 0"),
            ("noise_memory_s", self.noise_memory_s >= 0.0, ">= 0 s"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise SimulationError(f"{name} must be {expected}, got {getattr(self, name)}")

    @property
    def mean_error_run_frames(self) -> float:
        """Mean error-run length in frames at :attr:`frame_rate` (at least 1)."""
        return max(1.0, self.mean_error_run_s * self.frame_rate)

    @property
    def noise_correlation(self) -> float:
        """Lag-1 (one frame) correlation of the logit and margin noise, in [0, 1)."""
        if self.noise_memory_s == 0.0:
            return 0.0
        return math.exp(-1.0 / (self.frame_rate * self.noise_memory_s))


DEFAULT_CONFIG = SimulatedClassifierConfig()
"""The fixed default settings; evaluations report against these."""


@dataclass(frozen=True, eq=False)
class SimulatedStream:
    """A simulated classifier output with what is needed to describe it.

    Attributes
    ----------
    probabilities : np.ndarray [shape=(n_frames, n_classes), float64, > 0, rows sum to 1]
        Per-frame class probabilities; the last class is "other".
    predictions : np.ndarray [shape=(n_frames,), int64]
        Argmax of each row.
    neighbours : np.ndarray [shape=(n_classes, n_confusable), int64]
        Each class's confusable classes, most similar first (see
        :func:`confusion_neighbours`).
    realised_accuracy : float
        Fraction of frames whose prediction equals the label (``nan`` for no frames).
    """

    probabilities: np.ndarray
    predictions: np.ndarray
    neighbours: np.ndarray
    realised_accuracy: float


def simulate_classifier(
    labels: np.ndarray,
    *,
    n_classes: int,
    config: SimulatedClassifierConfig = DEFAULT_CONFIG,
    names: Sequence[str] | None = None,
    seed: int | np.random.Generator = 0,
) -> np.ndarray:
    """Simulate a per-frame activity classifier's probabilities for labelled frames.

    Parameters
    ----------
    labels : np.ndarray [shape=(n_frames,), int, values in [0, n_classes - 1]]
        Ground-truth class per frame; ``n_classes - 1`` is "other".
    n_classes : int
        Number of classes ``S + 1`` (steps plus "other"), >= 2.
    config : SimulatedClassifierConfig
        Settings; the fixed defaults unless an experiment varies them.
    names : sequence of str, optional
        Names (or "name: description" texts) of the ``S = n_classes - 1`` steps, in
        class order; their word overlap decides which steps are confused. Without names
        the confusable steps are chosen at random (seeded).
    seed : int or np.random.Generator
        Seed, or a generator to draw from (it is advanced).

    Returns
    -------
    np.ndarray [shape=(n_frames, n_classes), float64, > 0, rows sum to 1]
        Class probabilities per frame.

    Examples
    --------
    >>> labels = np.repeat([0, 1, 2], 400)
    >>> p = simulate_classifier(labels, n_classes=3, seed=0)
    >>> p.shape, bool(np.allclose(p.sum(axis=1), 1.0))
    ((1200, 3), True)
    """
    stream = simulate_stream(labels, n_classes=n_classes, config=config, names=names, seed=seed)
    return stream.probabilities


def simulate_stream(
    labels: np.ndarray,
    *,
    n_classes: int,
    config: SimulatedClassifierConfig = DEFAULT_CONFIG,
    names: Sequence[str] | None = None,
    seed: int | np.random.Generator = 0,
) -> SimulatedStream:
    """Like :func:`simulate_classifier`, also returning predictions, confusions and accuracy.

    Parameters and randomness are those of :func:`simulate_classifier`: for the same
    arguments ``simulate_stream(...).probabilities`` equals ``simulate_classifier(...)``.

    Returns
    -------
    SimulatedStream
        Probabilities, argmax predictions, the confusable classes used and the realised
        raw accuracy.
    """
    label_array = _check_labels(labels, n_classes)
    if names is not None:
        _check_names(names, n_classes - 1)
    rng = np.random.default_rng(seed)
    similarity = _name_similarity(names) if names is not None else np.zeros((n_classes - 1,) * 2)
    neighbours = _neighbours(
        similarity,
        n_confusable=min(config.n_confusable, n_classes - 1),
        other_similarity=config.other_similarity,
        rng=rng,
    )
    n_frames = label_array.size
    if n_frames == 0:
        return SimulatedStream(
            np.empty((0, n_classes)), np.empty(0, np.int64), neighbours, float("nan")
        )
    is_error, segment = _error_process(n_frames, config, rng)
    predictions = _predictions(label_array, is_error, segment, neighbours, config, rng)
    probabilities = _probabilities(label_array, predictions, is_error, neighbours, config, rng)
    accuracy = float(np.mean(predictions == label_array))
    return SimulatedStream(probabilities, predictions, neighbours, accuracy)


def confusion_neighbours(
    names: Sequence[str],
    *,
    n_confusable: int = DEFAULT_CONFIG.n_confusable,
    other_similarity: float = DEFAULT_CONFIG.other_similarity,
    rng: np.random.Generator,
) -> np.ndarray:
    """Choose, for each class, the classes it is most easily confused with.

    Steps are compared by the Jaccard similarity of their content words (lower case,
    numbers and stop words dropped), so "Chop onion" and "Chop tomato" are neighbours.
    "Other" (class ``S``) counts as ``other_similarity`` similar to every step, so steps
    without a close match are confused with idle time; "other" itself is confused with
    randomly chosen steps. Ties are broken at random.

    Parameters
    ----------
    names : sequence of str [length S >= 1]
        Step names or descriptions in class order.
    n_confusable : int
        Neighbours per class, >= 1; capped at ``S`` (the number of other classes).
    other_similarity : float
        Similarity of "other" to every step, in [0, 1].
    rng : np.random.Generator
        Source of the tie-breaking and of "other"'s neighbours.

    Returns
    -------
    np.ndarray [shape=(S + 1, min(n_confusable, S)), int64]
        Row ``c`` holds the classes ``c`` is confused with, most similar first; no row
        contains its own class.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> confusion_neighbours(["Chop onion", "Chop tomato", "Boil water"], n_confusable=1,
    ...                      rng=rng)[:2].tolist()
    [[1], [0]]
    """
    _check_names(names, None)
    if (
        isinstance(n_confusable, bool)
        or not isinstance(n_confusable, numbers.Integral)
        or n_confusable < 1
    ):
        raise SimulationError(f"n_confusable must be an int >= 1, got {n_confusable!r}")
    if not 0.0 <= other_similarity <= 1.0:
        raise SimulationError(f"other_similarity must be in [0, 1], got {other_similarity}")
    return _neighbours(
        _name_similarity(names),
        n_confusable=min(n_confusable, len(names)),
        other_similarity=other_similarity,
        rng=rng,
    )


def error_runs(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """Lengths of the maximal runs of consecutive wrongly predicted frames.

    Parameters
    ----------
    labels, predictions : np.ndarray [shape=(n_frames,), int]
        Ground truth and predicted class per frame.

    Returns
    -------
    np.ndarray [shape=(n_runs,), int64, >= 1]
        Run lengths in frames, in time order.

    Examples
    --------
    >>> error_runs(np.array([0, 0, 0, 1, 1, 1]), np.array([0, 2, 2, 1, 0, 1])).tolist()
    [2, 1]
    """
    wrong = _check_pair(labels, predictions) != np.asarray(predictions)
    edges = np.diff(np.concatenate(([0], wrong.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return (ends - starts).astype(np.int64)


def confusable_error_share(
    labels: np.ndarray, predictions: np.ndarray, neighbours: np.ndarray
) -> float:
    """Share of wrong frames whose prediction is one of the label's confusable classes.

    Parameters
    ----------
    labels, predictions : np.ndarray [shape=(n_frames,), int]
        Ground truth and predicted class per frame.
    neighbours : np.ndarray [shape=(n_classes, n_confusable), int]
        Confusable classes per class, as from :func:`confusion_neighbours`.

    Returns
    -------
    float
        In [0, 1]; ``nan`` when no frame is wrong.
    """
    label_array = _check_pair(labels, predictions)
    prediction_array = np.asarray(predictions)
    neighbour_array = np.asarray(neighbours)
    if neighbour_array.ndim != 2 or neighbour_array.shape[0] <= int(
        max(label_array.max(initial=0), prediction_array.max(initial=0))
    ):
        raise SimulationError(
            "neighbours must be a 2-D array with a row for every class in labels and "
            f"predictions, got shape {neighbour_array.shape}"
        )
    wrong = label_array != prediction_array
    if not wrong.any():
        return float("nan")
    hits = neighbour_array[label_array[wrong]] == prediction_array[wrong][:, None]
    return float(np.mean(hits.any(axis=1)))


# --- validation -----------------------------------------------------------------------


def _check_labels(labels: np.ndarray, n_classes: int) -> np.ndarray:
    if isinstance(n_classes, bool) or not isinstance(n_classes, numbers.Integral):
        raise SimulationError(f"n_classes must be an int, got {n_classes!r}")
    if n_classes < 2:
        raise SimulationError(f"n_classes must be >= 2 (steps plus 'other'), got {n_classes}")
    array = np.asarray(labels)
    if array.ndim != 1:
        raise SimulationError(f"labels must be 1-D (n_frames,), got shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise SimulationError(f"labels must be integers, got dtype {array.dtype}")
    if array.size and (array.min() < 0 or array.max() >= n_classes):
        raise SimulationError(
            f"labels must be in [0, {n_classes - 1}] for n_classes={n_classes}, "
            f"got values in [{array.min()}, {array.max()}]"
        )
    return array.astype(np.int64)


def _check_names(names: Sequence[str], expected: int | None) -> None:
    if isinstance(names, str) or not all(isinstance(name, str) for name in names):
        raise SimulationError("names must be a sequence of step names (str)")
    if expected is None and len(names) < 1:
        raise SimulationError("names must name at least one step, got none")
    if expected is not None and len(names) != expected:
        raise SimulationError(
            f"names must hold one name per step (n_classes - 1 = {expected}), got {len(names)}"
        )


def _check_pair(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    label_array = np.asarray(labels)
    prediction_array = np.asarray(predictions)
    if label_array.ndim != 1 or label_array.shape != prediction_array.shape:
        raise SimulationError(
            "labels and predictions must be 1-D arrays of the same length, got shapes "
            f"{label_array.shape} and {prediction_array.shape}"
        )
    return label_array


# --- workers (inputs already valid) ---------------------------------------------------


def _tokens(text: str) -> frozenset[str]:
    words = re.findall(r"[a-z]+", text.lower())
    return frozenset(word for word in words if len(word) > 1 and word not in _STOP_WORDS)


def _name_similarity(names: Sequence[str]) -> np.ndarray:
    """Token Jaccard similarity between step names, shape (S, S), zero diagonal."""
    tokens = [_tokens(name) for name in names]
    size = len(tokens)
    similarity = np.zeros((size, size))
    for i in range(size):
        for j in range(i + 1, size):
            union = len(tokens[i] | tokens[j])
            if union:
                similarity[i, j] = similarity[j, i] = len(tokens[i] & tokens[j]) / union
    return similarity


def _neighbours(
    similarity: np.ndarray, *, n_confusable: int, other_similarity: float, rng: np.random.Generator
) -> np.ndarray:
    """Rank classes by similarity, "other" (index S) at ``other_similarity``; ties random."""
    n_steps = similarity.shape[0]
    n_classes = n_steps + 1
    score = np.full((n_classes, n_classes), other_similarity)
    score[:n_steps, :n_steps] = similarity
    score[n_steps, :n_steps] = 0.0  # "other" is confused with random steps
    np.fill_diagonal(score, -np.inf)
    tie_break = rng.random((n_classes, n_classes))
    order = np.lexsort((tie_break, -score), axis=1)
    return order[:, :n_confusable].astype(np.int64)


def _error_process(
    n_frames: int, config: SimulatedClassifierConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Sample which frames are errors from the correct/error Markov chain.

    Error runs are geometric with mean ``L_e = mean_error_run_frames``; correct runs
    with mean ``L_c = L_e * a / (1 - a)``. When that is below one frame (very low
    accuracy), correct runs last ``L_c = 1`` frame on average and only a fraction
    ``r = L_e * a / (1 - a)`` of error runs is followed by one (the others by a new error
    run with a new wrong class), which keeps the stationary error rate at ``1 - a``.

    Returns a boolean error mask and a run (segment) id per frame, both of shape (n_frames,).
    """
    accuracy = config.raw_accuracy
    mean_error = config.mean_error_run_frames
    correct_raw = mean_error * accuracy / (1.0 - accuracy)
    mean_correct = max(1.0, correct_raw)
    follow_correct = correct_raw / mean_correct
    block_frames = mean_error / follow_correct + mean_correct

    types: list[np.ndarray] = []
    lengths: list[np.ndarray] = []
    if rng.random() < accuracy:  # stationary start
        types.append(np.zeros(1, dtype=bool))
        lengths.append(rng.geometric(1.0 / mean_correct, size=1))
    total = int(lengths[0].sum()) if lengths else 0
    while total < n_frames:
        n_blocks = int(1.2 * (n_frames - total) / block_frames) + 8
        # one block: k >= 1 error runs, then one correct run
        per_block = rng.geometric(follow_correct, size=n_blocks)
        # more error runs than frames left cannot change the stream: cap them (memory)
        per_block = np.minimum(per_block, n_frames - total) + 1
        is_error = np.ones(int(per_block.sum()), dtype=bool)
        is_error[np.cumsum(per_block) - 1] = False
        run_lengths = np.empty(is_error.size, dtype=np.int64)
        run_lengths[is_error] = rng.geometric(1.0 / mean_error, size=int(is_error.sum()))
        run_lengths[~is_error] = rng.geometric(1.0 / mean_correct, size=int((~is_error).sum()))
        types.append(is_error)
        lengths.append(run_lengths)
        total += int(run_lengths.sum())
    run_is_error = np.concatenate(types)
    segment = np.repeat(np.arange(run_is_error.size), np.concatenate(lengths))[:n_frames]
    return run_is_error[segment], segment


def _predictions(
    labels: np.ndarray,
    is_error: np.ndarray,
    segment: np.ndarray,
    neighbours: np.ndarray,
    config: SimulatedClassifierConfig,
    rng: np.random.Generator,
) -> np.ndarray:
    """Predicted class per frame: the label, or the wrong class of the error piece."""
    n_classes, n_confusable = neighbours.shape
    # a piece is a run cut where the true label changes; each error piece has one wrong class
    starts = np.ones(labels.size, dtype=bool)
    starts[1:] = (segment[1:] != segment[:-1]) | (labels[1:] != labels[:-1])
    piece = np.cumsum(starts) - 1
    piece_label = labels[starts]
    n_pieces = piece_label.size

    wrong = neighbours[piece_label, rng.integers(0, n_confusable, size=n_pieces)]
    n_rest = n_classes - 1 - n_confusable
    if n_rest > 0:
        excluded = np.zeros((n_classes, n_classes), dtype=bool)
        np.put_along_axis(excluded, neighbours, True, axis=1)
        np.fill_diagonal(excluded, True)
        rest = np.nonzero(~excluded)[1].reshape(n_classes, n_rest)
        rest_pick = rest[piece_label, rng.integers(0, n_rest, size=n_pieces)]
        from_rest = rng.random(n_pieces) >= config.confusable_mass
        wrong = np.where(from_rest, rest_pick, wrong)
    return np.where(is_error, wrong[piece], labels)


def _ar1(shape: tuple[int, ...], correlation: float, rng: np.random.Generator) -> np.ndarray:
    """Stationary unit-variance AR(1) noise along axis 0."""
    innovations = rng.standard_normal(shape)
    scale = math.sqrt(1.0 - correlation**2)
    innovations[0] /= scale  # so that the first frame already has unit variance
    filtered = lfilter([scale], [1.0, -correlation], innovations, axis=0)
    return np.asarray(filtered, dtype=np.float64)


def _probabilities(
    labels: np.ndarray,
    predictions: np.ndarray,
    is_error: np.ndarray,
    neighbours: np.ndarray,
    config: SimulatedClassifierConfig,
    rng: np.random.Generator,
) -> np.ndarray:
    """Softmax of noisy logits whose maximum is exactly at ``predictions``."""
    n_frames = labels.size
    n_classes = neighbours.shape[0]
    frames = np.arange(n_frames)
    logits = config.noise_std * _ar1((n_frames, n_classes), config.noise_correlation, rng)
    logits[frames[:, None], neighbours[labels]] += config.confusable_boost
    logits[frames[is_error], labels[is_error]] += config.true_class_boost

    spread = config.margin_spread
    margin_noise = _ar1((n_frames,), config.noise_correlation, rng)
    median = np.where(is_error, config.error_margin, config.correct_margin)
    margin = np.maximum(median * np.exp(spread * margin_noise), _MIN_MARGIN)

    logits[frames, predictions] = -np.inf
    runner_up = logits.max(axis=1)
    logits -= (runner_up + margin)[:, None]  # the top logit becomes exactly 0
    logits[frames, predictions] = 0.0
    weights = np.exp(logits)
    probabilities: np.ndarray = weights / weights.sum(axis=1, keepdims=True)
    return probabilities

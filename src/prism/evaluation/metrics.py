"""Frame and segment metrics for step recognition, as pure functions on label arrays;
word error rates of speech recognition.

The counting is the libraries': scikit-learn for frame accuracy and F1 (imported on first
use, so that loading the CLI does not pay for it), rapidfuzz for the Levenshtein distance
of the edit score, jiwer for the word alignment of a word error rate (with the project's
or Whisper's text normaliser). These functions fix the conventions on top (which classes a macro
average counts, what an empty input scores) and check the inputs once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Literal

import numpy as np
from rapidfuzz.distance import Levenshtein

from prism.errors import MetricInputError
from prism.text import spoken_words

__all__ = [
    "MetricInputError",
    "WerNormaliser",
    "corpus_word_error_rate",
    "edit_score",
    "frame_accuracy",
    "macro_f1",
    "normalised_words",
    "per_class_f1",
    "segments",
    "word_error_rate",
]


def _check_pair(truth: np.ndarray, predicted: np.ndarray) -> None:
    if truth.shape != predicted.shape or truth.ndim != 1:
        raise MetricInputError(
            f"truth and predicted must be 1-D label arrays of the same length, "
            f"got shapes {truth.shape} and {predicted.shape}"
        )


def frame_accuracy(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Fraction of frames whose predicted class equals the true class.

    >>> frame_accuracy(np.array([0, 0, 1]), np.array([0, 1, 1]))
    0.6666666666666666
    """
    _check_pair(truth, predicted)
    if not truth.size:
        return 0.0
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(truth, predicted))


def per_class_f1(truth: np.ndarray, predicted: np.ndarray, *, n_classes: int) -> np.ndarray:
    """F1 of each class over frames, shape ``(n_classes,)``; NaN for a class in neither.

    >>> per_class_f1(np.array([0, 0, 1]), np.array([0, 1, 1]), n_classes=3).round(3).tolist()
    [0.667, 0.667, nan]
    """
    _check_pair(truth, predicted)
    if not truth.size:
        return np.full(n_classes, np.nan)
    from sklearn.metrics import f1_score

    scores = f1_score(
        truth, predicted, labels=np.arange(n_classes), average=None, zero_division=np.nan
    )
    return np.asarray(scores, dtype=np.float64)


def macro_f1(
    truth: np.ndarray, predicted: np.ndarray, *, n_classes: int, exclude: int | None = None
) -> float:
    """Mean F1 over the classes present in ``truth`` (absent classes are not counted).

    ``exclude`` leaves one class (e.g. the "other"/null class, as OpenPack's benchmark
    does) out of the average; its frames still count as errors of the other classes.

    >>> macro_f1(np.array([0, 0, 1]), np.array([0, 1, 1]), n_classes=3)
    0.6666666666666666
    >>> macro_f1(np.array([0, 0, 2]), np.array([0, 0, 0]), n_classes=3, exclude=2)
    0.8
    """
    _check_pair(truth, predicted)
    present = np.bincount(truth, minlength=n_classes) > 0
    if exclude is not None:
        present[exclude] = False
    if not present.any():
        return 0.0
    from sklearn.metrics import f1_score

    # Only classes with support are averaged, so no F1 divides by zero.
    score = f1_score(
        truth, predicted, labels=np.flatnonzero(present), average="macro", zero_division=0.0
    )
    return float(score)


def segments(labels: np.ndarray) -> np.ndarray:
    """Collapse runs of equal labels: ``[0, 0, 2, 2, 1] -> [0, 2, 1]``."""
    if labels.size == 0:
        return labels
    change = np.flatnonzero(np.diff(labels)) + 1
    return np.asarray(labels[np.concatenate([[0], change])])


def edit_score(truth: np.ndarray, predicted: np.ndarray, *, ignore: int | None = None) -> float:
    """Segmental edit score in [0, 1]: ``1 - levenshtein(segments) / max(lengths)``.

    Compares the order of segments, not their timing (the arrays may differ in length):
    over-segmentation (flicker) and wrong orders lower it. Frames of class ``ignore``
    (e.g. "other") are dropped first.

    >>> edit_score(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 0, 1, 2]))
    0.6
    """
    if truth.ndim != 1 or predicted.ndim != 1:
        raise MetricInputError(
            f"edit_score needs 1-D label arrays, got shapes {truth.shape} and {predicted.shape}"
        )
    if ignore is not None:
        truth, predicted = truth[truth != ignore], predicted[predicted != ignore]
    a, b = segments(truth), segments(predicted)
    if max(a.size, b.size) == 0:
        return 1.0
    distance = Levenshtein.distance(a.tolist(), b.tolist())
    return 1.0 - float(distance) / max(a.size, b.size)


# ---------------------------------------------------------------- word error rate

WerNormaliser = Literal["spoken_words", "whisper"]
"""How texts are turned into words before a word error rate is counted.

``"spoken_words"``: the project's own :func:`prism.text.spoken_words` (lower case,
contractions expanded, punctuation and hesitations dropped, "ok" = "okay"), the figure
the project has always reported. ``"whisper"``: the Whisper English text normaliser
(``EnglishTextNormalizer`` from the ``whisper-normalizer`` package: also spelled-out
numbers to digits and British to American spelling), the one published Whisper word
error rates use, for comparing with them."""


def word_error_rate(
    reference: str, hypothesis: str, *, normaliser: WerNormaliser = "spoken_words"
) -> float:
    """Word error rate: (substitutions + deletions + insertions) / reference words.

    The words of both texts come from ``normaliser``; jiwer aligns them (a minimum edit
    distance over words, rapidfuzz underneath).

    Parameters
    ----------
    reference, hypothesis : str
        What was said and what was recognized.
    normaliser : {"spoken_words", "whisper"}
        How texts become words (:data:`WerNormaliser`).

    Returns
    -------
    float
        >= 0 (can exceed 1 with many insertions); 0 if both are empty, inf if only the
        reference is empty.

    Examples
    --------
    >>> word_error_rate("What is the next step?", "what is the next stop")
    0.2
    >>> word_error_rate("What's next?", "what is next")
    0.0
    """
    ref, hyp = normalised_words(reference, normaliser), normalised_words(hypothesis, normaliser)
    if not ref:
        return 0.0 if not hyp else float("inf")
    return _word_errors(ref, hyp) / len(ref)


def corpus_word_error_rate(
    references: Sequence[str],
    hypotheses: Sequence[str],
    *,
    normaliser: WerNormaliser = "spoken_words",
) -> float:
    """Word errors over all pairs divided by all reference words (not a mean of rates).

    Pairs whose reference has no words under ``normaliser`` (e.g. "hmm") are left out:
    there is nothing to recognise in them.

    Parameters
    ----------
    references, hypotheses : sequence of str
        What was said and what was recognized, pair by pair (same length).
    normaliser : {"spoken_words", "whisper"}
        How texts become words.

    Returns
    -------
    float
        NaN if no reference has words.

    Raises
    ------
    MetricInputError
        If the two sequences differ in length.

    Examples
    --------
    >>> corpus_word_error_rate(["grind the beans", "what next"], ["grind beans", "what next"])
    0.2
    """
    if len(references) != len(hypotheses):
        raise MetricInputError(
            f"references and hypotheses must pair up, got {len(references)} references "
            f"and {len(hypotheses)} hypotheses"
        )
    errors = words = 0
    for reference, hypothesis in zip(references, hypotheses, strict=True):
        ref = normalised_words(reference, normaliser)
        if ref:
            errors += _word_errors(ref, normalised_words(hypothesis, normaliser))
            words += len(ref)
    return errors / words if words else float("nan")


def normalised_words(text: str, normaliser: WerNormaliser = "spoken_words") -> list[str]:
    """The words of ``text`` as ``normaliser`` reads them (see :data:`WerNormaliser`).

    Raises
    ------
    MetricInputError
        On an unknown normaliser.

    Examples
    --------
    >>> normalised_words("Uh, what's next? OK!")
    ['what', 'is', 'next', 'okay']
    >>> normalised_words("Uh, what's next? OK!", "whisper")
    ['what', 'is', 'next', 'ok']
    """
    if normaliser == "spoken_words":
        return spoken_words(text)
    if normaliser == "whisper":
        return str(_whisper_normaliser()(text)).split()
    raise MetricInputError(f"normaliser must be 'spoken_words' or 'whisper', got {normaliser!r}")


def _word_errors(reference: list[str], hypothesis: list[str]) -> int:
    """Substitutions + deletions + insertions aligning two non-empty-reference word lists."""
    import jiwer  # loaded on first use: most commands never score words

    # The words hold no white space, so joining and jiwer's split give them back.
    out = jiwer.process_words(" ".join(reference), " ".join(hypothesis))
    return int(out.substitutions + out.deletions + out.insertions)


@cache
def _whisper_normaliser() -> Callable[[str], str]:
    from whisper_normalizer.english import EnglishTextNormalizer

    normaliser: Callable[[str], str] = EnglishTextNormalizer()
    return normaliser

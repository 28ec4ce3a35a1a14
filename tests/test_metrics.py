"""Tests for prism.evaluation.metrics: frame and segment metrics on label arrays, word
error rates."""

from __future__ import annotations

import doctest
import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import prism.evaluation.metrics as metrics_module
from prism.evaluation.metrics import (
    MetricInputError,
    corpus_word_error_rate,
    edit_score,
    frame_accuracy,
    macro_f1,
    normalised_words,
    per_class_f1,
    segments,
    word_error_rate,
)
from prism.text import spoken_words


def labels(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


EMPTY = labels()

label_arrays = arrays(np.int64, st.integers(0, 40), elements=st.integers(0, 4))


def levenshtein(a: list[int], b: list[int]) -> int:
    """Textbook edit distance (insert, delete, substitute: cost 1), as a reference."""
    table = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            table[i][j] = min(
                table[i - 1][j] + 1,
                table[i][j - 1] + 1,
                table[i - 1][j - 1] + (a[i - 1] != b[j - 1]),
            )
    return table[len(a)][len(b)]


# --- frame metrics ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("truth", "predicted", "expected"),
    [
        (labels(0, 0, 1), labels(0, 1, 1), 2 / 3),
        (labels(0, 1, 2, 3), labels(0, 1, 2, 3), 1.0),
        (labels(0, 1, 2, 3), labels(1, 2, 3, 0), 0.0),
        (labels(5), labels(5), 1.0),
        (EMPTY, EMPTY, 0.0),
    ],
    ids=["doc", "all", "none", "one", "empty"],
)
def test_frame_accuracy(truth: np.ndarray, predicted: np.ndarray, expected: float) -> None:
    assert frame_accuracy(truth, predicted) == pytest.approx(expected)


def test_per_class_f1_known_answer() -> None:
    """Class 0: tp 1, support 2, predicted 2 -> 0.5; class 1: 2 * 2 / (2 + 3) = 0.8;
    class 2: never predicted -> 0; class 3: in neither -> NaN."""
    f1 = per_class_f1(labels(0, 0, 1, 1, 2), labels(0, 1, 1, 1, 0), n_classes=4)
    assert f1.shape == (4,)
    np.testing.assert_allclose(f1[:3], [0.5, 0.8, 0.0])
    assert np.isnan(f1[3])


def test_per_class_f1_of_nothing_is_nan() -> None:
    assert np.all(np.isnan(per_class_f1(EMPTY, EMPTY, n_classes=3)))


@pytest.mark.parametrize(
    ("truth", "predicted", "expected"),
    [
        (labels(0, 0, 1, 1, 2), labels(0, 1, 1, 1, 0), (0.5 + 0.8 + 0.0) / 3),
        (labels(0, 0), labels(0, 1), 2 / 3),  # class 1 only predicted: not averaged
        (labels(0, 1), labels(0, 1), 1.0),
        (labels(2, 2), labels(0, 0), 0.0),
        (EMPTY, EMPTY, 0.0),
    ],
    ids=["known", "absent-class", "perfect", "all-wrong", "empty"],
)
def test_macro_f1(truth: np.ndarray, predicted: np.ndarray, expected: float) -> None:
    assert macro_f1(truth, predicted, n_classes=3) == pytest.approx(expected)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_frame_metrics_are_in_range(data: st.DataObject) -> None:
    truth = data.draw(label_arrays)
    predicted = data.draw(arrays(np.int64, truth.size, elements=st.integers(0, 4)))
    assert 0.0 <= frame_accuracy(truth, predicted) <= 1.0
    f1 = per_class_f1(truth, predicted, n_classes=5)
    assert np.all((f1[~np.isnan(f1)] >= 0) & (f1[~np.isnan(f1)] <= 1))
    assert 0.0 <= macro_f1(truth, predicted, n_classes=5) <= 1.0
    if truth.size:
        assert frame_accuracy(truth, truth) == 1.0
        assert macro_f1(truth, truth, n_classes=5) == 1.0


# --- segments and edit score --------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (labels(0, 0, 2, 2, 1), [0, 2, 1]),
        (labels(3), [3]),
        (labels(1, 1, 1), [1]),
        (labels(0, 1, 0, 1), [0, 1, 0, 1]),
        (EMPTY, []),
    ],
    ids=["doc", "one", "one-run", "alternating", "empty"],
)
def test_segments(values: np.ndarray, expected: list[int]) -> None:
    assert segments(values).tolist() == expected


@pytest.mark.parametrize(
    ("truth", "predicted", "ignore", "expected"),
    [
        (labels(0, 0, 1, 1, 2), labels(0, 1, 0, 1, 2), None, 0.6),
        (labels(0, 1, 2), labels(0, 0, 2, 2), None, 1 - 1 / 3),  # one segment missing
        (labels(0, 1, 2), labels(0, 2, 1), None, 1 - 2 / 3),  # swapped
        (labels(0, 1, 2, 3), labels(3, 2, 1, 0), None, 0.0),
        (labels(0, 0, 0), labels(0, 1, 0), None, 1 - 2 / 3),  # flicker
        (labels(0, 3, 3, 1), labels(0, 1), 3, 1.0),  # "other" dropped
        (labels(0, 3, 0, 1), labels(0, 1, 1), 3, 1.0),  # runs joined across "other"
        (labels(3, 3), labels(3), 3, 1.0),  # nothing left on either side
        (labels(0, 1), labels(3, 3), 3, 0.0),
        (EMPTY, EMPTY, None, 1.0),
        (labels(0, 1), EMPTY, None, 0.0),
    ],
    ids=[
        "doc",
        "missing",
        "swapped",
        "reversed",
        "flicker",
        "ignore",
        "ignore-joins",
        "ignore-all",
        "ignore-one-side",
        "empty",
        "one-empty",
    ],
)
def test_edit_score_known_answers(
    truth: np.ndarray, predicted: np.ndarray, ignore: int | None, expected: float
) -> None:
    assert edit_score(truth, predicted, ignore=ignore) == pytest.approx(expected)


@settings(max_examples=100, deadline=None)
@given(truth=label_arrays, predicted=label_arrays, ignore=st.sampled_from([None, 0, 4]))
def test_edit_score_properties(
    truth: np.ndarray, predicted: np.ndarray, ignore: int | None
) -> None:
    score = edit_score(truth, predicted, ignore=ignore)
    assert 0.0 <= score <= 1.0
    assert edit_score(truth, truth, ignore=ignore) == 1.0
    assert edit_score(predicted, truth, ignore=ignore) == pytest.approx(score)
    a = segments(truth[truth != ignore] if ignore is not None else truth).tolist()
    b = segments(predicted[predicted != ignore] if ignore is not None else predicted).tolist()
    if a or b:
        assert score == pytest.approx(1.0 - levenshtein(a, b) / max(len(a), len(b)))


@settings(max_examples=40, deadline=None)
@given(values=label_arrays)
def test_edit_score_ignores_timing(values: np.ndarray) -> None:
    """Stretching every run keeps the segment order, so the score stays 1."""
    stretched = np.repeat(values, 3)
    assert edit_score(values, stretched) == 1.0


def test_docstring_examples() -> None:
    result = doctest.testmod(metrics_module)
    assert result.attempted > 0
    assert result.failed == 0


@pytest.mark.parametrize(
    "metric",
    [frame_accuracy, lambda t, p: macro_f1(t, p, n_classes=3)],
    ids=["accuracy", "macro-f1"],
)
def test_frame_metrics_reject_arrays_of_different_length(metric: Callable[..., float]) -> None:
    with pytest.raises(MetricInputError, match="same length"):
        metric(np.array([0]), np.array([0, 0, 0]))


def test_macro_f1_can_leave_a_class_out_of_the_average() -> None:
    truth = np.array([0, 0, 1, 1, 2, 2])
    predicted = np.array([0, 0, 1, 2, 2, 0])
    f1 = per_class_f1(truth, predicted, n_classes=3)
    assert macro_f1(truth, predicted, n_classes=3, exclude=2) == pytest.approx(f1[:2].mean())
    assert macro_f1(truth, predicted, n_classes=3) == pytest.approx(f1.mean())


@pytest.mark.parametrize(
    ("reference", "hypothesis", "expected"),
    [
        ("What is the next step?", " what is the next step", 0.0),
        ("what is the next step", "what is the next stop", 0.2),
        ("what is the next step", "what is next step", 0.2),
        ("what is the next step", "so what is the next step now", 0.4),
        ("grind beans", "", 1.0),
        ("", "", 0.0),
        ("", "hello", float("inf")),
    ],
    ids=["same", "substitution", "deletion", "insertions", "nothing-heard", "empty", "only-hyp"],
)
def test_word_error_rate_known_answers(reference: str, hypothesis: str, expected: float) -> None:
    assert word_error_rate(reference, hypothesis) == pytest.approx(expected)


def test_spoken_words_drop_case_punctuation_and_hesitations() -> None:
    assert spoken_words("Uh, did I pour the milk (jug)? It's done, OK.") == [
        "did",
        "i",
        "pour",
        "the",
        "milk",
        "jug",
        "it",
        "is",
        "done",
        "okay",
    ]
    assert word_error_rate("what's this step for", "What is this step for?") == 0.0


# Transcripts from `prism eval asr` (seed 0) with the rates the hand-written edit distance
# gave them before jiwer replaced it: the same numbers, to the last bit.
OLD_RATES = [
    ("what's this one again", "What is one again?", 0.2),
    ("after the milk what's next", "After the build what's next?", 0.16666666666666666),
    ("did I blow out the steam wand?", "Did I go out of a steam wand?", 0.42857142857142855),
    ("have I poured the milk in the cup yet?", "Have I pour the milk in the cup yet?", 1 / 9),
    ("did I adjust the grind?", "Did I just add grinds?", 0.6),
    ("how much milk goes in the jug", "How much milk do I need to judge?", 0.7142857142857143),
    ("why rinse the portafilter", "Why rinse the port a filter?", 0.75),
    ("ouch, that stings", "How much do I do?", 1.6666666666666667),
    ("hmm okay", "Am I okay?", 2.0),
    ("these labels keep sticking together", "Did I almost keep sticking to get me?", 1.2),
    ("and then?", "I'm done.", 1.5),
    ("mmm", "Have I done?", 3.0),
]


@pytest.mark.parametrize(("reference", "hypothesis", "old"), OLD_RATES)
def test_jiwer_gives_the_rates_of_the_hand_written_edit_distance(
    reference: str, hypothesis: str, old: float
) -> None:
    assert word_error_rate(reference, hypothesis) == old


@pytest.mark.parametrize(
    ("reference", "hypothesis", "expected"),
    [
        ("I have two cups", "i have 2 cups", 0.0),  # numbers are written as digits
        ("the colour of the milk", "the color of the milk", 0.0),  # American spelling
        ("what's next", "what is next", 0.0),
        ("Uh, where am I?", "where am i", 0.0),  # hesitations and punctuation go
        ("OK", "okay", 1.0),  # unlike spoken_words, "ok" and "okay" stay apart
    ],
    ids=["numbers", "spelling", "contraction", "hesitation", "ok-okay"],
)
def test_the_whisper_normaliser_known_answers(
    reference: str, hypothesis: str, expected: float
) -> None:
    assert word_error_rate(reference, hypothesis, normaliser="whisper") == expected


def test_corpus_rate_counts_words_not_mean_rates_and_skips_empty_references() -> None:
    references = ["grind the beans", "what next", "hmm"]
    hypotheses = ["grind beans", "what next", "what is next"]
    assert corpus_word_error_rate(references, hypotheses) == pytest.approx(1 / 5)
    rates = [word_error_rate(r, h) for r, h in zip(references[:2], hypotheses[:2], strict=True)]
    assert np.mean(rates) != pytest.approx(1 / 5)
    assert math.isnan(corpus_word_error_rate(["hmm"], ["okay"]))


def test_word_error_rate_inputs_are_checked() -> None:
    with pytest.raises(MetricInputError, match="must pair up, got 2 references and 1"):
        corpus_word_error_rate(["a", "b"], ["a"])
    with pytest.raises(MetricInputError, match="normaliser must be 'spoken_words' or 'whisper'"):
        normalised_words("a", "basic")  # type: ignore[arg-type]


# --- the libraries give the numbers of the hand-written counting they replaced ---------


def counted_f1(truth: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """The per-class F1 PrISM counted by hand before scikit-learn: 2 TP / (support +
    predicted), NaN for a class in neither."""
    true_positive = np.bincount(truth[truth == predicted], minlength=n_classes).astype(float)
    denominator = np.bincount(truth, minlength=n_classes).astype(float) + np.bincount(
        predicted, minlength=n_classes
    ).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, 2 * true_positive / denominator, np.nan)


def test_known_answers_of_the_replaced_implementation() -> None:
    """Values the hand-written counting and dynamic programme gave (seeded example)."""
    rng = np.random.default_rng(7)
    truth = rng.integers(0, 6, 500)
    predicted = np.where(rng.random(500) < 0.6, truth, rng.integers(0, 6, 500))
    assert frame_accuracy(truth, predicted) == 0.686
    assert macro_f1(truth, predicted, n_classes=7) == 0.6843788853330729
    assert macro_f1(truth, predicted, n_classes=7, exclude=5) == 0.6780967676628454
    assert edit_score(truth, predicted) == 0.655421686746988
    assert edit_score(truth, predicted, ignore=5) == 0.6393939393939394
    expected = [0.7073170731707317, 0.6114649681528662, 0.6753246753246753, 0.7134502923976608]
    expected += [0.6829268292682927, 0.7157894736842105, np.nan]
    np.testing.assert_array_equal(per_class_f1(truth, predicted, n_classes=7), expected)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), exclude=st.sampled_from([None, 0, 4]))
def test_scikit_learn_f1_equals_the_counted_f1_exactly(
    data: st.DataObject, exclude: int | None
) -> None:
    truth = data.draw(label_arrays)
    predicted = data.draw(arrays(np.int64, truth.size, elements=st.integers(0, 4)))
    f1 = counted_f1(truth, predicted, 5)
    np.testing.assert_array_equal(per_class_f1(truth, predicted, n_classes=5), f1)
    present = np.bincount(truth, minlength=5) > 0
    if exclude is not None:
        present[exclude] = False
    expected = float(np.mean(f1[present])) if present.any() else 0.0
    assert macro_f1(truth, predicted, n_classes=5, exclude=exclude) == expected
    if truth.size:
        assert frame_accuracy(truth, predicted) == float(np.mean(truth == predicted))


@settings(max_examples=100, deadline=None)
@given(truth=label_arrays, predicted=label_arrays)
def test_rapidfuzz_distance_equals_the_textbook_distance(
    truth: np.ndarray, predicted: np.ndarray
) -> None:
    a, b = segments(truth).tolist(), segments(predicted).tolist()
    if a or b:
        assert edit_score(truth, predicted) == 1.0 - levenshtein(a, b) / max(len(a), len(b))

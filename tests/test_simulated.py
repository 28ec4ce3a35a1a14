"""Tests for the simulated classifier (prism.data.simulated)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from prism.data.simulated import (
    DEFAULT_CONFIG,
    SimulatedClassifierConfig,
    SimulationError,
    confusable_error_share,
    confusion_neighbours,
    error_runs,
    simulate_classifier,
    simulate_stream,
)
from prism.errors import PrismError

N_STEPS = 24
N_CLASSES = N_STEPS + 1


def step_labels(n_frames: int, rng: np.random.Generator, n_steps: int = N_STEPS) -> np.ndarray:
    """A procedure-like label stream: steps in random order, ~8 s each, some 'other' gaps."""
    pieces: list[np.ndarray] = []
    total = 0
    while total < n_frames:
        for step in rng.permutation(n_steps):
            pieces.append(np.full(rng.geometric(1 / 40), step))
            if rng.random() < 0.3:
                pieces.append(np.full(rng.geometric(1 / 15), n_steps))
            total += pieces[-1].size
    return np.concatenate(pieces)[:n_frames].astype(np.int64)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="module")
def long_labels() -> np.ndarray:
    return step_labels(100_000, np.random.default_rng(0))


@pytest.fixture(scope="module")
def default_stream(long_labels: np.ndarray):  # type: ignore[no-untyped-def]
    return simulate_stream(long_labels, n_classes=N_CLASSES, seed=0)


# --- statistics the issue asks for ------------------------------------------------------


@pytest.mark.parametrize("accuracy", [0.3, 0.55, 0.8])
def test_realised_accuracy_is_close_to_target(long_labels: np.ndarray, accuracy: float) -> None:
    config = SimulatedClassifierConfig(raw_accuracy=accuracy)
    stream = simulate_stream(long_labels, n_classes=N_CLASSES, config=config, seed=1)
    assert stream.realised_accuracy == pytest.approx(accuracy, abs=0.02)
    assert stream.realised_accuracy == np.mean(stream.predictions == long_labels)


def test_very_low_accuracy_keeps_error_rate(long_labels: np.ndarray) -> None:
    # correct runs would be shorter than a frame: error runs then follow each other
    config = SimulatedClassifierConfig(raw_accuracy=0.05)
    stream = simulate_stream(long_labels, n_classes=N_CLASSES, config=config, seed=1)
    assert stream.realised_accuracy == pytest.approx(0.05, abs=0.01)


def test_default_error_runs_are_long(long_labels: np.ndarray, default_stream) -> None:  # type: ignore[no-untyped-def]
    runs = error_runs(long_labels, default_stream.predictions)
    assert runs.mean() >= 5.0
    assert runs.mean() == pytest.approx(DEFAULT_CONFIG.mean_error_run_frames, rel=0.1)


@pytest.mark.parametrize(("run_s", "rate"), [(0.2, 5.0), (0.6, 5.0), (4.0, 5.0), (5.0, 1.0)])
def test_mean_error_run_follows_config_in_seconds(
    long_labels: np.ndarray, run_s: float, rate: float
) -> None:
    config = SimulatedClassifierConfig(mean_error_run_s=run_s, frame_rate=rate)
    stream = simulate_stream(long_labels, n_classes=N_CLASSES, config=config, seed=2)
    runs_s = error_runs(long_labels, stream.predictions).mean() / rate
    assert runs_s == pytest.approx(run_s, rel=0.1)


def test_the_same_classifier_errs_as_long_at_any_frame_rate() -> None:
    one_hz = SimulatedClassifierConfig(mean_error_run_s=5.0, frame_rate=1.0)
    five_hz = SimulatedClassifierConfig(mean_error_run_s=5.0, frame_rate=5.0)
    assert one_hz.mean_error_run_frames == 5.0 and five_hz.mean_error_run_frames == 25.0
    # consecutive frames 0.2 s apart are more alike than frames 1 s apart
    assert five_hz.noise_correlation == pytest.approx(0.9)
    assert one_hz.noise_correlation == pytest.approx(0.9**5)


def test_confidence_does_not_reveal_errors(long_labels: np.ndarray, default_stream) -> None:  # type: ignore[no-untyped-def]
    top = default_stream.probabilities.max(axis=1)
    wrong = default_stream.predictions != long_labels
    # as a detector of errors, low confidence is no better than chance
    assert roc_auc_score(wrong, -top) == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize("mass", [0.0, 0.5, 0.8, 1.0])
def test_confusable_share_follows_mass(long_labels: np.ndarray, mass: float) -> None:
    config = SimulatedClassifierConfig(confusable_mass=mass)
    stream = simulate_stream(long_labels, n_classes=N_CLASSES, config=config, seed=3)
    share = confusable_error_share(long_labels, stream.predictions, stream.neighbours)
    assert share == pytest.approx(mass, abs=0.04)


def test_wrong_class_is_constant_within_a_run_while_label_is(
    long_labels: np.ndarray,
    default_stream,  # type: ignore[no-untyped-def]
) -> None:
    wrong = default_stream.predictions != long_labels
    both = wrong[1:] & wrong[:-1] & (long_labels[1:] == long_labels[:-1])
    prediction = default_stream.predictions
    assert both.sum() > 1000
    # consecutive wrong frames with the same label change class only where one error run
    # ends and the next begins (rare at the default accuracy: never, runs alternate)
    assert np.all(prediction[1:][both] == prediction[:-1][both])


def test_true_class_is_usually_second_during_errors(
    long_labels: np.ndarray,
    default_stream,  # type: ignore[no-untyped-def]
) -> None:
    p = default_stream.probabilities
    wrong = default_stream.predictions != long_labels
    true_p = p[np.arange(p.shape[0]), long_labels]
    rank = (p > true_p[:, None]).sum(axis=1)
    assert np.mean(rank[wrong] == 1) > 0.5
    # and the classifier is less sure when wrong
    assert p.max(axis=1)[wrong].mean() < p.max(axis=1)[~wrong].mean()


def test_probabilities_vary_smoothly(default_stream) -> None:  # type: ignore[no-untyped-def]
    p = default_stream.probabilities
    lag1 = np.corrcoef(p[1:].ravel(), p[:-1].ravel())[0, 1]
    assert lag1 > 0.7


def test_similar_step_names_are_confused() -> None:
    names = ["Pour milk (jug)", "Pour milk (cup)", "Grind beans", "Wash jug", "Get towel"]
    labels = np.zeros(20_000, dtype=np.int64)  # always "Pour milk (jug)"
    config = SimulatedClassifierConfig(n_confusable=1, confusable_mass=0.9)
    stream = simulate_stream(labels, n_classes=6, config=config, names=names, seed=0)
    wrong = stream.predictions[stream.predictions != 0]
    assert stream.neighbours[0].tolist() == [1]
    assert np.mean(wrong == 1) == pytest.approx(0.9, abs=0.05)


# --- contract: probabilities, argmax, determinism ---------------------------------------


def test_rows_are_probabilities(long_labels: np.ndarray, default_stream) -> None:  # type: ignore[no-untyped-def]
    p = default_stream.probabilities
    assert p.shape == (long_labels.size, N_CLASSES)
    assert p.dtype == np.float64
    assert np.all(p > 0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-9)


def test_argmax_is_the_prediction(long_labels: np.ndarray, default_stream) -> None:  # type: ignore[no-untyped-def]
    p = default_stream.probabilities
    np.testing.assert_array_equal(p.argmax(axis=1), default_stream.predictions)
    top_two = np.sort(p, axis=1)[:, -2:]
    assert np.all(top_two[:, 1] > top_two[:, 0])  # no ties


def test_classifier_equals_stream_probabilities(rng: np.random.Generator) -> None:
    labels = step_labels(2_000, rng)
    np.testing.assert_array_equal(
        simulate_classifier(labels, n_classes=N_CLASSES, seed=5),
        simulate_stream(labels, n_classes=N_CLASSES, seed=5).probabilities,
    )


def test_same_seed_same_stream_other_seed_differs(rng: np.random.Generator) -> None:
    labels = step_labels(5_000, rng)
    first = simulate_classifier(labels, n_classes=N_CLASSES, seed=7)
    np.testing.assert_array_equal(first, simulate_classifier(labels, n_classes=N_CLASSES, seed=7))
    np.testing.assert_array_equal(
        first, simulate_classifier(labels, n_classes=N_CLASSES, seed=np.random.default_rng(7))
    )
    assert not np.array_equal(first, simulate_classifier(labels, n_classes=N_CLASSES, seed=8))


def test_stream_is_pinned_for_this_simulator_version() -> None:
    # If this fails the same seed now gives another stream: bump SIMULATOR_VERSION and
    # re-pin, so evaluations made with the old version are not compared with new ones.
    labels = np.repeat([0, 1, 2, 3], 10)
    stream = simulate_stream(labels, n_classes=4, seed=0)
    assert stream.predictions.tolist() == [
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        2, 2, 2, 2, 2, 2, 2, 1, 1, 1,
        2, 2, 2, 2, 2, 2, 2, 2, 2, 0,
        0, 0, 0, 3, 3, 3, 3, 3, 3, 3,
    ]  # fmt: skip
    np.testing.assert_allclose(stream.probabilities[0], [0.0212, 0.9484, 0.0246, 0.0057], atol=1e-4)


def test_empty_labels_give_empty_stream() -> None:
    stream = simulate_stream(np.array([], dtype=np.int64), n_classes=3)
    assert stream.probabilities.shape == (0, 3)
    assert np.isnan(stream.realised_accuracy)


def test_two_classes_work() -> None:
    labels = np.repeat([0, 1, 0], 2_000)
    stream = simulate_stream(labels, n_classes=2, seed=0)
    assert stream.neighbours.tolist() == [[1], [0]]
    assert stream.realised_accuracy == pytest.approx(0.55, abs=0.05)


def test_default_config_is_documented_and_frozen() -> None:
    assert dataclasses.asdict(DEFAULT_CONFIG) == {
        "raw_accuracy": 0.55,
        "mean_error_run_s": 1.6,
        "frame_rate": 5.0,
        "n_confusable": 3,
        "confusable_mass": 0.8,
        "other_similarity": 0.2,
        "correct_margin": 1.5,
        "error_margin": 1.15,
        "margin_spread": 0.5,
        "true_class_boost": 2.0,
        "confusable_boost": 0.75,
        "noise_std": 0.75,
        "noise_memory_s": pytest.approx(1.898, abs=1e-3),
    }
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_CONFIG.raw_accuracy = 0.9  # type: ignore[misc]


@settings(max_examples=60, deadline=None)
@given(
    n_classes=st.integers(2, 30),
    data=st.data(),
    accuracy=st.floats(0.05, 0.99, exclude_min=True, exclude_max=True),
    mean_run=st.floats(1.0, 30.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_labels_give_valid_rows(
    n_classes: int, data: st.DataObject, accuracy: float, mean_run: float, seed: int
) -> None:
    labels = np.array(
        data.draw(st.lists(st.integers(0, n_classes - 1), max_size=300)), dtype=np.int64
    )
    config = SimulatedClassifierConfig(raw_accuracy=accuracy, mean_error_run_s=mean_run / 5.0)
    stream = simulate_stream(labels, n_classes=n_classes, config=config, seed=seed)
    p = stream.probabilities
    assert p.shape == (labels.size, n_classes)
    assert np.all(np.isfinite(p))
    assert np.all(p > 0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(p.argmax(axis=1), stream.predictions)


# --- confusion neighbours -----------------------------------------------------------------


def test_neighbours_follow_shared_words(rng: np.random.Generator) -> None:
    names = ["Chop onion", "Chop tomato", "Pour milk (jug)", "Pour milk (cup)", "Boil water"]
    neighbours = confusion_neighbours(names, n_confusable=2, rng=rng)
    other = len(names)
    assert neighbours.shape == (len(names) + 1, 2)
    assert neighbours[0, 0] == 1 and neighbours[1, 0] == 0
    assert neighbours[2, 0] == 3 and neighbours[3, 0] == 2
    assert neighbours[4, 0] == other  # nothing similar: confused with idle time
    assert other not in neighbours[other]
    for cls, row in enumerate(neighbours):
        assert cls not in row
        assert len(set(row.tolist())) == row.size


def test_neighbours_ignore_numbers_and_stop_words(rng: np.random.Generator) -> None:
    names = ["Add 1/2 cup of the milk", "Add 2 tbsp of sugar", "Slice the 3 tomatoes"]
    neighbours = confusion_neighbours(names, n_confusable=1, other_similarity=0.0, rng=rng)
    assert neighbours[:2, 0].tolist() == [1, 0]


def test_neighbours_are_seeded() -> None:
    names = [f"Step {word}" for word in "abcdefgh"]  # all tie: the rng decides

    def draw(seed: int) -> np.ndarray:
        return confusion_neighbours(names, n_confusable=3, rng=np.random.default_rng(seed))

    np.testing.assert_array_equal(draw(0), draw(0))
    assert not np.array_equal(draw(0), draw(1))


def test_neighbours_are_capped_at_other_classes(rng: np.random.Generator) -> None:
    assert confusion_neighbours(["a b", "c d"], n_confusable=5, rng=rng).shape == (3, 2)


# --- error_runs and confusable_error_share --------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "predictions", "expected"),
    [
        ([0, 0, 0, 1, 1, 1], [0, 2, 2, 1, 0, 1], [2, 1]),
        ([0, 1, 2], [0, 1, 2], []),
        ([0, 1, 2], [1, 2, 0], [3]),
        ([], [], []),
    ],
    ids=["two-runs", "none-wrong", "all-wrong", "empty"],
)
def test_error_runs_known_answers(
    labels: list[int], predictions: list[int], expected: list[int]
) -> None:
    assert error_runs(np.array(labels), np.array(predictions)).tolist() == expected


def test_confusable_error_share_known_answer() -> None:
    neighbours = np.array([[1], [0], [0]])
    labels = np.array([0, 0, 1, 2])
    predictions = np.array([1, 2, 0, 1])  # hit, miss, hit, miss
    assert confusable_error_share(labels, predictions, neighbours) == 0.5
    assert np.isnan(confusable_error_share(labels, labels, neighbours))


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"raw_accuracy": 0.0}, r"raw_accuracy must be in \(0, 1\), got 0.0"),
        ({"raw_accuracy": 1.0}, r"raw_accuracy must be in \(0, 1\)"),
        ({"raw_accuracy": float("nan")}, "raw_accuracy must be finite"),
        ({"raw_accuracy": "0.5"}, "raw_accuracy must be a number"),
        ({"mean_error_run_s": 0.1}, r"mean_error_run_s must be at least one frame .*got 0.1"),
        ({"mean_error_run_s": 0.5, "frame_rate": 1.0}, r"\(>= 1 s at 1 Hz\), got 0.5"),
        ({"mean_error_run_s": float("inf")}, "mean_error_run_s must be finite"),
        ({"frame_rate": 0.0}, r"frame_rate must be > 0 Hz"),
        ({"n_confusable": 0}, "n_confusable must be >= 1, got 0"),
        ({"n_confusable": 2.0}, "n_confusable must be an int"),
        ({"n_confusable": True}, "n_confusable must be an int"),
        ({"confusable_mass": 1.5}, r"confusable_mass must be in \[0, 1\]"),
        ({"other_similarity": -0.1}, r"other_similarity must be in \[0, 1\]"),
        ({"correct_margin": 0.0}, "correct_margin must be > 0"),
        ({"error_margin": -1.0}, "error_margin must be > 0"),
        ({"margin_spread": -0.1}, "margin_spread must be >= 0"),
        ({"true_class_boost": -1.0}, "true_class_boost must be >= 0"),
        ({"confusable_boost": -1.0}, "confusable_boost must be >= 0"),
        ({"noise_std": -0.5}, "noise_std must be >= 0"),
        ({"noise_memory_s": -1.0}, r"noise_memory_s must be >= 0 s"),
    ],
    ids=lambda value: str(value) if isinstance(value, dict) else "",
)
def test_bad_config_is_rejected(changes: dict[str, object], match: str) -> None:
    with pytest.raises(SimulationError, match=match):
        SimulatedClassifierConfig(**changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("labels", "kwargs", "match"),
    [
        (np.zeros((3, 2), dtype=int), {}, r"labels must be 1-D \(n_frames,\), got shape \(3, 2\)"),
        (np.array([0.0, 1.0]), {}, "labels must be integers, got dtype float64"),
        (
            np.array([0, 3]),
            {},
            r"labels must be in \[0, 2\] for n_classes=3, got values in \[0, 3\]",
        ),
        (np.array([-1, 0]), {}, r"labels must be in \[0, 2\]"),
        (np.array([0, 1]), {"n_classes": 1}, "n_classes must be >= 2"),
        (np.array([0, 1]), {"n_classes": 2.0}, "n_classes must be an int"),
        (np.array([0, 1]), {"names": ["a"]}, r"one name per step \(n_classes - 1 = 2\), got 1"),
        (np.array([0, 1]), {"names": "ab"}, "names must be a sequence of step names"),
        (np.array([0, 1]), {"names": ["a", 2]}, "names must be a sequence of step names"),
    ],
    ids=[
        "2-d",
        "float",
        "too-large",
        "negative",
        "one-class",
        "float-classes",
        "names-count",
        "names-str",
        "names-int",
    ],
)
def test_bad_simulation_input_is_rejected(
    labels: np.ndarray, kwargs: dict[str, object], match: str
) -> None:
    arguments: dict[str, object] = {"n_classes": 3, **kwargs}
    with pytest.raises(SimulationError, match=match):
        simulate_classifier(labels, **arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("names", "kwargs", "match"),
    [
        ([], {}, "names must name at least one step"),
        (["a"], {"n_confusable": 0}, "n_confusable must be an int >= 1, got 0"),
        (["a"], {"other_similarity": 2.0}, r"other_similarity must be in \[0, 1\], got 2.0"),
    ],
    ids=["no-names", "zero-confusable", "similarity-range"],
)
def test_bad_neighbour_input_is_rejected(
    names: list[str], kwargs: dict[str, object], match: str, rng: np.random.Generator
) -> None:
    with pytest.raises(SimulationError, match=match):
        confusion_neighbours(names, rng=rng, **kwargs)  # type: ignore[arg-type]


def test_bad_pairs_are_rejected() -> None:
    with pytest.raises(SimulationError, match="same length, got shapes"):
        error_runs(np.array([0, 1]), np.array([0]))
    with pytest.raises(SimulationError, match="a row for every class"):
        confusable_error_share(np.array([0, 5]), np.array([1, 0]), np.array([[1], [0]]))


def test_simulation_error_is_a_prism_value_error() -> None:
    assert issubclass(SimulationError, PrismError)
    assert issubclass(SimulationError, ValueError)

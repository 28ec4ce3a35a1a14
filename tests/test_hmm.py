"""Tests for prism.tracker.hmm: the duration-free HMM baseline and its forward filter."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import prism.tracker.hmm as hmm_module
from prism.procedure.model import Procedure
from prism.tracker.hmm import duration_free_hmm, forward_filter

TWO_STATE = np.array([[0.9, 0.1], [0.2, 0.8]])


@pytest.mark.parametrize("name", ["small_procedure", "repeat_procedure", "latte"])
@pytest.mark.parametrize("frame_rate", [1.0, 5.0, 30.0])
def test_duration_free_hmm_is_a_valid_markov_chain(
    request: pytest.FixtureRequest, name: str, frame_rate: float
) -> None:
    procedure: Procedure = request.getfixturevalue(name)
    transition, initial = duration_free_hmm(procedure, frame_rate=frame_rate)
    k = procedure.n_steps + 1
    assert transition.shape == (k, k) and initial.shape == (k,)
    assert np.all(transition >= 0) and np.all(initial >= 0)
    np.testing.assert_allclose(transition.sum(axis=1), 1.0, atol=1e-12)
    assert initial.sum() == pytest.approx(1.0, abs=1e-12)


def test_duration_free_hmm_known_answer(small_procedure: Procedure) -> None:
    """a -> b -> c -> end, 1 s steps and gaps at 5 Hz (leave 1/5 per frame), gap p = 0.3."""
    transition, initial = duration_free_hmm(small_procedure, frame_rate=5.0)
    expected = np.array(
        [
            [0.8, 0.2 * 0.7, 0.0, 0.2 * 0.3],  # a: stay, to b, to other (gap)
            [0.0, 0.8, 0.2 * 0.7, 0.2 * 0.3],  # b
            [0.0, 0.0, 0.8, 0.2],  # c: to other (gap or end)
            [0.2 / 3, 0.2 / 3, 0.2 / 3, 0.8],  # other: leaves evenly (each step has one way in)
        ]
    )
    np.testing.assert_allclose(transition, expected, atol=1e-12)
    np.testing.assert_allclose(initial, [0.5, 0.0, 0.0, 0.5], atol=1e-12)


def test_a_step_shorter_than_a_frame_leaves_at_once(small_procedure: Procedure) -> None:
    transition, _ = duration_free_hmm(small_procedure, frame_rate=0.5)  # 1 s = half a frame
    np.testing.assert_allclose(np.diag(transition)[:3], 0.0, atol=1e-12)


def test_forward_filter_two_state_known_answer() -> None:
    """By hand: t0 [0.4, 0.1] -> [0.8, 0.2]; t1 ([0.76, 0.24] * [0.3, 0.7]) / 0.396."""
    observations = np.array([[0.8, 0.2], [0.3, 0.7]])
    posteriors = forward_filter(observations, TWO_STATE, np.array([0.5, 0.5]))
    np.testing.assert_allclose(posteriors[0], [0.8, 0.2], rtol=1e-12)
    np.testing.assert_allclose(posteriors[1], [0.228 / 0.396, 0.168 / 0.396], rtol=1e-12)


def test_forward_filter_emission_weight_known_answer() -> None:
    """Weight 1/2 takes square roots: t0 [sqrt .8, sqrt .2] -> [2/3, 1/3]."""
    observations = np.array([[0.8, 0.2], [0.3, 0.7]])
    posteriors = forward_filter(observations, TWO_STATE, np.array([0.5, 0.5]), emission_weight=0.5)
    np.testing.assert_allclose(posteriors[0], [2 / 3, 1 / 3], rtol=1e-12)
    predicted = np.array([2 / 3 * 0.9 + 1 / 3 * 0.2, 2 / 3 * 0.1 + 1 / 3 * 0.8])
    belief = predicted * np.sqrt([0.3, 0.7])
    np.testing.assert_allclose(posteriors[1], belief / belief.sum(), rtol=1e-12)


def test_forward_filter_with_no_transitions_multiplies_the_evidence() -> None:
    observations = np.array([[0.6, 0.4], [0.5, 0.5], [0.2, 0.8]])
    posteriors = forward_filter(observations, np.eye(2), np.array([0.5, 0.5]))
    product = np.cumprod(observations, axis=0)
    np.testing.assert_allclose(posteriors, product / product.sum(axis=1, keepdims=True))


def test_forward_filter_floors_zero_probabilities() -> None:
    """A zero is 1e-6, so a state the classifier rules out is unlikely, not impossible."""
    posteriors = forward_filter(np.array([[1.0, 0.0]]), np.eye(2), np.array([0.5, 0.5]))
    np.testing.assert_allclose(posteriors[0], [1 / (1 + 1e-6), 1e-6 / (1 + 1e-6)])


def test_forward_filter_of_no_frames() -> None:
    """An empty recording gives an empty posterior, as the tracker's track() does."""
    posteriors = forward_filter(np.empty((0, 2)), TWO_STATE, np.array([0.5, 0.5]))
    assert posteriors.shape == (0, 2)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_frames=st.integers(1, 60),
    concentration=st.sampled_from([0.05, 1.0, 10.0]),
    emission_weight=st.sampled_from([0.3, 0.5, 1.0]),
)
def test_forward_filter_rows_are_distributions(
    latte: Procedure, seed: int, n_frames: int, concentration: float, emission_weight: float
) -> None:
    rng = np.random.default_rng(seed)
    k = latte.n_steps + 1
    frames = rng.dirichlet(np.full(k, concentration), size=n_frames)
    transition, initial = duration_free_hmm(latte, frame_rate=5.0)
    posteriors = forward_filter(frames, transition, initial, emission_weight=emission_weight)
    assert posteriors.shape == (n_frames, k)
    assert np.all(np.isfinite(posteriors)) and np.all(posteriors >= 0)
    np.testing.assert_allclose(posteriors.sum(axis=1), 1.0, atol=1e-9)
    # online: the posterior at t does not depend on later frames
    cut = n_frames // 2 + 1
    head = forward_filter(frames[:cut], transition, initial, emission_weight=emission_weight)
    np.testing.assert_allclose(head, posteriors[:cut], rtol=1e-12)


def test_hmm_smooths_a_one_frame_blip(small_procedure: Procedure) -> None:
    transition, initial = duration_free_hmm(small_procedure, frame_rate=5.0)
    labels = [0, 0, 0, 1, 0, 0, 1, 1, 1, 1]
    frames = np.full((len(labels), 4), 0.1 / 3)
    frames[np.arange(len(labels)), labels] = 0.9
    decoded = forward_filter(frames, transition, initial, emission_weight=0.3).argmax(axis=1)
    assert decoded[3] == 0
    assert decoded[-1] == 1


def test_docstring_examples() -> None:
    result = doctest.testmod(hmm_module)
    assert result.attempted > 0
    assert result.failed == 0

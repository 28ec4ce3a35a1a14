"""Sampling sessions from a procedure."""

from __future__ import annotations

import numpy as np
import pytest

from prism.data.sampling import sample_duration, sample_session
from prism.procedure.model import DurationStats, Procedure


def test_sampled_session_is_ordered_and_within_duration(latte: Procedure) -> None:
    session = sample_session(latte, np.random.default_rng(3))
    starts = [segment.start for segment in session.segments]
    assert starts == sorted(starts)
    assert all(s.end > s.start for s in session.segments)
    assert session.segments[-1].end < session.duration
    assert session.task == "latte_making"


def test_steps_done_once_and_precedence_respected(latte: Procedure) -> None:
    precedence = latte.precedence
    for seed in range(20):
        order = sample_session(latte, np.random.default_rng(seed)).step_order
        assert len(order) == len(set(order)), f"seed {seed}: a step repeated: {order}"
        position = {step: i for i, step in enumerate(order)}
        for before, after in precedence:
            if before in position and after in position:
                assert position[before] < position[after], (seed, before, after)


def test_must_not_skip_steps_are_always_done(latte: Procedure) -> None:
    required = {s.id for s in latte.steps if s.notes.must_not_skip}
    assert required
    for seed in range(20):
        assert required <= set(sample_session(latte, np.random.default_rng(seed)).step_order)


def test_same_seed_same_session(latte: Procedure) -> None:
    first = sample_session(latte, np.random.default_rng(5))
    second = sample_session(latte, np.random.default_rng(5))
    assert first == second


def test_duration_scale_stretches_the_session(latte: Procedure) -> None:
    natural = sample_session(latte, np.random.default_rng(1), lead_in=0.0)
    slow = sample_session(latte, np.random.default_rng(1), duration_scale=3.0, lead_in=0.0)
    assert slow.step_order == natural.step_order
    assert slow.duration - 2.0 == pytest.approx(3.0 * (natural.duration - 2.0))


def test_sample_duration_respects_bounds(rng: np.random.Generator) -> None:
    stats = DurationStats(mean=10.0, std=8.0, min=5.0, max=12.0)
    draws = [sample_duration(stats, rng) for _ in range(500)]
    assert min(draws) >= 5.0
    assert max(draws) <= 12.0


def test_sample_duration_mean(rng: np.random.Generator) -> None:
    draws = [sample_duration(DurationStats(mean=20.0, std=4.0), rng) for _ in range(4000)]
    assert np.mean(draws) == pytest.approx(20.0, rel=0.03)

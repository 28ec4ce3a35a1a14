"""The confirmation policy: ask when uncertain, bounded and spaced."""

from __future__ import annotations

import numpy as np
import pytest

from prism.errors import TrackerInputError
from prism.procedure.model import Procedure
from prism.tracker import ConfirmationConfig, ConfirmationPolicy, StepTracker


def _uniform(procedure: Procedure) -> np.ndarray:
    return np.full(procedure.n_steps + 1, 1.0 / (procedure.n_steps + 1))


def _run(
    tracker: StepTracker, policy: ConfirmationPolicy, frame: np.ndarray, n: int
) -> list[float]:
    asked = []
    for _ in range(n):
        request = policy.observe(tracker.update(frame))
        if request is not None:
            asked.append(request.time)
    return asked


def test_asks_when_uncertain_at_most_max_times(latte: Procedure) -> None:
    tracker = StepTracker(latte)
    config = ConfirmationConfig(max_requests=2, min_uncertain_s=1.0, min_interval_s=10.0)
    policy = ConfirmationPolicy(config)
    asked = _run(tracker, policy, _uniform(latte), 5 * 120)
    assert len(asked) == 2
    assert asked[1] - asked[0] >= 10.0
    assert policy.remaining == 0


def test_never_asks_when_confident(latte: Procedure) -> None:
    tracker = StepTracker(latte)
    policy = ConfirmationPolicy(ConfirmationConfig(min_uncertain_s=1.0))
    confident = np.full(latte.n_steps + 1, 0.01 / latte.n_steps)
    confident[latte.step_index("attach_filter")] = 0.99
    assert _run(tracker, policy, confident, 25) == []
    assert tracker.state().current_step == "attach_filter"


def test_request_offers_most_probable_steps(latte: Procedure) -> None:
    tracker = StepTracker(latte)
    policy = ConfirmationPolicy(ConfirmationConfig(min_uncertain_s=0.0, n_choices=3))
    frame = _uniform(latte)
    request = None
    for _ in range(50):
        request = policy.observe(tracker.update(frame))
        if request is not None:
            break
    assert request is not None
    assert len(request.choices) == 3
    assert set(request.choices) <= set(latte.step_ids)
    assert list(request.probabilities) == sorted(request.probabilities, reverse=True)


def test_zero_requests_never_asks(latte: Procedure) -> None:
    policy = ConfirmationPolicy(ConfirmationConfig(max_requests=0, min_uncertain_s=0.0))
    assert _run(StepTracker(latte), policy, _uniform(latte), 100) == []


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"max_requests": -1}, "max_requests"),
        ({"confidence_threshold": 0.0}, "confidence_threshold"),
        ({"confidence_threshold": 1.5}, "confidence_threshold"),
        ({"min_uncertain_s": -1.0}, "min_uncertain_s"),
        ({"n_choices": 1}, "n_choices"),
    ],
    ids=["negative-max", "zero-threshold", "threshold-above-1", "negative-time", "one-choice"],
)
def test_bad_config(options: dict[str, float], match: str) -> None:
    with pytest.raises(TrackerInputError, match=match):
        ConfirmationConfig(**options)  # type: ignore[arg-type]

"""Remaining-time distributions: hand-computable cases and agreement with Monte Carlo."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prism.errors import PrismError
from prism.observer import FutureModel, RemainingTimeConfig, TimeDistribution, residual_pmf
from prism.procedure.model import DurationStats, GapModel, Procedure, Step
from prism.tracker import StepTracker
from prism.tracker.beam import Beam, next_log_probabilities

NO_GAP = GapModel(probability=0.0)


def _step(step_id: str, mean: float, std: float, *, repeatable: bool = False) -> Step:
    return Step(step_id, step_id.title(), "", DurationStats(mean=mean, std=std), repeatable)


def _chain(gap: GapModel = NO_GAP) -> Procedure:
    return Procedure(
        id="chain",
        name="Chain",
        steps=(_step("a", 10.0, 2.0), _step("b", 6.0, 1.5)),
        transitions={"start": {"a": 1.0}, "a": {"b": 1.0}, "b": {"end": 1.0}},
        gap=gap,
    )


def _branching() -> Procedure:
    """a, then b or c in either order (or only one of them), then d."""
    return Procedure(
        id="branching",
        name="Branching",
        steps=(
            _step("a", 8.0, 2.0),
            _step("b", 5.0, 1.0),
            _step("c", 12.0, 3.0),
            _step("d", 4.0, 1.0),
        ),
        transitions={
            "start": {"a": 1.0},
            "a": {"b": 0.6, "c": 0.4},
            "b": {"c": 0.7, "d": 0.3},
            "c": {"b": 0.5, "d": 0.5},
            "d": {"end": 1.0},
        },
        precedence=(("a", "d"),),
        gap=GapModel(probability=0.3, duration=DurationStats(mean=3.0, std=1.0)),
    )


def _beam(n_steps: int, *, node: int, gap: bool = False, done: int = 0, elapsed: int = 0) -> Beam:
    """A belief with one hypothesis, ``elapsed`` frames into its node."""
    frame = 100
    return Beam(
        node=np.array([node]),
        gap=np.array([gap]),
        done=np.array([done], dtype=np.uint64),
        entry=np.array([frame - elapsed]),
        step_start=np.full((1, n_steps), -1),
        step_end=np.full((1, n_steps), -1),
        log_score=np.zeros(1),
        path_score=np.zeros(1),
        frame=frame,
    )


def test_time_to_next_step_is_the_rest_of_the_current_step() -> None:
    procedure = _chain()
    future = FutureModel(StepTracker(procedure).model, RemainingTimeConfig(bin_seconds=1.0))
    prediction = future.predict(_beam(2, node=0, done=0b01))
    duration_a, duration_b = future.durations
    np.testing.assert_allclose(prediction.start[1], duration_a, atol=1e-6)
    end = np.convolve(duration_a, duration_b)[: future.n_bins]
    np.testing.assert_allclose(prediction.until_end.pmf, end, atol=1e-6)
    np.testing.assert_allclose(prediction.until_finish("a").pmf, duration_a, atol=1e-6)
    assert prediction.until_start("a").probability == pytest.approx(0.0, abs=1e-6)
    assert prediction.until_end.mean == pytest.approx(16.0, abs=0.2)
    assert prediction.pruned == 0.0


def test_elapsed_time_conditions_the_rest_of_the_step() -> None:
    procedure = _chain()
    future = FutureModel(StepTracker(procedure).model, RemainingTimeConfig(bin_seconds=1.0))
    # 8 s (40 frames) into "a": the rest is the duration beyond 8 s, renormalised.
    prediction = future.predict(_beam(2, node=0, done=0b01, elapsed=40))
    expected = residual_pmf(future.durations[0], 8)
    np.testing.assert_allclose(prediction.until_start("b").pmf, expected, atol=1e-6)
    assert prediction.until_start("b").mean < 4.0


def test_a_gap_adds_its_duration_with_its_probability() -> None:
    gap = GapModel(probability=0.5, duration=DurationStats(mean=4.0, std=1.0))
    future = FutureModel(StepTracker(_chain(gap)).model, RemainingTimeConfig(bin_seconds=1.0))
    prediction = future.predict(_beam(2, node=0, done=0b01))
    gap_pmf = future.gap_duration
    size = future.n_bins
    expected = 0.5 * future.durations[0] + 0.5 * np.convolve(future.durations[0], gap_pmf)[:size]
    np.testing.assert_allclose(prediction.until_start("b").pmf, expected, atol=1e-6)


def test_the_end_node_means_nothing_is_left() -> None:
    future = FutureModel(StepTracker(_chain()).model)
    prediction = future.predict(_beam(2, node=3, done=0b11))
    assert prediction.until_end.pmf[0] == pytest.approx(1.0)
    assert prediction.until_start("b").probability == pytest.approx(0.0, abs=1e-9)


def _monte_carlo(
    future: FutureModel, node: int, done: int, elapsed_bins: int, in_step: bool, n: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sampled first-start times (bins, NaN = never) of each step and of the end."""
    rng = np.random.default_rng(seed)
    model = future._prediction_model
    steps = model.n_steps
    gap_probability = model.procedure.gap.probability
    out = np.full((n, steps + 1), np.nan)

    def draw(pmf: np.ndarray) -> int:
        return int(rng.choice(pmf.size, p=pmf / pmf.sum()))

    for i in range(n):
        source = future.durations[node] if in_step else future.gap_duration
        t = draw(residual_pmf(source, elapsed_bins))
        if in_step and rng.random() < gap_probability:
            t += draw(future.gap_duration)
        current, done_set, since = node, done, 0
        for _ in range(50):
            row = np.exp(
                next_log_probabilities(
                    model, np.array([current]), np.array([done_set], dtype=np.uint64)
                )
            )[0]
            choice = int(rng.choice(row.size, p=row / row.sum()))
            if choice == steps:
                out[i, steps] = t
                break
            if not since >> choice & 1:
                out[i, choice] = t
            since |= 1 << choice
            done_set |= 1 << choice
            current = choice
            t += draw(future.durations[choice])
            if rng.random() < gap_probability:
                t += draw(future.gap_duration)
    return out, np.isnan(out).mean(axis=0)


@pytest.mark.parametrize(
    ("node", "done", "elapsed_frames", "in_step"),
    [(4, 0, 0, False), (0, 0b0001, 15, True), (1, 0b0011, 0, False), (2, 0b0101, 30, True)],
    ids=["from-start", "in-a", "gap-after-b", "in-c-after-a"],
)
def test_agrees_with_monte_carlo_on_a_branching_graph(
    node: int, done: int, elapsed_frames: int, in_step: bool
) -> None:
    procedure = _branching()
    future = FutureModel(StepTracker(procedure).model, RemainingTimeConfig(bin_seconds=1.0))
    beam = _beam(4, node=node, gap=not in_step and node < 4, done=done, elapsed=elapsed_frames)
    prediction = future.predict(beam)
    assert prediction.pruned == pytest.approx(0.0, abs=1e-9)
    samples, never = _monte_carlo(future, node, done, elapsed_frames // 5, in_step, 4000, seed=1)
    for j in range(5):
        exact = TimeDistribution(prediction.start[j], 1.0)
        assert exact.probability == pytest.approx(1.0 - never[j], abs=0.03)
        if never[j] < 0.95:
            sampled = samples[~np.isnan(samples[:, j]), j]
            assert exact.mean == pytest.approx(sampled.mean(), abs=0.4 + 0.03 * sampled.mean())
            assert exact.quantile(0.5) == pytest.approx(np.median(sampled), abs=1.5)


def test_pruning_is_reported_and_keeps_distributions_proper() -> None:
    procedure = _branching()
    config = RemainingTimeConfig(bin_seconds=1.0, move_floor=0.35)
    future = FutureModel(StepTracker(procedure).model, config)
    prediction = future.predict(_beam(4, node=4, done=0))
    assert prediction.pruned > 0.1
    assert prediction.until_end.probability == pytest.approx(1.0, abs=1e-6)


def test_predictions_follow_a_tracked_session_and_sum_to_one() -> None:
    procedure = _branching()
    tracker = StepTracker(procedure)
    future = FutureModel(tracker.model)
    rng = np.random.default_rng(0)
    truth = [0] * 40 + [4] * 10 + [1] * 25 + [2] * 60 + [3] * 20
    ends = []
    for label in truth:
        frame = np.full(5, 0.05)
        frame[label] = 0.8
        frame = rng.dirichlet(frame * 50)
        state = tracker.update(frame)
        prediction = future.predict(state.beam)
        assert prediction.until_end.probability == pytest.approx(1.0, abs=1e-3)
        assert np.all(prediction.start >= 0) and np.all(prediction.finish >= 0)
        ends.append(prediction.until_end.mean)
    # The task gets closer to its end as it goes on.
    assert ends[-1] < ends[60] < ends[0]


@settings(max_examples=30, deadline=None)
@given(
    pmf=st.lists(st.floats(0.0, 1.0), min_size=3, max_size=20).filter(lambda v: sum(v[1:]) > 0),
    elapsed=st.integers(0, 25),
)
def test_residual_is_a_distribution_after_now(pmf: list[float], elapsed: int) -> None:
    array = np.array([0.0, *pmf[1:]])
    array /= array.sum()
    residual = residual_pmf(array, elapsed)
    assert residual.sum() == pytest.approx(1.0)
    assert residual[0] == 0.0


def test_time_distribution_summaries() -> None:
    distribution = TimeDistribution(np.array([0.0, 0.25, 0.25, 0.0]), bin_seconds=2.0)
    assert distribution.probability == pytest.approx(0.5)
    assert distribution.mean == pytest.approx(3.0)
    assert distribution.quantile(0.5) == pytest.approx(2.0)
    assert distribution.quantile(1.0) == pytest.approx(4.0)
    assert distribution.entropy == pytest.approx(1.0)
    assert distribution.probability_within(2.0) == pytest.approx(0.25)
    empty = TimeDistribution(np.zeros(4), bin_seconds=1.0)
    assert math.isnan(empty.mean) and math.isnan(empty.quantile(0.5))
    with pytest.raises(PrismError, match="quantile level"):
        distribution.quantile(1.5)


def test_unknown_step_names_the_known_ones() -> None:
    future = FutureModel(StepTracker(_chain()).model)
    prediction = future.predict(_beam(2, node=0, done=0b01))
    with pytest.raises(PrismError, match=r"unknown step 'sugar'.*a, b"):
        prediction.until_start("sugar")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("bin_seconds", 0.0, "bin_seconds"),
        ("max_bins", 1000, "power of two"),
        ("move_floor", 1.0, "move_floor"),
        ("cache_size", 0, "cache_size"),
    ],
)
def test_config_rejects_bad_values(field: str, value: float, message: str) -> None:
    with pytest.raises(PrismError, match=message):
        RemainingTimeConfig(**{field: value})  # type: ignore[arg-type]


def test_long_procedures_get_coarser_bins() -> None:
    long_steps = tuple(_step(f"s{i}", 600.0, 200.0) for i in range(20))
    transitions = {"start": {"s0": 1.0}, **{f"s{i}": {f"s{i + 1}": 1.0} for i in range(19)}}
    transitions["s19"] = {"end": 1.0}
    procedure = Procedure(id="long", name="Long", steps=long_steps, transitions=transitions)
    future = FutureModel(StepTracker(procedure).model)
    assert future.bin_seconds > 1.0
    assert future.horizon_seconds > 20 * 600.0

"""Tests for prism.tracker.model: a procedure compiled into the tracker's arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from prism.errors import PrismError, ProcedureError, TrackerInputError
from prism.procedure.model import END, START, DurationStats, GapModel, Procedure, Step
from prism.tracker import StepTracker, TrackerConfig
from prism.tracker.durations import hazard_from_stats
from prism.tracker.model import MAX_TRACKED_STEPS, compile_procedure


def long_chain(n_steps: int) -> Procedure:
    """``s0 -> s1 -> ... -> end`` with ``n_steps`` steps of 0.4 s."""
    ids = [f"s{i}" for i in range(n_steps)]
    duration = DurationStats(mean=0.4, std=0.1)
    transitions: dict[str, dict[str, float]] = {START: {ids[0]: 1.0}}
    for here, there in zip(ids, [*ids[1:], END], strict=True):
        transitions[here] = {there: 1.0}
    return Procedure(
        id=f"chain{n_steps}",
        name="Chain",
        steps=tuple(Step(i, i, "", duration) for i in ids),
        transitions=transitions,
        precedence=((ids[0], ids[-1]),),
    )


@pytest.fixture(params=["small", "latte"])
def procedure(request: pytest.FixtureRequest) -> Procedure:
    name = "small_procedure" if request.param == "small" else "latte"
    value: Procedure = request.getfixturevalue(name)
    return value


def test_transitions_rows_sum_to_one(procedure: Procedure) -> None:
    model = compile_procedure(procedure)
    n = procedure.n_steps
    assert model.transitions.shape == (n + 1, n + 1)
    np.testing.assert_allclose(model.transitions.sum(axis=1), 1.0, atol=1e-12)
    assert np.all(model.transitions >= 0)


def test_transitions_follow_the_yaml(latte: Procedure) -> None:
    model = compile_procedure(latte)
    n = latte.n_steps
    index = latte.step_index
    assert model.transitions[n, index("attach_filter")] == pytest.approx(0.75)
    assert model.transitions[n, index("use_fridge")] == pytest.approx(0.25)
    assert model.transitions[index("wash_filter"), n] == pytest.approx(0.6)  # -> end
    assert model.transitions[index("use_fridge"), index("pour_milk_jug")] == pytest.approx(1.0)


def test_predecessor_bits_match_precedence(latte: Procedure) -> None:
    model = compile_procedure(latte)
    matrix = latte.precedence_matrix()
    n = latte.n_steps
    assert model.predecessor_bits.dtype == np.uint64
    assert model.predecessor_bits.shape == (n + 1,)
    for after in range(n):
        bits = int(model.predecessor_bits[after])
        expected = {before for before in range(n) if matrix[before, after]}
        assert {i for i in range(n) if bits >> i & 1} == expected
    brew = latte.step_index("brew_coffee")
    expected_brew = sum(
        1 << latte.step_index(s) for s in ("grind_beans", "move_filter", "place_cup")
    )
    assert int(model.predecessor_bits[brew]) == expected_brew
    assert int(model.predecessor_bits[latte.step_index("attach_filter")]) == 0
    assert int(model.predecessor_bits[n]) == (1 << n) - 1  # the end: after every step


def test_no_precedence_means_no_predecessor_bits(small_procedure: Procedure) -> None:
    model = compile_procedure(small_procedure)
    assert not model.predecessor_bits[:3].any()
    assert int(model.predecessor_bits[3]) == 0b111


def test_hazard_tables(procedure: Procedure) -> None:
    """Rows 0..S-1 are the steps, S the gap (and start) with its long-pause tail, S+1 the
    end, which is left at the long pause's constant rate."""
    model = compile_procedure(procedure, frame_rate=5.0)
    n, d_max = procedure.n_steps, model.max_duration_frames
    assert model.hazard_log_stay.shape == model.hazard_log_leave.shape == (n + 2, d_max + 1)
    longest = max(s.duration.mean + 4 * s.duration.std for s in procedure.steps)
    assert d_max >= max(10, math.ceil(longest * 5.0))
    leave, stay = np.exp(model.hazard_log_leave), np.exp(model.hazard_log_stay)
    np.testing.assert_allclose(leave + stay, 1.0, atol=1e-12)
    for i, step in enumerate(procedure.steps):
        expected = hazard_from_stats(step.duration, frame_rate=5.0, max_frames=d_max)
        np.testing.assert_allclose(leave[i], expected, rtol=1e-12)
    gap = hazard_from_stats(
        procedure.gap.duration,
        frame_rate=5.0,
        max_frames=d_max,
        pause_share=0.05,
        pause_mean_s=600.0,
    )
    np.testing.assert_allclose(leave[n, 1:], gap[1:], rtol=1e-12)
    assert leave[n, 0] == pytest.approx(0.5)  # a session may begin with a step at once
    np.testing.assert_allclose(leave[n + 1], 1.0 - np.exp(-1.0 / (600.0 * 5.0)))


def test_long_idle_hazard_falls_to_the_pause_rate() -> None:
    """Gap mean 4 s: after a minute the hazard is the 10-minute pause's, not the gamma's."""
    gap = DurationStats(mean=4.0, std=3.0)
    with_pause = hazard_from_stats(
        gap, frame_rate=1.0, max_frames=120, pause_share=0.05, pause_mean_s=600.0
    )
    without = hazard_from_stats(gap, frame_rate=1.0, max_frames=120)
    assert with_pause[120] == pytest.approx(1.0 - np.exp(-1.0 / 600.0), rel=0.01)
    assert without[120] > 0.1
    np.testing.assert_allclose(with_pause[1:4], without[1:4], rtol=0.1)  # short gaps as before


def test_gap_probabilities(small_procedure: Procedure) -> None:
    model = compile_procedure(small_procedure)
    assert math.exp(model.log_gap) == pytest.approx(0.3)
    assert math.exp(model.log_no_gap) == pytest.approx(0.7)


def test_a_zero_gap_probability_forbids_gaps(small_procedure: Procedure) -> None:
    no_gap = Procedure(
        id="nogap",
        name="No gap",
        steps=small_procedure.steps,
        transitions=small_procedure.transitions,
        gap=GapModel(probability=0.0),
    )
    model = compile_procedure(no_gap)
    assert model.log_gap == -np.inf
    assert model.log_no_gap == 0.0


def test_repeatable_steps_and_the_end_are_always_allowed(repeat_procedure: Procedure) -> None:
    model = compile_procedure(repeat_procedure)
    assert model.always_allowed.tolist() == [True, False, False, True]


def test_candidate_columns(small_procedure: Procedure) -> None:
    """Columns 0..S-1 enter a step (and set its bit), S the end; S+1, S+2 gap and stay."""
    model = compile_procedure(small_procedure)
    assert model.column_node.tolist() == [0, 1, 2, 4]
    assert model.column_bit.tolist() == [1, 2, 4, 0, 0, 0]


def test_options_are_kept(small_procedure: Procedure) -> None:
    model = compile_procedure(
        small_procedure, frame_rate=10.0, precedence_penalty=0.5, frontier_mixing=0.0
    )
    assert model.frame_rate == 10.0
    assert model.precedence_penalty == 0.5
    assert model.frontier_mixing == 0.0
    assert model.n_steps == 3
    assert model.procedure is small_procedure


def test_a_higher_frame_rate_gives_longer_tables(small_procedure: Procedure) -> None:
    slow = compile_procedure(small_procedure, frame_rate=5.0)
    fast = compile_procedure(small_procedure, frame_rate=50.0)
    assert fast.max_duration_frames > slow.max_duration_frames


def test_the_largest_procedure_compiles_and_tracks() -> None:
    procedure = long_chain(MAX_TRACKED_STEPS)
    model = compile_procedure(procedure)
    last = MAX_TRACKED_STEPS - 1
    assert int(model.predecessor_bits[last]) == 1
    tracker = StepTracker(procedure)
    frame = np.zeros(MAX_TRACKED_STEPS + 1)
    for step in range(MAX_TRACKED_STEPS):
        frame[:] = 0.0
        frame[step] = 1.0
        state = tracker.update(frame)
        state = tracker.update(frame)
        assert state.current_step == f"s{step}"
    assert state.done_probabilities[:last].min() > 0.99
    assert int(tracker._beam.done.max()) >> last & 1


def test_too_many_steps_is_a_procedure_error() -> None:
    procedure = long_chain(MAX_TRACKED_STEPS + 1)
    with pytest.raises(ProcedureError, match=r"'chain57' has 57 steps.*at most 56"):
        compile_procedure(procedure)
    with pytest.raises(ProcedureError, match="at most 56"):
        StepTracker(procedure)


BAD_OPTIONS = [
    pytest.param({"frame_rate": 0.0}, r"frame_rate must be > 0 Hz, got 0\.0", id="rate-zero"),
    pytest.param({"frame_rate": -5.0}, r"frame_rate must be > 0 Hz, got -5\.0", id="rate-neg"),
    pytest.param({"frame_rate": math.nan}, "frame_rate must be > 0 Hz, got nan", id="rate-nan"),
    pytest.param({"precedence_penalty": 0.0}, r"precedence_penalty .*got 0\.0", id="pen-zero"),
    pytest.param({"precedence_penalty": 1.5}, r"precedence_penalty .*got 1\.5", id="pen-big"),
    pytest.param({"precedence_penalty": -0.1}, "precedence_penalty", id="penalty-negative"),
    pytest.param({"precedence_penalty": math.nan}, "precedence_penalty.*nan", id="pen-nan"),
    pytest.param({"frontier_mixing": 1.0}, r"frontier_mixing .*\[0, 1\).*1\.0", id="mix-one"),
    pytest.param({"frontier_mixing": -0.1}, r"frontier_mixing .*got -0\.1", id="mix-neg"),
    pytest.param({"frontier_mixing": math.nan}, "frontier_mixing.*nan", id="mix-nan"),
]


@pytest.mark.parametrize(("options", "message"), BAD_OPTIONS)
def test_bad_options_are_procedure_errors(
    small_procedure: Procedure, options: dict[str, float], message: str
) -> None:
    with pytest.raises(ProcedureError, match=message) as info:
        compile_procedure(small_procedure, **options)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, PrismError)


@pytest.mark.parametrize(("options", "message"), BAD_OPTIONS)
def test_bad_tracker_config_fails_when_the_config_is_built(
    options: dict[str, float], message: str
) -> None:
    name = next(iter(options))
    with pytest.raises(TrackerInputError, match=rf"{name} must be in .*got"):
        TrackerConfig(**options)  # type: ignore[arg-type]


def test_edge_options_are_valid(small_procedure: Procedure) -> None:
    compile_procedure(small_procedure, precedence_penalty=1.0, frontier_mixing=0.0)
    compile_procedure(small_procedure, frame_rate=1e-3)

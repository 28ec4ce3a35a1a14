"""Tests for prism.tracker.beam: the tracker's numerical core.

The strongest test here compares the beam with an exact forward filter over
``(node, gap, done set, entry frame)`` written independently with plain loops. The beam
merges hypotheses that agree on ``(node, gap, done set)`` and keeps the best one's entry
frame, so the two agree exactly when durations are memoryless (exponential: mean == std,
the hazard does not depend on the time in a step) and the beam is wide enough.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prism.errors import ProcedureError
from prism.procedure.model import END, START, DurationStats, GapModel, Procedure, Step
from prism.tracker import StepTracker, TrackerConfig
from prism.tracker.beam import (
    Beam,
    advance_beam,
    emitted_class,
    hypothesis_keys,
    initial_beam,
    merge_groups,
    next_step_distribution,
    normalised_weights,
)
from prism.tracker.durations import duration_pmf
from prism.tracker.model import MAX_TRACKED_STEPS, TrackingModel, compile_procedure

# --- an independent exact filter ----------------------------------------------------


def reference_next(
    procedure: Procedure, config: TrackerConfig, node: int, done: int
) -> list[float]:
    """Next-node distribution (steps, then the end) written from the documented rules.

    The graph's row of ``node`` (``S`` = start) restricted to steps not done (or
    repeatable), ``precedence_penalty`` on a step whose predecessors are not all done
    (never on the end), renormalised; mixed with weight
    ``frontier_mixing`` with the uniform distribution over the frontier: allowed steps
    whose predecessors are done, and the end once every step is done (all of it to the
    frontier when the row has nothing left).
    """
    n = procedure.n_steps
    row = procedure.transition_matrix()[min(node, n)]
    predecessors = procedure.precedence_matrix()
    all_done = done == (1 << n) - 1
    allowed = [not done >> j & 1 or procedure.steps[j].repeatable for j in range(n)] + [True]
    preceded = [all(done >> i & 1 for i in range(n) if predecessors[i, j]) for j in range(n)] + [
        all_done
    ]
    weights = [
        row[j]
        * (0.0 if not allowed[j] else 1.0 if preceded[j] or j == n else config.precedence_penalty)
        for j in range(n + 1)
    ]
    total = sum(weights)
    graph = [w / total for w in weights] if total > 0 else [0.0] * (n + 1)
    frontier = [1.0 if allowed[j] and preceded[j] else 0.0 for j in range(n + 1)]
    if sum(frontier) == 0:
        return graph
    mixing = config.frontier_mixing if total > 0 else 1.0
    return [
        (1 - mixing) * g + mixing * f / sum(frontier) for g, f in zip(graph, frontier, strict=True)
    ]


def reference_filter(
    procedure: Procedure,
    config: TrackerConfig,
    leave: np.ndarray,
    frames: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact filtered class and done probabilities of the semi-Markov model.

    States are ``(node, gap, done, entry)``; node ``S`` is the start, ``S + 1`` the end.
    Each frame a state stays (``1 - h[d]``), or its step ends (``h[d]``) into a gap
    (``g``) or straight into a next node (``1 - g``; from a gap or the start: always).
    ``leave[row, d]`` is the hazard after ``d`` frames (rows: steps, gap/start, end).
    """
    n = procedure.n_steps
    end = n + 1
    gap_probability = procedure.gap.probability
    states: dict[tuple[int, bool, int, int], float] = {(n, False, 0, 0): 1.0}
    classes, done_out = [], []
    for t, frame in enumerate(frames):
        likelihood = np.maximum(frame, 1e-6) ** (config.evidence_rate / config.frame_rate)
        new: dict[tuple[int, bool, int, int], float] = defaultdict(float)
        for (node, gap, done, entry), p in states.items():
            in_step = node < n and not gap
            h = leave[n if gap else node, min(t - entry, leave.shape[1] - 1)]
            new[(node, gap, done, entry)] += p * (1 - h) * likelihood[node if in_step else n]
            if node == end:
                continue
            if in_step:
                new[(node, True, done, t)] += p * h * gap_probability * likelihood[n]
            base = p * h * ((1 - gap_probability) if in_step else 1.0)
            q = reference_next(procedure, config, node, done)
            for j in range(n):
                if q[j] > 0:
                    new[(j, False, done | 1 << j, t)] += base * q[j] * likelihood[j]
            if q[n] > 0:
                new[(end, False, done, t)] += base * q[n] * likelihood[n]
        total = sum(new.values())
        states = {key: value / total for key, value in new.items() if value > 0}
        cls, done_p = np.zeros(n + 1), np.zeros(n)
        for (node, gap, done, _), p in states.items():
            in_step = node < n and not gap
            cls[node if in_step else n] += p
            for j in range(n):
                if done >> j & 1 and not (in_step and node == j):
                    done_p[j] += p
        classes.append(cls)
        done_out.append(done_p)
    return np.array(classes), np.array(done_out)


def make_memoryless(model: TrackingModel) -> np.ndarray:
    """Make every hazard row constant in ``d >= 1`` (in place); return the hazard table.

    The start keeps its own first-frame hazard (column 0 of the gap row); the end never
    leaves (the reference filter below does not resume after the end).
    """
    leave = np.exp(model.hazard_log_leave)
    leave[:, 1:] = leave[:, 2:3]
    leave[-1] = 0.0
    with np.errstate(divide="ignore"):
        model.hazard_log_leave[:] = np.log(leave)
        model.hazard_log_stay[:] = np.log1p(-leave)
    return leave


def memoryless_procedure() -> Procedure:
    """Branches, a loop, a repeatable step, precedence and gaps; exponential durations."""

    def exponential(mean: float) -> DurationStats:
        return DurationStats(mean=mean, std=mean)

    steps = (
        Step("w", "W", "", exponential(0.6)),
        Step("x", "X", "", exponential(0.8)),
        Step("y", "Y", "", exponential(0.4), repeatable=True),
        Step("z", "Z", "", exponential(1.0)),
    )
    return Procedure(
        id="memoryless",
        name="Memoryless",
        steps=steps,
        transitions={
            START: {"w": 0.7, "x": 0.3},
            "w": {"x": 0.6, "y": 0.4},
            "x": {"y": 0.5, "w": 0.3, END: 0.2},
            "y": {"y": 0.3, "z": 0.7},
            "z": {END: 0.8, "x": 0.2},
        },
        precedence=(("w", "z"), ("x", "z")),
        gap=GapModel(probability=0.3, duration=exponential(0.4)),
    )


MEMORYLESS = memoryless_procedure()


@pytest.mark.parametrize(
    "config",
    [
        TrackerConfig(beam_width=100_000),
        TrackerConfig(beam_width=100_000, evidence_rate=5.0, frontier_mixing=0.0),
        TrackerConfig(beam_width=100_000, precedence_penalty=1.0, frontier_mixing=0.5),
    ],
    ids=["default", "no-mixing", "no-precedence"],
)
@settings(max_examples=6, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_frames=st.integers(1, 30),
    concentration=st.sampled_from([0.2, 1.0, 5.0]),
)
def test_beam_is_an_exact_forward_filter_for_memoryless_durations(
    config: TrackerConfig, seed: int, n_frames: int, concentration: float
) -> None:
    frames = np.random.default_rng(seed).dirichlet(np.full(5, concentration), size=n_frames)
    tracker = StepTracker(MEMORYLESS, config)
    leave = make_memoryless(tracker.model)
    expected_classes, expected_done = reference_filter(MEMORYLESS, config, leave, frames)
    for t, frame in enumerate(frames):
        state = tracker.update(frame)
        np.testing.assert_allclose(state.class_probabilities, expected_classes[t], atol=1e-9)
        np.testing.assert_allclose(state.done_probabilities, expected_done[t], atol=1e-9)


def test_reference_filter_agrees_on_a_hand_computed_first_frame() -> None:
    """Frame 0 from the start: stay (h = 0.5, emits other) or enter a step (0.5 * q)."""
    config = TrackerConfig(evidence_rate=5.0)
    leave = make_memoryless(compile_procedure(MEMORYLESS))
    frame = np.array([0.1, 0.2, 0.3, 0.1, 0.3])
    classes, _ = reference_filter(MEMORYLESS, config, leave, frame[None, :])
    q = np.array([0.7 * 0.9 + 0.1 / 3, 0.3 * 0.9 + 0.1 / 3, 0.1 / 3, 0.0])  # z: preceded
    unnormalised = np.concatenate([0.5 * q * frame[:4], [0.5 * frame[4]]])
    np.testing.assert_allclose(classes[0], unnormalised / unnormalised.sum(), rtol=1e-12)


def test_time_in_the_first_step_follows_its_duration_distribution(
    small_procedure: Procedure,
) -> None:
    """Sure of ``a`` at frame 0, then no evidence: P(still in a after frame t) = P(D > t)."""
    config = TrackerConfig(evidence_rate=5.0)
    tracker = StepTracker(small_procedure, config)
    frames = np.full((16, 4), 0.25)
    frames[0] = [1.0, 0.0, 0.0, 0.0]
    result = tracker.track(frames)
    pmf = duration_pmf(
        small_procedure.steps[0].duration,
        frame_rate=5.0,
        max_frames=tracker.model.max_duration_frames,
    )
    survival = 1.0 - np.cumsum(pmf)  # P(D > t)
    # (the hazard floor of 1e-4 per frame makes it leave a little earlier)
    np.testing.assert_allclose(result.class_probabilities[:, 0], survival[:16], atol=5e-4)
    assert result.class_probabilities[2, 0] > 0.99  # 5 +- 1 frames: surely still in a
    assert result.class_probabilities[9, 0] < 0.01  # and surely out of it by frame 10


# --- invariants of every beam -------------------------------------------------------


def check_beam(beam: Beam, model: TrackingModel, *, width: int) -> None:
    """What every hypothesis of an uncorrected beam satisfies."""
    n = model.n_steps
    size = beam.node.shape[0]
    assert 1 <= size <= width
    assert beam.node.dtype == np.int64 and beam.done.dtype == np.uint64
    assert beam.gap.shape == beam.entry.shape == beam.log_score.shape == (size,)
    assert beam.step_start.shape == beam.step_end.shape == (size, n)
    assert np.all(np.isfinite(beam.log_score)) and beam.log_score.max() == 0.0
    assert np.all((beam.node >= 0) & (beam.node <= n + 1))
    assert np.all(beam.entry <= beam.frame) and np.all(beam.entry >= 0)
    keys = hypothesis_keys(beam.node, beam.gap, beam.done)
    assert np.unique(keys).size == size, "hypotheses with the same key must be merged"
    bits = np.uint64(1) << np.arange(n, dtype=np.uint64)
    done = (beam.done[:, None] & bits[None, :]) != 0
    np.testing.assert_array_equal(done, beam.step_start >= 0)  # done = entered
    for i in range(size):
        node, gap = int(beam.node[i]), bool(beam.gap[i])
        if node < n:
            assert done[i, node], "the current step (or the one before a gap) is done"
            if gap:
                assert beam.step_end[i, node] == beam.entry[i]
            else:
                assert beam.step_start[i, node] == beam.entry[i]
                assert beam.step_end[i, node] == -1
        else:
            assert not gap, "the start and the end have no gap flag"
        if node == n:
            assert not done[i].any(), "the start has nothing done"
        others = done[i] & (np.arange(n) != node if not gap else True)
        finished = others & ~((np.arange(n) == node) & gap)
        assert np.all(beam.step_end[i, finished] > beam.step_start[i, finished])


def check_step(previous: Beam, beam: Beam, model: TrackingModel) -> None:
    """Each hypothesis has a possible parent; none re-enters a done, non-repeatable step."""
    n, t = model.n_steps, previous.frame
    assert beam.frame == t + 1
    for i in range(beam.node.shape[0]):
        node, gap, done = int(beam.node[i]), bool(beam.gap[i]), int(beam.done[i])
        entered_now = int(beam.entry[i]) == t and not (node == n and t == 0)
        if not entered_now:  # stayed: a parent with the very same key
            same = (previous.node == node) & (previous.gap == gap) & (previous.done == done)
            assert same.any()
        elif node < n and not gap:  # entered step `node` at frame t
            without = done & ~(1 << node)
            parents = previous.done == without
            if model.procedure.steps[node].repeatable:
                parents |= previous.done == done
            assert parents.any(), f"step {node} re-entered although done"
        elif gap:  # its step ended into a gap
            assert ((previous.node == node) & ~previous.gap & (previous.done == done)).any()
        else:  # reached the end
            assert node == n + 1
            assert ((previous.node <= n) & (previous.done == done)).any()


@st.composite
def probability_streams(draw: st.DrawFn, n_classes: int, max_frames: int = 60) -> np.ndarray:
    """Random valid frames: Dirichlet rows, sometimes with exact zeros."""
    seed = draw(st.integers(0, 2**32 - 1))
    n_frames = draw(st.integers(1, max_frames))
    concentration = draw(st.sampled_from([0.05, 0.3, 1.0, 10.0]))
    rng = np.random.default_rng(seed)
    frames = rng.dirichlet(np.full(n_classes, concentration), size=n_frames)
    if draw(st.booleans()):
        frames[frames < 0.05] = 0.0
        frames[frames.sum(axis=1) == 0, -1] = 1.0
        frames /= frames.sum(axis=1, keepdims=True)
    return frames


@pytest.mark.parametrize("width", [1, 4, 48])
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_beam_invariants_on_the_small_procedure(
    small_procedure: Procedure, repeat_procedure: Procedure, width: int, data: st.DataObject
) -> None:
    procedure = data.draw(st.sampled_from([small_procedure, repeat_procedure]))
    frames = data.draw(probability_streams(procedure.n_steps + 1))
    model = compile_procedure(procedure)
    beam = initial_beam(procedure.n_steps)
    for frame in frames:
        new = advance_beam(beam, np.log(np.maximum(frame, 1e-6)), model, width=width)
        check_beam(new, model, width=width)
        check_step(beam, new, model)
        beam = new


@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_beam_invariants_on_latte(latte: Procedure, data: st.DataObject) -> None:
    frames = data.draw(probability_streams(latte.n_steps + 1, max_frames=40))
    model = compile_procedure(latte)
    beam = initial_beam(latte.n_steps)
    for frame in frames:
        new = advance_beam(beam, np.log(np.maximum(frame, 1e-6)), model, width=48)
        check_beam(new, model, width=48)
        check_step(beam, new, model)
        beam = new


def test_advance_beam_does_not_modify_its_input(latte: Procedure, rng: np.random.Generator) -> None:
    model = compile_procedure(latte)
    beam = initial_beam(latte.n_steps)
    frames = np.log(rng.dirichlet(np.ones(20), size=30))
    for frame in frames:
        copy = Beam(*(np.copy(field) if isinstance(field, np.ndarray) else field for field in beam))
        new = advance_beam(beam, 0.3 * frame, model, width=16)
        for before, after in zip(copy, beam, strict=True):
            np.testing.assert_array_equal(before, after)
        beam = new


# --- small pieces with known answers ------------------------------------------------


def test_initial_beam() -> None:
    beam = initial_beam(3)
    assert beam.node.tolist() == [3]
    assert beam.gap.tolist() == [False]
    assert beam.done.tolist() == [0]
    assert beam.step_start.tolist() == [[-1, -1, -1]]
    assert beam.step_end.tolist() == [[-1, -1, -1]]
    assert beam.log_score.tolist() == [0.0]
    assert beam.path_score.tolist() == [0.0]
    assert beam.frame == 0


def test_emitted_class_is_the_step_or_other() -> None:
    beam = Beam(
        node=np.array([0, 1, 2, 3, 4]),
        gap=np.array([False, True, False, False, False]),
        done=np.zeros(5, dtype=np.uint64),
        entry=np.zeros(5, dtype=np.int64),
        step_start=np.full((5, 3), -1),
        step_end=np.full((5, 3), -1),
        log_score=np.zeros(5),
        path_score=np.zeros(5),
        frame=0,
    )
    # step 0, gap after 1, step 2, start, end
    assert emitted_class(beam, 3).tolist() == [0, 3, 2, 3, 3]


def test_normalised_weights() -> None:
    beam = initial_beam(2)._replace(node=np.array([0, 1]), log_score=np.array([0.0, np.log(3.0)]))
    np.testing.assert_allclose(normalised_weights(beam), [0.25, 0.75])


def test_hypothesis_keys_are_distinct_for_distinct_hypotheses(rng: np.random.Generator) -> None:
    n = MAX_TRACKED_STEPS
    size = 5000
    node = rng.integers(0, n + 2, size=size)
    gap = rng.random(size) < 0.5
    done = rng.integers(0, 2**n, size=size, dtype=np.uint64)
    done[:3] = np.uint64(2**n - 1)  # every bit set
    node[:3], gap[:3] = n + 1, [False, True, True]
    keys = hypothesis_keys(node, gap, done)
    triples = {(int(a), bool(b), int(c)) for a, b, c in zip(node, gap, done, strict=True)}
    assert np.unique(keys).size == len(triples)


def test_merge_groups_sums_equal_keys_and_keeps_the_best_path() -> None:
    keys = np.array([5, 3, 5, 7, 3], dtype=np.uint64)
    scores = np.log(np.array([0.4, 0.2, 0.2, 0.1, 0.1]))
    paths = np.log(np.array([0.1, 0.05, 0.2, 0.1, 0.01]))  # key 5: member 2's path is best
    first, merged, best = merge_groups(keys, scores, paths, width=10)
    by_key = {int(keys[f]): (int(f), float(m)) for f, m in zip(first, merged, strict=True)}
    assert by_key[5][0] == 2 and by_key[5][1] == pytest.approx(np.log(0.6))
    assert by_key[3][0] == 1 and by_key[3][1] == pytest.approx(np.log(0.3))
    assert by_key[7][0] == 3 and by_key[7][1] == pytest.approx(np.log(0.1))
    np.testing.assert_allclose(best, paths[first])


def test_merge_groups_keeps_the_width_best_groups() -> None:
    keys = np.array([1, 2, 3, 2, 3, 3], dtype=np.uint64)
    scores = np.log(np.array([0.3, 0.2, 0.15, 0.15, 0.1, 0.1]))
    first, merged, _ = merge_groups(keys, scores, scores, width=2)
    assert sorted(int(keys[f]) for f in first) == [2, 3]  # 0.35 and 0.35 beat 0.3
    np.testing.assert_allclose(np.sort(np.exp(merged)), [0.35, 0.35])


def test_next_step_distribution_from_the_start(small_procedure: Procedure) -> None:
    """start -> a (graph 1.0), mixed 10 % with the frontier {a, b, c}."""
    model = compile_procedure(small_procedure, frontier_mixing=0.1)
    distribution = next_step_distribution(model, initial_beam(3))
    np.testing.assert_allclose(distribution, [0.9 + 0.1 / 3, 0.1 / 3, 0.1 / 3, 0.0])


def test_next_step_distribution_skips_done_steps_and_penalises_precedence() -> None:
    """In x with w not done: x -> {w 0.5, z 0.5}; z needs w (penalty 0.1); no mixing."""
    d = DurationStats(mean=1.0, std=0.2)
    procedure = Procedure(
        id="p",
        name="P",
        steps=(Step("w", "W", "", d), Step("x", "X", "", d), Step("z", "Z", "", d)),
        transitions={
            START: {"x": 1.0},
            "x": {"w": 0.5, "z": 0.5},
            "w": {"z": 1.0},
            "z": {"w": 0.5, END: 0.5},
        },
        precedence=(("w", "z"),),
    )
    model = compile_procedure(procedure, precedence_penalty=0.1, frontier_mixing=0.0)

    def distribution(node: int, done: int) -> np.ndarray:
        beam = initial_beam(3)._replace(
            node=np.array([node]), done=np.array([done], dtype=np.uint64)
        )
        return next_step_distribution(model, beam)

    np.testing.assert_allclose(distribution(1, 0b010), [0.5 / 0.55, 0.0, 0.05 / 0.55, 0.0])
    # z with w done: w is not repeatable, so only the end remains
    np.testing.assert_allclose(distribution(2, 0b111), [0.0, 0.0, 0.0, 1.0])
    # the end is finished: nothing comes next
    np.testing.assert_allclose(distribution(4, 0b111), [0.0, 0.0, 0.0, 0.0])


@pytest.mark.parametrize(
    ("done", "expected"),
    [
        (0b111, [0.0, 0.0, 0.0, 1.0]),  # everything done: only the end is left
        (0b110, [1.0, 0.0, 0.0, 0.0]),  # c done, a not: only a is left
    ],
    ids=["all-done", "a-left"],
)
def test_next_step_distribution_sums_to_one_when_the_graph_row_is_used_up(
    small_procedure: Procedure, done: int, expected: list[float]
) -> None:
    """In b (whose only successor c is done) the frontier must take the whole mass.

    The docstring promises a distribution summing to 1 unless every hypothesis has
    ended; the same row drives :func:`advance_beam`, where a shortfall would silently
    drop probability mass of every hypothesis in such a state.
    """
    model = compile_procedure(small_procedure, frontier_mixing=0.1)
    beam = initial_beam(3)._replace(node=np.array([1]), done=np.array([done], dtype=np.uint64))
    distribution = next_step_distribution(model, beam)
    assert distribution.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(distribution, expected, atol=1e-12)


@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_next_step_distribution_sums_to_one_on_every_beam(
    latte: Procedure, data: st.DataObject
) -> None:
    frames = data.draw(probability_streams(latte.n_steps + 1, max_frames=40))
    model = compile_procedure(latte)
    beam = initial_beam(latte.n_steps)
    for frame in frames:
        beam = advance_beam(beam, np.log(np.maximum(frame, 1e-6)), model, width=48)
        active = normalised_weights(beam)[beam.node <= latte.n_steps].sum()
        assert next_step_distribution(model, beam).sum() == pytest.approx(active, abs=1e-9)


def test_end_penalty_discourages_ending_with_steps_not_done() -> None:
    """z (w not done) -> {w 0.5, end 0.5}; the end needs every step done, penalty 0.2."""
    d = DurationStats(mean=1.0, std=0.2)
    procedure = Procedure(
        id="p",
        name="P",
        steps=(Step("w", "W", "", d, repeatable=True), Step("z", "Z", "", d)),
        transitions={START: {"z": 1.0}, "z": {"w": 0.5, END: 0.5}, "w": {END: 1.0}},
    )
    beam = initial_beam(2)._replace(node=np.array([1]), done=np.array([0b10], dtype=np.uint64))
    plain = compile_procedure(procedure, frontier_mixing=0.0)
    penalised = compile_procedure(procedure, frontier_mixing=0.0, end_penalty=0.2)
    np.testing.assert_allclose(next_step_distribution(plain, beam), [0.5, 0.0, 0.5])
    np.testing.assert_allclose(next_step_distribution(penalised, beam), [0.5 / 0.6, 0.0, 0.1 / 0.6])
    with pytest.raises(ProcedureError, match="end_penalty must be in"):
        compile_procedure(procedure, end_penalty=0.0)

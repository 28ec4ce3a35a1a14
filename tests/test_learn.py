"""Tests for prism.procedure.learn: known answers, smoothing, priors, errors, properties."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prism.errors import DataError, ProcedureError
from prism.procedure.learn import (
    learn_procedure,
    plausible_transitions,
    transition_counts,
)
from prism.procedure.model import END, START, DurationStats, Step, StepNotes
from prism.procedure.sessions import AnnotatedSession, StepSegment


def _session(
    session_id: str, *segments: tuple[str, float, float], skipped: tuple[str, ...] = ()
) -> AnnotatedSession:
    parts = tuple(StepSegment(step, start, end) for step, start, end in segments)
    return AnnotatedSession(
        session_id, "t", parts, max((e for _, _, e in segments), default=0.0), skipped
    )


@pytest.fixture
def sessions() -> list[AnnotatedSession]:
    """Three sessions over steps a, b, c (counts and durations worked out in the tests)."""
    return [
        _session("s1", ("a", 0, 10), ("b", 12, 22), ("c", 22, 32)),
        _session("s2", ("a", 0, 14), ("c", 13, 20), ("b", 21, 31)),
        _session("s3", ("a", 0, 12), ("b", 12.2, 20.2), skipped=("c",)),
    ]


def _row_sums(transitions: Mapping[str, Mapping[str, float]]) -> list[float]:
    return [sum(row.values()) for row in transitions.values()]


def test_transition_counts_known_answer(sessions: list[AnnotatedSession]) -> None:
    counts = transition_counts(sessions, ["a", "b", "c"])
    #                 a  b  c  end
    expected = [[0, 2, 1, 0], [0, 0, 1, 2], [0, 1, 0, 1], [3, 0, 0, 0]]
    assert counts.tolist() == expected


def test_unsmoothed_transitions_are_relative_frequencies(sessions: list[AnnotatedSession]) -> None:
    procedure = learn_procedure(sessions, procedure_id="t", name="T", smoothing=0.0)
    assert procedure.step_ids == ("a", "b", "c")
    assert dict(procedure.transitions[START]) == {"a": 1.0}
    assert dict(procedure.transitions["a"]) == pytest.approx({"b": 2 / 3, "c": 1 / 3})
    assert dict(procedure.transitions["b"]) == pytest.approx({"c": 1 / 3, END: 2 / 3})
    assert dict(procedure.transitions["c"]) == pytest.approx({"b": 0.5, END: 0.5})


def test_smoothing_spreads_pseudo_count_over_plausible_transitions(
    sessions: list[AnnotatedSession],
) -> None:
    procedure = learn_procedure(sessions, procedure_id="t", name="T", smoothing=0.6)
    # Row a: counts b=2, c=1 plus 0.6 / 3 on each of b, c, end -> total 3.6.
    assert dict(procedure.transitions["a"]) == pytest.approx(
        {"b": 2.2 / 3.6, "c": 1.2 / 3.6, END: 0.2 / 3.6}, abs=1e-6
    )
    # Start: a=3 plus 0.2 on each step; never to end.
    assert dict(procedure.transitions[START]) == pytest.approx(
        {"a": 3.2 / 3.6, "b": 0.2 / 3.6, "c": 0.2 / 3.6}, abs=1e-6
    )
    assert "a" not in procedure.transitions["a"]  # no unobserved self-transition


def test_rows_sum_to_one_and_observed_transitions_most_likely(
    sessions: list[AnnotatedSession],
) -> None:
    procedure = learn_procedure(sessions, procedure_id="t", name="T", smoothing=0.5)
    assert _row_sums(procedure.transitions) == pytest.approx([1.0] * 4, abs=1e-5)
    assert max(procedure.transitions[START], key=procedure.transitions[START].__getitem__) == "a"
    assert max(procedure.transitions["a"], key=procedure.transitions["a"].__getitem__) == "b"
    assert max(procedure.transitions["b"], key=procedure.transitions["b"].__getitem__) == END


def test_precedence_limits_smoothing(sessions: list[AnnotatedSession]) -> None:
    procedure = learn_procedure(
        sessions, procedure_id="t", name="T", precedence=[("a", "b"), ("b", "c")], smoothing=0.5
    )
    assert procedure.precedence == (("a", "b"), ("b", "c"))
    start = procedure.transitions[START]
    assert start.get("b", 0.0) == 0.0 and start.get("c", 0.0) == 0.0  # have predecessors
    assert procedure.transitions["b"].get("a", 0.0) == 0.0  # a must come before b
    assert procedure.transitions["c"].get("a", 0.0) == 0.0  # transitively before c
    assert procedure.transitions["c"]["b"] > 0.0  # observed, kept although it violates b < c
    assert procedure.transitions["a"][END] > 0.0  # plausible though unseen


def test_plausible_transitions_known_answer() -> None:
    plausible = plausible_transitions(["a", "b", "c"], [("a", "b"), ("b", "c")])
    expected = [
        [False, True, True, True],
        [False, False, True, True],
        [False, False, False, True],
        [True, False, False, False],
    ]
    assert plausible.tolist() == expected
    assert plausible_transitions(["a", "b"])[2, :2].all()


def test_durations_match_hand_computed(sessions: list[AnnotatedSession]) -> None:
    procedure = learn_procedure(sessions, procedure_id="t", name="T")
    assert procedure.step("a").duration == DurationStats(mean=12.0, std=2.0, min=10.0, max=14.0)
    b = procedure.step("b").duration
    assert (b.mean, b.min, b.max) == pytest.approx((28 / 3, 8.0, 10.0), abs=1e-3)
    assert b.std == pytest.approx(math.sqrt(4 / 3), abs=1e-3)
    c = procedure.step("c").duration
    assert (c.mean, c.std, c.min, c.max) == pytest.approx(
        (8.5, math.sqrt(4.5), 7.0, 10.0), abs=1e-3
    )


def test_duration_priors_for_rare_steps() -> None:
    sessions = [
        _session("s1", ("a", 0, 10), ("b", 10, 30)),
        _session("s2", ("a", 0, 20), ("d", 20, 24)),
    ]
    procedure = learn_procedure(
        sessions, procedure_id="t", name="T", step_ids=["a", "b", "d", "never"]
    )
    assert procedure.step("d").duration == DurationStats(mean=4.0, std=2.0)  # seen once
    # Never seen: median of the observed means (15, 20, 4) with std = half of it.
    assert procedure.step("never").duration == DurationStats(mean=15.0, std=7.5)
    assert procedure.transitions[START]["never"] > 0.0


def test_gap_model(sessions: list[AnnotatedSession]) -> None:
    procedure = learn_procedure(sessions, procedure_id="t", name="T")
    # 5 consecutive pairs; gaps > 0.5 s: 2 s (s1 a->b) and 1 s (s2 c->b); overlap and 0.2 s are not.
    assert procedure.gap.probability == pytest.approx(3 / 7, abs=1e-4)
    assert procedure.gap.duration == DurationStats(
        mean=1.5, std=round(math.sqrt(0.5), 3), min=1.0, max=2.0
    )


def test_gap_defaults_without_pairs() -> None:
    procedure = learn_procedure([_session("s", ("a", 0, 5))], procedure_id="t", name="T")
    assert procedure.gap.probability == 0.5
    assert procedure.gap.duration == DurationStats(mean=5.0, std=5.0)


def test_repeated_step_becomes_repeatable() -> None:
    sessions = [_session("s", ("a", 0, 5), ("b", 5, 8), ("a", 8, 12)), _session("r", ("b", 0, 2))]
    procedure = learn_procedure(sessions, procedure_id="t", name="T")
    assert procedure.step("a").repeatable and not procedure.step("b").repeatable
    assert "a" not in procedure.transitions["a"]


def test_given_steps_keep_names_descriptions_and_notes(sessions: list[AnnotatedSession]) -> None:
    notes = StepNotes(time_critical=True, reminder="Watch it")
    placeholder = DurationStats(mean=99.0, std=1.0)
    steps = [
        Step("c", "Cut", "Cut it.", placeholder, notes=notes),
        Step("a", "Add", "Add it.", placeholder),
        Step("b", "Boil", "Boil it.", placeholder, repeatable=True),
    ]
    procedure = learn_procedure(
        sessions, procedure_id="t", name="T", steps=steps, description="D", source="S"
    )
    assert procedure.step_ids == ("c", "a", "b")
    assert procedure.step("c").name == "Cut" and procedure.step("c").notes == notes
    assert procedure.step("a").duration.mean == 12.0
    assert procedure.step("b").repeatable
    assert (procedure.description, procedure.source) == ("D", "S")


def test_default_source_and_determinism(sessions: list[AnnotatedSession]) -> None:
    first = learn_procedure(sessions, procedure_id="t", name="T")
    assert first.source == "learned from 3 annotated sessions"
    assert learn_procedure(sessions, procedure_id="t", name="T") == first


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"sessions": []}, DataError, r"no annotated sessions"),
        ({"step_ids": ["a", "b"]}, DataError, r"session 's1': step 'c' is not in the procedure"),
        ({"step_ids": ["a"], "steps": []}, ProcedureError, r"either steps or step_ids"),
        ({"step_ids": ["a", "b", "c", "a"]}, ProcedureError, r"duplicate step id 'a'"),
        ({"smoothing": -1.0}, ProcedureError, r"smoothing must be .* >= 0, got -1.0"),
        ({"smoothing": math.nan}, ProcedureError, r"smoothing must be a finite"),
        ({"precedence": [("a", "z")]}, ProcedureError, r"names unknown step 'z'"),
        ({"precedence": [("a", "b"), ("b", "a")]}, ProcedureError, r"cycle through 'a'"),
        (
            {"step_ids": ["a", "b", "c", "never"], "smoothing": 0.0},
            ProcedureError,
            r"'never' is unreachable.*need smoothing > 0",
        ),
        (
            {"sessions": [_session("e", skipped=("a",))]},
            DataError,
            r"none of the 1 sessions has a performed step",
        ),
        (
            {"sessions": [_session("x", ("a", 5, 1))]},
            DataError,
            r"session 'x': step 'a' has start 5 s and end 1 s",
        ),
    ],
    ids=[
        "no-sessions",
        "unknown-step",
        "steps-and-ids",
        "duplicate-id",
        "negative-smoothing",
        "nan-smoothing",
        "unknown-precedence",
        "cyclic-precedence",
        "unreachable",
        "nothing-done",
        "end-before-start",
    ],
)
def test_bad_input(
    sessions: list[AnnotatedSession], kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    arguments: dict[str, object] = {"sessions": sessions, "procedure_id": "t", "name": "T"}
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        learn_procedure(**arguments)  # type: ignore[arg-type]


@st.composite
def _random_problem(
    draw: st.DrawFn,
) -> tuple[list[str], list[AnnotatedSession], list[tuple[str, str]], float]:
    n_steps = draw(st.integers(1, 6))
    ids = [f"s{i}" for i in range(n_steps)]
    pairs = [(ids[i], ids[j]) for i in range(n_steps) for j in range(i + 1, n_steps)]
    precedence = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=4)) if pairs else []
    sessions = []
    for k in range(draw(st.integers(1, 4))):
        t = 0.0
        segments = []
        for step in draw(st.lists(st.sampled_from(ids), max_size=8)):
            t += draw(st.floats(-2.0, 5.0))
            duration = draw(st.floats(0.0, 30.0))
            segments.append(StepSegment(step, max(t, 0.0), max(t, 0.0) + duration))
            t = max(t, 0.0) + duration
        sessions.append(AnnotatedSession(f"r{k}", "t", tuple(segments), t))
    if not any(s.segments for s in sessions):
        sessions.append(AnnotatedSession("extra", "t", (StepSegment(ids[0], 0.0, 1.0),), 1.0))
    smoothing = draw(st.floats(0.01, 5.0))
    return ids, sessions, precedence, smoothing


@settings(max_examples=60, deadline=None)
@given(_random_problem())
def test_any_sessions_give_a_valid_procedure(
    problem: tuple[list[str], list[AnnotatedSession], list[tuple[str, str]], float],
) -> None:
    ids, sessions, precedence, smoothing = problem
    procedure = learn_procedure(
        sessions,
        procedure_id="r",
        name="R",
        step_ids=ids,
        precedence=precedence,
        smoothing=smoothing,
    )
    assert procedure.problems() == []
    assert procedure.step_ids == tuple(ids)
    matrix = procedure.transition_matrix()
    assert np.allclose(matrix.sum(axis=1), 1.0)
    assert all(step.duration.mean > 0 for step in procedure.steps)
    assert 0.0 < procedure.gap.probability < 1.0

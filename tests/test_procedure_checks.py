"""Tests for prism.procedure.checks: the graph rules, what they say and where."""

from __future__ import annotations

import doctest

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import prism.procedure.checks as checks_module
from prism.procedure.checks import (
    END,
    MISSING_ROW,
    ROW_SUM,
    START,
    UNKNOWN_STEP,
    Problem,
    duration_problems,
    gap_probability_problems,
    precedence_cycle_problems,
    precedence_problems,
    reachability_problems,
    step_id_problems,
    transition_problems,
)
from prism.procedure.model import DurationStats

TEA = ["boil", "steep", "milk"]
ROWS = {
    START: {"boil": 1.0},
    "boil": {"steep": 1.0},
    "steep": {"milk": 0.6, END: 0.4},
    "milk": {"milk": 0.2, END: 0.8},
}


def located(problems: list[Problem]) -> list[tuple[str, tuple[str | int, ...], bool]]:
    return [(p.message, p.where, p.at_key) for p in problems]


def test_a_valid_procedure_has_no_problems() -> None:
    assert step_id_problems(TEA) == []
    assert transition_problems(ROWS, TEA) == []
    assert precedence_problems([("boil", "steep")], TEA) == []
    assert reachability_problems(TEA, ROWS) == []
    assert precedence_cycle_problems([("boil", "steep")]) == []
    assert gap_probability_problems(0.3) == []
    assert duration_problems(DurationStats(5.0, 1.0, 0.0, 9.0)) == []


def test_step_ids() -> None:
    problems = step_id_problems(["boil", "end", "add milk", "boil"])
    assert located(problems) == [
        ("step id 'end' is reserved for the graph's end", ("steps", 1, "id"), False),
        (
            "invalid step id 'add milk': use only letters, digits, '_', '.' and '-'",
            ("steps", 2, "id"),
            False,
        ),
        ("duplicate step id 'boil'", ("steps", 3, "id"), False),
    ]
    assert problems[2].first == ("steps", 0)
    assert located(step_id_problems([])) == [
        ("'steps' is empty; a procedure needs at least one step", ("steps",), False)
    ]


def test_durations_are_located_at_their_field() -> None:
    problems = duration_problems(
        DurationStats(-1.0, 1.0, 5.0, 2.0), owner="step 'boil'", where=("steps", 0, "duration")
    )
    assert located(problems) == [
        (
            "step 'boil': duration mean must be > 0 seconds, got -1.0",
            ("steps", 0, "duration", "mean"),
            False,
        ),
        (
            "step 'boil': duration min (5.0) is larger than max (2.0)",
            ("steps", 0, "duration", "min"),
            False,
        ),
    ]
    (infinite,) = duration_problems(DurationStats(float("inf"), 1.0))
    assert infinite.message == "duration mean must be a finite number of seconds, got inf"
    assert infinite.where == ("mean",)


NO_START = "'transitions' has no row for 'start'; add one, e.g. 'start: {first_step: 1.0}'"
NO_MILK = (
    "step 'milk' has no outgoing transitions; add a row 'milk: {...}' under 'transitions'"
    " (with 'end' after the last step)"
)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param(
            {**ROWS, "milj": {END: 1.0}},
            Problem(
                "transitions from unknown step 'milj' (did you mean 'milk'?)",
                ("transitions", "milj"),
                at_key=True,
                kind=UNKNOWN_STEP,
            ),
            id="unknown-source",
        ),
        pytest.param(
            {**ROWS, "boil": {"xyz": 1.0}},
            Problem(
                "transition 'boil' -> 'xyz': unknown step 'xyz'; known steps: boil, steep, milk",
                ("transitions", "boil", "xyz"),
                at_key=True,
                kind=UNKNOWN_STEP,
            ),
            id="unknown-destination",
        ),
        pytest.param(
            {**ROWS, END: {"milk": 1.0}},
            Problem(
                "'end' cannot have outgoing transitions: it ends the procedure",
                ("transitions", END),
                at_key=True,
            ),
            id="end-source",
        ),
        pytest.param(
            {**ROWS, "milk": {START: 0.2, END: 0.8}},
            Problem(
                "transition 'milk' -> 'start': nothing leads back to start",
                ("transitions", "milk", START),
                at_key=True,
            ),
            id="start-destination",
        ),
        pytest.param(
            {**ROWS, "steep": {"milk": 1.6, END: 0.4}},
            Problem(
                "probability of 'steep' -> 'milk' must be in [0, 1], got 1.6",
                ("transitions", "steep", "milk"),
            ),
            id="out-of-range-skips-the-sum",
        ),
        pytest.param(
            {**ROWS, "steep": {"milk": 0.6, END: 0.3}},
            Problem(
                "outgoing probabilities of 'steep' sum to 0.9, expected 1 (within 0.001)",
                ("transitions", "steep"),
                at_key=True,
                kind=ROW_SUM,
            ),
            id="row-sum",
        ),
    ],
)
def test_transitions(rows: dict[str, dict[str, float]], expected: Problem) -> None:
    assert transition_problems(rows, TEA) == [expected]


def test_missing_rows() -> None:
    rows = {k: v for k, v in ROWS.items() if k not in (START, "milk")}
    assert transition_problems(rows, TEA) == [
        Problem(NO_START, ("transitions",), at_key=True, kind=MISSING_ROW),
        Problem(NO_MILK, ("steps", 2), kind=MISSING_ROW),
    ]


def test_unreadable_entries_and_partial_rows_skip_only_the_sum() -> None:
    rows = {**ROWS, "steep": {"milk": None, "mlk": 0.3}, "boil": {"steep": 0.5}}
    problems = transition_problems(rows, TEA, partial_rows={"boil"})
    assert [p.message for p in problems] == [
        "transition 'steep' -> 'mlk': unknown step 'mlk' (did you mean 'milk'?)"
    ]


def test_precedence() -> None:
    assert located(precedence_problems([("boil", "stepp")], TEA)) == [
        (
            "precedence names unknown step 'stepp' (did you mean 'steep'?)",
            ("precedence", 0, 1),
            False,
        )
    ]
    pairs = [("milk", "boil"), ("boil", "steep"), ("steep", "boil")]
    assert located(precedence_cycle_problems(pairs)) == [
        ("precedence constraints form a cycle through 'boil'", ("precedence", 1), False)
    ]
    assert located(precedence_cycle_problems([("steep", "steep")])) == [
        ("precedence constraints form a cycle through 'steep'", ("precedence", 0), False)
    ]


def test_reachability_points_at_steps_or_transitions() -> None:
    rows = {**ROWS, "steep": {"milk": 0.0, END: 1.0}}
    assert located(reachability_problems(TEA, rows)) == [
        ("step 'milk' is unreachable from start", ("steps", 2), False)
    ]
    rows = {START: {"boil": 1.0}, "boil": {"boil": 1.0}, "steep": {END: 1.0}, "milk": {END: 1.0}}
    assert [p.message for p in reachability_problems(TEA, rows)] == [
        "step 'steep' is unreachable from start",
        "step 'milk' is unreachable from start",
        "end is unreachable from start",
        "end is unreachable from step 'boil'",
    ]


def test_gap_probability() -> None:
    assert located(gap_probability_problems(1.0)) == [
        ("gap probability must be in [0, 1), got 1.0", ("gap", "probability"), False)
    ]
    assert gap_probability_problems(float("nan"))


def reference_cycle(pairs: list[tuple[str, str]]) -> bool:
    """Whether the pairs have a cycle: a step reaches itself (the former hand-written check)."""
    graph: dict[str, list[str]] = {}
    for before, after in pairs:
        graph.setdefault(before, []).append(after)

    def reaches(origin: str, target: str) -> bool:
        seen, stack = {origin}, [origin]
        while stack:
            for nxt in graph.get(stack.pop(), ()):
                if nxt == target:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return False

    return any(reaches(node, node) for node in graph)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcde"), st.sampled_from("abcde")), max_size=8))
def test_graphlib_finds_the_cycles_the_hand_written_check_found(
    pairs: list[tuple[str, str]],
) -> None:
    problems = precedence_cycle_problems(pairs)
    assert bool(problems) == reference_cycle(pairs)
    if problems:
        (problem,) = problems
        k = problem.where[1]
        assert isinstance(k, int)
        assert problem.message.endswith(f"cycle through {pairs[k][0]!r}")


def test_problem_str_is_its_message() -> None:
    assert str(Problem("bad", ("steps", 0))) == "bad"


def test_docstring_examples() -> None:
    result = doctest.testmod(checks_module)
    assert result.attempted > 0
    assert result.failed == 0

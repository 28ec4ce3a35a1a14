"""Tests for the in-memory procedure model (prism.procedure.model)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from prism.errors import PrismError, ProcedureError
from prism.procedure.model import (
    END,
    START,
    DurationStats,
    GapModel,
    Procedure,
    Step,
    StepNotes,
)

D = DurationStats(mean=10.0, std=2.0)


def step(step_id: str, **kwargs: Any) -> Step:
    return Step(step_id, step_id.title(), "", kwargs.pop("duration", D), **kwargs)


def tea_kwargs() -> dict[str, Any]:
    """A valid three-step procedure: boil -> steep -> (milk ->)* end."""
    return {
        "id": "tea",
        "name": "Tea",
        "steps": (step("boil"), step("steep"), step("milk", repeatable=True)),
        "transitions": {
            START: {"boil": 1.0},
            "boil": {"steep": 1.0},
            "steep": {"milk": 0.6, END: 0.4},
            "milk": {"milk": 0.2, END: 0.8},
        },
        "precedence": (("boil", "steep"),),
    }


def with_transitions(**rows: dict[str, float]) -> Callable[[dict[str, Any]], None]:
    def edit(kwargs: dict[str, Any]) -> None:
        kwargs["transitions"] = {**kwargs["transitions"], **rows}

    return edit


def without_row(src: str) -> Callable[[dict[str, Any]], None]:
    def edit(kwargs: dict[str, Any]) -> None:
        kwargs["transitions"] = {k: v for k, v in kwargs["transitions"].items() if k != src}

    return edit


def setting(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(kwargs: dict[str, Any]) -> None:
        kwargs[key] = value

    return edit


def with_step(index: int, new: Step) -> Callable[[dict[str, Any]], None]:
    def edit(kwargs: dict[str, Any]) -> None:
        steps = list(kwargs["steps"])
        steps[index] = new
        kwargs["steps"] = tuple(steps)

    return edit


def test_valid_procedure_basics() -> None:
    procedure = Procedure(**tea_kwargs())
    assert procedure.n_steps == 3
    assert procedure.step_ids == ("boil", "steep", "milk")
    assert procedure.step_index("steep") == 1
    assert procedure.step("milk").repeatable
    assert procedure.problems() == []
    assert procedure.gap == GapModel()
    assert procedure.step("boil").notes == StepNotes()


def test_step_index_of_unknown_step_names_known_steps() -> None:
    procedure = Procedure(**tea_kwargs())
    with pytest.raises(ProcedureError, match=r"no step 'stir'; known steps: boil, steep, milk"):
        procedure.step_index("stir")


def test_transition_matrix_known_answer() -> None:
    matrix = Procedure(**tea_kwargs()).transition_matrix()
    # rows: boil, steep, milk, start; columns: boil, steep, milk, end
    expected = np.array(
        [
            [0.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 0.6, 0.4],
            [0.0, 0.0, 0.2, 0.8],
            [1.0, 0.0, 0.0, 0.0],
        ]
    )
    np.testing.assert_allclose(matrix, expected)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0)


def test_transition_matrix_renormalises_rows_within_tolerance() -> None:
    kwargs = tea_kwargs()
    kwargs["transitions"]["steep"] = {"milk": 0.6, END: 0.3995}
    matrix = Procedure(**kwargs).transition_matrix()
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0)


def test_precedence_matrix() -> None:
    matrix = Procedure(**tea_kwargs()).precedence_matrix()
    assert matrix.dtype == bool
    assert matrix.shape == (3, 3)
    assert matrix[0, 1]
    assert matrix.sum() == 1


def test_procedure_error_is_value_error_and_prism_error() -> None:
    kwargs = tea_kwargs()
    kwargs["steps"] = ()
    with pytest.raises(ValueError, match="at least one step") as info:
        Procedure(**kwargs)
    assert isinstance(info.value, PrismError)
    assert isinstance(info.value, ProcedureError)


BAD_PROCEDURES = [
    pytest.param(setting("steps", ()), r"needs at least one step", id="no-steps"),
    pytest.param(with_step(0, step("boil water")), r"invalid step id 'boil water'", id="id-space"),
    pytest.param(with_step(0, step(START)), r"step id 'start' is reserved", id="id-start"),
    pytest.param(with_step(2, step(END)), r"step id 'end' is reserved", id="id-end"),
    pytest.param(with_step(2, step("steep")), r"duplicate step id 'steep'", id="duplicate-id"),
    pytest.param(
        with_step(0, step("boil", duration=DurationStats(mean=-1.0, std=1.0))),
        r"step 'boil': duration mean must be > 0 seconds, got -1.0",
        id="negative-mean",
    ),
    pytest.param(
        with_step(0, step("boil", duration=DurationStats(mean=1.0, std=-1.0))),
        r"step 'boil': duration std must be >= 0 seconds",
        id="negative-std",
    ),
    pytest.param(
        with_transitions(stir={END: 1.0}),
        r"transitions from unknown step 'stir'",
        id="unknown-source",
    ),
    pytest.param(
        with_transitions(boil={"stir": 1.0}),
        r"transition 'boil' -> 'stir': unknown step 'stir'",
        id="unknown-destination",
    ),
    pytest.param(
        with_transitions(steep={"milk": 1.5, END: -0.5}),
        r"probability of 'steep' -> 'milk' must be in \[0, 1\], got 1.5",
        id="probability-above-one",
    ),
    pytest.param(
        with_transitions(steep={"milk": math.nan, END: 1.0}),
        r"must be in \[0, 1\], got nan",
        id="probability-nan",
    ),
    pytest.param(
        with_transitions(steep={"milk": 0.6, END: 0.3}),
        r"outgoing probabilities of 'steep' sum to 0.9, expected 1",
        id="row-sum",
    ),
    pytest.param(without_row("milk"), r"step 'milk' has no outgoing transitions", id="no-outgoing"),
    pytest.param(without_row(START), r"'transitions' has no row for 'start'", id="no-start-row"),
    pytest.param(
        setting("precedence", (("boil", "stir"),)),
        r"precedence names unknown step 'stir'",
        id="precedence-unknown",
    ),
    pytest.param(
        setting("gap", GapModel(probability=1.0)),
        r"gap probability must be in \[0, 1\), got 1.0",
        id="gap-probability",
    ),
    pytest.param(
        setting("gap", GapModel(duration=DurationStats(mean=0.0, std=1.0))),
        r"gap: duration mean must be > 0 seconds",
        id="gap-duration",
    ),
    pytest.param(
        with_transitions(steep={END: 1.0}),
        r"step 'milk' is unreachable from start",
        id="unreachable-step",
    ),
    pytest.param(
        with_transitions(steep={"milk": 1.0, END: 0.0}, milk={"milk": 1.0}),
        r"end is unreachable from start",
        id="end-unreachable-from-start",
    ),
    pytest.param(
        with_transitions(**{START: {"boil": 0.5, "steep": 0.5}, "boil": {"boil": 1.0}}),
        r"end is unreachable from step 'boil'",
        id="end-unreachable-from-step",
    ),
    pytest.param(
        setting("precedence", (("boil", "steep"), ("steep", "milk"), ("milk", "boil"))),
        r"precedence constraints form a cycle through 'boil'",
        id="precedence-cycle",
    ),
    pytest.param(
        setting("precedence", (("steep", "steep"),)),
        r"cycle through 'steep'",
        id="precedence-self-loop",
    ),
]


@pytest.mark.parametrize(("edit", "message"), BAD_PROCEDURES)
def test_invalid_procedure_is_rejected(
    edit: Callable[[dict[str, Any]], None], message: str
) -> None:
    kwargs = tea_kwargs()
    edit(kwargs)
    with pytest.raises(ProcedureError, match=r"^procedure 'tea': .*" + message):
        Procedure(**kwargs)


def test_problems_are_all_collected() -> None:
    kwargs = tea_kwargs()
    kwargs["steps"] = (
        step("boil", duration=DurationStats(mean=0.0, std=1.0)),
        step("steep", duration=DurationStats(mean=1.0, std=-1.0)),
        step("milk"),
    )
    kwargs["transitions"]["steep"] = {"milk": 0.5, END: 0.1}
    with pytest.raises(ProcedureError) as info:
        Procedure(**kwargs)
    message = str(info.value)
    assert "step 'boil': duration mean" in message
    assert "step 'steep': duration std" in message
    assert "outgoing probabilities of 'steep'" in message


def test_graph_checks_wait_for_structural_fixes() -> None:
    # An unknown destination would make reachability misleading: only it is reported.
    kwargs = tea_kwargs()
    kwargs["transitions"]["boil"] = {"stepp": 1.0}
    with pytest.raises(ProcedureError) as info:
        Procedure(**kwargs)
    assert "unknown step 'stepp'" in str(info.value)
    assert "unreachable" not in str(info.value)


def test_zero_probability_edges_do_not_connect() -> None:
    kwargs = tea_kwargs()
    kwargs["transitions"]["steep"] = {"milk": 0.0, END: 1.0}
    with pytest.raises(ProcedureError, match=r"step 'milk' is unreachable from start"):
        Procedure(**kwargs)


def test_probabilities_within_tolerance_are_accepted() -> None:
    kwargs = tea_kwargs()
    kwargs["transitions"]["steep"] = {"milk": 0.6, END: 0.4009}
    assert Procedure(**kwargs).problems() == []


@pytest.mark.parametrize(
    ("stats", "expected"),
    [
        pytest.param(DurationStats(1.0, 0.0), [], id="valid-zero-std"),
        pytest.param(DurationStats(1.0, 0.5, 0.0, 1.0), [], id="valid-bounds"),
        pytest.param(
            DurationStats(0.0, 1.0), [r"mean must be > 0 seconds, got 0.0"], id="zero-mean"
        ),
        pytest.param(
            DurationStats(1.0, -0.1), [r"std must be >= 0 seconds, got -0.1"], id="neg-std"
        ),
        pytest.param(DurationStats(1.0, 1.0, -1.0), [r"min must be >= 0 seconds"], id="neg-min"),
        pytest.param(
            DurationStats(5.0, 1.0, 6.0, 4.0),
            [r"min \(6.0\) is larger than max \(4.0\)"],
            id="min-above-max",
        ),
        pytest.param(
            DurationStats(math.inf, 1.0),
            [r"mean must be a finite number of seconds, got inf"],
            id="infinite-mean",
        ),
        pytest.param(
            DurationStats(1.0, math.nan, None, math.inf),
            [r"std must be a finite number", r"max must be a finite number"],
            id="nan-std-inf-max",
        ),
        pytest.param(
            DurationStats(-1.0, -1.0),
            [r"mean must be > 0", r"std must be >= 0"],
            id="two-problems",
        ),
    ],
)
def test_duration_problems(stats: DurationStats, expected: list[str]) -> None:
    problems = stats.problems()
    assert len(problems) == len(expected)
    for problem, pattern in zip(problems, expected, strict=True):
        assert problem.startswith("duration ")
        assert re.search(pattern, problem), problem


def test_models_are_frozen_and_comparable() -> None:
    first, second = Procedure(**tea_kwargs()), Procedure(**tea_kwargs())
    assert first == second
    with pytest.raises(AttributeError):
        first.name = "Coffee"  # type: ignore[misc]

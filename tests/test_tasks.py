"""Tests for the procedure files shipped in tasks/<name>/procedure.yaml."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from prism.procedure.io import load_procedure
from prism.procedure.model import END, START, Procedure

TASKS = Path(__file__).resolve().parents[1] / "tasks"
TASK_FILES = sorted(TASKS.glob("*/procedure.yaml"))

LATTE_STEPS = (
    "attach filter",
    "adjust grind",
    "grind beans",
    "move filter",
    "place cup",
    "brew coffee",
    "use fridge",
    "pour milk (jug)",
    "steam milk",
    "purge wand",
    "remove cup",
    "pour milk (cup)",
    "wash jug",
    "get towel",
    "clean wand",
    "throw towel",
    "remove filter",
    "dump grinds",
    "wash filter",
)


def _successors(procedure: Procedure, node: str) -> set[str]:
    """Every node reachable from ``node`` along transitions with probability > 0."""
    seen: set[str] = set()
    stack = [node]
    while stack:
        for dst, probability in procedure.transitions.get(stack.pop(), {}).items():
            if probability > 0 and dst not in seen:
                seen.add(dst)
                stack.append(dst)
    return seen


@pytest.fixture(scope="module")
def latte() -> Procedure:
    return load_procedure(TASKS / "latte_making" / "procedure.yaml")


@pytest.fixture(scope="module")
def wound_care() -> Procedure:
    return load_procedure(TASKS / "wound_care" / "procedure.yaml")


def test_the_hand_written_tasks_are_there() -> None:
    assert {path.parent.name for path in TASK_FILES} >= {"latte_making", "wound_care"}


@pytest.mark.parametrize("path", TASK_FILES, ids=[path.parent.name for path in TASK_FILES])
def test_task_file_loads_and_is_complete(path: Path) -> None:
    procedure = load_procedure(path)  # validates: rows sum to 1, reachability, precedence
    assert procedure.problems() == []
    assert procedure.id == path.parent.name
    assert procedure.name and procedure.description and procedure.source
    for step in procedure.steps:
        assert step.description.strip(), step.id
        duration = step.duration
        if duration.min is not None and duration.max is not None:
            assert duration.min <= duration.mean <= duration.max, step.id
        noted = step.notes.time_critical or step.notes.must_not_skip
        # Hand-written notes come with their advice; learned ones (every CaptainCook4D
        # recipe step is required) rely on the reminders' generated sentence.
        hand_written = procedure.source == "hand-written"
        assert not (noted and hand_written) or step.notes.reminder, f"{step.id}: no reminder"
    # Every step can be reached and can finish (also checked by validation).
    assert _successors(procedure, START) >= {*procedure.step_ids, END}
    for step_id in procedure.step_ids:
        assert END in _successors(procedure, step_id), step_id
    # Every precedence pair can happen in that order.
    for before, after in procedure.precedence:
        assert after in _successors(procedure, before), (before, after)


def test_latte_has_the_published_steps(latte: Procedure) -> None:
    assert latte.source == "hand-written"
    assert tuple(step.name.lower() for step in latte.steps) == LATTE_STEPS
    assert all(step.name[0].isupper() for step in latte.steps)
    expected_ids = tuple(re.sub(r"\W+", "_", name).strip("_") for name in LATTE_STEPS)
    assert latte.step_ids == expected_ids
    assert latte.step("pour_milk_jug").name == "Pour milk (jug)"


def test_latte_notes(latte: Procedure) -> None:
    steam = latte.step("steam_milk")
    assert steam.notes.time_critical
    assert steam.notes.reminder is not None and "60-65 °C" in steam.notes.reminder
    assert latte.step("brew_coffee").notes.time_critical
    for step_id in ("purge_wand", "clean_wand"):
        assert latte.step(step_id).notes.must_not_skip, step_id
    assert ("purge_wand", "clean_wand") in latte.precedence
    assert ("pour_milk_jug", "steam_milk") in latte.precedence


def test_latte_order_variations(latte: Procedure) -> None:
    # Milk goes into the jug before grinding or while the coffee brews.
    assert latte.transitions[START]["use_fridge"] > 0
    assert latte.transitions["brew_coffee"]["use_fridge"] > 0
    # Adjust grind is sometimes skipped.
    assert latte.transitions["attach_filter"]["grind_beans"] > 0


def test_wound_care(wound_care: Procedure) -> None:
    assert wound_care.source == "hand-written"
    assert 9 <= wound_care.n_steps <= 12
    assert any(step.notes.time_critical for step in wound_care.steps)
    assert any(step.notes.must_not_skip for step in wound_care.steps)
    assert wound_care.step("wash_hands").notes.must_not_skip
    assert wound_care.step("wash_hands").duration.mean >= 20.0

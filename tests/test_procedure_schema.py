"""Tests for prism.procedure.schema: the file's pydantic models and their value rules."""

from __future__ import annotations

import doctest
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

import prism.procedure.schema as schema_module
from prism.procedure.model import GapModel, StepNotes
from prism.procedure.schema import (
    DurationFile,
    GapFile,
    NotesFile,
    ProcedureFile,
    StepFile,
    is_mapping,
    section_at,
)
from prism.procedure.yaml_tree import read_tree

TEA = {
    "id": "tea",
    "name": "Tea",
    "steps": [{"id": "boil", "name": "Boil water", "duration": {"mean": 90, "std": 10.0}}],
    "transitions": {"start": {"boil": 1.0}, "boil": {"end": 1}},
}


def errors_of(data: Any) -> list[tuple[tuple[str | int, ...], str, str]]:
    with pytest.raises(ValidationError) as info:
        ProcedureFile.model_validate(data)
    return [(tuple(e["loc"]), e["type"], e["msg"]) for e in info.value.errors()]


def from_yaml(text: str) -> Any:
    return read_tree(yaml.compose(text, Loader=yaml.SafeLoader)).data


def test_plain_python_data_validates_and_converts() -> None:
    procedure = ProcedureFile.model_validate(TEA).to_procedure()
    assert procedure.step_ids == ("boil",)
    assert procedure.step("boil").duration.mean == 90.0
    assert procedure.gap == GapModel()
    assert procedure.step("boil").notes == StepNotes()


def test_yaml_scalars_keep_their_written_form() -> None:
    data = from_yaml(
        "id: 2024-01-01\nname: 2024\nsteps:\n"
        "  - {id: boil, name: yes, duration: {mean: 9e1, std: 10}, repeatable: yes}\n"
        "transitions: {start: {boil: 1}, boil: {end: 1.0}}\n"
    )
    document = ProcedureFile.model_validate(data)
    assert (document.id, document.name) == ("2024-01-01", "2024")
    step = document.steps[0]
    assert (step.name, step.repeatable, step.duration.mean) == ("yes", True, 90.0)


@pytest.mark.parametrize(
    ("text", "kind", "message"),
    [
        pytest.param('"90"', "number", "must be a number, got the text '90'", id="quoted"),
        pytest.param("true", "number", "must be a number, got the boolean true", id="bool"),
        pytest.param("1" + "0" * 400, "too_large", "is too large: the number 1000", id="huge"),
        pytest.param("[90]", "number", "must be a number, got a list", id="list"),
    ],
)
def test_number_rule(text: str, kind: str, message: str) -> None:
    data = from_yaml(
        f"id: t\nname: T\nsteps: [{{id: a, name: A, duration: {{mean: {text}, std: 1}}}}]\n"
        "transitions: {start: {a: 1}, a: {end: 1}}\n"
    )
    ((where, found, says),) = errors_of(data)
    assert (where, found) == (("steps", 0, "duration", "mean"), kind)
    assert says.startswith(message)


def test_keys_types_and_blank_names() -> None:
    data = {**TEA, "name": " ", "stpes": [], "precedence": [["boil"]], "format_version": "1"}
    data["steps"] = [{"id": "boil", "name": "B", "duration": 5, "repeatable": "no"}]
    found = errors_of(data)
    assert [(loc, kind) for loc, kind, _ in found] == [
        (("name",), "blank"),
        (("steps", 0, "duration"), "model_type"),
        (("steps", 0, "repeatable"), "flag"),
        (("format_version",), "format_version"),
        (("precedence", 0), "pair"),
        (("stpes",), "extra_forbidden"),
    ]
    assert found[2][2] == "must be true or false, got the text 'no'"
    assert found[3][2] == (
        "unknown format_version: the text '1'; this version of PrISM reads format_version 1"
    )
    assert found[4][2] == "must be a pair [before, after], got a list"


def test_missing_keys_are_reported_in_field_order() -> None:
    assert [(loc, kind) for loc, kind, _ in errors_of({"name": "T"})] == [
        (("id",), "missing"),
        (("steps",), "missing"),
        (("transitions",), "missing"),
    ]


def test_defaults() -> None:
    assert GapFile().to_model() == GapModel()
    assert GapFile(probability=0.1).to_model() == GapModel(probability=0.1)
    assert NotesFile().to_model() == StepNotes()
    step = StepFile.model_validate({"id": "a", "name": "A", "duration": {"mean": 1, "std": 0}})
    assert step.to_model().repeatable is False
    assert DurationFile(mean=1.0, std=0.0).to_model().min is None


def test_sections_by_path() -> None:
    assert section_at(()) is ProcedureFile
    assert section_at(("steps", 3)) is StepFile
    assert section_at(("steps", 3, "notes")) is NotesFile
    assert section_at(("gap", "duration")) is DurationFile
    assert section_at(("transitions",)) is None
    assert section_at(("nothing",)) is None
    assert is_mapping(("transitions",)) and is_mapping(("gap",))
    assert not is_mapping(("steps",)) and not is_mapping(("transxns",))


def test_docstring_examples() -> None:
    result = doctest.testmod(schema_module)
    assert result.attempted > 0
    assert result.failed == 0

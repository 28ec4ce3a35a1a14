"""Tests for the procedure file format (prism.procedure.io)."""

from __future__ import annotations

import itertools
import pickle
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from prism.errors import ProcedureError
from prism.procedure.io import (
    FileIssue,
    ProcedureFileError,
    dump_procedure,
    load_procedure,
    parse_procedure,
    save_procedure,
)
from prism.procedure.model import END, START, DurationStats, GapModel, Procedure, Step, StepNotes

DOC = Path(__file__).resolve().parents[1] / "docs" / "procedure-format.md"

# Line numbers are part of the tests below: keep this text's lines where they are.
BASE = """\
format_version: 1
id: tea
name: Tea
steps:
  - id: boil
    name: Boil water
    duration: {mean: 90.0, std: 10.0}
  - id: steep
    name: Steep
    duration: {mean: 180.0, std: 30.0, min: 120.0, max: 300.0}
    notes: {time_critical: true}
  - id: milk
    name: Add milk
    duration: {mean: 5.0, std: 2.0}
    repeatable: true
transitions:
  start: {boil: 1.0}
  boil: {steep: 1.0}
  steep: {milk: 0.6, end: 0.4}
  milk: {milk: 0.2, end: 0.8}
precedence:
  - [boil, steep]
gap: {probability: 0.3, duration: {mean: 4.0, std: 3.0}}
"""


def edit(*replacements: tuple[str, str]) -> str:
    """BASE with each ``old`` (which must occur exactly once) replaced by ``new``."""
    text = BASE
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def tea() -> Procedure:
    d = DurationStats
    return Procedure(
        id="tea",
        name="Tea",
        steps=(
            Step("boil", "Boil water", "", d(90.0, 10.0)),
            Step("steep", "Steep", "", d(180.0, 30.0, 120.0, 300.0), notes=StepNotes(True)),
            Step("milk", "Add milk", "", d(5.0, 2.0), repeatable=True),
        ),
        transitions={
            START: {"boil": 1.0},
            "boil": {"steep": 1.0},
            "steep": {"milk": 0.6, END: 0.4},
            "milk": {"milk": 0.2, END: 0.8},
        },
        precedence=(("boil", "steep"),),
        gap=GapModel(0.3, d(4.0, 3.0)),
    )


def issues_of(text: str, filename: str = "tea.yaml") -> tuple[FileIssue, ...]:
    with pytest.raises(ProcedureFileError) as info:
        parse_procedure(text, filename=filename)
    return info.value.issues


# ------------------------------------------------------------------------ reading


def test_base_parses_to_the_expected_procedure() -> None:
    assert parse_procedure(BASE) == tea()


# (text, line of the issue, pattern of its message)
BAD_FILES = [
    # YAML itself
    pytest.param(edit(("{boil: 1.0}", "{boil: 1.0")), 18, r"YAML syntax error", id="yaml-syntax"),
    pytest.param(edit(("  boil: {", "\tboil: {")), 18, r"YAML syntax error", id="yaml-tab"),
    pytest.param(BASE + "---\nid: other\n", 24, r"expected a single document", id="two-documents"),
    pytest.param("id: a\x00\n", 1, r"U\+0000 is not allowed", id="nul-character"),
    pytest.param("- boil\n- steep\n", 1, r"must be a mapping .*got a list", id="top-list"),
    pytest.param("just some text\n", 1, r"got the text 'just some text'", id="top-scalar"),
    pytest.param(
        edit(("name: Boil water\n", "name: Boil water\n    name: Boil again\n")),
        7,
        r"duplicate key 'name' in step 'boil' \(first on line 6\)",
        id="duplicate-key",
    ),
    pytest.param(
        edit(("{steep: 1.0}", "{steep: 0.5, steep: 0.5}")),
        18,
        r"duplicate key 'steep' in the transitions from 'boil'",
        id="duplicate-key-flow",
    ),
    pytest.param(
        edit(("  milk: {milk: 0.2, end: 0.8}\n", "  milk: {end: 1.0}\n  milk: {end: 1.0}\n")),
        21,
        r"duplicate key 'milk' in 'transitions' \(first on line 20\)",
        id="duplicate-row",
    ),
    pytest.param(
        edit(("id: tea\n", "id: tea\n? [a, b]\n: 1\n")), 3, r"keys .* must be names", id="list-key"
    ),
    # top level
    pytest.param(
        edit(("format_version: 1", "format_version: 2")),
        1,
        r"unknown format_version",
        id="format-version",
    ),
    pytest.param(
        edit(("format_version: 1", "format_version: '1'")),
        1,
        r"unknown format_version: the text '1'",
        id="format-version-quoted",
    ),
    pytest.param(
        edit(("precedence:", "precedense:")),
        21,
        r"unknown key 'precedense' in the procedure \(did you mean 'precedence'\?\);"
        r" allowed keys: id,",
        id="unknown-top-key",
    ),
    pytest.param(
        "id: tea\nname: Tea\ntransitions: {start: {end: 1.0}}\n",
        1,
        r"the procedure is missing the required key 'steps'",
        id="missing-steps",
    ),
    pytest.param(edit(("id: tea", "id: ''")), 2, r"procedure id must not be blank", id="blank-id"),
    pytest.param(
        edit(("name: Tea", "name: [Tea]")),
        3,
        r"procedure name must be text, got a list",
        id="name-list",
    ),
    # steps
    pytest.param(
        "id: t\nname: T\nsteps: boil\ntransitions: {}\n",
        3,
        r"'steps' must be a list",
        id="steps-scalar",
    ),
    pytest.param(
        "id: t\nname: T\nsteps: []\ntransitions: {}\n", 3, r"'steps' is empty", id="steps-empty"
    ),
    pytest.param(
        edit(
            ("  - id: milk\n    name: Add milk\n", "  - milk\n  - id: milk\n    name: Add milk\n")
        ),
        12,
        r"step #3 must be a mapping, got the text 'milk'",
        id="step-scalar",
    ),
    pytest.param(
        edit(("    repeatable: true", "    repeat: true")),
        15,
        r"unknown key 'repeat' in step 'milk' \(did you mean 'repeatable'\?\)",
        id="unknown-step-key",
    ),
    pytest.param(
        edit(("    duration: {mean: 90.0, std: 10.0}\n", "")),
        5,
        r"step 'boil' is missing the required key 'duration'",
        id="missing-duration",
    ),
    pytest.param(
        edit(("id: milk", "id: steep")),
        12,
        r"duplicate step id 'steep' \(first defined on line 8\)",
        id="duplicate-step",
    ),
    pytest.param(
        edit(("id: milk", "id: add milk")), 12, r"invalid step id 'add milk'", id="invalid-id"
    ),
    pytest.param(edit(("id: milk", "id: end")), 12, r"step id 'end' is reserved", id="reserved-id"),
    pytest.param(
        edit(("name: Steep", "name: '  '")),
        9,
        r"name of step 'steep' must not be blank",
        id="blank-step-name",
    ),
    pytest.param(
        edit(("repeatable: true", "repeatable: 3")),
        15,
        r"'repeatable' of step 'milk' must be true or false, got the number 3",
        id="repeatable-number",
    ),
    pytest.param(
        edit(("{time_critical: true}", "{time_critcal: true}")),
        11,
        r"unknown key 'time_critcal' in the notes of step 'steep'"
        r" \(did you mean 'time_critical'\?\)",
        id="unknown-notes-key",
    ),
    pytest.param(
        edit(("{time_critical: true}", "{time_critical: maybe}")),
        11,
        r"'time_critical' in the notes of step 'steep' must be true or false",
        id="notes-flag-text",
    ),
    pytest.param(
        edit(("notes: {time_critical: true}", "notes: [time_critical]")),
        11,
        r"the notes of step 'steep' must be a mapping",
        id="notes-list",
    ),
    # durations
    pytest.param(
        edit(("mean: 90.0", 'mean: "abc"')),
        7,
        r"step 'boil': duration mean \(seconds\) must be a number, got the text 'abc'",
        id="mean-text",
    ),
    pytest.param(
        edit(("mean: 90.0", 'mean: "90"')),
        7,
        r"must be a number, got the text '90'",
        id="mean-quoted",
    ),
    pytest.param(
        edit(("mean: 90.0", "mean: true")),
        7,
        r"must be a number, got the boolean true",
        id="mean-bool",
    ),
    pytest.param(
        edit(("mean: 90.0", "mean: [90]")), 7, r"must be a number, got a list", id="mean-list"
    ),
    pytest.param(
        edit(("mean: 90.0", "mean: -1")),
        7,
        r"step 'boil': duration mean must be > 0 seconds, got -1.0",
        id="negative-mean",
    ),
    pytest.param(
        edit(("mean: 90.0", "mean: 0")),
        7,
        r"duration mean must be > 0 seconds, got 0.0",
        id="zero-mean",
    ),
    pytest.param(
        edit(("mean: 90.0", "mean: .inf")),
        7,
        r"duration mean must be a finite number",
        id="infinite-mean",
    ),
    pytest.param(
        edit(("std: 10.0", "std: -2")),
        7,
        r"duration std must be >= 0 seconds, got -2.0",
        id="negative-std",
    ),
    pytest.param(
        edit(("min: 120.0", "min: -1.0")),
        10,
        r"duration min must be >= 0 seconds",
        id="negative-min",
    ),
    pytest.param(
        edit(("min: 120.0, max: 300.0", "min: 300.0, max: 120.0")),
        10,
        r"min \(300.0\) is larger than max \(120.0\)",
        id="min-above-max",
    ),
    pytest.param(
        edit(("{mean: 90.0, std: 10.0}", "{std: 10.0}")),
        7,
        r"the duration of step 'boil' is missing the required key 'mean'",
        id="missing-mean",
    ),
    pytest.param(
        edit(("{mean: 90.0, std: 10.0}", "{mean: 90.0}")),
        7,
        r"missing the required key 'std'",
        id="missing-std",
    ),
    pytest.param(
        edit(("{mean: 90.0, std: 10.0}", "{mean: 90.0, sd: 10.0}")),
        7,
        r"unknown key 'sd' .*\(did you mean 'std'\?\)",
        id="std-typo",
    ),
    pytest.param(
        edit(("duration: {mean: 90.0, std: 10.0}", "duration: 90")),
        7,
        r"the duration of step 'boil' must be a mapping, got the number 90",
        id="duration-number",
    ),
    # transitions
    pytest.param(
        edit(
            ("transitions:\n", "transitions: []\n"),
            ("  start: {boil: 1.0}\n", ""),
            ("  boil: {steep: 1.0}\n", ""),
            ("  steep: {milk: 0.6, end: 0.4}\n", ""),
            ("  milk: {milk: 0.2, end: 0.8}\n", ""),
        ),
        16,
        r"'transitions' must be a mapping, got a list",
        id="transitions-list",
    ),
    pytest.param(
        edit(("boil: {steep: 1.0}", "boil: {stepp: 1.0}")),
        18,
        r"transition 'boil' -> 'stepp': unknown step 'stepp' \(did you mean 'steep'\?\)",
        id="unknown-destination",
    ),
    pytest.param(
        edit(("boil: {steep: 1.0}", "boil: {xyz: 1.0}")),
        18,
        r"unknown step 'xyz'; known steps: boil, steep, milk",
        id="unknown-destination-no-hint",
    ),
    pytest.param(
        edit(("  milk: {milk: 0.2", "  milj: {milk: 0.2")),
        20,
        r"transitions from unknown step 'milj' \(did you mean 'milk'\?\)",
        id="unknown-source",
    ),
    pytest.param(
        edit(
            (
                "  milk: {milk: 0.2, end: 0.8}\n",
                "  milk: {milk: 0.2, end: 0.8}\n  end: {milk: 1.0}\n",
            )
        ),
        21,
        r"'end' cannot have outgoing transitions",
        id="end-source",
    ),
    pytest.param(
        edit(("milk: {milk: 0.2, end: 0.8}", "milk: {start: 0.2, end: 0.8}")),
        20,
        r"transition 'milk' -> 'start': nothing leads back to start",
        id="start-destination",
    ),
    pytest.param(
        edit(("{milk: 0.6, end: 0.4}", "{milk: 1.6, end: 0.4}")),
        19,
        r"probability of 'steep' -> 'milk' must be in \[0, 1\], got 1.6",
        id="probability-above-one",
    ),
    pytest.param(
        edit(("{milk: 0.6, end: 0.4}", "{milk: 1.4, end: -0.4}")),
        19,
        r"probability of 'steep' -> 'end' must be in \[0, 1\], got -0.4",
        id="probability-negative",
    ),
    pytest.param(
        edit(("{milk: 0.6, end: 0.4}", "{milk: 0.6, end: .nan}")),
        19,
        r"must be in \[0, 1\], got nan",
        id="probability-nan",
    ),
    pytest.param(
        edit(("{milk: 0.6, end: 0.4}", "{milk: 0.6, end: lots}")),
        19,
        r"probability of 'steep' -> 'end' must be a number, got the text 'lots'",
        id="probability-text",
    ),
    pytest.param(
        edit(("{milk: 0.6, end: 0.4}", "{milk: 0.6, end: 0.3}")),
        19,
        r"outgoing probabilities of 'steep' sum to 0.9, expected 1 \(within 0.001\)",
        id="row-sum",
    ),
    pytest.param(
        edit(("{milk: 0.6, end: 0.4}", "{}")),
        19,
        r"outgoing probabilities of 'steep' sum to 0, expected 1",
        id="row-empty",
    ),
    pytest.param(
        edit(("boil: {steep: 1.0}", "boil: steep")),
        18,
        r"the transitions from 'boil' must be a mapping, got the text 'steep'",
        id="row-scalar",
    ),
    pytest.param(
        edit(("  milk: {milk: 0.2, end: 0.8}\n", "")),
        12,
        r"step 'milk' has no outgoing transitions",
        id="no-outgoing",
    ),
    pytest.param(
        edit(("  start: {boil: 1.0}\n", "")),
        16,
        r"'transitions' has no row for 'start'",
        id="no-start-row",
    ),
    # graph
    pytest.param(
        edit(("{milk: 0.6, end: 0.4}", "{end: 1.0}")),
        12,
        r"step 'milk' is unreachable from start",
        id="unreachable-step",
    ),
    pytest.param(
        edit(("{milk: 0.6, end: 0.4}", "{milk: 0.0, end: 1.0}")),
        12,
        r"step 'milk' is unreachable from start",
        id="zero-probability-edge",
    ),
    pytest.param(
        edit(("{milk: 0.6, end: 0.4}", "{milk: 1.0}"), ("{milk: 0.2, end: 0.8}", "{milk: 1.0}")),
        16,
        r"end is unreachable from start",
        id="end-unreachable",
    ),
    pytest.param(
        edit(
            ("start: {boil: 1.0}", "start: {boil: 0.5, steep: 0.5}"),
            ("boil: {steep: 1.0}", "boil: {boil: 1.0}"),
        ),
        5,
        r"end is unreachable from step 'boil'",
        id="end-unreachable-from-step",
    ),
    # precedence
    pytest.param(
        edit(("  - [boil, steep]\n", "  - [boil, steep]\n  - [steep, boil]\n")),
        22,
        r"precedence constraints form a cycle through 'boil'",
        id="precedence-cycle",
    ),
    pytest.param(
        edit(("[boil, steep]", "[steep, steep]")),
        22,
        r"cycle through 'steep'",
        id="precedence-self",
    ),
    pytest.param(
        edit(("[boil, steep]", "[boil, stepp]")),
        22,
        r"precedence names unknown step 'stepp' \(did you mean 'steep'\?\)",
        id="precedence-unknown",
    ),
    pytest.param(
        edit(("[boil, steep]", "[boil]")),
        22,
        r"a precedence entry must be a pair \[before, after\], got a list",
        id="precedence-single",
    ),
    pytest.param(
        edit(("precedence:\n  - [boil, steep]\n", "precedence: boil\n\n")),
        21,
        r"'precedence' must be a list of \[before, after\] pairs",
        id="precedence-scalar",
    ),
    # gap
    pytest.param(
        edit(("probability: 0.3", "probability: 1")),
        23,
        r"gap probability must be in \[0, 1\), got 1.0",
        id="gap-probability-one",
    ),
    pytest.param(
        edit(("probability: 0.3", "probability: high")),
        23,
        r"gap probability must be a number",
        id="gap-probability-text",
    ),
    pytest.param(
        edit(("probability: 0.3", "chance: 0.3")),
        23,
        r"unknown key 'chance' in 'gap'; allowed keys: probability, duration",
        id="gap-unknown-key",
    ),
    pytest.param(
        edit(("std: 3.0", "std: -3.0")),
        23,
        r"gap: duration std must be >= 0 seconds",
        id="gap-duration",
    ),
    pytest.param(
        edit(("gap: {probability", "gap: [probability"), ("std: 3.0}}", "std: 3.0}]")),
        23,
        r"'gap' must be a mapping, got a list",
        id="gap-list",
    ),
]


@pytest.mark.parametrize(("text", "line", "message"), BAD_FILES)
def test_bad_file_reports_line_and_message(text: str, line: int, message: str) -> None:
    with pytest.raises(ProcedureFileError, match=message) as info:
        parse_procedure(text, filename="tea.yaml")
    matching = [issue for issue in info.value.issues if re.search(message, issue.message)]
    assert matching, info.value
    assert matching[0].line == line, str(matching[0])
    assert matching[0].file == "tea.yaml"
    assert matching[0].column is not None and matching[0].column >= 1


def test_column_points_at_the_offending_value() -> None:
    (issue,) = issues_of(edit(("mean: 90.0", "mean: -1")))
    assert (issue.line, issue.column) == (7, 22)
    assert str(issue) == "tea.yaml:7:22: step 'boil': duration mean must be > 0 seconds, got -1.0"


def test_all_problems_are_collected_and_sorted_by_line() -> None:
    text = edit(
        ("{milk: 0.6, end: 0.4}", "{milk: 0.6, end: 0.3}"),
        ("mean: 90.0", "mean: abc"),
        ("repeatable: true", "repeatable: 3"),
        ("precedence:", "precedense:"),
    )
    issues = issues_of(text)
    assert [issue.line for issue in issues] == [7, 15, 19, 21]
    assert [issue.line for issue in issues] == sorted(issue.line or 0 for issue in issues)


def test_an_invalid_step_id_is_not_reported_again_where_it_is_used() -> None:
    issues = issues_of(BASE.replace("milk", "add milk"))
    assert [issue.message for issue in issues] == [
        "invalid step id 'add milk': use only letters, digits, '_', '.' and '-'"
    ]


def test_a_missing_row_is_not_reported_again_as_unreachable_end() -> None:
    issues = issues_of(edit(("  milk: {milk: 0.2, end: 0.8}\n", "")))
    assert len(issues) == 1


def test_missing_step_id_does_not_cascade_into_unknown_steps() -> None:
    issues = issues_of(edit(("  - id: milk\n", "  - name2: x\n")))
    messages = [issue.message for issue in issues]
    assert any("missing the required key 'id'" in m for m in messages)
    assert not any("unknown step" in m for m in messages)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("\n\n   \n", id="blank"),
        pytest.param("# only a comment\n", id="comment-only"),
    ],
)
def test_empty_document(text: str) -> None:
    (issue,) = issues_of(text)
    assert issue.line is None
    assert "the file is empty" in issue.message
    assert str(issue).startswith("tea.yaml: the file is empty")


def test_huge_number_is_reported_not_raised() -> None:
    (issue,) = issues_of(edit(("mean: 90.0", "mean: 1" + "0" * 400)))
    assert issue.line == 7
    assert "step 'boil': duration mean (seconds) is too large: the number 1000" in issue.message


TOKENS = ["{", "}", "[", "]", ":", ",", "- ", "\n", "  ", "&a ", "*a", "~", "? ", "<<: ", "'"]
TOKENS += ['"', "\t", "\x00", "start", "end", "milk", ".nan", "1e400", "!!binary ", "!x "]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, len(BASE)), st.integers(0, 5), st.sampled_from(TOKENS)),
        min_size=1,
        max_size=4,
    )
)
def test_mangled_files_raise_only_procedure_file_errors(
    edits: list[tuple[int, int, str]],
) -> None:
    text = BASE
    for position, cut, token in edits:
        text = text[:position] + token + text[position + cut :]
    try:
        parse_procedure(text, filename="x.yaml")
    except ProcedureFileError as error:
        assert error.issues
        assert all(issue.file == "x.yaml" and issue.message for issue in error.issues)
        for issue in error.issues:  # file:line:col, or a problem of the whole file
            if issue.line is None:
                assert issue.message.startswith(("the file is empty", "invalid YAML"))
            else:
                assert 1 <= issue.line <= text.count("\n") + 2
                assert issue.column is not None and issue.column >= 1
                assert str(issue).startswith(f"x.yaml:{issue.line}:{issue.column}: ")


# ------------------------------------------------------------------- lenient forms


def test_accepted_value_forms() -> None:
    text = edit(
        ("mean: 90.0, std: 10.0", "mean: 9e1, std: 10"),  # plain 9e1 is text to YAML 1.1
        ("repeatable: true", "repeatable: yes"),
        ("name: Tea", "name: 2024"),
        ("id: tea", "id: 2024-01-01"),  # a YAML timestamp, kept as written
        ("  boil: {steep: 1.0}", "  boil: {steep: 1}"),
    )
    procedure = parse_procedure(text)
    assert procedure.step("boil").duration == DurationStats(90.0, 10.0)
    assert procedure.step("milk").repeatable is True
    assert procedure.name == "2024"
    assert procedure.id == "2024-01-01"
    assert procedure.transitions["boil"] == {"steep": 1.0}


def test_optional_keys_default_and_accept_null() -> None:
    text = edit(
        ("gap: {probability: 0.3, duration: {mean: 4.0, std: 3.0}}\n", "gap:\n"),
        ("precedence:\n  - [boil, steep]\n", "precedence:\nsource: ~\n"),
        ("notes: {time_critical: true}", "notes: {reminder: null}"),
    )
    procedure = parse_procedure(text)
    assert procedure.gap == GapModel()
    assert procedure.precedence == ()
    assert procedure.source == ""
    assert procedure.step("steep").notes == StepNotes()


def test_gap_keys_default_independently() -> None:
    procedure = parse_procedure(
        edit(("{probability: 0.3, duration: {mean: 4.0, std: 3.0}}", "{probability: 0.1}"))
    )
    assert procedure.gap == GapModel(probability=0.1)


def test_anchors_and_aliases_are_followed() -> None:
    text = edit(
        ("{mean: 90.0, std: 10.0}", "&quick {mean: 5.0, std: 2.0}"),
        ("    duration: {mean: 5.0, std: 2.0}", "    duration: *quick"),
    )
    procedure = parse_procedure(text)
    assert procedure.step("boil").duration == procedure.step("milk").duration


def test_probabilities_within_tolerance_are_accepted() -> None:
    procedure = parse_procedure(edit(("{milk: 0.6, end: 0.4}", "{milk: 0.6, end: 0.3995}")))
    assert procedure.transitions["steep"]["end"] == 0.3995


# ------------------------------------------------------------------------ files


def test_load_procedure_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "procedure.yaml"
    path.write_text(BASE, encoding="utf-8")
    assert load_procedure(path) == tea()
    assert load_procedure(str(path)) == tea()


def test_load_procedure_names_the_file_in_issues(tmp_path: Path) -> None:
    path = tmp_path / "procedure.yaml"
    path.write_text(edit(("mean: 90.0", "mean: -1")), encoding="utf-8")
    with pytest.raises(ProcedureFileError, match=re.escape(f"{path}:7:22: step 'boil'")):
        load_procedure(path)


@pytest.mark.parametrize(
    ("make", "message", "line"),
    [
        pytest.param(lambda p: p, r"no such file", None, id="missing"),
        pytest.param(lambda p: (p.mkdir(), p)[1], r"is a directory", None, id="directory"),
        pytest.param(
            lambda p: (p.write_bytes(b"id: t\nname: \xff\xfe\n"), p)[1],
            r"not UTF-8 text \(byte 0xff at offset 12\)",
            2,
            id="not-utf8",
        ),
        pytest.param(
            lambda p: (
                p.write_bytes(
                    bytes(np.random.default_rng(0).integers(0, 256, 512, dtype=np.uint8))
                ),
                p,
            )[1],
            r"not UTF-8 text|not allowed in YAML",
            None,
            id="binary-garbage",
        ),
        pytest.param(lambda p: (p.write_bytes(b""), p)[1], r"the file is empty", None, id="empty"),
    ],
)
def test_load_procedure_file_problems(
    tmp_path: Path, make: object, message: str, line: int | None
) -> None:
    path = tmp_path / "procedure.yaml"
    make(path)  # type: ignore[operator]
    with pytest.raises(ProcedureFileError, match=message) as info:
        load_procedure(path)
    (issue,) = info.value.issues
    assert issue.file == str(path)
    if line is not None:
        assert issue.line == line


# ------------------------------------------------------------------------ errors


def test_file_issue_str_formats() -> None:
    assert str(FileIssue("a.yaml", 3, 7, "bad")) == "a.yaml:3:7: bad"
    assert str(FileIssue("a.yaml", 3, None, "bad")) == "a.yaml:3: bad"
    assert str(FileIssue("a.yaml", None, None, "bad")) == "a.yaml: bad"


def test_procedure_file_error_lists_issues_and_is_a_procedure_error() -> None:
    issues = (FileIssue("a.yaml", 1, 1, "first"), FileIssue("a.yaml", 2, 5, "second"))
    error = ProcedureFileError(issues)
    assert str(error) == "a.yaml:1:1: first\na.yaml:2:5: second"
    assert error.issues == issues
    assert isinstance(error, ProcedureError)
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert copy.issues == issues
    assert str(copy) == str(error)


# ------------------------------------------------------------------------ writing


def test_dump_layout() -> None:
    assert (
        dump_procedure(tea())
        == """\
format_version: 1
id: tea
name: Tea

steps:
  - id: boil
    name: Boil water
    duration: {mean: 90.0, std: 10.0}
  - id: steep
    name: Steep
    duration: {mean: 180.0, std: 30.0, min: 120.0, max: 300.0}
    notes:
      time_critical: true
  - id: milk
    name: Add milk
    duration: {mean: 5.0, std: 2.0}
    repeatable: true

transitions:
  start: {boil: 1.0}
  boil: {steep: 1.0}
  steep: {milk: 0.6, end: 0.4}
  milk: {milk: 0.2, end: 0.8}

precedence:
  - [boil, steep]

gap:
  probability: 0.3
  duration: {mean: 4.0, std: 3.0}
"""
    )


def test_dump_round_trip_of_the_base() -> None:
    assert parse_procedure(dump_procedure(tea())) == tea()


def test_dump_rounds_rows_to_sum_to_one() -> None:
    third = 1.0 / 3.0
    procedure = Procedure(
        id="p",
        name="P",
        steps=tuple(Step(s, s, "", DurationStats(1.0, 0.0)) for s in ("a", "b", "c")),
        transitions={
            START: {"a": third, "b": third, "c": third},
            "a": {END: 0.999995, "b": 0.000005},
            "b": {END: 1.0},
            "c": {END: 1.0},
        },
    )
    parsed = parse_procedure(dump_procedure(procedure))
    assert parsed.transitions[START] == {"a": 0.3334, "b": 0.3333, "c": 0.3333}
    assert parsed.transitions["a"] == {END: 0.9999, "b": 0.0001}  # stays possible
    assert "{a: 0.3334, b: 0.3333, c: 0.3333}" in dump_procedure(procedure)


def test_dump_rounds_durations_to_milliseconds() -> None:
    procedure = Procedure(
        id="p",
        name="P",
        steps=(Step("a", "A", "", DurationStats(1.23456789, 0.00001234, 0.0004, 2.0)),),
        transitions={START: {"a": 1.0}, "a": {END: 1.0}},
        gap=GapModel(probability=0.99999),
    )
    parsed = parse_procedure(dump_procedure(procedure))
    assert parsed.step("a").duration == DurationStats(1.235, 0.0000123, 0.0004, 2.0)
    assert parsed.gap.probability == 0.9999  # still < 1


def test_dump_accepts_numpy_scalars() -> None:
    procedure = Procedure(
        id="p",
        name="P",
        steps=(Step(str(np.str_("a")), "A", "", DurationStats(np.float64(2.0), np.float64(1.0))),),
        transitions={START: {"a": np.float64(1.0)}, "a": {END: np.float64(1.0)}},
    )
    assert parse_procedure(dump_procedure(procedure)) == procedure


def test_dump_quotes_text_that_yaml_would_read_as_something_else() -> None:
    d = DurationStats(1.0, 0.0)
    steps = tuple(Step(s, s, "", d) for s in ("true", "1.5", "null", "-", ".inf"))
    order = [step.id for step in steps]
    transitions = {START: {order[0]: 1.0}} | {
        a: {b: 1.0} for a, b in zip(order, [*order[1:], END], strict=True)
    }
    procedure = Procedure(
        id="yes",
        name="No",
        steps=steps,
        transitions=transitions,
        description="a: b # not a comment\nsecond line \u2028 \x85 end",
    )
    assert parse_procedure(dump_procedure(procedure)) == procedure


def test_save_procedure_writes_a_loadable_file(tmp_path: Path) -> None:
    path = tmp_path / "tea.yaml"
    save_procedure(tea(), path)
    assert path.read_text(encoding="utf-8") == dump_procedure(tea())
    assert load_procedure(path) == tea()


# A printable alphabet plus the awkward characters YAML treats specially.
TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",))
    | st.sampled_from(":#-'\"\n\t "),
    max_size=30,
)
NAME = TEXT.filter(lambda s: s.strip() != "")
STEP_ID = st.from_regex(r"[A-Za-z0-9_.\-]{1,12}", fullmatch=True).filter(
    lambda s: s not in (START, END)
)
SECONDS = st.integers(1, 100_000).map(lambda n: n / 100)


@st.composite
def durations(draw: st.DrawFn) -> DurationStats:
    mean = draw(SECONDS)
    std = draw(st.integers(0, 10_000)) / 100
    low = draw(st.none() | st.integers(0, int(mean * 100)).map(lambda n: n / 100))
    high = draw(st.none() | st.integers(int(mean * 100), 200_000).map(lambda n: n / 100))
    return DurationStats(mean, std, low, high)


@st.composite
def rows(draw: st.DrawFn, src: str, chain_next: str, choices: list[str]) -> dict[str, float]:
    """A row with the chain edge (weight >= 1 unit) and random extra edges, summing to 1."""
    extra = draw(st.lists(st.sampled_from(choices), unique=True, max_size=3))
    targets = [chain_next, *[t for t in extra if t != chain_next]]
    cuts = sorted(
        draw(st.lists(st.integers(0, 10_000), min_size=len(targets) - 1, max_size=len(targets) - 1))
    )
    bounds = [0, *cuts, 10_000]
    units = [b - a for a, b in itertools.pairwise(bounds)]
    largest = int(np.argmax(units))
    units[0], units[largest] = units[largest], units[0]  # the chain edge gets the most
    return {t: u / 10_000 for t, u in zip(targets, units, strict=True)}


@st.composite
def procedures(draw: st.DrawFn) -> Procedure:
    ids = draw(st.lists(STEP_ID, min_size=1, max_size=6, unique=True))
    steps = tuple(
        Step(
            step_id,
            draw(NAME),
            draw(TEXT),
            draw(durations()),
            repeatable=draw(st.booleans()),
            notes=StepNotes(draw(st.booleans()), draw(st.booleans()), draw(st.none() | TEXT)),
        )
        for step_id in ids
    )
    chain = [START, *ids, END]
    transitions = {src: draw(rows(src, nxt, [*ids, END])) for src, nxt in itertools.pairwise(chain)}
    pairs = draw(
        st.lists(st.tuples(st.integers(0, len(ids) - 1), st.integers(0, len(ids) - 1)), max_size=3)
    )
    precedence = tuple(dict.fromkeys((ids[a], ids[b]) for a, b in pairs if a < b))
    gap = GapModel(draw(st.integers(0, 9_999)) / 10_000, draw(durations()))
    return Procedure(
        id=draw(NAME),
        name=draw(NAME),
        steps=steps,
        transitions=transitions,
        description=draw(TEXT),
        precedence=precedence,
        gap=gap,
        source=draw(TEXT),
    )


@settings(max_examples=150, deadline=None)
@given(procedures())
def test_dump_parse_round_trip(procedure: Procedure) -> None:
    text = dump_procedure(procedure)
    assert parse_procedure(text) == procedure
    assert dump_procedure(parse_procedure(text)) == text


@settings(max_examples=40, deadline=None)
@given(procedures())
def test_save_load_round_trip_through_a_file(procedure: Procedure) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "procedure.yaml"
        save_procedure(procedure, path)
        assert load_procedure(path) == procedure


def _corrupt(data: dict[str, Any], choice: int, junk: str) -> None:
    """One edit that makes a valid procedure file's data invalid."""
    step = data["steps"][-1]
    row = data["transitions"]["start"]
    edits = [
        lambda: data.pop(["id", "name", "steps", "transitions"][len(junk) % 4]),
        lambda: data.update({"x_" + junk: 1}),
        lambda: step.update({"colour": junk}),
        lambda: step["duration"].update({"mean": -1.0 - len(junk)}),
        lambda: step["duration"].update({"std": junk or "x"}),
        lambda: step.update({"name": [junk]}),
        lambda: step.update({"name": " " * len(junk)}),
        lambda: step.update({"repeatable": junk + "!"}),
        lambda: row.update({next(iter(row)): 1.5}),
        lambda: row.update({next(iter(row)): junk + "?"}),
        lambda: data["transitions"].update({"no_such_step_" + str(len(junk)): {"end": 1.0}}),
        lambda: row.update({"start": 0.5}),
        lambda: data.update({"gap": {"probability": 1.0}}),
        lambda: data.update({"precedence": [[step["id"], step["id"]]]}),
        lambda: data.update({"format_version": 2}),
        lambda: data.update({"steps": junk}),
        lambda: data["steps"].append(dict(data["steps"][0])),  # a duplicate id
    ]
    edits[choice % len(edits)]()


@settings(max_examples=200, deadline=None)
@given(procedures(), st.integers(0, 100), st.text(max_size=8))
def test_corrupted_files_give_issues_at_file_line_col(
    procedure: Procedure, choice: int, junk: str
) -> None:
    data = yaml.safe_load(dump_procedure(procedure))
    _corrupt(data, choice, junk)
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    with pytest.raises(ProcedureFileError) as info:
        parse_procedure(text, filename="c.yaml")
    lines = text.count("\n") + 1
    for issue in info.value.issues:
        assert issue.line is not None and 1 <= issue.line <= lines, str(issue)
        assert issue.column is not None and issue.column >= 1
        assert str(issue).startswith(f"c.yaml:{issue.line}:{issue.column}: ")


# ------------------------------------------------------------------ the docs


def _doc_block(heading: str, fence: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    start = section.index(fence) + len(fence)
    return section[start : section.index("```", start)].lstrip("\n")


def test_worked_example_in_the_docs_validates() -> None:
    procedure = parse_procedure(_doc_block("## Worked example", "```yaml"), filename=str(DOC))
    assert 4 <= procedure.n_steps <= 5
    assert procedure.gap.probability > 0
    assert procedure.precedence
    assert any(step.repeatable for step in procedure.steps)
    assert any(step.notes.time_critical and step.notes.reminder for step in procedure.steps)
    assert parse_procedure(dump_procedure(procedure)) == procedure


def test_error_output_shown_in_the_docs_is_real() -> None:
    example = _doc_block("## Worked example", "```yaml")
    broken = example
    for old, new in [
        ("{mean: 5.0, std: 2.0}", "{mean: 5.0, sd: 2.0}"),
        ("repeatable: true", "repeatable: yes please"),
        ("{add_milk: 0.6, end: 0.4}", "{add_milk: 0.6, end: 0.3}"),
        ("[add_tea_bag, pour_water]", "[add_teabag, pour_water]"),
    ]:
        assert broken.count(old) == 1, old
        broken = broken.replace(old, new)
    shown = [
        line
        for line in _doc_block("## Checking files", "```console").splitlines()
        if line.startswith("broken.yaml:")
    ]
    assert [str(issue) for issue in issues_of(broken, filename="broken.yaml")] == shown

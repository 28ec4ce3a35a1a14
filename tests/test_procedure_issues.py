"""Tests for prism.procedure.issues: file:line:col problems and the error that lists them."""

from __future__ import annotations

import doctest
import pickle

import prism.errors as issues_module  # FileIssue's examples live with its definition
from prism.errors import PrismError, ProcedureError
from prism.procedure.issues import FileIssue, ProcedureFileError


def test_sorted_orders_by_line_then_column_and_keeps_ties() -> None:
    issues = [
        FileIssue("a.yaml", 3, 1, "c"),
        FileIssue("a.yaml", None, None, "whole file"),
        FileIssue("a.yaml", 2, 9, "b"),
        FileIssue("a.yaml", 2, 1, "a1"),
        FileIssue("a.yaml", 2, 1, "a2"),
    ]
    error = ProcedureFileError.sorted(issues)
    assert [issue.message for issue in error.issues] == ["whole file", "a1", "a2", "b", "c"]
    assert str(error).splitlines()[1] == "a.yaml:2:1: a1"


def test_the_error_is_a_procedure_error_and_survives_pickling() -> None:
    error = ProcedureFileError([FileIssue("a.yaml", 1, 2, "bad")])
    assert isinstance(error, ProcedureError) and isinstance(error, PrismError)
    assert isinstance(error, ValueError)
    assert pickle.loads(pickle.dumps(error)).issues == error.issues


def test_docstring_examples() -> None:
    result = doctest.testmod(issues_module)
    assert result.attempted > 0
    assert result.failed == 0

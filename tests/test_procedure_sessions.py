"""Tests for prism.procedure.sessions: annotated sessions, the input of procedure learning."""

from __future__ import annotations

import doctest

import prism.data.annotations as annotations
import prism.procedure.sessions as sessions_module
from prism.procedure.sessions import AnnotatedSession, StepSegment


def test_step_order_follows_the_segments() -> None:
    segments = (StepSegment("a", 0.0, 1.0), StepSegment("b", 1.0, 2.0), StepSegment("a", 2, 3))
    assert AnnotatedSession("s", "t", segments, 3.0).step_order == ("a", "b", "a")


def test_the_data_package_re_exports_the_same_classes() -> None:
    assert annotations.AnnotatedSession is AnnotatedSession
    assert annotations.StepSegment is StepSegment


def test_docstring_examples() -> None:
    result = doctest.testmod(sessions_module)
    assert result.attempted > 0
    assert result.failed == 0

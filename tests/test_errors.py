"""Tests for prism.errors: one root, specific subclasses, no bare builtin raises."""

from __future__ import annotations

import ast
import builtins
import importlib
from pathlib import Path

import pytest

import prism.errors as errors
from prism.errors import PrismError

SRC = Path(__file__).resolve().parents[1] / "src" / "prism"

# Packages another branch of the architecture refactor is moving; their raises are
# checked there. Drop an entry once that branch is merged.
ELSEWHERE = ("assistant/speech", "server", "storage", "watch")

BUILTIN_ERRORS = {
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
}
# PEP 562: a module's __getattr__ must raise AttributeError for an unknown name.
ALLOWED = {"AttributeError"}


@pytest.mark.parametrize("name", sorted(set(errors.__all__) - {"PrismError"}))
def test_every_error_is_a_prism_error_and_a_builtin(name: str) -> None:
    error = getattr(errors, name)
    assert issubclass(error, PrismError)
    builtin = [base for base in error.__mro__ if base.__module__ == "builtins"]
    assert builtin[0] is not Exception, f"{name} subclasses no specific builtin"
    assert error.__doc__


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("prism.sensing", "SensingError"),
        ("prism.sensing", "ModelFileError"),
        ("prism.sensing.features", "SensingError"),
        ("prism.sensing.handcrafted", "BaselineError"),
        ("prism.evaluation.metrics", "MetricInputError"),
        ("prism.evaluation.plots", "PlotError"),
        ("prism.data.simulated", "SimulationError"),
        ("prism.observer.reminders", "ReminderError"),
        ("prism.assistant.local_llm", "LocalLLMError"),
    ],
)
def test_errors_stay_importable_where_they_are_raised(module: str, name: str) -> None:
    assert getattr(importlib.import_module(module), name) is getattr(errors, name)


def _bare_raises(source: str, name: str) -> list[str]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Raise) or node.exc is None:
            continue
        raised = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        if isinstance(raised, ast.Name) and raised.id in BUILTIN_ERRORS - ALLOWED:
            found.append((node.lineno, f"{name}:{node.lineno}: raise {raised.id}"))
    return [line for _, line in sorted(found)]


def test_no_bare_builtin_errors_are_raised() -> None:
    paths = [
        path
        for path in sorted(SRC.rglob("*.py"))
        if not path.relative_to(SRC).as_posix().startswith(ELSEWHERE)
    ]
    found = [
        line
        for path in paths
        for line in _bare_raises(path.read_text(encoding="utf-8"), str(path.relative_to(SRC)))
    ]
    assert not found, "raise a prism.errors class instead:\n" + "\n".join(found)


def test_the_scan_finds_bare_raises() -> None:
    source = "def f(x):\n    if x:\n        raise ValueError('x')\n    raise KeyError\n"
    assert _bare_raises(source, "probe.py") == [
        "probe.py:3: raise ValueError",
        "probe.py:4: raise KeyError",
    ]
    assert _bare_raises("raise AttributeError('no name')\nraise DataError('x')\n", "ok.py") == []

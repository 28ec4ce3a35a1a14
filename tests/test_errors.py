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

# Raises that report a bug, not a user's error: a pipeline worker process that failed
# inside (the service logs it and answers "internal error", where a PrismError would be
# taken for bad input: a 409 "no usable model", an error 4000 about the frame).
INTERNAL_FAILURES = {"server/shards.py": "RuntimeError"}

BUILTIN_ERRORS = {
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
}
# PEP 562: a module's __getattr__ must raise AttributeError for an unknown name.
ALLOWED = {"AttributeError"}


# FileIssue, the payload of ProcedureFileError, is the one class of prism.errors that is
# not an exception.
ERRORS = sorted(set(errors.__all__) - {"PrismError", "FileIssue"})
# The category of the service's refusals (each refusal also subclasses a builtin; the app
# maps each to an HTTP status and a close code).
NO_BUILTIN = {"ServiceError"}


@pytest.mark.parametrize("name", ERRORS)
def test_every_error_is_a_prism_error_and_a_builtin(name: str) -> None:
    error = getattr(errors, name)
    assert issubclass(error, PrismError)
    builtin = [base for base in error.__mro__ if base.__module__ == "builtins"]
    if name not in NO_BUILTIN:
        assert builtin[0] is not Exception, f"{name} subclasses no specific builtin"
    assert error.__doc__


# Classes the packages defined until they moved into prism.errors; the modules keep them
# importable and in their __all__.
MOVED = [
    ("prism.procedure.io", "ProcedureFileError"),
    ("prism.procedure.io", "FileIssue"),
    ("prism.procedure.issues", "ProcedureFileError"),
    ("prism.procedure.issues", "FileIssue"),
    ("prism.speech", "SpeechInputError"),
    ("prism.speech", "SpeechBackendError"),
    ("prism.speech.audio", "SpeechInputError"),
    ("prism.speech.audio", "SpeechBackendError"),
    ("prism.storage", "StoreError"),
    ("prism.storage.base", "StoreError"),
    ("prism.server.checkpoint", "CheckpointError"),
    ("prism.server.pipeline", "UnknownSessionError"),
    ("prism.server.errors", "ServiceError"),
    ("prism.server.errors", "UnauthorizedError"),
    ("prism.server.errors", "SessionNotFoundError"),
    ("prism.server.errors", "ProcedureNotFoundError"),
    ("prism.server.errors", "ProcedureUnusableError"),
    ("prism.server.errors", "NoUsableModelError"),
    ("prism.server.errors", "SessionElsewhereError"),
    ("prism.server.errors", "TooManySessionsError"),
    ("prism.server.errors", "TooManyDeviceSessionsError"),
    ("prism.server.errors", "ConnectionStateError"),
    ("prism.server.errors", "ServerStartError"),
    ("prism.watch.replay", "ReplayError"),
    ("prism.watch.session", "SessionRequestError"),
]


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
        *MOVED,
    ],
)
def test_errors_stay_importable_where_they_are_raised(module: str, name: str) -> None:
    assert getattr(importlib.import_module(module), name) is getattr(errors, name)


@pytest.mark.parametrize(("module", "name"), MOVED)
def test_moved_errors_stay_in_their_modules_all(module: str, name: str) -> None:
    assert name in importlib.import_module(module).__all__


WARNINGS = {name for name in BUILTIN_ERRORS if issubclass(getattr(builtins, name), Warning)}


def _error_classes(source: str) -> list[str]:
    """Classes of ``source`` with a base named like an exception (``...Error``, a builtin
    exception; warning categories such as ``CaptainCookWarning`` are not errors)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ClassDef):
            continue
        names = [base.id if isinstance(base, ast.Name) else "" for base in node.bases]
        names += [base.attr for base in node.bases if isinstance(base, ast.Attribute)]
        if any(name in BUILTIN_ERRORS - WARNINGS or name.endswith("Error") for name in names):
            found.append(node.name)
    return found


def test_only_the_protocol_error_is_defined_outside_prism_errors() -> None:
    defined = [
        f"{path.relative_to(SRC).as_posix()}: {name}"
        for path in sorted(SRC.rglob("*.py"))
        if path != SRC / "errors.py"
        for name in _error_classes(path.read_text(encoding="utf-8"))
    ]
    assert defined == ["protocol/errors.py: ProtocolError"]


def test_the_class_scan_finds_error_classes() -> None:
    source = "class A(ValueError): ...\nclass B(errors.PrismError): ...\nclass C: ...\n"
    source += "class D(UserWarning): ...\n"
    assert _error_classes(source) == ["A", "B"]
    assert "PrismError" in _error_classes((SRC / "errors.py").read_text(encoding="utf-8"))


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
    found = [
        line
        for path in sorted(SRC.rglob("*.py"))
        for line in _bare_raises(path.read_text(encoding="utf-8"), path.relative_to(SRC).as_posix())
        if not line.endswith(f"raise {INTERNAL_FAILURES.get(line.split(':')[0])}")
    ]
    assert not found, "raise a prism.errors class instead:\n" + "\n".join(found)


def test_the_scan_finds_bare_raises() -> None:
    source = "def f(x):\n    if x:\n        raise ValueError('x')\n    raise KeyError\n"
    assert _bare_raises(source, "probe.py") == [
        "probe.py:3: raise ValueError",
        "probe.py:4: raise KeyError",
    ]
    assert _bare_raises("raise AttributeError('no name')\nraise DataError('x')\n", "ok.py") == []

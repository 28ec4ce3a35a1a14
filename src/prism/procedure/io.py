"""Procedure files: read and write the YAML format, with file and line in every error.

The format is described in ``docs/procedure-format.md``. Reading takes four steps, each
in its own module, and collects *all* problems before raising one
:class:`ProcedureFileError`:

1. YAML text -> a plain tree that remembers every value's node
   (:mod:`prism.procedure.yaml_tree`; syntax errors, duplicate keys);
2. the tree against the file's schema, pydantic models (:mod:`prism.procedure.schema`;
   missing and unknown keys, types);
3. the graph rules every procedure follows (:mod:`prism.procedure.checks`; ids,
   durations, probabilities, reachability, precedence), on every part of the file that
   could be read;
4. this module: each problem named and pointed at its YAML node (``file:line:col``).

Writing (:mod:`prism.procedure.writer`) produces a stable, readable file that reads back
to the same :class:`~prism.procedure.model.Procedure`.

Examples
--------
>>> text = '''
... id: tea
... name: Tea
... steps:
...   - {id: boil, name: Boil water, duration: {mean: 90.0, std: 10.0}}
... transitions:
...   start: {boil: 1.0}
...   boil: {end: 1.0}
... '''
>>> parse_procedure(text).step_ids
('boil',)
>>> try:
...     parse_procedure(text.replace("90.0", "-1"), filename="tea.yaml")
... except ProcedureFileError as error:
...     print(error)
tea.yaml:5:51: step 'boil': duration mean must be > 0 seconds, got -1.0
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails
from yaml.nodes import Node, ScalarNode

from prism.errors import ProcedureError
from prism.procedure import checks
from prism.procedure.checks import END, START, STEP_ID_PATTERN, Problem, Where
from prism.procedure.issues import FileIssue, ProcedureFileError
from prism.procedure.model import Procedure
from prism.procedure.schema import (
    FORMAT_VERSION,
    DurationFile,
    Name,
    Number,
    Pair,
    ProcedureFile,
    is_mapping,
    section_at,
    valid,
)
from prism.procedure.writer import dump_procedure, save_procedure
from prism.procedure.yaml_tree import Tree, compose, describe, read_tree

__all__ = [
    "FORMAT_VERSION",
    "FileIssue",
    "ProcedureFileError",
    "dump_procedure",
    "load_procedure",
    "parse_procedure",
    "save_procedure",
]

_REQUIRED = ", ".join(name for name, f in ProcedureFile.model_fields.items() if f.is_required())
_LIST_OF = {"steps": "steps", "precedence": "[before, after] pairs"}
_MAPPING_TYPES = frozenset({"model_type", "model_attributes_type", "dict_type"})
_STEP_ID, _NUMBER = TypeAdapter(Name), TypeAdapter(Number)
_DURATION, _PAIR = TypeAdapter(DurationFile), TypeAdapter(Pair)


def load_procedure(path: str | Path) -> Procedure:
    """Read a procedure file (UTF-8 YAML).

    Parameters
    ----------
    path : str or Path
        The file; issues name it as given.

    Returns
    -------
    Procedure
        The validated procedure.

    Raises
    ------
    ProcedureFileError
        If the file is missing, unreadable, not UTF-8, not valid YAML or not a valid
        procedure; ``issues`` holds every problem found.
    """
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ProcedureFileError([FileIssue(name, None, None, "no such file")]) from None
    except IsADirectoryError:
        message = "is a directory, expected a procedure YAML file"
        raise ProcedureFileError([FileIssue(name, None, None, message)]) from None
    except OSError as error:
        message = f"cannot read the file: {error.strerror or error}"
        raise ProcedureFileError([FileIssue(name, None, None, message)]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        message = (
            f"not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start});"
            " procedure files are UTF-8 encoded YAML"
        )
        raise ProcedureFileError([FileIssue(name, line, None, message)]) from None
    return parse_procedure(text, filename=name)


def parse_procedure(text: str, *, filename: str = "<string>") -> Procedure:
    """Parse the text of a procedure file.

    Parameters
    ----------
    text : str
        YAML text in the procedure format.
    filename : str, keyword-only
        Name used in issues.

    Returns
    -------
    Procedure
        The validated procedure.

    Raises
    ------
    ProcedureFileError
        With every problem found, sorted by line.
    """
    root = compose(text, filename=filename)
    if root is None:
        message = f"the file is empty; expected a mapping with {_REQUIRED}"
        raise ProcedureFileError([FileIssue(filename, None, None, message)])
    return _Reader(filename, read_tree(root)).procedure()


class _Reader:
    """Names each problem of one file and points it at its node; private to this module."""

    def __init__(self, filename: str, tree: Tree) -> None:
        self.filename = filename
        self.tree = tree
        self.found: list[tuple[Where, FileIssue]] = []

    def procedure(self) -> Procedure:
        data = self.tree.data
        if not isinstance(data, dict):
            message = f"a procedure file must be a mapping with {_REQUIRED}; got {describe(data)}"
            self.report((), message)
            raise self.error()
        self.key_problems()
        document: ProcedureFile | None = None
        try:
            document = ProcedureFile.model_validate(data)
        except ValidationError as error:
            self.schema_errors(error.errors())
        self.graph_checks(data)
        if self.found or document is None:
            raise self.error()
        try:
            return document.to_procedure()
        except ProcedureError as error:  # a rule the checks above do not point at a line
            self.report((), str(error))
            raise self.error() from None

    # -- reporting

    def report(self, where: Where, message: str, *, at_key: bool = False) -> None:
        self.report_node(where, self.tree.node(where, at_key=at_key), message)

    def report_node(self, where: Where, node: Node, message: str) -> None:
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        self.found.append((where, FileIssue(self.filename, line, column, message)))

    def report_problems(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            message = problem.message
            if problem.first is not None:
                first = self.tree.node(problem.first).start_mark.line + 1
                message += f" (first defined on line {first})"
            self.report(problem.where, message, at_key=problem.at_key)

    def error(self) -> ProcedureFileError:
        return ProcedureFileError.sorted(issue for _, issue in self.found)

    def has_issue_under(self, prefix: Where) -> bool:
        return any(where[: len(prefix)] == prefix for where, _ in self.found)

    # -- 1. keys the YAML tree could not keep

    def key_problems(self) -> None:
        """Duplicate keys and keys that are not names, in the mappings the schema has."""
        for problem in self.tree.key_problems:
            if not is_mapping(problem.mapping):
                continue  # inside an unknown key, reported as such
            what = self.what(problem.mapping)
            if problem.first is None:
                message = f"keys of {what} must be names, got {describe(problem.key)}"
            else:
                key, first = problem.first.value, problem.first.start_mark.line + 1
                message = (
                    f"duplicate key {key!r} in {what} (first on line {first});"
                    " YAML would silently keep only the last one"
                )
            self.report_node((*problem.mapping, str(problem.key.value)), problem.key, message)

    # -- 2. the schema

    def schema_errors(self, errors: Sequence[ErrorDetails]) -> None:
        suggested: dict[Where, set[str]] = {}
        for error in errors:
            if error["type"] == "extra_forbidden":
                self.unknown_key(tuple(error["loc"]), suggested)
        for error in errors:
            where: Where = tuple(error["loc"])
            kind = error["type"]
            what = self.what(where)
            if kind == "extra_forbidden":
                continue
            if kind == "missing":
                parent, key = where[:-1], str(where[-1])
                if key not in suggested.get(parent, set()):
                    message = f"{self.what(parent)} is missing the required key {key!r}"
                    self.report_node(where, self.tree.node(parent), message)
            elif kind in _MAPPING_TYPES:
                self.report(where, f"{what} must be a mapping, got {describe(error['input'])}")
            elif kind == "list_type":
                items = _LIST_OF.get(str(where[-1]), "items")
                self.report(
                    where, f"{what} must be a list of {items}, got {describe(error['input'])}"
                )
            else:  # the schema's own rules: "must be a number, got ..."
                self.report(where, f"{what} {error['msg']}" if what else error["msg"])

    def unknown_key(self, where: Where, suggested: dict[Where, set[str]]) -> None:
        parent, key = where[:-1], str(where[-1])
        section = section_at(parent)
        allowed = list(section.model_fields) if section is not None else []
        present = self.data_at(parent)
        absent = [name for name in allowed if not isinstance(present, dict) or name not in present]
        close = difflib.get_close_matches(key, absent, n=1, cutoff=0.6)
        suggested.setdefault(parent, set()).update(close)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        listed = ", ".join(allowed)
        message = f"unknown key {key!r} in {self.what(parent)}{hint}; allowed keys: {listed}"
        self.report(where, message, at_key=True)

    # -- 3. the graph rules, on the parts that could be read

    def graph_checks(self, data: dict[str, Any]) -> None:
        items = data.get("steps")
        ids, id_index, ids_complete = self.step_ids(items)
        if ids or items == []:
            self.report_problems(_moved(checks.step_id_problems(ids), "steps", id_index))
        for index, item in enumerate(items if isinstance(items, list) else ()):
            duration = valid(_DURATION, item.get("duration")) if isinstance(item, dict) else None
            if duration is not None:
                owner, where = self.step_label(index), ("steps", index, "duration")
                self.report_problems(
                    checks.duration_problems(duration.to_model(), owner=owner, where=where)
                )
        steps_sound = not self.has_issue_under(("steps",))
        rows, rows_sound = self.transitions(data.get("transitions"), ids, id_index, ids_complete)
        self.precedence(data.get("precedence"), ids, ids_complete)
        self.gap(data.get("gap"))
        if steps_sound and rows_sound and rows.get(START):
            # Steps with a missing or empty row were reported already; let them end the
            # procedure here so the mistake is not reported again as "end is unreachable".
            closed = {**rows, **{s: {END: 1.0} for s in ids if not rows.get(s)}}
            problems = checks.reachability_problems(ids, closed)
            self.report_problems(_moved(problems, "steps", id_index))

    def step_ids(self, items: Any) -> tuple[list[str], list[int], bool]:
        """Readable step ids, their steps' indices, and whether every id was readable."""
        ids: list[str] = []
        indices: list[int] = []
        if not isinstance(items, list):
            return ids, indices, False
        for index, item in enumerate(items):
            step_id = (
                valid(_STEP_ID, item["id"]) if isinstance(item, dict) and "id" in item else None
            )
            if step_id is not None:
                ids.append(step_id)
                indices.append(index)
        return ids, indices, len(ids) == len(items)

    def transitions(
        self, raw: Any, ids: list[str], id_index: list[int], ids_complete: bool
    ) -> tuple[dict[str, dict[str, float]], bool]:
        """The readable rows, and whether they are sound enough for reachability (every
        row read and every entry valid; a wrong sum or a missing row is fine)."""
        if not isinstance(raw, dict):
            return {}, False
        sound = not self.has_issue_under(("transitions",))
        partial = {
            str(problem.mapping[1])
            for problem in self.tree.key_problems
            if len(problem.mapping) == 2 and problem.mapping[0] == "transitions"
        }
        read: dict[str, dict[str, float | None]] = {}
        for src, row in raw.items():
            if not isinstance(row, dict):
                partial.add(src)
            entries = row.items() if isinstance(row, dict) else ()
            read[src] = {dst: valid(_NUMBER, value) for dst, value in entries}
        rows = {src: {d: p for d, p in row.items() if p is not None} for src, row in read.items()}
        partial.update(src for src, row in read.items() if len(row) != len(rows[src]))
        problems = checks.transition_problems(read, ids, partial_rows=partial)
        harmless = (checks.ROW_SUM, checks.MISSING_ROW)
        sound = sound and not partial and all(p.kind in harmless for p in problems)
        if not ids_complete:
            problems = [p for p in problems if p.kind != checks.UNKNOWN_STEP]
        self.report_problems(_moved(problems, "steps", id_index))
        return rows, sound

    def precedence(self, raw: Any, ids: list[str], ids_complete: bool) -> None:
        if not isinstance(raw, list):
            return
        read = [(k, valid(_PAIR, item)) for k, item in enumerate(raw)]
        pairs = [(pair[0], pair[1]) for _, pair in read if pair is not None]
        index = [k for k, pair in read if pair is not None]
        problems = checks.precedence_problems(pairs, ids)
        if not ids_complete:
            problems = [p for p in problems if p.kind != checks.UNKNOWN_STEP]
        self.report_problems(_moved(problems, "precedence", index))
        known = {step_id for step_id in ids if step_id not in (START, END)}
        if len(pairs) == len(raw) and all(name in known for pair in pairs for name in pair):
            self.report_problems(checks.precedence_cycle_problems(pairs))

    def gap(self, raw: Any) -> None:
        if not isinstance(raw, dict):
            return
        probability = valid(_NUMBER, raw["probability"]) if "probability" in raw else None
        if probability is not None:
            self.report_problems(checks.gap_probability_problems(probability))
        duration = valid(_DURATION, raw["duration"]) if "duration" in raw else None
        if duration is not None:
            where = ("gap", "duration")
            self.report_problems(
                checks.duration_problems(duration.to_model(), owner="gap", where=where)
            )

    # -- 4. words

    def data_at(self, where: Where) -> Any:
        value: Any = self.tree.data
        for key in where:
            if isinstance(value, dict) and isinstance(key, str):
                value = value.get(key)
            elif isinstance(value, list) and isinstance(key, int) and key < len(value):
                value = value[key]
            else:
                return None
        return value

    def step_label(self, index: int) -> str:
        """``step 'boil'`` if the step's id is readable and valid, else ``step #3``."""
        step_id = self.data_at(("steps", index, "id"))
        if isinstance(step_id, ScalarNode) and STEP_ID_PATTERN.match(str(step_id.value)):
            return f"step {step_id.value!r}"
        return f"step #{index + 1}"

    def what(self, where: Where) -> str:
        """The name of the value at ``where``, to start a message with."""
        match where:
            case ():
                return "the procedure"
            case ("format_version",):
                return ""  # its message names it
            case ("id" | "name" | "description" | "source" as key,):
                return f"procedure {key}"
            case ("steps" | "transitions" | "precedence" | "gap" as key,):
                return f"{key!r}"
            case ("steps", int(index)):
                return self.step_label(index)
            case ("steps", int(index), "id"):
                return "step id"
            case ("steps", int(index), "name" | "description" | "reminder" as key):
                return f"{key} of {self.step_label(index)}"
            case ("steps", int(index), "repeatable"):
                return f"'repeatable' of {self.step_label(index)}"
            case ("steps", int(index), "notes"):
                return f"the notes of {self.step_label(index)}"
            case ("steps", int(index), "notes", "reminder"):
                return f"reminder of {self.step_label(index)}"
            case ("steps", int(index), "notes", key):
                return f"{key!r} in the notes of {self.step_label(index)}"
            case ("steps", int(index), "duration"):
                return f"the duration of {self.step_label(index)}"
            case ("steps", int(index), "duration", key):
                return f"{self.step_label(index)}: duration {key} (seconds)"
            case ("transitions", src):
                return f"the transitions from {src!r}"
            case ("transitions", src, dst):
                return f"probability of {src!r} -> {dst!r}"
            case ("precedence", int()):
                return "a precedence entry"
            case ("precedence", int(), int()):
                return "a step id in 'precedence'"
            case ("gap", "probability"):
                return "gap probability"
            case ("gap", "duration"):
                return "the duration of gap"
            case ("gap", "duration", key):
                return f"gap: duration {key} (seconds)"
        return " ".join(str(key) for key in where)


def _moved(problems: Iterable[Problem], section: str, index: Sequence[int]) -> list[Problem]:
    """Problems whose ``(section, k, ...)`` paths count only the items a check was given,
    moved to the items' indices in the file."""

    def move(where: Where | None) -> Where | None:
        if where is None or len(where) < 2 or where[0] != section:
            return where
        k = where[1]
        return (section, index[k], *where[2:]) if isinstance(k, int) else where

    return [
        Problem(p.message, move(p.where) or (), p.at_key, p.kind, move(p.first)) for p in problems
    ]

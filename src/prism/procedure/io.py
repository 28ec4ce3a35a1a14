"""Procedure files: read and write the YAML format, with file and line in every error.

The format is described in ``docs/procedure-format.md``. Reading composes the YAML into
nodes (which keep their line numbers), checks every node and collects *all* problems
before raising one :class:`ProcedureFileError`; writing produces a stable, readable
file that reads back to the same :class:`~prism.procedure.model.Procedure`.

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
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from prism.errors import ProcedureError
from prism.procedure.model import (
    END,
    PROBABILITY_TOLERANCE,
    START,
    STEP_ID_PATTERN,
    DurationStats,
    GapModel,
    Procedure,
    Step,
    StepNotes,
    precedence_cycle_problems,
    reachability_problems,
)
from prism.procedure.writer import FORMAT_VERSION, dump_procedure, save_procedure

__all__ = [
    "FORMAT_VERSION",
    "FileIssue",
    "ProcedureFileError",
    "dump_procedure",
    "load_procedure",
    "parse_procedure",
    "save_procedure",
]


_TOP_REQUIRED = ("id", "name", "steps", "transitions")
_TOP_OPTIONAL = ("format_version", "description", "source", "precedence", "gap")
_STEP_REQUIRED = ("id", "name", "duration")
_STEP_OPTIONAL = ("description", "repeatable", "notes")
_NOTES_KEYS = ("time_critical", "must_not_skip", "reminder")
_DURATION_REQUIRED = ("mean", "std")
_DURATION_OPTIONAL = ("min", "max")
_GAP_KEYS = ("probability", "duration")


_TAG = "tag:yaml.org,2002:"
_NULL, _BOOL, _INT, _FLOAT, _STR = (_TAG + t for t in ("null", "bool", "int", "float", "str"))
_TEXT_TAGS = frozenset({_STR, _INT, _FLOAT, _BOOL, _TAG + "timestamp"})
_CONSTRUCTOR = SafeConstructor()
_QUOTED_NAME = re.compile(r"'([A-Za-z0-9_.\-]+)'")


@dataclass(frozen=True)
class FileIssue:
    """One problem in a procedure file.

    Parameters
    ----------
    file : str
        The file as named by the caller (``"<string>"`` for text).
    line, column : int or None
        1-based position of the offending YAML node, or None when the problem concerns
        the whole file (missing, unreadable, empty).
    message : str
        What is wrong, naming the thing, what was expected and what was found.
    """

    file: str
    line: int | None
    column: int | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.message}"


class ProcedureFileError(ProcedureError):
    """A procedure file cannot be read; ``issues`` lists every problem found, by line.

    ``str(error)`` is one ``path:line:col: message`` per issue.
    """

    def __init__(self, issues: Iterable[FileIssue]) -> None:
        self.issues: tuple[FileIssue, ...] = tuple(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))

    def __reduce__(self) -> tuple[type[ProcedureFileError], tuple[tuple[FileIssue, ...]]]:
        return type(self), (self.issues,)


# --------------------------------------------------------------------------- reading


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
    reader = _Reader(filename)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        reader.report_mark(error.problem_mark or error.context_mark, _yaml_message(error))
        raise reader.error() from None
    except yaml.YAMLError as error:  # ReaderError: a character YAML does not allow
        reader.report_yaml_reader_error(text, error)
        raise reader.error() from None
    if root is None:
        keys = ", ".join(_TOP_REQUIRED)
        reader.issues.append(
            FileIssue(filename, None, None, f"the file is empty; expected a mapping with {keys}")
        )
        raise reader.error()
    procedure = reader.procedure(root)
    if procedure is None or reader.issues:
        raise reader.error()
    return procedure


def _yaml_message(error: yaml.MarkedYAMLError) -> str:
    problem = error.problem or "invalid YAML"
    context = error.context or ""
    if error.context_mark is not None and error.context_mark is not error.problem_mark:
        context += f" (line {error.context_mark.line + 1})"
    if context.startswith("while"):  # "while parsing a flow mapping": the problem comes first
        return f"YAML syntax error: {problem}, {context}"
    return (
        f"YAML syntax error: {context}, {problem}" if context else f"YAML syntax error: {problem}"
    )


class _Entry(NamedTuple):
    key: ScalarNode
    value: Node


def _describe(node: Node) -> str:
    """Say what a node is, for "expected X, got Y" messages."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag == _NULL:
        return "nothing (null)"
    text = str(node.value)
    shown = text if len(text) <= 40 else text[:37] + "..."
    if node.tag == _BOOL:
        return f"the boolean {shown}"
    if node.tag in (_INT, _FLOAT):
        return f"the number {shown}"
    if node.tag == _STR:
        return f"the text {shown!r}"
    return f"a value tagged {node.tag} ({shown!r})"


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL


def _hint(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


class _Reader:
    """Walks the composed YAML nodes, collecting issues; private to this module."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.issues: list[FileIssue] = []

    # -- reporting

    def report(self, node: Node, message: str) -> None:
        self.report_mark(node.start_mark, message)

    def report_mark(self, mark: yaml.Mark | None, message: str) -> None:
        line = None if mark is None else mark.line + 1
        column = None if mark is None else mark.column + 1
        self.issues.append(FileIssue(self.filename, line, column, message))

    def report_yaml_reader_error(self, text: str, error: yaml.YAMLError) -> None:
        position = getattr(error, "position", None)
        character = getattr(error, "character", None)
        if isinstance(position, int) and isinstance(character, str | int):
            code = ord(character) if isinstance(character, str) else character
            line = text.count("\n", 0, position) + 1
            column = position - (text.rfind("\n", 0, position) + 1) + 1
            message = f"character U+{code:04X} is not allowed in YAML (binary data?)"
            self.issues.append(FileIssue(self.filename, line, column, message))
        else:
            self.issues.append(FileIssue(self.filename, None, None, f"invalid YAML: {error}"))

    def error(self) -> ProcedureFileError:
        ordered = sorted(self.issues, key=lambda i: (i.line or 0, i.column or 0))
        return ProcedureFileError(ordered)

    # -- generic node readers

    def mapping(
        self,
        node: Node,
        what: str,
        *,
        required: Sequence[str] = (),
        optional: Sequence[str] | None = (),
    ) -> dict[str, _Entry] | None:
        """Entries of a mapping node by key; ``optional=None`` accepts any key."""
        if not isinstance(node, MappingNode):
            self.report(node, f"{what} must be a mapping, got {_describe(node)}")
            return None
        allowed = None if optional is None else (*required, *optional)
        entries: dict[str, _Entry] = {}
        seen: dict[str, ScalarNode] = {}
        unknown: list[ScalarNode] = []
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _NULL:
                self.report(key_node, f"keys of {what} must be names, got {_describe(key_node)}")
                continue
            key = str(key_node.value)
            if key in seen:
                self.report(
                    key_node,
                    f"duplicate key {key!r} in {what} (first on line {_line(seen[key])});"
                    " YAML would silently keep only the last one",
                )
                continue
            seen[key] = key_node
            if allowed is not None and key not in allowed:
                unknown.append(key_node)
            else:
                entries[key] = _Entry(key_node, value_node)
        absent = [key for key in (allowed or ()) if key not in seen]
        suggested: set[str] = set()
        for key_node in unknown:
            key = str(key_node.value)
            close = difflib.get_close_matches(key, absent, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            suggested.update(close)
            listed = ", ".join(allowed or ())
            self.report(key_node, f"unknown key {key!r} in {what}{hint}; allowed keys: {listed}")
        for key in required:
            if key not in seen and key not in suggested:
                self.report(node, f"{what} is missing the required key {key!r}")
        return entries

    def text(self, node: Node, what: str, *, blank_ok: bool = True) -> str | None:
        """A scalar as text; unquoted numbers and booleans keep their written form."""
        if not isinstance(node, ScalarNode) or node.tag not in _TEXT_TAGS:
            self.report(node, f"{what} must be text, got {_describe(node)}")
            return None
        value = str(node.value)
        if not blank_ok and not value.strip():
            self.report(node, f"{what} must not be blank")
            return None
        return value

    def optional_text(self, entries: Mapping[str, _Entry], key: str, what: str) -> str | None:
        entry = entries.get(key)
        if entry is None or _is_null(entry.value):
            return None
        return self.text(entry.value, what)

    def number(self, node: Node, what: str) -> float | None:
        """A number; unquoted text such as ``1e-3`` that Python reads as a float is accepted."""
        value: float | None = None
        if isinstance(node, ScalarNode):
            try:
                if node.tag == _INT:
                    value = float(_CONSTRUCTOR.construct_yaml_int(node))
                elif node.tag == _FLOAT:
                    value = float(_CONSTRUCTOR.construct_yaml_float(node))
                elif node.tag == _STR and node.style is None:
                    value = float(str(node.value))
            except OverflowError:
                self.report(node, f"{what} is too large: {_describe(node)}")
                return None
            except ValueError:
                value = None
        if value is None:
            self.report(node, f"{what} must be a number, got {_describe(node)}")
        return value

    def flag(self, node: Node, what: str) -> bool | None:
        if isinstance(node, ScalarNode) and node.tag == _BOOL:
            return bool(_CONSTRUCTOR.construct_yaml_bool(node))
        self.report(node, f"{what} must be true or false, got {_describe(node)}")
        return None

    # -- the document

    def procedure(self, root: Node) -> Procedure | None:
        if not isinstance(root, MappingNode):
            keys = ", ".join(_TOP_REQUIRED)
            self.report(
                root, f"a procedure file must be a mapping with {keys}; got {_describe(root)}"
            )
            return None
        top = self.mapping(root, "the procedure", required=_TOP_REQUIRED, optional=_TOP_OPTIONAL)
        if top is None:
            return None
        if "format_version" in top:
            self.format_version(top["format_version"].value)
        procedure_id = self.required_text(top, "id", "procedure id")
        name = self.required_text(top, "name", "procedure name")
        description = self.optional_text(top, "description", "procedure description") or ""
        source = self.optional_text(top, "source", "procedure source") or ""
        graph = _Graph(root)
        steps = self.steps(top["steps"].value, graph) if "steps" in top else None
        transitions = self.transitions(top["transitions"], graph) if "transitions" in top else None
        precedence = self.precedence(top["precedence"], graph) if "precedence" in top else ()
        gap: GapModel | None = GapModel()
        if "gap" in top and not _is_null(top["gap"].value):
            gap = self.gap(top["gap"].value)
        if steps is not None and transitions is not None:
            self.reachability(graph, transitions)
        if precedence is not None:
            self.precedence_cycles(graph, precedence)
        if (
            self.issues
            or procedure_id is None
            or name is None
            or steps is None
            or transitions is None
            or precedence is None
            or gap is None
        ):
            return None
        try:
            return Procedure(
                id=procedure_id,
                name=name,
                steps=tuple(steps),
                transitions=transitions,
                description=description,
                precedence=precedence,
                gap=gap,
                source=source,
            )
        except ProcedureError as error:  # a model rule this reader does not map to a line
            self.report(root, str(error))
            return None

    def format_version(self, node: Node) -> None:
        if isinstance(node, ScalarNode) and node.tag == _INT and node.value == str(FORMAT_VERSION):
            return
        self.report(
            node,
            f"unknown format_version: {_describe(node)}; this version of PrISM reads"
            f" format_version {FORMAT_VERSION}",
        )

    def required_text(self, entries: Mapping[str, _Entry], key: str, what: str) -> str | None:
        if key not in entries:
            return None  # reported as a missing key
        return self.text(entries[key].value, what, blank_ok=False)

    # -- steps

    def steps(self, node: Node, graph: _Graph) -> list[Step] | None:
        if not isinstance(node, SequenceNode):
            self.report(node, f"'steps' must be a list of steps, got {_describe(node)}")
            graph.ids_complete = graph.sound = False
            return None
        if not node.value:
            self.report(node, "'steps' is empty; a procedure needs at least one step")
            graph.sound = False
            return None
        steps = [self.step(item, index, graph) for index, item in enumerate(node.value)]
        valid = [step for step in steps if step is not None]
        return valid if len(valid) == len(steps) else None

    def step(self, node: Node, index: int, graph: _Graph) -> Step | None:
        label = _step_label(node, index)
        entries = self.mapping(node, label, required=_STEP_REQUIRED, optional=_STEP_OPTIONAL)
        if entries is None:
            graph.ids_complete = graph.sound = False
            return None
        step_id = self.step_id(entries["id"].value, node, graph) if "id" in entries else None
        if step_id is None:
            graph.sound = False
            if "id" not in entries:
                graph.ids_complete = False
        name = self.required_text(entries, "name", f"name of {label}")
        description = self.optional_text(entries, "description", f"description of {label}") or ""
        duration = (
            self.duration(entries["duration"].value, label) if "duration" in entries else None
        )
        repeatable: bool | None = False
        if "repeatable" in entries and not _is_null(entries["repeatable"].value):
            repeatable = self.flag(entries["repeatable"].value, f"'repeatable' of {label}")
        notes: StepNotes | None = StepNotes()
        if "notes" in entries and not _is_null(entries["notes"].value):
            notes = self.notes(entries["notes"].value, label)
        if (
            step_id is None
            or name is None
            or duration is None
            or repeatable is None
            or notes is None
        ):
            return None
        return Step(step_id, name, description, duration, repeatable=repeatable, notes=notes)

    def step_id(self, node: Node, step_node: Node, graph: _Graph) -> str | None:
        """The step's id if valid; also records it (even if malformed) for references."""
        step_id = self.text(node, "step id", blank_ok=False)
        if step_id is None:
            graph.ids_complete = False
            return None
        if step_id in graph.steps:
            first = _line(graph.steps[step_id])
            self.report(node, f"duplicate step id {step_id!r} (first defined on line {first})")
            return None
        if step_id in (START, END):
            self.report(node, f"step id {step_id!r} is reserved for the graph's {step_id}")
            return None
        graph.steps[step_id] = step_node
        if not STEP_ID_PATTERN.match(step_id):
            self.report(
                node, f"invalid step id {step_id!r}: use only letters, digits, '_', '.' and '-'"
            )
            return None
        return step_id

    def duration(self, node: Node, owner: str) -> DurationStats | None:
        entries = self.mapping(
            node,
            f"the duration of {owner}",
            required=_DURATION_REQUIRED,
            optional=_DURATION_OPTIONAL,
        )
        if entries is None:
            return None
        values: dict[str, float | None] = {}
        for key, entry in entries.items():
            if key in _DURATION_OPTIONAL and _is_null(entry.value):
                continue
            values[key] = self.number(entry.value, f"{owner}: duration {key} (seconds)")
        mean, std = values.get("mean"), values.get("std")
        if mean is None or std is None or None in values.values():
            return None
        stats = DurationStats(mean=mean, std=std, min=values.get("min"), max=values.get("max"))
        problems = stats.problems()
        for problem in problems:
            field = re.match(r"duration (mean|std|min|max)\b", problem)
            at = entries[field.group(1)].value if field and field.group(1) in entries else node
            self.report(at, f"{owner}: {problem}")
        return None if problems else stats

    def notes(self, node: Node, label: str) -> StepNotes | None:
        entries = self.mapping(node, f"the notes of {label}", optional=_NOTES_KEYS)
        if entries is None:
            return None
        flags: dict[str, bool | None] = {}
        for key in ("time_critical", "must_not_skip"):
            if key in entries and not _is_null(entries[key].value):
                flags[key] = self.flag(entries[key].value, f"{key!r} in the notes of {label}")
        reminder = self.optional_text(entries, "reminder", f"reminder of {label}")
        given = "reminder" in entries and not _is_null(entries["reminder"].value)
        if None in flags.values() or (given and reminder is None):
            return None
        return StepNotes(
            time_critical=bool(flags.get("time_critical", False)),
            must_not_skip=bool(flags.get("must_not_skip", False)),
            reminder=reminder,
        )

    # -- transitions, precedence, gap

    def transitions(self, entry: _Entry, graph: _Graph) -> dict[str, dict[str, float]] | None:
        graph.transitions_key = entry.key
        entries = self.mapping(entry.value, "'transitions'", optional=None)
        if entries is None:
            graph.sound = False
            return None
        rows: dict[str, dict[str, float]] = {}
        for src, (src_node, row_node) in entries.items():
            if src == END:
                self.report(
                    src_node, "'end' cannot have outgoing transitions: it ends the procedure"
                )
                graph.sound = False
                continue
            if src != START and src not in graph.steps:
                graph.sound = False
                if graph.ids_complete:
                    hint = _known_hint(src, graph.steps)
                    self.report(src_node, f"transitions from unknown step {src!r}{hint}")
            row = self.transition_row(src, src_node, row_node, graph)
            if row is not None and (src == START or src in graph.steps):
                rows[src] = row
        if START not in entries:
            self.report(
                entry.key,
                "'transitions' has no row for 'start'; add one, e.g. 'start: {first_step: 1.0}'",
            )
        for step_id, step_node in graph.steps.items():
            if step_id not in entries:
                self.report(
                    step_node,
                    f"step {step_id!r} has no outgoing transitions; add a row '{step_id}: {{...}}'"
                    " under 'transitions' (with 'end' after the last step)",
                )
        return rows

    def transition_row(
        self, src: str, src_node: ScalarNode, node: Node, graph: _Graph
    ) -> dict[str, float] | None:
        entries = self.mapping(node, f"the transitions from {src!r}", optional=None)
        if entries is None:
            graph.sound = False
            return None
        row: dict[str, float] = {}
        complete = True
        for dst, (dst_node, value_node) in entries.items():
            if dst == START:
                self.report(dst_node, f"transition {src!r} -> 'start': nothing leads back to start")
                graph.sound = False
            elif dst != END and dst not in graph.steps:
                graph.sound = False
                if graph.ids_complete:
                    hint = _known_hint(dst, graph.steps)
                    self.report(
                        dst_node, f"transition {src!r} -> {dst!r}: unknown step {dst!r}{hint}"
                    )
            what = f"probability of {src!r} -> {dst!r}"
            probability = self.number(value_node, what)
            if probability is None:
                complete = graph.sound = False
            elif not (math.isfinite(probability) and 0.0 <= probability <= 1.0):
                self.report(value_node, f"{what} must be in [0, 1], got {probability}")
                complete = graph.sound = False
            else:
                row[dst] = probability
        total = math.fsum(row.values())
        complete = complete and len(entries) == len(node.value)  # no duplicate or bad keys
        if complete and abs(total - 1.0) > PROBABILITY_TOLERANCE:
            self.report(
                src_node,
                f"outgoing probabilities of {src!r} sum to {total:.6g}, expected 1"
                f" (within {PROBABILITY_TOLERANCE:g})",
            )
        return row

    def precedence(self, entry: _Entry, graph: _Graph) -> tuple[tuple[str, str], ...] | None:
        node = entry.value
        if _is_null(node):
            return ()
        if not isinstance(node, SequenceNode):
            self.report(
                node, f"'precedence' must be a list of [before, after] pairs, got {_describe(node)}"
            )
            return None
        pairs: list[tuple[str, str]] = []
        for item in node.value:
            if not (isinstance(item, SequenceNode) and len(item.value) == 2):
                self.report(
                    item,
                    f"a precedence entry must be a pair [before, after], got {_describe(item)}",
                )
                continue
            before, after = (self.text(part, "a step id in 'precedence'") for part in item.value)
            for name, part in zip((before, after), item.value, strict=True):
                if name is not None and name not in graph.steps and graph.ids_complete:
                    hint = _known_hint(name, graph.steps)
                    self.report(part, f"precedence names unknown step {name!r}{hint}")
            if before is not None and after is not None:
                pairs.append((before, after))
                graph.pairs.append((before, item))
        if len(pairs) != len(node.value):
            return None
        if any(name not in graph.steps for pair in pairs for name in pair):
            return None
        return tuple(pairs)

    def gap(self, node: Node) -> GapModel | None:
        entries = self.mapping(node, "'gap'", optional=_GAP_KEYS)
        if entries is None:
            return None
        default = GapModel()
        probability: float | None = default.probability
        if "probability" in entries:
            at = entries["probability"].value
            probability = self.number(at, "gap probability")
            if probability is not None and not (
                math.isfinite(probability) and 0.0 <= probability < 1.0
            ):
                self.report(at, f"gap probability must be in [0, 1), got {probability}")
                probability = None
        duration: DurationStats | None = default.duration
        if "duration" in entries:
            duration = self.duration(entries["duration"].value, "gap")
        if probability is None or duration is None:
            return None
        return GapModel(probability=probability, duration=duration)

    # -- graph-level checks: the model's, pointed at the most useful line

    def reachability(self, graph: _Graph, transitions: Mapping[str, Mapping[str, float]]) -> None:
        if not graph.sound or not transitions.get(START):
            return
        # Steps with a missing or empty row were reported already; let them end the
        # procedure here so the mistake is not reported again as "end is unreachable".
        closed = {**transitions, **{s: {END: 1.0} for s in graph.steps if not transitions.get(s)}}
        for problem in reachability_problems(list(graph.steps), closed):
            names = [n for n in _QUOTED_NAME.findall(problem) if n in graph.steps]
            at = graph.steps[names[0]] if names else graph.transitions_key
            self.report(at, problem)

    def precedence_cycles(self, graph: _Graph, pairs: Sequence[tuple[str, str]]) -> None:
        for problem in precedence_cycle_problems(pairs):
            names = _QUOTED_NAME.findall(problem)
            at = next((item for before, item in graph.pairs if before in names), graph.root)
            self.report(at, problem)


class _Graph:
    """Where steps and precedence pairs are defined, to point graph problems at lines."""

    def __init__(self, root: MappingNode) -> None:
        self.root = root
        self.steps: dict[str, Node] = {}
        """Step id -> the step's mapping node, for every id read (valid or not)."""
        self.ids_complete = True
        """False when some step's id could not be read: "unknown step" would mislead."""
        self.sound = True
        """False when steps or transitions are malformed: graph checks would mislead."""
        self.pairs: list[tuple[str, Node]] = []
        self.transitions_key: Node = root


def _step_label(node: Node, index: int) -> str:
    if isinstance(node, MappingNode):
        for key, value in node.value:
            if (
                isinstance(key, ScalarNode)
                and key.value == "id"
                and isinstance(value, ScalarNode)
                and STEP_ID_PATTERN.match(str(value.value))
            ):
                return f"step {value.value!r}"
    return f"step #{index + 1}"


def _known_hint(name: str, known: Mapping[str, Any]) -> str:
    hint = _hint(name, known)
    if hint or not known:
        return hint
    listed = ", ".join(list(known)[:20]) + (", ..." if len(known) > 20 else "")
    return f"; known steps: {listed}"

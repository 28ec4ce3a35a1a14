"""The procedure file's schema as pydantic models (``docs/procedure-format.md``).

The models say which keys a file has, which are required, and what type each value is;
the consistency rules of the graph (valid step ids, durations, probabilities, rows that
sum to 1, reachability, precedence) are :mod:`prism.procedure.checks`'s and run after.

Values come from :func:`prism.procedure.yaml_tree.read_tree`: mappings, lists, ``None``
and YAML scalar nodes, so that the rules can look at how a value was written. Plain
Python values are accepted too.

- **Text** is any scalar in its written form (``name: 2024`` is the name "2024").
- **Numbers** are unquoted: ``6``, ``6.0``, ``1e-3``; ``"6"`` and ``true`` are not numbers.
- **Flags** are YAML booleans (``true``, ``yes``, ...).

Each rule fails with a :class:`pydantic_core.PydanticCustomError` whose message
continues the name of the value: "must be a number, got the text 'abc'". The file reader
(:mod:`prism.procedure.io`) names the value and points at its line.
"""

from __future__ import annotations

from types import UnionType
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter
from pydantic import ValidationError as _ValidationError
from pydantic_core import PydanticCustomError
from yaml.constructor import SafeConstructor
from yaml.nodes import ScalarNode

from prism.procedure.checks import Where
from prism.procedure.model import DurationStats, GapModel, Procedure, Step, StepNotes
from prism.procedure.yaml_tree import (
    BOOL_TAG,
    FLOAT_TAG,
    INT_TAG,
    STR_TAG,
    TEXT_TAGS,
    describe,
)

__all__ = [
    "FORMAT_VERSION",
    "DurationFile",
    "GapFile",
    "Name",
    "NotesFile",
    "Number",
    "Pair",
    "ProcedureFile",
    "StepFile",
    "Text",
    "is_mapping",
    "section_at",
    "valid",
]

FORMAT_VERSION = 1
"""Version of the procedure file format written (and the only one read)."""

_CONSTRUCTOR = SafeConstructor()
T = TypeVar("T")


def _fail(kind: str, rule: str, value: Any) -> PydanticCustomError:
    return PydanticCustomError(kind, rule + ", got {found}", {"found": describe(value)})


def _text(value: Any) -> str:
    if isinstance(value, ScalarNode) and value.tag in TEXT_TAGS:
        return str(value.value)
    if isinstance(value, str):
        return value
    raise _fail("text", "must be text", value)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "must not be blank")
    return value


def _number(value: Any) -> float:
    number: float | None = None
    if isinstance(value, ScalarNode):
        try:
            if value.tag == INT_TAG:
                number = float(_CONSTRUCTOR.construct_yaml_int(value))
            elif value.tag == FLOAT_TAG:
                number = float(_CONSTRUCTOR.construct_yaml_float(value))
            elif value.tag == STR_TAG and value.style is None:  # YAML 1.1 reads 1e-3 as text
                number = float(str(value.value))
        except OverflowError:
            raise PydanticCustomError(
                "too_large", "is too large: {found}", {"found": describe(value)}
            ) from None
        except ValueError:
            number = None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    if number is None:
        raise _fail("number", "must be a number", value)
    return number


def _flag(value: Any) -> bool:
    if isinstance(value, ScalarNode) and value.tag == BOOL_TAG:
        return bool(_CONSTRUCTOR.construct_yaml_bool(value))
    if isinstance(value, bool):
        return value
    raise _fail("flag", "must be true or false", value)


def _format_version(value: Any) -> int:
    if isinstance(value, ScalarNode):
        known = value.tag == INT_TAG and value.value == str(FORMAT_VERSION)
    else:
        known = type(value) is int and value == FORMAT_VERSION
    if known:
        return FORMAT_VERSION
    raise PydanticCustomError(
        "format_version",
        "unknown format_version: {found}; this version of PrISM reads format_version {version}",
        {"found": describe(value), "version": FORMAT_VERSION},
    )


def _pair(value: Any) -> Any:
    if isinstance(value, list) and len(value) == 2:
        return value
    raise _fail("pair", "must be a pair [before, after]", value)


Text = Annotated[str, BeforeValidator(_text)]
"""Any scalar, as written."""
Name = Annotated[str, BeforeValidator(_text), AfterValidator(_not_blank)]
"""Text that is not blank."""
Number = Annotated[float, BeforeValidator(_number)]
"""An unquoted number (seconds or a probability)."""
Flag = Annotated[bool, BeforeValidator(_flag)]
"""A YAML boolean."""
FormatVersion = Annotated[int, BeforeValidator(_format_version)]
Pair = Annotated[list[Text], BeforeValidator(_pair)]
"""A precedence pair ``[before, after]`` of step ids."""


class _Section(BaseModel):
    """A mapping of the file: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DurationFile(_Section):
    """``{mean, std, min, max}`` in seconds."""

    mean: Number
    std: Number
    min: Number | None = None
    max: Number | None = None

    def to_model(self) -> DurationStats:
        """The model's :class:`~prism.procedure.model.DurationStats`."""
        return DurationStats(mean=self.mean, std=self.std, min=self.min, max=self.max)


class NotesFile(_Section):
    """A step's ``notes``; a missing or null key is off."""

    time_critical: Flag | None = None
    must_not_skip: Flag | None = None
    reminder: Text | None = None

    def to_model(self) -> StepNotes:
        """The model's :class:`~prism.procedure.model.StepNotes`."""
        return StepNotes(bool(self.time_critical), bool(self.must_not_skip), self.reminder)


class StepFile(_Section):
    """One item of ``steps``."""

    id: Name
    name: Name
    duration: DurationFile
    description: Text | None = None
    repeatable: Flag | None = None
    notes: NotesFile | None = None

    def to_model(self) -> Step:
        """The model's :class:`~prism.procedure.model.Step`."""
        notes = self.notes.to_model() if self.notes is not None else StepNotes()
        return Step(
            self.id,
            self.name,
            self.description or "",
            self.duration.to_model(),
            repeatable=bool(self.repeatable),
            notes=notes,
        )


def _default_gap_duration() -> DurationFile:
    default = GapModel().duration
    return DurationFile(mean=default.mean, std=default.std)


class GapFile(_Section):
    """``gap``; each missing key takes :class:`~prism.procedure.model.GapModel`'s default."""

    probability: Number = GapModel().probability
    duration: DurationFile = Field(default_factory=_default_gap_duration)

    def to_model(self) -> GapModel:
        """The model's :class:`~prism.procedure.model.GapModel`."""
        return GapModel(probability=self.probability, duration=self.duration.to_model())


class ProcedureFile(_Section):
    """A whole procedure file."""

    id: Name
    name: Name
    steps: list[StepFile]
    transitions: dict[str, dict[str, Number]]
    format_version: FormatVersion = FORMAT_VERSION
    description: Text | None = None
    source: Text | None = None
    precedence: list[Pair] | None = None
    gap: GapFile | None = None

    def to_procedure(self) -> Procedure:
        """The :class:`~prism.procedure.model.Procedure` (which runs the graph checks).

        Raises
        ------
        ProcedureError
            If the procedure breaks a rule of :mod:`prism.procedure.checks`.
        """
        return Procedure(
            id=self.id,
            name=self.name,
            steps=tuple(step.to_model() for step in self.steps),
            transitions={src: dict(row) for src, row in self.transitions.items()},
            description=self.description or "",
            precedence=tuple((before, after) for before, after in self.precedence or ()),
            gap=self.gap.to_model() if self.gap is not None else GapModel(),
            source=self.source or "",
        )


def _strip(annotation: Any) -> Any:
    """``Annotated[X, ...]`` and ``X | None`` -> ``X``."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, UnionType):
            annotation = next(a for a in get_args(annotation) if a is not type(None))
        else:
            return annotation


def _annotation_at(where: Where) -> Any:
    """The schema's type of the value at ``where`` (None where the schema has no value)."""
    current: Any = ProcedureFile
    for key in where:
        current = _strip(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(key))
            if field is None:
                return None
            current = field.annotation
        elif get_origin(current) is list and isinstance(key, int):
            current = get_args(current)[0]
        elif get_origin(current) is dict and isinstance(key, str):
            current = get_args(current)[1]
        else:
            return None
    return _strip(current)


def section_at(where: Where) -> type[BaseModel] | None:
    """The model of the mapping at ``where`` in a file (None if there is no such model).

    >>> section_at(("steps", 0, "duration")).__name__
    'DurationFile'
    """
    current = _annotation_at(where)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def is_mapping(where: Where) -> bool:
    """Whether the schema has a mapping at ``where`` (a section or a transition row).

    >>> is_mapping(("transitions", "boil")), is_mapping(("transitions", "boil", "steep"))
    (True, False)
    """
    return section_at(where) is not None or get_origin(_annotation_at(where)) is dict


def valid(adapter: TypeAdapter[T], value: Any) -> T | None:
    """``value`` validated by ``adapter``, or None if it breaks a rule."""
    try:
        return adapter.validate_python(value)
    except _ValidationError:
        return None

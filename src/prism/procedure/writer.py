"""Write procedures in the YAML file format (``docs/procedure-format.md``).

The output is stable and readable (steps in block style, durations and transition rows
on one line each) and reads back to the same :class:`~prism.procedure.model.Procedure`
with :func:`prism.procedure.io.parse_procedure`. Probabilities are rounded to 4 decimals
with each row still summing to 1; durations to 1 ms.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from prism.procedure.model import START, DurationStats, Procedure, Step
from prism.procedure.schema import FORMAT_VERSION

__all__ = ["FORMAT_VERSION", "dump_procedure", "save_procedure"]

_PROBABILITY_DECIMALS = 4
_SECONDS_DECIMALS = 3
_TAG = "tag:yaml.org,2002:"
_STR = _TAG + "str"


class _FlowMap(dict[str, Any]):
    """A mapping written on one line: ``{mean: 6.0, std: 2.0}``."""


class _FlowList(list[str]):
    """A list written on one line: ``[grind_beans, brew_coffee]``."""


class _Dumper(yaml.SafeDumper):
    """Safe dumper that indents block lists and never writes anchors."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_flow_map(dumper: _Dumper, data: _FlowMap) -> MappingNode:
    return dumper.represent_mapping(_TAG + "map", data, flow_style=True)


def _represent_flow_list(dumper: _Dumper, data: _FlowList) -> SequenceNode:
    return dumper.represent_sequence(_TAG + "seq", data, flow_style=True)


def _represent_str(dumper: _Dumper, data: str) -> ScalarNode:
    # PyYAML mis-writes some line-break characters in quoted plain-unicode styles; force
    # double quotes (which escape them) whenever one occurs.
    if any(ch in "\x85\u2028\u2029" for ch in data):
        return dumper.represent_scalar(_STR, data, style='"')
    return dumper.represent_str(data)


_Dumper.add_representer(_FlowMap, _represent_flow_map)
_Dumper.add_representer(_FlowList, _represent_flow_list)
_Dumper.add_representer(str, _represent_str)


def dump_procedure(procedure: Procedure) -> str:
    """Write a procedure in the file format.

    Steps are written in block style, durations, transition rows and precedence pairs on
    one line each. Durations are rounded to 1 ms and probabilities to 4 decimals; each
    transition row is corrected so that it still sums to exactly 1 (the rounding residue
    goes to its largest entry, and positive probabilities stay positive). Default values
    (empty descriptions, ``repeatable: false``, empty notes, no precedence) are omitted.

    Parameters
    ----------
    procedure : Procedure
        A valid procedure.

    Returns
    -------
    str
        YAML text; ``parse_procedure(dump_procedure(p)) == p`` when ``p``'s numbers are
        already rounded as above.
    """
    header: dict[str, Any] = {"format_version": FORMAT_VERSION, "id": str(procedure.id)}
    header["name"] = str(procedure.name)
    if procedure.description:
        header["description"] = str(procedure.description)
    if procedure.source:
        header["source"] = str(procedure.source)
    order = [START, *procedure.step_ids]
    order += [src for src in procedure.transitions if src not in order]
    rows = {
        str(src): _FlowMap(_round_row(procedure.transitions[src]))
        for src in order
        if src in procedure.transitions
    }
    sections: list[dict[str, Any]] = [
        header,
        {"steps": [_step_document(step) for step in procedure.steps]},
        {"transitions": rows},
    ]
    if procedure.precedence:
        pairs = [_FlowList([str(before), str(after)]) for before, after in procedure.precedence]
        sections.append({"precedence": pairs})
    gap_probability = round(float(procedure.gap.probability), _PROBABILITY_DECIMALS)
    if gap_probability >= 1.0:  # keep it < 1 after rounding
        gap_probability = 1.0 - 10.0**-_PROBABILITY_DECIMALS
    gap = {"probability": gap_probability, "duration": _duration_document(procedure.gap.duration)}
    sections.append({"gap": gap})
    return "\n".join(
        yaml.dump(section, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
        for section in sections
    )


def save_procedure(procedure: Procedure, path: str | Path) -> None:
    """Write ``dump_procedure(procedure)`` to ``path`` (UTF-8), replacing the file."""
    Path(path).write_text(dump_procedure(procedure), encoding="utf-8")


def _step_document(step: Step) -> dict[str, Any]:
    document: dict[str, Any] = {"id": str(step.id), "name": str(step.name)}
    if step.description:
        document["description"] = str(step.description)
    document["duration"] = _duration_document(step.duration)
    if step.repeatable:
        document["repeatable"] = True
    notes: dict[str, Any] = {}
    if step.notes.time_critical:
        notes["time_critical"] = True
    if step.notes.must_not_skip:
        notes["must_not_skip"] = True
    if step.notes.reminder is not None:
        notes["reminder"] = str(step.notes.reminder)
    if notes:
        document["notes"] = notes
    return document


def _duration_document(duration: DurationStats) -> _FlowMap:
    document = _FlowMap(mean=_round_seconds(duration.mean), std=_round_seconds(duration.std))
    if duration.min is not None:
        document["min"] = _round_seconds(duration.min)
    if duration.max is not None:
        document["max"] = _round_seconds(duration.max)
    return document


def _round_seconds(seconds: float) -> float:
    """Round to 1 ms, keeping 3 significant digits of positive values below 1 ms."""
    rounded = round(float(seconds), _SECONDS_DECIMALS)
    if rounded == 0.0 and seconds != 0.0:
        rounded = float(f"{float(seconds):.3g}")
    return rounded


def _round_row(row: Mapping[str, float]) -> dict[str, float]:
    """Round a row to 4 decimals so that it sums to exactly 1 (in units of 1e-4)."""
    scale = 10**_PROBABILITY_DECIMALS
    units = {str(dst): round(float(p) * scale) for dst, p in row.items()}
    for dst, p in row.items():
        if p > 0 and units[str(dst)] == 0:
            units[str(dst)] = 1  # a possible transition must stay possible
    largest = max(units, key=units.__getitem__)
    units[largest] += scale - sum(units.values())
    return {dst: count / scale for dst, count in units.items()}

"""CaptainCook4D: recipes (task graphs) and step-annotated cooking recordings.

Expected layout of ``data_dir`` (as in the public CaptainCook4D annotations)::

    complete_step_annotations.json  recording_id -> {activity_name, steps: [...]}
    task_graphs/<slug>.json         {"steps": {"0": "START", ..., "N": "END"},
                                     "edges": [[a, b], ...]}
    video_information.csv           optional: recording_id, ..., duration(sec)

How annotations are tied to task graphs
---------------------------------------
- A recording belongs to the recipe whose task-graph file stem equals its normalised
  ``activity_name`` (lower case, letters and digits only: ``"Scrambled Eggs"`` ->
  ``scrambledeggs``). Recordings of recipes without a task graph are reported in
  :attr:`CaptainCookData.unmatched_recordings`, never silently dropped.
- The annotations number steps globally across recipes while each task graph numbers its
  nodes from 1, so steps are matched by **description** (exactly, then after the same
  normalisation). An annotation whose description matches no node falls back to the node
  that other annotations with the same numeric ``step_id`` matched (recorded in
  :attr:`CaptainCookRecipe.warnings`); failing that, a :class:`DataError` is raised.
- Some task graphs hold the same description twice (e.g. "Stir the contents" before and
  after a second microwave round). Their occurrences in a recording are assigned to those
  nodes in start-time order following the graph's topological order; occurrences beyond
  the number of nodes are repeats of the last one.
- ``start_time = -1`` marks a skipped step. A step a recording does not mention at all is
  treated as skipped and noted in the recipe's warnings, as is an exact duplicate row.
- A session lasts ``duration(sec)`` from ``video_information.csv`` when available (never
  less than the last annotated end), otherwise the last end plus :data:`END_MARGIN_S`.

Step ids are derived from task-graph descriptions: ``"Chop-Chop 1 tsp cilantro"`` gives the
name ``"Chop 1 tsp cilantro"`` and the id ``chop_1_tsp_cilantro`` (see
:func:`step_name_from_description`); repeated descriptions get ``_2``, ``_3`` suffixes in
topological order, so ids are stable for a given task graph.
"""

from __future__ import annotations

import csv
import heapq
import json
import math
import re
import warnings
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any, TypeGuard

from prism.data.annotation_files import slugify
from prism.data.annotations import AnnotatedSession, StepSegment
from prism.errors import DataError
from prism.procedure.learn import learn_procedure
from prism.procedure.model import DurationStats, Procedure, Step, StepNotes

__all__ = [
    "ANNOTATIONS_FILE",
    "END_MARGIN_S",
    "TASK_GRAPH_DIR",
    "VIDEO_INFO_FILE",
    "CaptainCookData",
    "CaptainCookRecipe",
    "CaptainCookWarning",
    "learn_from_captaincook",
    "load_captaincook4d",
    "normalise_name",
    "read_captaincook4d",
    "step_name_from_description",
]

ANNOTATIONS_FILE = "complete_step_annotations.json"
TASK_GRAPH_DIR = "task_graphs"
VIDEO_INFO_FILE = "video_information.csv"
END_MARGIN_S = 2.0
"""Seconds added after the last annotated end when a recording's length is unknown."""

_NAME_LENGTH = 90
_ID_LENGTH = 40
_DUPLICATE_TOLERANCE_S = 0.5


class CaptainCookWarning(UserWarning):
    """Recordings were left out because their recipe has no task graph."""


@dataclass(frozen=True)
class CaptainCookRecipe:
    """One recipe: its task graph as steps and precedence, and its annotated recordings.

    Parameters
    ----------
    slug : str
        Task-graph file stem, e.g. ``"scrambledeggs"``.
    name : str
        Recipe name as annotated, e.g. ``"Scrambled Eggs"``.
    step_ids : tuple of str
        Our step ids in task-graph node order (START/END excluded).
    step_names : tuple of str
        Short names, aligned with ``step_ids``.
    descriptions : tuple of str
        Full instructions, aligned with ``step_ids``.
    precedence : tuple of (str, str)
        ``(before, after)`` pairs from the task graph's edges (START/END excluded).
    sessions : tuple of AnnotatedSession
        One per recording, sorted by recording id; ``task`` is :attr:`procedure_id`.
    graph_step_ids : mapping of int to str
        Task-graph node number -> our step id.
    annotation_step_ids : mapping of int to tuple of str
        CaptainCook4D annotation ``step_id`` -> our step id(s) it was matched to.
    error_steps : mapping of str to tuple of str
        Recording id -> steps annotated with ``has_errors``.
    warnings : tuple of str
        Data-quality notes (unannotated steps, duplicate rows, descriptions matched by id).
    """

    slug: str
    name: str
    step_ids: tuple[str, ...]
    step_names: tuple[str, ...]
    descriptions: tuple[str, ...]
    precedence: tuple[tuple[str, str], ...]
    sessions: tuple[AnnotatedSession, ...]
    graph_step_ids: Mapping[int, str] = field(default_factory=dict)
    annotation_step_ids: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    error_steps: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def procedure_id(self) -> str:
        """Readable snake_case procedure id, e.g. ``"scrambled_eggs"``."""
        return slugify(self.name, max_length=None) or self.slug

    @property
    def recording_ids(self) -> tuple[str, ...]:
        """Recording ids of :attr:`sessions`, in order."""
        return tuple(session.session_id for session in self.sessions)

    def session(self, recording_id: str) -> AnnotatedSession:
        """The session of ``recording_id``; raises :class:`DataError` if unknown."""
        for session in self.sessions:
            if session.session_id == recording_id:
                return session
        raise DataError(f"recipe {self.slug!r} has no recording {recording_id!r}")


@dataclass(frozen=True)
class CaptainCookData:
    """Everything :func:`read_captaincook4d` found.

    Parameters
    ----------
    recipes : dict of str to CaptainCookRecipe
        By slug, sorted.
    unmatched_recordings : dict of str to str
        Recording id -> activity name, for recordings whose recipe has no task graph.
    """

    recipes: dict[str, CaptainCookRecipe]
    unmatched_recordings: dict[str, str]

    @property
    def warnings(self) -> tuple[str, ...]:
        """Every data-quality note: unmatched recordings, then each recipe's warnings."""
        notes = [
            f"recording {rid}: no task graph for activity {name!r}; skipped"
            for rid, name in self.unmatched_recordings.items()
        ]
        for slug, recipe in self.recipes.items():
            notes.extend(f"{slug}: {note}" for note in recipe.warnings)
        return tuple(notes)


def normalise_name(name: str) -> str:
    """Lower-case ``name`` and keep letters and digits only.

    Examples
    --------
    >>> normalise_name("Scrambled Eggs")
    'scrambledeggs'
    """
    return re.sub(r"[^a-z0-9]", "", name.lower())


_TRAILING_WORDS = frozenset(
    {"a", "about", "an", "and", "at", "for", "from", "in", "of", "on", "or", "so", "the"}
    | {"to", "until", "with"}
)


def _shorten(text: str, limit: int) -> str:
    text = re.split(r"(?<=[a-z0-9)])\.\s+(?=[A-Z(])", text, maxsplit=1)[0].rstrip(".")
    if len(text) > limit:
        text = re.sub(r"\s*\([^)]*\)", "", text)
    if len(text) > limit:
        comma = text.rfind(", ", 0, limit + 1)
        space = text.rfind(" ", 0, limit + 1)
        cut = comma if comma >= limit // 3 else space
        words = (text[:cut] if cut > 0 else text[:limit]).split(" ")
        while len(words) > 1 and words[-1].lower().strip(",;:") in _TRAILING_WORDS:
            words.pop()
        text = " ".join(words)
    return text.rstrip(" ,;:")


def step_name_from_description(description: str) -> tuple[str, str]:
    """Split a CaptainCook4D step description into a short name and a full instruction.

    Descriptions look like ``"<Verb>-<instruction>"``. The verb prefix (one word) is
    dropped when the instruction already contains it, and prepended otherwise; the first
    letter is capitalised. The name is the instruction's first sentence, shortened to at
    most 90 characters (parenthetical remarks dropped, then cut at a comma or word
    boundary).

    Parameters
    ----------
    description : str
        Task-graph description, e.g. ``"Chop-Chop 1 tsp cilantro"``.

    Returns
    -------
    name, instruction : str
        Short name and full instruction.

    Examples
    --------
    >>> step_name_from_description("Chop-Chop 1 tsp cilantro")
    ('Chop 1 tsp cilantro', 'Chop 1 tsp cilantro')
    >>> step_name_from_description("add-1/4 tsp salt to a bowl")[0]
    'Add 1/4 tsp salt to a bowl'
    """
    head, separator, rest = description.partition("-")
    head, rest = head.strip(), rest.strip()
    if separator and rest and head and " " not in head:
        words = re.findall(r"[a-z0-9]+", rest.lower())
        text = rest if head.lower() in words else f"{head} {rest}"
    else:
        text = description.strip()
    text = re.sub(r"\s+", " ", text)
    text = text[:1].upper() + text[1:]
    return _shorten(text, _NAME_LENGTH), text


# ---------------------------------------------------------------------------------------
# File readers (each validates its file once and names it in every error)


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot read file: {error}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(
            f"{path}:{error.lineno}: malformed JSON: {error.msg} (column {error.colno})"
        ) from None


@dataclass(frozen=True)
class _Graph:
    path: Path
    nodes: dict[int, str]  # node number -> description, START/END excluded
    edges: tuple[tuple[int, int], ...]  # START/END excluded
    order: tuple[int, ...]  # topological order of the nodes, ties by number


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _topological_order(
    path: Path, nodes: Collection[int], edges: Sequence[tuple[int, int]]
) -> tuple[int, ...]:
    """The nodes in topological order, ties by number: of the nodes whose predecessors are
    all placed, the smallest comes next. ``graphlib`` orders and finds cycles; a heap of
    its ready nodes breaks the ties (sorting each ready batch would not: a node made ready
    by the one just placed may be smaller than the rest of the batch)."""
    sorter: TopologicalSorter[int] = TopologicalSorter({node: () for node in nodes})
    for before, after in edges:
        sorter.add(after, before)
    try:
        sorter.prepare()
    except CycleError as error:
        cycle = " -> ".join(str(node) for node in error.args[1])
        raise DataError(f"{path}: the edges form a cycle ({cycle})") from None
    ready = list(sorter.get_ready())
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        node = heapq.heappop(ready)
        order.append(node)
        sorter.done(node)
        for successor in sorter.get_ready():
            heapq.heappush(ready, successor)
    return tuple(order)


def _read_graph(path: Path) -> _Graph:
    raw = _read_json(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("steps"), dict):
        raise DataError(
            f"{path}: expected an object with 'steps' (node -> description) and 'edges'"
        )
    if not isinstance(raw.get("edges"), list):
        raise DataError(f"{path}: expected 'edges' to be a list of [before, after] pairs")
    all_nodes: dict[int, str] = {}
    for key, text in raw["steps"].items():
        if not re.fullmatch(r"\d+", str(key)) or not isinstance(text, str):
            raise DataError(
                f"{path}: step {key!r}: expected a numeric node id and a description string"
            )
        all_nodes[int(key)] = text
    special = {node for node, text in all_nodes.items() if text.strip().upper() in ("START", "END")}
    if {all_nodes[n].strip().upper() for n in special} != {"START", "END"} or len(special) != 2:
        raise DataError(f"{path}: expected exactly one START and one END node")
    edges: list[tuple[int, int]] = []
    for index, edge in enumerate(raw["edges"]):
        if not (isinstance(edge, list) and len(edge) == 2 and all(_is_int(v) for v in edge)):
            raise DataError(
                f"{path}: edge {index}: expected [before, after] node numbers, got {edge!r}"
            )
        before, after = edge
        for node in (before, after):
            if node not in all_nodes:
                raise DataError(f"{path}: edge {index} {edge}: unknown node {node}")
        if before not in special and after not in special:
            edges.append((before, after))
    nodes = {n: text for n, text in sorted(all_nodes.items()) if n not in special}
    if not nodes:
        raise DataError(f"{path}: the task graph has no steps besides START and END")
    return _Graph(path, nodes, tuple(dict.fromkeys(edges)), _topological_order(path, nodes, edges))


def _read_durations(path: Path) -> dict[str, float]:
    if not path.is_file():
        return {}
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot read file: {error}") from None
    reader = csv.DictReader(lines)
    fields = reader.fieldnames or []
    if "recording_id" not in fields or "duration(sec)" not in fields:
        raise DataError(
            f"{path}:1: expected columns 'recording_id' and 'duration(sec)', got {fields}"
        )
    durations: dict[str, float] = {}
    for line, row in enumerate(reader, start=2):
        try:
            durations[row["recording_id"]] = float(row["duration(sec)"])
        except (TypeError, ValueError):
            raise DataError(
                f"{path}:{line}: duration(sec) must be a number, got {row['duration(sec)']!r}"
            ) from None
    return durations


@dataclass(frozen=True)
class _Entry:
    step_id: int
    description: str
    start: float
    end: float
    has_errors: bool

    @property
    def skipped(self) -> bool:
        return self.start == -1


def _read_recordings(path: Path) -> dict[str, tuple[str, list[_Entry]]]:
    raw = _read_json(path)
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected an object mapping recording ids to annotations")
    recordings: dict[str, tuple[str, list[_Entry]]] = {}
    for rid, record in raw.items():
        where = f"{path}: recording {rid}"
        if not isinstance(record, dict) or not isinstance(record.get("activity_name"), str):
            raise DataError(f"{where}: expected an object with 'activity_name' and 'steps'")
        if not isinstance(record.get("steps"), list):
            raise DataError(f"{where}: expected 'steps' to be a list")
        entries: list[_Entry] = []
        for index, step in enumerate(record["steps"]):
            if not isinstance(step, dict):
                raise DataError(f"{where}: step {index}: expected an object, got {step!r}")
            step_id, start, end = step.get("step_id"), step.get("start_time"), step.get("end_time")
            description = step.get("description")
            if not (
                _is_int(step_id)
                and _is_number(start)
                and _is_number(end)
                and isinstance(description, str)
            ):
                raise DataError(
                    f"{where}: step {index}: expected integer step_id, numeric start_time/end_time "
                    f"and a description, got {step!r}"
                )
            if (start == -1) != (end == -1):
                raise DataError(
                    f"{where}: step {step_id}: start {start} / end {end}: -1 must mark both"
                )
            if start != -1 and (start < 0 or end < start):
                raise DataError(
                    f"{where}: step {step_id}: expected 0 <= start <= end seconds, "
                    f"got {start}..{end}"
                )
            entries.append(
                _Entry(step_id, description, float(start), float(end), bool(step.get("has_errors")))
            )
        recordings[str(rid)] = (record["activity_name"], entries)
    return recordings


# ---------------------------------------------------------------------------------------
# Matching annotations to task-graph nodes


def _step_table(graph: _Graph) -> tuple[dict[int, str], dict[int, str], dict[int, str]]:
    """Our ids, names and instructions per node; duplicates numbered in topological order."""
    names: dict[int, str] = {}
    texts: dict[int, str] = {}
    for node in graph.nodes:
        names[node], texts[node] = step_name_from_description(graph.nodes[node])
    occurrence: Counter[str] = Counter()
    total = Counter(normalise_name(graph.nodes[n]) for n in graph.nodes)
    ids: dict[int, str] = {}
    used: set[str] = set()
    for node in graph.order:
        key = normalise_name(graph.nodes[node])
        occurrence[key] += 1
        base = slugify(names[node], max_length=_ID_LENGTH) or f"step_{node}"
        if total[key] > 1 and occurrence[key] > 1:
            names[node] = f"{names[node]} ({occurrence[key]})"
        candidate, suffix = base, 2
        while candidate in used or candidate in ("start", "end"):
            candidate, suffix = f"{base}_{suffix}", suffix + 1
        used.add(candidate)
        ids[node] = candidate
    return ids, names, texts


def _match_entries(
    graph: _Graph, recordings: Mapping[str, tuple[str, list[_Entry]]], annotations_path: Path
) -> tuple[dict[tuple[str, int], str], list[str]]:
    """Map (recording, entry index) to a description key (normalised description)."""
    keys = {normalise_name(text) for text in graph.nodes.values()}
    matched: dict[tuple[str, int], str] = {}
    by_step_id: dict[int, Counter[str]] = {}
    pending: list[tuple[str, int, _Entry]] = []
    for rid, (_, entries) in recordings.items():
        for index, entry in enumerate(entries):
            key = normalise_name(entry.description)
            if key in keys:
                matched[rid, index] = key
                by_step_id.setdefault(entry.step_id, Counter())[key] += 1
            else:
                pending.append((rid, index, entry))
    notes: list[str] = []
    for rid, index, entry in pending:
        votes = by_step_id.get(entry.step_id)
        if not votes:
            raise DataError(
                f"{annotations_path}: recording {rid}: step {entry.step_id} "
                f"{entry.description!r} matches no step of the task graph {graph.path}"
            )
        key = votes.most_common(1)[0][0]
        matched[rid, index] = key
        notes.append(
            f"recording {rid}: step {entry.step_id} {entry.description!r} matches no task-graph "
            "description; matched through its step_id"
        )
    return matched, notes


def _build_session(
    rid: str,
    entries: Sequence[_Entry],
    keys: Mapping[int, str],
    groups: Mapping[str, list[int]],
    ids: Mapping[int, str],
    *,
    task: str,
    video_duration: float | None,
) -> tuple[AnnotatedSession, list[str], tuple[str, ...]]:
    notes: list[str] = []
    performed: dict[str, list[_Entry]] = {key: [] for key in groups}
    skipped_rows: Counter[str] = Counter()
    for index, entry in enumerate(entries):
        if entry.skipped:
            skipped_rows[keys[index]] += 1
        else:
            performed[keys[index]].append(entry)
    segments: list[StepSegment] = []
    skipped: list[str] = []
    errors: list[str] = []
    for key, nodes in groups.items():
        rows: list[_Entry] = []
        for entry in sorted(performed[key], key=lambda e: (e.start, e.end)):
            if (
                rows
                and abs(entry.start - rows[-1].start) <= _DUPLICATE_TOLERANCE_S
                and (abs(entry.end - rows[-1].end) <= _DUPLICATE_TOLERANCE_S)
            ):
                notes.append(f"recording {rid}: duplicate annotation of {ids[nodes[0]]!r} ignored")
                continue
            rows.append(entry)
        for i, entry in enumerate(rows):
            step = ids[nodes[min(i, len(nodes) - 1)]]
            segments.append(StepSegment(step, entry.start, entry.end))
            if entry.has_errors and step not in errors:
                errors.append(step)
        missing = nodes[len(rows) :]
        if len(rows) + skipped_rows[key] < len(nodes):
            lacking = [ids[n] for n in missing[skipped_rows[key] :]]
            notes.append(f"recording {rid}: steps {lacking} not annotated; treated as skipped")
        elif skipped_rows[key] and not missing:
            notes.append(
                f"recording {rid}: {ids[nodes[-1]]!r} annotated as performed and skipped; "
                "treated as performed"
            )
        skipped.extend(ids[n] for n in missing)
    for key in sorted({keys[i] for i, e in enumerate(entries) if e.skipped and e.has_errors}):
        errors.extend(ids[n] for n in groups[key] if ids[n] in skipped and ids[n] not in errors)
    segments.sort(key=lambda s: (s.start, s.end))
    last_end = max((s.end for s in segments), default=0.0)
    if video_duration is None:
        duration = last_end + END_MARGIN_S
    else:
        if video_duration < last_end - 1.0:
            notes.append(
                f"recording {rid}: video lasts {video_duration} s but annotations end at "
                f"{last_end} s; using the annotation end"
            )
        duration = max(video_duration, last_end)
    order = {ids[n]: i for i, n in enumerate(sorted(ids))}
    skipped.sort(key=order.__getitem__)
    session = AnnotatedSession(rid, task, tuple(segments), duration, tuple(skipped))
    return session, notes, tuple(errors)


def _recording_sort_key(rid: str) -> tuple[tuple[int, str], ...]:
    return tuple((int(p), "") if p.isdigit() else (-1, p) for p in re.split(r"[_\-]", rid))


def _build_recipe(
    slug: str,
    graph: _Graph,
    recordings: Mapping[str, tuple[str, list[_Entry]]],
    durations: Mapping[str, float],
    annotations_path: Path,
) -> CaptainCookRecipe:
    ids, names, texts = _step_table(graph)
    groups: dict[str, list[int]] = {}
    for node in graph.order:
        groups.setdefault(normalise_name(graph.nodes[node]), []).append(node)
    activity_names = Counter(name for name, _ in recordings.values())
    name = activity_names.most_common(1)[0][0] if activity_names else slug
    task = slugify(name, max_length=None) or slug
    matched, notes = _match_entries(graph, recordings, annotations_path)
    annotation_ids: dict[int, list[str]] = {}
    sessions: list[AnnotatedSession] = []
    errors: dict[str, tuple[str, ...]] = {}
    for rid in sorted(recordings, key=_recording_sort_key):
        entries = recordings[rid][1]
        keys = {i: matched[rid, i] for i in range(len(entries))}
        for i, entry in enumerate(entries):
            for node in groups[keys[i]]:
                found = annotation_ids.setdefault(entry.step_id, [])
                if ids[node] not in found:
                    found.append(ids[node])
        session, session_notes, session_errors = _build_session(
            rid, entries, keys, groups, ids, task=task, video_duration=durations.get(rid)
        )
        sessions.append(session)
        notes.extend(session_notes)
        if session_errors:
            errors[rid] = session_errors
    nodes = sorted(graph.nodes)
    return CaptainCookRecipe(
        slug=slug,
        name=name,
        step_ids=tuple(ids[n] for n in nodes),
        step_names=tuple(names[n] for n in nodes),
        descriptions=tuple(texts[n] for n in nodes),
        precedence=tuple((ids[a], ids[b]) for a, b in graph.edges),
        sessions=tuple(sessions),
        graph_step_ids={n: ids[n] for n in nodes},
        annotation_step_ids={k: tuple(v) for k, v in sorted(annotation_ids.items())},
        error_steps=errors,
        warnings=tuple(notes),
    )


def read_captaincook4d(
    data_dir: Path | str, *, recipes: Collection[str] | None = None
) -> CaptainCookData:
    """Load CaptainCook4D recipes and recordings, with a report of what was left out.

    Parameters
    ----------
    data_dir : Path or str
        Directory laid out as in the module docstring.
    recipes : collection of str or None
        Recipes to load, by slug or name (normalised, so ``"Scrambled Eggs"``,
        ``"scrambled_eggs"`` and ``"scrambledeggs"`` are the same); None loads every
        recipe that has a task graph.

    Returns
    -------
    CaptainCookData
        Recipes by slug and the recordings left out (only reported when ``recipes`` is
        None).

    Raises
    ------
    DataError
        If a file or directory is missing or malformed (the message names it), a requested
        recipe has no task graph, or an annotation cannot be tied to a task-graph step.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"{data_dir}: CaptainCook4D directory not found")
    graph_dir = data_dir / TASK_GRAPH_DIR
    if not graph_dir.is_dir():
        raise DataError(f"{graph_dir}: task-graph directory not found")
    graph_paths = {path.stem: path for path in sorted(graph_dir.glob("*.json"))}
    if not graph_paths:
        raise DataError(f"{graph_dir}: no task graphs (*.json) found")
    by_key = {normalise_name(stem): stem for stem in graph_paths}
    if recipes is None:
        wanted = sorted(graph_paths)
    else:
        wanted = []
        for recipe in recipes:
            stem = by_key.get(normalise_name(recipe))
            if stem is None:
                raise DataError(
                    f"{graph_dir}: no task graph for recipe {recipe!r}; known recipes: "
                    + ", ".join(sorted(graph_paths))
                )
            if stem not in wanted:
                wanted.append(stem)
    annotations_path = data_dir / ANNOTATIONS_FILE
    all_recordings = _read_recordings(annotations_path)
    durations = _read_durations(data_dir / VIDEO_INFO_FILE)
    grouped: dict[str, dict[str, tuple[str, list[_Entry]]]] = {stem: {} for stem in wanted}
    unmatched: dict[str, str] = {}
    for rid, (activity, entries) in all_recordings.items():
        stem = by_key.get(normalise_name(activity))
        if stem is None:
            unmatched[rid] = activity
        elif stem in grouped:
            grouped[stem][rid] = (activity, entries)
    loaded = {
        stem: _build_recipe(
            stem, _read_graph(graph_paths[stem]), grouped[stem], durations, annotations_path
        )
        for stem in sorted(wanted)
    }
    return CaptainCookData(loaded, unmatched if recipes is None else {})


def load_captaincook4d(
    data_dir: Path | str, *, recipes: Collection[str] | None = None
) -> dict[str, CaptainCookRecipe]:
    """Load CaptainCook4D recipes by slug (see :func:`read_captaincook4d`).

    Recordings whose recipe has no task graph are left out with a
    :class:`CaptainCookWarning`; use :func:`read_captaincook4d` to get them as data.

    Examples
    --------
    >>> recipes = load_captaincook4d("../shared/data/captaincook4d")  # doctest: +SKIP
    >>> recipes["scrambledeggs"].procedure_id  # doctest: +SKIP
    'scrambled_eggs'
    """
    data = read_captaincook4d(data_dir, recipes=recipes)
    if data.unmatched_recordings:
        names = sorted(set(data.unmatched_recordings.values()))
        warnings.warn(
            f"{len(data.unmatched_recordings)} CaptainCook4D recordings skipped: no task graph "
            f"for {names}",
            CaptainCookWarning,
            stacklevel=2,
        )
    return data.recipes


def learn_from_captaincook(
    recipe: CaptainCookRecipe, *, exclude: Collection[str] = (), smoothing: float = 0.5
) -> Procedure:
    """Learn a CaptainCook4D recipe's procedure from its recordings.

    Steps, names, descriptions and precedence come from the task graph; transitions,
    durations and gaps from the recordings not in ``exclude``.

    Parameters
    ----------
    recipe : CaptainCookRecipe
        A recipe from :func:`load_captaincook4d`.
    exclude : collection of str
        Recording ids left out (e.g. the test recording in leave-one-recording-out
        evaluation).
    smoothing : float
        Dirichlet pseudo-count per row (see :func:`prism.procedure.learn.learn_procedure`).

    Returns
    -------
    Procedure
        Id :attr:`CaptainCookRecipe.procedure_id` (e.g. ``"scrambled_eggs"``).

    Raises
    ------
    DataError
        If ``exclude`` names an unknown recording or leaves no recording.
    """
    known = set(recipe.recording_ids)
    unknown = sorted(set(exclude) - known)
    if unknown:
        raise DataError(f"recipe {recipe.slug!r} has no recordings {unknown} to exclude")
    sessions = [s for s in recipe.sessions if s.session_id not in set(exclude)]
    if not sessions:
        raise DataError(
            f"recipe {recipe.slug!r}: no recording left to learn from "
            f"({len(recipe.sessions)} recordings, {len(set(exclude))} excluded)"
        )
    # Every recipe step is required: CaptainCook4D annotates a skipped one as an error.
    # The durations are placeholders that learning replaces.
    placeholder = DurationStats(mean=1.0, std=0.0)
    steps = [
        Step(step_id, name, text, placeholder, notes=StepNotes(must_not_skip=True))
        for step_id, name, text in zip(
            recipe.step_ids, recipe.step_names, recipe.descriptions, strict=True
        )
    ]
    return learn_procedure(
        sessions,
        procedure_id=recipe.procedure_id,
        name=recipe.name,
        steps=steps,
        precedence=recipe.precedence,
        smoothing=smoothing,
        description=(
            f"{recipe.name} (CaptainCook4D recipe): steps and precedence from its task graph, "
            "step order, durations and gaps learned from annotated recordings."
        ),
        source=(
            f"learned from {len(sessions)} CaptainCook4D recordings "
            f"(task graph {recipe.slug}.json, smoothing {smoothing})"
        ),
    )

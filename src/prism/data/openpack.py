"""OpenPack: packing operations of warehouse workers, one procedure run per box.

Expected layout of ``root`` (as in the OpenPack data set)::

    <user>/annotation/openpack-operations/<session>.csv

Each CSV row is one operation of one box: columns ``user``, ``session``, ``box``, ``id``
(operation id 100..1000; 8000 is "other"), ``operation`` (name), ``start`` and ``end``
(ISO 8601 wall-clock times with a UTC offset, e.g. ``2022-03-29 14:25:22.143000+09:00``).
Other columns are ignored.

Each box becomes one :class:`AnnotatedSession` with id ``"<user>-<session>-box<NN>"``:
times are seconds from the box's first operation start minus ``margin``; step ids are
slugified operation names (``"Relocate Item Label"`` -> ``relocate_item_label``); "other"
rows (id 8000) are gaps, not steps; operations of the table that a box does not contain
are listed in its ``skipped``.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from prism.data.annotation_files import slugify
from prism.data.annotations import AnnotatedSession, StepSegment
from prism.errors import DataError

__all__ = [
    "OPENPACK_OPERATIONS",
    "OPENPACK_OTHER_ID",
    "OPENPACK_TASK",
    "OpenPackOperations",
    "load_openpack_operations",
    "operation_step_id",
    "read_openpack_operations",
]

OPENPACK_TASK = "openpack_packing"
"""Procedure id of OpenPack packing sessions."""

OPENPACK_OTHER_ID = 8000
"""Operation id of the "other" (null) class."""

OPENPACK_OPERATIONS: tuple[tuple[int, str], ...] = (
    (100, "Picking"),
    (200, "Relocate Item Label"),
    (300, "Assemble Box"),
    (400, "Insert Items"),
    (500, "Close Box"),
    (600, "Attach Box Label"),
    (700, "Scan Label"),
    (800, "Attach Shipping Label"),
    (900, "Put on Back Table"),
    (1000, "Fill out Order"),
)
"""The ten OpenPack packing operations (id, name) in canonical order."""

_OPERATIONS_DIR = ("annotation", "openpack-operations")
_COLUMNS = ("user", "session", "box", "id", "operation", "start", "end")


def operation_step_id(name: str) -> str:
    """Step id of an operation name (``"Relocate Item Label"`` -> ``"relocate_item_label"``)."""
    return slugify(name, max_length=None)


@dataclass(frozen=True)
class OpenPackOperations:
    """Sessions read by :func:`read_openpack_operations`.

    Parameters
    ----------
    sessions : tuple of AnnotatedSession
        One per box, ordered by user, session and box number.
    operations : tuple of (int, str)
        ``(operation id, name)`` of every operation seen plus the canonical ones, sorted by
        id ("other" excluded).
    box_starts : dict of str to datetime
        Session id -> wall-clock time (timezone-aware) of its time 0.
    files : tuple of Path
        The CSV files read.
    """

    sessions: tuple[AnnotatedSession, ...]
    operations: tuple[tuple[int, str], ...]
    box_starts: dict[str, datetime]
    files: tuple[Path, ...]

    @property
    def step_ids(self) -> tuple[str, ...]:
        """Step ids of :attr:`operations`, in the same order."""
        return tuple(operation_step_id(name) for _, name in self.operations)


@dataclass(frozen=True)
class _Row:
    user: str
    session: str
    box: int
    operation_id: int
    operation: str
    start: datetime
    end: datetime
    where: str


def _parse_instant(text: str, *, where: str, column: str) -> datetime:
    try:
        instant = datetime.fromisoformat(text.strip())
    except ValueError:
        raise DataError(f"{where}: {column} must be an ISO 8601 time, got {text!r}") from None
    if instant.tzinfo is None:
        raise DataError(f"{where}: {column} time {text!r} has no UTC offset (e.g. +09:00)")
    return instant


def _parse_int(text: str, *, where: str, column: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{where}: {column} must be an integer, got {text!r}") from None
    if not math.isfinite(value) or value != int(value):
        raise DataError(f"{where}: {column} must be an integer, got {text!r}")
    return int(value)


def _read_file(path: Path) -> list[_Row]:
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot read file: {error}") from None
    reader = csv.DictReader(lines)
    missing = [c for c in _COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise DataError(f"{path}:1: missing columns {missing}; expected {list(_COLUMNS)}")
    rows: list[_Row] = []
    for line, raw in enumerate(reader, start=2):
        where = f"{path}:{line}"
        if any(raw[c] is None for c in _COLUMNS):
            raise DataError(f"{where}: expected {len(reader.fieldnames or [])} columns")
        operation_id = _parse_int(raw["id"], where=where, column="id")
        if operation_id == OPENPACK_OTHER_ID:
            continue
        start = _parse_instant(raw["start"], where=where, column="start")
        end = _parse_instant(raw["end"], where=where, column="end")
        if end < start:
            raise DataError(f"{where}: end {raw['end']} is before start {raw['start']}")
        name = raw["operation"].strip()
        if not operation_step_id(name):
            raise DataError(f"{where}: operation name {raw['operation']!r} has no letter or digit")
        rows.append(
            _Row(
                user=raw["user"].strip(),
                session=raw["session"].strip(),
                box=_parse_int(raw["box"], where=where, column="box"),
                operation_id=operation_id,
                operation=name,
                start=start,
                end=end,
                where=where,
            )
        )
    return rows


def _operation_files(root: Path, user: str | None, session: str | None) -> list[Path]:
    if not root.is_dir():
        raise DataError(f"{root}: OpenPack directory not found")
    users = [root / user] if user else sorted(p for p in root.iterdir() if p.is_dir())
    files: list[Path] = []
    for user_dir in users:
        directory = user_dir.joinpath(*_OPERATIONS_DIR)
        if user and not directory.is_dir():
            raise DataError(f"{directory}: operation annotations not found for user {user!r}")
        if session:
            path = directory / f"{session}.csv"
            if user and not path.is_file():
                raise DataError(f"{path}: operation annotations not found")
            if path.is_file():
                files.append(path)
        elif directory.is_dir():
            files.extend(sorted(directory.glob("*.csv")))
    if not files:
        wanted = f"user {user or '*'}, session {session or '*'}"
        raise DataError(
            f"{root}: no operation annotations ({wanted}) under "
            f"<user>/{'/'.join(_OPERATIONS_DIR)}/<session>.csv"
        )
    return files


def _operation_table(rows: Sequence[_Row]) -> tuple[tuple[int, str], ...]:
    names = dict(OPENPACK_OPERATIONS)
    owners = {operation_step_id(name): op for op, name in OPENPACK_OPERATIONS}
    for row in rows:
        name = names.setdefault(row.operation_id, row.operation)
        step = operation_step_id(row.operation)
        if operation_step_id(name) != step:
            raise DataError(
                f"{row.where}: operation {row.operation_id} is named {row.operation!r}, "
                f"expected {name!r}"
            )
        owner = owners.setdefault(step, row.operation_id)
        if owner != row.operation_id:
            raise DataError(
                f"{row.where}: operation name {row.operation!r} (id {row.operation_id}) is "
                f"already used by operation {owner}"
            )
    return tuple(sorted(names.items()))


def read_openpack_operations(
    root: Path | str,
    *,
    user: str | None = None,
    session: str | None = None,
    margin: float = 0.0,
) -> OpenPackOperations:
    """Read OpenPack operation annotations as one annotated session per box.

    Parameters
    ----------
    root : Path or str
        OpenPack directory (layout in the module docstring).
    user, session : str or None
        Restrict to one user (e.g. ``"U0209"``) and/or one session (e.g. ``"S0500"``);
        None reads all.
    margin : float
        Seconds (>= 0) of lead-in before the first operation and of tail after the last
        one: time 0 is the first operation start minus ``margin``.

    Returns
    -------
    OpenPackOperations
        Sessions, the operation table, and each session's wall-clock time 0.

    Raises
    ------
    DataError
        If the directory or requested files are missing, a column is missing, or a row
        is malformed (``file:line``), or one operation id carries two names.
    """
    if not (math.isfinite(margin) and margin >= 0):
        raise DataError(f"margin must be a finite number of seconds >= 0, got {margin}")
    files = _operation_files(Path(root), user, session)
    rows = [row for path in files for row in _read_file(path)]
    table = _operation_table(rows)
    all_steps = [operation_step_id(name) for _, name in table]
    boxes: dict[tuple[str, str, int], list[_Row]] = {}
    for row in rows:
        boxes.setdefault((row.user, row.session, row.box), []).append(row)
    sessions: list[AnnotatedSession] = []
    starts: dict[str, datetime] = {}
    for (user_id, session_id, box), box_rows in sorted(boxes.items()):
        origin = min(r.start for r in box_rows)
        name = f"{user_id}-{session_id}-box{box:02d}"
        segments = sorted(
            (
                StepSegment(
                    operation_step_id(r.operation),
                    (r.start - origin).total_seconds() + margin,
                    (r.end - origin).total_seconds() + margin,
                )
                for r in box_rows
            ),
            key=lambda s: (s.start, s.end),
        )
        performed = {s.step for s in segments}
        skipped = tuple(step for step in all_steps if step not in performed)
        duration = max(s.end for s in segments) + margin
        sessions.append(AnnotatedSession(name, OPENPACK_TASK, tuple(segments), duration, skipped))
        starts[name] = origin if not margin else _shift(origin, -margin)
    return OpenPackOperations(tuple(sessions), table, starts, tuple(files))


def _shift(instant: datetime, seconds: float) -> datetime:
    return datetime.fromtimestamp(instant.timestamp() + seconds, tz=instant.tzinfo)


def load_openpack_operations(
    root: Path | str, *, user: str | None = None, session: str | None = None
) -> list[AnnotatedSession]:
    """One annotated session per packed box (see :func:`read_openpack_operations`).

    Examples
    --------
    >>> boxes = load_openpack_operations("../shared/data/openpack", user="U0209")  # doctest: +SKIP
    >>> boxes[0].step_order[:2]  # doctest: +SKIP
    ('picking', 'relocate_item_label')
    """
    return list(read_openpack_operations(root, user=user, session=session).sessions)

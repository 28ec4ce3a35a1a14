"""A simple CSV format for step annotations, read by ``prism procedure learn``.

The file has the header ``session,step,start,end`` and one row per performed or skipped
step::

    session,step,start,end
    s1,grind_beans,0.0,12.5
    s1,brew_coffee,14.0,40.2
    s1,steam_milk,-1,-1

``start`` and ``end`` are seconds from the session start; ``start = -1`` marks a step
annotated as skipped (``end`` is then ``-1`` or empty). A session's duration is not part
of the format: it is read as the end of its last performed step.

The module also holds :func:`slugify`, the one rule for turning a human-readable step or
procedure name into an identifier, shared by the data-set loaders.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from prism.data.annotations import AnnotatedSession, StepSegment
from prism.errors import DataError

__all__ = ["ANNOTATION_CSV_HEADER", "read_annotation_csv", "slugify", "write_annotation_csv"]

ANNOTATION_CSV_HEADER = ("session", "step", "start", "end")
"""Column names of an annotation CSV file, in order."""

_STEP_ID = re.compile(r"^[A-Za-z0-9_.\-]+$")
_RESERVED = ("start", "end")


def slugify(text: str, *, max_length: int | None = 40) -> str:
    """Turn a human-readable name into a snake_case identifier.

    Lower-cases ``text``, replaces every run of characters other than ``a-z0-9`` by one
    underscore and strips leading/trailing underscores. When the result is longer than
    ``max_length`` it is cut at the last underscore (word boundary) that keeps it within
    the limit, or hard-cut when the first word alone is too long.

    Parameters
    ----------
    text : str
        Name, e.g. ``"Chop 1/4 medium onion"``.
    max_length : int or None
        Maximum length in characters (>= 1), or None for no limit.

    Returns
    -------
    str
        Identifier matching ``[a-z0-9_]*``; empty if ``text`` has no letter or digit.

    Examples
    --------
    >>> slugify("Chop 1/4 medium onion")
    'chop_1_4_medium_onion'
    >>> slugify("Relocate Item Label")
    'relocate_item_label'
    >>> slugify("Spread nut butter onto the tortilla, leaving 1/2-inch", max_length=20)
    'spread_nut_butter'
    """
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    if max_length is None or len(slug) <= max_length:
        return slug
    if max_length < 1:
        raise DataError(f"slugify: max_length must be >= 1, got {max_length}")
    cut = slug.rfind("_", 0, max_length + 1)
    return slug[:cut] if cut > 0 else slug[:max_length]


def _parse_time(text: str, *, where: str, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{where}: {column} must be a number of seconds, got {text!r}") from None
    if not math.isfinite(value):
        raise DataError(f"{where}: {column} must be a finite number of seconds, got {text!r}")
    return value


def read_annotation_csv(path: Path | str, *, task: str) -> list[AnnotatedSession]:
    """Read an annotation CSV file (format in the module docstring).

    Parameters
    ----------
    path : Path or str
        The CSV file.
    task : str
        Procedure id written into every session's ``task``.

    Returns
    -------
    list of AnnotatedSession
        One session per distinct ``session`` value, in order of first appearance; segments
        sorted by start time; skipped steps in file order. ``duration`` is the end of the
        last performed step (0.0 for a session whose steps were all skipped).

    Raises
    ------
    DataError
        If the file is missing or unreadable, the header is wrong, or a row is malformed
        (the message gives ``file:line``): bad step id, non-numeric or negative time,
        ``end < start``, a step both performed and skipped, or a step skipped twice.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{path}: annotation file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot read annotation file: {error}") from None
    rows = csv.reader(text.splitlines())
    header = next(rows, None)
    if header is None or tuple(cell.strip() for cell in header) != ANNOTATION_CSV_HEADER:
        raise DataError(
            f"{path}:1: expected the header {','.join(ANNOTATION_CSV_HEADER)!r}, "
            f"got {','.join(header) if header else 'an empty file'!r}"
        )
    segments: dict[str, list[StepSegment]] = {}
    skipped: dict[str, list[str]] = {}
    for line, row in enumerate(rows, start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        where = f"{path}:{line}"
        if len(row) != len(ANNOTATION_CSV_HEADER):
            raise DataError(f"{where}: expected 4 columns (session,step,start,end), got {len(row)}")
        session, step, start_text, end_text = (cell.strip() for cell in row)
        if not session:
            raise DataError(f"{where}: empty session id")
        if not _STEP_ID.match(step) or step in _RESERVED:
            raise DataError(
                f"{where}: invalid step id {step!r} (expected [A-Za-z0-9_.-]+, not start/end)"
            )
        start = _parse_time(start_text, where=where, column="start")
        segments.setdefault(session, [])
        skipped.setdefault(session, [])
        if start == -1:
            if end_text and _parse_time(end_text, where=where, column="end") != -1:
                raise DataError(
                    f"{where}: a skipped step (start -1) needs end -1 or empty, got {end_text!r}"
                )
            if step in skipped[session]:
                raise DataError(f"{where}: step {step!r} of session {session!r} is skipped twice")
            skipped[session].append(step)
            continue
        end = _parse_time(end_text, where=where, column="end")
        if start < 0:
            raise DataError(
                f"{where}: start must be >= 0 s (or -1 for a skipped step), got {start}"
            )
        if end < start:
            raise DataError(f"{where}: end ({end} s) is before start ({start} s)")
        segments[session].append(StepSegment(step, start, end))
    if not segments:
        raise DataError(f"{path}: no annotation rows after the header")
    sessions: list[AnnotatedSession] = []
    for session_id, performed in segments.items():
        both = sorted({s.step for s in performed} & set(skipped[session_id]))
        if both:
            raise DataError(
                f"{path}: session {session_id!r}: step {both[0]!r} is both performed and skipped"
            )
        ordered = tuple(sorted(performed, key=lambda s: (s.start, s.end)))
        duration = max((s.end for s in ordered), default=0.0)
        sessions.append(
            AnnotatedSession(session_id, task, ordered, duration, tuple(skipped[session_id]))
        )
    return sessions


def _rows(sessions: Iterable[AnnotatedSession]) -> Iterable[tuple[str, str, str, str]]:
    for session in sessions:
        for segment in sorted(session.segments, key=lambda s: (s.start, s.end)):
            yield session.session_id, segment.step, repr(segment.start), repr(segment.end)
        for step in session.skipped:
            yield session.session_id, step, "-1", "-1"


def write_annotation_csv(sessions: Sequence[AnnotatedSession], path: Path | str) -> Path:
    """Write sessions as an annotation CSV file (format in the module docstring).

    Performed steps are written in start-time order, then skipped steps with ``-1,-1``.
    Times are written with full precision, so :func:`read_annotation_csv` gives back the
    same segments and skipped steps (the duration is not stored).

    Parameters
    ----------
    sessions : sequence of AnnotatedSession
        Sessions to write; session ids must be unique.
    path : Path or str
        Output file; parent directories are created.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    DataError
        If two sessions share an id or a session has no performed nor skipped step.
    """
    path = Path(path)
    seen: set[str] = set()
    for session in sessions:
        if session.session_id in seen:
            raise DataError(f"write_annotation_csv: duplicate session id {session.session_id!r}")
        if not session.segments and not session.skipped:
            raise DataError(
                f"write_annotation_csv: session {session.session_id!r} has no performed or "
                "skipped step to write"
            )
        seen.add(session.session_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(ANNOTATION_CSV_HEADER)
        writer.writerows(_rows(sessions))
    return path

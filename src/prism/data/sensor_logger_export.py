"""Sensor Logger's exported recordings (a zip of CSV files) as PrISM recordings.

A zip export holds one CSV per sensor, named after it (``WristMotion.csv``,
``Accelerometer.csv``, ``Gravity.csv``, ``Gyroscope.csv``, ``TotalAcceleration.csv``,
...), with the columns ``time`` (UTC epoch, ns), ``seconds_elapsed`` and the sensor's
fields: the same fields as the ``values`` of a pushed reading, so each row becomes a
:class:`~prism.data.sensor_logger.Reading` and the IMU comes out as for pushed messages
(:func:`~prism.data.sensor_logger.imu_from_readings`: the watch's wrist motion if the
export has it, else the phone's motion), resampled to 50 Hz. Files may sit in a folder
inside the zip. Audio is not read (the app exports it compressed); the recording is
IMU-only.

Step labels come from the app's annotations (``Annotation.csv``: ``time``, ``text``):
an annotation naming a step of the procedure (its id or its name, in any case, with
small typos: rapidfuzz's ratio >= 85) starts that step, which lasts until the next
annotation; an annotation saying ``other``, ``end``, ``stop``, ``done`` or ``pause``
ends the current step. Any other text is an error naming its row and the steps.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import numpy as np
from rapidfuzz import fuzz, process

from prism.data.annotations import AnnotatedSession, StepSegment
from prism.data.openpack_imu import resample_imu
from prism.data.recording import IMU_RATE_HZ, ImuSamples, Recording
from prism.data.sensor_logger import MOTION_SENSORS, Reading, imu_from_readings, sensor_name
from prism.errors import DataError
from prism.procedure.model import Procedure

__all__ = ["BREAK_WORDS", "read_sensor_logger_export", "steps_from_annotations"]

BREAK_WORDS = frozenset({"other", "end", "stop", "done", "pause"})
"""Annotation texts that end the current step without starting another."""

_MIN_SCORE = 85.0
"""Lowest rapidfuzz ratio (0-100) at which an annotation names a step."""

_MAX_MEMBER_BYTES = 2 * 1024**3
"""Largest CSV file read from an export (bytes, uncompressed)."""


def _csv_rows(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> list[dict[str, str]]:
    if member.file_size > _MAX_MEMBER_BYTES:
        raise DataError(f"{member.filename}: {member.file_size} bytes, too large to read")
    with archive.open(member) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        return list(csv.DictReader(text))


def _readings(name: str, rows: Sequence[dict[str, str]], where: str) -> list[Reading]:
    """A CSV's rows as readings of sensor ``name`` (rows without a usable time are
    errors; the other columns are kept as they are, checked when used)."""
    readings = []
    for line, row in enumerate(rows, start=2):
        try:
            time_ns = int(row["time"])
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{where}:{line}: 'time' is missing or not an integer") from None
        values = {k: v for k, v in row.items() if k not in ("time", "seconds_elapsed") and k}
        readings.append(Reading(name=name, time=time_ns, values=values))
    return readings


def steps_from_annotations(
    annotations: Sequence[tuple[float, str]],
    procedure: Procedure,
    duration: float,
    *,
    where: str = "Annotation.csv",
) -> tuple[StepSegment, ...]:
    """Step segments of a recording from its annotations (the module docstring's rules).

    Parameters
    ----------
    annotations : sequence of (float, str)
        Time (s from the recording's start) and text, in file order.
    procedure : Procedure
        Its steps' ids and names are what annotations may name.
    duration : float
        The recording's length (s): the last step ends there.
    where : str
        Named in errors.

    Raises
    ------
    DataError
        An annotation that names no step (its row, the closest step, the choices).

    Examples
    --------
    >>> from prism.procedure.io import load_procedure
    >>> from prism.settings import get_settings
    >>> latte = load_procedure(get_settings().tasks_dir / "latte_making" / "procedure.yaml")
    >>> marks = [(1.0, "Grind beans"), (5.0, "stop"), (7.0, "brew_coffee")]
    >>> [(s.step, s.start, s.end) for s in steps_from_annotations(marks, latte, 9.0)]
    [('grind_beans', 1.0, 5.0), ('brew_coffee', 7.0, 9.0)]
    """
    choices = {step.id.lower(): step.id for step in procedure.steps}
    choices.update({step.name.lower(): step.id for step in procedure.steps})
    segments: list[StepSegment] = []
    current: tuple[str, float] | None = None
    keys = {k.replace("_", " "): v for k, v in choices.items()}
    lines = sorted(range(len(annotations)), key=lambda i: annotations[i][0])
    for line, (time_s, text) in ((i + 2, annotations[i]) for i in lines):
        said = " ".join(text.lower().replace("_", " ").split())
        step: str | None = None
        if said not in BREAK_WORDS:
            found = process.extractOne(said, list(keys), scorer=fuzz.ratio)
            if found is None or found[1] < _MIN_SCORE:
                closest = f" (closest: {keys[found[0]]!r})" if found is not None else ""
                raise DataError(
                    f"{where}:{line}: annotation {text!r} names no step of "
                    f"{procedure.id!r}{closest}; use a step's id or name, or one of "
                    f"{sorted(BREAK_WORDS)} to end a step"
                )
            step = keys[found[0]]
        if current is not None and time_s > current[1]:
            segments.append(StepSegment(current[0], current[1], time_s))
        current = None if step is None else (step, time_s)
    if current is not None and duration > current[1]:
        segments.append(StepSegment(current[0], current[1], duration))
    return tuple(segments)


def read_sensor_logger_export(
    path: Path | str, procedure: Procedure, *, session_id: str | None = None
) -> Recording:
    """The recording of a Sensor Logger zip export, labelled by its annotations.

    Parameters
    ----------
    path : Path or str
        The ``.zip`` file.
    procedure : Procedure
        What the recording performs (its steps are the labels).
    session_id : str, optional
        Default: the file's stem.

    Raises
    ------
    DataError
        Not a zip, no motion sensor with enough readings, a malformed row, an
        annotation naming no step (each names the file and row).
    """
    path = Path(path)
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as error:
        raise DataError(f"{path}: not a readable zip file ({error})") from None
    readings: list[Reading] = []
    marks: list[tuple[int, str]] = []
    with archive:
        for member in archive.infolist():
            name = PurePosixPath(member.filename)
            if name.suffix.lower() != ".csv":
                continue
            where = f"{path.name}/{member.filename}"
            sensor = sensor_name(name.stem)
            if sensor in MOTION_SENSORS:
                readings += _readings(sensor, _csv_rows(archive, member), where)
            elif sensor == "annotation":
                for line, row in enumerate(_csv_rows(archive, member), start=2):
                    try:
                        marks.append((int(row["time"]), row.get("text") or ""))
                    except (KeyError, TypeError, ValueError):
                        raise DataError(
                            f"{where}:{line}: 'time' is missing or not an integer"
                        ) from None
    found = imu_from_readings(readings)
    if found is None:
        raise DataError(
            f"{path}: no wrist motion (WristMotion.csv) nor phone motion (Gyroscope.csv with "
            "Accelerometer.csv and Gravity.csv, or TotalAcceleration.csv) with 2 readings or more"
        )
    times_ns, values = found
    start_ns = int(times_ns[0])
    imu = resample_imu(ImuSamples((times_ns - start_ns) / 1e9, values), IMU_RATE_HZ)
    duration = float(imu.times[-1])
    annotations = [((t - start_ns) / 1e9, text) for t, text in marks]
    segments = steps_from_annotations(
        annotations, procedure, duration, where=f"{path.name}/Annotation.csv"
    )
    session = session_id or path.stem
    return Recording(
        session_id=session,
        task=procedure.id,
        annotation=AnnotatedSession(session, procedure.id, segments, duration),
        imu=ImuSamples(imu.times, np.asarray(imu.values, dtype=np.float32)),
        metadata={"synthetic": False, "source": "sensor-logger", "start_epoch_ns": start_ns},
    )

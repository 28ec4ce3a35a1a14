"""Sensor Logger zip exports as PrISM recordings: motion, units, annotations, errors."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from prism.cli import app
from prism.data.recording import Recording, read_recording
from prism.data.sensor_logger_export import read_sensor_logger_export, steps_from_annotations
from prism.errors import DataError
from prism.procedure.io import load_procedure
from prism.procedure.model import Procedure
from prism.settings import get_settings

G = 9.80665
EPOCH_NS = 1_700_000_000_000_000_000
DEMO = read_recording(Path("datasets/demo/latte_making-s000"))


@pytest.fixture(scope="module")
def latte() -> Procedure:
    return load_procedure(get_settings().tasks_dir / "latte_making" / "procedure.yaml")


def _csv(header: list[str], rows: list[list[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _export(path: Path, recording: Recording, *, folder: str = "", marks: bool = True) -> Path:
    """A zip as Sensor Logger exports it for ``recording``: the watch's wrist motion in g
    in its own frame (the app's default), annotations at each step's start and end, and
    sensors PrISM does not use."""
    assert recording.imu is not None
    times = EPOCH_NS + np.round(recording.imu.times * 1e9).astype(np.int64)
    native = -recording.imu.values[:, :3].astype(np.float64) / G
    wrist = [
        [int(t), float(t - times[0]) / 1e9, *w, *(0.7 * n), *(0.3 * n), 1.0, 0.0, 0.0, 0.0]
        for t, n, w in zip(times, native, recording.imu.values[:, 3:], strict=True)
    ]
    header = ["time", "seconds_elapsed"]
    header += [f"rotationRate{a}" for a in "XYZ"] + [f"gravity{a}" for a in "XYZ"]
    header += [f"acceleration{a}" for a in "XYZ"] + [f"quaternion{a}" for a in "WXYZ"]
    rows = []
    for segment in recording.annotation.segments:
        rows.append([EPOCH_NS + int(segment.start * 1e9), segment.start, segment.step.upper(), 80])
        rows.append([EPOCH_NS + int(segment.end * 1e9) - 1000, segment.end, "stop", 60])
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{folder}WristMotion.csv", _csv(header, wrist))
        if marks:
            annotation = ["time", "seconds_elapsed", "text", "millisecond_press_duration"]
            archive.writestr(f"{folder}Annotation.csv", _csv(annotation, rows))
        archive.writestr(f"{folder}Battery.csv", _csv(["time", "batteryLevel"], [[EPOCH_NS, 0.5]]))
        archive.writestr(f"{folder}Metadata.csv", _csv(["device name"], [["watch"]]))
    return path


def test_an_export_becomes_the_recording_it_was_made_from(tmp_path: Path, latte: Procedure) -> None:
    assert DEMO.imu is not None
    recording = read_sensor_logger_export(_export(tmp_path / "r.zip", DEMO, folder="r/"), latte)
    assert recording.session_id == "r" and recording.task == "latte_making"
    assert recording.imu is not None and recording.audio is None
    assert np.allclose(np.diff(recording.imu.times), 0.02)
    start = DEMO.imu.times[0]
    expected = np.column_stack(
        [np.interp(recording.imu.times + start, DEMO.imu.times, c) for c in DEMO.imu.values.T]
    )
    assert np.allclose(recording.imu.values, expected, atol=1e-3)
    got = [(s.step, round(s.start + start, 3)) for s in recording.annotation.segments]
    want = [(s.step, round(s.start, 3)) for s in DEMO.annotation.segments]
    assert got == want


def test_the_cli_writes_a_recording_folder(tmp_path: Path) -> None:
    export = _export(tmp_path / "watch.zip", DEMO)
    result = CliRunner().invoke(
        app,
        [
            "data",
            "import",
            "sensor-logger",
            str(export),
            "--task",
            "latte_making",
            "--out",
            str(tmp_path / "rec"),
        ],
    )
    assert result.exit_code == 0, result.output
    written = read_recording(tmp_path / "rec")
    assert written.task == "latte_making" and written.imu is not None
    assert len(written.annotation.segments) == len(DEMO.annotation.segments)
    bad = CliRunner().invoke(
        app,
        [
            "data",
            "import",
            "sensor-logger",
            str(tmp_path / "rec" / "meta.json"),
            "--task",
            "latte_making",
            "--out",
            str(tmp_path / "x"),
        ],
    )
    assert bad.exit_code != 0 and "not a readable zip file" in bad.output


def test_an_annotation_naming_no_step_is_an_error_with_its_row(latte: Procedure) -> None:
    marks = [(1.0, "grind beans"), (4.0, "make toast")]
    with pytest.raises(DataError, match=r"Annotation.csv:3: annotation 'make toast' names no step"):
        steps_from_annotations(marks, latte, 10.0)


def test_annotations_accept_ids_names_case_and_small_typos(latte: Procedure) -> None:
    marks = [
        (0.5, "GRIND_BEANS"),
        (2.0, "Brew cofee"),
        (3.0, "pause"),
        (3.5, "steam milk"),
        (3.5, "end"),
    ]
    segments = steps_from_annotations(marks, latte, 8.0)
    assert [(s.step, s.start, s.end) for s in segments] == [
        ("grind_beans", 0.5, 2.0),
        ("brew_coffee", 2.0, 3.0),
    ]


def test_an_export_without_motion_is_refused(tmp_path: Path, latte: Procedure) -> None:
    path = tmp_path / "empty.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("Battery.csv", _csv(["time", "batteryLevel"], [[EPOCH_NS, 0.5]]))
    with pytest.raises(DataError, match="no wrist motion"):
        read_sensor_logger_export(path, latte)


def test_a_row_without_a_time_names_its_file_and_line(tmp_path: Path, latte: Procedure) -> None:
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(
            "Gyroscope.csv", _csv(["time", "x", "y", "z"], [[EPOCH_NS, 0, 0, 0], ["soon", 0, 0, 0]])
        )
    with pytest.raises(DataError, match=r"bad.zip/Gyroscope.csv:3: 'time'"):
        read_sensor_logger_export(path, latte)

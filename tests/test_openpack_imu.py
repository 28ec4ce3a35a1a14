"""Tests for prism.data.openpack_imu on a hand-written fixture and (if present) the real data."""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from prism.data.annotations import AnnotatedSession, StepSegment
from prism.data.openpack import OPENPACK_OPERATIONS, OPENPACK_TASK, operation_step_id
from prism.data.openpack_imu import (
    DEG_TO_RAD,
    G_TO_MS2,
    imu_csv_path,
    load_openpack_imu,
    load_openpack_recordings,
    resample_imu,
    slice_imu,
    trim_to_imu,
)
from prism.data.recording import ImuSamples, Recording
from prism.errors import DataError

FIXTURE = Path(__file__).parent / "fixtures" / "openpack_mini"
REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "openpack"
OPERATION_IDS = {operation_step_id(name): op for op, name in OPENPACK_OPERATIONS}


@pytest.fixture
def root_copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURE, tmp_path / "openpack"))


def _imu_file(root: Path) -> Path:
    return imu_csv_path(root, "U0001", "S0100", "atr01")


def test_unit_conversion() -> None:
    assert G_TO_MS2 == 9.80665
    assert pytest.approx(math.pi) == 180.0 * DEG_TO_RAD
    imu = load_openpack_imu(FIXTURE, "U0001", "S0100")
    # Every fixture row: acc_x = 1 G, acc_z = 0 G, gyro = (180, -90, 0) deg/s.
    assert np.allclose(imu.values[:, 0], 9.80665)
    assert np.allclose(imu.values[:, 2], 0.0)
    assert np.allclose(imu.values[:, 3], math.pi)
    assert np.allclose(imu.values[:, 4], -math.pi / 2)
    assert imu.values.dtype == np.float32


def test_session_stream_has_absolute_unix_times() -> None:
    imu = load_openpack_imu(FIXTURE, "U0001", "S0100")
    assert imu.times[0] == pytest.approx(1648565985.0)
    assert imu.times[-1] == pytest.approx(1648566060.0)
    assert imu.rate == pytest.approx(10.0)
    assert imu.times.size == 751


def test_one_recording_per_box() -> None:
    recordings = load_openpack_recordings(FIXTURE)
    assert [r.session_id for r in recordings] == ["U0001-S0100-box01", "U0001-S0100-box02"]
    first = recordings[0]
    assert first.task == OPENPACK_TASK
    assert not first.synthetic
    assert first.audio is None
    assert first.metadata | {"imu_file": ""} == {
        "synthetic": False,
        "source": "OpenPack v1.0.0 (CC BY-NC-SA 4.0)",
        "user": "U0001",
        "session": "S0100",
        "box": 1,
        "wrist": "atr01",
        "wrist_side": "right",
        "imu_file": "",
        "native_rate_hz": 10.0,
        "imu_rate_hz": 10.0,
        "margin_s": 0.0,
        "imu_span_s": [0.0, 34.0],
        "label_source": "openpack-operations",
    }
    assert first.metadata["imu_file"].endswith("atr01/S0100.csv")


@pytest.mark.parametrize("margin", [0.0, 1.0], ids=["no-margin", "margin-1s"])
def test_imu_is_aligned_with_the_labels(margin: float) -> None:
    for recording in load_openpack_recordings(FIXTURE, margin=margin):
        assert recording.imu is not None
        times, acc_y = recording.imu.times, recording.imu.values[:, 1] / G_TO_MS2
        assert times[0] == pytest.approx(0.0)
        assert times[-1] == pytest.approx(recording.duration)
        # The fixture encodes the operation in progress as acc_y = id / 1000 G.
        for segment in recording.annotation.segments:
            inside = (times > segment.start + 1e-6) & (times < segment.end - 1e-6)
            assert inside.sum() >= 10
            assert np.allclose(acc_y[inside], OPERATION_IDS[segment.step] / 1000, atol=1e-6)
        before = times < recording.annotation.segments[0].start - 1e-6
        assert before.sum() == round(margin * 10)
        assert np.allclose(acc_y[before], 0.0)


def test_gap_rows_between_operations_read_as_zero() -> None:
    first = load_openpack_recordings(FIXTURE)[0]
    assert first.imu is not None
    other = (first.imu.times > 25.0 + 1e-6) & (first.imu.times < 28.0 - 1e-6)  # the 8000 row
    assert other.sum() == 29
    assert np.allclose(first.imu.values[other, 1], 0.0)


def test_resampled_to_the_project_rate() -> None:
    recording = load_openpack_recordings(FIXTURE, rate_hz=50.0)[1]
    assert recording.imu is not None
    assert recording.imu.rate == pytest.approx(50.0)
    assert np.allclose(recording.imu.times, np.arange(recording.imu.times.size) / 50.0)
    assert recording.metadata["imu_rate_hz"] == 50.0
    assert recording.metadata["native_rate_hz"] == 10.0


def test_resample_and_slice_helpers() -> None:
    values = np.tile(np.arange(5, dtype=np.float32)[:, None], (1, 6))
    imu = ImuSamples(np.array([10.0, 10.5, 11.0, 11.5, 12.0]), values)
    out = resample_imu(imu, 4.0)
    assert out.times.tolist() == [10.0, 10.25, 10.5, 10.75, 11.0, 11.25, 11.5, 11.75, 12.0]
    assert out.values[:, 0].tolist() == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0]
    part = slice_imu(imu, 10.5, 11.5)
    assert part.times.tolist() == [0.0, 0.5, 1.0]
    assert part.values[:, 0].tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(DataError, match="1 samples in"):
        slice_imu(imu, 11.9, 13.0)
    with pytest.raises(DataError, match="rate_hz must be a finite number > 0"):
        resample_imu(imu, 0.0)


def _edit(path: Path, change: Callable[[list[str]], list[str]]) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(change(lines)) + "\n", encoding="utf-8")


def _blank_acc(first: int, count: int) -> Callable[[list[str]], list[str]]:
    def change(lines: list[str]) -> list[str]:
        for i in range(first, first + count):
            cells = lines[i].split(",")
            cells[1:4] = ["", "nan", ""]
            lines[i] = ",".join(cells)
        return lines

    return change


def test_short_nan_runs_are_interpolated(root_copy: Path) -> None:
    _edit(_imu_file(root_copy), _blank_acc(100, 3))  # 0.3 s of empty / NaN cells
    imu = load_openpack_imu(root_copy, "U0001", "S0100")
    assert np.isfinite(imu.values).all()
    assert np.allclose(imu.values[:, 0], G_TO_MS2)


def test_rows_out_of_order_and_duplicates_are_repaired(root_copy: Path) -> None:
    def shuffle(lines: list[str]) -> list[str]:
        header, rows = lines[0], lines[1:]
        rows = rows[::-1] + rows[200:205]  # reversed, with 5 repeated timestamps
        return [header, *rows]

    _edit(_imu_file(root_copy), shuffle)
    repaired = load_openpack_imu(root_copy, "U0001", "S0100")
    original = load_openpack_imu(FIXTURE, "U0001", "S0100")
    assert np.array_equal(repaired.times, original.times)
    assert np.array_equal(repaired.values, original.values)


def _drop_rows(first: int, count: int) -> Callable[[list[str]], list[str]]:
    return lambda lines: lines[:first] + lines[first + count :]


def _drop_column(lines: list[str]) -> list[str]:
    return [",".join(line.split(",")[:6]) for line in lines]


def _blank_time(lines: list[str]) -> list[str]:
    lines[7] = "," + lines[7].split(",", 1)[1]
    return lines


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_blank_acc(100, 20), r"S0100\.csv: IMU channel acc_x is NaN for 2\.10 s"),
        (_drop_rows(100, 20), r"S0100\.csv: IMU has a gap of 2\.10 s"),
        (_drop_column, r"S0100\.csv:1: missing columns \['gyro_z'\]"),
        (_blank_time, r"S0100\.csv:8: unixtime is missing or not a number"),
        (lambda lines: lines[:1], r"S0100\.csv: holds no IMU samples"),
    ],
    ids=["long-nan-run", "time-gap", "missing-column", "missing-timestamp", "no-rows"],
)
def test_bad_imu_files_name_the_file(
    root_copy: Path, change: Callable[[list[str]], list[str]], message: str
) -> None:
    _edit(_imu_file(root_copy), change)
    with pytest.raises(DataError, match=message):
        load_openpack_recordings(root_copy)


def test_missing_sensor_file_and_unknown_wrist() -> None:
    with pytest.raises(DataError, match=r"atr02/S0100\.csv: OpenPack IMU file not found"):
        load_openpack_recordings(FIXTURE, wrist="atr02")
    with pytest.raises(DataError, match=r"wrist must be one of \['atr01', 'atr02'\], got 'atr03'"):
        load_openpack_imu(FIXTURE, "U0001", "S0100", "atr03")


def test_box_outside_the_imu_is_an_error(root_copy: Path) -> None:
    _edit(_imu_file(root_copy), lambda lines: lines[:200])  # the IMU stops before box 2
    with pytest.raises(DataError, match=r"S0100\.csv: box U0001-S0100-box02: IMU has 0 samples"):
        load_openpack_recordings(root_copy)


@pytest.mark.skipif(not REAL.is_dir(), reason="OpenPack data not present in ../shared/data")
def test_real_openpack_boxes() -> None:
    recordings = load_openpack_recordings(REAL, user="U0209", session="S0500")
    assert len(recordings) == 20
    for recording in recordings:
        assert recording.imu is not None
        assert recording.imu.rate == pytest.approx(1000.0 / 30.0, rel=1e-3)
        assert recording.imu.times[0] >= 0.0
        assert recording.imu.times[-1] <= recording.duration + 1e-6
        assert recording.annotation.segments[-1].end <= recording.duration
        gravity = np.linalg.norm(recording.imu.values[:, :3], axis=1).mean()
        assert 8.0 < gravity < 14.0  # m/s^2: G converted, gravity included
    # The sensor stops 3.9 s before the last box's labels do: the IMU is just shorter.
    last = recordings[-1]
    assert last.metadata["imu_span_s"][1] < last.duration - 3.0
    left = load_openpack_imu(REAL, "U0209", "S0500", "atr02")
    assert left.values.shape == (46800, 6)


def test_trim_to_imu_cuts_the_labels_where_the_imu_ends() -> None:
    imu = ImuSamples(np.arange(0.0, 5.0, 0.5), np.zeros((10, 6), dtype=np.float32))
    annotation = AnnotatedSession("b", "t", (StepSegment("a", 0.0, 6.0),), 6.0)
    recording = Recording("b", "t", annotation, imu=imu)
    assert trim_to_imu(recording).annotation.duration == pytest.approx(4.5)
    assert trim_to_imu(recording).annotation.segments == annotation.segments
    longer_imu = Recording("b", "t", AnnotatedSession("b", "t", (), 3.0), imu=imu)
    assert trim_to_imu(longer_imu).annotation.duration == pytest.approx(3.0)
    without_imu = Recording("b", "t", annotation, audio=np.zeros(10, dtype=np.float32))
    assert trim_to_imu(without_imu) is without_imu

"""Tests for prism.data.openpack on a hand-written fixture and (if present) the real data."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from prism.data.openpack import (
    OPENPACK_OPERATIONS,
    OPENPACK_TASK,
    load_openpack_operations,
    operation_step_id,
    read_openpack_operations,
)
from prism.errors import DataError

FIXTURE = Path(__file__).parent / "fixtures" / "openpack_mini"
REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "openpack"
CSV = Path("U0001", "annotation", "openpack-operations", "S0100.csv")


@pytest.fixture
def root_copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURE, tmp_path / "openpack"))


def test_one_session_per_box_with_relative_times() -> None:
    sessions = load_openpack_operations(FIXTURE)
    assert [s.session_id for s in sessions] == ["U0001-S0100-box01", "U0001-S0100-box02"]
    first = sessions[0]
    assert first.task == OPENPACK_TASK
    assert first.step_order == ("picking", "relocate_item_label", "assemble_box", "insert_items")
    # 23:59:50 -> 00:00:05 the next day is 15 s; the "other" row (8000) is a gap, not a step.
    assert [(s.start, s.end) for s in first.segments] == [
        (0.0, 8.5),
        (8.5, 15.0),
        (15.0, 25.0),
        (28.0, 34.0),
    ]
    assert first.duration == 34.0


def test_repeated_operation_and_skipped_steps() -> None:
    second = load_openpack_operations(FIXTURE)[1]
    assert second.step_order == ("picking", "assemble_box", "picking", "insert_items")
    assert second.skipped[0] == "relocate_item_label"
    assert "picking" not in second.skipped
    assert len(second.skipped) == len(OPENPACK_OPERATIONS) - 3


def test_operation_table_in_canonical_order() -> None:
    data = read_openpack_operations(FIXTURE)
    assert data.operations == OPENPACK_OPERATIONS
    assert [op for op, _ in data.operations] == list(range(100, 1001, 100))
    assert data.step_ids[1] == "relocate_item_label"
    assert operation_step_id("Fill out Order") == "fill_out_order"


def test_box_start_is_timezone_aware() -> None:
    data = read_openpack_operations(FIXTURE)
    start = data.box_starts["U0001-S0100-box01"]
    assert start == datetime(2022, 3, 29, 14, 59, 50, tzinfo=UTC)


def test_margin_shifts_times_and_start() -> None:
    data = read_openpack_operations(FIXTURE, margin=2.0)
    first = data.sessions[0]
    assert first.segments[0].start == 2.0
    assert first.duration == 34.0 + 4.0
    assert data.box_starts[first.session_id] == datetime(2022, 3, 29, 14, 59, 48, tzinfo=UTC)


def test_user_and_session_filters() -> None:
    assert len(load_openpack_operations(FIXTURE, user="U0001", session="S0100")) == 2
    with pytest.raises(DataError, match=r"U0002.*not found for user 'U0002'"):
        load_openpack_operations(FIXTURE, user="U0002")
    with pytest.raises(DataError, match=r"S0999\.csv: operation annotations not found"):
        load_openpack_operations(FIXTURE, user="U0001", session="S0999")
    with pytest.raises(DataError, match=r"no operation annotations \(user \*, session S0999\)"):
        load_openpack_operations(FIXTURE, session="S0999")


def test_missing_root() -> None:
    with pytest.raises(DataError, match=r"nowhere: OpenPack directory not found"):
        load_openpack_operations(Path("nowhere"))


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ("2022-03-29 23:59:58.500000+09:00,act:a", "yesterday,act:a", r":2: end must be an ISO"),
        ("23:59:50.000000+09:00", "23:59:50.000000", r":2: start time .* has no UTC offset"),
        ("S0100,1,300,Assemble", "S0100,one,300,Assemble", r":4: box must be an integer"),
        ("+09:00,2022-03-30 00:00:24", "+09:00,2022-03-29 00:00:24", r":6: end .* is before start"),
        ("200,Relocate Item Label", "200,Assemble Box", r":3: operation 200 is named 'Assemble"),
        ("uuid,user,", "uuid,person,", r":1: missing columns \['user'\]"),
    ],
    ids=["bad-time", "no-offset", "bad-box", "end-before-start", "name-conflict", "no-user-column"],
)
def test_bad_rows_name_file_and_line(root_copy: Path, old: str, new: str, match: str) -> None:
    path = root_copy / CSV
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(DataError, match=r"S0100\.csv" + match):
        load_openpack_operations(root_copy)


def test_negative_margin_rejected() -> None:
    with pytest.raises(DataError, match=r"margin must be .* >= 0, got -1"):
        read_openpack_operations(FIXTURE, margin=-1.0)


@pytest.mark.skipif(not REAL.is_dir(), reason="shared OpenPack data not present")
def test_real_openpack() -> None:
    data = read_openpack_operations(REAL, user="U0209", session="S0500")
    assert len(data.sessions) == 20
    assert data.operations == OPENPACK_OPERATIONS
    for session in data.sessions:
        assert session.segments[0].start == 0.0
        assert session.step_order[0] == "picking"
        assert 20.0 < session.duration < 300.0

"""Tests for prism.data.annotation_files: the annotation CSV format and slugify."""

from __future__ import annotations

from pathlib import Path

import pytest

from prism.data.annotation_files import read_annotation_csv, slugify, write_annotation_csv
from prism.data.annotations import AnnotatedSession, StepSegment
from prism.errors import DataError

GOOD = """session,step,start,end
s1,grind,0.0,12.5
s1,brew,14,40.25
s1,steam,-1,-1
s2,brew,3.5,9
s2,grind,0,4

s2,steam,-1,
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "annotations.csv"
    path.write_text(text)
    return path


def test_read_sessions(tmp_path: Path) -> None:
    sessions = read_annotation_csv(_write(tmp_path, GOOD), task="latte")
    assert [s.session_id for s in sessions] == ["s1", "s2"]
    first, second = sessions
    assert first.task == "latte"
    assert first.segments == (StepSegment("grind", 0.0, 12.5), StepSegment("brew", 14.0, 40.25))
    assert first.skipped == ("steam",)
    assert first.duration == 40.25
    assert second.step_order == ("grind", "brew")  # sorted by start time
    assert second.skipped == ("steam",)


def test_round_trip(tmp_path: Path) -> None:
    sessions = [
        AnnotatedSession(
            "a", "t", (StepSegment("x", 0.1, 2.0 / 3.0), StepSegment("y", 1.0, 5.0)), 5.0
        ),
        AnnotatedSession("b", "t", (StepSegment("y", 0.0, 1e-3),), 1e-3, skipped=("x",)),
    ]
    path = write_annotation_csv(sessions, tmp_path / "sub" / "out.csv")
    assert read_annotation_csv(path, task="t") == sessions


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", r":1: expected the header 'session,step,start,end', got 'an empty file'"),
        ("session,step,begin,end\n", r":1: expected the header"),
        ("session,step,start,end\n", r": no annotation rows"),
        ("session,step,start,end\ns1,a,0\n", r":2: expected 4 columns"),
        ("session,step,start,end\ns1,a,0,1\n,a,0,1\n", r":3: empty session id"),
        ("session,step,start,end\ns1,a b,0,1\n", r":2: invalid step id 'a b'"),
        ("session,step,start,end\ns1,end,0,1\n", r":2: invalid step id 'end'"),
        (
            "session,step,start,end\ns1,a,soon,1\n",
            r":2: start must be a number of seconds, got 'soon'",
        ),
        ("session,step,start,end\ns1,a,0,inf\n", r":2: end must be a finite number"),
        ("session,step,start,end\ns1,a,-2,1\n", r":2: start must be >= 0 s \(or -1"),
        ("session,step,start,end\ns1,a,5,1\n", r":2: end \(1.0 s\) is before start \(5.0 s\)"),
        ("session,step,start,end\ns1,a,-1,4\n", r":2: a skipped step \(start -1\) needs end -1"),
        (
            "session,step,start,end\ns1,a,-1,-1\ns1,a,-1,-1\n",
            r":3: step 'a' of session 's1' is skipped twice",
        ),
        (
            "session,step,start,end\ns1,a,0,1\ns1,a,-1,-1\n",
            r": session 's1': step 'a' is both performed and skipped",
        ),
    ],
    ids=[
        "empty",
        "bad-header",
        "no-rows",
        "short-row",
        "no-session",
        "bad-step",
        "reserved-step",
        "bad-number",
        "infinite",
        "negative-start",
        "end-before-start",
        "skipped-with-end",
        "skipped-twice",
        "performed-and-skipped",
    ],
)
def test_bad_files(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(DataError, match=r"annotations\.csv" + match):
        read_annotation_csv(_write(tmp_path, text), task="t")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"missing\.csv: annotation file not found"):
        read_annotation_csv(tmp_path / "missing.csv", task="t")


def test_write_rejects_duplicate_or_empty_sessions(tmp_path: Path) -> None:
    one = AnnotatedSession("a", "t", (StepSegment("x", 0.0, 1.0),), 1.0)
    with pytest.raises(DataError, match=r"duplicate session id 'a'"):
        write_annotation_csv([one, one], tmp_path / "x.csv")
    with pytest.raises(DataError, match=r"session 'e' has no performed or skipped step"):
        write_annotation_csv([AnnotatedSession("e", "t", (), 0.0)], tmp_path / "x.csv")


@pytest.mark.parametrize(
    ("text", "max_length", "slug"),
    [
        ("Chop-Chop 1 tsp cilantro", 40, "chop_chop_1_tsp_cilantro"),
        ("Chop 1/4 medium onion", 40, "chop_1_4_medium_onion"),
        ("  Relocate Item Label ", None, "relocate_item_label"),
        ("Spread nut butter onto the tortilla", 20, "spread_nut_butter"),
        ("Supercalifragilistic word", 10, "supercalif"),
        ("!!!", 40, ""),
    ],
    ids=["hyphen", "fraction", "spaces", "word-boundary", "hard-cut", "no-letters"],
)
def test_slugify(text: str, max_length: int | None, slug: str) -> None:
    assert slugify(text, max_length=max_length) == slug

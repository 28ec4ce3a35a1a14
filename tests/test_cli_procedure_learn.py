"""Tests for ``prism procedure learn`` and ``prism procedure import`` (CliRunner, tmp_path)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prism.cli import app
from prism.data.annotation_files import write_annotation_csv
from prism.data.annotations import AnnotatedSession, StepSegment
from prism.procedure.io import load_procedure, save_procedure
from prism.procedure.learn import learn_procedure
from prism.procedure.model import DurationStats, Procedure, Step, StepNotes

FIXTURES = Path(__file__).parent / "fixtures"
CC4D = FIXTURES / "captaincook4d_mini"
OPENPACK = FIXTURES / "openpack_mini"


def _sessions() -> list[AnnotatedSession]:
    def session(name: str, *steps: tuple[str, float, float]) -> AnnotatedSession:
        segments = tuple(StepSegment(*step) for step in steps)
        return AnnotatedSession(name, "tea", segments, segments[-1].end)

    return [
        session("s1", ("boil", 0.0, 60.0), ("steep", 62.0, 240.0)),
        session("s2", ("boil", 0.0, 50.0), ("steep", 50.0, 230.0), ("boil", 231.0, 240.0)),
    ]


@pytest.fixture
def annotations(tmp_path: Path) -> Path:
    return write_annotation_csv(_sessions(), tmp_path / "tea.csv")


def _invoke(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    return result.exit_code, result.stdout, result.stderr


def test_learn_round_trip(tmp_path: Path, annotations: Path) -> None:
    out = tmp_path / "tea" / "procedure.yaml"
    code, stdout, stderr = _invoke(
        "procedure", "learn", annotations, "--id", "tea", "--out", out, "--json"
    )
    assert code == 0, stderr
    report = json.loads(stdout)
    assert report["written"] == [str(out)]
    assert report["procedures"][0] | {"path": ""} == {
        "id": "tea",
        "name": "Tea",
        "steps": 2,
        "sessions": 2,
        "path": "",
    }
    loaded = load_procedure(out)
    learned = learn_procedure(_sessions(), procedure_id="tea", name="Tea")
    assert loaded.step_ids == learned.step_ids == ("boil", "steep")
    assert loaded.step("boil").repeatable
    assert loaded.step("steep").duration.mean == pytest.approx(179.0)
    for src, row in learned.transitions.items():
        assert dict(loaded.transitions[src]) == pytest.approx(dict(row), abs=1e-4)
    assert "tea.csv" in loaded.source


def test_learn_with_base_steps(tmp_path: Path, annotations: Path) -> None:
    placeholder = DurationStats(mean=1.0, std=0.5)
    notes = StepNotes(time_critical=True, reminder="Take the bag out after 3 minutes")
    base = Procedure(
        id="tea_base",
        name="Green tea",
        description="Brew a cup of green tea.",
        steps=(
            Step("boil", "Boil water", "Boil a cup of water.", placeholder),
            Step("steep", "Steep", "Steep the tea bag.", placeholder, notes=notes),
            Step("honey", "Add honey", "Stir in honey.", placeholder),
        ),
        transitions={
            "start": {"boil": 1.0},
            "boil": {"steep": 1.0},
            "steep": {"honey": 1.0},
            "honey": {"end": 1.0},
        },
        precedence=(("boil", "steep"),),
    )
    base_file = tmp_path / "base.yaml"
    save_procedure(base, base_file)
    out = tmp_path / "out.yaml"
    code, stdout, stderr = _invoke(
        "procedure",
        "learn",
        annotations,
        "--id",
        "tea",
        "--steps",
        base_file,
        "--smoothing",
        "1.0",
        "--out",
        out,
    )
    assert code == 0, stderr
    assert "tea" in stdout
    learned = load_procedure(out)
    assert learned.name == "Green tea"
    assert learned.description == "Brew a cup of green tea."
    assert learned.step("steep").notes == notes
    assert learned.step("honey").name == "Add honey"
    assert learned.precedence == (("boil", "steep"),)
    assert learned.transitions["start"].get("steep", 0.0) == 0.0  # boil must come first
    assert learned.transitions["steep"]["honey"] > 0.0  # never seen, plausible


def test_learn_reports_bad_rows_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("session,step,start,end\ns1,boil,0,1\ns1,steep,9,2\n")
    code, _, stderr = _invoke("procedure", "learn", bad, "--id", "t", "--out", tmp_path / "o.yaml")
    assert code == 1
    assert "bad.csv:3: end (2.0 s) is before start (9.0 s)" in stderr
    assert "Traceback" not in stderr


def test_learn_rejects_duplicate_sessions_across_files(tmp_path: Path, annotations: Path) -> None:
    other = write_annotation_csv(_sessions()[:1], tmp_path / "again.csv")
    code, _, stderr = _invoke(
        "procedure", "learn", annotations, other, "--id", "t", "--out", tmp_path / "o.yaml"
    )
    assert code == 1
    assert "session 's1' is also in" in stderr


def test_learn_reports_unknown_step_in_base(tmp_path: Path, annotations: Path) -> None:
    base = tmp_path / "base.yaml"
    save_procedure(
        learn_procedure(_sessions()[:1], procedure_id="b", name="B", step_ids=["boil", "steep"]),
        base,
    )
    other = write_annotation_csv(
        [AnnotatedSession("x", "t", (StepSegment("milk", 0.0, 1.0),), 1.0)], tmp_path / "milk.csv"
    )
    code, _, stderr = _invoke(
        "procedure", "learn", other, "--id", "t", "--steps", base, "--out", tmp_path / "o.yaml"
    )
    assert code == 1
    assert "step 'milk' is not in the procedure" in stderr


def test_import_captaincook4d(tmp_path: Path) -> None:
    code, stdout, stderr = _invoke(
        "procedure", "import", "captaincook4d", CC4D, "--out-dir", tmp_path, "--json"
    )
    assert code == 0, stderr
    report = json.loads(stdout)
    expected = [
        tmp_path / "buttered_toast" / "procedure.yaml",
        tmp_path / "green_tea" / "procedure.yaml",
    ]
    assert report["written"] == [str(path) for path in expected]
    assert report["skipped_recordings"] == {"3_1": "Mystery Soup"}
    assert any("1_10" in note for note in report["warnings"])
    tea = load_procedure(expected[1])
    assert tea.id == "green_tea" and tea.n_steps == 5
    assert tea.precedence[0] == ("boil_1_cup_of_water", "steep_the_tea_bag_for_3_minutes")


def test_import_captaincook4d_one_recipe_with_table(tmp_path: Path) -> None:
    code, stdout, stderr = _invoke(
        "procedure", "import", "captaincook4d", CC4D, "--out-dir", tmp_path, "--recipe", "Green Tea"
    )
    assert code == 0, stderr
    assert "green_tea" in stdout
    assert [p.parent.name for p in tmp_path.glob("*/procedure.yaml")] == ["green_tea"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["captaincook4d", "missing_dir"], "missing_dir: CaptainCook4D directory not found"),
        (["captaincook4d", str(CC4D), "--recipe", "pizza"], "no task graph for recipe 'pizza'"),
        (["openpack", "missing_dir"], "missing_dir: OpenPack directory not found"),
        (["openpack", str(OPENPACK), "--user", "U9"], "not found for user 'U9'"),
    ],
    ids=["cc4d-missing", "cc4d-unknown-recipe", "openpack-missing", "openpack-unknown-user"],
)
def test_import_errors(tmp_path: Path, args: list[str], message: str) -> None:
    code, _, stderr = _invoke("procedure", "import", *args, "--out-dir", tmp_path)
    assert code == 1
    assert message in stderr
    assert "Traceback" not in stderr


def test_import_openpack(tmp_path: Path) -> None:
    code, stdout, stderr = _invoke(
        "procedure", "import", "openpack", OPENPACK, "--out-dir", tmp_path, "--json"
    )
    assert code == 0, stderr
    path = tmp_path / "openpack_packing" / "procedure.yaml"
    assert json.loads(stdout)["written"] == [str(path)]
    procedure = load_procedure(path)
    assert procedure.id == "openpack_packing" and procedure.name == "OpenPack packing"
    assert procedure.n_steps == 10
    assert procedure.step("relocate_item_label").name == "Relocate Item Label"
    assert procedure.step("picking").repeatable
    assert "2 OpenPack boxes" in procedure.source


def test_learn_from_recording_folders(tmp_path: Path) -> None:
    """Recorded and labelled sessions (the recording format) teach a procedure directly."""
    demo = Path(__file__).resolve().parents[1] / "datasets" / "demo"
    folders = sorted(p for p in demo.glob("latte_making-s*") if p.is_dir())
    out = tmp_path / "latte" / "procedure.yaml"
    code, stdout, stderr = _invoke(
        "procedure", "learn", *folders, "--id", "latte_making", "--out", out,
        "--steps", demo.parents[1] / "tasks" / "latte_making" / "procedure.yaml", "--json",
    )  # fmt: skip
    assert code == 0, stderr
    assert json.loads(stdout)["procedures"][0]["sessions"] == len(folders) >= 2
    learned = load_procedure(out)
    assert learned.transitions["start"]  # the first steps of the recordings
    bare = tmp_path / "not-a-recording"
    bare.mkdir()
    code, _, stderr = _invoke("procedure", "learn", bare, "--id", "x", "--out", tmp_path / "x.yaml")
    assert code != 0 and "without labels.csv" in stderr

"""``prism eval tracker`` and ``prism demo`` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prism.cli import app

MINI = Path(__file__).parent / "fixtures" / "captaincook4d_mini"
runner = CliRunner()


def test_eval_tracker_json() -> None:
    with pytest.warns(UserWarning):
        result = runner.invoke(
            app, ["eval", "tracker", "--data-dir", str(MINI), "--json", "--jobs", "1"]
        )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    for field in ("raw_accuracy", "tracked_accuracy", "macro_f1", "edit_score", "per_recipe"):
        assert field in report
    assert set(report["per_recipe"]["green_tea"]) >= {
        "raw_accuracy",
        "tracked_accuracy",
        "macro_f1",
        "edit_score",
    }
    assert report["settings"]["raw_accuracy_target"] == 0.55


def test_eval_tracker_table() -> None:
    with pytest.warns(UserWarning):
        result = runner.invoke(app, ["eval", "tracker", "--data-dir", str(MINI), "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert "green_tea" in result.stdout
    assert "MEAN" in result.stdout


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--data-dir", "/no/such/dir"], "is not a directory"),
        (["--data-dir", str(MINI), "--raw-accuracy", "1.5"], "--raw-accuracy must be in"),
    ],
    ids=["missing-dir", "bad-accuracy"],
)
def test_eval_tracker_user_errors(arguments: list[str], message: str) -> None:
    result = runner.invoke(app, ["eval", "tracker", *arguments])
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_eval_tracker_empty_directory_is_a_clean_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["eval", "tracker", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "task-graph directory not found" in result.output
    assert "Traceback" not in result.output


def test_demo_runs_and_tracks(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--speed", "0", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "Attach filter" in result.output
    assert "raw classifier" in result.output
    assert "tracked" in result.output


def test_demo_unknown_task_is_a_clean_error() -> None:
    result = runner.invoke(app, ["demo", "--task", "no_such_task", "--speed", "0"])
    assert result.exit_code == 1
    assert "no_such_task" in result.output

"""``prism eval reminders`` from the command line, on a miniature CaptainCook4D layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prism.cli import app

MINI = Path(__file__).parent / "fixtures" / "captaincook4d_mini"
runner = CliRunner()


def test_eval_reminders_json_and_plots(tmp_path: Path) -> None:
    with pytest.warns(UserWarning):
        result = runner.invoke(
            app,
            [
                "eval", "reminders", "--data-dir", str(MINI), "--json", "--jobs", "1",
                "--plot", str(tmp_path),
            ],
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    for field in ("missed_step_recall", "median_lead_time_s", "false_reminders_per_session"):
        assert field in report and field in report["baseline"]
    assert report["skipped_steps"] >= 1
    # the last check at the finish only adds reminders to those of the task
    assert 0.0 <= report["missed_step_recall_in_task"] <= report["missed_step_recall"]
    assert report["false_reminders_per_session_in_task"] <= report["false_reminders_per_session"]
    assert report["n_recordings"] == sum(
        s["observer"]["n_recordings"] for s in report["per_recipe"].values()
    )
    assert report["plots"] and all(Path(p).stat().st_size > 1000 for p in report["plots"])


def test_eval_reminders_table() -> None:
    with pytest.warns(UserWarning):
        result = runner.invoke(app, ["eval", "reminders", "--data-dir", str(MINI), "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert "ALL" in result.stdout and "baseline" in result.stdout


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--data-dir", "/no/such/dir"], "is not a directory"),
        (["--data-dir", str(MINI), "--raw-accuracy", "0"], "--raw-accuracy must be in"),
    ],
    ids=["missing-dir", "bad-accuracy"],
)
def test_eval_reminders_user_errors(arguments: list[str], message: str) -> None:
    result = runner.invoke(app, ["eval", "reminders", *arguments])
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output

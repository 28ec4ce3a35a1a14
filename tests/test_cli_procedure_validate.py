"""Tests for ``prism procedure validate`` (prism.cli.procedure_validate)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from prism.cli import app

GOOD = """\
id: tea
name: Tea
steps:
  - {id: boil, name: Boil water, duration: {mean: 90.0, std: 10.0}}
  - {id: steep, name: Steep, duration: {mean: 180.0, std: 30.0}}
transitions:
  start: {boil: 1.0}
  boil: {steep: 1.0}
  steep: {end: 1.0}
"""
BAD = GOOD.replace("std: 10.0", "std: -1").replace("steep: {end: 1.0}", "steep: {end: 0.5}")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {
        "good": tmp_path / "good.yaml",
        "bad": tmp_path / "bad.yaml",
        "empty": tmp_path / "empty.yaml",
        "binary": tmp_path / "binary.yaml",
        "directory": tmp_path / "a_directory",
        "missing": tmp_path / "missing.yaml",
    }
    paths["good"].write_text(GOOD, encoding="utf-8")
    paths["bad"].write_text(BAD, encoding="utf-8")
    paths["empty"].write_bytes(b"")
    garbage = np.random.default_rng(0).integers(0, 256, size=1024, dtype=np.uint8)
    paths["binary"].write_bytes(garbage.tobytes())
    paths["directory"].mkdir()
    return paths


def test_valid_file(runner: CliRunner, files: dict[str, Path]) -> None:
    result = runner.invoke(app, ["procedure", "validate", str(files["good"])])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"ok  {files['good']} (2 steps, 3 transitions)\n"


def test_invalid_file_lists_every_issue_by_line(runner: CliRunner, files: dict[str, Path]) -> None:
    result = runner.invoke(app, ["procedure", "validate", str(files["bad"])])
    assert result.exit_code == 1
    bad = files["bad"]
    assert result.stdout.splitlines() == [
        f"{bad}:4:62: step 'boil': duration std must be >= 0 seconds, got -1.0",
        f"{bad}:9:3: outgoing probabilities of 'steep' sum to 0.5, expected 1 (within 0.001)",
    ]


def test_several_files_in_order_and_exit_code_1_if_any_fails(
    runner: CliRunner, files: dict[str, Path]
) -> None:
    args = [str(files[name]) for name in ("good", "missing", "good")]
    result = runner.invoke(app, ["procedure", "validate", *args])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"ok  {files['good']} (2 steps, 3 transitions)",
        f"{files['missing']}: no such file",
        f"ok  {files['good']} (2 steps, 3 transitions)",
    ]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        pytest.param("missing", "no such file", id="missing"),
        pytest.param("directory", "is a directory", id="directory"),
        pytest.param("empty", "the file is empty", id="empty"),
        pytest.param("binary", "not UTF-8 text", id="binary"),
    ],
)
def test_user_mistakes_give_a_message_not_a_traceback(
    runner: CliRunner, files: dict[str, Path], name: str, message: str
) -> None:
    result = runner.invoke(app, ["procedure", "validate", str(files[name])])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert message in result.stdout
    assert str(files[name]) in result.stdout
    assert "Traceback" not in result.output


def test_json_output(runner: CliRunner, files: dict[str, Path]) -> None:
    args = [str(files[name]) for name in ("good", "bad", "missing")]
    result = runner.invoke(app, ["procedure", "validate", "--json", *args])
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert [entry["file"] for entry in payload] == args
    assert [entry["ok"] for entry in payload] == [True, False, False]
    assert payload[0]["issues"] == []
    assert payload[1]["issues"][0] == {
        "line": 4,
        "column": 62,
        "message": "step 'boil': duration std must be >= 0 seconds, got -1.0",
    }
    assert len(payload[1]["issues"]) == 2
    assert payload[2]["issues"] == [{"line": None, "column": None, "message": "no such file"}]


def test_json_output_all_valid_exits_0(runner: CliRunner, files: dict[str, Path]) -> None:
    result = runner.invoke(app, ["procedure", "validate", "--json", str(files["good"])])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == [{"file": str(files["good"]), "ok": True, "issues": []}]


def test_no_files_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(app, ["procedure", "validate"])
    assert result.exit_code == 2


def test_help(runner: CliRunner) -> None:
    result = runner.invoke(app, ["procedure", "validate", "--help"])
    assert result.exit_code == 0
    assert "--json" in result.stdout


def test_task_files_in_the_repository_validate(runner: CliRunner) -> None:
    root = Path(__file__).resolve().parents[1]
    paths = sorted(str(p) for p in (root / "tasks").glob("*/procedure.yaml"))
    if not paths:
        pytest.skip("no tasks/*/procedure.yaml yet")
    result = runner.invoke(app, ["procedure", "validate", *paths])
    assert result.exit_code == 0, result.stdout


def test_the_cli_starts_without_loading_torch_or_librosa() -> None:
    # quick commands (procedure validate, --help) must not pay for the models' libraries
    probe = "import sys, prism.cli; print(sorted({'torch', 'librosa'} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]"

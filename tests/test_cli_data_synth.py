"""Tests for ``prism data synth`` (CliRunner into tmp_path)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prism.cli import app
from prism.data.recording import read_recording
from prism.procedure.io import save_procedure
from prism.procedure.model import END, START, DurationStats, Procedure, Step

FIXTURES = Path(__file__).parent / "fixtures"
CC4D = FIXTURES / "captaincook4d_mini"
OPENPACK = FIXTURES / "openpack_mini"
SHORT = ("--duration-scale", "0.15", "--motion", "parametric")


def _invoke(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    return result.exit_code, result.stdout, result.stderr


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_synth_writes_recordings_and_a_json_summary(tmp_path: Path) -> None:
    out = tmp_path / "latte"
    code, stdout, stderr = _invoke(
        "data", "synth", "--task", "latte_making", "--sessions", "2", "--seed", "3",
        "--out", out, "--users", "2", "--snr-min", "5", "--snr-max", "10", *SHORT, "--json",
    )  # fmt: skip
    assert code == 0, stderr
    report = json.loads(stdout)
    assert report["task"] == "latte_making"
    assert report["seed"] == 3
    assert report["motion_source"] == "parametric"
    assert [s["session_id"] for s in report["sessions"]] == [
        "latte_making-s000",
        "latte_making-s001",
    ]
    assert report["bytes"] > 0
    for entry in report["sessions"]:
        recording = read_recording(entry["path"])
        assert recording.synthetic
        assert recording.task == "latte_making"
        assert 5.0 <= recording.metadata["snr_db"] <= 10.0
        assert recording.imu is not None and recording.audio is not None
    assert (out / "manifest.json").is_file()


def test_synth_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    for name in ("a", "b"):
        code, _, stderr = _invoke(
            "data", "synth", "--task", "latte_making", "--sessions", "1", "--seed", "8",
            "--out", tmp_path / name, *SHORT, "--json",
        )  # fmt: skip
        assert code == 0, stderr
    assert _hashes(tmp_path / "a") == _hashes(tmp_path / "b")


def test_synth_table_output_and_tasks_dir(tmp_path: Path) -> None:
    duration = DurationStats(mean=2.0, std=0.5, min=1.0)
    tiny = Procedure(
        id="tea",
        name="Tea",
        steps=(Step("boil", "Boil water", "", duration), Step("pour", "Pour tea", "", duration)),
        transitions={START: {"boil": 1.0}, "boil": {"pour": 1.0}, "pour": {END: 1.0}},
    )
    (tmp_path / "tasks" / "tea").mkdir(parents=True)
    save_procedure(tiny, tmp_path / "tasks" / "tea" / "procedure.yaml")
    code, stdout, stderr = _invoke(
        "data", "synth", "--task", "tea", "--sessions", "2", "--out", tmp_path / "out",
        "--tasks-dir", tmp_path / "tasks", "--motion", "openpack", "--openpack", OPENPACK,
    )  # fmt: skip
    assert code == 0, stderr
    assert "Tea: 2 semi-synthetic sessions" in stdout
    assert "tea-s001" in stdout
    assert "OpenPack U0001/S0100, atr01" in stdout
    assert read_recording(tmp_path / "out" / "tea-s000").metadata["motion_source"] == "openpack"


def test_synth_from_captaincook_copies_real_timing(tmp_path: Path) -> None:
    code, stdout, stderr = _invoke(
        "data", "synth", "--from-captaincook", CC4D, "--recipe", "butteredtoast",
        "--sessions", "2", "--out", tmp_path, "--motion", "parametric", "--json",
    )  # fmt: skip
    assert code == 0, stderr
    report = json.loads(stdout)
    assert report["task"] == "buttered_toast"
    first = read_recording(report["sessions"][0]["path"])
    assert first.metadata["label_source"] == "real annotated session buttered_toast/2_1"
    assert [s.step for s in first.annotation.segments] == [
        "toast_2_slices_of_bread",
        "spread_butter_on_the_toast",
        "cut_the_toast_in_half",
    ]
    assert first.annotation.segments[0].start == 2.0
    assert first.duration == 180.5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "nope"], r"unknown task 'nope'.*available tasks in .*latte_making"),
        (["--task", "latte_making", "--sessions", "0"], r"--sessions must be >= 1, got 0"),
        (["--task", "latte_making", "--users", "0"], r"--users must be >= 1, got 0"),
        (["--task", "latte_making", "--seed", "-2"], r"--seed must be >= 0, got -2"),
        (
            ["--task", "latte_making", "--snr-min", "9", "--snr-max", "3"],
            r"--snr-min \(9\.0\) must not exceed",
        ),
        (["--task", "latte_making", "--duration-scale", "0"], r"--duration-scale must be > 0"),
        ([], r"give --task NAME"),
        (
            ["--task", "latte_making", "--motion", "openpack", "--openpack", "/no/such/dir"],
            r"--motion openpack: OpenPack data not found at /no/such/dir",
        ),
        (
            ["--from-captaincook", str(CC4D), "--recipe", "pizza"],
            r"no task graph for recipe 'pizza'",
        ),
        (["--from-captaincook", str(CC4D)], r"--from-captaincook needs --recipe"),
    ],
    ids=[
        "unknown-task",
        "no-sessions",
        "no-users",
        "negative-seed",
        "snr-range",
        "duration-scale",
        "no-task",
        "openpack-missing",
        "unknown-recipe",
        "no-recipe",
    ],
)
def test_synth_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    code, _, stderr = _invoke("data", "synth", "--out", tmp_path, *args)
    assert code == 1
    assert re.search(message, " ".join(stderr.split())), stderr
    assert not (tmp_path / "manifest.json").exists()

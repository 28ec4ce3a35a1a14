"""Tests for ``prism train`` (CliRunner; tiny recordings and models in tmp_path)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from prism.cli import app
from prism.cli.train import load_training_data
from prism.data.recording import write_recording
from prism.data.synth import synthesize_session
from prism.procedure.model import Procedure
from prism.sensing import ActivityClassifier, StreamingClassifier

FIXTURES = Path(__file__).parent / "fixtures"
OPENPACK = FIXTURES / "openpack_mini"
MODEL_FILES = {
    "config.json",
    "weights.pt",
    "normalizer.json",
    "calibration.json",
    "confusion_matrix.json",
    "confusion_matrix.csv",
    "model_card.json",
    "MODEL_CARD.md",
}
FAST = ("--max-epochs", "2", "--threads", "1")


def _invoke(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, latte: Procedure) -> Path:
    """Three tiny semi-synthetic latte sessions (about 40 s each), as `prism data synth` writes."""
    root = tmp_path_factory.mktemp("recordings")
    for i in range(3):
        recording = synthesize_session(
            latte, seed=10 + i, session_id=f"latte-{i}", duration_scale=0.15
        )
        write_recording(recording, root / recording.session_id)
    (root / "manifest.json").write_text("{}", encoding="utf-8")  # files are ignored
    return root


@pytest.fixture(scope="module")
def trained(
    data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    """A model trained by the CLI (2 epochs) and its JSON summary."""
    out = tmp_path_factory.mktemp("models") / "latte_making"
    code, stdout, stderr = _invoke(
        "train", "--task", "latte_making", "--data", data_dir, "--out", out, *FAST, "--json"
    )
    assert code == 0, stderr
    return out, json.loads(stdout)


def test_train_writes_a_loadable_model_directory(trained: tuple[Path, dict[str, Any]]) -> None:
    out, _ = trained
    assert {p.name for p in out.iterdir()} == MODEL_FILES
    model = ActivityClassifier.load(out)
    assert model.modalities == ("imu", "audio")
    assert model.class_names[-1] == "other"
    assert len(model.class_names) == 20
    assert model.config.max_epochs == 2
    assert model.config.threads == 1
    StreamingClassifier(model)  # usable for live classification


def test_train_summary_and_model_card(trained: tuple[Path, dict[str, Any]]) -> None:
    out, summary = trained
    assert summary["task"] == "latte_making"
    assert summary["out_dir"] == str(out)
    assert summary["split"] == {"train": 2, "validation": 1}
    assert summary["metrics_source"] == "validation"
    assert summary["epochs_run"] <= 2
    assert 1 <= summary["best_epoch"] <= summary["epochs_run"]
    for key in ("accuracy", "macro_f1", "ece_before", "ece_after"):
        assert 0.0 <= summary[key] <= 1.0, key
    assert summary["size_bytes"] == sum(p.stat().st_size for p in out.iterdir())
    assert summary["parameters"] > 0
    card = json.loads((out / "model_card.json").read_text(encoding="utf-8"))
    data = card["data"]["caller"]
    assert data["sessions"] == 3
    assert data["synthetic"] == "semi-synthetic"
    assert data["source"] == "recording folders"
    assert data["generator"] == "prism.data.synth v1"
    assert card["model"]["task"] == "latte_making"
    assert set(card["metrics"]) == {"load_s", "fit_s"}
    assert card["data"]["summary"]["train"]["synthetic_sessions"] == 2


def test_train_table_output_with_one_modality_and_privacy(data_dir: Path, tmp_path: Path) -> None:
    code, stdout, stderr = _invoke(
        "train", "--task", "latte_making", "--data", data_dir, "--out", tmp_path / "m",
        "--modalities", "audio", "--privacy-rate", "1000", "--max-epochs", "1",
        "--validation-fraction", "0",
    )  # fmt: skip
    assert code == 0, stderr
    assert "activity classifier saved to" in stdout
    assert "audio (audio at 1000 Hz)" in stdout
    assert "3 training, 0 validation sessions" in stdout
    assert "metrics are on the training sessions" in stdout
    model = ActivityClassifier.load(tmp_path / "m")
    assert model.modalities == ("audio",)
    assert model.privacy_rate == 1000


def test_train_with_late_fusion(data_dir: Path, tmp_path: Path) -> None:
    code, _, stderr = _invoke(
        "train", "--task", "latte_making", "--data", data_dir, "--out", tmp_path / "m",
        "--fusion", "late", "--max-epochs", "1", "--threads", "1",
    )  # fmt: skip
    assert code == 0, stderr
    model = ActivityClassifier.load(tmp_path / "m")
    assert model.config.network.fusion == "late"
    assert model.network_.branch_names == ("imu", "audio")


def test_train_on_openpack_imu(tmp_path: Path) -> None:
    code, stdout, stderr = _invoke(
        "train", "--task", "openpack_packing", "--data", f"openpack:{OPENPACK}",
        "--out", tmp_path / "op", "--modalities", "imu", "--max-epochs", "1", "--json",
    )  # fmt: skip
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["data"]["synthetic"] == "real"
    assert summary["data"]["sessions"] == 2
    assert summary["modalities"] == ["imu"]
    assert ActivityClassifier.load(tmp_path / "op").step_ids[0] == "picking"


def test_openpack_labels_are_trimmed_to_the_imu(tmp_path: Path) -> None:
    root = tmp_path / "openpack"
    shutil.copytree(OPENPACK, root)
    imu = root / "U0001" / "atr" / "atr01" / "S0100.csv"
    lines = imu.read_text(encoding="utf-8").splitlines()
    # 10 Hz rows to 4 s past box 2: cut 8 s, and the sensor stops 4 s before its labels end
    imu.write_text("\n".join(lines[:-80]) + "\n", encoding="utf-8")
    recordings, description = load_training_data(f"openpack:{root}")
    last = recordings[-1]
    assert last.imu is not None
    assert last.duration == pytest.approx(float(last.imu.times[-1]))
    assert last.duration == pytest.approx(22.0)  # labelled 26 s
    assert recordings[0].duration == pytest.approx(34.0)  # covered: unchanged
    assert description["kind"] == "openpack"


def test_train_refuses_to_write_over_a_folder_that_is_not_a_model(
    data_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("keep me", encoding="utf-8")
    code, _, stderr = _invoke("train", "--task", "latte_making", "--data", data_dir,
                              "--out", tmp_path, *FAST)  # fmt: skip
    assert code == 1
    assert re.search(r"non-empty folder that holds no model", stderr)
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "keep me"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "nope"], r"unknown task 'nope'.*available tasks in .*latte_making"),
        (["--task", "latte_making", "--modalities", "imu,video"], r"--modalities must be"),
        (["--task", "latte_making", "--modalities", "imu,imu"], r"without repeats"),
        (["--task", "latte_making", "--modalities", ","], r"--modalities must be"),
        (["--task", "latte_making", "--max-epochs", "0"], r"--max-epochs must be >= 1, got 0"),
        (["--task", "latte_making", "--threads", "0"], r"--threads must be >= 1"),
        (["--task", "latte_making", "--seed", "-1"], r"--seed must be >= 0"),
        (["--task", "latte_making", "--validation-fraction", "1"], r"must be in \[0, 1\)"),
        (
            ["--task", "latte_making", "--modalities", "imu", "--privacy-rate", "1000"],
            r"--privacy-rate 1000 needs the audio modality",
        ),
        (
            ["--task", "latte_making", "--privacy-rate", "3000"],
            r"privacy_rate must be a positive integer dividing",
        ),
        (["--task", "latte_making", "--time-limit", "0"], r"--time-limit must be > 0 s, got 0"),
        (["--task", "latte_making", "--fusion", "middle"], r"fusion must be one of"),
        (["--task", "openpack_packing"], r"none of the 3 sessions is of task 'openpack_packing'"),
    ],
    ids=[
        "unknown-task",
        "unknown-modality",
        "repeated-modality",
        "no-modality",
        "epochs",
        "threads",
        "seed",
        "validation-fraction",
        "privacy-without-audio",
        "bad-privacy-rate",
        "time-limit",
        "fusion",
        "no-session-of-task",
    ],
)
def test_train_user_errors(data_dir: Path, tmp_path: Path, args: list[str], message: str) -> None:
    code, _, stderr = _invoke("train", "--data", data_dir, "--out", tmp_path / "m", *args)
    assert code == 1, stderr
    assert re.search(message, stderr), stderr
    assert "Traceback" not in stderr
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("{empty}", r"no recordings \(sub-folders with meta.json\) found"),
        ("{empty}/missing", r"not a directory"),
        ("openpack:{empty}/missing", r"OpenPack directory .* not found"),
        ("openpack:{empty}", r"no operation annotations"),
        ("{broken}", r"meta.json: not valid JSON"),
    ],
    ids=["empty-dir", "missing-dir", "missing-openpack", "empty-openpack", "broken-recording"],
)
def test_train_data_errors(tmp_path: Path, data: str, message: str) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    broken = tmp_path / "broken"
    (broken / "s1").mkdir(parents=True)
    (broken / "s1" / "meta.json").write_text("{not json", encoding="utf-8")
    code, _, stderr = _invoke(
        "train", "--task", "latte_making", "--data", data.format(empty=empty, broken=broken),
        "--out", tmp_path / "m", *FAST,
    )  # fmt: skip
    assert code == 1, stderr
    assert re.search(message, stderr), stderr


def test_train_names_sessions_missing_a_modality(tmp_path: Path) -> None:
    code, _, stderr = _invoke(
        "train", "--task", "openpack_packing", "--data", f"openpack:{OPENPACK}",
        "--out", tmp_path / "m", *FAST,
    )  # fmt: skip
    assert code == 1
    assert re.search(r"2 of 2 sessions have no audio \(U0001-S0100-box01", stderr)
    assert "--modalities imu" in stderr

"""Leave-one-session-out HAR evaluation on tiny semi-synthetic data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from prism.cli import app
from prism.data.recording import Recording, read_recording, write_recording
from prism.data.synth import synthesize_dataset
from prism.evaluation.har import BASELINE, HarConfiguration, HarEvaluationConfig, evaluate_har
from prism.evaluation.metrics import macro_f1
from prism.procedure.model import Procedure
from prism.sensing.training import TrainingConfig

FAST = HarEvaluationConfig(
    training=TrainingConfig(max_epochs=2, threads=1, validation_fraction=0.0),
    baseline_trees=10,
)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory, latte: Procedure) -> list[Recording]:
    out = tmp_path_factory.mktemp("synth")
    paths = synthesize_dataset(latte, n_sessions=3, seed=1, out_dir=out, duration_scale=0.15)
    return [read_recording(path) for path in paths]


def test_every_session_is_held_out_once(recordings: list[Recording], latte: Procedure) -> None:
    configurations = [
        HarConfiguration("imu", ("imu",)),
        HarConfiguration("fused", ("imu", "audio")),
    ]
    report, folds = evaluate_har(recordings, latte, configurations, config=FAST)
    assert [fold.session_id for fold in folds] == [r.session_id for r in recordings]
    assert set(report["methods"]) == {"imu", "fused", BASELINE}
    for scores in report["methods"].values():
        for key in ("raw_accuracy", "raw_macro_f1", "tracked_accuracy", "tracked_macro_f1"):
            assert 0.0 <= scores[key] <= 1.0
        assert set(scores["per_class_f1"]) == {*latte.step_ids, "other"}
    for fold in folds:
        for method in ("imu", "fused", BASELINE):
            assert fold.raw[method].shape == fold.labels.shape
            assert fold.tracked[method].shape == fold.labels.shape
    assert report["n_frames"] == sum(fold.labels.size for fold in folds)
    assert report["synthetic"] == [True]


def test_pooled_accuracy_matches_the_folds(recordings: list[Recording], latte: Procedure) -> None:
    report, folds = evaluate_har(
        recordings, latte, [HarConfiguration("imu", ("imu",))], config=FAST
    )
    labels = np.concatenate([f.labels for f in folds])
    tracked = np.concatenate([f.tracked["imu"] for f in folds])
    assert report["methods"]["imu"]["tracked_accuracy"] == pytest.approx(np.mean(labels == tracked))


@pytest.mark.parametrize(
    ("configurations", "match"),
    [
        ([HarConfiguration("a", ("imu",)), HarConfiguration("a", ("audio",))], "distinct"),
        ([HarConfiguration(BASELINE, ("imu",))], "distinct"),
    ],
    ids=["duplicate-name", "baseline-name"],
)
def test_bad_configurations(
    recordings: list[Recording],
    latte: Procedure,
    configurations: list[HarConfiguration],
    match: str,
) -> None:
    with pytest.raises(ValueError, match=match):
        evaluate_har(recordings, latte, configurations, config=FAST)


def test_needs_two_sessions(recordings: list[Recording], latte: Procedure) -> None:
    with pytest.raises(ValueError, match="at least 2 sessions"):
        evaluate_har(recordings[:1], latte, [HarConfiguration("imu", ("imu",))], config=FAST)


def test_cli_on_a_directory_of_recordings(recordings: list[Recording], tmp_path: Path) -> None:
    for recording in recordings:
        write_recording(recording, tmp_path / "data" / recording.session_id)
    result = CliRunner().invoke(
        app,
        [
            "eval", "har", "--dataset", "synth", "--task", "latte_making",
            "--data-dir", str(tmp_path / "data"), "--max-epochs", "1", "--json",
            "--plot", str(tmp_path / "plots"), "--fusion", "late",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["settings"]["training"]["network"]["fusion"] == "late"
    for key in ("raw_accuracy", "raw_macro_f1", "tracked_accuracy", "tracked_macro_f1"):
        assert 0.0 <= report[key] <= 1.0
    assert set(report["by_modality"]) == {"imu", "audio", "fused"}
    assert "baseline_macro_f1" in report
    assert "fused_1khz" in report["privacy"]
    assert (tmp_path / "plots" / f"confusion_{report['best_configuration']}_tracked.png").is_file()


def test_cli_openpack_reports_the_wrists_present() -> None:
    mini = Path(__file__).parent / "fixtures" / "openpack_mini"  # right wrist only
    result = CliRunner().invoke(
        app,
        [
            "eval", "har", "--dataset", "openpack", "--data-dir", str(mini),
            "--max-epochs", "1", "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["wrist"] == "atr01" and report["wrist_side"] == "right"
    assert set(report["by_wrist"]) == {"atr01"}
    assert report["by_wrist"]["atr01"]["tracked_macro_f1"] == report["tracked_macro_f1"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--dataset", "openpack", "--wrist", "atr09"], "--wrist must be among"),
        (["--dataset", "imagenet"], "--dataset must be openpack or synth"),
        (["--dataset", "synth"], "--task is required"),
        (["--dataset", "synth", "--task", "no_such_task"], "no_such_task"),
        (["--dataset", "synth", "--task", "latte_making", "--fusion", "mid"], "fusion must be"),
    ],
    ids=["bad-wrist", "bad-dataset", "synth-without-task", "unknown-task", "bad-fusion"],
)
def test_cli_user_errors(arguments: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["eval", "har", *arguments])
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_macro_f1_without_other_reports_both(recordings: list[Recording], latte: Procedure) -> None:
    config = HarEvaluationConfig(
        training=FAST.training, baseline_trees=10, macro_f1_without_other=True
    )
    report, folds = evaluate_har(
        recordings, latte, [HarConfiguration("imu", ("imu",))], config=config
    )
    scores = report["methods"]["imu"]
    labels = np.concatenate([f.labels for f in folds])
    tracked = np.concatenate([f.tracked["imu"] for f in folds])
    other = latte.n_steps
    assert scores["tracked_macro_f1"] == pytest.approx(
        macro_f1(labels, tracked, n_classes=other + 1, exclude=other)
    )
    assert scores["tracked_macro_f1_with_other"] == pytest.approx(
        macro_f1(labels, tracked, n_classes=other + 1)
    )

"""Leave-one-recording-out tracker evaluation on a CaptainCook4D-like directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prism.data.captaincook4d import load_captaincook4d
from prism.evaluation.tracking import (
    TrackerEvaluationConfig,
    evaluate_recording,
    evaluate_tracker,
    track_with_confirmations,
)
from prism.procedure.model import Procedure
from prism.tracker import StepTracker

MINI = Path(__file__).parent / "fixtures" / "captaincook4d_mini"
FIELDS = ("raw_accuracy", "tracked_accuracy", "macro_f1", "edit_score")


@pytest.fixture(scope="module")
def report() -> dict[str, object]:
    with pytest.warns(UserWarning, match="task graph"):
        return evaluate_tracker(MINI, config=TrackerEvaluationConfig(seed=0))


def test_report_has_the_fields_overall_and_per_recipe(report: dict[str, object]) -> None:
    per_recipe = report["per_recipe"]
    assert isinstance(per_recipe, dict)
    assert set(per_recipe) == {"buttered_toast", "green_tea"}
    for summary in [report, *per_recipe.values()]:
        for field in FIELDS:
            assert 0.0 <= summary[field] <= 1.0, field
    baselines = report["baselines"]
    assert isinstance(baselines, dict)
    assert set(baselines) == {"hmm", "argmax"}


def test_overall_is_the_mean_over_recipes(report: dict[str, object]) -> None:
    per_recipe = report["per_recipe"]
    assert isinstance(per_recipe, dict)
    for field in FIELDS:
        expected = np.mean([summary[field] for summary in per_recipe.values()])
        assert report[field] == pytest.approx(expected)


def test_raw_accuracy_is_the_argmax_baseline(report: dict[str, object]) -> None:
    baselines = report["baselines"]
    assert isinstance(baselines, dict)
    assert report["raw_accuracy"] == pytest.approx(baselines["argmax"]["accuracy"])


def test_recording_is_never_in_its_own_training_set() -> None:
    with pytest.warns(UserWarning):
        recipes = load_captaincook4d(MINI)
    recipe = recipes["greentea"]
    rid = recipe.recording_ids[0]
    result = evaluate_recording(recipe, rid, TrackerEvaluationConfig())
    assert result.recording_id == rid
    assert result.labels.shape == result.predictions["tracker"].shape
    assert set(result.predictions) == {"tracker", "hmm", "argmax"}


def test_same_seed_same_report_and_jobs_do_not_matter(report: dict[str, object]) -> None:
    with pytest.warns(UserWarning):
        again = evaluate_tracker(MINI, config=TrackerEvaluationConfig(seed=0), jobs=2)
    assert again["per_recipe"] == report["per_recipe"]


def test_simulated_user_answers_questions_with_the_true_step(latte: Procedure) -> None:
    labels = np.repeat([latte.step_index("attach_filter"), latte.step_index("grind_beans")], 300)
    uniform = np.full((labels.size, latte.n_steps + 1), 1.0 / (latte.n_steps + 1))
    classes, asked = track_with_confirmations(StepTracker(latte), uniform, labels, 2)
    assert asked == 2
    # after the first answer the tracker is at attach_filter, as the user said
    assert (classes == latte.step_index("attach_filter")).any()
    assert classes.shape == labels.shape


@pytest.mark.skipif(
    not (Path(__file__).resolve().parents[2] / "shared" / "data" / "captaincook4d").is_dir(),
    reason="shared CaptainCook4D data not present",
)
def test_tracker_beats_baselines_on_a_real_recipe() -> None:
    data = Path(__file__).resolve().parents[2] / "shared" / "data" / "captaincook4d"
    report = evaluate_tracker(data, recipes=["spicedhotchocolate"], jobs=1)
    assert report["raw_accuracy"] == pytest.approx(0.55, abs=0.03)
    assert report["tracked_accuracy"] >= 0.85
    assert report["tracked_accuracy"] > report["baselines"]["hmm"]["accuracy"]
    assert report["edit_score"] > report["baselines"]["hmm"]["edit_score"]

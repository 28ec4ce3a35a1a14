"""Leave-one-recording-out tracker evaluation on a CaptainCook4D-like directory."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from prism.data.captaincook4d import load_captaincook4d
from prism.evaluation.tracking import (
    TrackerEvaluationConfig,
    cross_fitted_confidence,
    evaluate_recording,
    evaluate_tracker,
    held_out_profile,
    recipe_streams,
    simulated_recording,
    track_with_confirmations,
)
from prism.procedure.model import Procedure
from prism.reliability import expected_calibration_error
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
    classes, confidence, asked = track_with_confirmations(StepTracker(latte), uniform, labels, 2)
    assert asked == 2
    assert confidence.shape == labels.shape and np.all((confidence > 0) & (confidence <= 1))
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


def test_report_counts_recordings_worse_than_raw_and_calibration(
    report: dict[str, object],
) -> None:
    per_recipe = report["per_recipe"]
    assert isinstance(per_recipe, dict)
    assert report["worse_than_raw"] == sum(s["worse_than_raw"] for s in per_recipe.values())
    assert 0.0 <= report["worse_than_raw_share"] <= 1.0
    assert 0.0 <= report["ece"] <= 1.0 and 0.0 <= report["ece_uncalibrated"] <= 1.0
    table = report["reliability"]
    assert isinstance(table, list) and len(table) == 10
    assert sum(row["frames"] for row in table) == sum(s["n_frames"] for s in per_recipe.values())


def test_each_recording_gets_a_profile_from_the_others_only() -> None:
    with pytest.warns(UserWarning):
        recipe = load_captaincook4d(MINI)["greentea"]
    config = TrackerEvaluationConfig()
    streams = {rid: simulated_recording(recipe, rid, config) for rid in recipe.recording_ids}
    first = recipe.recording_ids[0]
    profile = held_out_profile(streams, first, frame_rate=5.0)
    assert profile is not None
    others = sum(labels.size for rid, (_, labels, _) in streams.items() if rid != first)
    assert profile.frames == others
    configs = {rid: tracker for rid, _, tracker in recipe_streams(recipe, config)}
    assert configs[first].classifier_profile is not None
    assert configs[first].classifier_profile.frames == others


def test_cross_fitting_never_uses_a_recipes_own_frames(rng: np.random.Generator) -> None:
    """Recipe b is calibrated only from a: its own (here inverted) outcomes cannot help."""
    confidence = {"a": rng.uniform(0.5, 1.0, 20_000), "b": rng.uniform(0.5, 1.0, 20_000)}
    correct = {"a": rng.random(20_000) < 0.5, "b": rng.random(20_000) < confidence["b"]}
    calibrated = cross_fitted_confidence(confidence, correct)
    # a's frames are right half of the time whatever their confidence: b gets about 0.5
    assert np.mean(calibrated["b"]) == pytest.approx(0.5, abs=0.05)
    assert list(calibrated) == ["a", "b"]
    three = {"c": confidence["a"], "a": confidence["b"], "b": confidence["a"]}
    outcomes = {"c": correct["a"], "a": correct["b"], "b": correct["a"]}
    assert list(cross_fitted_confidence(three, outcomes)) == ["c", "a", "b"]
    alone = {"a": confidence["a"]}
    np.testing.assert_array_equal(
        cross_fitted_confidence(alone, {"a": correct["a"]})["a"], alone["a"]
    )


def test_the_reported_ece_pairs_each_frame_with_its_own_outcome(
    report: dict[str, object],
) -> None:
    """Recomputed recording by recording, the report's calibration figures agree."""
    with pytest.warns(UserWarning):
        recipes = load_captaincook4d(MINI)
    config = TrackerEvaluationConfig(seed=0)
    confidence: dict[str, np.ndarray] = {}
    correct: dict[str, np.ndarray] = {}
    for recipe in recipes.values():
        results = [
            evaluate_recording(recipe, rid, replace(config, tracker=tracker), stream=stream)
            for rid, stream, tracker in recipe_streams(recipe, config)
        ]
        confidence[recipe.procedure_id] = np.concatenate([r.confidence for r in results])
        correct[recipe.procedure_id] = np.concatenate(
            [r.predictions["tracker"] == r.labels for r in results]
        )
    order = sorted(confidence)
    calibrated = cross_fitted_confidence(confidence, correct)
    hits = np.concatenate([correct[r] for r in order])
    assert report["ece"] == pytest.approx(
        expected_calibration_error(np.concatenate([calibrated[r] for r in order]), hits)
    )
    assert report["ece_uncalibrated"] == pytest.approx(
        expected_calibration_error(np.concatenate([confidence[r] for r in order]), hits)
    )

"""Tests for prism.sensing.classifier: fit on recordings, calibrated predictions, save/load."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

import prism.sensing
from prism.data.annotations import AnnotatedSession, StepSegment
from prism.data.recording import (
    AUDIO_RATE_HZ,
    ImuSamples,
    Recording,
    read_recording,
    write_recording,
)
from prism.errors import DataError
from prism.sensing.classifier import (
    ActivityClassifier,
    ModelFileError,
    read_confusion_matrix,
)
from prism.sensing.features import SensingError
from prism.sensing.network import NetworkConfig
from prism.sensing.training import TrainingConfig

STEPS = ("grind", "steam", "pour")
IMU_HZ = {"grind": 1.0, "steam": 3.0, "pour": 6.0}
TONE_HZ = {"grind": 300.0, "steam": 700.0, "pour": 1500.0}
TINY = TrainingConfig(
    max_epochs=8,
    patience=4,
    batch_size=4,
    sequence_frames=24,
    learning_rate=5e-3,
    threads=1,  # 2 threads crawl when the CPUs are shared with other jobs
    modality_dropout=0.2,  # learns this toy task within 8 epochs
    validation_fraction=0.25,
    network=NetworkConfig(embedding_size=8, hidden_size=16, context_levels=2),
)


def toy_recording(name: str, rng: np.random.Generator, *, synthetic: bool = True) -> Recording:
    """Three steps in random order with "other" gaps; each step has its own motion and tone."""
    segments, t = [], 0.4
    for step in rng.permutation(STEPS):
        t += rng.uniform(0.5, 2.0)
        length = rng.uniform(3.5, 5.0)
        segments.append(StepSegment(str(step), t, t + length))
        t += length
    duration = t + 1.0
    times = np.arange(0.0, duration, 0.02)
    audio_t = np.arange(int(duration * AUDIO_RATE_HZ)) / AUDIO_RATE_HZ
    values = rng.normal(scale=0.3, size=(times.size, 6))
    values[:, 2] += 9.81
    audio = rng.normal(scale=0.02, size=audio_t.size)
    for segment in segments:
        inside = (times >= segment.start) & (times < segment.end)
        values[inside, 0] += 2.0 * np.sin(2 * np.pi * IMU_HZ[segment.step] * times[inside])
        sound = (audio_t >= segment.start) & (audio_t < segment.end)
        audio[sound] += 0.3 * np.sin(2 * np.pi * TONE_HZ[segment.step] * audio_t[sound])
    annotation = AnnotatedSession(name, "toy", tuple(segments), duration)
    return Recording(
        session_id=name,
        task="toy",
        annotation=annotation,
        imu=ImuSamples(times, values.astype(np.float32)),
        audio=audio.astype(np.float32),
        metadata={"synthetic": synthetic},
    )


@pytest.fixture(scope="module")
def recordings() -> list[Recording]:
    rng = np.random.default_rng(0)
    return [toy_recording(f"r{i}", rng, synthetic=i % 2 == 0) for i in range(9)]


@pytest.fixture(scope="module")
def fitted(recordings: list[Recording]) -> ActivityClassifier:
    return ActivityClassifier(STEPS, config=TINY).fit(recordings[:8])


def test_fit_learns_the_toy_task(fitted: ActivityClassifier, recordings: list[Recording]) -> None:
    assert fitted.validation_metrics_["accuracy"] > 0.9
    assert fitted.validation_metrics_["source"] == "validation"
    assert len(fitted.split_["validation"]) == 2
    assert not set(fitted.split_["train"]) & set(fitted.split_["validation"])
    held_out = recordings[8]
    probabilities = fitted.predict_proba(held_out)
    assert probabilities.shape == (int(np.ceil(held_out.duration * 5 - 1e-9)), 4)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    labels = fitted.features(held_out).labels
    assert np.mean(probabilities.argmax(axis=1) == labels) > 0.85
    np.testing.assert_array_equal(fitted.predict(held_out), probabilities.argmax(axis=1))


def test_fit_records_calibration_and_data(fitted: ActivityClassifier) -> None:
    metrics = fitted.validation_metrics_
    assert fitted.temperature_ > 0
    assert metrics["nll_after"] <= metrics["nll_before"] + 1e-9
    assert fitted.confusion_.shape == (4, 4)
    assert fitted.confusion_.sum() == metrics["frames"]
    train = fitted.training_data_["train"]
    assert train["sessions"] == 6
    assert train["synthetic_sessions"] + train["real_sessions"] == 6
    assert set(train["frames_per_class"]) == {*STEPS, "other"}


def test_missing_modality_still_classifies(
    fitted: ActivityClassifier, recordings: list[Recording]
) -> None:
    silent = replace(recordings[8], audio=None)
    probabilities = fitted.predict_proba(silent, modalities=("imu",))
    assert probabilities.shape[1] == 4
    with pytest.raises(DataError, match="has no audio"):
        fitted.predict_proba(silent)


def test_save_load_round_trip(
    fitted: ActivityClassifier, recordings: list[Recording], tmp_path: Path
) -> None:
    root = fitted.save(
        tmp_path / "toy",
        task="toy",
        data={"source": "unit-test toy recordings", "synthetic": True},
        metrics={"test_accuracy": 0.95},
    )
    loaded = ActivityClassifier.load(root)
    np.testing.assert_array_equal(
        loaded.predict_proba(recordings[8]), fitted.predict_proba(recordings[8])
    )
    assert loaded.temperature_ == fitted.temperature_
    assert loaded.class_names == fitted.class_names
    assert loaded.history_ == fitted.history_
    assert loaded.split_ == fitted.split_
    counts, source = read_confusion_matrix(root / "confusion_matrix.json")
    np.testing.assert_array_equal(counts, fitted.confusion_)
    assert source == "validation"
    header = (root / "confusion_matrix.csv").read_text().splitlines()[0]
    assert header == "true\\predicted,grind,steam,pour,other"
    card = json.loads((root / "model_card.json").read_text())
    assert card["model"]["parameters"] == fitted.network_.parameter_count()
    assert card["model"]["size_bytes"] == (root / "weights.pt").stat().st_size
    assert card["metrics"] == {"test_accuracy": 0.95}
    assert card["data"]["caller"]["source"] == "unit-test toy recordings"
    assert card["validation"]["ece_after"] >= 0
    assert card["created"].endswith("+00:00")
    markdown = (root / "MODEL_CARD.md").read_text()
    assert "## Confusion matrix" in markdown and "test_accuracy (caller)" in markdown


def test_format_1_models_still_load(recordings: list[Recording], tmp_path: Path) -> None:
    """A model saved before late fusion (format 1: early fusion, no ``fusion`` setting,
    the branch's layers at the top level of the weights) loads and predicts the same."""
    early = replace(TINY, network=replace(TINY.network, fusion="early"))
    model = ActivityClassifier(STEPS, config=early).fit(recordings[:8])
    root = model.save(tmp_path / "v1")
    config = json.loads((root / "config.json").read_text())
    config["format_version"] = 1
    del config["training"]["network"]["fusion"]
    (root / "config.json").write_text(json.dumps(config))
    state = torch.load(root / "weights.pt", weights_only=True)
    legacy = {
        key.removeprefix("branches.fused."): value
        for key, value in state.items()
        if key not in ("branch_temperatures", "branch_weights")
    }
    assert "head.weight" in legacy
    torch.save(legacy, root / "weights.pt")
    loaded = ActivityClassifier.load(root)
    assert loaded.config.network.fusion == "early"
    np.testing.assert_array_equal(
        loaded.predict_proba(recordings[8]), model.predict_proba(recordings[8])
    )


def test_format_2_late_models_load_with_unit_branch_weights(
    recordings: list[Recording], tmp_path: Path
) -> None:
    """A late-fusion model saved before fitted branch weights (format 2) is the plain
    product of its calibrated branches."""
    late = replace(TINY, network=replace(TINY.network, fusion="late"))
    model = ActivityClassifier(STEPS, config=late).fit(recordings[:8])
    root = model.save(tmp_path / "v2")
    config = json.loads((root / "config.json").read_text())
    config["format_version"] = 2
    (root / "config.json").write_text(json.dumps(config))
    state = torch.load(root / "weights.pt", weights_only=True)
    torch.save({k: v for k, v in state.items() if k != "branch_weights"}, root / "weights.pt")
    loaded = ActivityClassifier.load(root)
    assert loaded.network_.branch_weights.tolist() == [1.0, 1.0]
    with torch.no_grad():
        model.network_.branch_weights.fill_(1.0)
    np.testing.assert_array_equal(
        loaded.predict_proba(recordings[8]), model.predict_proba(recordings[8])
    )


@pytest.mark.parametrize("version", [0, 4, "3", True])
def test_unknown_format_versions_are_refused(
    recordings: list[Recording], tmp_path: Path, version: object
) -> None:
    root = ActivityClassifier(STEPS, config=TINY).fit(recordings[:8]).save(tmp_path / "m")
    config = json.loads((root / "config.json").read_text())
    config["format_version"] = version
    (root / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match=r"format_version .* is not supported"):
        ActivityClassifier.load(root)


def test_late_fusion_fits_each_branch_then_their_product(
    recordings: list[Recording], tmp_path: Path
) -> None:
    late = replace(TINY, network=replace(TINY.network, fusion="late"))
    model = ActivityClassifier(STEPS, config=late).fit(recordings[:8])
    network = model.network_
    assert network.late and network.branch_names == ("imu", "audio")
    temperatures = network.branch_temperatures.tolist()
    assert all(t > 0 for t in temperatures) and temperatures != [1.0, 1.0]
    weights = network.branch_weights.tolist()
    assert all(0.0 <= w <= 4.0 for w in weights) and weights != [1.0, 1.0]
    held_out = recordings[8]
    labels = model.features(held_out).labels
    majority = np.bincount(labels).max() / labels.size
    # the toy's tones are easier than its motions: the IMU branch is above the majority
    # class, the audio branch and the product are nearly right
    for modalities, least in (
        (("imu", "audio"), 0.9),
        (("imu",), majority + 0.1),
        (("audio",), 0.9),
    ):
        probabilities = model.predict_proba(held_out, modalities=modalities)
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
        assert np.mean(probabilities.argmax(axis=1) == labels) > least, modalities
    root = model.save(tmp_path / "late")
    loaded = ActivityClassifier.load(root)
    assert loaded.network_.late
    epochs = model.training_summary_["branch_best_epochs"]
    assert set(epochs) == {"imu", "audio"}
    card = (root / "MODEL_CARD.md").read_text()
    assert f"(imu {epochs['imu']}, audio {epochs['audio']})" in card
    np.testing.assert_array_equal(loaded.predict_proba(held_out), model.predict_proba(held_out))


def corrupt(root: Path, how: str) -> str:
    """Break a saved model directory; returns the expected error pattern."""
    config_path = root / "config.json"
    config = json.loads(config_path.read_text())
    if how == "missing-weights":
        (root / "weights.pt").unlink()
        return r"weights\.pt: missing"
    if how == "newer-version":
        config["format_version"] = 99
        config_path.write_text(json.dumps(config))
        return r"config\.json: format_version 99 is not supported"
    if how == "other-format":
        config["format"] = "something-else"
        config_path.write_text(json.dumps(config))
        return r"config\.json: format must be 'prism-activity-classifier'"
    if how == "bad-json":
        (root / "calibration.json").write_text("{not json")
        return r"calibration\.json: not valid JSON"
    if how == "weights-mismatch":
        config["training"]["network"]["hidden_size"] = 32
        config_path.write_text(json.dumps(config))
        return r"weights\.pt: weights do not match config\.json"
    if how == "corrupt-weights":
        (root / "weights.pt").write_bytes(b"not a torch file")
        return r"weights\.pt: cannot read the weights"
    if how == "normalizer-channels":
        normalizer = json.loads((root / "normalizer.json").read_text())
        normalizer["imu"] = {"mean": [0.0] * 6, "std": [1.0] * 6}
        (root / "normalizer.json").write_text(json.dumps(normalizer))
        return r"normalizer\.json: imu normalizer has 6 channels, expected 7"
    if how == "confusion-classes":
        confusion = json.loads((root / "confusion_matrix.json").read_text())
        confusion["classes"][0] = "brew"
        (root / "confusion_matrix.json").write_text(json.dumps(confusion))
        return r"confusion_matrix\.json: classes .* differ"
    if how == "missing-card":
        (root / "model_card.json").unlink()
        return r"model_card\.json: missing"
    raise AssertionError(how)


@pytest.mark.parametrize(
    "how",
    [
        "missing-weights",
        "newer-version",
        "other-format",
        "bad-json",
        "weights-mismatch",
        "corrupt-weights",
        "normalizer-channels",
        "confusion-classes",
        "missing-card",
    ],
)
def test_load_errors_name_the_file(fitted: ActivityClassifier, tmp_path: Path, how: str) -> None:
    root = fitted.save(tmp_path / "model")
    pattern = corrupt(root, how)
    with pytest.raises(ModelFileError, match=pattern):
        ActivityClassifier.load(root)


def test_load_of_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="does not exist"):
        ActivityClassifier.load(tmp_path / "nothing")


def test_privacy_audio_only_model_without_validation(recordings: list[Recording]) -> None:
    config = replace(TINY, max_epochs=1, validation_fraction=0.0)
    model = ActivityClassifier(STEPS, modalities=("audio",), privacy_rate=1000, config=config)
    model.fit(recordings[:2])
    assert model.confusion_source_ == "training"
    assert model.temperature_ == 1.0
    assert model.split_["validation"] == []
    assert model.predict_proba(recordings[2]).shape[1] == 4


def test_unfitted_and_bad_settings_raise(recordings: list[Recording]) -> None:
    with pytest.raises(SensingError, match="not fitted"):
        ActivityClassifier(STEPS).predict_proba(recordings[0])
    with pytest.raises(SensingError, match="must not contain 'other'"):
        ActivityClassifier(("a", "other"))
    with pytest.raises(SensingError, match="privacy_rate must be a positive integer dividing"):
        ActivityClassifier(STEPS, privacy_rate=3000)


def test_features_check_the_recording(recordings: list[Recording]) -> None:
    model = ActivityClassifier(STEPS)
    recording = recordings[0]
    short_imu = ImuSamples(recording.imu.times[:200], recording.imu.values[:200])  # type: ignore[union-attr]
    with pytest.raises(DataError, match=r"IMU covers 0\.00\.\.3\.98 s of a"):
        model.features(replace(recording, imu=short_imu))
    with pytest.raises(DataError, match="audio covers"):
        model.features(replace(recording, audio=recording.audio[:16000]))  # type: ignore[index]
    with pytest.raises(DataError, match="step 'grind' is not in the procedure"):
        ActivityClassifier(("steam", "pour", "x")).features(recording)
    unlabelled = model.features(recording, labelled=False)
    assert unlabelled.labels is None
    assert unlabelled.imu is not None and unlabelled.imu.shape[1:] == (7, 100)


def test_fit_progress_reports_features_then_training(recordings: list[Recording]) -> None:
    stages: list[str] = []
    config = replace(TINY, max_epochs=1)
    ActivityClassifier(STEPS, modalities=("imu",), config=config).fit(
        recordings[:3], on_progress=lambda report: stages.append(report.stage)
    )
    assert stages[:3] == ["features"] * 3
    assert set(stages[3:]) == {"training"}
    assert torch.get_num_threads() >= 1


def test_recording_at_another_sample_rate_is_resampled_then_classified(
    fitted: ActivityClassifier, recordings: list[Recording], tmp_path: Path
) -> None:
    original = recordings[8]
    root = write_recording(original, tmp_path / "r8")
    assert original.audio is not None
    soundfile.write(root / "audio.wav", original.audio[::2], AUDIO_RATE_HZ // 2, subtype="FLOAT")
    again = read_recording(root)
    assert again.audio is not None
    assert abs(again.audio.size - original.audio.size) <= 2
    probabilities = fitted.predict_proba(again)
    assert probabilities.shape == fitted.predict_proba(original).shape
    labels = fitted.features(again).labels
    assert np.mean(probabilities.argmax(axis=1) == labels) > 0.8


@pytest.mark.parametrize(
    ("content", "match"),
    [(b"RIFF-not-really-a-wav", "cannot read audio"), (None, "holds no samples")],
    ids=["corrupt", "empty"],
)
def test_bad_wav_files_raise(
    recordings: list[Recording], tmp_path: Path, content: bytes | None, match: str
) -> None:
    root = write_recording(recordings[0], tmp_path / "bad")
    if content is None:
        soundfile.write(root / "audio.wav", np.zeros(0, dtype=np.float32), AUDIO_RATE_HZ)
    else:
        (root / "audio.wav").write_bytes(content)
    with pytest.raises(DataError, match=match):
        read_recording(root)


def test_public_names_resolve() -> None:
    for name in prism.sensing.__all__:
        assert getattr(prism.sensing, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'Missing'"):
        _ = prism.sensing.Missing  # type: ignore[attr-defined]
    assert ActivityClassifier.for_procedure is not None

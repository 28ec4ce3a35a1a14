"""Tests for prism.sensing.training: splits, class weights, determinism, learning a toy task."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from prism.sensing.features import SensingError, SessionFeatures
from prism.sensing.network import NetworkConfig
from prism.sensing.training import (
    TrainingConfig,
    TrainingProgress,
    class_weights,
    split_sessions,
    train_network,
)

N_CLASSES = 3
TINY = TrainingConfig(
    max_epochs=6,
    patience=3,
    batch_size=4,
    sequence_frames=24,
    learning_rate=5e-3,
    threads=1,  # 2 threads crawl when the CPUs are shared with other jobs
    network=NetworkConfig(imu_channels=6, embedding_size=8, hidden_size=16, context_levels=2),
)


def toy_session(name: str, rng: np.random.Generator, n_frames: int = 90) -> SessionFeatures:
    """Segments of 10-20 frames; each class shifts one IMU and one audio channel."""
    labels = np.concatenate(
        [np.full(rng.integers(10, 20), rng.integers(0, N_CLASSES)) for _ in range(n_frames // 10)]
    )[:n_frames]
    imu = rng.normal(size=(labels.size, 6, 100)).astype(np.float32)
    audio = rng.normal(size=(labels.size, 64, 40)).astype(np.float32)
    for c in range(N_CLASSES):
        imu[labels == c, c] += 1.5
        audio[labels == c, 10 * c : 10 * c + 10] += 1.5
    return SessionFeatures(name, imu, audio, labels.astype(np.int64))


@pytest.fixture(scope="module")
def toy() -> list[SessionFeatures]:
    rng = np.random.default_rng(0)
    return [toy_session(f"s{i}", rng) for i in range(8)]


def test_split_is_by_session_seeded_and_disjoint() -> None:
    ids = [f"s{i}" for i in range(10)]
    train, validation = split_sessions(ids, validation_fraction=0.3, seed=1)
    assert len(validation) == 3 and not set(train) & set(validation)
    assert sorted(train + validation) == sorted(ids)
    assert split_sessions(ids, validation_fraction=0.3, seed=1) == (train, validation)
    assert split_sessions(["a", "b"], validation_fraction=0.1)[1] != []  # at least one
    assert split_sessions(["a"], validation_fraction=0.5) == (["a"], [])
    assert split_sessions(ids, validation_fraction=0.0)[1] == []


@pytest.mark.parametrize(
    ("ids", "kwargs", "match"),
    [
        (["a", "a"], {}, "unique"),
        (["a", "b"], {"validation_sessions": ["c"]}, r"\['c'\] are not among"),
        (["a"], {"validation_sessions": ["a"]}, "no training session left"),
    ],
    ids=["duplicate", "unknown-validation", "nothing-left"],
)
def test_bad_splits_raise(ids: list[str], kwargs: dict[str, list[str]], match: str) -> None:
    with pytest.raises(SensingError, match=match):
        split_sessions(ids, **kwargs)  # type: ignore[arg-type]


def test_class_weights_balance_frequent_and_rare_classes() -> None:
    weights = class_weights([np.array([0] * 90 + [1] * 10)], 3)
    assert weights[1] / weights[0] == pytest.approx(9.0)
    assert weights[2] == 1.0


def test_config_round_trip_and_validation() -> None:
    config = replace(TINY, validation_sessions=("s1",), time_limit_s=30.0)
    assert TrainingConfig.from_dict(config.to_dict()) == config
    with pytest.raises(SensingError, match="unknown TrainingConfig keys"):
        TrainingConfig.from_dict({"epochs": 3})
    with pytest.raises(SensingError, match="max_epochs must be an integer >= 1"):
        TrainingConfig(max_epochs=0)
    with pytest.raises(SensingError, match=r"modality_dropout must be in \[0.0, 0.5\]"):
        TrainingConfig(modality_dropout=0.7)
    with pytest.raises(SensingError, match=r"validation_fraction must be in \[0.0, 1.0\)"):
        TrainingConfig(validation_fraction=1.0)


def test_training_learns_a_separable_toy_task(toy: list[SessionFeatures]) -> None:
    reports: list[TrainingProgress] = []
    result = train_network(
        toy[:6], toy[6:], n_classes=N_CLASSES, config=TINY, on_progress=reports.append
    )
    best = result.history[result.best_epoch - 1]
    assert best.validation_accuracy is not None and best.validation_accuracy > 0.9
    assert not result.network.training
    assert [len(branches[0]) for branches, _ in result.validation_outputs] == [90, 90]
    assert reports[-1].completed <= reports[-1].total
    ends = [r.record for r in reports if r.record is not None]
    assert [r.epoch for r in ends] == list(range(1, len(result.history) + 1))
    assert result.stop_reason in ("patience", "max_epochs")


def test_training_is_deterministic_for_a_seed(toy: list[SessionFeatures]) -> None:
    config = replace(TINY, max_epochs=2)
    first = train_network(toy[:3], toy[3:4], n_classes=N_CLASSES, config=config)
    second = train_network(toy[:3], toy[3:4], n_classes=N_CLASSES, config=config)
    assert [r.train_loss for r in first.history] == [r.train_loss for r in second.history]
    for a, b in zip(
        first.network.state_dict().values(), second.network.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)
    third = train_network(toy[:3], toy[3:4], n_classes=N_CLASSES, config=replace(config, seed=1))
    assert [r.train_loss for r in third.history] != [r.train_loss for r in first.history]


def test_late_fusion_branches_keep_the_weights_of_their_own_best_epochs(
    toy: list[SessionFeatures],
) -> None:
    """Each branch ends with the weights it had after its own best validation epoch:
    the same weights as a run stopped at that epoch. The validation sessions' audio is
    noise, so the audio branch's best epoch comes before the IMU branch's."""
    rng = np.random.default_rng(1)
    validation = [
        replace(s, audio=rng.normal(size=s.audio.shape).astype(np.float32))
        for s in toy[6:]
        if s.audio is not None
    ]
    late = replace(TINY, max_epochs=6, patience=6, network=replace(TINY.network, fusion="late"))
    full = train_network(toy[:6], validation, n_classes=N_CLASSES, config=late)
    epochs = full.branch_best_epochs
    assert set(epochs) == {"imu", "audio"} and epochs["audio"] < epochs["imu"]
    assert full.best_epoch == epochs["imu"]
    kept = full.network.state_dict()
    for name, epoch in full.branch_best_epochs.items():
        short = train_network(
            toy[:6], validation, n_classes=N_CLASSES, config=replace(late, max_epochs=epoch)
        )
        assert short.branch_best_epochs[name] == epoch
        own = short.network.state_dict()
        for key in full.network.branch_keys(name):
            assert torch.equal(kept[key], own[key]), key


def test_training_without_validation_keeps_the_last_epoch(toy: list[SessionFeatures]) -> None:
    config = replace(TINY, max_epochs=2, network=replace(TINY.network, context_levels=0))
    result = train_network(toy[:2], n_classes=N_CLASSES, modalities=("imu",), config=config)
    assert result.best_epoch == 2 and result.stop_reason == "max_epochs"
    assert result.history[-1].validation_loss is None
    assert result.validation_outputs == []


def test_training_restores_torch_settings(toy: list[SessionFeatures]) -> None:
    threads = torch.get_num_threads()
    train_network(
        toy[:1], n_classes=N_CLASSES, modalities=("audio",), config=replace(TINY, max_epochs=1)
    )
    assert torch.get_num_threads() == threads
    assert not torch.are_deterministic_algorithms_enabled()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ("no-labels", "has no labels"),
        ("bad-label", r"labels must be in \[0, 2\]"),
        ("no-audio", "has no audio features"),
        ("channels", r"IMU windows have \[7\] channels"),
    ],
)
def test_bad_training_input_raises(toy: list[SessionFeatures], change: str, match: str) -> None:
    session = toy[0]
    broken = {
        "no-labels": replace(session, labels=None),
        "bad-label": replace(session, labels=session.labels + 5),  # type: ignore[operator]
        "no-audio": replace(session, audio=None),
        "channels": replace(session, imu=np.zeros((90, 7, 100), np.float32)),
    }[change]
    with pytest.raises(SensingError, match=match):
        train_network([broken], n_classes=N_CLASSES, config=TINY)

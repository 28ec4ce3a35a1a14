"""Training the fused activity network on per-session feature windows.

Independent of data sources: the input is :class:`~prism.sensing.features.SessionFeatures`
(normalised windows and frame labels). Sessions, never frames, are split between
training and validation (:func:`split_sessions`).

One epoch cuts every training session into sequences of ``sequence_frames`` labelled
frames at a random offset; each sequence also gets the ``receptive_field - 1`` frames
before it as unlabelled context, so the causal context layers see what they will see at
inference. The loss is cross-entropy weighted by inverse class frequency (``"other"``
usually dominates). With two modalities, each sequence loses its IMU or its audio with
probability ``modality_dropout`` each (never both): the learned "missing" vector then
stands in, so the model still works when a modality is absent or unusable. After every
epoch the validation sessions are classified whole; training stops when the validation
macro-F1 has not improved for ``patience`` epochs and the best epoch's weights are kept.

The ``receptive_field - 1`` context frames before a sequence are embedded without
gradients: they only feed the causal context, and this saves most of their cost.

On CPU, a seed (with a given thread count) fixes everything: weight initialisation,
sequence offsets and order, dropout (``torch.use_deterministic_algorithms`` is on while
training; torch's global random state is restored afterwards).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from prism.sensing.calibration import negative_log_likelihood
from prism.sensing.features import SensingError, SessionFeatures
from prism.sensing.network import (
    BranchOutputs,
    FusedActivityNet,
    NetworkConfig,
    check_modalities,
    combine_session,
    concatenate_branch_outputs,
    session_branch_logits,
)
from prism.sensing.scores import frame_accuracy, macro_f1

__all__ = [
    "EpochRecord",
    "TrainingConfig",
    "TrainingProgress",
    "TrainingResult",
    "class_weights",
    "split_sessions",
    "train_network",
]

_IGNORE = -100


def _check_range(
    name: str,
    value: object,
    low: float,
    high: float | None,
    *,
    low_closed: bool = True,
    high_closed: bool = True,
) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if ok:
        number = float(value)  # type: ignore[arg-type]
        ok = (number >= low if low_closed else number > low) and (
            high is None or (number <= high if high_closed else number < high)
        )
    if not ok:
        left, right = "[" if low_closed else "(", "]" if high_closed else ")"
        upper = "inf)" if high is None else f"{high}{right}"
        raise SensingError(f"TrainingConfig.{name} must be in {left}{low}, {upper}, got {value!r}")


@dataclass(frozen=True)
class TrainingConfig:
    """Settings of :func:`train_network` (defaults fit a task model in minutes on 2 cores).

    Parameters
    ----------
    seed : int
        Seeds the split, initialisation, sequence order and dropout.
    max_epochs : int
        Upper bound on epochs, >= 1.
    patience : int
        Epochs without a better validation macro-F1 before stopping, >= 1.
    batch_size : int
        Sequences per optimisation step.
    sequence_frames : int
        Labelled frames per training sequence (plus the context frames before it).
    learning_rate, weight_decay : float
        AdamW settings.
    validation_fraction : float
        Share of sessions held out for validation, in [0, 1) (at least one session when
        > 0 and there are two or more sessions). Ignored when ``validation_sessions`` is set.
    validation_sessions : tuple of str
        Explicit validation session ids.
    modality_dropout : float
        Per sequence, probability of dropping the IMU and (separately) the audio, in
        [0, 0.5]. The default 1/3 trains each encoder on its own a third of the time
        each; with 0.2 the fused model leaned on the joint features and did worse than
        IMU alone on semi-synthetic latte making (raw macro-F1 0.765 vs 0.794; 0.839 at
        1/3). Not used with late fusion, whose branches are trained apart anyway.
    class_weighting : bool
        Weight the loss by inverse class frequency.
    threads : int
        ``torch.set_num_threads`` while training.
    time_limit_s : float or None
        Stop after this many seconds (keeping the best epoch so far); None: no limit.
        A limit makes the result depend on the machine's speed.
    network : NetworkConfig
        Layer sizes.
    """

    seed: int = 0
    max_epochs: int = 25
    patience: int = 5
    batch_size: int = 8
    sequence_frames: int = 160
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    validation_fraction: float = 0.2
    validation_sessions: tuple[str, ...] = ()
    modality_dropout: float = 1 / 3
    class_weighting: bool = True
    threads: int = 2
    time_limit_s: float | None = None
    network: NetworkConfig = field(default_factory=NetworkConfig)

    def __post_init__(self) -> None:
        for name, low in (
            ("seed", 0),
            ("max_epochs", 1),
            ("patience", 1),
            ("batch_size", 1),
            ("sequence_frames", 1),
            ("threads", 1),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise SensingError(
                    f"TrainingConfig.{name} must be an integer >= {low}, got {value!r}"
                )
        _check_range("learning_rate", self.learning_rate, 0.0, None, low_closed=False)
        _check_range("weight_decay", self.weight_decay, 0.0, None)
        _check_range("validation_fraction", self.validation_fraction, 0.0, 1.0, high_closed=False)
        _check_range("modality_dropout", self.modality_dropout, 0.0, 0.5)
        if self.time_limit_s is not None and not self.time_limit_s > 0:
            raise SensingError(
                f"TrainingConfig.time_limit_s must be > 0, got {self.time_limit_s!r}"
            )
        if not isinstance(self.validation_sessions, tuple):
            object.__setattr__(self, "validation_sessions", tuple(self.validation_sessions))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready field values (``network`` as a nested dict)."""
        data = asdict(self)
        data["validation_sessions"] = list(self.validation_sessions)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainingConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`SensingError`."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise SensingError(
                f"unknown TrainingConfig keys {sorted(unknown)}; known: {sorted(known)}"
            )
        values = dict(data)
        if "network" in values:
            values["network"] = NetworkConfig.from_dict(values["network"])
        if "validation_sessions" in values:
            values["validation_sessions"] = tuple(values["validation_sessions"])
        return cls(**values)


@dataclass(frozen=True)
class EpochRecord:
    """Metrics after one epoch (validation fields are None without validation sessions)."""

    epoch: int
    train_loss: float
    validation_loss: float | None
    validation_macro_f1: float | None
    validation_accuracy: float | None
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready field values."""
        return asdict(self)


@dataclass(frozen=True)
class TrainingProgress:
    """A progress report handed to ``on_progress`` callbacks.

    Attributes
    ----------
    stage : {"features", "training"}
        Feature extraction (units: sessions) or training (units: batches).
    completed, total : int
        Units done and planned; training plans ``max_epochs`` epochs and may stop early.
    epoch : int
        Current epoch (1-based; 0 during feature extraction).
    record : EpochRecord or None
        Set on the report that ends an epoch.
    """

    stage: str
    completed: int
    total: int
    epoch: int = 0
    record: EpochRecord | None = None


ProgressCallback = Callable[[TrainingProgress], None]


@dataclass(eq=False)
class TrainingResult:
    """What :func:`train_network` returns.

    Attributes
    ----------
    network : FusedActivityNet
        Best epoch's weights, in eval mode.
    history : list of EpochRecord
    best_epoch : int
        1-based epoch whose weights were kept (late fusion: the latest of the branches').
    branch_best_epochs : dict of str to int
        Per branch (:attr:`FusedActivityNet.branch_names`), the epoch whose weights it
        kept: each branch is early-stopped on its own validation score.
    stop_reason : {"patience", "max_epochs", "time_limit"}
    seconds : float
        Wall-clock training time.
    validation_outputs : list of BranchOutputs
        Each validation session's branch logits and presence flags from the kept network
        (:func:`~prism.sensing.network.session_branch_logits`; for fitting late fusion
        and calibration).
    """

    network: FusedActivityNet
    history: list[EpochRecord]
    best_epoch: int
    branch_best_epochs: dict[str, int]
    stop_reason: str
    seconds: float
    validation_outputs: list[BranchOutputs]


def split_sessions(
    session_ids: Sequence[str],
    *,
    validation_fraction: float = 0.2,
    validation_sessions: Sequence[str] = (),
    seed: int = 0,
) -> tuple[list[str], list[str]]:
    """Split session ids into training and validation ids (whole sessions, seeded).

    Returns
    -------
    (train_ids, validation_ids) : lists of str, each in the input order

    Examples
    --------
    >>> split_sessions(["a", "b", "c", "d"], validation_sessions=["c"])
    (['a', 'b', 'd'], ['c'])
    >>> [len(part) for part in split_sessions(list("abcdefghij"), validation_fraction=0.2)]
    [8, 2]
    """
    ids = list(session_ids)
    if len(set(ids)) != len(ids):
        raise SensingError("session ids must be unique to split by session")
    if validation_sessions:
        unknown = sorted(set(validation_sessions) - set(ids))
        if unknown:
            raise SensingError(f"validation sessions {unknown} are not among the training data")
        held = set(validation_sessions)
    else:
        n_validation = round(validation_fraction * len(ids))
        if validation_fraction > 0 and len(ids) >= 2:
            n_validation = min(max(n_validation, 1), len(ids) - 1)
        order = np.random.default_rng(seed).permutation(len(ids))
        held = {ids[i] for i in order[:n_validation]}
    train = [i for i in ids if i not in held]
    if not train:
        raise SensingError("no training session left after holding out validation sessions")
    return train, [i for i in ids if i in held]


def class_weights(labels: Sequence[np.ndarray], n_classes: int) -> np.ndarray:
    """Balanced loss weights ``N / (K * n_c)`` over the ``K`` present classes, in [0.05, 20].

    Absent classes get 1.0 (they never appear as targets).

    >>> class_weights([np.array([0, 0, 0, 1])], 3).round(3).tolist()
    [0.667, 2.0, 1.0]
    """
    counts = np.bincount(np.concatenate(list(labels)), minlength=n_classes).astype(np.float64)
    present = counts > 0
    weights = np.ones(n_classes)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return np.asarray(np.clip(weights, 0.05, 20.0))


@contextmanager
def _torch_settings(threads: int) -> Iterator[None]:
    """Threads and deterministic algorithms for training; the global RNG is restored after."""
    previous_threads = torch.get_num_threads()
    previous_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        torch.set_num_threads(previous_threads)
        torch.use_deterministic_algorithms(previous_deterministic)


def _check_sessions(
    sessions: Sequence[SessionFeatures], modalities: tuple[str, ...], n_classes: int, role: str
) -> None:
    for session in sessions:
        if session.labels is None:
            raise SensingError(f"{role} session {session.session_id!r} has no labels")
        if session.labels.size and (session.labels.min() < 0 or session.labels.max() >= n_classes):
            raise SensingError(
                f"{role} session {session.session_id!r}: labels must be in [0, {n_classes - 1}]"
            )
        for name in modalities:
            if getattr(session, name) is None:
                raise SensingError(f"{role} session {session.session_id!r} has no {name} features")


def _sequences(
    sessions: Sequence[SessionFeatures], length: int, context: int, rng: np.random.Generator
) -> list[tuple[int, int, int, int]]:
    """``(session, context start, labelled start, stop)`` for one epoch, shuffled."""
    pieces = []
    for index, session in enumerate(sessions):
        n = session.n_frames
        offset = int(rng.integers(0, length)) if n > length else 0
        bounds = sorted({0, n, *range(offset, n, length)})
        for start, stop in itertools.pairwise(bounds):
            pieces.append((index, max(0, start - context), start, stop))
    order = rng.permutation(len(pieces))
    return [pieces[i] for i in order]


def _embed_part(
    network: FusedActivityNet,
    sessions: Sequence[SessionFeatures],
    spans: Sequence[tuple[int, int, int]],
    dropped: dict[str, np.ndarray],
) -> torch.Tensor:
    """Embeddings of the frames ``[a, b)`` of session ``s`` for each span ``(s, a, b)``."""
    lengths = [b - a for _, a, b in spans]
    inputs: dict[str, torch.Tensor | None] = {"imu": None, "audio": None}
    drops: dict[str, torch.Tensor | None] = {"imu": None, "audio": None}
    for name in network.modalities:
        arrays = [getattr(sessions[s], name)[a:b] for s, a, b in spans]
        inputs[name] = torch.from_numpy(np.concatenate(arrays))
        if name in dropped:
            drops[name] = torch.from_numpy(np.repeat(dropped[name], lengths))
    return network.embed(
        inputs["imu"], inputs["audio"], drop_imu=drops["imu"], drop_audio=drops["audio"]
    )


def _batch_loss(
    network: FusedActivityNet,
    sessions: Sequence[SessionFeatures],
    batch: Sequence[tuple[int, int, int, int]],
    weights: torch.Tensor | None,
    dropout: float,
    rng: np.random.Generator,
) -> torch.Tensor:
    """Weighted cross-entropy of one batch of sequences ``(session, first, start, stop)``,
    summed over the network's branches (each on the frames its input is present).

    The context frames ``[first, start)`` are embedded without gradients (they only feed
    the causal context), which saves most of their cost.
    """
    dropped: dict[str, np.ndarray] = {}
    if len(network.modalities) == 2 and dropout > 0:
        draws = rng.random(len(batch))
        dropped = {"imu": draws < dropout, "audio": (draws >= dropout) & (draws < 2 * dropout)}
    labelled = _embed_part(network, sessions, [(s, a, b) for s, _, a, b in batch], dropped)
    parts = list(torch.split(labelled, [b - a for _, _, a, b in batch]))
    context_lengths = [a - first for _, first, a, _ in batch]
    if sum(context_lengths):
        with torch.no_grad():
            context = _embed_part(
                network, sessions, [(s, first, a) for s, first, a, _ in batch], dropped
            )
        pieces = torch.split(context, context_lengths)
        parts = [torch.cat([c, p]) for c, p in zip(pieces, parts, strict=True)]
    padded = torch.nn.utils.rnn.pad_sequence(parts, batch_first=True)
    targets = np.full(padded.shape[:2], _IGNORE, dtype=np.int64)
    for row, (s, first, start, stop) in enumerate(batch):
        labels = sessions[s].labels
        if labels is not None:  # always: checked by _check_sessions
            targets[row, start - first : stop - first] = labels[start:stop]
    branch_logits, present, _ = network.branch_logits(padded)
    flat_targets = torch.from_numpy(targets.reshape(-1))
    loss = torch.zeros(())
    for index, logits in enumerate(branch_logits):
        own = flat_targets.where(present[..., index].reshape(-1) > 0, _IGNORE)
        if bool((own != _IGNORE).any()):  # a late-fusion branch may miss a whole batch
            loss = loss + F.cross_entropy(
                logits.reshape(-1, network.n_classes), own, weight=weights, ignore_index=_IGNORE
            )
    return loss


@dataclass
class _BranchBest:
    """A branch's best epoch so far: its validation key (higher is better) and weights."""

    key: tuple[float, float] | None
    epoch: int
    state: dict[str, torch.Tensor]


def _validate(
    network: FusedActivityNet, sessions: Sequence[SessionFeatures]
) -> tuple[float, float, float, list[tuple[float, float]]]:
    """Validation NLL, macro-F1 and accuracy of the network's output, and each branch's
    key ``(macro-F1, -NLL)`` on the frames that have its input."""
    network.eval()
    outputs = [session_branch_logits(network, s.imu, s.audio) for s in sessions]
    network.train()
    truth = np.concatenate([s.labels for s in sessions if s.labels is not None])
    branch_logits, flags = concatenate_branch_outputs(outputs)
    scores = combine_session(network, branch_logits, flags.astype(np.float32))
    predicted = scores.argmax(axis=1)
    keys = []
    for logits, present in zip(branch_logits, flags.T, strict=True):
        own, labels = logits[present], truth[present]
        keys.append(
            (
                macro_f1(labels, own.argmax(axis=1)),
                -negative_log_likelihood(own, labels),
            )
        )
    return (
        negative_log_likelihood(scores, truth),
        macro_f1(truth, predicted),
        frame_accuracy(truth, predicted),
        keys,
    )


def train_network(
    train: Sequence[SessionFeatures],
    validation: Sequence[SessionFeatures] = (),
    *,
    n_classes: int,
    modalities: Sequence[str] = ("imu", "audio"),
    config: TrainingConfig | None = None,
    on_progress: ProgressCallback | None = None,
) -> TrainingResult:
    """Train a :class:`FusedActivityNet` with early stopping on validation macro-F1.

    Each branch (:attr:`FusedActivityNet.branch_names`) keeps the weights of its own best
    epoch (macro-F1, then NLL, of its logits on the validation frames that have its
    input), and training stops when no branch has improved for ``patience`` epochs. With
    early fusion that is the whole network; a late-fusion network's branches share no
    layer, so each ends as good as if it had been trained alone.

    Parameters
    ----------
    train : sequence of SessionFeatures
        Labelled sessions with *normalised* windows of every modality in ``modalities``.
    validation : sequence of SessionFeatures
        Held-out labelled sessions (may be empty: then all ``max_epochs`` run and the
        last epoch is kept).
    n_classes : int
        Classes ``S + 1`` ("other" last).
    modalities : sequence of {"imu", "audio"}
    config : TrainingConfig or None
        Defaults to ``TrainingConfig()``; ``config.network.imu_channels`` must match the
        IMU windows.
    on_progress : callable or None
        Called with a :class:`TrainingProgress` after every batch.

    Returns
    -------
    TrainingResult
    """
    config = config if config is not None else TrainingConfig()
    chosen = check_modalities(modalities)
    if not train:
        raise SensingError("train_network needs at least one training session")
    _check_sessions(train, chosen, n_classes, "training")
    _check_sessions(validation, chosen, n_classes, "validation")
    if "imu" in chosen:
        channels = {s.imu.shape[1] for s in (*train, *validation) if s.imu is not None}
        if channels != {config.network.imu_channels}:
            raise SensingError(
                f"IMU windows have {sorted(channels)} channels, "
                f"config.network.imu_channels is {config.network.imu_channels}"
            )
    began = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    with _torch_settings(config.threads):
        torch.manual_seed(config.seed)
        network = FusedActivityNet(n_classes, modalities=chosen, config=config.network)
        network.train()
        optimizer = torch.optim.AdamW(
            network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
        )
        weights = None
        if config.class_weighting:
            labels = [s.labels for s in train if s.labels is not None]
            weights = torch.from_numpy(class_weights(labels, n_classes).astype(np.float32))
        context = network.receptive_field - 1
        length = config.sequence_frames
        dropout = 0.0 if network.late else config.modality_dropout  # late: branches apart
        most = sum(-(-s.n_frames // length) + (s.n_frames > length) for s in train)
        planned = -(-most // config.batch_size) * config.max_epochs  # an upper bound
        history: list[EpochRecord] = []
        best = {name: _BranchBest(None, 0, {}) for name in network.branch_names}
        stop_reason = "max_epochs"
        completed = 0
        for epoch in range(1, config.max_epochs + 1):
            epoch_began = time.perf_counter()
            sequences = _sequences(train, config.sequence_frames, context, rng)
            losses = []
            for start in range(0, len(sequences), config.batch_size):
                batch = sequences[start : start + config.batch_size]
                loss = _batch_loss(network, train, batch, weights, dropout, rng)
                optimizer.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]
                torch.nn.utils.clip_grad_norm_(network.parameters(), 5.0)
                optimizer.step()
                losses.append(float(loss.detach()))
                completed += 1
                if on_progress is not None:
                    on_progress(TrainingProgress("training", completed, planned, epoch))
            out_of_time = (
                config.time_limit_s is not None
                and time.perf_counter() - began > config.time_limit_s
            )
            record, keys = _epoch_record(network, validation, epoch, losses, epoch_began)
            history.append(record)
            state = network.state_dict()
            for (name, kept), key in zip(best.items(), keys, strict=True):
                if kept.key is None or key > kept.key:
                    own = {k: state[k].detach().clone() for k in network.branch_keys(name)}
                    best[name] = _BranchBest(key, epoch, own)
            if on_progress is not None:
                on_progress(TrainingProgress("training", completed, planned, epoch, record))
            if out_of_time:
                stop_reason = "time_limit"
                break
            latest_best = max(kept.epoch for kept in best.values())
            if validation and epoch - latest_best >= config.patience and epoch < config.max_epochs:
                stop_reason = "patience"
                break
        kept_state = network.state_dict()
        for kept in best.values():
            kept_state.update(kept.state)
        network.load_state_dict(kept_state)
        network.eval()
        outputs = [session_branch_logits(network, s.imu, s.audio) for s in validation]
    return TrainingResult(
        network=network,
        history=history,
        best_epoch=max(kept.epoch for kept in best.values()),
        branch_best_epochs={name: kept.epoch for name, kept in best.items()},
        stop_reason=stop_reason,
        seconds=time.perf_counter() - began,
        validation_outputs=outputs,
    )


def _epoch_record(
    network: FusedActivityNet,
    validation: Sequence[SessionFeatures],
    epoch: int,
    losses: list[float],
    began: float,
) -> tuple[EpochRecord, list[tuple[float, float]]]:
    """Validate after an epoch; per branch, the key that orders its epochs (higher is
    better; without validation sessions the latest epoch is best)."""
    train_loss = float(np.mean(losses)) if losses else float("nan")
    if not validation:
        record = EpochRecord(epoch, train_loss, None, None, None, time.perf_counter() - began)
        return record, [(float(epoch), 0.0)] * len(network.branch_names)
    loss, f1, accuracy, keys = _validate(network, validation)
    record = EpochRecord(epoch, train_loss, loss, f1, accuracy, time.perf_counter() - began)
    return record, keys

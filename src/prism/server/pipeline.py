"""Where the sessions' pipelines run: in the service process, or sharded over processes.

The service front (:mod:`prism.server.app`, :mod:`prism.server.registry`) owns connections,
sequence numbers and persistence; the :class:`~prism.server.runtime.SessionRuntime` s
live behind a :class:`Pipeline`, which the front calls with plain data (session ids,
frame bytes, control messages) and which returns :class:`RuntimeEvent` s:

- :class:`LocalPipeline` keeps the runtimes in this process. :meth:`Pipeline.step`
  pushes the frames of many sessions, classifies all their ready frames in one network
  call per model (:class:`~prism.sensing.streaming.FrameBatch`) and tracks each session.
  It is thread-safe (one lock), so the front calls it from worker threads.
- :class:`~prism.server.shards.ShardedPipeline` runs one :class:`LocalPipeline` per worker
  process and sends each session's calls to its shard, so tracking and feature
  extraction use every core (they hold Python's GIL; the network and SQLite do not).

Sessions of a procedure share its model and its remaining-time kernels. A privacy session
(its watch sends audio decimated to 1 kHz, no intelligible speech) runs on the
procedure's privacy model (:func:`~prism.server.procedures.model_folder`) instead. A
procedure without a model (a new task) runs in guided mode
(:attr:`~prism.server.runtime.SessionRuntime.mode`); a privacy session needs the privacy
model (it is refused without one: the user asked for recognition on 1 kHz audio). Once
the task has a model, :meth:`Pipeline.sense` switches a guided session to it where it is
(the front stores the switch as a ``mode`` input, replayed in its place). Procedures and
models are loaded once per pipeline (per worker) until :meth:`Pipeline.reload`.

Failures: a call that fails on its input raises a :class:`~prism.errors.PrismError`
(frames that cannot be used come back in :attr:`StepResult.errors` instead). A sharded
pipeline whose worker process died raises :class:`~prism.errors.WorkerLostError` (its
``lane``): the call did not happen, the worker is restarted without sessions, and the
front replays them from the store (:meth:`Pipeline.replay`) and then calls
:meth:`Pipeline.restored`; see :mod:`prism.server.batches`.
"""

from __future__ import annotations

import threading
import zlib
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from prism.assistant.retrieval import passage_index
from prism.data.annotations import frame_labels
from prism.data.recording import AUDIO_RATE_HZ
from prism.data.sampling import sample_session
from prism.data.simulated import simulate_classifier
from prism.errors import DataError, PrismError, UnknownSessionError, WorkerLostError
from prism.observer import FutureModel, RemainingTimeConfig
from prism.procedure.io import load_procedure
from prism.procedure.model import Procedure
from prism.protocol import (
    Ack,
    ControlMessage,
    FrameKind,
    Hello,
    Question,
    decode_frame,
    parse_control,
)
from prism.sensing.classifier import ActivityClassifier
from prism.sensing.features import PRIVACY_RATE_HZ
from prism.sensing.streaming import FrameBatch, StreamingClassifier
from prism.sensing.uninformative import UninformativeStream
from prism.server.checkpoint import dump_runtime, load_runtime
from prism.server.dashboard import runtime_view
from prism.server.procedures import model_folder
from prism.server.runtime import RuntimeEvent, SessionMode, SessionRuntime
from prism.storage import StoredInput
from prism.tracker import StepTracker

SHARED_KERNELS = 2048
"""Waiting-time kernels kept per procedure for all its sessions (41 KB each for latte
making: 84 MB at most); sessions in many different states share them."""

__all__ = [
    "OPENED_GUIDED",
    "SWITCHED_TO_SENSING",
    "FrameError",
    "LocalPipeline",
    "Pipeline",
    "StepResult",
    "UnknownSessionError",
    "WorkerLostError",
]


@dataclass(frozen=True)
class FrameError:
    """A sensor frame whose samples could not be used (its ``seq`` and why)."""

    seq: int
    message: str


@dataclass
class StepResult:
    """What one session's frames of a :meth:`Pipeline.step` gave."""

    events: list[RuntimeEvent] = field(default_factory=list)
    errors: list[FrameError] = field(default_factory=list)
    frames: int = 0
    """Frames classified."""
    checkpoint: bytes | None = None
    """The session's runtime after these frames (:func:`~prism.server.checkpoint.dump_runtime`),
    when one was due."""


class Pipeline(ABC):
    """The sessions' runtimes, called by the service front (see the module docstring)."""

    @abstractmethod
    def open(self, session_id: str, procedure_id: str, privacy: bool = False) -> SessionMode:
        """Start a session's runtime (``privacy``: a privacy session, on the procedure's
        privacy model, taking audio at 1 kHz); its mode (``"guided"``: the task has no
        model yet).

        Raises
        ------
        PrismError
            If the procedure or its model (privacy model) cannot be loaded or do not match.
        """

    @abstractmethod
    def sense(self, session_id: str) -> list[RuntimeEvent]:
        """Switch a guided session to sensing on its task's model (found now); the
        ``mode`` and ``step`` events (:meth:`~prism.server.runtime.SessionRuntime.sense`).

        Raises
        ------
        PrismError
            If the session is sensing already, or its task has no usable model yet (a
            privacy session: no privacy model).
        """

    @abstractmethod
    def reload(self) -> None:
        """Forget the procedures and models loaded so far: new sessions (and switches
        to sensing) load them again from the tasks and models folders. Running sessions
        keep those they have."""

    @abstractmethod
    def step(self, frames: Mapping[str, Sequence[bytes]]) -> dict[str, StepResult]:
        """Push each session's binary sensor frames (valid, in order), classify and
        track: per session, the events and the frames that could not be used.

        Raises
        ------
        WorkerLostError
            If the worker process of a lane died (its sessions' frames were not stepped:
            step them again once the lane is restored).
        """

    @abstractmethod
    def control(self, session_id: str, message: ControlMessage) -> list[RuntimeEvent]:
        """A question, correction, reminder action or end; the events it causes."""

    @abstractmethod
    def snapshot(self, session_id: str) -> dict[str, Any]:
        """The session's state for REST and the dashboard (see
        :func:`~prism.server.dashboard.runtime_view`)."""

    @abstractmethod
    def replay(
        self,
        session_id: str,
        procedure_id: str,
        inputs: Sequence[StoredInput],
        checkpoint: bytes | None = None,
        privacy: bool = False,
    ) -> int:
        """Rebuild a session (after a restart, or taken over from another process) from
        its stored inputs: all of them, or those after ``checkpoint`` (restored first);
        ``privacy`` as for :meth:`open`. A session whose first input is a ``mode`` row
        ``guided`` opened in guided mode (and a later ``sensing`` row switched it).
        Returns how many inputs failed (the same way they failed when they first came).

        Raises
        ------
        CheckpointError
            If ``checkpoint`` cannot be restored (replay all the inputs instead).
        """

    @abstractmethod
    def drop(self, session_id: str) -> None:
        """Forget a session's runtime (another process serves it now); no error if absent."""

    @property
    def lanes(self) -> int:
        """How many independent parts the pipeline has (worker processes): calls to
        :meth:`step` with the sessions of different lanes run side by side."""
        return 1

    def lane(self, session_id: str) -> int:
        """The lane of a session, in ``range(lanes)``."""
        return 0

    def restored(self, lane: int) -> None:  # noqa: B027 (only worker processes are lost)
        """The sessions of ``lane``, whose worker was lost (:class:`WorkerLostError`), are
        replayed: the lane takes every call again."""

    def close(self) -> None:  # noqa: B027 (a pipeline without resources needs nothing)
        """Release processes or other resources."""


class LocalPipeline(Pipeline):
    """The runtimes in this process (thread-safe).

    Parameters
    ----------
    tasks_dir, models_dir : Path
        Where ``<procedure>/procedure.yaml`` and the trained ``<procedure>/`` models
        (privacy models: ``<procedure>/privacy/``) are.
    warm_up_sessions : int
        When a procedure is first used, this many sessions sampled from it are tracked
        (with the simulated classifier) to fill its shared cache of waiting-time kernels,
        so the first real sessions do not pay for them (about 0.5 s each).
    checkpoint_every_s : float or None
        Session time (s) between two checkpoints of a session's runtime, returned by
        :meth:`step` (``None``: never). Sessions are spread over the interval.
    """

    def __init__(
        self,
        tasks_dir: Path,
        models_dir: Path,
        *,
        warm_up_sessions: int = 0,
        checkpoint_every_s: float | None = None,
    ) -> None:
        self.tasks_dir, self.models_dir = Path(tasks_dir), Path(models_dir)
        self.warm_up_sessions = warm_up_sessions
        self.checkpoint_every_s = checkpoint_every_s
        self._checkpoint_due: dict[str, float] = {}
        self.runtimes: dict[str, SessionRuntime] = {}
        self.futures: dict[str, FutureModel] = {}
        """The remaining-time model each procedure's sessions share."""
        self._procedures: dict[str, Procedure] = {}
        self._models: dict[tuple[str, bool], ActivityClassifier | None] = {}
        """The model of each (procedure, privacy); None: it has none (guided mode)."""
        self._lock = threading.Lock()

    def _runtime(
        self, session_id: str, procedure_id: str, privacy: bool, *, guided: bool = False
    ) -> SessionRuntime:
        """A new runtime of the procedure, on its model if it has one (``guided``: on
        none, whatever the models folder holds)."""
        if procedure_id not in self._procedures:
            self._procedures[procedure_id] = load_procedure(
                self.tasks_dir / procedure_id / "procedure.yaml"
            )
            passage_index(self._procedures[procedure_id])  # now, not at the first question
        procedure = self._procedures[procedure_id]
        model = None if guided else self._model(procedure_id, privacy)
        if procedure_id not in self.futures:
            future = FutureModel(
                StepTracker(procedure).model, RemainingTimeConfig(cache_size=SHARED_KERNELS)
            )
            _warm_kernels(future, self.warm_up_sessions)
            self.futures[procedure_id] = future
        return SessionRuntime(
            procedure,
            model,
            future=self.futures[procedure_id],
            tracking_model=self.futures[procedure_id].model,
            observe_phase=zlib.crc32(session_id.encode()),  # spread over the sessions
            audio_rate=PRIVACY_RATE_HZ if privacy else AUDIO_RATE_HZ,
        )

    def _model(self, procedure_id: str, privacy: bool) -> ActivityClassifier | None:
        """The procedure's model (``privacy``: its privacy model), loaded once; None
        without one (looked for again each time: a model may have been trained since).

        Raises
        ------
        DataError
            For a privacy model the models folder lacks.
        """
        key = (procedure_id, privacy)
        if self._models.get(key, False) is None:
            del self._models[key]  # guided so far: a model may have been trained since
        if key not in self._models:
            folder = model_folder(self.models_dir, procedure_id, privacy=privacy)
            if privacy and not folder.is_dir():
                raise DataError(f"no privacy model for procedure {procedure_id!r} in {folder}")
            model = ActivityClassifier.load(folder) if folder.is_dir() else None
            if model is not None:
                _warm_up(model, PRIVACY_RATE_HZ if privacy else AUDIO_RATE_HZ)
            self._models[key] = model
        return self._models[key]

    def _sense(self, runtime: SessionRuntime) -> list[RuntimeEvent]:
        """Switch ``runtime`` (guided) to sensing on its task's model."""
        if runtime.mode == "sensing":
            raise DataError("the session is sensing already")
        procedure_id = runtime.procedure.id
        model = self._model(procedure_id, runtime.audio_rate == PRIVACY_RATE_HZ)
        if model is None:
            raise DataError(
                f"no model for task {procedure_id!r} in the models folder yet: train one, "
                "then reload the service (prism reload)"
            )
        return runtime.sense(model)

    def _get(self, session_id: str) -> SessionRuntime:
        runtime = self.runtimes.get(session_id)
        if runtime is None:
            raise UnknownSessionError(f"no session {session_id!r} in this pipeline")
        return runtime

    def _install(self, session_id: str, runtime: SessionRuntime) -> None:
        self.runtimes[session_id] = runtime
        every = self.checkpoint_every_s
        if every is not None:  # the first one within an interval, by the session id
            phase = (zlib.crc32(session_id.encode()) % 97) / 97
            self._checkpoint_due[session_id] = runtime.time + every * phase

    def open(self, session_id: str, procedure_id: str, privacy: bool = False) -> SessionMode:
        with self._lock:
            runtime = self._runtime(session_id, procedure_id, privacy)
            self._install(session_id, runtime)
            return runtime.mode

    def sense(self, session_id: str) -> list[RuntimeEvent]:
        with self._lock:
            return self._sense(self._get(session_id))

    def reload(self) -> None:
        with self._lock:
            self._procedures.clear()
            self._models.clear()
            self.futures.clear()

    def drop(self, session_id: str) -> None:
        with self._lock:
            self.runtimes.pop(session_id, None)
            self._checkpoint_due.pop(session_id, None)

    def _checkpoint(self, session_id: str, runtime: SessionRuntime) -> bytes | None:
        """The runtime's checkpoint if one is due (and when the next one is)."""
        due = self._checkpoint_due.get(session_id)
        now = runtime.time
        if due is None or self.checkpoint_every_s is None or now < due:
            return None
        self._checkpoint_due[session_id] = now + self.checkpoint_every_s
        return dump_runtime(runtime)

    def step(self, frames: Mapping[str, Sequence[bytes]]) -> dict[str, StepResult]:
        with self._lock:
            results = {session_id: StepResult() for session_id in frames}
            runtimes = [self._get(session_id) for session_id in frames]
            for runtime, (session_id, bodies) in zip(runtimes, frames.items(), strict=True):
                for body in bodies:
                    frame = decode_frame(body)
                    try:
                        runtime.push(frame)
                    except PrismError as problem:
                        results[session_id].errors.append(FrameError(frame.seq, str(problem)))
            rows = _classified([runtime.stream for runtime in runtimes])
            for runtime, session_id, classified in zip(runtimes, frames, rows, strict=True):
                results[session_id].frames = classified.shape[0]
                if classified.shape[0]:
                    results[session_id].events = runtime.track(classified)
                    results[session_id].checkpoint = self._checkpoint(session_id, runtime)
            return results

    def control(self, session_id: str, message: ControlMessage) -> list[RuntimeEvent]:
        with self._lock:
            return self._get(session_id).handle_control(message)  # type: ignore[arg-type]

    def snapshot(self, session_id: str) -> dict[str, Any]:
        with self._lock:
            return runtime_view(self._get(session_id))

    def replay(
        self,
        session_id: str,
        procedure_id: str,
        inputs: Sequence[StoredInput],
        checkpoint: bytes | None = None,
        privacy: bool = False,
    ) -> int:
        with self._lock:
            guided = checkpoint is None and bool(inputs) and inputs[0] == OPENED_GUIDED
            runtime = self._runtime(session_id, procedure_id, privacy, guided=guided)
            if checkpoint is not None:
                runtime = load_runtime(checkpoint, runtime)
            self._install(session_id, runtime)
            failed = 0
            for stored in inputs:
                try:
                    if stored.kind == "mode":
                        if stored.body == b"sensing":
                            self._sense(runtime)
                    else:
                        _replay_input(runtime, stored)
                except PrismError:
                    failed += 1
            return failed


OPENED_GUIDED = StoredInput(0, "mode", b"guided")
"""The first stored input of a session opened in guided mode (a replay opens it so)."""

SWITCHED_TO_SENSING = StoredInput(0, "mode", b"sensing")
"""The stored input of a guided session's switch to sensing (replayed in its place)."""


def _classified(streams: Sequence[StreamingClassifier | UninformativeStream]) -> list[np.ndarray]:
    """The new frames of every stream: the classifiers' in one batch
    (:class:`~prism.sensing.streaming.FrameBatch`), guided sessions' as they are."""
    recognizing = [s for s in streams if isinstance(s, StreamingClassifier)]
    batch = iter(FrameBatch(recognizing).classify())
    return [
        next(batch) if isinstance(stream, StreamingClassifier) else stream.pop_frames()
        for stream in streams
    ]


def _replay_input(runtime: SessionRuntime, stored: StoredInput) -> None:
    """Feed one stored input to a rebuilding runtime (its messages were kept already);
    saved ``labels`` are a researcher's, not the session's: passed over."""
    if stored.kind == "frame":
        frame = decode_frame(stored.body)
        if frame.kind != FrameKind.QUESTION_AUDIO:  # answered through its "question" row
            runtime.handle_frame(frame)
    elif stored.kind == "question":
        text = stored.body.decode()
        runtime.handle_control(Question(type="question", seq=stored.seq, text=text, t=0.0))
    elif stored.kind == "control":
        message = parse_control(stored.body)
        if not isinstance(message, Hello | Ack):
            runtime.handle_control(message)


def _warm_kernels(future: FutureModel, sessions: int) -> None:
    """Track ``sessions`` sessions sampled from the procedure (simulated classifier) and
    predict every 2 s: the kernels of the usual states are then cached."""
    procedure = future.model.procedure
    rng = np.random.default_rng(0)
    names = [step.name for step in procedure.steps]
    for index in range(sessions):
        labels = frame_labels(sample_session(procedure, rng), procedure.step_ids)
        rows = simulate_classifier(labels, n_classes=procedure.n_steps + 1, names=names, seed=index)
        tracker = StepTracker(procedure)
        for frame, row in enumerate(rows):
            state = tracker.update(row)
            if frame % 10 == 0:
                future.predict(state.beam)


def _warm_up(model: ActivityClassifier, audio_rate: int) -> None:
    """Pay the first-use costs of a model (imports, filter banks) at load, not in the
    first session's frames: classify two seconds of silence (at ``audio_rate`` Hz, as
    its sessions send it) and stillness."""
    stream = StreamingClassifier(model, audio_rate=audio_rate)
    if "imu" in stream.modalities:
        times = np.arange(0.0, 2.0, 0.02)
        still = np.zeros((times.size, 6))
        still[:, 2] = 9.81
        stream.push_imu(times, still)
    if "audio" in stream.modalities:
        stream.push_audio(np.zeros(2 * audio_rate))
    stream.pop_frames()

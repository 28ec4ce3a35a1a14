"""One watch session's pipeline: sensor frames and control messages in, events out.

:class:`SessionRuntime` wires the modules and holds no algorithm of its own::

    SensorFrame (IMU / audio) -> StreamingClassifier -> StepTracker -> Observer
    control messages          -> SessionAssistant (answers, corrections), reminder actions

It is transport-free and synchronous: the server feeds it decoded messages in sequence
order and sends back the :class:`RuntimeEvent` s it returns. Sensor frames can be taken
in two halves so that a server classifies many sessions in one network call:
:meth:`SessionRuntime.push` stores the samples, :func:`~prism.sensing.streaming.classify_streams`
classifies the ready frames of many runtimes' :attr:`SessionRuntime.stream` s, and
:meth:`SessionRuntime.track` turns each one's rows into events
(:meth:`SessionRuntime.handle_frame` does the three for one session). Slow work is kept
apart: :func:`transcribe_question` (speech recognition of a spoken question) touches no
session state, so the server runs it on a worker thread and hands the text to
:meth:`SessionRuntime.handle_control` as a :class:`~prism.protocol.Question`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import numpy as np

from prism.assistant import Assistant, PhrasingRequest, SessionAssistant
from prism.data.recording import AUDIO_RATE_HZ
from prism.errors import DataError, TrackerInputError
from prism.observer import FutureModel, Observer, RemainingTime, Reminder, ReminderError
from prism.procedure.model import Procedure
from prism.protocol import (
    CorrectionMessage,
    End,
    ErrorCode,
    FrameKind,
    Mark,
    Question,
    ReminderAction,
    SensorFrame,
)
from prism.sensing.classifier import ActivityClassifier
from prism.sensing.features import SensingError
from prism.sensing.streaming import StreamingClassifier
from prism.sensing.uninformative import UninformativeStream
from prism.speech import SpeechRecognizer, transcribe_clip
from prism.tracker import StepTracker, TrackerConfig, TrackerState
from prism.tracker.model import TrackingModel

__all__ = [
    "EventKind",
    "ProbabilityHistory",
    "RuntimeConfig",
    "RuntimeEvent",
    "SessionMode",
    "SessionRuntime",
    "transcribe_question",
]

EventKind = Literal["step", "reminder", "answer", "mode", "marked", "error"]
SessionMode = Literal["sensing", "guided"]


@dataclass(frozen=True)
class RuntimeEvent:
    """Something to tell the watch (and the dashboard).

    Attributes
    ----------
    kind : {"step", "reminder", "answer", "mode", "marked", "error"}
    t : float
        Session time (s) the event refers to.
    data : dict
        The message fields of ``watch_bridge/PROTOCOL.md`` (without ``type`` and ``seq``).
    phrasing : PhrasingRequest or None
        An answer the server may still have an LLM phrase (not part of the message).
    """

    kind: EventKind
    t: float
    data: dict[str, Any] = field(default_factory=dict)
    phrasing: PhrasingRequest | None = field(default=None, compare=False, repr=False)

    def message(self, seq: int) -> dict[str, Any]:
        """The JSON message for the watch, numbered ``seq``."""
        return {"type": self.kind, "seq": seq, "t": self.t, **self.data}


class ProbabilityHistory:
    """The last ``capacity`` snapshots of the class probabilities, for charts.

    A ring buffer allocated once (``capacity * (S + 2)`` numbers): the memory of a session
    does not grow while it runs.

    Parameters
    ----------
    capacity : int
        Snapshots kept.
    n_classes : int
        ``S + 1`` (the steps and "other").
    """

    def __init__(self, capacity: int, n_classes: int) -> None:
        self._times = np.zeros(capacity)
        self._rows = np.zeros((capacity, n_classes), dtype=np.float32)
        self._count = 0

    def __len__(self) -> int:
        return min(self._count, len(self._times))

    def append(self, time: float, probabilities: np.ndarray) -> None:
        """Keep a snapshot: ``time`` (s), ``probabilities`` ``(S + 1,)``."""
        slot = self._count % len(self._times)
        self._times[slot] = time
        self._rows[slot] = probabilities
        self._count += 1

    def last(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The last ``n`` snapshots, oldest first: times ``(k,)`` s and probabilities
        ``(k, S + 1)``, ``k = min(n, len(self))``."""
        k = min(n, len(self))
        order = (np.arange(self._count - k, self._count)) % len(self._times)
        return self._times[order], self._rows[order]


@dataclass(frozen=True)
class RuntimeConfig:
    """How often the runtime reports.

    Parameters
    ----------
    observe_every : int
        Frames between two observer runs (10 = every 2 s: reminders wait 20 s for
        missed-step evidence and announce steps 30 s ahead, so finer gains nothing).
    heartbeat_s : float
        A step event at least this often, even without a change (s).
    remaining_every_s : float
        Age (s) after which the remaining-time prediction is computed anew (the costliest
        part of a frame). Step events report the last prediction minus the time since;
        reminders of upcoming time-critical steps use it as it is (so they may come up
        to this much later than with a prediction on every observer run).
    next_steps : int
        Next-step candidates in a step event.
    history_points : int
        Probability snapshots kept (one per observer run).
    """

    observe_every: int = 10
    heartbeat_s: float = 5.0
    remaining_every_s: float = 10.0
    next_steps: int = 3
    history_points: int = 600
    """Per-class probabilities kept for the dashboard (one per observer run: 20 minutes)."""


class SessionRuntime:
    """The pipeline of one session.

    Parameters
    ----------
    procedure : Procedure
    classifier : ActivityClassifier or None
        A fitted model over ``procedure``'s steps (e.g. ``models/latte_making``); None
        for a task without one: guided mode (:attr:`mode`), where the sensor frames only
        keep the clock (:class:`~prism.sensing.uninformative.UninformativeStream`) and
        the state moves by the step durations and by what the user says or taps.
    assistant : Assistant, optional
        Defaults to the grounded assistant of ``procedure``.
    config : RuntimeConfig, optional
    future : FutureModel, optional
        A remaining-time model shared by the sessions of ``procedure`` (see
        :class:`~prism.observer.Observer`).
    tracking_model : TrackingModel, optional
        The procedure compiled for tracking, shared by a server's sessions of it (see
        :class:`~prism.tracker.StepTracker`); compiled for this session if omitted.
    observe_phase : int
        The observer runs on frames ``f`` with ``(f + observe_phase) % observe_every == 0``:
        a server gives its sessions different phases so their observer runs (the
        costliest part of a frame) do not all fall on the same frame.
    audio_rate : int
        Sample rate (Hz) of the audio frames: 16 kHz, or 1 kHz in a privacy session (the
        watch decimated it; ``classifier`` must then be a privacy model of that rate).
    """

    def __init__(
        self,
        procedure: Procedure,
        classifier: ActivityClassifier | None,
        *,
        assistant: Assistant | None = None,
        config: RuntimeConfig | None = None,
        future: FutureModel | None = None,
        tracking_model: TrackingModel | None = None,
        observe_phase: int = 0,
        audio_rate: int = AUDIO_RATE_HZ,
    ) -> None:
        if classifier is not None:
            _check_classes(classifier, procedure)
        self.procedure = procedure
        self.audio_rate = audio_rate
        self._audio_samples = 0
        """Audio samples received (a switch to sensing lines the new stream up with them)."""
        self._sensing_from_s = 0.0
        """Session time (s) at which :attr:`stream` starts (0, or where guided mode ended)."""
        self._audio_skip = 0
        """Samples of the coming audio that fall before :attr:`stream` starts."""
        self.config = config or RuntimeConfig()
        self.observe_phase = observe_phase
        self.stream: StreamingClassifier | UninformativeStream = (
            UninformativeStream(procedure.n_steps + 1, audio_rate=audio_rate)
            if classifier is None
            else StreamingClassifier(classifier, audio_rate=audio_rate, late_imu="drop")
        )
        profile = None if classifier is None else classifier.error_profile_
        self.tracker = StepTracker(
            procedure, TrackerConfig(classifier_profile=profile), model=tracking_model
        )
        self.observer = Observer(self.tracker, future=future)
        self.assistant = SessionAssistant(
            self.tracker,
            assistant or Assistant(procedure),
            observer=self.observer,
            guided=classifier is None,
        )
        self._last_step: tuple[str | None, float] = ("", -np.inf)
        # the prediction from the start (the same for every session of the procedure:
        # its kernels are cached); the first refresh comes at a phase-dependent time, so
        # sessions that start together do not all predict on the same frame
        self._prediction: RemainingTime | None = self.observer.remaining(self.tracker.state())
        every = self.config.remaining_every_s
        self._prediction_due = every * (observe_phase % 97) / 97
        self.probability_history = ProbabilityHistory(
            self.config.history_points, procedure.n_steps + 1
        )
        """The class probabilities once per observer run, for charts."""

    @property
    def state(self) -> TrackerState:
        """The tracker's latest state."""
        return self.tracker.state()

    @property
    def mode(self) -> SessionMode:
        """``"sensing"`` (a trained model recognizes the steps) or ``"guided"`` (none:
        the user's words and taps and the step durations move the state)."""
        return "guided" if isinstance(self.stream, UninformativeStream) else "sensing"

    @property
    def time(self) -> float:
        """Session time (s) of the frames tracked so far: ``state.time`` without making
        the state (a frame's batch asks it of every session)."""
        return self.tracker.frame / self.tracker.model.frame_rate

    def handle_frame(self, frame: SensorFrame) -> list[RuntimeEvent]:
        """Feed an IMU batch or an audio chunk; events for every frame it completes.

        Spoken-question audio is not sensor data: see :func:`transcribe_question`.
        """
        try:
            self.push(frame)
        except SensingError as problem:
            return [self._error(ErrorCode.BAD_FRAME, str(problem), frame.seq)]
        return self.track(self.stream.pop_frames())

    def push(self, frame: SensorFrame) -> None:
        """Store the samples of an IMU batch or an audio chunk (no classification).

        Raises
        ------
        SensingError
            For spoken-question audio (not sensor data: see :func:`transcribe_question`).
        DataError
            For unusable samples (e.g. an IMU gap longer than the stream allows).
        """
        if frame.kind == FrameKind.IMU:
            times = frame.t0 + np.arange(len(frame.samples)) / frame.rate - self._sensing_from_s
            if self._sensing_from_s:  # rows before the switch to sensing were guided time
                keep = times >= 0.0
                times, samples = times[keep], frame.samples[keep]
                if times.size:
                    self.stream.push_imu(times, samples)
            else:
                self.stream.push_imu(times, frame.samples)
        elif frame.kind == FrameKind.AUDIO:
            self._audio_samples += len(frame.samples)
            skip = min(self._audio_skip, len(frame.samples))
            self._audio_skip -= skip
            if skip < len(frame.samples) or not self._sensing_from_s:
                self.stream.push_audio(frame.samples[skip:])
        else:
            raise SensingError("spoken-question audio is not sensor data: it goes to transcribe")

    def track(self, rows: np.ndarray) -> list[RuntimeEvent]:
        """Track classified frames ``(k, S + 1)`` of :attr:`stream`; the events they cause."""
        events: list[RuntimeEvent] = []
        for row in rows:
            state = self.tracker.update(row)
            if (state.frame + self.observe_phase) % self.config.observe_every == 0:
                self.probability_history.append(state.time, state.class_probabilities)
                update = self.observer.observe(state, predict=partial(self._predicted, state))
                events.extend(_reminder_event(reminder) for reminder in update.reminders)
            step, last_time = self._last_step
            if state.current_step != step or state.time - last_time >= self.config.heartbeat_s:
                events.append(self._step_event(state))
        return events

    def _step_event(self, state: TrackerState, *, final: bool = False) -> RuntimeEvent:
        self._last_step = (state.current_step, state.time)
        following = [
            [candidate.step, candidate.probability]
            for candidate in state.next_steps(self.config.next_steps)
        ]
        return RuntimeEvent(
            "step",
            state.time,
            {
                "current": state.current_step,
                "probability": state.current_probability,
                "next": following,
                "remaining_s": self._remaining_s(state),
                "final": final,
            },
        )

    def _predicted(self, state: TrackerState) -> RemainingTime:
        """The remaining-time prediction, made at most ``remaining_every_s`` ago (step
        events and reminders share it)."""
        made = self._prediction
        if made is None or state.time >= self._prediction_due or state.time < made.time:
            made = self.observer.remaining(state)
            self._prediction = made
            self._prediction_due = state.time + self.config.remaining_every_s
        return made

    def _remaining_s(self, state: TrackerState) -> float:
        """Expected time to the end (s): the shared prediction, less the time since."""
        prediction = self._predicted(state)
        return max(0.0, prediction.until_end.mean - (state.time - prediction.time))

    def _error(self, code: ErrorCode, message: str, ref_seq: int | None = None) -> RuntimeEvent:
        return RuntimeEvent(
            "error",
            self.time,
            {"code": int(code), "message": message, "ref_seq": ref_seq},
        )

    def sense(self, classifier: ActivityClassifier) -> list[RuntimeEvent]:
        """Switch a guided session to sensing with ``classifier`` (its task's model, trained
        while the session ran): the tracker state (steps done, current step, time) stays,
        and the frames from the next one on are classified.

        The new stream starts at the first frame not tracked yet; its network context
        starts empty there. Audio received beyond that point is lost to it (guided mode
        keeps no samples: it gets silence of the same length, at most a chunk), audio
        still to come that belongs before it is skipped, and IMU rows before it are left
        out. The tracker keeps its configuration (the default evidence weighting; a
        session opened with the model also uses the model's error profile).

        Returns
        -------
        list of RuntimeEvent
            The ``mode`` event, then a ``step`` event with the state.

        Raises
        ------
        DataError
            If the session is sensing already, or ``classifier`` does not match the
            procedure's steps.
        """
        if self.mode == "sensing":
            raise DataError("the session is sensing already")
        _check_classes(classifier, self.procedure)
        start_s = self.stream.n_emitted / self.tracker.model.frame_rate
        stream = StreamingClassifier(classifier, audio_rate=self.audio_rate, late_imu="drop")
        ahead = self._audio_samples - round(start_s * self.audio_rate)
        if ahead > 0:
            stream.push_audio(np.zeros(ahead, dtype=np.float32))
        self._audio_skip = max(0, -ahead)
        self.stream, self._sensing_from_s = stream, start_s
        self.assistant.guided = False
        self._prediction = None
        state = self.tracker.state()
        return [RuntimeEvent("mode", self.time, {"mode": "sensing"}), self._step_event(state)]

    def handle_control(
        self, message: Question | CorrectionMessage | Mark | ReminderAction | End
    ) -> list[RuntimeEvent]:
        """Answer a question, apply a correction, a step mark (a correction "at" its
        step, acknowledged by a ``marked`` event) or a reminder action, or end the stream."""
        now = self.time
        self._prediction = None  # a correction changes the prediction
        if isinstance(message, Question):
            reply = self.assistant.ask(message.text, remaining=self.observer.remaining(self.state))
            data: dict[str, Any] = {
                "question": message.text,
                "text": reply.text,
                "source": reply.source,
            }
            if reply.correction is not None:
                data["correction"] = {"kind": reply.correction.kind, "step": reply.correction.step}
            events = [RuntimeEvent("answer", now, data, reply.phrasing)]
            if reply.correction is not None:
                events.append(self._step_event(self.tracker.state()))
            return events
        if isinstance(message, CorrectionMessage):
            try:
                state = self.observer.correct(message.kind, message.step)
            except (ReminderError, TrackerInputError) as error:
                return [self._error(ErrorCode.UNKNOWN_STEP, str(error), message.seq)]
            return [self._step_event(state)]
        if isinstance(message, Mark):
            marked = RuntimeEvent("marked", message.t, {"step": message.step, "mark": message.seq})
            if message.step is None:
                return [marked]
            try:
                state = self.observer.correct("at", message.step)
            except (ReminderError, TrackerInputError) as error:
                return [self._error(ErrorCode.UNKNOWN_STEP, str(error), message.seq)]
            return [marked, self._step_event(state)]
        if isinstance(message, ReminderAction):
            scheduler = self.observer.scheduler
            try:
                if message.action == "snooze":
                    scheduler.snooze(message.reminder_id, message.snooze_s)
                elif message.action == "dismiss":
                    scheduler.dismiss(message.reminder_id)
                else:
                    scheduler.acknowledge(message.reminder_id)
            except ReminderError as error:
                return [self._error(ErrorCode.UNKNOWN_STEP, str(error), message.seq)]
            return []
        events = self.track(self._last_frames())
        final = self.tracker.state()
        reminders = [_reminder_event(reminder) for reminder in self.observer.finish(final)]
        return [*events, *reminders, self._step_event(final, final=True)]

    def _last_frames(self) -> np.ndarray:
        """The stream's remaining frames at the end of the session ``(k, S + 1)``.

        No rows when the session cannot be classified to its end: it streamed nothing,
        only one modality (IMU or audio), or one that stops long before the other; or its
        end came already. The session ends all the same, with the frames tracked so far.
        """
        try:
            return self.stream.finish()
        except (DataError, SensingError):
            return np.zeros((0, self.procedure.n_steps + 1))


def _check_classes(classifier: ActivityClassifier, procedure: Procedure) -> None:
    """Refuse a classifier whose classes are not the procedure's steps (then "other")."""
    if tuple(classifier.class_names[: procedure.n_steps]) != procedure.step_ids:
        raise DataError(
            f"the classifier's classes {classifier.class_names} do not match the steps "
            f"of procedure {procedure.id!r} ({', '.join(procedure.step_ids)})"
        )


def _reminder_event(reminder: Reminder) -> RuntimeEvent:
    """The ``reminder`` message of ``reminder``."""
    return RuntimeEvent(
        "reminder",
        reminder.time,
        {
            "reminder_id": reminder.id,
            "kind": reminder.kind.value,
            "step": reminder.step,
            "reason": reminder.reason,
            "confidence": reminder.confidence,
        },
    )


def transcribe_question(
    audio: np.ndarray, procedure: Procedure, transcriber: SpeechRecognizer
) -> str:
    """The words of a spoken question (16 kHz mono float audio); "" if none.

    :func:`~prism.speech.listener.transcribe_clip` with the procedure's step names as
    vocabulary. Touches no session state (the service runs it on a worker thread and
    hands the text to the session as a :class:`~prism.protocol.Question`).
    """
    return transcribe_clip(audio, transcriber, vocabulary=[step.name for step in procedure.steps])

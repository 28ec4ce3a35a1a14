"""``prism demo``: a simulated latte-making session tracked frame by frame, live."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from prism.assistant import SessionAssistant
from prism.cli import app
from prism.cli._common import console, fail, task_procedure
from prism.data.annotations import frame_labels
from prism.data.sampling import sample_session
from prism.data.simulated import SimulatedClassifierConfig, simulate_classifier
from prism.evaluation.metrics import frame_accuracy
from prism.observer import Observer
from prism.tracker import ConfirmationConfig, ConfirmationPolicy, StepTracker, TrackerState

__all__ = ["demo"]


_QUESTIONS = (
    (0.3, "what's next?"),
    (0.5, "did I brew the coffee?"),
    (0.7, "how long until I'm done?"),
)
"""When (share of the session) the simulated user asks what."""


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60):02d}:{seconds % 60:04.1f}"


def _describe(state: TrackerState, names: dict[str, str]) -> str:
    if state.current_step is None:
        last = names[state.last_step] if state.last_step else "nothing yet"
        now = f"[dim]between steps[/] (last: {last})"
    else:
        now = f"[bold]{names[state.current_step]}[/]"
    upcoming = ", ".join(
        f"{names[s.step] if s.step else 'finish'} {s.probability:.0%}" for s in state.next_steps(2)
    )
    return f"{now} [dim]p={state.current_probability:.2f} | next: {upcoming}[/]"


@app.command("demo")
def demo(
    task: Annotated[str, typer.Option(help="Procedure folder under tasks/.")] = "latte_making",
    seed: Annotated[int, typer.Option(help="Seed of the simulated session.")] = 7,
    raw_accuracy: Annotated[
        float, typer.Option(help="Raw frame accuracy of the simulated classifier.")
    ] = 0.6,
    speed: Annotated[
        float, typer.Option(help="Playback speed (x real time; 0 = as fast as possible).")
    ] = 20.0,
    questions: Annotated[
        int, typer.Option(help="How often the tracker may ask the user to confirm a step.")
    ] = 2,
    tasks_dir: Annotated[
        Path | None, typer.Option(help="Where procedures live (default: PRISM_TASKS_DIR).")
    ] = None,
) -> None:
    """Track a simulated session frame by frame and print the live step timeline.

    The session is sampled from the procedure (step order, durations, gaps), a simulated
    classifier turns it into noisy per-frame probabilities (5 frames/s), and the
    streaming tracker follows it. The simulated user answers confirmation questions.
    """
    procedure = task_procedure(task, tasks_dir)
    if not 0.0 < raw_accuracy < 1.0:
        fail(f"--raw-accuracy must be in (0, 1), got {raw_accuracy}")
    rng = np.random.default_rng(seed)
    session = sample_session(procedure, rng, session_id=f"demo-{seed}")
    labels = frame_labels(session, procedure.step_ids)
    probabilities = simulate_classifier(
        labels,
        n_classes=procedure.n_steps + 1,
        config=SimulatedClassifierConfig(raw_accuracy=raw_accuracy),
        names=[step.name for step in procedure.steps],
        seed=rng,
    )
    names = {step.id: step.name for step in procedure.steps}
    tracker = StepTracker(procedure)
    observer = Observer(tracker)
    assistant = SessionAssistant(tracker)
    asked_at = {int(labels.size * share): question for share, question in _QUESTIONS}
    policy = ConfirmationPolicy(ConfirmationConfig(max_requests=max(questions, 0)))
    console.rule(
        f"[bold]PrISM demo[/]: {procedure.name} (simulated session, {session.duration:.0f} s)"
    )
    console.print(
        f"[dim]{procedure.n_steps} steps; simulated classifier raw accuracy {raw_accuracy:.0%}; "
        f"{len(labels)} frames at 5 Hz, played at {speed:g}x[/]"
    )
    shown = -1
    tracked = np.empty(labels.size, dtype=np.int64)
    frame_period = 0.2 / speed if speed > 0 else 0.0
    started = time.perf_counter()
    for t, frame in enumerate(probabilities):
        state = tracker.update(frame)
        request = policy.observe(state)
        if request is not None:
            options = " / ".join(names[c] for c in request.choices)
            truth = procedure.step_ids[labels[t]] if labels[t] < procedure.n_steps else None
            console.print(
                f"[yellow]{_clock(state.time)}  watch asks:[/] which step are you on? {options}"
            )
            if truth is not None:
                console.print(f"[yellow]{_clock(state.time)}  user says:[/] {names[truth]}")
                state = tracker.correct("at", truth)
        tracked[t] = state.current_class
        update = observer.observe(state) if t % 5 == 4 else None
        if state.current_class != shown and state.current_probability >= 0.5:
            shown = state.current_class
            left = "" if update is None else f"  (~{update.remaining.until_end.mean:.0f} s left)"
            console.print(f"{_clock(state.time)}  {_describe(state, names)}{left}", highlight=False)
        for reminder in update.reminders if update is not None else ():
            console.print(f"[magenta]{_clock(state.time)}  reminder:[/] {reminder.reason}")
        if t in asked_at:
            question = asked_at[t]
            reply = assistant.ask(question, remaining=observer.remaining(state))
            console.print(f"[cyan]{_clock(state.time)}  user asks:[/] {question}")
            console.print(f"[cyan]{_clock(state.time)}  assistant:[/] {reply.text}")
        if frame_period:
            time.sleep(max(0.0, started + (t + 1) * frame_period - time.perf_counter()))
    final = tracker.state()
    for reminder in observer.finish(final):
        console.print(f"[magenta]{_clock(final.time)}  reminder:[/] {reminder.reason}")
    accuracy = frame_accuracy(labels, tracked)
    raw = frame_accuracy(labels, probabilities.argmax(axis=1))
    console.rule("summary")
    console.print(f"frame accuracy: raw classifier {raw:.3f} -> tracked {accuracy:.3f}")
    console.print("tracked history (most probable path):")
    for entry in tracker.state().history:
        start = _clock(entry.start) if entry.start is not None else "  ?  "
        end = _clock(entry.end) if entry.end is not None else "now"
        console.print(f"  {start} - {end}  {names[entry.step]}", highlight=False)
    console.print("true steps:")
    for segment in session.segments:
        console.print(
            f"  {_clock(segment.start)} - {_clock(segment.end)}  {names[segment.step]}",
            highlight=False,
        )

"""The assistant: understand an utterance, answer it from the state, or correct the tracker.

:class:`Assistant` is stateless over sessions: give it an utterance and an
:class:`~prism.assistant.context.AssistantContext`, get an :class:`AssistantReply`. A
statement like "I already poured the milk" comes back as a :class:`Correction` for the
tracker (with a one-sentence confirmation), or as a question back when it could mean
two steps. :class:`SessionAssistant` ties it to a live tracker: it builds the context,
applies corrections and keeps the recent dialogue.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Literal

from prism.assistant.context import AssistantContext, DialogueTurn, context_from_tracker
from prism.assistant.grounded import GroundedAnswer, GroundingConfig, answer_intent, step_phrase
from prism.assistant.intents import Intent, IntentKind, StepCommand, step_command, understand
from prism.assistant.llm import LLMPhraser
from prism.assistant.retrieval import passage_index
from prism.observer import Observer
from prism.observer.remaining import RemainingTime
from prism.procedure.model import Procedure
from prism.tracker import StepTracker

__all__ = [
    "Assistant",
    "AssistantConfig",
    "AssistantReply",
    "Correction",
    "PhrasingRequest",
    "SessionAssistant",
]

CorrectionKind = Literal["done", "at", "not_done"]

_CORRECTIONS: dict[IntentKind, CorrectionKind] = {
    IntentKind.CORRECT_DONE: "done",
    IntentKind.CORRECT_AT: "at",
    IntentKind.CORRECT_NOT_DONE: "not_done",
}


@dataclass(frozen=True)
class AssistantConfig:
    """Answering settings.

    Parameters
    ----------
    grounding : GroundingConfig
    ambiguity_margin : float
        A statement is ambiguous when its two best step matches score within this.
    min_correction_score : float
        A statement must match a step at least this well to correct the tracker.
    """

    grounding: GroundingConfig = field(default_factory=GroundingConfig)
    ambiguity_margin: float = 0.1
    min_correction_score: float = 0.5


@dataclass(frozen=True)
class Correction:
    """A change to the tracker the user asked for: ``kind`` of ``step``."""

    kind: CorrectionKind
    step: str


@dataclass(frozen=True)
class PhrasingRequest:
    """What an LLM needs to phrase a grounded answer later, e.g. in a server outside the
    session's lock (:meth:`~prism.assistant.llm.LLMPhraser.rephrase` takes the three)."""

    utterance: str
    context: AssistantContext
    grounded: GroundedAnswer


@dataclass(frozen=True)
class AssistantReply:
    """What the assistant says (``text is None``: nothing) and does.

    Attributes
    ----------
    text : str or None
    intent : IntentKind
    source : {"grounded", "llm", "none"}
        Who phrased the text.
    correction : Correction or None
        To apply to the tracker.
    steps : tuple of str
        Steps the answer names.
    latency_ms : float
        Time to produce the reply.
    phrasing : PhrasingRequest or None
        For a grounded answer an LLM may still phrase (an assistant without one, or
        whose LLM failed): what it needs. ``None`` for corrections and no-answers.
    """

    text: str | None
    intent: IntentKind
    source: Literal["grounded", "llm", "none"]
    correction: Correction | None = None
    steps: tuple[str, ...] = ()
    latency_ms: float = 0.0
    phrasing: PhrasingRequest | None = field(default=None, compare=False, repr=False)


class Assistant:
    """Answers utterances about one procedure.

    Parameters
    ----------
    procedure : Procedure
    llm : LLMPhraser, optional
        Phrases answers and takes open questions; without it the grounded layer answers.
    config : AssistantConfig, optional

    Examples
    --------
    >>> from prism.procedure.io import load_procedure
    >>> from prism.assistant.context import AssistantContext, StepBelief
    >>> latte = load_procedure("tasks/latte_making/procedure.yaml")
    >>> context = AssistantContext(latte, current=(StepBelief("steam_milk", 0.9),))
    >>> Assistant(latte).reply("where am I?", context).text
    'You are on steam milk.'
    """

    def __init__(
        self,
        procedure: Procedure,
        *,
        llm: LLMPhraser | None = None,
        config: AssistantConfig | None = None,
    ) -> None:
        self.procedure = procedure
        self.llm = llm
        self.config = config or AssistantConfig()
        passage_index(procedure)  # built now (sentence embeddings), not at the first question

    def reply(self, utterance: str, context: AssistantContext) -> AssistantReply:
        """Understand ``utterance`` and answer it from ``context``."""
        started = time.perf_counter()
        intent = understand(utterance, self.procedure)
        if intent.kind in _CORRECTIONS and not self._names_a_step(intent):
            # "I got this from a rusty nail": no step to correct; perhaps a problem told
            told = answer_intent(
                replace(intent, kind=IntentKind.TROUBLE, asked=False),
                context,
                self.config.grounding,
            )
            if told.text is not None:
                intent = told.intent
        if intent.kind in _CORRECTIONS:
            reply = self._correction(intent, context)
        else:
            grounded = answer_intent(intent, context, self.config.grounding)
            reply = self._phrase(utterance, context, grounded)
        elapsed = (time.perf_counter() - started) * 1000.0
        return AssistantReply(
            reply.text,
            reply.intent,
            reply.source,
            reply.correction,
            reply.steps,
            elapsed,
            reply.phrasing,
        )

    def _phrase(
        self, utterance: str, context: AssistantContext, grounded: GroundedAnswer
    ) -> AssistantReply:
        kind = grounded.intent.kind
        if grounded.text is None:
            return AssistantReply(None, kind, "none")
        if self.llm is not None and kind != IntentKind.OUT_OF_SCOPE:  # declined, not phrased
            text = self.llm.rephrase(utterance, context, grounded)
            if text is not None:
                return AssistantReply(text, kind, "llm", steps=grounded.steps)
        request = PhrasingRequest(utterance, context, grounded)
        return AssistantReply(
            grounded.text, kind, "grounded", steps=grounded.steps, phrasing=request
        )

    def _names_a_step(self, intent: Intent) -> bool:
        return any(m.score >= self.config.min_correction_score for m in intent.steps)

    def _correction(self, intent: Intent, context: AssistantContext) -> AssistantReply:
        matches = [m for m in intent.steps if m.score >= self.config.min_correction_score]
        if not matches:
            return AssistantReply("Which step do you mean?", intent.kind, "grounded", steps=())
        close = [m for m in matches if matches[0].score - m.score <= self.config.ambiguity_margin]
        done = set(context.done_ids)
        # a statement that would change nothing is the less likely reading
        changes = [
            m for m in close if (m.step in done) == (intent.kind == IntentKind.CORRECT_NOT_DONE)
        ]
        if 0 < len(changes) < len(close):
            close = changes
        if len(close) > 1:
            options = [m.step for m in close[:3]]
            names = [step_phrase(self.procedure, s) for s in options]
            question = "Do you mean " + ", ".join(names[:-1]) + f" or {names[-1]}?"
            return AssistantReply(question, intent.kind, "grounded", steps=tuple(options))
        step = close[0].step
        kind = _CORRECTIONS[intent.kind]
        phrase = step_phrase(self.procedure, step)
        confirmation = {
            "done": f"OK, {phrase} is done.",
            "at": f"OK, you are on {phrase} now.",
            "not_done": f"OK, {phrase} is not done yet.",
        }[kind]
        return AssistantReply(
            confirmation, intent.kind, "grounded", Correction(kind, step), (step,)
        )


class SessionAssistant:
    """The assistant of one live session: context from the tracker, corrections applied.

    Parameters
    ----------
    tracker : StepTracker
        The session's tracker (corrections are applied to it).
    assistant : Assistant, optional
        Defaults to a grounded-only assistant for the tracker's procedure.
    observer : Observer, optional
        The session's observer: corrections then go through
        :meth:`~prism.observer.Observer.correct` (a step said done is not reminded).
    dialogue_turns : int
        Recent exchanges kept for the context.
    guided : bool
        Guided mode (no recognizer: the user moves the state on): a bare "next" or
        "done" marks the current step done and "skip that" moves past it, and the reply
        gives the step to do now with its instructions (:meth:`command`).
    """

    def __init__(
        self,
        tracker: StepTracker,
        assistant: Assistant | None = None,
        *,
        observer: Observer | None = None,
        dialogue_turns: int = 6,
        guided: bool = False,
    ) -> None:
        self.tracker = tracker
        self.observer = observer
        self.assistant = assistant or Assistant(tracker.procedure)
        self.dialogue: deque[DialogueTurn] = deque(maxlen=dialogue_turns)
        self.guided = guided

    def command(self, command: StepCommand) -> AssistantReply:
        """Move on from the current step (guided mode) and say what to do now.

        ``"done"``: the current step is done and the user is on the most probable next
        one; ``"skip"``: the current step is left undone (a must-not-skip step is then
        reminded as usual) and the user is on the next one. Before any step, both start
        the most probable first step; on the last step, "done" finishes it.

        Returns
        -------
        AssistantReply
            Its corrections are applied already; ``correction`` is the last of them.
            Its text names the step to do now with its description ("OK, wash hands
            is done. Now: Put on gloves. Put on a pair of ...").
        """
        started = time.perf_counter()
        state = self.tracker.state()
        procedure = self.tracker.procedure
        current = state.current_step
        target = next((c.step for c in state.next_steps(3) if c.step is not None), None)
        corrections: list[Correction] = []
        if current is not None and (command == "skip" and target is not None):
            corrections.append(Correction("not_done", current))
            opening = f"OK, skipping {step_phrase(procedure, current)}."
        elif current is not None:
            opening = f"OK, {step_phrase(procedure, current)} is done."
            if target is None:
                corrections.append(Correction("done", current))
        else:
            opening = "OK."
        if target is not None:
            corrections.append(Correction("at", target))
            step = procedure.step(target)
            text = " ".join(
                part for part in (opening, f"Now: {step.name}.", step.description) if part
            )
        elif corrections:
            text = f"{opening} That was the last step."
        else:
            return AssistantReply("There is no step left: you are done.", IntentKind.NONE, "none")
        for correction in corrections:
            self._correct(correction)
        kind = IntentKind.CORRECT_AT if corrections[-1].kind == "at" else IntentKind.CORRECT_DONE
        steps = tuple(dict.fromkeys(c.step for c in corrections))
        elapsed = (time.perf_counter() - started) * 1000.0
        return AssistantReply(text, kind, "grounded", corrections[-1], steps, elapsed)

    def ask(self, utterance: str, *, remaining: RemainingTime | None = None) -> AssistantReply:
        """Answer ``utterance`` from the tracker's current state; apply any correction."""
        command = step_command(utterance) if self.guided else None
        if command is not None:
            reply = self.command(command)  # its corrections are applied
        else:
            context = context_from_tracker(
                self.tracker.state(), remaining=remaining, dialogue=tuple(self.dialogue)
            )
            reply = self.assistant.reply(utterance, context)
            if reply.correction is not None:
                self._correct(reply.correction)
        self.dialogue.append(DialogueTurn(utterance, reply.text))
        return reply

    def _correct(self, correction: Correction) -> None:
        """Apply ``correction`` through the observer if there is one (a step said done
        is then not reminded), else to the tracker."""
        correct = self.observer.correct if self.observer else self.tracker.correct
        correct(correction.kind, correction.step)

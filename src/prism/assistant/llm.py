"""An OpenAI-compatible LLM that phrases grounded answers and handles open questions.

Reached through the ``openai`` client at any compatible endpoint (OpenAI, llama.cpp's
server, vLLM, Ollama). The prompt carries the grounded facts; the reply is accepted only
if it agrees with them (:func:`agrees_with`): it names no step the grounded answer does
not, keeps a yes/no answer's polarity and its numbers. Anything else (an error, a
timeout, a contradiction, an empty reply) returns ``None`` and the caller keeps the
grounded answer: the LLM can make answers nicer, never wrong.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from prism.assistant.context import AssistantContext
from prism.assistant.grounded import GroundedAnswer, step_phrase
from prism.assistant.intents import IntentKind
from prism.assistant.mentions import mentioned_steps
from prism.assistant.scoring import close_enough, polarity, quantities
from prism.settings import LLMSettings

__all__ = ["LLMPhraser", "agrees_with", "build_messages"]

log = logging.getLogger(__name__)


_SYSTEM = (
    "You are a hands-free assistant on a smartwatch helping someone through a procedure. "
    "Answer in one or two short sentences for a small screen and speech. Use only the "
    "facts given; never name a step that is not in the procedure; if the facts are "
    "conditional, keep them conditional."
)


def _state_lines(context: AssistantContext) -> list[str]:
    procedure = context.procedure
    lines = [f"Procedure: {procedure.name}. Steps in order of the procedure:"]
    lines += [f"- {step.name}: {step.description.strip()}" for step in procedure.steps]
    if not context.state_known:
        lines.append("Where the user is: unknown.")
        return lines
    done = ", ".join(step_phrase(procedure, s) for s in context.done_ids) or "none"
    lines.append(f"Finished steps, in order: {done}.")
    beliefs = [
        f"{step_phrase(procedure, b.step)} ({b.probability:.0%})"
        for b in context.current
        if b.step is not None
    ]
    lines.append(f"Current step (tracker's belief): {', '.join(beliefs) or 'between steps'}.")
    lines.append(f"Time since start: {context.elapsed_s:.0f} s.")
    for turn in context.dialogue[-3:]:
        lines.append(f"Earlier the user said: {turn.utterance!r}; you answered: {turn.answer!r}")
    return lines


def _open(grounded: GroundedAnswer) -> bool:
    """An open question: about the task, but the procedure's text has nothing on it, so
    the LLM answers from the procedure and the state (unchecked but for its steps)."""
    return grounded.intent.kind == IntentKind.OTHER and not grounded.sentences


def build_messages(
    question: str, context: AssistantContext, grounded: GroundedAnswer
) -> list[dict[str, str]]:
    """The chat messages: system rules, the procedure and the state, the procedure's
    sentences the grounded answer quotes, the question and the grounded answer."""
    lines = _state_lines(context)
    if grounded.sentences:
        lines.append("What the procedure's text says on this question:")
        lines += [f"- {sentence}" for sentence in grounded.sentences]
    facts = "\n".join(lines)
    if _open(grounded):
        task = "Answer the question from the facts above."
    else:
        task = (
            f"The correct answer is: {grounded.text!r}. Rephrase it naturally and briefly "
            "without changing any fact, step or number."
        )
    return [
        {"role": "system", "content": _SYSTEM},
        {"role": "user", "content": f"{facts}\n\nQuestion: {question}\n{task}"},
    ]


def agrees_with(text: str, grounded: GroundedAnswer, context: AssistantContext) -> bool:
    """Whether an LLM reply keeps the grounded answer's facts (see the module docstring)."""
    if not text.strip():
        return False
    procedure = context.procedure
    named = mentioned_steps(text, procedure)
    if not _open(grounded):
        # a quoted answer may leave its step unnamed; any other names exactly its steps
        missing = set() if grounded.sentences else set(grounded.steps) - named
        if named - set(grounded.steps) or missing:
            return False
        if grounded.polarity is not None and polarity(text) != grounded.polarity:
            return False
        offered = quantities(text)
        for value, _ in quantities(grounded.text or ""):
            if not any(close_enough(value, other) for other, _ in offered):
                return False
    return True


_ECHO = re.compile(r"^\s*(?:the\s+)?(?:correct\s+)?answer(?:\s+is)?\s*:\s*", re.IGNORECASE)


def _clean_reply(text: str) -> str:
    """The reply without an echoed lead-in ("The correct answer is: ...") and quotes."""
    text = _ECHO.sub("", text.strip())
    if len(text) >= 2 and text[0] in "\"'“" and text[-1] in "\"'”":
        text = text[1:-1]
    return text.strip()


class LLMPhraser:
    """Asks the LLM and keeps its reply only when it agrees with the grounded answer.

    Parameters
    ----------
    settings : LLMSettings
    client : openai.OpenAI, optional
        A ready client (tests, shared connection pools); built from ``settings`` if
        omitted.
    """

    def __init__(self, settings: LLMSettings, client: Any | None = None) -> None:
        self.settings = settings
        self.client = client if client is not None else settings.client()
        self.failures: list[str] = []

    def rephrase(
        self, question: str, context: AssistantContext, grounded: GroundedAnswer
    ) -> str | None:
        """The LLM's answer, or ``None`` if it failed, timed out or contradicted the facts."""
        messages: Any = build_messages(question, context, grounded)
        try:
            response = self.client.chat.completions.create(
                model=self.settings.model,
                messages=messages,
                max_tokens=self.settings.max_tokens,
                temperature=self.settings.temperature,
            )
            text = _clean_reply(response.choices[0].message.content or "")
        except Exception as error:  # any client, network or server error: keep grounded
            self.failures.append(f"{type(error).__name__}: {error}")
            log.warning("LLM request failed (%s); using the grounded answer", error)
            return None
        if not agrees_with(text, grounded, context):
            self.failures.append(f"disagreed with the facts: {text!r}")
            log.info("LLM reply %r disagrees with the grounded answer; not used", text)
            return None
        return text

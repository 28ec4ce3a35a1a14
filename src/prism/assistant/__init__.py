"""Assistant: spoken questions answered from the step state, and dialogue corrections.

Layers (each usable alone): :mod:`~prism.assistant.intents` (what an utterance asks),
:mod:`~prism.assistant.facts` and :mod:`~prism.assistant.grounded` (answers from the
state, no LLM), :mod:`~prism.assistant.passages`, :mod:`~prism.assistant.retrieval` and
:mod:`~prism.assistant.quoted` (answers quoted from the procedure's own sentences, found
with BM25 and the packaged sentence embedder of :mod:`~prism.assistant.embedding`),
:mod:`~prism.assistant.llm` (an OpenAI-compatible LLM that may rephrase, checked against
the facts), :mod:`~prism.assistant.assistant` (the whole, and a live session's
assistant). Spoken questions become text in :mod:`prism.speech` (VAD, ASR,
TTS), a lower layer this package does not import.
"""

from prism.assistant.assistant import (
    Assistant,
    AssistantConfig,
    AssistantReply,
    Correction,
    PhrasingRequest,
    SessionAssistant,
)
from prism.assistant.context import (
    AssistantContext,
    DialogueTurn,
    DoneStep,
    StepBelief,
    context_from_tracker,
)
from prism.assistant.grounded import GroundedAnswer, GroundingConfig, answer_intent
from prism.assistant.intents import Intent, IntentKind, understand
from prism.assistant.llm import LLMPhraser

__all__ = [
    "Assistant",
    "AssistantConfig",
    "AssistantContext",
    "AssistantReply",
    "Correction",
    "DialogueTurn",
    "DoneStep",
    "GroundedAnswer",
    "GroundingConfig",
    "Intent",
    "IntentKind",
    "LLMPhraser",
    "PhrasingRequest",
    "SessionAssistant",
    "StepBelief",
    "answer_intent",
    "context_from_tracker",
    "understand",
]

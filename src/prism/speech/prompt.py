"""The vocabulary prompt: what Whisper is told it heard just before the utterance.

The procedure's step names, then one short question of each type the assistant answers
(:data:`TYPICAL_QUESTIONS`). Whisper reads the prompt as the preceding text, so it
expects a question about these steps. The local recognizer
(:class:`~prism.speech.asr.Transcriber`), the transcription endpoint
(:class:`~prism.speech.remote_asr.RemoteTranscriber`) and adapter training
(:mod:`prism.speech.adaptation`) all pass the same prompt.

Examples
--------
>>> vocabulary_prompt(["Grind beans", "grind beans", "Steam milk"], questions="What's next?")
"Steps: Grind beans, Steam milk. What's next?"
"""

from __future__ import annotations

from collections.abc import Sequence

from prism.speech.audio import SpeechInputError

__all__ = ["TYPICAL_QUESTIONS", "vocabulary_prompt"]

TYPICAL_QUESTIONS = (
    "Questions to a task assistant: What step am I on? What's next? Did I already do "
    "that? Have I done it yet? What did I just finish? Did I miss a step? How many steps "
    "are left? Am I almost done? How long does it take? How do I do this? What is this "
    "step for?"
)
"""The end of the vocabulary prompt, after the step names: one short question of each type
the assistant answers (``docs/assistant.md``), in the words users say.

Whisper reads the prompt as the text just before what it hears, so question-style text
there makes it expect a question: with three questions before the step names tiny.en
made about 40 % fewer word errors on noisy synthesized questions than with the step
names alone; one question per type took the word error rate on 192 held-out
development questions from 0.27 to 0.21, and putting them after the names to 0.19
(see ``docs/speech.md``).
"""

_STEPS_LABEL = "Steps: "
_PROMPT_MAX_CHARS = 600  # about 150 tokens: Whisper keeps at most 223 prompt tokens


def vocabulary_prompt(
    vocabulary: Sequence[str],
    *,
    questions: str = TYPICAL_QUESTIONS,
    max_chars: int = _PROMPT_MAX_CHARS,
) -> str:
    """A Whisper prompt: the procedure's words (e.g. step names), then typical questions.

    Parameters
    ----------
    vocabulary : sequence of str
        Step names or other phrases; blanks and case-insensitive repeats are dropped,
        white space is collapsed, order is kept.
    questions : str
        Text after the phrases (:data:`TYPICAL_QUESTIONS`; "" for none).
    max_chars : int
        Phrases that would make the prompt longer than this are left out (the
        questions are always kept).

    Returns
    -------
    str
        ``"Steps: Phrase one, phrase two. " + questions``; just the stripped questions
        for an empty vocabulary ("" if they are empty too).

    Raises
    ------
    SpeechInputError
        If ``vocabulary`` is a string or holds something other than strings.
    """
    if isinstance(vocabulary, str):
        raise SpeechInputError(
            f"vocabulary must be a sequence of phrases, got the string {vocabulary!r}"
        )
    kept: list[str] = []
    seen: set[str] = set()
    questions = questions.strip()
    length = len(_STEPS_LABEL) + len(questions) + 2
    for phrase in vocabulary:
        if not isinstance(phrase, str):
            raise SpeechInputError(f"vocabulary phrases must be strings, got {phrase!r}")
        clean = " ".join(phrase.split()).strip(" ,.;")
        if not clean or clean.lower() in seen:
            continue
        if length + len(clean) + 2 > max_chars:
            break
        kept.append(clean)
        seen.add(clean.lower())
        length += len(clean) + 2
    if not kept:
        return questions
    return f"{_STEPS_LABEL}{', '.join(kept)}. {questions}".strip()

"""Tests for the vocabulary prompt."""

from __future__ import annotations

import pytest

from prism.speech.audio import SpeechInputError
from prism.speech.prompt import TYPICAL_QUESTIONS, vocabulary_prompt


@pytest.mark.parametrize(
    ("vocabulary", "match"),
    [("Grind beans", "sequence of phrases"), (["Grind beans", 3], "must be strings")],
    ids=["a-string", "not-strings"],
)
def test_bad_vocabulary_is_rejected(vocabulary: object, match: str) -> None:
    with pytest.raises(SpeechInputError, match=match):
        vocabulary_prompt(vocabulary)  # type: ignore[arg-type]


def test_vocabulary_prompt_dedupes_and_respects_the_length_limit() -> None:
    prompt = vocabulary_prompt(["  Grind   beans ", "GRIND BEANS", "", "Steam milk"], questions="")
    assert prompt == "Steps: Grind beans, Steam milk."
    long = vocabulary_prompt([f"step number {i}" for i in range(200)])
    assert len(long) <= 600
    # the questions come last and are always kept; step names fill what is left
    assert long.startswith("Steps: step number 0, step number 1,")
    assert long.endswith(". " + TYPICAL_QUESTIONS)
    assert vocabulary_prompt([]) == TYPICAL_QUESTIONS
    assert vocabulary_prompt([], questions="") == ""

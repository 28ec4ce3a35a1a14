"""Tests for the question language model that reorders Whisper's best hypotheses."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prism.speech.audio import SpeechInputError
from prism.speech.free_phrasing import free_questions, step_things
from prism.speech.question_lm import (
    QUESTION_PATTERNS,
    BigramModel,
    question_model,
    rescore,
    task_sentences,
)
from prism.text import spoken_words

LATTE_NAMES = ("Grind beans", "Tamp grounds", "Steam milk", "Purge wand", "Pour milk")

words = st.sampled_from(["did", "i", "steam", "milk", "what", "next", "box", "is"])
sentences = st.lists(st.lists(words, min_size=0, max_size=6), min_size=1, max_size=8)


@given(sentences, st.sampled_from(["<s>", "did", "milk", "never-seen"]))
def test_next_word_probabilities_are_positive_and_leave_room_for_unseen_words(
    corpus: list[list[str]], previous: str
) -> None:
    model = BigramModel.fit(corpus)
    seen = {*model.unigrams, "</s>"}
    probabilities = [model.probability(previous, word) for word in seen]
    assert all(p > 0 for p in probabilities)
    assert sum(probabilities) < 1.0  # the rest is for words the model has not seen
    assert model.probability(previous, "zzz-unseen") > 0


@given(sentences, st.lists(words, max_size=6))
def test_mean_log_prob_is_negative_and_finite(corpus: list[list[str]], sentence: list[str]) -> None:
    value = BigramModel.fit(corpus).mean_log_prob(sentence)
    assert value < 0 and math.isfinite(value)


def test_a_sentence_it_was_fitted_on_beats_the_same_words_shuffled() -> None:
    model = BigramModel.fit([["did", "i", "steam", "the", "milk"]] * 3)
    assert model.mean_log_prob(["did", "i", "steam", "the", "milk"]) > model.mean_log_prob(
        ["milk", "the", "steam", "i", "did"]
    )


def test_task_sentences_fill_every_step_pattern_with_every_name() -> None:
    sentences = task_sentences(LATTE_NAMES)
    with_step = [p for p in QUESTION_PATTERNS if "{step}" in p]
    without_step = [p for p in QUESTION_PATTERNS if "{step}" not in p]
    patterns_and_names = len(with_step) * len(LATTE_NAMES) + len(without_step) + len(LATTE_NAMES)
    things = [thing for name in LATTE_NAMES for thing in step_things(name)]
    free = [spoken_words(s) for s in free_questions(things=things)]
    assert sentences[patterns_and_names:] == free
    assert ["how", "much", "milk", "do", "i", "need"] in free  # a thing of "Steam milk"
    assert ["did", "i", "steam", "milk"] in sentences
    assert ["how", "long", "does", "purge", "wand", "take"] in sentences


def test_no_vocabulary_keeps_the_patterns_without_a_step_and_the_free_questions() -> None:
    sentences = task_sentences(())
    free = [spoken_words(s) for s in free_questions()]
    assert sentences == [spoken_words(p) for p in QUESTION_PATTERNS if "{step}" not in p] + free
    assert task_sentences(["Steam milk", "steam milk", "  "]) == task_sentences(["Steam milk"])


def test_the_model_prefers_the_procedure_words_in_a_close_call() -> None:
    model = question_model(LATTE_NAMES)
    hypotheses = [("Did I steam the mill?", -0.30), ("Did I steam the milk?", -0.32)]
    assert rescore(hypotheses, model) == 1
    assert rescore(hypotheses, model, weight=0.0) == 0  # Whisper's order


def test_a_clear_acoustic_lead_is_not_overturned() -> None:
    model = question_model(LATTE_NAMES)
    hypotheses = [("Where are the scissors?", -0.10), ("What's next?", -1.5)]
    assert rescore(hypotheses, model) == 0


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["what's next", "did I steam the milk", "box", ""]), st.floats(-3, 0)
        ),
        min_size=1,
        max_size=6,
    ),
    st.floats(0, 2),
)
def test_rescore_picks_the_best_combined_score(
    hypotheses: list[tuple[str, float]], weight: float
) -> None:
    model = question_model(LATTE_NAMES)
    chosen = rescore(hypotheses, model, weight)
    totals = [s + weight * model.mean_log_prob(spoken_words(t)) for t, s in hypotheses]
    assert totals[chosen] == max(totals)
    assert chosen == totals.index(max(totals))  # the first of equals


def test_rescore_needs_a_hypothesis() -> None:
    with pytest.raises(ValueError, match="at least one hypothesis"):
        rescore([], question_model(()))


def test_rescore_without_hypotheses_is_a_speech_input_error() -> None:
    with pytest.raises(SpeechInputError, match="at least one hypothesis"):
        rescore([], question_model(()))

"""Sentence retrieval: a sentence quoted finds its step, the state breaks ties, weak is weak."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant_states import LATTE, WOUND
from prism.assistant.passages import procedure_passages
from prism.assistant.retrieval import PassageIndex, passage_index, retrieval_words, retrieve
from prism.procedure.io import load_procedure

PINWHEELS = load_procedure("tasks/pinwheels/procedure.yaml")
_PROCEDURES = (LATTE, WOUND, PINWHEELS)


def _distinct(procedure_index: int) -> list[tuple[int, str]]:
    """Sentences whose words no other step's sentence has all of (so they can be told
    apart), as (procedure, sentence)."""
    procedure = _PROCEDURES[procedure_index]
    passages = [p for p in procedure_passages(procedure) if p.step is not None]
    found = []
    for p in passages:
        words = set(retrieval_words(p.text))
        rivals = [q for q in passages if q.step != p.step and words <= set(retrieval_words(q.text))]
        if len(words) >= 3 and not rivals:
            found.append((procedure_index, p.text))
    return found


_QUOTED = [pair for i in range(len(_PROCEDURES)) for pair in _distinct(i)]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(_QUOTED), st.sampled_from(["", "what about ", "hmm, ", "so "]))
def test_a_question_quoting_a_sentence_of_a_step_retrieves_that_step(
    quoted: tuple[int, str], lead: str
) -> None:
    procedure_index, sentence = quoted
    procedure = _PROCEDURES[procedure_index]
    hits = retrieve(lead + sentence.lower(), procedure)
    owner = {p.text: p.step for p in procedure_passages(procedure)}[sentence]
    assert hits and hits[0].passage.step == owner


@pytest.mark.parametrize("procedure", _PROCEDURES, ids=lambda p: p.id)
def test_relevance_is_a_share_and_empty_for_no_content(procedure: object) -> None:
    index = passage_index(procedure)  # type: ignore[arg-type]
    relevance = index.relevance("how full should the jug be?")
    assert relevance.shape == (len(index.passages),)
    assert ((relevance >= 0.0) & (relevance <= 1.0)).all()
    lexical = PassageIndex(procedure)  # type: ignore[arg-type]
    assert not lexical.relevance("what is it?").any()


def test_the_state_breaks_a_tie_for_its_step() -> None:
    question = "which way do I twist the handle"
    lock, unlock = "move_filter", "remove_filter"
    assert retrieve(question, LATTE, preferred={lock: 1.3})[0].passage.step == lock
    assert retrieve(question, LATTE, preferred={unlock: 1.3})[0].passage.step == unlock


def test_a_question_about_something_else_scores_low() -> None:
    index = PassageIndex(LATTE)
    assert index.relevance("who won the game last night").max() == 0.0
    assert index.relevance("how full should the jug be").max() > 0.3
    assert index.coverage("how full should the jug be") == 1.0
    assert index.coverage("who won the game last night") == 0.0


def test_the_procedures_name_does_not_pull_its_description() -> None:
    index = PassageIndex(load_procedure("tasks/microwave_mug_pizza/procedure.yaml"))
    relevance = index.relevance("how do I know the pizza is ready")
    assert all(r == 0.0 for r, p in zip(relevance, index.passages, strict=True) if p.step is None)

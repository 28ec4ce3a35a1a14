"""The procedure's text cut into sentences: the splitter and the passages of a procedure."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant_states import LATTE, WOUND
from prism.assistant.passages import procedure_passages, split_sentences
from prism.text import SENTENCE_ABBREVIATIONS

_WORDS = st.text(alphabet="abcdefghij XYZ0123456789-/°,()", min_size=1, max_size=30)
_TEXTS = st.lists(
    st.tuples(_WORDS, st.sampled_from([". ", "; ", "! ", "? ", " ", ", e.g. ", " 1.5 "])),
    max_size=8,
).map(lambda parts: "".join(words + end for words, end in parts))


@given(_TEXTS)
def test_splitting_keeps_every_character_but_the_spaces(text: str) -> None:
    pieces = split_sentences(text)
    assert all(piece and piece == piece.strip() for piece in pieces)
    assert re.sub(r"\s+", "", "".join(pieces)) == re.sub(r"\s+", "", text)


_SENTENCE = st.from_regex(r"[A-Z][a-z]{2,8}(?: [a-z]{2,8}){0,5}", fullmatch=True).filter(
    lambda sentence: sentence.split()[-1].lower() not in SENTENCE_ABBREVIATIONS  # "Ask the dr."
)


@given(st.lists(_SENTENCE, min_size=1))
def test_sentences_joined_are_found_again(sentences: list[str]) -> None:
    text = " ".join(f"{sentence}." for sentence in sentences)
    assert split_sentences(text) == [f"{sentence}." for sentence in sentences]


@pytest.mark.parametrize(
    ("text", "pieces"),
    [
        ("Stop at 25-30 s; it turns pale.", ["Stop at 25-30 s;", "it turns pale."]),
        ("Coat a 6-oz. ramekin, e.g. with oil.", ["Coat a 6-oz. ramekin, e.g. with oil."]),
        ("Roll it 1.5 inches thick. Roll tight.", ["Roll it 1.5 inches thick.", "Roll tight."]),
        ("Mix well. (Lumps are ok.)", ["Mix well.", "(Lumps are ok.)"]),
        ("", []),
    ],
    ids=["clause", "abbreviations", "decimal", "parenthesis", "empty"],
)
def test_known_splits(text: str, pieces: list[str]) -> None:
    assert split_sentences(text) == pieces


def test_every_step_has_its_sentences_and_the_procedure_its_own() -> None:
    passages = procedure_passages(WOUND)
    assert {p.step for p in passages} == {*WOUND.step_ids, None}
    notes = [p.text for p in passages if p.source == "reminder" and p.step == "apply_pressure"]
    assert notes == [
        "Keep firm pressure for at least 5 minutes without lifting to check;",
        "get medical help if it still bleeds after 10 minutes.",
    ]
    assert any("rusty object" in p.text for p in passages if p.step is None)


def test_a_description_sentence_repeated_by_the_reminder_is_kept_once() -> None:
    brew = [p.text for p in procedure_passages(LATTE) if p.step == "brew_coffee"]
    assert sum("turns pale" in text for text in brew) == 1

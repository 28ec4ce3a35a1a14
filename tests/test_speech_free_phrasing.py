"""Questions in people's own words for the recognizer (prism.speech.free_phrasing)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prism.assistant.intent_examples import EXAMPLES
from prism.procedure.io import load_procedure
from prism.procedure.model import Procedure
from prism.speech.free_phrasing import (
    DETAIL_PATTERNS,
    free_questions,
    procedure_things,
    step_things,
)

TASKS = Path(__file__).resolve().parents[1] / "tasks"


@pytest.fixture(scope="module")
def latte() -> Procedure:
    return load_procedure(TASKS / "latte_making" / "procedure.yaml")


@pytest.mark.parametrize(
    ("name", "things"),
    [
        ("Pour milk into jug", ["milk", "jug"]),
        ("Purge wand", ["wand"]),
        ("Steam milk", ["milk"]),
        ("Serve", []),
        ("Add the tofu cubes to the pan", ["tofu cubes", "pan"]),
        ("Wipe it gently", []),
    ],
)
def test_a_step_name_speaks_of_the_words_after_its_verb(name: str, things: list[str]) -> None:
    assert step_things(name) == things


@given(st.text(alphabet=st.sampled_from("abcdefg '-,"), max_size=60))
def test_the_things_of_a_name_are_runs_of_its_own_words(name: str) -> None:
    words = name.lower().replace(",", " ").replace("-", " ").split()
    for thing in step_things(name):
        assert 1 <= len(thing.split()) <= 3
        assert all(any(part in word for word in words) for part in thing.split())


def test_a_procedures_things_come_from_its_names_and_descriptions(latte: Procedure) -> None:
    things = procedure_things(latte)
    assert {"milk", "jug", "wand", "cup"} <= set(things)
    assert "portafilter" in things  # named only in descriptions
    assert len(things) == len(set(things)) <= 40
    assert len(procedure_things(latte, max_things=5)) == 5
    assert not {"the", "a", "of", "minutes"} & set(things)


def test_free_questions_hold_the_examples_and_the_details_of_each_thing() -> None:
    questions = free_questions(things=["milk", "milk", "jug"])
    examples = [text.rstrip("?.!") for texts in EXAMPLES.values() for text in texts]
    assert set(examples) <= set(questions)
    for pattern in DETAIL_PATTERNS:
        assert pattern.replace("{thing}", "milk") in questions
        assert pattern.replace("{thing}", "jug") in questions
    assert len(questions) == len(set(questions))
    assert not any(q.endswith(("?", ".", "!")) for q in questions)
    assert free_questions() == list(dict.fromkeys(examples))


def test_a_procedures_free_questions_ask_about_its_things(latte: Procedure) -> None:
    questions = free_questions(latte)
    assert "how hot should the milk be" in questions
    assert "where does the portafilter go" in questions

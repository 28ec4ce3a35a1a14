"""Which steps a text names: mentions, ranking, stemming."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from assistant_states import LATTE, WOUND
from prism.assistant.mentions import IRREGULAR_FORMS, mentioned_steps, rank_steps, stem
from prism.procedure.io import load_procedure
from prism.procedure.model import Procedure

ALL_TASKS = [load_procedure(path) for path in sorted(Path("tasks").glob("*/procedure.yaml"))]
UNIQUELY_NAMED = [
    (procedure, step.id)
    for procedure in ALL_TASKS
    for step in procedure.steps
    if [s.name for s in procedure.steps].count(step.name) == 1
]


@given(st.sampled_from(UNIQUELY_NAMED))
def test_a_step_name_mentions_exactly_that_step(case: tuple[Procedure, str]) -> None:
    procedure, step = case
    name = procedure.step(step).name
    assert mentioned_steps(f"Next: {name}.", procedure) == {step}
    assert mentioned_steps(f"Yes, {name.lower()} is done, ok?", procedure) == {step}


@given(st.sampled_from(LATTE.step_ids + WOUND.step_ids))
def test_a_step_name_ranks_that_step_first(step: str) -> None:
    procedure = LATTE if step in LATTE.step_ids else WOUND
    assert rank_steps(procedure.step(step).name, procedure)[0].step == step


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12))
def test_stem_never_grows_and_is_stable_on_short_words(word: str) -> None:
    stemmed = stem(word)
    assert len(stemmed) <= len(word) or word in IRREGULAR_FORMS
    if len(word) <= 3:  # too short for a suffix: only irregular forms change
        assert stemmed == IRREGULAR_FORMS.get(word, word)

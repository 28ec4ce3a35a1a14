"""The free-form question sets (``datasets/qa_freeform*.jsonl``): they parse, their step
states follow their procedures, their references are grounded in the procedure's text and
can be told apart from a non-answer by the scorer."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from prism.assistant.mentions import mentioned_steps
from prism.assistant.qa_records import QARecord, read_qa_records
from prism.assistant.scoring import declines, has_fact, score_answer
from prism.procedure.model import Procedure

ROOT = Path(__file__).resolve().parents[1]
TASKS = ROOT / "tasks"
DEV = read_qa_records(ROOT / "datasets" / "qa_freeform.jsonl", tasks_dir=TASKS)
HELD_OUT = read_qa_records(ROOT / "datasets" / "qa_freeform_heldout.jsonl", tasks_dir=TASKS)
BOTH = [*DEV, *HELD_OUT]
KINDS = {
    "detail",
    "troubleshoot",
    "previous",
    "history",
    "left",
    "missed",
    "skip",
    "order",
    "current",
    "next",
    "did_i",
    "out_of_scope",
    "not_for_assistant",
}
CANNED = (
    "I can tell you where you are, what comes next, what you have done or missed, "
    "how long things take and how to do a step."
)


def _ids(records: list[QARecord]) -> list[str]:
    return [r.id for r in records]


def _procedure_text(procedure: Procedure) -> str:
    parts = [procedure.description]
    for step in procedure.steps:
        parts += [step.name, step.description, step.notes.reminder or ""]
    return " ".join(parts)


def test_the_sets_are_large_varied_and_apart() -> None:
    assert len(DEV) >= 200 and len(HELD_OUT) >= 80
    tasks = {r.task for r in DEV}
    assert len(tasks) >= 5 and {"latte_making", "wound_care", "openpack_packing"} <= tasks
    assert {r.task for r in HELD_OUT} - tasks, "the held-out set has procedures of its own"
    assert len(set(_ids(BOTH))) == len(BOTH)
    assert {r.question.lower() for r in HELD_OUT}.isdisjoint({r.question.lower() for r in DEV})
    for records in (DEV, HELD_OUT):
        kinds = Counter(r.kind for r in records)
        assert set(kinds) == KINDS
        assert kinds["detail"] == max(kinds.values())


@pytest.mark.parametrize("record", BOTH, ids=_ids(BOTH))
def test_a_state_follows_its_procedure(record: QARecord) -> None:
    procedure = record.procedure
    path = [*record.done_steps, *([record.current_step] if record.current_step else [])]
    source = "start"
    for step in path:
        assert procedure.transitions[source].get(step, 0.0) > 0.0, (source, step)
        source = step
    repeatable = {s.id for s in procedure.steps if s.repeatable}
    repeated = {s for s, n in Counter(path).items() if n > 1}
    assert repeated <= repeatable
    assert not {step for step, _ in record.alternatives} & set(record.done_steps)
    skipped = {before for before, after in procedure.precedence if after in path} - set(path)
    if not procedure.precedence:  # OpenPack: the order is only the transitions'
        return
    if record.kind == "missed" and record.expected and record.expected.startswith("You skipped"):
        assert skipped == mentioned_steps(record.expected, procedure), (
            "the reference names the skip"
        )
    else:
        assert not skipped, "steps are done after what must come first"


@pytest.mark.parametrize("record", BOTH, ids=_ids(BOTH))
def test_a_reference_is_checkable_and_beats_a_non_answer(record: QARecord) -> None:
    assert (record.expected is None) is (record.kind == "not_for_assistant")
    if record.expected is None:
        return
    score = {"question": record.question, "must_include": record.must_include}
    own = score_answer(record.expected, record.expected, record.procedure, **score)
    assert own.correct, own.reason
    for non_answer in (CANNED, "", None):
        assert not score_answer(non_answer, record.expected, record.procedure, **score).correct
    assert declines(record.expected, record.procedure) is (record.kind == "out_of_scope")


@pytest.mark.parametrize(
    "record",
    [r for r in BOTH if r.kind in ("detail", "troubleshoot")],
    ids=_ids([r for r in BOTH if r.kind in ("detail", "troubleshoot")]),
)
def test_detail_facts_are_written_in_the_procedure(record: QARecord) -> None:
    assert record.must_include, "a detail reference lists its key facts"
    text = _procedure_text(record.procedure)
    for fact in record.must_include:
        assert has_fact(text, fact, record.procedure), fact

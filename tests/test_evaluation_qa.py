"""The question-answering evaluation: key facts reach the scorer; results per type."""

from __future__ import annotations

import json
from pathlib import Path

from prism.assistant.qa_records import read_qa_records
from prism.evaluation.qa import evaluate_qa

TASKS = Path(__file__).resolve().parents[1] / "tasks"
STATE = {
    "task": "latte_making",
    "done_steps": ["attach_filter", "grind_beans", "move_filter", "place_cup"],
    "current_step": "brew_coffee",
    "current_probability": 0.95,
    "elapsed_s": 50.0,
}


def test_results_per_type_and_key_facts(tmp_path: Path) -> None:
    records = [
        {
            **STATE,
            "id": "a",
            "type": "did_i",
            "question": "did I grind the beans?",
            "expected": "Yes, Grind beans is done.",
        },
        {
            **STATE,
            "id": "b",
            "type": "did_i",
            "question": "did I steam the milk?",
            "expected": "No, Steam milk isn't done yet.",
        },
        # a fact no answer will hold: the reference alone would be met by any answer
        {
            **STATE,
            "id": "c",
            "type": "detail",
            "question": "what's next?",
            "expected": "Next is use fridge.",
            "must_include": [["a fact nobody says"]],
        },
    ]
    path = tmp_path / "qa.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    report = evaluate_qa(read_qa_records(path, tasks_dir=TASKS))
    answers = {a["id"]: a for a in report["answers"]}
    assert answers["a"]["correct"] and answers["b"]["correct"]
    assert not answers["c"]["correct"]
    assert answers["c"]["reason"] == "misses the key fact 'a fact nobody says'"
    assert report["by_type"] == {"detail": 0.0, "did_i": 1.0}
    assert report["n_by_type"] == {"detail": 1, "did_i": 2}
    assert set(report["by_type_without_context"]) == {"detail", "did_i"}

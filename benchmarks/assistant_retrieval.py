"""The assistant's sentence retrieval compared: BM25, sentence embeddings, both.

Usage::

    python benchmarks/assistant_retrieval.py [--json] [--tasks-dir DIR] QUESTIONS.jsonl [...]

For each mode (``lexical``: BM25 alone; ``embeddings``: the packaged all-MiniLM-L6-v2
alone; ``combined``: BM25 with 0.3 of the embedding similarity, the default), every
question file is answered and scored like ``prism eval qa`` (correctness overall and
per question type), and every answer is timed three more times once each procedure's
index is built (as when a session starts): median, 99th percentile and largest
milliseconds per answer, with the step state, no LLM.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from prism.assistant import Assistant
from prism.assistant.embedding import packaged_model_files
from prism.assistant.qa_records import read_qa_records
from prism.assistant.retrieval import SEMANTIC_WEIGHT, set_retrieval_mode
from prism.evaluation.qa import evaluate_qa
from prism.settings import get_settings

MODES = {
    "lexical": {"embeddings": False},
    "embeddings": {"embeddings": True, "semantic_weight": 1.0},
    "combined": {"embeddings": True, "semantic_weight": SEMANTIC_WEIGHT},
}


def _timings(files: list[Path], tasks_dir: Path, rounds: int = 3) -> dict[str, float]:
    latencies = []
    for path in files:
        records = read_qa_records(path, tasks_dir=tasks_dir)
        assistants = {r.task: Assistant(r.procedure) for r in records}
        for _ in range(rounds):
            latencies += [
                assistants[r.task].reply(r.question, r.context()).latency_ms for r in records
            ]
    values = np.asarray(latencies)
    return {
        "latency_ms_median": float(np.median(values)),
        "latency_ms_p99": float(np.percentile(values, 99)),
        "latency_ms_max": float(values.max()),
    }


def compare(files: list[Path], tasks_dir: Path) -> dict[str, Any]:
    """Correctness and answer time per mode and question file."""
    results: dict[str, Any] = {}
    for mode, settings in MODES.items():
        if settings["embeddings"] and packaged_model_files() is None:
            continue
        set_retrieval_mode(**settings)  # type: ignore[arg-type]
        per_file = {}
        for path in files:
            report = evaluate_qa(read_qa_records(path, tasks_dir=tasks_dir))
            per_file[path.name] = {
                "correctness": report["correctness"],
                "by_type": report["by_type"],
            }
        results[mode] = {"files": per_file, **_timings(files, tasks_dir)}
    set_retrieval_mode(embeddings=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("questions", type=Path, nargs="+")
    parser.add_argument("--tasks-dir", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = compare(args.questions, args.tasks_dir or get_settings().tasks_dir)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for mode, found in results.items():
        scores = ", ".join(f"{name} {r['correctness']:.3f}" for name, r in found["files"].items())
        print(
            f"{mode:10} {scores}; per answer median {found['latency_ms_median']:.2f} ms, "
            f"p99 {found['latency_ms_p99']:.2f} ms, max {found['latency_ms_max']:.1f} ms"
        )


if __name__ == "__main__":
    main()

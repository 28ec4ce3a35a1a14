"""Every command finds its folders through the settings, from any working directory.

Each test runs a command from an empty folder, with the tasks, models and datasets
copied elsewhere and named only by ``PRISM_TASKS_DIR``, ``PRISM_MODELS_DIR`` and
``PRISM_DATASETS_DIR``. The copied tasks hold a procedure the repository does not have
(``moved_latte``), so a command that still read the repository's folders would fail.
"""

from __future__ import annotations

import json
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prism.cli import app
from prism.speech import espeak_available

REPOSITORY = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Elsewhere:
    """The moved folders and the empty working directory of a test."""

    tasks: Path
    models: Path
    datasets: Path
    cwd: Path


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Elsewhere:
    moved = Elsewhere(
        tmp_path / "moved" / "tasks",
        tmp_path / "moved" / "models",
        tmp_path / "moved" / "datasets",
        tmp_path / "somewhere" / "else",
    )
    shutil.copytree(REPOSITORY / "tasks", moved.tasks)
    shutil.copytree(REPOSITORY / "models", moved.models)
    shutil.copytree(REPOSITORY / "datasets" / "demo", moved.datasets / "demo")
    latte = (moved.tasks / "latte_making" / "procedure.yaml").read_text(encoding="utf-8")
    (moved.tasks / "moved_latte").mkdir()
    (moved.tasks / "moved_latte" / "procedure.yaml").write_text(
        latte.replace("id: latte_making", "id: moved_latte", 1), encoding="utf-8"
    )
    moved.cwd.mkdir(parents=True)
    monkeypatch.chdir(moved.cwd)
    monkeypatch.setenv("PRISM_TASKS_DIR", str(moved.tasks))
    monkeypatch.setenv("PRISM_MODELS_DIR", str(moved.models))
    monkeypatch.setenv("PRISM_DATASETS_DIR", str(moved.datasets))
    return moved


def _invoke(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    return result.exit_code, result.stdout, result.stderr


def _questions(folder: Path, task: str) -> Path:
    record = {
        "id": "q",
        "task": task,
        "done_steps": ["attach_filter", "adjust_grind"],
        "current_step": "grind_beans",
        "current_probability": 0.95,
        "question": "what is the next step?",
        "expected": "Next: move filter.",
    }
    path = folder / "questions.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    return path


def test_eval_qa(elsewhere: Elsewhere) -> None:
    code, stdout, stderr = _invoke(
        "eval", "qa", "--questions", _questions(elsewhere.cwd, "moved_latte"), "--json"
    )
    assert code == 0, stderr
    assert json.loads(stdout)["correctness"] == 1.0


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")
def test_eval_asr(elsewhere: Elsewhere) -> None:
    questions = _questions(elsewhere.cwd, "moved_latte")
    code, stdout, stderr = _invoke("eval", "asr", "--questions", questions, "--json")
    assert code == 0, stderr
    adapter = elsewhere.models / "speech" / "tiny.en-adapted" / "adapter.npz"
    assert json.loads(stdout)["settings"]["asr"]["adapter"] == str(adapter)


def test_eval_asr_without_the_adapter_in_the_models_folder(elsewhere: Elsewhere) -> None:
    shutil.rmtree(elsewhere.models / "speech")
    questions = _questions(elsewhere.cwd, "moved_latte")
    code, _, stderr = _invoke("eval", "asr", "--questions", questions, "--json")
    assert code != 0
    assert str(elsewhere.models / "speech") in " ".join(stderr.split())


def test_train_asr_reads_the_tasks_folder(elsewhere: Elsewhere, tmp_path: Path) -> None:
    empty = tmp_path / "no_tasks"
    empty.mkdir()
    code, _, stderr = _invoke("train-asr", "--tasks-dir", empty)
    assert code != 0 and str(empty) in " ".join(stderr.split())
    shutil.rmtree(elsewhere.tasks)
    elsewhere.tasks.mkdir()
    code, _, stderr = _invoke("train-asr")
    assert code != 0 and str(elsewhere.tasks) in " ".join(stderr.split())


def test_data_synth(elsewhere: Elsewhere) -> None:
    code, stdout, stderr = _invoke(
        "data", "synth", "--task", "moved_latte", "--sessions", "1", "--out", "out",
        "--duration-scale", "0.1", "--motion", "parametric", "--json",
    )  # fmt: skip
    assert code == 0, stderr
    assert json.loads(stdout)["task"] == "moved_latte"
    assert (elsewhere.cwd / "out" / "manifest.json").is_file()


def test_demo(elsewhere: Elsewhere) -> None:
    code, stdout, stderr = _invoke("demo", "--task", "moved_latte", "--speed", "0")
    assert code == 0, stderr
    assert "grind" in stdout.lower()


def test_train_finds_the_task_and_writes_to_the_models_folder(elsewhere: Elsewhere) -> None:
    code, _, stderr = _invoke("train", "--task", "not_a_task", "--data", elsewhere.cwd)
    assert code != 0
    assert "moved_latte" in stderr and str(elsewhere.tasks) in " ".join(stderr.split())


def test_serve_demo(elsewhere: Elsewhere) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, stdout, stderr = _invoke("serve", "--demo", "--speed", "0", "--port", str(port))
    assert code == 0, stdout + stderr
    assert "step: grind_beans" in stdout
    assert not (elsewhere.cwd / ".prism").exists()  # the demo keeps its sessions in memory


def test_a_bad_variable_stops_any_command_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRISM_SERVER_MAX_OUTBOX", "0")
    code, stdout, stderr = _invoke("procedure", "validate", REPOSITORY / "tasks" / "abc")
    assert code == 1 and not stdout
    assert "PRISM_SERVER_MAX_OUTBOX: Input should be greater than 0" in " ".join(stderr.split())

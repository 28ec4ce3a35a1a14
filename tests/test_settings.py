"""The settings root: defaults, the PRISM_* environment, sections, bad values by name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from prism.errors import SettingsError
from prism.settings import AsrSettings, LLMSettings, ServerSettings, Settings, get_settings

REPOSITORY = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No PRISM_* variable of the calling shell leaks into these tests."""
    for name in list(os.environ):
        if name.startswith("PRISM_"):
            monkeypatch.delenv(name)


def test_the_folders_default_to_the_repository_as_absolute_paths() -> None:
    settings = Settings()
    assert settings.tasks_dir == REPOSITORY / "tasks"
    assert settings.models_dir == REPOSITORY / "models"
    assert settings.datasets_dir == REPOSITORY / "datasets"
    assert (settings.tasks_dir / "latte_making" / "procedure.yaml").is_file()


def test_folders_come_from_the_environment_resolved_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PRISM_TASKS_DIR", "my_tasks")
    monkeypatch.setenv("PRISM_MODELS_DIR", str(tmp_path / "models"))
    settings = Settings()
    assert settings.tasks_dir == tmp_path / "my_tasks"  # absolute: against the start folder
    assert settings.models_dir == tmp_path / "models"
    monkeypatch.chdir(REPOSITORY)
    assert settings.tasks_dir == tmp_path / "my_tasks"


def test_the_service_section_keeps_its_documented_defaults() -> None:
    server = Settings().server
    assert server.database == ".prism/sessions.sqlite3" and server.redis_url is None
    assert (server.redis_prefix, server.admin_token) == ("prism", None)
    assert (server.checkpoint_every_s, server.pipeline_workers) == (30.0, 0)
    assert (server.warm_up_sessions, server.malloc_arenas) == (8, 2)
    assert (server.max_sessions, server.max_pending_frames) == (1000, 50)
    assert (server.max_messages_per_s, server.message_burst) == (200.0, 400)
    assert (server.batch_interval_s, server.max_outbox) == (0.005, 2000)


def test_each_section_reads_its_own_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRISM_SERVER_MAX_SESSIONS", "5")
    monkeypatch.setenv("PRISM_SERVER_REDIS_URL", "redis://127.0.0.1:6379/1")
    monkeypatch.setenv("PRISM_LLM_BASE_URL", "http://127.0.0.1:8080/v1")
    monkeypatch.setenv("PRISM_LLM_TIMEOUT_S", "2.5")
    monkeypatch.setenv("PRISM_ASR_MODEL", "small.en")
    settings = Settings()
    assert settings.server.max_sessions == 5
    assert settings.server.redis_url == "redis://127.0.0.1:6379/1"
    assert settings.llm.enabled and settings.llm.timeout_s == 2.5
    assert settings.llm.model == "gpt-4o-mini"  # the LLM's own default
    assert settings.asr.model == "small.en" and not settings.asr.enabled
    assert settings.asr.timeout_s == 5.0  # the transcription endpoint's own default


def test_endpoints_are_off_without_a_url_or_a_key() -> None:
    assert not LLMSettings().enabled and not AsrSettings().enabled
    assert LLMSettings(api_key="k").enabled and AsrSettings(base_url="http://x/v1").enabled


def test_the_service_section_round_trips_through_its_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What ``prism serve --workers`` hands its worker processes."""
    chosen = ServerSettings(admin_token="t", max_sessions=7, checkpoint_every_s=None)
    for name, value in chosen.environment().items():
        monkeypatch.setenv(name, value)
    assert Settings().server == chosen.model_copy(update={"checkpoint_every_s": 30.0})


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PRISM_SERVER_MAX_SESSIONS", "many", r"server\.max_sessions"),
        ("PRISM_SERVER_MAX_OUTBOX", "0", r"server\.max_outbox"),
        ("PRISM_SERVER_TASKS_DIR", "/srv/tasks", r"server\.tasks_dir"),
        ("PRISM_LLM_TIMEOUT_S", "-1", r"llm\.timeout_s"),
    ],
    ids=["not-a-number", "out-of-range", "unknown-field", "negative-timeout"],
)
def test_a_bad_value_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=message):
        Settings()


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValidationError, match="frozen"):
        settings.server.max_sessions = 3  # type: ignore[misc]


def test_the_process_settings_name_each_bad_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRISM_SERVER_MAX_SESSIONS", "many")
    monkeypatch.setenv("PRISM_LLM_TIMEOUT_S", "-1")
    with pytest.raises(SettingsError) as raised:
        get_settings()
    message = str(raised.value)
    assert "PRISM_SERVER_MAX_SESSIONS: Input should be a valid integer" in message
    assert "(got 'many')" in message
    assert "PRISM_LLM_TIMEOUT_S: Input should be greater than 0 (got '-1')" in message

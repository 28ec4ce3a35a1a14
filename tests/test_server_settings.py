"""The service's settings: documented defaults, the PRISM_SERVER_ environment, bad values."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from prism.server.settings import ServerSettings


def test_the_documented_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ServerSettings.model_fields:
        monkeypatch.delenv(f"PRISM_SERVER_{name.upper()}", raising=False)
    settings = ServerSettings()
    assert (settings.tasks_dir, settings.models_dir) == (Path("tasks"), Path("models"))
    assert settings.database == ".prism/sessions.sqlite3" and settings.redis_url is None
    assert (settings.redis_prefix, settings.admin_token) == ("prism", None)
    assert (settings.checkpoint_every_s, settings.pipeline_workers) == (60.0, 0)
    assert (settings.warm_up_sessions, settings.malloc_arenas) == (8, 2)
    assert (settings.max_sessions, settings.max_pending_frames) == (1000, 50)
    assert (settings.max_messages_per_s, settings.message_burst) == (200.0, 400)
    assert (settings.batch_interval_s, settings.max_outbox) == (0.005, 2000)


def test_values_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRISM_SERVER_MAX_SESSIONS", "5")
    monkeypatch.setenv("PRISM_SERVER_REDIS_URL", "redis://127.0.0.1:6379/1")
    settings = ServerSettings()
    assert settings.max_sessions == 5 and settings.redis_url == "redis://127.0.0.1:6379/1"


@pytest.mark.parametrize(
    ("name", "value"),
    [("max_sessions", 0), ("message_burst", -1), ("pipeline_workers", -2), ("max_outbox", 0)],
)
def test_values_out_of_range_are_refused_by_name(name: str, value: int) -> None:
    with pytest.raises(ValidationError, match=name):
        ServerSettings(**{name: value})  # type: ignore[arg-type]

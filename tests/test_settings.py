"""Settings are read from PRISM_* environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from prism.settings import Settings


def test_default_tasks_dir_is_the_repository_tasks() -> None:
    assert (Settings().tasks_dir / "latte_making" / "procedure.yaml").is_file()


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PRISM_TASKS_DIR", str(tmp_path))
    assert Settings().tasks_dir == tmp_path

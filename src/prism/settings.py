"""Project settings, read once from the environment (``PRISM_`` prefix).

>>> Settings(tasks_dir=Path("tasks")).tasks_dir
PosixPath('tasks')
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]

_REPOSITORY_TASKS = Path(__file__).resolve().parents[2] / "tasks"


class Settings(BaseSettings):
    """Typed settings; each field can be set with ``PRISM_<FIELD>`` (e.g. ``PRISM_TASKS_DIR``).

    Attributes
    ----------
    tasks_dir : Path
        Folder holding ``<procedure>/procedure.yaml`` files (default: the repository's
        ``tasks/``).
    """

    model_config = SettingsConfigDict(env_prefix="PRISM_", frozen=True)

    tasks_dir: Path = _REPOSITORY_TASKS


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read from the environment on first use."""
    return Settings()

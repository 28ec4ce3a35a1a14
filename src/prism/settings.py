"""Project settings, read once from the environment (``PRISM_`` prefix).

>>> Settings(tasks_dir=Path("tasks")).tasks_dir
PosixPath('tasks')
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]

_REPOSITORY = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    """Typed settings; each field can be set with ``PRISM_<FIELD>`` (e.g. ``PRISM_TASKS_DIR``).

    Attributes
    ----------
    tasks_dir : Path
        Folder holding ``<procedure>/procedure.yaml`` files (default: the repository's
        ``tasks/``).
    data_dir : Path
        Folder of the shared data sets (``captaincook4d/``, ``openpack/``); default
        ``../shared/data`` next to the repository.
    models_dir : Path
        Folder of trained models, one ``<task>/`` each (default: the repository's
        ``models/``).
    """

    model_config = SettingsConfigDict(env_prefix="PRISM_", frozen=True)

    tasks_dir: Path = _REPOSITORY / "tasks"
    data_dir: Path = _REPOSITORY.parent / "shared" / "data"
    models_dir: Path = _REPOSITORY / "models"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read from the environment on first use."""
    return Settings()

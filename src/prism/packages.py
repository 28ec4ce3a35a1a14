"""Files shipped inside installed Python packages (models from PyPI), found without
importing the packages (some import heavy or unwanted code)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

__all__ = ["find_package_dir"]


def find_package_dir(package: str) -> Path | None:
    """Folder of an installed top-level package, found without importing it (None if absent).

    Parameters
    ----------
    package : str
        Import name, e.g. ``"silero_vad"``.
    """
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):  # ValueError: the module is a stub in sys.modules
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))

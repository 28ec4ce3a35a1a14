"""Reading JSON object files with errors that name the file and the problem."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prism.errors import DataError

__all__ = ["read_json_object"]


def read_json_object(
    path: Path, *, missing_hint: str, error: type[DataError] = DataError
) -> dict[str, Any]:
    """Read ``path`` as a JSON object.

    Parameters
    ----------
    path : Path
        The file.
    missing_hint : str
        Appended to the message when the file does not exist (e.g. a question about
        what the folder is).
    error : type of DataError
        Error class raised (a :class:`~prism.errors.DataError` subclass).

    Raises
    ------
    DataError
        (or ``error``) if the file is missing, not UTF-8 JSON, or not a JSON object.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: missing; {missing_hint}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as problem:
        raise error(f"{path}: not valid JSON ({problem})") from None
    if not isinstance(data, dict):
        raise error(f"{path}: expected a JSON object")
    return data

"""The project's exception hierarchy.

Every error PrISM raises on purpose derives from :class:`PrismError`. Specific errors
also derive from the matching builtin so callers can catch either, as scikit-learn does::

    try:
        load_procedure("tasks/latte_making/procedure.yaml")
    except ValueError as error:  # ProcedureError is a ValueError too
        print(error)
"""

from __future__ import annotations

__all__ = ["DataError", "PrismError", "ProcedureError", "TrackerInputError"]


class PrismError(Exception):
    """Root of every error raised on purpose by PrISM."""


class ProcedureError(PrismError, ValueError):
    """A procedure (transition graph) is malformed or inconsistent."""


class TrackerInputError(PrismError, ValueError):
    """A probability frame or a correction handed to a tracker is invalid."""


class DataError(PrismError, ValueError):
    """A data set or recording on disk is missing, malformed or inconsistent."""

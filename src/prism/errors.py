"""The project's exception hierarchy.

Every error PrISM raises on purpose derives from :class:`PrismError`. Specific errors
also derive from the matching builtin so callers can catch either, as scikit-learn does::

    try:
        load_procedure("tasks/latte_making/procedure.yaml")
    except ValueError as error:  # ProcedureError is a ValueError too
        print(error)

The classes are defined here, in one place; the modules that raise them re-export the
ones their users catch (``prism.sensing.SensingError``, ``prism.evaluation.metrics.
MetricInputError``, ...). Messages name the thing, what was expected and what was found.
"""

from __future__ import annotations

__all__ = [
    "BaselineError",
    "DataError",
    "EvaluationError",
    "LocalLLMError",
    "MetricInputError",
    "ModelFileError",
    "ObserverError",
    "PlotError",
    "PrismError",
    "ProcedureError",
    "ReminderError",
    "SensingError",
    "SettingsError",
    "SimulationError",
    "TrackerInputError",
]


class PrismError(Exception):
    """Root of every error raised on purpose by PrISM."""


class ProcedureError(PrismError, ValueError):
    """A procedure (transition graph) is malformed or inconsistent."""


class TrackerInputError(PrismError, ValueError):
    """A probability frame or a correction handed to a tracker is invalid."""


class DataError(PrismError, ValueError):
    """A data set or recording on disk is missing, malformed or inconsistent."""


class ModelFileError(DataError):
    """A saved model directory is missing a file, or a file is malformed or incompatible."""


class SimulationError(PrismError, ValueError):
    """A simulated-classifier setting or input is invalid."""


class SensingError(PrismError, ValueError):
    """A sensing setting, feature array or model input is invalid."""


class BaselineError(PrismError, ValueError):
    """The hand-crafted baseline classifier was given inconsistent inputs."""


class ObserverError(PrismError, ValueError):
    """An observer setting or query is invalid (remaining-time settings, an unknown step)."""


class ReminderError(ObserverError):
    """A reminder operation that names an unknown reminder or step."""


class MetricInputError(PrismError, ValueError):
    """Label arrays handed to a metric do not match."""


class EvaluationError(PrismError, ValueError):
    """An evaluation was asked for something it cannot do (too few or unlabelled sessions,
    clashing configuration names)."""


class PlotError(PrismError, ValueError):
    """Arrays or an output path handed to a plotting helper are invalid."""


class LocalLLMError(PrismError, RuntimeError):
    """The local LLM server or its model is missing, or the server did not come up."""


class SettingsError(PrismError, ValueError):
    """A setting (a ``PRISM_*`` variable or an option) has a value that is not allowed."""

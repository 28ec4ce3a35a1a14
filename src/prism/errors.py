"""The project's exception hierarchy.

Every error PrISM raises on purpose derives from :class:`PrismError`. Specific errors
also derive from the matching builtin so callers can catch either, as scikit-learn does::

    try:
        load_procedure("tasks/latte_making/procedure.yaml")
    except ValueError as error:  # ProcedureError is a ValueError too
        print(error)

:class:`ServiceError` is the category of what the service refuses (each refusal also
subclasses a builtin); the app maps each refusal to an HTTP status and a close code.

The classes are defined here, in one place; the modules that raise them re-export the
ones their users catch (``prism.sensing.SensingError``, ``prism.evaluation.metrics.
MetricInputError``, ``prism.server.errors.SessionNotFoundError``, ...). Messages name the thing,
what was expected and what was found. :class:`FileIssue`, one problem at
``file:line:column``, is here too: it is what a :class:`ProcedureFileError` carries.

The one exception is ``prism.protocol.ProtocolError``: a protocol error carries its wire
code (``prism.protocol.ErrorCode``, the close codes of the watch protocol) and builds the
``error`` message sent to the watch, so it is defined with the protocol, which this
module does not import (it imports nothing from ``prism``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "BaselineError",
    "CheckpointError",
    "ConnectionStateError",
    "DataError",
    "DeviceNotFoundError",
    "EvaluationError",
    "FileIssue",
    "LabelsRefusedError",
    "LocalLLMError",
    "MetricInputError",
    "ModeRefusedError",
    "ModelFileError",
    "NoUsableModelError",
    "ObserverError",
    "PairingNotFoundError",
    "PlotError",
    "PrismError",
    "ProcedureError",
    "ProcedureFileError",
    "ProcedureNotFoundError",
    "ProcedureTextError",
    "ProcedureUnusableError",
    "RecordingUnavailableError",
    "ReminderError",
    "ReplayError",
    "SensingError",
    "ServerStartError",
    "ServiceError",
    "SessionElsewhereError",
    "SessionNotFoundError",
    "SessionRequestError",
    "SettingsError",
    "SimulationError",
    "SpeechBackendError",
    "SpeechInputError",
    "StoreError",
    "StoreUnavailableError",
    "TooManyDeviceSessionsError",
    "TooManySessionsError",
    "TrackerInputError",
    "UnauthorizedError",
    "UnknownSessionError",
    "WorkerLostError",
]


class PrismError(Exception):
    """Root of every error raised on purpose by PrISM."""


class ProcedureError(PrismError, ValueError):
    """A procedure (transition graph) is malformed or inconsistent."""


@dataclass(frozen=True)
class FileIssue:
    """One problem in a procedure file.

    Parameters
    ----------
    file : str
        The file as named by the caller (``"<string>"`` for text).
    line, column : int or None
        1-based position of the offending YAML node, or None when the problem concerns
        the whole file (missing, unreadable, empty).
    message : str
        What is wrong, naming the thing, what was expected and what was found.

    Examples
    --------
    >>> str(FileIssue("tea.yaml", 7, 22, "step 'boil': duration mean must be > 0 seconds"))
    "tea.yaml:7:22: step 'boil': duration mean must be > 0 seconds"
    """

    file: str
    line: int | None
    column: int | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.message}"


class ProcedureFileError(ProcedureError):
    """A procedure file cannot be read; ``issues`` lists every problem found, by line.

    ``str(error)`` is one ``path:line:col: message`` per issue.
    """

    def __init__(self, issues: Iterable[FileIssue]) -> None:
        self.issues: tuple[FileIssue, ...] = tuple(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))

    def __reduce__(self) -> tuple[type[ProcedureFileError], tuple[tuple[FileIssue, ...]]]:
        return type(self), (self.issues,)

    @classmethod
    def sorted(cls, issues: Iterable[FileIssue]) -> ProcedureFileError:
        """The error with ``issues`` sorted by line and column (stable for ties)."""
        return cls(sorted(issues, key=lambda issue: (issue.line or 0, issue.column or 0)))


class ProcedureTextError(ProcedureError):
    """A procedure written as plain text (a recipe) cannot be read: the file is missing,
    empty, not UTF-8 text or holds no recognisable steps, or an LLM's proposal for it
    breaks a rule. The message names the file and what is wrong."""


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


class SpeechInputError(PrismError, ValueError):
    """Audio, text or a setting handed to the speech package is invalid."""


class SpeechBackendError(PrismError, RuntimeError):
    """A package, model file or program the speech package needs is missing or failed."""


class StoreError(PrismError, RuntimeError):
    """The store cannot be reached or holds something unusable (names which)."""


class StoreUnavailableError(StoreError):
    """The store cannot be reached or cannot write now (connection refused or reset, disk
    full, read-only): a passing fault, the same operation can be tried again later. The
    message names the store and the operation."""


class ServiceError(PrismError):
    """A request the service refuses (the message says why)."""


class UnauthorizedError(ServiceError, PermissionError):
    """A device or admin token is missing or unknown."""


class SessionNotFoundError(ServiceError, LookupError):
    """No session of that id."""


class DeviceNotFoundError(ServiceError, LookupError):
    """No device of that id."""


class PairingNotFoundError(ServiceError, LookupError):
    """No pairing of that code (unknown, used or expired: the same refusal)."""


class ProcedureNotFoundError(ServiceError, LookupError):
    """No procedure of that id in the tasks folder."""


class ProcedureUnusableError(ServiceError, RuntimeError):
    """A procedure of the tasks folder whose file cannot be loaded (names the file)."""


class NoUsableModelError(ServiceError, RuntimeError):
    """A session cannot start: its procedure has no model the pipeline can use."""


class ModeRefusedError(ServiceError, RuntimeError):
    """A session cannot switch mode now: it is sensing already, or its task has no
    usable model (a privacy session: no privacy model) yet."""


class RecordingUnavailableError(ServiceError, RuntimeError):
    """A session's recording cannot be exported: its device does not record (its
    inputs are not kept), or it has no sensor data yet."""


class LabelsRefusedError(ServiceError, ValueError):
    """Step labels that do not fit their session (names the segment and why)."""


class SessionElsewhereError(ServiceError, RuntimeError):
    """Another service process serves (and writes) the session now."""


class TooManySessionsError(ServiceError, RuntimeError):
    """The service holds ``max_sessions`` live sessions already."""


class TooManyDeviceSessionsError(ServiceError, RuntimeError):
    """The device holds ``max_sessions_per_device`` live sessions already."""


class ConnectionStateError(PrismError, RuntimeError):
    """A watch connection was asked for a transition its state does not allow."""


class ServerStartError(PrismError, RuntimeError):
    """The service did not start listening (the port in use, ...)."""


class CheckpointError(PrismError, ValueError):
    """A checkpoint that cannot be restored (another version, damaged)."""


class UnknownSessionError(PrismError, KeyError):
    """The pipeline holds no session of that id."""


class WorkerLostError(PrismError, RuntimeError):
    """A pipeline worker process died (or was restarted and its sessions are not rebuilt
    yet); ``lane`` is its lane of the pipeline. The call did not happen."""

    def __init__(self, message: str, lane: int) -> None:
        super().__init__(message)
        self.lane = lane

    def __reduce__(self) -> tuple[type[WorkerLostError], tuple[str, int]]:
        return type(self), (str(self), self.lane)


class ReplayError(PrismError, RuntimeError):
    """The server could not be reached, refused the connection or closed it with an error."""


class SessionRequestError(PrismError, RuntimeError):
    """The service refused a request or could not be reached (the message says which)."""

"""Checkpoints of a session's runtime: its own state as bytes, without what it shares.

A :class:`~prism.server.runtime.SessionRuntime` holds per-session state (the classifier's
buffered samples and network state, the tracker's beam, the reminder scheduler, the
dialogue, the last prediction, the probability history) and references to objects it
shares with the other sessions of its procedure or derives from the model alone (the
procedure, the classifier and its network, the audio feature settings, the compiled
tracking model, the remaining-time model, the answerer). :func:`dump_runtime` pickles the
runtime with those references replaced by their names; :func:`load_runtime` resolves
the names against a freshly built runtime of the same procedure and model (a guided
session's runtime, switched to sensing or not, against one built with the model if the
task has one now: its tracker configuration holds no model part and is copied), so the
restored runtime continues exactly where the checkpointed one was (the next frames give
the same events) while a checkpoint stays small (about 150 to 300 kB for latte making,
most of it the last remaining-time prediction).

Unpickling runs whatever code the bytes name, so :func:`load_runtime` must only see
bytes the service wrote: the front signs each checkpoint before storing it and checks
the signature of one read back before it gets here (:mod:`prism.server.signing`). A
checkpoint from another version of PrISM, Python or torch is refused
(:class:`CheckpointError`); :mod:`prism.server.restore` says how the session is rebuilt
then.
"""

from __future__ import annotations

import io
import pickle
import platform
from importlib.metadata import version
from typing import Any

import torch

from prism.errors import CheckpointError
from prism.server.runtime import SessionRuntime

__all__ = ["CheckpointError", "dump_runtime", "load_runtime"]

_HEADER = f"prism-checkpoint/3 prism={version('prism')} python={platform.python_version()} "
_HEADER += f"torch={torch.__version__}\n"
MAGIC = _HEADER.encode()
"""The first bytes of every checkpoint: format and the versions it depends on."""


def _shared_parts(runtime: SessionRuntime) -> dict[str, object]:
    """Name -> object for everything the runtime shares or derives from its model."""
    parts: dict[str, object] = {
        "procedure": runtime.procedure,
        "tracking_model": runtime.tracker.model,
        "answerer": runtime.assistant.assistant,
        **{f"stream.{name}": part for name, part in runtime.stream.model_parts().items()},
    }
    if runtime.tracker.config.classifier_profile is not None:  # else a few numbers: copied
        parts["tracker_config"] = runtime.tracker.config
    if runtime.tracker.run_tables is not None:
        parts["tracker_runs"] = runtime.tracker.run_tables
    if runtime.observer.future is not None:
        parts["future"] = runtime.observer.future
    return parts


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, names: dict[int, str]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._names = names

    def persistent_id(self, obj: Any) -> str | None:
        return self._names.get(id(obj))


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, parts: dict[str, object]) -> None:
        super().__init__(file)
        self._parts = parts

    def persistent_load(self, pid: Any) -> object:
        if pid not in self._parts:
            raise CheckpointError(f"the checkpoint refers to {pid!r}, which this runtime lacks")
        return self._parts[pid]


def dump_runtime(runtime: SessionRuntime) -> bytes:
    """The runtime's per-session state (see the module docstring)."""
    names = {id(part): name for name, part in _shared_parts(runtime).items()}
    buffer = io.BytesIO()
    buffer.write(MAGIC)
    _Pickler(buffer, names).dump(runtime)
    return buffer.getvalue()


def load_runtime(blob: bytes, template: SessionRuntime) -> SessionRuntime:
    """The runtime saved in ``blob``, sharing ``template``'s model objects.

    Parameters
    ----------
    blob : bytes
        From :func:`dump_runtime`.
    template : SessionRuntime
        A new runtime of the same procedure and model (its shared objects are used).

    Raises
    ------
    CheckpointError
        If ``blob`` was written by another version, is damaged, or is not a runtime of
        ``template``'s procedure.
    """
    if not blob.startswith(MAGIC):
        first_line = blob[:120].split(b"\n", 1)[0].decode(errors="replace")
        raise CheckpointError(
            f"checkpoint written by another version ({first_line!r}; this is {_HEADER.strip()!r})"
        )
    try:
        restored = _Unpickler(io.BytesIO(blob[len(MAGIC) :]), _shared_parts(template)).load()
    except CheckpointError:
        raise
    except Exception as error:  # any unpickling failure means a damaged checkpoint
        raise CheckpointError(f"damaged checkpoint: {type(error).__name__}: {error}") from None
    if not isinstance(restored, SessionRuntime) or restored.procedure is not template.procedure:
        raise CheckpointError("the checkpoint is not a runtime of this session's procedure")
    return restored

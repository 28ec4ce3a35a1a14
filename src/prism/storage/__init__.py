"""Persistence of the service's devices, sessions, inputs, sent messages and checkpoints."""

from prism.storage.base import (
    Checkpoint,
    InputKind,
    Record,
    SessionRow,
    SessionStore,
    StoredInput,
    StoreError,
    StoreTime,
    StoreUnavailableError,
)
from prism.storage.sqlite import SqliteStore

__all__ = [
    "Checkpoint",
    "InputKind",
    "Record",
    "SessionRow",
    "SessionStore",
    "SqliteStore",
    "StoreError",
    "StoreTime",
    "StoreUnavailableError",
    "StoredInput",
]
